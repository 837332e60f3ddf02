"""Known-bad recoveries from faults, each caught by the fault machine (models/ring/faults.py).

Split: all six below; packed: the three at a reset, the one at a dropped notification and
its own device that trusts a kick (the packed driver's free-ID accounting has no overfill
variant here).

One variant per fault: three at a device reset (the driver drops the buffers it detached;
it detaches the ones the device had used, losing their ``len``; it keeps its outstanding
chains, trusting the reset device to use them), one at a doubled kick (a device that takes
the next avail slot on every kick without looking at avail.idx, so it uses a slot again),
one at a dropped notification (no timer: a lost kick strands buffers) and one at a stall
(a driver that, with the device stalled and the queue full, reuses the descriptors of a chain
still in flight). Each run is derandomized, so its outcome is reproducible; a variant is
refuted only when the machine fails with a requirement violation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.ring.faults import FaultConfig, run_faults
from virtiospec.models.variant_switch import switched
from virtiospec.reference.access import Op
from virtiospec.reference.ring import SplitDevice, SplitDriver
from virtiospec.reference.ring.device import PROTOCOL as SPLIT_PROTOCOL
from virtiospec.reference.ring.device import Chain, DeviceLines
from virtiospec.reference.ring.packed.device import PROTOCOL as PACKED_PROTOCOL
from virtiospec.reference.ring.packed.device import PackedDevice, PackedDeviceLines

EXAMPLES = 400
SHRINK_SECONDS = 2.0


class DeviceTrustsKick(SplitDevice):
    """Counts kicks and, for each, takes the next avail slot without comparing avail.idx
    with its own position: a kick delivered twice makes it take a slot again."""

    # BUG (RING-SPLIT-092): avail.idx is read but not compared; the kick is one new chain
    lines = DeviceLines(idle_check=False)
    kicks_owed = 0

    def note_kick(self) -> None:
        self.kicks_owed += 1

    def pop(self) -> Op[Chain | None]:
        # the broken lines on the pop a counted kick asks for, the protocol's on any other
        self.lines = type(self).lines if self.kicks_owed else SPLIT_PROTOCOL
        self.kicks_owed = max(self.kicks_owed - 1, 0)
        return (yield from super().pop())


class PackedDeviceTrustsKick(PackedDevice):
    """Counts kicks and, for each, takes the descriptor at its read position without
    looking at its available marks: a kick delivered twice makes it take a used one again."""

    lines = PackedDeviceLines(ready_check=False)  # BUG (RING-PACKED-092): marks not checked
    kicks_owed = 0

    def note_kick(self) -> None:
        self.kicks_owed += 1

    def pop(self) -> Op[Chain | None]:
        # the broken lines on the pop a counted kick asks for, the protocol's on any other
        self.lines = type(self).lines if self.kicks_owed else PACKED_PROTOCOL
        self.kicks_owed = max(self.kicks_owed - 1, 0)
        return (yield from super().pop())


class DriverOverfills(SplitDriver):
    """With no free descriptor, takes those of the oldest chain still in flight."""

    def add(self, out: Sequence[tuple[int, int]], in_: Sequence[tuple[int, int]],
            token: object) -> Op[int]:
        if not self.free and self.chains:
            # BUG (RING-SPLIT-090, RING-SPLIT-093): reuses descriptors the device still owns
            oldest = min(self.chains)
            self.free.extend(self.chains.pop(oldest).descs)
        return (yield from super().add(out, in_, token))


def _variant(cfg: FaultConfig) -> Callable[[], registry.Evidence]:
    def run_it() -> registry.Evidence:
        return mutant_evidence(run_faults(cfg, EXAMPLES, derandomize=True,
                                          shrink_seconds=SHRINK_SECONDS))

    return run_it


MUTANTS: dict[str, tuple[str, tuple[str, ...], FaultConfig]] = {
    "forgets-detached": (
        "after a reset the driver detaches the outstanding buffers and drops them",
        ("RING-SPLIT-092", "VIRTIO-CLEANUP-001"), FaultConfig(recovery="forget-detached")),
    "detaches-used": (
        "after a reset the driver detaches everything without first taking back what the "
        "device had used (their len is lost)", ("VIRTIO-CLEANUP-001", "RING-SPLIT-092"),
        FaultConfig(recovery="detach-used")),
    "trusts-outstanding-after-reset": (
        "after a reset the driver keeps its outstanding chains, trusting the reset device to "
        "still use them", ("RING-SPLIT-092", "VIRTIO-CLEANUP-001"),
        FaultConfig(recovery="keep-outstanding")),
    "device-trusts-kick": (
        "the device takes one avail slot per kick without comparing avail.idx: a kick with "
        f"nothing new (doubled, or the driver's timer) makes it use a slot again; "
        f"{switched(DeviceTrustsKick)} on a kick's pop", ("RING-SPLIT-092",),
        FaultConfig(device_cls=DeviceTrustsKick)),
    "no-watchdog": (
        "the driver has no timer: a dropped notification strands buffers for good",
        ("RING-SPLIT-092",), FaultConfig(watchdog=False)),
    "driver-overfills": (
        "with the device stalled and the queue full, the driver reuses the descriptors of "
        "the oldest chain in flight", ("RING-SPLIT-090", "RING-SPLIT-093", "RING-SPLIT-092"),
        FaultConfig(driver_cls=DriverOverfills)),
}

PACKED_REQ = {"RING-SPLIT-092": "RING-PACKED-092", "RING-SPLIT-090": "RING-PACKED-090"}
PACKED_MUTANTS: dict[str, tuple[str, tuple[str, ...], FaultConfig]] = {
    name: (bug, tuple(PACKED_REQ.get(r, r) for r in reqs), replace(cfg, packed=True))
    for name, (bug, reqs, cfg) in MUTANTS.items()
    if name in ("forgets-detached", "detaches-used", "trusts-outstanding-after-reset",
                "no-watchdog")
}
PACKED_MUTANTS["device-trusts-kick"] = (
    "the device takes the descriptor at its read position on every kick without looking at "
    "its available marks: a kick with nothing new (doubled, or the driver's timer) makes it "
    f"use a used descriptor again; {switched(PackedDeviceTrustsKick)} on a kick's pop",
    ("RING-PACKED-092",), FaultConfig(packed=True, device_cls=PackedDeviceTrustsKick))

# name, key of MUTANTS
REGISTERED: tuple[tuple[str, str], ...] = (
    ("ring.faults.split.forgets-detached", "forgets-detached"),
    ("ring.faults.split.detaches-used", "detaches-used"),
    ("ring.faults.split.trusts-outstanding-after-reset", "trusts-outstanding-after-reset"),
    ("ring.faults.split.device-trusts-kick", "device-trusts-kick"),
    ("ring.faults.split.no-watchdog", "no-watchdog"),
    ("ring.faults.split.driver-overfills", "driver-overfills"),
)
# name, key of PACKED_MUTANTS
PACKED_REGISTERED: tuple[tuple[str, str], ...] = (
    ("ring.faults.packed.forgets-detached", "forgets-detached"),
    ("ring.faults.packed.detaches-used", "detaches-used"),
    ("ring.faults.packed.trusts-outstanding-after-reset", "trusts-outstanding-after-reset"),
    ("ring.faults.packed.no-watchdog", "no-watchdog"),
    ("ring.faults.packed.device-trusts-kick", "device-trusts-kick"),
)
if [key for _, key in REGISTERED] != list(MUTANTS) or \
        [key for _, key in PACKED_REGISTERED] != list(PACKED_MUTANTS):
    raise ValueError("REGISTERED and PACKED_REGISTERED must name every variant, in order")
for _name, _key in REGISTERED:
    _bug, _reqs, _cfg = MUTANTS[_key]
    registry.mutant(_name, _bug, _reqs, "hypothesis")(_variant(_cfg))
for _name, _key in PACKED_REGISTERED:
    _bug, _reqs, _cfg = PACKED_MUTANTS[_key]
    registry.mutant(_name, _bug, _reqs, "hypothesis")(_variant(_cfg))
