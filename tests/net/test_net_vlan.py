"""NET-140: the VLAN case passes on the reference device and fails on one that drops tagged
frames (its known-bad variant)."""

from __future__ import annotations

import pytest
from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.suites.net.vlan import tagged
from virtiospec.reference.net.device import NetDevice

CASE = "net.device.rx-accepts-vlan-tagged"


class DropsTagged(NetDevice):
    """Known-bad: filters VLAN-tagged frames although no VLAN filter was negotiated."""

    def receive(self, frame: bytes) -> bool:
        if frame[12:14] == b"\x81\x00":
            return False
        return super().receive(frame)


class StripsTag(NetDevice):
    """Known-bad: accepts tagged frames but hands them over without their tag."""

    def receive(self, frame: bytes) -> bool:
        if frame[12:14] == b"\x81\x00":
            frame = frame[:12] + frame[16:]
        return super().receive(frame)


class Target:
    name = "variant"

    def __init__(self, device: type[NetDevice]) -> None:
        self.net_device = device


@pytest.mark.req("NET-140")
def test_reference_accepts_tagged_frames() -> None:
    res = runner.run_case(cases.discover()[CASE], Target(NetDevice))
    assert res.outcome is Outcome.PASS, res


@pytest.mark.req("NET-140")
@pytest.mark.parametrize("device", [DropsTagged, StripsTag])
def test_known_bad_devices_fail(device: type[NetDevice]) -> None:
    res = runner.run_case(cases.discover()[CASE], Target(device))
    assert res.outcome is Outcome.FAIL, res
    assert res.req == "" or res.req == "NET-140"


def test_tag_layout() -> None:
    f = tagged(b"\x02" * 6, 5, 100, b"x")
    assert f[12:14] == b"\x81\x00" and int.from_bytes(f[14:16], "big") == (5 << 13) | 100
