"""The net cases: the reference passes them (hostile ones as REJECT); a broken device fails."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.header import NetHdr

NET = [c for c in cases.discover().values() if c.layer == "net"]


@pytest.mark.parametrize("case", NET, ids=[c.id for c in NET])
def test_reference_conforms(case: cases.Case) -> None:
    res = runner.run_case(case, targets.make("reference"))
    if case.id == "net.driver.packed-ring":  # the reference's own driver runs split rings;
        # the case runs against DPDK and a Linux guest on packed rings (test_packed_peers.py)
        assert res.outcome is Outcome.SKIP and "RING_PACKED" in res.detail, res.detail
        return
    if case.id == "net.driver.multiqueue":  # one pair here; two pairs with its control vring
        # in tests/vhost_user/test_vhost_user_mq_in_order.py, DPDK and a Linux guest there too
        assert res.outcome is Outcome.SKIP and "VIRTIO_NET_F_MQ" in res.detail, res.detail
        return
    assert res.outcome in (Outcome.PASS, Outcome.REJECT), (res.detail, res.expected,
                                                           res.observed)
    hostile = "-rejects-" in case.id or "-refuses-" in case.id
    assert (res.outcome is Outcome.REJECT) == hostile


class ShortNumBuffers(NetDevice):
    def _rx_header(self, buffers: int) -> NetHdr:
        return NetHdr(num_buffers=1)


def _accept_tx(data: bytes, features: int, mtu: int = 1500) -> tuple[NetHdr, bytes]:
    return NetHdr.unpack(data), data[12:]


class AcceptsEverything(NetDevice):
    def tx_take(self, pair: int) -> bool:
        import virtiospec.reference.net.device as d

        with mock.patch.object(d, "check_tx", _accept_tx):
            return super().tx_take(pair)


class Broken:
    name = "broken"

    def __init__(self, device: type[NetDevice]) -> None:
        self.net_device = device


@pytest.mark.parametrize(("device", "case_id"), [
    (ShortNumBuffers, "net.device.rx-mergeable"),
    (AcceptsEverything, "net.device.tx-rejects-csum-range"),
])
def test_broken_device_fails(device: Any, case_id: str) -> None:
    res = runner.run_case(cases.discover()[case_id], Broken(device))
    assert res.outcome is Outcome.FAIL, res


def test_other_targets_skip_device_cases() -> None:
    res = runner.run_case(cases.discover()["net.device.tx-transmits"], object())
    assert res.outcome is Outcome.SKIP
