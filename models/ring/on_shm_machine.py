"""The ring on shm-signal under interleaving: the composed reference stepped access by access.

A Hypothesis machine runs :class:`ShmRingDriver` and :class:`ShmRingDevice`
(reference/shm/ring_on_shm.py: the split ring of reference/ring in a region, every access
checked by the shm layer, its notifications through the kick and the call signal) as the two
sides of a :class:`~virtiospec.models.memory.tso.SharedMemory` under SC, x86-TSO or PSO, with the
scaffolding of models/machine_base.py (which side steps, bursts, preemption after a load,
which buffered store drains, the end of a run). The operations:

* driver ``add`` (and maybe ``kick_if_needed``), ``kick``, ``reap``: take a pending
  interrupt, ``begin`` (disable both, acknowledge), take every used buffer back, ``finish``
  (re-enable and re-check both) and do it again if it finds something, else sleep until the
  transport's used-buffer notification;
* device ``serve``: take a pending kick, ``begin``, pop in batches, push each batch and ask
  ``call_if_needed``, ``finish``, and sleep until the transport's available-buffer
  notification unless it found something.

A transport notification is performed only when ``kick_if_needed`` / ``call_if_needed`` says
so, and only after its sender's store buffer drained (SHM-SIGNAL-008). Checked after every
access and drain:

* SHM-RING-004 (with RING-SPLIT-110, RING-SPLIT-111): no side sleeps, with no notification
  pending, while the other is done and has published entries it has not consumed;
* SHM-RING-002 and RING-SPLIT-092: every store from the part's owner (the reference's checks
  raise), the device pops exactly the chains the driver added, in order, and the driver gets
  each back once, in the order the device pushed; no buffer lost at the end of a run;
* SHM-RING-006: per signal, the transport notifications sent never exceed the injections
  that asked for one (the sender's own count), and SHM-SIGNAL-011: notifications ≤
  acknowledgements + 1, an acknowledgement being ``pending`` going from 1 to 0 in memory.

SHM-RING-006, in full: "On virtio-pci, the notification a kick-signal injection asks for
(SHM-SIGNAL-002) is the queue's available-buffer notification, a write of the queue index at
its notify address (VIRTIO-PCI-030), and the one a call-signal injection asks for is the
queue's used-buffer notification, its MSI-X vector's message (VIRTIO-PCI-042). Neither side
sends any other notification for the queue: the driver's notify writes are exactly the kick
signals' notifications, the device's used-buffer notifications exactly the call signals'."
SHM-RING-003 and SHM-RING-004 are cited in full in models/ring/on_shm_z3.py.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import RunRecord, Violation
from virtiospec.models.machine_base import WHERE, DriverDeviceMachine, bind, guarded, run_bound
from virtiospec.models.memory.tso import Mode, Notify, Program, SharedMemory, Side, Wait
from virtiospec.models.ring.names import ring_names
from virtiospec.reference.access import GuestMemory, run
from virtiospec.reference.ring import QueueFull, SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.ring.on_shm import (
    PROTOCOL,
    Seam,
    ShmRingDevice,
    ShmRingDriver,
    ShmRingLayout,
)
from virtiospec.reference.shm import Region, ShmError
from virtiospec.reference.shm.signal import SignalReceiver, SignalSender

SLOT = 16  # bytes of buffer per chain (one readable descriptor)
REGION_BASE = 0x1000
REGION_LEN = 0x400
NEAR_WRAP = (65533, 65534, 65535, 0)


@dataclass(frozen=True)
class RingOnShmConfig:
    mode: Mode = "tso"
    event_idx: bool = False
    seam: Seam = PROTOCOL
    sender_cls: type[SignalSender] = SignalSender  # of both signals
    receiver_cls: type[SignalReceiver] = SignalReceiver  # of both signals
    driver_ring_cls: type[SplitDriver] = SplitDriver  # a layer's known-bad variant, planted
    device_ring_cls: type[SplitDevice] = SplitDevice
    device_layout_cls: type[SplitLayout] = SplitLayout  # how the device addresses the ring
    sizes: tuple[int, ...] = (1, 2, 4)
    steps: int = 100


class RingOnShmMachine(DriverDeviceMachine):
    OUT_OF_BOUNDS_REQ = "SHM-RING-001"
    NO_LOSS_REQ = "RING-SPLIT-092"
    cfg: ClassVar[RingOnShmConfig] = RingOnShmConfig()
    record: ClassVar[RunRecord] = RunRecord()

    @initialize(q=st.sampled_from((1, 2, 4)), start=st.sampled_from(NEAR_WRAP))
    @guarded
    def setup(self, q: int, start: int) -> None:
        cfg = self.cfg
        q = q if q in cfg.sizes else cfg.sizes[-1]
        self.q = q
        region = Region(0, REGION_BASE, REGION_LEN)
        lay = self.lay = ShmRingLayout(region, 0, q)
        names = ring_names(lay.ring)
        for sig in ("kick", "call"):
            s = getattr(lay, sig)
            names.field(region.base + s.enabled, f"{sig}.enabled")
            names.field(region.base + s.pending, f"{sig}.pending")
        for k in range(q + 1):
            names.region(k * SLOT, SLOT, f"buf{k}")
        self.guest = GuestMemory(REGION_BASE + REGION_LEN)
        self.shm = SharedMemory(self.guest, cfg.mode, names)
        self.dside, self.vside = self.shm.side("driver"), self.shm.side("device")
        self.drv = ShmRingDriver(lay, event_idx=cfg.event_idx, seam=cfg.seam)
        self.dev = ShmRingDevice(lay, REGION_BASE + REGION_LEN, event_idx=cfg.event_idx,
                                 seam=cfg.seam)
        self.drv.kick, self.dev.call = cfg.sender_cls(lay.kick), cfg.sender_cls(lay.call)
        self.drv.call = self.drv.signal = cfg.receiver_cls(lay.call)
        self.dev.kick = self.dev.signal = cfg.receiver_cls(lay.kick)
        self.drv.ring = cfg.driver_ring_cls(lay.ring, event_idx=cfg.event_idx)
        self.dev.ring = cfg.device_ring_cls(lay.ring, REGION_BASE + REGION_LEN,
                                            event_idx=cfg.event_idx)
        if cfg.device_layout_cls is not SplitLayout:
            r = lay.ring
            self.dev.ring.layout = cfg.device_layout_cls(r.size, r.desc, r.avail, r.used)
        run(self.dev.init(), self.guest)
        run(self.drv.init(), self.guest)
        self.drv.ring.avail_idx = self.drv.ring.last_used = start
        self.dev.ring.last_avail = self.dev.ring.used_idx = start
        r = lay.ring
        for addr in (r.avail_idx, r.used_idx, r.used_event, r.avail_event):
            self.guest.write(addr, 2, start)
        self.pending_at = {"kick": region.base + lay.kick.pending,
                           "call": region.base + lay.call.pending}
        self._begin_run(q, f"Q={q} start={start} {cfg.mode} "
                        f"{'event_idx' if cfg.event_idx else 'flags'}")

    def _begin_run(self, q: int, label: str) -> None:
        """The harness's bookkeeping of a run (after the sides and ``pending_at`` exist)."""
        self.q = q
        self.buf_base = getattr(self, "buf_base", 0)
        self.was = {"kick": 0, "call": 0}
        self.acks = {"kick": 0, "call": 0}
        self.sent = {"kick": 0, "call": 0}  # transport notifications
        self.next_token = 1
        self.free_slots = list(range(q + 1))
        self.bufs: dict[int, int] = {}  # token -> slot, added and not taken back
        self.heads: dict[int, int] = {}  # token -> head
        self.avail_fifo: deque[int] = deque()
        self.used_fifo: deque[tuple[int, int]] = deque()
        self.undecided = 0
        self.shm.note("env", label)
        self.ready = True

    # -- stepping: the shm layer's refusals are violations too ------------------------------
    def _step(self, side: Side, early: int = 0) -> None:
        try:
            super()._step(side, early)
        except ShmError as err:
            raise Violation(err.req, f"{side.name} raised {err}") from err

    # -- rules -------------------------------------------------------------------------------
    @precondition(lambda m: m.ready and not m.dside.busy)
    @rule(kick=st.booleans(), run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_add(self, kick: bool, run: str) -> None:
        self._start(self.dside, self._add(kick), f"add{' + kick' if kick else ''}", run)

    @precondition(lambda m: m.ready and not m.dside.busy and m.undecided > 0)
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_kick(self, run: str) -> None:
        self._start(self.dside, self._kick(), "kick_if_needed", run)

    @precondition(lambda m: m.ready and not m.dside.busy)
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_reap(self, run: str) -> None:
        self._start(self.dside, self._reap(), "reap, sleep", run)

    @precondition(lambda m: m.ready and not m.vside.busy)
    @rule(batch=st.integers(1, 3), run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def device_serve(self, batch: int, run: str) -> None:
        self._start(self.vside, self._serve(batch), f"serve {batch}", run)

    @precondition(lambda m: m.ready and bool(m.dside.buffer))
    @rule()
    @guarded
    def drain_driver_all(self) -> None:
        """Every buffered store of the driver reaches memory (a side blocked at its barrier
        goes on next; with the runs to a side's end or block, the races of two store
        buffers are a few rules deep)."""
        while self.dside.buffer:
            self.dside.drain_one()

    @precondition(lambda m: m.ready and bool(m.vside.buffer))
    @rule()
    @guarded
    def drain_device_all(self) -> None:
        while self.vside.buffer:
            self.vside.drain_one()

    # -- the driver --------------------------------------------------------------------------
    def _add(self, kick: bool) -> Program[None]:
        token = self.next_token
        self.next_token += 1
        slot = self.free_slots[0]
        at = self.buf_base + slot * SLOT
        self.avail_fifo.append(token)
        try:
            head = yield from self.drv.add([(at, 16)], [], token)
        except QueueFull:
            self.avail_fifo.pop()
            self.shm.note("driver", "add -> queue full")
            return
        self.free_slots.remove(slot)
        self.bufs[token], self.heads[token] = slot, head
        self.undecided += 1
        self.shm.note("driver", f"add -> head {head} (t{token})")
        if kick:
            yield from self._kick()

    def _kick(self) -> Program[None]:
        need = yield from self.drv.kick_if_needed()
        self.undecided = 0
        self.shm.note("driver", f"kick_if_needed -> {need}")
        if need:
            self.sent["kick"] += 1
            yield from self._doorbell()

    def _doorbell(self) -> Program[None]:
        """The transport's available-buffer notification (after the driver's buffer
        drained)."""
        yield Notify("device", "kick")

    def _get(self) -> Program[bool]:
        got = yield from self.drv.get_used()
        if got is None:
            return False
        token, length = got
        assert isinstance(token, int)
        self.shm.note("driver", f"get_used -> t{token}")
        if not self.used_fifo or self.used_fifo[0] != (token, length):
            raise Violation("RING-SPLIT-092", f"driver got t{token} back, the device used "
                            f"{list(self.used_fifo)[:1]} next")
        self.used_fifo.popleft()
        self.free_slots.append(self.bufs.pop(token))
        self._count("buffers returned")
        return True

    def _reap(self) -> Program[None]:
        self.dside.consume("irq")  # begin and finish re-check the ring before it sleeps
        if self.undecided:
            yield from self._kick()
        while True:
            yield from self.drv.begin()
            while (yield from self._get()):
                pass
            again = yield from self.drv.finish()
            self.shm.note("driver", f"finish -> {again}")
            if not again:
                break
        yield Wait("irq")

    # -- the device --------------------------------------------------------------------------
    def _serve_batch(self, batch: int) -> Program[bool]:
        done: list[tuple[int, int]] = []
        for _ in range(batch):
            chain = yield from self.dev.pop()
            if chain is None:
                break
            if not self.avail_fifo:
                raise Violation("RING-SPLIT-092", f"device popped head {chain.head}, nothing "
                                "was made available")
            token = self.avail_fifo.popleft()
            if self.heads.get(token) != chain.head:
                raise Violation("RING-SPLIT-092", f"device popped head {chain.head}, the "
                                f"driver made t{token} available next")
            self.shm.note("device", f"pop -> head {chain.head} (t{token})")
            done.append((token, chain.head))
        if not done:
            return False
        self.used_fifo.extend((t, 0) for t, _ in done)
        yield from self.dev.push([(head, 0) for _, head in done])
        notify = yield from self.dev.call_if_needed()
        self.shm.note("device", f"call_if_needed -> {notify}")
        if notify:
            self.sent["call"] += 1
            yield from self._interrupt()
        return True

    def _interrupt(self) -> Program[None]:
        """The transport's used-buffer notification (after the device's buffer drained)."""
        yield Notify("driver", "irq")

    def _serve(self, batch: int) -> Program[None]:
        self.vside.consume("kick")
        while True:
            yield from self.dev.begin()
            while (yield from self._serve_batch(batch)):
                pass
            again = yield from self.dev.finish()
            self.shm.note("device", f"finish -> {again}")
            if not again:
                break
        yield Wait("kick")

    def _serve_all(self) -> Program[None]:
        while (yield from self._serve_batch(self.q)):
            pass

    # -- invariants ----------------------------------------------------------------------------
    @invariant()
    @guarded
    def accounting(self) -> None:
        """RING-SPLIT-090; SHM-RING-006 and SHM-SIGNAL-011 per signal."""
        if not self.ready:
            return
        if self.drv.ring.outstanding > self.q:
            raise Violation("RING-SPLIT-090", f"{self.drv.ring.outstanding} outstanding")
        asked = {"kick": self.drv.kick.notifications, "call": self.dev.call.notifications}
        for sig in ("kick", "call"):
            now = self.guest.read(self.pending_at[sig], 4)
            self.acks[sig] += bool(self.was[sig]) and not now
            self.was[sig] = now
            if self.sent[sig] > asked[sig]:
                raise Violation("SHM-RING-006", f"{self.sent[sig]} {sig} notifications sent, "
                                f"{asked[sig]} asked for by an injection")
            if self.sent[sig] > self.acks[sig] + 1:
                raise Violation("SHM-SIGNAL-011", f"{self.sent[sig]} {sig} notifications for "
                                f"{self.acks[sig]} acknowledgements")

    @invariant()
    @guarded
    def no_lost_wakeup(self) -> None:
        """SHM-RING-004: RING-SPLIT-110 and RING-SPLIT-111 across both suppressions."""
        if not self.ready:
            return
        asleep = self._asleep_with_work(bool(self.avail_fifo), bool(self.used_fifo))
        if asleep == "device":
            raise Violation("SHM-RING-004", f"device asleep, no kick pending, "
                            f"{len(self.avail_fifo)} chains available it has not popped "
                            "(RING-SPLIT-110)")
        if asleep == "driver":
            raise Violation("SHM-RING-004", f"driver asleep, no interrupt pending, "
                            f"{len(self.used_fifo)} used buffers it has not taken "
                            "(RING-SPLIT-111)")


def run_ring_on_shm(cfg: RingOnShmConfig, max_examples: int, *, derandomize: bool = False,
                    shrink: bool = True, shrink_seconds: float | None = 20.0
                    ) -> registry.Evidence:
    name = f"RingOnShm_{cfg.mode}_{'event_idx' if cfg.event_idx else 'flags'}"
    cls = bind(name, (RingOnShmMachine,), cfg)
    return run_bound(cls, cfg.steps, max_examples, derandomize=derandomize, shrink=shrink,
                     shrink_seconds=shrink_seconds)


REQS = ("SHM-RING-001", "SHM-RING-002", "SHM-RING-003", "SHM-RING-004", "SHM-RING-006",
        "SHM-SIGNAL-008", "SHM-SIGNAL-011", "RING-SPLIT-090", "RING-SPLIT-092",
        "RING-SPLIT-110", "RING-SPLIT-111")


def _register(name: str, mode: Mode, event_idx: bool) -> None:
    feature = "event_idx" if event_idx else "flags"

    @registry.check(name, REQS,
                    f"ring on shm-signal, driver and device stepped access by access over "
                    f"{WHERE[mode]}, {feature}: both suppressions, both directions")
    def check(n: int) -> registry.Evidence:
        return run_ring_on_shm(RingOnShmConfig(mode=mode, event_idx=event_idx), n)


_register("ring_on_shm.sc.flags", "sc", False)
_register("ring_on_shm.sc.event_idx", "sc", True)
_register("ring_on_shm.tso.flags", "tso", False)
_register("ring_on_shm.tso.event_idx", "tso", True)
_register("ring_on_shm.pso.flags", "pso", False)
_register("ring_on_shm.pso.event_idx", "pso", True)
