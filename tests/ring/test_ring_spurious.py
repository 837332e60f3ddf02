"""RING-SPLIT-064 and RING-SPLIT-054: the spurious-notification cases pass on the reference
device and driver and fail a device that takes a kick for a buffer and a driver that takes an
interrupt for a used buffer (their known-bad variants)."""

from __future__ import annotations

import pytest
from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.api import RingSetup
from virtiospec.conformance.target_reference import (
    ReferenceRingDevice,
    ReferenceRingDriver,
    ReferenceTarget,
)
from virtiospec.reference.ring import Chain

CASE = "ring.split.device.spurious-kicks"
DRIVER_CASE = "ring.split.driver.spurious-interrupts"


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


class InterruptMeansUsed(ReferenceRingDriver):
    """Known-bad: an interrupt with nothing used makes the driver free its oldest buffer."""

    def get_used(self) -> tuple[int, int] | None:
        got = super().get_used()
        if got is None and self.drv.chains:
            head = min(self.drv.chains)
            self.drv.free.extend(self.drv.chains.pop(head).descs)
        return got


class Broken(ReferenceTarget):
    name = "broken-kick-means-work"

    def ring_device(self, setup: RingSetup) -> ReferenceRingDevice:
        return KickMeansWork(setup)

    def ring_driver(self, setup: RingSetup) -> ReferenceRingDriver:
        return InterruptMeansUsed(setup)


@pytest.mark.req("RING-SPLIT-064")
def test_reference_ignores_spurious_kicks() -> None:
    res = runner.run_case(cases.discover()[CASE], ReferenceTarget())
    assert res.outcome is Outcome.PASS, (res.detail, res.observed)


@pytest.mark.req("RING-SPLIT-064")
def test_a_device_taking_a_kick_for_a_buffer_fails() -> None:
    res = runner.run_case(cases.discover()[CASE], Broken())
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert res.req == "RING-SPLIT-064"



@pytest.mark.req("RING-SPLIT-054")
def test_reference_driver_ignores_spurious_interrupts() -> None:
    res = runner.run_case(cases.discover()[DRIVER_CASE], ReferenceTarget())
    assert res.outcome is Outcome.PASS, (res.detail, res.observed)


@pytest.mark.req("RING-SPLIT-054")
def test_a_driver_taking_an_interrupt_for_a_used_buffer_fails() -> None:
    res = runner.run_case(cases.discover()[DRIVER_CASE], Broken())
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert res.req == "RING-SPLIT-054"
