"""A queue of the network stack interleaved: **PCI → virtio-pci → virtio-shm → virtio-ring**
under SC and x86-TSO, the layers of reference/stack/ stepped access by access.

The stack of reference/stack/net_stack.py is brought up as ``virtiospec demo`` brings it up
(enumeration through configuration mechanism #1, virtio-pci bring-up, the queues placed in
region 0 of BAR4 by SHM-RING-005, MSI-X). Then the machine of models/ring/on_shm_machine.py
runs on one of its queues (tx0) with the stack's own objects: the driver's
:class:`~virtiospec.reference.stack.rings.DriverRing`, whose every load and store is an MMIO
access that the PCI machine routes through BAR4 to the device's region and that the device
judges before it changes a byte (SHM-RING-007); the device's
:class:`~virtiospec.reference.stack.rings.DeviceRing` on its own view of its region and of
guest RAM (bus mastering); the transport's notifications as the stack sends them: a write of
the queue index to the notify area through BAR2 (VIRTIO-PCI-030) and the queue's MSI-X
message (VIRTIO-PCI-042). The network layer is not run: the chains are the machine's.

Checked, besides the properties of the ring on shm (no lost wakeup, exactly once,
SHM-RING-006 per signal): SHM-RING-006 at the transport, "the driver's notify writes are
exactly the kick signals' notifications, the device's used-buffer notifications exactly the
call signals'" (the function's own counters of notify writes and of queue interrupts against
the senders' counts), and SHM-RING-007, "The device judges every driver store to its region
before the store changes a byte" (no store of the run is refused: DEVICE_NEEDS_RESET stays
clear). Known-bad variants planted in the signal layer are caught at this level too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import RunRecord, Violation, mutant_evidence
from virtiospec.models.machine_base import WHERE, bind, guarded, run_bound
from virtiospec.models.memory.tso import Mode, Program, SharedMemory
from virtiospec.models.ring import on_shm_mutants as seam
from virtiospec.models.ring.layer_bugs import (
    DEVICE_NO_RECHECK,
    INJECT_WITHOUT_MB,
    RECEIVER_NO_RECHECK,
    USED_IDX_WRAP,
)
from virtiospec.models.ring.names import ring_names
from virtiospec.models.ring.on_shm_machine import RingOnShmMachine
from virtiospec.models.ring.ref_mutants import DeviceNoRecheck, DeviceUsedIdxWrap
from virtiospec.models.shm.ref_mutants import ReceiverNoRecheck, SenderNoMbBeforeEnabled
from virtiospec.reference.access import Load, Op, Store, fence, run
from virtiospec.reference.ring import Chain, SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.shm.signal import SignalReceiver, SignalSender
from virtiospec.reference.stack import net_driver
from virtiospec.reference.stack.net_driver import MSI_DATA, queue_vector
from virtiospec.reference.stack.net_stack import Stack, StackOptions
from virtiospec.reference.stack.rings import DeviceRing, DriverRing
from virtiospec.reference.virtio_pci.regs import DEVICE_NEEDS_RESET

T = TypeVar("T")
DEV_TAG = 1 << 48  # the device's addresses, apart from the driver's (the same physical ones)
TX0 = 1  # the queue the machine runs on


def shifted(op: Op[T]) -> Op[T]:
    """The device's operation with its addresses moved above :data:`DEV_TAG`."""
    value: int | None = None
    while True:
        try:
            access = op.send(value)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if isinstance(access, Load):
            access = Load(access.addr + DEV_TAG, access.size)
        elif isinstance(access, Store):
            access = Store(access.addr + DEV_TAG, access.size, access.value)
        value = yield access


class StackBus:
    """Both sides' memory for :class:`SharedMemory`: below :data:`DEV_TAG` the host's (RAM,
    and MMIO that PCI routes to a BAR), above it the device's view (its region, RAM)."""

    def __init__(self, stack: Stack) -> None:
        self.host = stack.driver.mem
        self.device = stack.function.device_memory

    def check(self, addr: int, size: int) -> None:
        if size not in (1, 2, 4, 8):
            raise ValueError(f"access of {size} bytes at {addr:#x}")

    def read(self, addr: int, size: int) -> int:
        if addr >= DEV_TAG:
            return self.device.read(addr - DEV_TAG, size)
        return self.host.read(addr, size)

    def write(self, addr: int, size: int, value: int) -> None:
        if addr >= DEV_TAG:
            self.device.write(addr - DEV_TAG, size, value)
        else:
            self.host.write(addr, size, value)

    def read_bytes(self, addr: int, size: int) -> bytes:
        return self.read(addr, size).to_bytes(size, "little")


class DriverSide:
    """The stack's driver ring with the operations of :class:`ShmRingDriver`."""

    def __init__(self, ring: DriverRing) -> None:
        self.ring = ring
        self.kick: SignalSender = ring.kick
        self.call: SignalReceiver = ring.call

    def add(self, out: Sequence[tuple[int, int]], in_: Sequence[tuple[int, int]],
            token: object) -> Op[int]:
        return (yield from self.ring.add(out, in_, token))

    def kick_if_needed(self) -> Op[bool]:
        if not (yield from self.ring.kick_prepare()):
            return False
        return (yield from self.kick.inject())

    def begin(self) -> Op[None]:
        yield from self.ring.begin()

    def get_used(self) -> Op[tuple[object, int] | None]:
        return (yield from self.ring.get_used())

    def finish(self) -> Op[bool]:
        return (yield from self.ring.finish())


class DeviceSide:
    """The stack's device ring with the operations of :class:`ShmRingDevice`, its accesses
    in the device's address space."""

    def __init__(self, ring: DeviceRing) -> None:
        self.ring = ring
        self.kick: SignalReceiver = ring.kick
        self.call: SignalSender = ring.call

    def begin(self) -> Op[None]:
        yield from shifted(self.ring.begin())

    def pop(self) -> Op[Chain | None]:
        return (yield from shifted(self.ring.pop()))

    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        yield from shifted(self.ring.push(used))

    def call_if_needed(self) -> Op[bool]:
        if not (yield from shifted(self.ring.should_notify())):
            return False
        return (yield from shifted(self.call.inject()))

    def finish(self) -> Op[bool]:
        return (yield from shifted(self.ring.finish()))


@dataclass(frozen=True)
class StackRingConfig:
    mode: Mode = "tso"
    event_idx: bool = True
    sender_cls: type[SignalSender] | None = None  # planted in both signals
    receiver_cls: type[SignalReceiver] | None = None
    # a ring-layer variant (a SplitDriver / SplitDevice subclass of models/ring/ref_mutants.py)
    # mixed under the stack's ring class, so the stack's counting and shm checks stay on top
    driver_ring_bug: type[SplitDriver] | None = None
    device_ring_bug: type[SplitDevice] | None = None
    tx_vector: int | None = None  # a virtio-pci variant: tx0's MSI-X vector (None: as set up)
    reinit_live_queue: bool = False  # a driver variant: re-initialises tx0 while it is live
    sizes: tuple[int, ...] = field(default=(2, 4))
    steps: int = 100


class StackRingMachine(RingOnShmMachine):
    OUT_OF_BOUNDS_REQ = "SHM-RING-001"
    cfg: ClassVar[StackRingConfig] = StackRingConfig()  # type: ignore[assignment]
    record: ClassVar[RunRecord] = RunRecord()

    @initialize(q=st.sampled_from((2, 4)))
    @guarded
    def setup(self, q: int, start: int = 0) -> None:
        cfg = self.cfg
        q = q if q in cfg.sizes else cfg.sizes[-1]
        stack = self.stack = Stack(StackOptions(queue_size=q, event_idx=cfg.event_idx))
        stack.bring_up()
        dring, vring = stack.driver.rings[TX0], stack.function.queues[TX0].ring
        assert isinstance(vring, DeviceRing)
        lay = dring.shm_layout
        if cfg.sender_cls is not None:
            dring.kick, vring.call = cfg.sender_cls(lay.kick), cfg.sender_cls(lay.call)
        if cfg.receiver_cls is not None:
            dring.call, vring.kick = cfg.receiver_cls(lay.call), cfg.receiver_cls(lay.kick)
        if cfg.driver_ring_bug is not None:
            dring.__class__ = type("PlantedDriverRing", (DriverRing, cfg.driver_ring_bug), {})
        if cfg.device_ring_bug is not None:
            vring.__class__ = type("PlantedDeviceRing", (DeviceRing, cfg.device_ring_bug), {})
        self.drv, self.dev = DriverSide(dring), DeviceSide(vring)  # type: ignore[assignment]
        names = ring_names(lay.ring)
        ring_names(SplitLayout.packed_at(DEV_TAG + lay.ring.desc, q), names)
        for at, where in ((0, " (BAR4)"), (DEV_TAG, "")):
            for sig in ("kick", "call"):
                s = getattr(lay, sig)
                names.field(at + lay.region.base + s.enabled, f"{sig}.enabled{where}")
                names.field(at + lay.region.base + s.pending, f"{sig}.pending{where}")
        self.guest = StackBus(stack)  # type: ignore[assignment]
        self.shm = SharedMemory(self.guest, cfg.mode, names)
        self.dside, self.vside = self.shm.side("driver"), self.shm.side("device")
        self.pending_at = {sig: DEV_TAG + lay.region.base + getattr(lay, sig).pending
                           for sig in ("kick", "call")}
        self.buf_base = stack.options.ram_size - 0x1000
        self.notified = stack.backend.queue_notified
        stack.backend.queue_notified = self._queue_notified  # type: ignore[method-assign]
        if cfg.tx_vector is not None:  # the driver's queue_msix_vector for tx0, misprogrammed
            stack.function.queues[TX0].msix_vector = cfg.tx_vector
        vp = stack.counters.virtio_pci
        self.base = (vp.notify_writes, vp.queue_interrupts, vp.needs_reset,
                     dring.kick.notifications, vring.call.notifications)
        self.msix = self.rung = self.called = 0
        self._begin_run(q, f"net stack up, tx0 of Q={q}, {WHERE[cfg.mode]}, "
                        f"{'event_idx' if cfg.event_idx else 'flags'}")

    def _add(self, kick: bool) -> Program[None]:
        if self.cfg.reinit_live_queue and self.next_token > 1:
            # BUG (SHM-RING-007): the driver's init of a queue the device already uses stores
            # used.flags and the used ring, the device's parts; the device must refuse it
            self.shm.note("driver", "re-initialises live queue tx0")
            yield from self.drv.ring.init()
        yield from super()._add(kick)

    # -- the transport ---------------------------------------------------------------------
    # A notification is ordered after its sender's stores (SHM-SIGNAL-008): a barrier, then
    # the transport's own path. The device wakes only if the notify write reached its
    # backend for this queue; the driver only if the MSI-X message with tx0's vector arrived.
    def _queue_notified(self, index: int) -> None:
        self.notified(index)
        if index == TX0:
            self.shm.post("device", "kick", "driver")

    def _doorbell(self) -> Program[None]:
        yield from fence("mb")
        drv = self.stack.driver
        assert drv.virtio is not None
        self.rung += 1
        run(drv.virtio.notify(TX0, drv.notify_at[TX0]), drv.mem)  # VIRTIO-PCI-030
        self.shm.note("driver", f"notify write of queue {TX0} (BAR2)")

    def _interrupt(self) -> Program[None]:
        yield from fence("mb")
        self.called += 1
        self.stack.function.queue_interrupt(TX0)  # VIRTIO-PCI-042: the MSI-X message
        messages = list(self.stack.machine.msi_messages)
        self.stack.machine.msi_messages.clear()  # the machine is the interrupt controller
        for _, data in messages:
            self.msix += 1
            self.shm.note("device", f"MSI-X message, vector {data - MSI_DATA}")
            if data - MSI_DATA == queue_vector(TX0):
                self.shm.post("driver", "irq", "device")

    @invariant()
    @guarded
    def transport(self) -> None:
        """SHM-RING-006 at the transport, SHM-RING-007."""
        if not self.ready:
            return
        vp = self.stack.counters.virtio_pci
        writes, irqs, broken = (vp.notify_writes - self.base[0],
                                vp.queue_interrupts - self.base[1], vp.needs_reset - self.base[2])
        if broken:
            raise Violation("SHM-RING-007", f"the device refused a driver store: "
                            f"{self.stack.function.status:#x}")
        asked = (self.drv.kick.notifications - self.base[3],
                 self.dev.call.notifications - self.base[4])
        if (writes, irqs, self.msix) != (self.rung, self.called, self.called) \
                or writes > asked[0] or irqs > asked[1]:
            raise Violation("SHM-RING-006", f"{writes} notify writes and {irqs} queue "
                            f"interrupts ({self.msix} MSI-X messages) on the transport; the "
                            f"harness sent {self.rung} and {self.called}, injections asked "
                            f"for {asked[0]} and {asked[1]}")


def run_stack_ring(cfg: StackRingConfig, max_examples: int, *, derandomize: bool = False,
                   shrink: bool = True) -> registry.Evidence:
    cls = bind(f"StackRing_{cfg.mode}", (StackRingMachine,), cfg)
    return run_bound(cls, cfg.steps, max_examples, derandomize=derandomize, shrink=shrink,
                     shrink_seconds=20.0)


REQS = ("SHM-RING-001", "SHM-RING-002", "SHM-RING-003", "SHM-RING-004", "SHM-RING-005",
        "SHM-RING-006", "SHM-RING-007", "VIRTIO-PCI-030", "VIRTIO-PCI-042", "RING-SPLIT-092",
        "RING-SPLIT-110", "RING-SPLIT-111")


def _register(name: str, mode: Mode) -> None:
    @registry.check(name, REQS,
                    f"a queue of the network stack: driver through BAR4, device on its region, "
                    f"notify writes and MSI-X, stepped access by access over {WHERE[mode]}")
    def check(n: int) -> registry.Evidence:
        return run_stack_ring(StackRingConfig(mode=mode), n)


_register("stack.ring.sc", "sc")
_register("stack.ring.tso", "tso")


QUEUE = "in the network stack's queue"
PLANTED = [
    ("stack.ring.mutant.driver.reinit_live_queue",
     "the driver re-initialises a live queue through BAR4 (stores "
     "to used.flags and the used ring, the device's parts)", ("SHM-RING-007", "SHM-RING-002"),
     StackRingConfig(mode="sc", reinit_live_queue=True)),
    ("stack.ring.mutant.virtio_pci.tx_vector_of_rx",
     "virtio-pci layer: tx0's queue_msix_vector programmed with "
     "rx0's vector, so its used-buffer notifications go to another queue's handler",
     ("VIRTIO-PCI-042", "SHM-RING-006", "SHM-RING-004"),
     StackRingConfig(mode="sc", tx_vector=queue_vector(0))),
    DEVICE_NO_RECHECK.planted(
        "stack.ring.mutant.ring.device_no_recheck", f"{QUEUE} (flags)",
        StackRingConfig(mode="sc", event_idx=False, device_ring_bug=DeviceNoRecheck)),
    USED_IDX_WRAP.planted("stack.ring.mutant.ring.used_idx_wrap", QUEUE,
                          StackRingConfig(mode="sc", device_ring_bug=DeviceUsedIdxWrap)),
    RECEIVER_NO_RECHECK.planted("stack.ring.mutant.signal.receiver_no_recheck", QUEUE,
                                StackRingConfig(mode="sc", receiver_cls=ReceiverNoRecheck)),
    INJECT_WITHOUT_MB.planted(
        "stack.ring.mutant.signal.inject_without_mb", f"{QUEUE} (x86-TSO)",
        StackRingConfig(mode="tso", sender_cls=SenderNoMbBeforeEnabled)),
]


# bugs that need the preemptions of their ring-on-shm twins are caught by those fixed
# schedules (models/ring/on_shm_mutants.py) played on the stack's queue; the others by
# Hypothesis draws (the ring's decisions without their mb: ring_on_shm.mutant.layer.*)
SCHEDULES = {"stack.ring.mutant.ring.device_no_recheck": "PREEMPT_AFTER_POP",
             "stack.ring.mutant.signal.receiver_no_recheck": "PREEMPT_AFTER_RECHECK",
             "stack.ring.mutant.signal.inject_without_mb": "RACE"}


def _planted(name: str, cfg: StackRingConfig) -> Any:
    def run_it() -> registry.Evidence:
        if name in SCHEDULES:
            schedule = getattr(seam, SCHEDULES[name])
            return mutant_evidence(seam.run_schedule(cfg, schedule, StackRingMachine))
        return mutant_evidence(run_stack_ring(cfg, 400, derandomize=True, shrink=False),
                               keep_last=60)

    return run_it


for _name, _what, _reqs, _cfg in PLANTED:
    registry.mutant(_name, _what, _reqs, "hypothesis")(
        _planted(_name, _cfg))


# -- SHM-RING-005: a driver that places every queue at offset 0 of the region -----------------

def refute_overlapping_queues() -> registry.Evidence:
    """A deterministic bring-up: the stack's driver with its queue placement broken (every
    queue laid out at offset 0, the line of reference/stack/net_driver.py that advances the
    offset skipped) must be refused by the device when the queues go live: DEVICE_NEEDS_RESET
    with the SHM-RING-005 refusal, no queue of the overlap used."""
    names = vars(net_driver)
    real = names["ShmRingLayout"]

    def at_zero(region: Any, offset: int, size: int) -> Any:
        return real(region, 0, size)  # BUG (SHM-RING-005): the queues overlap

    names["ShmRingLayout"] = at_zero
    try:
        stack = Stack(StackOptions(queue_size=4))
        stack.bring_up()
    finally:
        names["ShmRingLayout"] = real
    err = stack.function.error
    req = getattr(err, "req", None)
    refused = bool(stack.function.status & DEVICE_NEEDS_RESET) and req == "SHM-RING-005"
    trace = [registry.Step("driver", "places every queue at offset 0 of region 0"),
             registry.Step("device", f"DRIVER_OK: {err}")]
    if not refused:
        return registry.Evidence(False, f"not refused: status {stack.function.status:#x}, "
                                 f"error {err}", trace)
    return registry.Evidence(True, f"refused at go-live: {err}", trace)


registry.mutant("stack.ring.mutant.driver.overlapping_queues",
                "the driver lays every queue out at offset 0 of the region (they overlap)",
                ("SHM-RING-005", "VIRTIO-STATUS-004"), "test")(refute_overlapping_queues)
