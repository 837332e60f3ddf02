"""RING-SPLIT-064: the spurious-kick case passes on the reference device and fails a device
that takes a kick as a buffer (its known-bad variant)."""

from __future__ import annotations

import pytest
from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring_api import RingSetup
from virtiospec.conformance.target_reference import ReferenceRingDevice, ReferenceTarget
from virtiospec.reference.ring import Chain

CASE = "ring.split.device.spurious-kicks"


class KickMeansWork(ReferenceRingDevice):
    """Known-bad: a pop with nothing available still bumps the used index (it 'completes'
    the buffer it was kicked for)."""

    def __init__(self, setup: RingSetup) -> None:
        super().__init__(setup)
        self.setup = setup

    def pop(self) -> Chain | None:
        chain = super().pop()
        if chain is None:
            at = self.setup.layout.used + 2
            self.setup.memory.write(at, 2, (self.setup.memory.read(at, 2) + 1) & 0xFFFF)
        return chain


class Broken(ReferenceTarget):
    name = "broken-kick-means-work"

    def ring_device(self, setup: RingSetup) -> ReferenceRingDevice:
        return KickMeansWork(setup)


@pytest.mark.req("RING-SPLIT-064")
def test_reference_ignores_spurious_kicks() -> None:
    res = runner.run_case(cases.discover()[CASE], ReferenceTarget())
    assert res.outcome is Outcome.PASS, (res.detail, res.observed)


@pytest.mark.req("RING-SPLIT-064")
def test_a_device_taking_a_kick_for_a_buffer_fails() -> None:
    res = runner.run_case(cases.discover()[CASE], Broken())
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert res.req == "RING-SPLIT-064"

