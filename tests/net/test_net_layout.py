"""RING-SPLIT-015 on the net device: the any-layout case passes on the reference device and
fails one that reads a transmit request from its first descriptor only (known-bad)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import Outcome
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.ring.device import Chain

CASE = "net.device.tx-any-layout"


class FirstDescriptorOnly(NetDevice):
    """Known-bad: assumes a transmit request sits in one descriptor."""

    def _pop(self, index: int) -> Chain | None:
        chain = super()._pop(index)
        if chain is not None and index % 2 == 1 and len(chain.readable) > 1:
            chain = replace(chain, readable=chain.readable[:1])
        return chain


class Target:
    name = "variant"

    def __init__(self, device: type[NetDevice]) -> None:
        self.net_device = device


@pytest.mark.req("RING-SPLIT-015")
def test_reference_takes_any_layout() -> None:
    res = runner.run_case(cases.discover()[CASE], Target(NetDevice))
    assert res.outcome is Outcome.PASS, (res.detail, res.observed)


@pytest.mark.req("RING-SPLIT-015")
def test_a_device_assuming_one_descriptor_fails() -> None:
    res = runner.run_case(cases.discover()[CASE], Target(FirstDescriptorOnly))
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert res.req == "RING-SPLIT-015"
