"""RING-PACKED-010: the ring-order case passes on the reference packed device (Python and C)
and fails a device that takes available lists out of ring order (its known-bad variant)."""

from __future__ import annotations

import pytest
from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.api import PackedRingSetup
from virtiospec.conformance.target_reference import ReferencePackedDevice, ReferenceTarget
from virtiospec.reference.ring import Chain

CASE = "ring.packed.device.pops-in-ring-order"


class SwapsPairs(ReferencePackedDevice):
    """Known-bad: takes two available lists at a time and hands out the second first."""

    def __init__(self, setup: PackedRingSetup) -> None:
        super().__init__(setup)
        self.held: list[Chain] = []

    def pop(self) -> Chain | None:
        if self.held:
            return self.held.pop()
        first = super().pop()
        second = super().pop() if first is not None else None
        if second is None:
            return first
        self.held.append(first)  # type: ignore[arg-type]
        return second


class Broken(ReferenceTarget):
    name = "broken-swaps-pairs"

    def ring_packed_device(self, setup: PackedRingSetup) -> ReferencePackedDevice:
        return SwapsPairs(setup)


@pytest.mark.req("RING-PACKED-010")
def test_reference_pops_in_ring_order() -> None:
    res = runner.run_case(cases.discover()[CASE], ReferenceTarget())
    assert res.outcome is Outcome.PASS, (res.detail, res.observed)


@pytest.mark.req("RING-PACKED-010")
def test_a_device_taking_lists_out_of_order_fails() -> None:
    res = runner.run_case(cases.discover()[CASE], Broken())
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert res.req == "RING-PACKED-010"
