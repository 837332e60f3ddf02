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
from virtiospec.reference.access import Op, fence, load
from virtiospec.reference.ring import SplitDevice, SplitDriver
from virtiospec.reference.ring.device import Chain
from virtiospec.reference.ring.errors import BadDescriptorIndex, RingError
from virtiospec.reference.ring.layout import U16
from virtiospec.reference.ring.packed.device import Held, PackedDevice
from virtiospec.reference.ring.packed.layout import DESC_FLAGS, advance

EXAMPLES = 400
SHRINK_SECONDS = 2.0


class DeviceTrustsKick(SplitDevice):
    """Counts kicks and, for each, takes the next avail slot without comparing avail.idx
    with its own position: a kick delivered twice makes it take a slot again."""

    kicks_owed = 0

    def note_kick(self) -> None:
        self.kicks_owed += 1

    def pop(self) -> Op[Chain | None]:
        if not self.kicks_owed:
            return (yield from super().pop())
        self.kicks_owed -= 1
        self._check()
        lay = self.layout
        # BUG (RING-SPLIT-092): avail.idx is not read; the kick is taken as one new chain
        yield from fence("rmb")
        head = yield from load(lay.avail_ring(lay.slot(self.last_avail)), 2)
        try:
            chain = yield from self._walk(head)
        except RingError as err:
            raise self._fail(err) from None
        if head in self.in_flight:
            raise self._fail(BadDescriptorIndex(f"head {head} is already in flight",
                                                "RING-SPLIT-092"))
        self.last_avail = (self.last_avail + 1) & U16
        self.in_flight[head] = chain.writable_len
        return chain


class PackedDeviceTrustsKick(PackedDevice):
    """Counts kicks and, for each, takes the descriptor at its read position without
    looking at its available marks: a kick delivered twice makes it take a used one again."""

    kicks_owed = 0

    def note_kick(self) -> None:
        self.kicks_owed += 1

    def pop(self) -> Op[Chain | None]:
        if not self.kicks_owed:
            return (yield from super().pop())
        self.kicks_owed -= 1
        self._check()
        # BUG (RING-PACKED-092): the marks of RING-PACKED-015 are not checked on a kick
        flags = yield from load(self.layout.desc_addr(self.last_avail) + DESC_FLAGS, 2)
        yield from fence("rmb")
        try:
            chain, ndesc = yield from self._walk(flags)
        except RingError as err:
            raise self._fail(err) from None
        if chain.head in self.in_flight:
            raise self._fail(BadDescriptorIndex(f"buffer ID {chain.head} is already held",
                                                "RING-PACKED-085"))
        self.last_avail, self.avail_wrap = advance(self.q, self.last_avail, self.avail_wrap,
                                                   ndesc)
        self.held += ndesc
        self.in_flight[chain.head] = Held(ndesc, chain.writable_len)
        return chain


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
        "the device takes one avail slot per kick without reading avail.idx: a kick with "
        "nothing new (doubled, or the driver's timer) makes it use a slot again",
        ("RING-SPLIT-092",),
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
    "use a used descriptor again",
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
