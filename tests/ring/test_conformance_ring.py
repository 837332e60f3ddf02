"""The ring suite passes against the reference, and fails a target that breaks the spec."""

from __future__ import annotations

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.api import RingSetup
from virtiospec.conformance.ring.lib_stress import is_stress
from virtiospec.conformance.target_reference import (
    ReferenceRingDevice,
    ReferenceRingDriver,
    ReferenceTarget,
)
from virtiospec.reference.access import load, run
from virtiospec.reference.ring import Chain, SplitDevice, SplitDriver
from virtiospec.reference.ring.driver import DriverLines

ALL = cases.discover()
# the C ABI's own cases (ring.split.abi.*) and the two-thread stress (--stress) need a native
# library: tests/ring/test_lib_contract.py, test_lib_stress.py and test_ring_c.py run them
RING = [c for c in ALL.values()
        if c.layer == "ring" and ".abi." not in c.id and not is_stress(c.id)]


@pytest.mark.parametrize("case", RING, ids=[c.id for c in RING])
def test_reference_conforms(case: cases.Case) -> None:
    res = runner.run_case(case, targets.make("reference"))
    assert res.outcome in (Outcome.PASS, Outcome.REJECT), (res.detail, res.expected,
                                                           res.observed)
    hostile = ".rejects-" in case.id
    assert (res.outcome is Outcome.REJECT) == hostile


class TrustingDevice(SplitDevice):
    """Walks chains without checking the head index (breaks RING-SPLIT-080)."""

    def pop(self):  # type: ignore[no-untyped-def]
        lay = self.layout
        avail_idx = yield from load(lay.avail_idx, 2)
        if avail_idx == self.last_avail:
            return None
        head = yield from load(lay.avail_ring(lay.slot(self.last_avail)), 2)
        self.last_avail = (self.last_avail + 1) & 0xFFFF
        return Chain(head)


class NoRecheckDriver(SplitDriver):
    """Re-enables callbacks without re-checking used.idx (breaks RING-SPLIT-073)."""

    lines = DriverLines(recheck=False)


class BrokenTarget(ReferenceTarget):
    name = "broken"

    def ring_device(self, setup: RingSetup) -> ReferenceRingDevice:
        dut = ReferenceRingDevice(setup)
        dut.dev = TrustingDevice(setup.layout, setup.memory.size)
        run(dut.dev.init(), setup.memory)
        return dut

    def ring_driver(self, setup: RingSetup) -> ReferenceRingDriver:
        dut = ReferenceRingDriver(setup)
        dut.drv = NoRecheckDriver(setup.layout, event_idx=setup.event_idx)
        run(dut.drv.init(), setup.memory)
        return dut


def test_suite_fails_a_broken_target() -> None:
    target = BrokenTarget()
    outcome = {c.id: runner.run_case(c, target) for c in RING}
    head = outcome["ring.split.device.rejects-head-out-of-range"]
    # a head >= Q is an error by RING-SPLIT-080, our rule: graded EXTENSION, not FAIL
    assert head.outcome is Outcome.EXTENSION and "accepted" in head.detail
    assert "RING-SPLIT-080" in head.graded
    recheck = outcome["ring.split.driver.enable-rechecks"]  # RING-SPLIT-073, a VIRTIO MUST
    assert recheck.outcome is Outcome.FAIL and "re-check" in recheck.detail
    assert recheck.req == "RING-SPLIT-073"


def test_wrong_reason_is_a_failure() -> None:
    def refuse() -> None:
        from virtiospec.reference.ring.errors import BadIndirect

        raise BadIndirect("not the point")

    with pytest.raises(cases.CaseFailed, match="wrong reason"):
        cases.expect_reject(refuse, {"RING-SPLIT-080"}, "loop")


def test_wedged_target_is_reported() -> None:
    import threading

    stop = threading.Event()
    slow = cases.Case("x.wedge", ("RING-SPLIT-080",), "device", "ring", "hangs",
                      lambda _t: (stop.wait(5), None)[1], budget=0.2)
    res = runner.run_case(slow, targets.make("reference"))
    stop.set()
    assert res.outcome is Outcome.WEDGED


def test_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown target"):
        targets.make("nonesuch")
