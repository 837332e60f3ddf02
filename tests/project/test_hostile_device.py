"""hostile.device.*: a hostile device against our drivers (split, packed, net, shm, pci).

The suite runs whole against the reference and the C library (0 FAIL, 0 WEDGED, no failed
grade at all); at least 150 cases on the driver side; and planted-bug drivers (the known-bad
variants of models/*mutants*.py, and the reference's own checks switched off) fail the cases
that target their bug.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from virtiospec.conformance import targets
from virtiospec.conformance.cases import FAILED, Case, Outcome, discover
from virtiospec.conformance.ring.api import PackedRingSetup, RingSetup
from virtiospec.conformance.runner import run_case
from virtiospec.conformance.target_reference import (
    ReferencePackedDevice,
    ReferencePackedDriver,
    ReferenceRingDevice,
    ReferenceRingDriver,
    ReferenceTarget,
)
from virtiospec.models.ring import ref_mutants as ring_ref_mutants
from virtiospec.models.ring.packed import mutants as ring_packed_mutants
from virtiospec.reference.access import run
from virtiospec.reference.ring import PackedDevice


def _cases(prefix: str) -> list[Case]:
    return [c for cid, c in sorted(discover().items()) if cid.startswith(prefix)]


def test_counts_per_side_and_layer() -> None:
    cases = _cases("hostile.device.")
    assert all(c.side == "driver" for c in cases)
    assert len(cases) >= 150, len(cases)
    per_layer = Counter(c.id.split(".")[2] for c in cases)
    assert {"split", "packed", "net", "shm", "pci"} <= set(per_layer), per_layer
    ids = [c.id for c in cases]
    assert "hostile.device.split.used-id-beyond-q" in ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("spec", ["reference", "c"])
def test_our_drivers_survive(spec: str) -> None:
    target = targets.make(spec)
    outcomes: Counter[Outcome] = Counter()
    bad = []
    for c in _cases("hostile.device."):
        res = run_case(c, target)
        outcomes[res.outcome] += 1
        if res.outcome in (*FAILED, Outcome.WEDGED):
            bad.append(f"{c.id}: {res.outcome} {res.detail}")
    assert not bad, bad
    ran = outcomes[Outcome.REJECT] + outcomes[Outcome.PASS]
    assert ran >= 150, outcomes


class _Planted(ReferenceTarget):
    """The reference with one driver swapped for a known-bad variant."""

    name = "planted"

    def __init__(self, split: type[Any] | None = None, packed: type[Any] | None = None) -> None:
        self.split, self.packed = split, packed

    def ring_driver(self, setup: RingSetup) -> ReferenceRingDriver:
        side = ReferenceRingDriver(setup)
        if self.split is not None:
            side.drv = self.split(setup.layout, event_idx=setup.event_idx,
                                  indirect_area=setup.indirect_area if setup.indirect else None,
                                  indirect_max=setup.indirect_max)
            run(side.drv.init(), side.mem)
            side.drv.avail_idx = side.drv.last_used = setup.start_index
        return side

    def ring_packed_driver(self, setup: PackedRingSetup) -> ReferencePackedDriver:
        side = ReferencePackedDriver(setup)
        if self.packed is not None:
            side.drv = self.packed(setup.layout, event_idx=setup.event_idx,
                                   indirect_area=setup.indirect_area if setup.indirect else None,
                                   indirect_max=setup.indirect_max)
            run(side.drv.init(), side.mem)
        return side


def _failed(target: object, prefix: str) -> tuple[int, int]:
    cases = _cases(prefix)
    results = [run_case(c, target) for c in cases]
    assert not [r for r in results if r.outcome == Outcome.WEDGED]
    return sum(r.outcome in FAILED for r in results), len(cases)


@pytest.mark.parametrize(("planted", "prefix"), [
    (_Planted(split=ring_ref_mutants.DriverTrustsUsedId), "hostile.device.split.used-id-"),
    (_Planted(split=ring_ref_mutants.DriverTrustsUsedId), "hostile.device.split.used-twice-"),
    (_Planted(split=ring_ref_mutants.DriverNoLenCheck), "hostile.device.split.used-len-"),
    (_Planted(split=ring_ref_mutants.DriverNoLenCheck), "hostile.device.split.wrap.used-len-"),
    (_Planted(packed=ring_packed_mutants.DriverTrustsUsedId),
     "hostile.device.packed.used-id-"),
], ids=["split-trusts-id", "split-trusts-id-twice", "split-no-len-check",
        "split-no-len-check-wrap", "packed-trusts-id"])
def test_planted_ring_drivers_fail(planted: _Planted, prefix: str) -> None:
    failed, total = _failed(planted, prefix)
    assert total >= 2 and failed >= 2, (failed, total)


def test_planted_net_driver_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The network driver without its receive-header checks (NET-016) hands out a frame of a
    header it must refuse."""
    import virtiospec.reference.net.driver as net_driver

    monkeypatch.setattr(net_driver, "check_rx", lambda hdr, features: None)
    failed, total = _failed(targets.make("reference"), "hostile.device.net.num-buffers-zero")
    assert failed == total == 2


def test_planted_pci_driver_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A transport that reads the configuration once, never comparing generations."""
    from virtiospec.reference.virtio_pci.transport import VirtioPciTransport

    def once(self: Any, fields: list[tuple[int, int]], tries: int = 0) -> Any:
        from virtiospec.reference.access import load

        base = self.structures.device
        values = []
        for offset, size in fields:
            values.append((yield from load(base + offset, size)))
        return values

    monkeypatch.setattr(VirtioPciTransport, "config_fields", once)
    failed, total = _failed(targets.make("reference"), "hostile.device.pci.generation-")
    assert failed == total == 4


def test_planted_shm_reader_fails() -> None:
    """A table reader that trusts an odd seq (hands out the half-written value)."""
    from virtiospec.conformance.shm.target_reference import ReferenceShmSides
    from virtiospec.reference.shm import Snapshot

    class Trusting:
        def __init__(self, setup: Any) -> None:
            self.setup = setup

        def read(self, slot: int) -> Snapshot:
            return Snapshot(self.setup.seq(slot), self.setup.value(slot))

        def poll(self, slot: int) -> Snapshot | None:
            return self.read(slot)

    class Target(ReferenceShmSides):
        name = "planted-shm"

        def shm_table_reader(self, setup: Any) -> Any:
            return Trusting(setup)

    failed, total = _failed(Target(), "hostile.device.shm.seq-")
    assert failed == total >= 10


# -- the device side: hostile.driver.split.* (in process) -------------------------------------

def test_device_side_counts() -> None:
    device = [c for c in _cases("hostile.driver.") if c.side == "device"]
    assert len(device) >= 150, len(device)
    assert len(_cases("hostile.driver.split.")) >= 90


@pytest.mark.parametrize("spec", ["reference", "c"])
def test_our_devices_survive(spec: str) -> None:
    target = targets.make(spec)
    results = {c.id: run_case(c, target) for c in _cases("hostile.driver.split.")
               + _cases("hostile.driver.packed.cold.") + _cases("hostile.driver.packed.warm.")
               + _cases("hostile.driver.packed.event-idx.")}
    assert len(results) >= 170
    bad = {cid: r.outcome for cid, r in results.items() if r.outcome != Outcome.REJECT}
    assert not bad, bad


class PackedDeviceNoBounds(PackedDevice):
    """Planted: the packed device never checks a buffer or table against guest memory."""

    def _inside(self, addr: int, length: int, what: str) -> None:
        return None


class _PlantedDevice(ReferenceTarget):
    name = "planted-device"

    def __init__(self, device: type[Any]) -> None:
        self.device = device

    def ring_packed_device(self, setup: PackedRingSetup) -> ReferencePackedDevice:
        side = ReferencePackedDevice(setup)
        side.dev = self.device(setup.layout, setup.memory.size, event_idx=setup.event_idx,
                               indirect=setup.indirect)
        run(side.dev.init(), side.mem)
        return side

    def ring_device(self, setup: RingSetup) -> ReferenceRingDevice:
        side = ReferenceRingDevice(setup)
        side.dev = self.device(setup.layout, setup.memory.size, event_idx=setup.event_idx,
                               indirect=setup.indirect)
        run(side.dev.init(), side.mem)
        side.dev.last_avail = side.dev.used_idx = setup.start_index
        return side


@pytest.mark.parametrize(("device", "prefix"), [
    (ring_ref_mutants.DeviceNoHeadCheck, "hostile.driver.split.head-"),
    (ring_ref_mutants.DeviceNestedIndirect, "hostile.driver.split.event-idx.nested-"),
    (ring_ref_mutants.DeviceIndirectOutside, "hostile.driver.split.indirect-table-"),
    (ring_ref_mutants.DeviceReadableAfterWritable, "hostile.driver.split.readable-after-"),
    (ring_ref_mutants.DeviceNoAvailJumpCheck, "hostile.driver.split.avail-"),
    (PackedDeviceNoBounds, "hostile.driver.packed.warm.buffer-"),
    (PackedDeviceNoBounds, "hostile.driver.packed.event-idx.table-"),
], ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_planted_devices_fail(device: type[Any], prefix: str) -> None:
    results = [run_case(c, _PlantedDevice(device)) for c in _cases(prefix)]
    assert results and not [r for r in results if r.outcome == Outcome.WEDGED]
    assert sum(r.outcome in FAILED for r in results) >= 1, [r.outcome for r in results]


def test_planted_pci_driver_blind_to_needs_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver whose status check ignores DEVICE_NEEDS_RESET goes on with a broken device."""
    from virtiospec.reference.virtio_pci.init import VirtioPciDriver

    def blind(self: Any) -> Any:
        yield from self.transport.status()

    monkeypatch.setattr(VirtioPciDriver, "check_device", blind)
    failed, total = _failed(targets.make("reference"), "hostile.device.pci.needs-reset-")
    assert failed == total == 5


@pytest.mark.parametrize(("mutant", "prefix", "caught"), [
    (None, "hostile.device.split.", 0),
    ("TRUST_USED_ID", "hostile.device.split.", 15),
    (None, "hostile.driver.split.", 0),
    ("NO_HEAD_CHECK", "hostile.driver.split.", 12),
    ("UNBOUNDED_WALK", "hostile.driver.split.loop-", 3),
])
def test_planted_c_variants(mutant: str | None, prefix: str, caught: int) -> None:
    """ring.c's own known-bad switches (reference/ring/c/ring_mutants.h), in the stepped build whose
    every access goes through Python (a walk that never ends fails a bound, it cannot spin):
    the same cases catch them; the unswitched build passes them all."""
    from virtiospec.conformance.ring.target_stepped import SteppedTarget

    results = [run_case(c, SteppedTarget(mutant)) for c in _cases(prefix)]
    assert not [r for r in results if r.outcome == Outcome.WEDGED]
    failed = sum(r.outcome in FAILED for r in results)
    assert failed >= caught if caught else failed == 0, failed


def test_planted_clock_driver_fails() -> None:
    """A clock driver that acts on the signal alone (reads the table whatever its seq says
    changed) takes a time out of a signal without data."""
    from virtiospec.conformance.shm.target_reference import ReferenceShmSides
    from virtiospec.reference.shm.clock import ClockDriver, ClockLines

    class ActsOnSignal(ClockDriver):
        lines = ClockLines(new_time_only=False)

    class Target(ReferenceShmSides):
        name = "planted-clock"
        clock_driver_cls = ActsOnSignal

    failed, total = _failed(Target(), "hostile.device.shm.clock-")
    assert total == 10 and failed >= 7, (failed, total)


@pytest.mark.parametrize(("mutant", "caught"), [(None, 0), ("DRIVER_TRUSTS_USED_ID", 15)])
def test_planted_c_packed_driver(mutant: str | None, caught: int) -> None:
    """ring_packed.c's driver (stepped build) behind the reference's packed-driver wrapper:
    unswitched it passes hostile.device.packed.*, with TRUSTS_USED_ID
    (reference/ring/c/ring_packed_mutants.h) it fails the cases aimed at it."""
    from virtiospec.models.ring.packed.c_checks import c_driver_class

    failed, total = _failed(_Planted(packed=c_driver_class(mutant)), "hostile.device.packed.")
    assert total >= 40
    assert failed >= caught if caught else failed == 0, failed
