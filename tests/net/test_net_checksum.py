"""NET-117: the IP-header case passes on a driver that leaves the IPv4 header checksum right
under NEEDS_CSUM and fails on the known-bad one that leaves it to the device."""

from __future__ import annotations

import pytest
from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.suites.net.api import DriverObservation
from virtiospec.conformance.suites.net.checksum import ip_header_ok
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.header import F_NEEDS_CSUM, NetHdr

CASE = "net.driver.tx-needs-csum-ip-header"
A, B = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"


def frame(tag: bytes, pcp: int | None = None) -> bytes:
    return FR.udp_frame(A, B, "10.0.0.1", "10.0.0.2", 1000, 7, tag, pcp)


def zero_ip_checksum(f: bytes) -> bytes:
    l3 = 18 if f[12:14] == b"\x81\x00" else 14
    return f[:l3 + 10] + b"\0\0" + f[l3 + 12:]


class Session:
    name = "observed"

    def __init__(self, frames: list[bytes], flags: int = F_NEEDS_CSUM) -> None:
        self.obs = DriverObservation(peer="test", tx_frames=frames,
                                     tx_headers=[NetHdr(flags=flags) for _ in frames])

    def net_driver_session(self) -> DriverObservation:
        return self.obs


def run(frames: list[bytes], flags: int = F_NEEDS_CSUM) -> Outcome:
    return runner.run_case(cases.discover()[CASE], Session(frames, flags)).outcome


@pytest.mark.req("NET-117")
def test_right_ip_headers_pass() -> None:
    assert run([frame(b"a"), frame(b"b", pcp=3)]) is Outcome.PASS


@pytest.mark.req("NET-117")
@pytest.mark.parametrize("tagged", [None, 5])
def test_ip_header_left_to_the_device_fails(tagged: int | None) -> None:
    assert run([frame(b"a"), zero_ip_checksum(frame(b"b", tagged))]) is Outcome.FAIL


def test_without_needs_csum_the_case_does_not_apply() -> None:
    assert run([zero_ip_checksum(frame(b"a"))], flags=0) is Outcome.SKIP


def test_ip_header_ok_reads_the_header() -> None:
    assert ip_header_ok(frame(b"x")) is True
    assert ip_header_ok(zero_ip_checksum(frame(b"x"))) is False
    assert ip_header_ok(b"\0" * 60) is None


@pytest.mark.req("NET-117")
def test_refused_buffers_do_not_hide_a_bad_header_when_every_header_asked() -> None:
    s = Session([frame(b"a"), zero_ip_checksum(frame(b"b"))])
    s.obs.tx_headers.append(NetHdr(flags=F_NEEDS_CSUM))  # one more buffer, refused
    s.obs.tx_refused.append("NET-008")
    assert runner.run_case(cases.discover()[CASE], s).outcome is Outcome.FAIL
    s.obs.tx_headers.append(NetHdr())  # now the headers no longer say which frame is which
    assert runner.run_case(cases.discover()[CASE], s).outcome is Outcome.SKIP
