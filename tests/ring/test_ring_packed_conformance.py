"""The packed-ring suite (``ring.packed.*``) passes against the reference, SKIPs on a target
without a packed ring, and fails a target that breaks the spec."""

from __future__ import annotations

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.api import PackedRingSetup
from virtiospec.conformance.target_reference import (
    ReferencePackedDevice,
    ReferencePackedDriver,
    ReferenceTarget,
)
from virtiospec.reference.access import run
from virtiospec.reference.ring import PackedDevice, PackedDriver
from virtiospec.reference.ring.packed.device import PackedDeviceLines
from virtiospec.reference.ring.packed.driver import PackedDriverLines

ALL = cases.discover()
PACKED = [c for c in ALL.values() if c.id.startswith("ring.packed.")]


def test_the_suite_is_there() -> None:
    assert len(PACKED) >= 40
    assert {c.layer for c in PACKED} == {"ring-packed"}
    assert all(any(r.startswith("RING-PACKED-") for r in c.reqs) for c in PACKED)


@pytest.mark.parametrize("case", PACKED, ids=[c.id for c in PACKED])
def test_reference_conforms(case: cases.Case) -> None:
    res = runner.run_case(case, targets.make("reference"))
    assert res.outcome in (Outcome.PASS, Outcome.REJECT), (res.detail, res.expected,
                                                           res.observed)
    assert (res.outcome is Outcome.REJECT) == (".rejects-" in case.id)


class SplitOnly:
    """A target with only the split ring: every packed case SKIPs, naming what is missing."""

    name = "split-only"

    def ring_device(self, setup: object) -> object:
        raise AssertionError("not called")


def test_a_target_without_a_packed_ring_skips() -> None:
    for case in PACKED:
        res = runner.run_case(case, SplitOnly())
        assert res.outcome is Outcome.SKIP, (case.id, res.detail)
        assert "does not provide ring_packed_" in res.detail


class NoRecheckDevice(PackedDevice):
    """Re-enables kicks without re-checking (breaks RING-PACKED-070)."""

    lines = PackedDeviceLines(recheck=False)


class NoWrapDriver(PackedDriver):
    """Never flips the Driver Ring Wrap Counter (breaks RING-PACKED-012, RING-PACKED-013)."""

    lines = PackedDriverLines(wrap_flip=False)


class TrustingDevice(PackedDevice):
    """Follows NEXT without checking the later descriptors' marks (breaks RING-PACKED-081)."""

    lines = PackedDeviceLines(list_marks_check=False)


class BrokenTarget(ReferenceTarget):
    name = "broken"

    def __init__(self, device: type[PackedDevice], driver: type[PackedDriver]) -> None:
        self.device_cls, self.driver_cls = device, driver

    def ring_packed_device(self, setup: PackedRingSetup) -> ReferencePackedDevice:
        dut = ReferencePackedDevice(setup)
        dut.dev = self.device_cls(setup.layout, setup.memory.size, event_idx=setup.event_idx,
                                  indirect=setup.indirect)
        run(dut.dev.init(), setup.memory)
        return dut

    def ring_packed_driver(self, setup: PackedRingSetup) -> ReferencePackedDriver:
        dut = ReferencePackedDriver(setup)
        dut.drv = self.driver_cls(setup.layout, event_idx=setup.event_idx)
        return dut


def test_suite_fails_a_broken_target() -> None:
    target = BrokenTarget(NoRecheckDevice, NoWrapDriver)
    out = {c.id: runner.run_case(c, target) for c in PACKED}
    # graded by whose rule broke: the device's re-check is our rule (RING-PACKED-070), the
    # driver's marks a VIRTIO MUST (RING-PACKED-013), a stale list is an error by ours (081)
    recheck = out["ring.packed.device.enable-rechecks"]
    assert recheck.outcome is Outcome.EXTENSION and "re-check" in recheck.detail
    wrap = out["ring.packed.driver.wraps"]
    assert wrap.outcome is Outcome.FAIL and "marks of wrap bit 0" in wrap.detail
    assert wrap.req == "RING-PACKED-013"
    target = BrokenTarget(TrustingDevice, PackedDriver)
    out = {c.id: runner.run_case(c, target) for c in PACKED if ".device." in c.id}
    stale = out["ring.packed.device.rejects-second-from-last-lap"]
    assert stale.outcome is Outcome.EXTENSION and "accepted" in stale.detail
