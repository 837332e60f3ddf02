"""The machine of the whole network stack interleaved (its checks: models/stack/net.py):
**PCI → virtio-pci → virtio-shm → virtio-ring → virtio-net**, the stack's driver and device
stepped access by access under SC and x86-TSO, with frames in both directions and the events
that race with them.

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

from collections.abc import Callable
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from virtiospec.models.hypothesis_run import RunRecord, Violation
from virtiospec.models.machine_base import WHERE, guarded
from virtiospec.models.memory.tso import AddressNames, SharedMemory
from virtiospec.models.stack.net_layers import (
    CLASSES,
    PAIRS,
    RAM,
    RX0,
    SIZE,
    TX0,
    StackNetConfig,
    build_in_c,
    plant_ring,
    shm_to_c,
    to_c,
)
from virtiospec.models.stack.net_points import StackNetPoints
from virtiospec.models.stack.ring import DEV_TAG, StackBus
from virtiospec.models.stack.stepping import SteppedCall, SteppedMemory
from virtiospec.reference.stack.net_driver import CONFIG_VECTOR, MSI_DATA, CountingNetDriver
from virtiospec.reference.stack.net_stack import Stack, StackOptions
from virtiospec.reference.stack.rings import DeviceRing
from virtiospec.reference.stack.traffic import RX, TX, Tally, frame
from virtiospec.reference.virtio_pci.regs import DEVICE_NEEDS_RESET


class StackNetMachine(StackNetPoints):
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
        if cfg.c_device or cfg.c_shm:  # the rings the device builds later: C from birth
            build_in_c(stack, cfg.c_mutant, cfg.c_device, cfg.c_shm, cfg.c_shm_mutant,
                       cfg.c_keeps_indices)
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
        self.reset_seen: set[int] = set()  # the queues reset so far in the run
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
                    to_c(ring, cfg.c_mutant)
                if cfg.c_shm:
                    shm_to_c(ring, cfg.c_shm_mutant)
                plant_ring(ring, cfg.device_ring_bug, DeviceRing)
                if cfg.receiver_cls is not None and type(ring.kick) is not cfg.receiver_cls:
                    ring.kick = cfg.receiver_cls(ring.shm_layout.kick)
        for dring in stack.driver.rings.values():
            if cfg.receiver_cls is not None and type(dring.call) is not cfg.receiver_cls:
                dring.call = cfg.receiver_cls(dring.shm_layout.call)

    # -- the wire -----------------------------------------------------------
    def _on_wire(self, pair: int, data: bytes) -> None:
        if not self.stack.net_config.link_up:
            self.wire_while_down += 1
        self.wire.record(pair, data)

    def seq(self, k: int, direction: int = TX) -> int:
        """The sequence number of the ``k``-th frame sent (``TX``) or from the wire (``RX``):
        of class 0, or with ``mq`` of class ``3k % 8`` (0, 3, 6, 1, 4, 7, 2, 5: every class,
        both pairs in turn under each split of the classes), from the wire from class 4 on
        (4, 7, 2, 5, 0, ...: the first frame from the wire is for pair 1)."""
        if not self.cfg.mq:
            return 8 * k
        return 3 * k + (4 if direction == RX else 0)

    # -- starting the stack's calls on a side ---------------------------------------------------
    def _call(self, side: str, fn: Callable[[], object], label: str, run: str) -> None:
        mem = self.dmem if side == "driver" else self.vmem
        call = SteppedCall(fn, mem)
        self.calls.append(call)
        if side == "driver" and label == "MSI-X vector 0":
            self.window = {self._showing()}
        self._start(self.dside if side == "driver" else self.vside, call.program(), label, run)

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
        data = frame(self.seq(self.sent), SIZE, TX, self.mac)
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
        data = frame(self.seq(self.injected, RX), SIZE, RX, self.mac)
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
        ctrl = () if net.ctrl_q is None else (net.ctrl_q,)
        for pool, kind, indices in ((net.rx_pool, "receive", range(RX0, 2 * PAIRS, 2)),
                                    (net.tx_pool, "transmit", range(TX0, 2 * PAIRS, 2)),
                                    (net.ctrl_pool, "control", ctrl)):
            taken = pool.count - len(pool.free)
            live = sum(net.queues[i].outstanding for i in indices if i in net.queues)
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
        lost_tx = sum(self.seq(k) not in self.wire.seen for k in range(self.sent))
        lost_rx = sum(self.seq(k, RX) not in self.got.seen for k in range(self.accepted))
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
