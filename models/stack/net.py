"""The whole network stack interleaved: **PCI → virtio-pci → virtio-shm → virtio-ring →
virtio-net**, the stack's driver and device stepped access by access under SC and x86-TSO,
with frames in both directions and the events that race with them.

models/stack/ring.py steps one queue of the stack with the machine's own chains. Here the
stack's own code runs, unchanged, on both sides (reference/stack/): the driver side is the
network driver of reference/net inside :class:`~virtiospec.reference.stack.net_driver.StackDriver`
(``send``, the MSI-X handler, a device reset with frames in flight), the device side is
:meth:`NetBackend.service <virtiospec.reference.stack.net_backend.NetBackend.service>` (the
reference ``NetDevice`` on the queues of the PCI function). Each call runs in a worker thread
whose accesses models/stack/stepping.py hands to the machine one at a time: a load or store of
the rings and signals in region 0 of BAR4 (the driver through the BAR, the device on its
region) or of guest RAM is performed under SC or x86-TSO store buffers; a register access
(common configuration, notify area, device configuration, MSI-X table) is a full barrier and
then the access. So the driver's generation loop reads ``config_generation`` and the fields in
separate steps, and the host's events land between them.

The events, as machine rules:

* a frame from the wire (the device queues it until the driver has receive buffers);
* a configuration change: the host sets the link status (VIRTIO_NET_S_LINK_UP) and the
  queue-class byte together (two generation changes, NET-021, NET-026, NET-050), a link flap
  when the status changes; the device sends the configuration change message
  (VIRTIO-PCI-042) and the driver re-reads both in a generation loop (VIRTIO-PCI-051);
* a device reset by the driver with buffers in flight in both directions (NET-062), the
  device first completing the service it is in (its data path quiesces before the reset
  takes effect); then the stack brings the device up again and the device may serve as soon
  as DRIVER_OK, while the driver is still refilling its queues.

Checked after every access, drain and rule:

* NET-060: the frames on the wire are the driver's, intact, each once, in the order sent;
  the frames the driver receives are the wire's, intact, each once, in order; NET-026: no
  frame reaches the wire while the link is down;
* VIRTIO-PCI-053: the (link status, queue classes) the driver holds after its generation loop
  is a configuration the device showed at one moment;
* SHM-RING-004 (RING-SPLIT-110, RING-SPLIT-111 across both suppressions), at every layer:
  when both sides are idle, no store is buffered, no MSI-X message and no doorbell is pending
  and the link is up, nothing is stranded: every frame sent is on the wire, every frame from
  the wire is with the driver, and the driver's link status is the device's (the
  configuration change message was not lost, NET-021);
* NET-062: whenever the driver is idle, every buffer of its pools is either free or in a
  live queue: after a reset none is left behind with the old queues;
* VIRTIO-STATUS-004, SHM-RING-007: no side refused the other's access (no DEVICE_NEEDS_RESET,
  no fault recorded by the driver).

At the end of a run the link comes up, both sides run until idle, and every frame sent and
every frame from the wire must have arrived exactly once (NET-060).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import RunRecord, Violation, mutant_evidence
from virtiospec.models.machine_base import WHERE, DriverDeviceMachine, bind, guarded, run_bound
from virtiospec.models.memory.tso import AddressNames, Mode, SharedMemory, Side
from virtiospec.models.net.mutants import DeviceIgnoresLinkDown, DriverNoRecover
from virtiospec.models.ring.ref_mutants import DeviceNoRecheck, DeviceUsedIdxWrap
from virtiospec.models.shm.ref_mutants import ReceiverNoRecheck
from virtiospec.models.stack.ring import DEV_TAG, StackBus
from virtiospec.models.stack.stepping import SteppedCall, SteppedMemory
from virtiospec.models.variant_switch import switched
from virtiospec.reference.access import Fence, Load, Op, Store
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.driver import NetDriver, NetDriverLines
from virtiospec.reference.ring import Chain, SplitDevice
from virtiospec.reference.ring.c.stepped import CSplitDevice
from virtiospec.reference.shm.c.stepped import CSignalReceiver, CSignalSender
from virtiospec.reference.shm.signal import SignalReceiver
from virtiospec.reference.stack.net_backend import NetBackend, NetBackendLines
from virtiospec.reference.stack.net_driver import (
    CONFIG_VECTOR,
    MSI_DATA,
    CountingNetDriver,
    queue_vector,
)
from virtiospec.reference.stack.net_stack import Stack, StackOptions
from virtiospec.reference.stack.rings import DeviceRing
from virtiospec.reference.stack.traffic import RX, TX, Tally, frame
from virtiospec.reference.virtio_pci.regs import DEVICE_NEEDS_RESET

SIZE = 64  # bytes of every frame
RAM = 2 << 20  # guest RAM: the driver's buffers from 1 MiB
RX0, TX0 = 0, 1
PAIRS = 2  # two pairs: the device then offers queue classes, a second field to tear
CLASSES = ((0x0F, 0xF0), (0xF0, 0x0F), (0xFF, 0x00))  # class masks per pair (NET-050)


@dataclass(frozen=True)
class StackNetConfig:
    mode: Mode = "tso"
    event_idx: bool = True
    frames: int = 5  # at most this many frames each way in a run
    resets: int = 1  # device resets a run may do
    changes: int = 3  # configuration changes a run may do
    queue_resets: int = 0  # resets of one queue (rx0 or tx0, VIRTIO_F_RING_RESET) a run may do
    # known-bad variants, each planted in the layer it belongs to
    driver_bug: type[NetDriver] | None = None  # net: mixed under the stack's net driver
    device_bug: type[NetDevice] | None = None  # net: the back-end's network device
    device_ring_bug: type[SplitDevice] | None = None  # ring: mixed under every DeviceRing
    receiver_cls: type[SignalReceiver] | None = None  # shm: every receiver of both sides
    backend_bug: type[NetBackend] | None = None  # the seam in the stack's device service
    c_device: bool = False  # the device's rings are ring.c (its stepped build), not Python
    c_mutant: str | None = None  # ... built with this mutant of ring_mutants.h
    c_shm: bool = False  # the device's signals are shm.c (its stepped build), not Python
    c_shm_mutant: str | None = None  # ... built with this mutant of shm_mutants.h
    tx_vector: int | None = None  # virtio-pci: tx0's MSI-X vector (None: as set up)
    steps: int = 60


class BackendStopsAfterIdlePass(NetBackend):
    """The seam of ring and signal in the stack's device: a pass that found no work ends
    the service even though the re-check before waiting found a kick."""

    lines = NetBackendLines(rerun_on_recheck=False)  # BUG (SHM-RING-004)


class BackendKeepsOldRing(NetBackend):
    """virtio-pci queue reset in the stack's device: at ``queue_reset`` the network device
    keeps the queue's ring and its state, and serves it after the driver enabled the queue
    again, instead of the new one."""

    lines = NetBackendLines(forget_ring_at_queue_reset=False)  # BUG (VIRTIO-VQRESET-002)


class TornConfigDriver(NetDriver):
    """PCI configuration layer: the driver reads status and queue classes without the
    generation loop around them."""

    lines = NetDriverLines(config_generation_loop=False)  # BUG (VIRTIO-PCI-051)


class CDeviceOps(SplitDevice):
    """The ring operations of a :class:`DeviceRing` done by ring.c: its stepped build
    (reference/ring/c/stepped.py) on the same layout, in ``self.c``. Mixed under
    ``DeviceRing``, so the stack's shm checks and counters stay on top."""

    c: CSplitDevice

    def init(self) -> Op[None]:
        yield from self.c.init()

    def pop(self) -> Op[Chain | None]:
        return (yield from self.c.pop())

    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        yield from self.c.push(used)

    def should_notify(self) -> Op[bool]:
        return (yield from self.c.should_notify())

    def disable_notify(self) -> Op[None]:
        yield from self.c.disable_notify()

    def enable_notify(self) -> Op[bool]:
        return (yield from self.c.enable_notify())


def _to_c(ring: DeviceRing, mutant: str | None) -> None:
    """Hand an idle device ring's state to ring.c, which does its operations from now on."""
    if isinstance(ring, CDeviceOps):
        return
    # ring.c checks ring parts and buffers against one bound: the region's end (the ring
    # lies in the region, above RAM); a buffer beyond RAM is refused by the device's memory
    c = CSplitDevice(ring.layout, ring.shm_layout.region.end, event_idx=ring.event_idx,
                     mutant=mutant)
    c.last_avail, c.used_idx = ring.last_avail, ring.used_idx
    ring.__class__ = type("CDeviceRing", (DeviceRing, CDeviceOps), {})
    ring.c = c  # type: ignore[attr-defined]


def _shm_to_c(ring: DeviceRing, mutant: str | None) -> None:
    """The device's kick receiver and call sender of ``ring`` done by shm.c (its stepped
    build, reference/shm/c/stepped.py) on the same signal words; neither side of a signal
    keeps private state beyond its counters, so the switch may happen between any two
    operations. The C sides join the stack's shm counters."""
    if not isinstance(ring.kick, CSignalReceiver):
        ring.kick = CSignalReceiver(ring.shm_layout.kick, mutant=mutant)  # type: ignore[assignment]
        ring.shm.receivers["kick"].append(ring.kick)
    if not isinstance(ring.call, CSignalSender):
        ring.call = CSignalSender(ring.shm_layout.call, mutant=mutant)  # type: ignore[assignment]
        ring.shm.senders["call"].append(ring.call)


def _plant_ring(ring: object, bug: type | None, base: type) -> None:
    if bug is not None and not isinstance(ring, bug):
        ring.__class__ = type(f"Planted{base.__name__}", (base, bug), {})


class StackNetMachine(DriverDeviceMachine):
    OUT_OF_BOUNDS_REQ = "SHM-RING-001"
    NO_LOSS_REQ = "NET-060"
    cfg: ClassVar[StackNetConfig] = StackNetConfig()
    record: ClassVar[RunRecord] = RunRecord()

    @initialize(q=st.sampled_from((2, 4)))
    @guarded
    def setup(self, q: int) -> None:
        cfg = self.cfg
        self.q = q
        stack = self.stack = Stack(StackOptions(pairs=PAIRS, queue_size=q,
                                                event_idx=cfg.event_idx, ram_size=RAM,
                                                ring_reset=True))
        stack.on_wire = self._on_wire
        self.wire_while_down = 0
        stack.bring_up()
        net = stack.net
        if cfg.driver_bug is not None:
            net.__class__ = type("PlantedNetDriver", (CountingNetDriver, cfg.driver_bug), {})
        if cfg.backend_bug is not None:
            stack.backend.__class__ = cfg.backend_bug
        if cfg.device_bug is not None:
            assert stack.backend.net is not None
            stack.backend.net.__class__ = cfg.device_bug
        self._plant_queues()
        if cfg.tx_vector is not None:  # the driver's queue_msix_vector for tx0, misprogrammed
            stack.function.queues[TX0].msix_vector = cfg.tx_vector
        names = AddressNames()
        self._name_queues(names)
        self.guest = StackBus(stack)
        self.shm = SharedMemory(self.guest, cfg.mode, names)  # type: ignore[arg-type]
        self.dside, self.vside = self.shm.side("driver"), self.shm.side("device")
        # both sides' memories, stepped from now on
        region = stack.function.region()
        lo, hi = region.base, region.end
        self.dmem = SteppedMemory(stack.driver.mem, lambda a: a < RAM or lo <= a < hi,
                                  note=lambda text: self.shm.note("driver", text))
        stack.driver.mem = net.mem = self.dmem  # type: ignore[assignment]
        net.config.memory = self.dmem  # type: ignore[attr-defined]
        fn = stack.function
        self.vmem = SteppedMemory(fn.device_memory, lambda a: True, DEV_TAG,
                                  note=lambda text: self.shm.note("device", text))
        fn.device_memory = self.vmem  # type: ignore[assignment]
        assert stack.backend.net is not None
        stack.backend.net.mem = self.vmem
        self.mac = net.mac
        self.wire = Tally(TX, SIZE, self.mac)
        self.got = Tally(RX, SIZE, self.mac)
        self.sent = self.injected = self.accepted = 0
        self.resets = self.changes = self.qresets = 0
        self.qresetting: int | None = None  # the queue the driver is resetting
        self.qreset_mark = 0  # queue_reset writes the device had seen before it started
        self.replant = False  # a queue was enabled again: plant the variants in it when idle
        self.resetting = self.down_seen = False
        self.calls: list[SteppedCall] = []
        self.window: set[tuple[bool, tuple[int, ...]]] | None = None  # shown during a read
        self.bufs, self.avail_fifo, self.used_fifo = {}, [], []  # type: ignore[assignment]
        self.shm.note("env", f"net stack up, Q={q}, {WHERE[cfg.mode]}, "
                      f"{'event_idx' if cfg.event_idx else 'flags'}")
        self.ready = True

    def _plant_queues(self) -> None:
        """The ring and shm variants, in every live queue (again after a reset)."""
        cfg, stack = self.cfg, self.stack
        for q in stack.function.queues:
            ring = q.ring
            if isinstance(ring, DeviceRing):
                if cfg.c_device:
                    _to_c(ring, cfg.c_mutant)
                if cfg.c_shm:
                    _shm_to_c(ring, cfg.c_shm_mutant)
                _plant_ring(ring, cfg.device_ring_bug, DeviceRing)
                if cfg.receiver_cls is not None and type(ring.kick) is not cfg.receiver_cls:
                    ring.kick = cfg.receiver_cls(ring.shm_layout.kick)
        for dring in stack.driver.rings.values():
            if cfg.receiver_cls is not None and type(dring.call) is not cfg.receiver_cls:
                dring.call = cfg.receiver_cls(dring.shm_layout.call)

    def _name_queues(self, names: AddressNames) -> None:
        self.seam: set[int] = set()  # the words where the layers meet: indices, signals
        self.enables: set[int] = set()  # words a side stores to enable a notification
        self.set_to_enable: set[int] = set()  # ... by a non-zero value (flags words by 0)
        self.events: set[int] = set()  # ... by any value (the event words)
        for index, dring in self.stack.driver.rings.items():
            q = self.stack.queue_name(index)
            lay = dring.shm_layout
            r = lay.ring
            for at, where in ((0, " (BAR4)"), (DEV_TAG, "")):
                for field_name in ("avail_flags", "avail_idx", "used_event", "used_flags",
                                   "used_idx", "avail_event"):
                    label = field_name.replace("_", ".", 1) if "event" not in field_name \
                        else field_name
                    names.field(at + getattr(r, field_name), f"{q}.{label}{where}")
                    self.seam.add(at + getattr(r, field_name))
                    if field_name in ("avail_flags", "used_flags"):
                        self.enables.add(at + getattr(r, field_name))
                    elif "event" in field_name:
                        self.enables.add(at + getattr(r, field_name))
                        self.events.add(at + getattr(r, field_name))
                for sig in ("kick", "call"):
                    s = getattr(lay, sig)
                    names.field(at + lay.region.base + s.enabled, f"{q}.{sig}.enabled{where}")
                    names.field(at + lay.region.base + s.pending, f"{q}.{sig}.pending{where}")
                    self.seam |= {at + lay.region.base + s.enabled,
                                  at + lay.region.base + s.pending}
                    self.enables.add(at + lay.region.base + s.enabled)
                    self.set_to_enable.add(at + lay.region.base + s.enabled)

    # -- the wire -----------------------------------------------------------
    def _on_wire(self, pair: int, data: bytes) -> None:
        if not self.stack.net_config.link_up:
            self.wire_while_down += 1
        self.wire.record(pair, data)

    # -- starting the stack's calls on a side ---------------------------------------------------
    def _call(self, side: str, fn: Callable[[], object], label: str, run: str) -> None:
        mem = self.dmem if side == "driver" else self.vmem
        call = SteppedCall(fn, mem)
        self.calls.append(call)
        if side == "driver" and label == "MSI-X vector 0":
            self.window = {self._showing()}
        self._start(self.dside if side == "driver" else self.vside, call.program(), label, run)

    def _point(self, action: object, point: str) -> bool:
        """Whether ``action`` is a preemption point of kind ``point``: ``seam``, an access to
        a word where the layers meet (an index, an event word, a signal word); ``enable``,
        a store that enables a notification again (a flags word := 0, an event word, a
        signal's ``enabled`` := 1), where the lost wakeups are; ``register``, the barrier
        before a register access (the generation loop's steps)."""
        if point == "register":
            return isinstance(action, Fence) and action.kind == "mb"
        if not isinstance(action, (Load, Store)) or action.addr not in self.seam:
            return False
        if point == "seam":
            return True
        if not isinstance(action, Store) or action.addr not in self.enables:
            return False
        return action.addr in self.events or (action.value != 0) == \
            (action.addr in self.set_to_enable)

    def _preempt(self, side: Side, point: str, k: int) -> None:
        """Run ``side`` (at least one access) up to just before its ``k``-th next
        preemption point of kind ``point``."""
        for _ in range(4096):
            if not side.enabled():
                return
            self._step(side)
            self.accounting()
            self.no_lost_wakeup()
            if self._point(side.next, point):
                k -= 1
                if k == 0:
                    return

    @precondition(lambda m: m.ready and m.dside.enabled())
    @rule(point=st.sampled_from(("seam", "enable", "register")), k=st.integers(1, 12))
    @guarded
    def driver_preempt(self, point: str, k: int) -> None:
        self._preempt(self.dside, point, k)

    @precondition(lambda m: m.ready and m.vside.enabled())
    @rule(point=st.sampled_from(("seam", "enable")), k=st.integers(1, 8))
    @guarded
    def device_preempt(self, point: str, k: int) -> None:
        self._preempt(self.vside, point, k)

    @precondition(lambda m: m.ready and not m.dside.busy and not m.vside.busy
                  and m.sent < m.cfg.frames and m._device_may_serve())
    @rule(point=st.sampled_from(("seam", "enable")), k=st.integers(1, 4))
    @guarded
    def send_during_service(self, point: str, k: int) -> None:
        """The device starts a service and is preempted just before its ``k``-th
        preemption point; the driver sends a frame, to the end of its call."""
        self.device_service("")
        self._preempt(self.vside, point, k)
        self.driver_send("finish")

    @precondition(lambda m: m.ready and not m.dside.busy and not m.vside.busy
                  and m._queue_message() is not None and m._device_may_serve())
    @rule(point=st.sampled_from(("seam", "enable")), k=st.integers(1, 4))
    @guarded
    def service_during_interrupt(self, point: str, k: int) -> None:
        """The driver takes a used-buffer notification and is preempted just before its
        ``k``-th preemption point; the device serves, to the end of its call."""
        at = self._queue_message()
        assert at is not None
        addr, data = self.stack.machine.msi_messages.pop(at)
        self._call("driver", lambda: self.stack.driver.on_message(addr, data),
                   f"MSI-X vector {data - MSI_DATA}", "")
        self._preempt(self.dside, point, k)
        self.device_service("finish")

    def _queue_message(self) -> int | None:
        for at, (_, data) in enumerate(self.stack.machine.msi_messages):
            if data - MSI_DATA != CONFIG_VECTOR:
                return at
        return None

    def _device_may_serve(self) -> bool:
        if self.qresetting is not None and \
                self.stack.counters.virtio_pci.queue_resets == self.qreset_mark:
            return False  # the device quiesced for the queue reset the driver is starting
        if self.resetting and not (self.down_seen and self.stack.function.live):
            return False  # the reset is under way: nothing to serve until DRIVER_OK
        return self.stack.backend.wants_service

    # -- rules: the driver -----------------------------------------------------------
    @precondition(lambda m: m.ready and not m.dside.busy and m.sent < m.cfg.frames)
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_send(self, run: str) -> None:
        data = frame(8 * self.sent, SIZE, TX, self.mac)  # every frame of class 0
        self.sent += 1
        self._call("driver", lambda: self.stack.send(data), f"send frame {self.sent - 1}", run)

    @precondition(lambda m: m.ready and not m.dside.busy and bool(m.stack.machine.msi_messages))
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_interrupt(self, run: str) -> None:
        addr, data = self.stack.machine.msi_messages.pop(0)
        vector = data - MSI_DATA
        self._call("driver", lambda: self.stack.driver.on_message(addr, data),
                   f"MSI-X vector {vector}", run)

    @precondition(lambda m: m.ready and not m.dside.busy and not m.vside.busy
                  and m.resets < m.cfg.resets)
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_reset(self, run: str) -> None:
        self.resets += 1
        self.resetting, self.down_seen = True, False
        self._count("device resets")
        if self.stack.machine.msi_messages or self.stack.backend.wants_service:
            self._count("resets with work pending")
        self._call("driver", self.stack.driver.reset, "device reset, buffers in flight", run)

    # -- rules: the device and the host -----------------------------------------------------------
    @precondition(lambda m: m.ready and not m.vside.busy and m._device_may_serve())
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def device_service(self, run: str) -> None:
        if self.qresetting is not None:
            self._count("services during a queue reset")
        self._call("device", self.stack.backend.service, "service", run)

    @precondition(lambda m: m.ready and not m.vside.busy and m.injected < m.cfg.frames)
    @rule()
    @guarded
    def wire_frame(self) -> None:
        """A frame arrives from the wire (the host, between two services of the device)."""
        data = frame(8 * self.injected, SIZE, RX, self.mac)
        self.injected += 1
        self.accepted += self.stack.inject(data)
        self.shm.note("env", f"frame {self.injected - 1} arrives from the wire")

    @precondition(lambda m: m.ready and not m.vside.busy and m.changes < m.cfg.changes)
    @rule(up=st.booleans(), classes=st.sampled_from(CLASSES))
    @guarded
    def config_change(self, up: bool, classes: tuple[int, int]) -> None:
        self._change(up, classes)

    @precondition(lambda m: m.ready and not m.dside.busy and not m.vside.busy
                  and m.changes < m.cfg.changes and m._config_message() is not None)
    @rule(k=st.integers(1, 16), classes=st.sampled_from(CLASSES))
    @guarded
    def config_flap_mid_read(self, k: int, classes: tuple[int, int]) -> None:
        """The driver takes the configuration change message and reads the configuration;
        just before its ``k``-th register access the host flaps the link and changes the
        classes again (the race of the generation loop, VIRTIO-PCI-051)."""
        at = self._config_message()
        assert at is not None
        addr, data = self.stack.machine.msi_messages.pop(at)
        self._call("driver", lambda: self.stack.driver.on_message(addr, data),
                   "MSI-X vector 0", "")
        self._preempt(self.dside, "register", k)
        if self.dside.busy:
            self._change(not self.stack.net_config.link_up, classes)

    def _config_message(self) -> int | None:
        for at, (_, data) in enumerate(self.stack.machine.msi_messages):
            if data - MSI_DATA == CONFIG_VECTOR:
                return at
        return None

    def _change(self, up: bool, classes: tuple[int, int]) -> None:
        """The host changes the queue classes and the link status together (a link flap
        when the status changes): two generation changes, one configuration change
        message if the driver is live."""
        self.changes += 1
        self._count("configuration changes")
        if self.window is not None:
            self._count("changes during the driver's configuration read")
        cfgspace = self.stack.net_config
        cfgspace.set_queue_classes(list(classes))
        cfgspace.set_link(up)
        if self.window is not None:
            self.window.add(self._showing())
        self.shm.note("env", f"configuration: link {'up' if up else 'down'}, "
                      f"classes {classes[0]:#04x} {classes[1]:#04x}")

    @precondition(lambda m: m.ready)
    @rule()
    @guarded
    def host_idle(self) -> None:
        """Nothing happens (so a run can go on once its frames and events are spent)."""

    # -- invariants -----------------------------------------------------------
    @invariant()
    @guarded
    def accounting(self) -> None:
        """NET-060, NET-026, VIRTIO-PCI-053, NET-062, VIRTIO-STATUS-004."""
        if not self.ready:
            return
        stack = self.stack
        net = stack.net
        for got in net.inbox:
            self.got.record(got.pair, got.frame)
        net.inbox.clear()
        for tally, way in ((self.wire, "on the wire"), (self.got, "received")):
            if tally.corrupted or tally.duplicated() or tally.out_of_order:
                raise Violation("NET-060", f"frames {way}: {tally.corrupted} corrupted, "
                                f"{tally.duplicated()} duplicated, {tally.out_of_order} out "
                                f"of order ({dict(tally.streams)})")
        if self.wire_while_down:
            raise Violation("NET-026", f"{self.wire_while_down} frames reached the wire "
                            "while the link was down")
        if stack.function.status & DEVICE_NEEDS_RESET or stack.driver.faults or net.faults:
            err = (stack.driver.faults or net.faults or [stack.function.error])[0]
            raise Violation(getattr(err, "req", None) or "VIRTIO-STATUS-004",
                            f"the stack broke: {err}")
        if self.resetting:
            if not stack.function.live:
                self.down_seen = True
            if not self.dside.busy:
                self.resetting = False
                self._plant_queues()
                self.shm.note("env", "reset done, the device is up again")
        if self.qresetting is not None and not self.dside.busy:
            self.qresetting = None
            self.replant = True
            self.shm.note("env", "queue reset done, the queue is enabled again")
        if self.replant and not self.vside.busy:  # the variants, in the new ring too
            self.replant = False
            self._plant_queues()
        if self.dside.busy:
            return
        if self.window is not None:  # its configuration change handler is done
            held = (net.link_up, tuple(net.queue_classes))
            if held not in self.window:
                raise Violation("VIRTIO-PCI-053", f"the driver read link "
                                f"{'up' if held[0] else 'down'} with classes {held[1]}, "
                                "never the device's configuration while it read (it showed "
                                f"{sorted(self.window)})")
            self.window = None
        for pool, kind in ((net.rx_pool, "receive"), (net.tx_pool, "transmit")):
            taken = pool.count - len(pool.free)
            first = RX0 if kind == "receive" else TX0
            live = sum(net.queues[i].outstanding for i in range(first, 2 * PAIRS, 2)
                       if i in net.queues)
            if taken != live:
                raise Violation("NET-062", f"{taken} {kind} buffers out of the pool, "
                                f"{live} in the live queue: "
                                f"{taken - live} never returned to the driver")

    @invariant()
    @guarded
    def no_lost_wakeup(self) -> None:
        """SHM-RING-004 (RING-SPLIT-110, RING-SPLIT-111), NET-021: nothing stranded when
        every side is idle and nothing is pending."""
        if not self.ready or not self._quiet() or not self.stack.net_config.link_up:
            return
        net = self.stack.net
        if self.wire.intact < self.sent and not net.tx_waiting and not any(
                q.outstanding for i, q in net.queues.items() if i % 2 and i < 2 * PAIRS):
            raise Violation("NET-060", f"{self.sent - self.wire.intact} frames sent never "
                            "reached the wire, and the driver has none left to send: lost")
        if self.wire.intact < self.sent:
            raise Violation("SHM-RING-004", f"all idle, nothing pending, link up: "
                            f"{self.sent - self.wire.intact} frames sent never reached the "
                            f"wire ({net.tx_waiting} still pending in the driver) "
                            "(RING-SPLIT-110)")
        if self.got.intact + len(net.inbox) < self.accepted:
            raise Violation("SHM-RING-004", f"all idle, nothing pending, link up: "
                            f"{self.accepted - self.got.intact} frames from the wire never "
                            "reached the driver (RING-SPLIT-111)")
        if not net.link_up:
            raise Violation("NET-021", "all idle, nothing pending: the link is up, the "
                            "driver still holds it down (a configuration change lost)")

    def _showing(self) -> tuple[bool, tuple[int, ...]]:
        cfgspace = self.stack.net_config
        return cfgspace.link_up, tuple(cfgspace.queue_classes)

    def _quiet(self) -> bool:
        d, v, stack = self.dside, self.vside, self.stack
        return not (d.busy or v.busy or d.buffer or v.buffer or self.resetting
                    or stack.machine.msi_messages or stack.backend.wants_service)

    # -- the end of a run -----------------------------------------------------------
    def _next_call(self) -> bool:
        """Start what is pending, device first; False if nothing is."""
        if not self.vside.busy and self._device_may_serve():
            self.device_service("")
            return True
        if not self.dside.busy and self.stack.machine.msi_messages:
            self.driver_interrupt("")
            return True
        return False

    def _finale(self) -> None:
        self.shm.note("env", "end of run: link up, run until idle")
        if not self.stack.net_config.link_up:
            self._change(True, tuple(self.stack.net_config.queue_classes))  # type: ignore[arg-type]
        for _ in range(200):
            self._settle()
            self.shm.drain_all()
            self.accounting()
            if not self._next_call():
                break
        self.accounting()
        self.no_lost_wakeup()
        self.record.count("frames sent", self.sent)
        self.record.count("frames to the driver", self.accepted)
        lost_tx = sum(8 * k not in self.wire.seen for k in range(self.sent))
        lost_rx = sum(8 * k not in self.got.seen for k in range(self.accepted))
        if lost_tx or lost_rx:
            raise Violation("NET-060", f"end of run: {lost_tx} frames sent and {lost_rx} "
                            "from the wire never arrived")

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            for side in (getattr(self, "dside", None), getattr(self, "vside", None)):
                if side is not None and side.program is not None:
                    side.program.close()  # aborts the worker of an abandoned call
                    side.program = None


class StackNetQueueResetMachine(StackNetMachine):
    """The machine with one more rule, a queue reset (a class of its own, so that the runs of
    configurations without queue resets draw the rules they drew before it existed)."""

    @precondition(lambda m: m.ready and not m.dside.busy and not m.vside.busy
                  and m.qresets < m.cfg.queue_resets)
    @rule(index=st.sampled_from((RX0, TX0)), run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_queue_reset(self, index: int, run: str) -> None:
        """The driver resets one queue with buffers in flight (VIRTIO_F_RING_RESET), takes
        its buffers back and enables it again; the device, idle when the call starts, may
        serve the other queues as soon as ``queue_reset`` was written."""
        self.qresets += 1
        self.qresetting = index
        self.qreset_mark = self.stack.counters.virtio_pci.queue_resets
        self._count("queue resets")
        if self.stack.net.queues[index].outstanding:
            self._count("queue resets with buffers in flight")
        self._call("driver", lambda: self.stack.driver.reset_queue(index),
                   f"queue reset of {self.stack.queue_name(index)}", run)


def run_stack_net(cfg: StackNetConfig, max_examples: int, *, derandomize: bool = False,
                  shrink: bool = True) -> registry.Evidence:
    base = StackNetQueueResetMachine if cfg.queue_resets else StackNetMachine
    cls = bind(f"StackNet_{cfg.mode}", (base,), cfg)
    return run_bound(cls, cfg.steps, max_examples, derandomize=derandomize, shrink=shrink,
                     shrink_seconds=20.0)


REQS = ("NET-021", "NET-026", "NET-060", "NET-062", "VIRTIO-PCI-042", "VIRTIO-PCI-051",
        "VIRTIO-PCI-053", "VIRTIO-STATUS-004", "SHM-RING-003", "SHM-RING-004",
        "SHM-RING-007", "RING-SPLIT-110", "RING-SPLIT-111")
QUEUE_RESET_REQS = ("VIRTIO-PCI-102", "VIRTIO-PCI-105", "VIRTIO-VQRESET-001",
                    "VIRTIO-VQRESET-002", "VIRTIO-VQRESET-003", "VIRTIO-VQRESET-004",
                    "VIRTIO-VQRESET-005")


def _register(name: str, mode: Mode) -> None:
    @registry.check(name, REQS + QUEUE_RESET_REQS,
                    f"the whole network stack, its driver and device stepped access by access "
                    f"over {WHERE[mode]}: frames both ways, configuration changes and link "
                    f"flaps during the generation loop, a device reset with frames in flight, "
                    f"one queue reset and enabled again with frames in flight")
    def check(n: int) -> registry.Evidence:
        return run_stack_net(StackNetConfig(mode=mode, queue_resets=1), n)


_mode: Mode
for _name, _mode in (("stack.net.sc", "sc"), ("stack.net.tso", "tso")):
    _register(_name, _mode)


def _register_mixed(name: str, mode: Mode) -> None:
    @registry.check(name, REQS,
                    f"the whole network stack with the device's rings in C (ring.c, stepped "
                    f"build) and the driver in Python, stepped access by access over "
                    f"{WHERE[mode]}: frames both ways, configuration changes and link flaps "
                    f"(no device reset: the C rings take over the live Python rings once)")
    def check(n: int) -> registry.Evidence:
        return run_stack_net(StackNetConfig(mode=mode, c_device=True, resets=0), n)


for _name, _mode in (("stack.net.c_device.sc", "sc"), ("stack.net.c_device.tso", "tso")):
    _register_mixed(_name, _mode)


def _register_c_shm(name: str, mode: Mode) -> None:
    @registry.check(name, REQS + QUEUE_RESET_REQS + ("SHM-SIGNAL-004", "SHM-SIGNAL-005",
                                                     "SHM-SIGNAL-006"),
                    f"the whole network stack with the device's signals in C (shm.c, stepped "
                    f"build: every kick received and every call injected) and the driver's "
                    f"in Python, stepped access by access over {WHERE[mode]}: frames both "
                    f"ways, configuration changes and link flaps, a device reset and a queue "
                    f"reset with frames in flight")
    def check(n: int) -> registry.Evidence:
        return run_stack_net(StackNetConfig(mode=mode, c_shm=True, queue_resets=1), n)


for _name, _mode in (("stack.net.c_shm.sc", "sc"), ("stack.net.c_shm.tso", "tso")):
    _register_c_shm(_name, _mode)


# -- known-bad variants, one layer each, caught by the whole-stack machine ---------------------

PLANTED: list[tuple[str, str, tuple[str, ...], StackNetConfig]] = [
    ("stack.net.mutant.pci.config_no_generation_loop",
     "PCI configuration: " + switched(TornConfigDriver)
     + ": status and queue classes read without re-reading config_generation",
     ("VIRTIO-PCI-051", "VIRTIO-PCI-053"),
     StackNetConfig(mode="sc", driver_bug=TornConfigDriver, resets=0, changes=6)),
    ("stack.net.mutant.virtio_pci.tx_vector_of_rx",
     "virtio-pci: tx0's queue_msix_vector programmed with "
     "rx0's vector, so its used-buffer notifications run the receive handler",
     ("VIRTIO-PCI-042", "SHM-RING-004"),
     StackNetConfig(mode="sc", tx_vector=queue_vector(RX0), resets=0)),
    ("stack.net.mutant.shm.receiver_no_recheck",
     "shm: " + switched(ReceiverNoRecheck) + ", in every "
     "queue of the stack", ("SHM-SIGNAL-006", "SHM-RING-004"),
     StackNetConfig(mode="sc", receiver_cls=ReceiverNoRecheck, resets=0, changes=0)),
    ("stack.net.mutant.shm_ring.device_stops_after_idle_pass",
     "the ring on shm in the stack's device: "
     + switched(BackendStopsAfterIdlePass) + ": a kick that lands while the device "
     "re-enables is seen by the re-check and then ignored", ("SHM-RING-004", "RING-SPLIT-110"),
     StackNetConfig(mode="sc", backend_bug=BackendStopsAfterIdlePass)),
    ("stack.net.mutant.ring.device_no_recheck",
     "ring: " + switched(DeviceNoRecheck) + ", in every queue "
     "of the stack (flags)", ("RING-SPLIT-072", "SHM-RING-004"),
     StackNetConfig(mode="sc", event_idx=False, device_ring_bug=DeviceNoRecheck, resets=0,
                    changes=0)),
    ("stack.net.mutant.ring.used_idx_wrap",
     "ring: the device wraps used.idx at Q instead of 2^16, in every "
     "queue of the stack", ("RING-SPLIT-043", "SHM-RING-004"),
     StackNetConfig(mode="sc", device_ring_bug=DeviceUsedIdxWrap, resets=0, changes=0)),
    ("stack.net.mutant.c_ring.device_no_recheck",
     "ring, in C: the device's rings are ring.c built with "
     "NO_RECHECK_NOTIFY (enable_notify without the re-check of avail.idx), the driver Python "
     "(flags)", ("RING-SPLIT-072", "SHM-RING-004"),
     StackNetConfig(mode="sc", event_idx=False, c_device=True, c_mutant="NO_RECHECK_NOTIFY",
                    resets=0, changes=0)),
    ("stack.net.mutant.net.driver_no_recover",
     "net: " + switched(DriverNoRecover) + ": at a device reset "
     "the driver forgets the buffers in flight", ("NET-062", "NET-061"),
     StackNetConfig(mode="sc", driver_bug=DriverNoRecover, changes=0)),
    ("stack.net.mutant.net.device_ignores_link_down",
     "net: " + switched(DeviceIgnoresLinkDown) + ", in the "
     "stack's back-end", ("NET-026", "NET-060"),
     StackNetConfig(mode="sc", device_bug=DeviceIgnoresLinkDown, resets=0)),
    ("stack.net.mutant.shm.c_receiver_no_recheck",
     "shm, in C: the device's signals are shm.c built with NO_RECHECK_ENABLE (the kick "
     "receiver enables without re-reading pending), the driver's Python",
     ("SHM-SIGNAL-006", "SHM-RING-004"),
     StackNetConfig(mode="sc", c_shm=True, c_shm_mutant="NO_RECHECK_ENABLE", resets=0,
                    changes=0)),
    ("stack.net.mutant.virtio_pci.queue_reset_keeps_old_ring",
     "virtio-pci queue reset: " + switched(BackendKeepsOldRing) + ": the device serves the "
     "reset queue's old ring state after the driver enabled it again",
     ("VIRTIO-VQRESET-002", "VIRTIO-VQRESET-004", "NET-060"),
     StackNetConfig(mode="sc", backend_bug=BackendKeepsOldRing, resets=0, changes=0,
                    queue_resets=1)),
    ("stack.net.mutant.net.driver_forgets_reset_queue",
     "net: " + switched(DriverNoRecover) + ": at a queue reset "
     "the driver forgets the buffers of the reset queue", ("NET-062", "VIRTIO-VQRESET-003"),
     StackNetConfig(mode="sc", driver_bug=DriverNoRecover, resets=0, changes=0,
                    queue_resets=1)),
]


def _planted(cfg: StackNetConfig) -> Any:
    runs = 600 if cfg.c_device else 300  # ring.c steps each access through two threads

    def run_it() -> registry.Evidence:
        return mutant_evidence(run_stack_net(cfg, runs, derandomize=True, shrink=False),
                               keep_last=60)

    return run_it


for _name, _what, _reqs, _cfg in PLANTED:
    registry.mutant(_name, _what, _reqs, "hypothesis")(_planted(_cfg))
