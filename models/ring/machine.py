"""The split ring under interleaving: a driver and a device stepped one access at a time.

A Hypothesis :class:`RingMachine` runs a :class:`SplitDriver` and a :class:`SplitDevice` (or
known-bad subclasses of them) as two sides of a :class:`~tso.SharedMemory` in SC, x86-TSO,
PSO or RMO mode. Each side runs one *operation* at a time, a short program over the reference's own
methods:

* driver: ``add`` (the application fills the readable bytes, then ``add`` and maybe the kick),
  ``kick`` (``kick_prepare``, then the kick), ``get`` (``get_used``, then it reads back the
  bytes the device wrote), ``disable_cb``, ``sleep`` (``enable_cb`` or ``enable_cb_delayed``,
  and sleep until an interrupt unless they report pending buffers) and ``isr_sleep`` (with
  callbacks enabled: ``get_used`` and sleep if it finds nothing, as an interrupt handler does);
* device: ``serve`` (take a pending kick; maybe ``disable_notify``; ``pop`` up to a batch of
  chains, check and read each, write some bytes, ``push`` the batch, ``should_notify`` and
  interrupt; or, if nothing is available, ``enable_notify`` and sleep until a kick unless it
  reports new buffers).

A kick or an interrupt is performed only after its sender's store buffer has drained
(RING-SPLIT-074); it wakes the sleeping peer or stays pending (RING-SPLIT-054, RING-SPLIT-064)
until the peer starts an operation that re-checks the ring before sleeping (``serve``,
``sleep``, ``isr_sleep`` take it, as a handler acks its eventfd or interrupt), so that a stale
notification does not hide a lost wakeup.

The schedule is Hypothesis's choice at every rule: start an operation, step a side once, run
a side for a burst of accesses, up to just after its next load, or to the end of its
operation (long preemptions at the points where a side has just checked shared memory are
what the lost-wakeup races need), or let one buffered store of a side reach memory. Under
RMO (:class:`RmoRingMachine`) a rule may also satisfy a side's next load early (it returns an
older value, as far back as the side's barriers allow), or run a burst in which every load
is satisfied as early as it may be: a missing ``rmb`` (RING-SPLIT-075, RING-SPLIT-076) then
shows as a stale ring entry, descriptor or used element.

Checked at every access (store ownership, as each store is issued) and after every step
(invariants):

* RING-SPLIT-090: outstanding buffers never exceed Q; ``avail.idx - used.idx <= Q`` in memory;
* RING-SPLIT-030, RING-SPLIT-043: the indices never move back or jump;
* RING-SPLIT-091: no available or used slot is written while it holds an unconsumed entry;
* RING-SPLIT-093, RING-SPLIT-013: the driver does not touch descriptors, indirect tables or
  buffers of outstanding chains; RING-SPLIT-012: the device writes only to writable buffers;
* RING-SPLIT-092 (refinement of an abstract FIFO): the device pops exactly the chains the driver
  added, in order, and reads the bytes the application wrote; the driver gets each token back
  once, in the order the device pushed, with the ``len`` the device wrote, and reads back the
  bytes the device wrote (RING-SPLIT-041, RING-SPLIT-042);
* RING-SPLIT-110: the device never sleeps, with no kick pending, while the driver (which made
  every kick decision and drained its stores) has published buffers the device has not seen;
* RING-SPLIT-111: the driver never sleeps, with no interrupt pending, while used buffers it has
  not taken are published and the device is done (asleep, or idle after a plain re-enable).

At the end of every run both sides finish, the device serves everything, the driver takes
everything back: no buffer is lost (RING-SPLIT-092).

The queue size is drawn from small powers of 2 (full queues and slot reuse are reached in a
few steps) and the free-running indices start just below 65535, so they wrap (RING-SPLIT-100).

``ring.alias.event_idx`` (RING-SPLIT-101), a deterministic scenario of 2^16 publications,
is in models/ring/alias.py.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar, cast

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import RunRecord, Violation
from virtiospec.models.machine_base import (
    WHERE,
    RmoDriverDeviceMachine,
    bind_mode,
    guarded,
    run_bound,
)
from virtiospec.models.memory.tso import Mode, Program, Wait
from virtiospec.models.ring.machine_ops import (
    INDIRECT_MAX,
    MAX_BUF,
    RUN,
    Draws,
    RingOpsMachine,
    Segment,
    inside,
    out_pattern,
)
from virtiospec.models.ring.names import name_table, ring_names
from virtiospec.reference.access import Store
from virtiospec.reference.ring import QueueFull, SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.ring.device import Chain
from virtiospec.reference.ring.layout import DESC_SIZE, U16

NEAR_WRAP = tuple(range(65528, 65536))


@dataclass
class Buf:
    """A chain as the harness knows it: what the driver gave and what the device wrote."""

    token: int
    slot: int
    out: list[Segment]
    in_: list[Segment]
    out_data: bytes
    head: int = -1
    descs: list[int] = field(default_factory=list)
    reply: bytes = b""


@dataclass(frozen=True)
class RingConfig:
    """What a machine runs: memory model, feature, the two classes, sizes and start indices."""

    mode: Mode = "sc"
    event_idx: bool = False
    driver_cls: type[SplitDriver] = SplitDriver
    device_cls: type[SplitDevice] = SplitDevice
    sizes: tuple[int, ...] = (1, 2, 4, 8)
    starts: tuple[int, ...] = NEAR_WRAP
    indirect: tuple[bool, ...] = (False, True)
    steps: int = 100


class RingMachine(RingOpsMachine):
    """The split ring's driver and device over one SharedMemory (see the module's text)."""

    OUT_OF_BOUNDS_REQ = "RING-SPLIT-082"
    NO_LOSS_REQ = "RING-SPLIT-092"
    READ_BACK_REQ = "RING-SPLIT-041"
    POP_WORD = "head"
    cfg: ClassVar[RingConfig] = RingConfig()
    record: ClassVar[RunRecord] = RunRecord()

    # -- set-up (the rule: models/ring/machine_ops.py) -------------------------------------
    def _draws(self) -> Draws:
        return (("Q", self.cfg.sizes), ("start index", self.cfg.starts),
                ("indirect", self.cfg.indirect))

    def build(self, q: int, start: int, indirect: bool) -> None:
        """Lay out memory for queue size ``q``, both sides with indices at ``start``."""
        cfg = self.cfg
        self.q, self.event_idx = q, cfg.event_idx
        lay = self.lay = SplitLayout.packed_at(0, q)
        self._lay_out(lay, DESC_SIZE, ring_names(lay), name_table, cfg.event_idx, indirect)
        # start the free-running indices at `start` on both sides and in memory
        self.drv.avail_idx = self.drv.last_used = start
        self.dev.last_avail = self.dev.used_idx = start
        for addr in (lay.avail_idx, lay.used_idx, lay.used_event, lay.avail_event):
            self.guest.write(addr, 2, start)
        # the abstract model
        self.bufs: dict[int, Buf] = {}  # added, not yet taken back
        self.avail_fifo: deque[int] = deque()  # tokens made available, in order
        self.used_fifo: deque[tuple[int, int]] = deque()  # (token, len) pushed, in order
        self.owned: dict[int, int] = {}  # descriptor -> token of the outstanding chain
        self.dev_inflight: dict[int, Buf] = {}  # popped, not pushed
        self.avail_pub = self.avail_cons = self.used_pub = self.used_cons = start
        self.arm = "normal"  # how the driver last asked for interrupts: normal or delayed
        self.shm.watchers.append(self._watch)
        self.shm.note("env", f"Q={q} start={start} {cfg.mode} "
                      f"{'event_idx' if cfg.event_idx else 'flags'}"
                      f"{' indirect' if indirect else ''}")
        self.ready = True

    # -- rules: starting operations (the rest: models/ring/machine_ops.py) ---------------
    @precondition(lambda m: m.ready and not m.dside.busy)
    @rule(delayed=st.booleans(), run=RUN)
    @guarded
    def driver_sleep(self, delayed: bool, run: str) -> None:
        delayed = delayed and self.event_idx
        self._start(self.dside, self._sleep(delayed),
                    "enable_cb_delayed, sleep" if delayed else "enable_cb, sleep", run)

    @precondition(lambda m: m.ready and not m.vside.busy)
    @rule(batch=st.integers(1, 4), nbytes=st.integers(0, 3 * MAX_BUF), disable=st.booleans(),
          run=RUN)
    @guarded
    def device_serve(self, batch: int, nbytes: int, disable: bool, run: str) -> None:
        self._start(self.vside, self._serve_or_sleep(disable, self._serve_batch(batch, nbytes)),
                    f"serve {batch}", run)

    # -- driver operations ---------------------------------------------------------------
    def _add(self, shape: list[tuple[bool, int]], kick: bool) -> Program[None]:
        token, slot, out, in_ = self._buffers(shape)
        buf = Buf(token, slot, out, in_, out_pattern(token, sum(n for _, n in out)))
        yield from self._fill(buf)
        try:
            head = yield from self.drv.add(out, in_, token)
        except QueueFull:
            self.avail_fifo.pop()
            self._count("queue full")
            self.shm.note("driver", "add -> queue full")
            return
        self.free_slots.remove(slot)
        buf.head, buf.descs = head, list(self.drv.chains[head].descs)
        self.bufs[token] = buf
        for d in buf.descs:
            self.owned[d] = token
        self.undecided += 1
        self.shm.note("driver", f"add -> head {head} (t{token})")
        if kick:
            yield from self._kick()

    def _took(self, buf: Buf) -> None:
        self.used_cons = (self.used_cons + 1) & U16
        if self.event_idx and self.cb_enabled:
            self.arm = "normal"  # get_used asked for the next entry (RING-SPLIT-051)

    def _returned(self, buf: Buf) -> None:
        for d in buf.descs:
            del self.owned[d]

    def _sleep(self, delayed: bool) -> Program[None]:
        yield from self._before_sleep()
        if delayed:
            pending = yield from self.drv.enable_cb_delayed()
        else:
            pending = yield from self.drv.enable_cb()
        self.cb_enabled, self.arm = True, "delayed" if delayed else "normal"
        self.shm.note("driver", f"{'enable_cb_delayed' if delayed else 'enable_cb'} -> {pending}")
        if not pending:
            yield Wait("irq")

    # -- device operations ---------------------------------------------------------------
    def _serve_batch(self, batch: int, nbytes: int) -> Program[bool]:
        dev = self.dev
        done: list[tuple[int, int, Buf]] = []
        for _ in range(batch):
            got = yield from self._pop_one(nbytes, "RING-SPLIT-013")
            if got is None:
                break
            chain, buf, written = got
            done.append((chain.head, written, buf))
        if not done:
            return False
        for _, written, buf in done:
            self.used_fifo.append((buf.token, written))
            del self.dev_inflight[buf.token]
        yield from dev.push([(head, written) for head, written, _ in done])
        yield from self._interrupt()
        return True

    def _buf_id(self, buf: Buf) -> int:
        return buf.head

    def _hold(self, chain: Chain, buf: Buf) -> None:
        self.dev_inflight[buf.token] = buf

    def _popped(self, chain: Chain) -> Buf:
        _, buf = self._next_available(chain)
        self.avail_cons = (self.avail_cons + 1) & U16
        return cast(Buf, buf)

    # -- store ownership (checked as each store is issued) -------------------------------
    def _slot_held(self, offset_slot: int, consumed: int, published: int) -> bool:
        held = (published - consumed) & U16
        return held >= self.q or (offset_slot - consumed) % self.q < held

    def _driver_store(self, st_: Store) -> None:
        lay, a, q = self.lay, st_.addr, self.q
        name = self.shm.names(a)
        if a == lay.avail_idx:
            v = st_.value
            if (v - self.avail_pub) & U16 > q:
                raise Violation("RING-SPLIT-030", f"avail.idx {self.avail_pub} -> {v}")
            if (v - self.used_cons) & U16 > q:
                raise Violation("RING-SPLIT-090", f"avail.idx := {v} with only "
                                f"{self.used_cons} taken back: more than Q outstanding")
            if v < self.avail_pub:
                self._count("avail.idx wrapped")
            self.avail_pub = v
        elif lay.avail_ring(0) <= a < lay.avail_ring(q):
            if self._slot_held((a - lay.avail_ring(0)) // 2, self.avail_cons, self.avail_pub):
                raise Violation("RING-SPLIT-091", f"driver overwrote {name} before the device "
                                "consumed it")
        elif a in (lay.avail_flags, lay.used_event):
            pass
        elif lay.desc <= a < lay.desc + DESC_SIZE * q:
            d = (a - lay.desc) // DESC_SIZE
            if d in self.owned:
                raise Violation("RING-SPLIT-093", f"driver wrote {name} of outstanding "
                                f"t{self.owned[d]}")
        elif self.ind_area <= a < self.data_area:
            h = (a - self.ind_area) // (INDIRECT_MAX * DESC_SIZE)
            if h in self.owned:
                raise Violation("RING-SPLIT-013", f"driver wrote {name}, the indirect table of "
                                f"outstanding t{self.owned[h]}")
        elif a >= self.data_area:
            buf = self.filling
            if buf is None or not inside(buf.out, a, st_.size):
                raise Violation("RING-SPLIT-013", f"driver wrote {name}, not a buffer it fills")
        else:
            raise Violation("RING-SPLIT-003", f"driver wrote {name}, a field of the device")

    def _device_store(self, st_: Store) -> None:
        lay, a, q = self.lay, st_.addr, self.q
        name = self.shm.names(a)
        if a == lay.used_idx:
            v = st_.value
            if (v - self.used_pub) & U16 > q:
                raise Violation("RING-SPLIT-043", f"used.idx {self.used_pub} -> {v}")
            if (v - self.used_cons) & U16 > (self.avail_pub - self.used_cons) & U16:
                raise Violation("RING-SPLIT-090", f"used.idx := {v}: more used than available")
            if v < self.used_pub:
                self._count("used.idx wrapped")
            self.used_pub = v
        elif lay.used_ring(0) <= a < lay.used_ring(q):
            if self._slot_held((a - lay.used_ring(0)) // 8, self.used_cons, self.used_pub):
                raise Violation("RING-SPLIT-091", f"device overwrote {name} before the driver "
                                "consumed it")
        elif a in (lay.used_flags, lay.avail_event):
            pass
        elif not any(inside(b.in_, a, st_.size) for b in self.dev_inflight.values()):
            raise Violation("RING-SPLIT-012", f"device wrote {name}, not a writable buffer of "
                            "a chain it holds")

    # -- invariants ----------------------------------------------------------------------
    @invariant()
    @guarded
    def accounting(self) -> None:
        """RING-SPLIT-090."""
        if not self.ready:
            return
        if self.drv.outstanding > self.q:
            raise Violation("RING-SPLIT-090", f"{self.drv.outstanding} outstanding, Q={self.q}")
        lay = self.lay
        avail, used = self.shm.read(lay.avail_idx, 2), self.shm.read(lay.used_idx, 2)
        if (avail - used) & U16 > self.q:
            raise Violation("RING-SPLIT-090", f"avail.idx {avail} - used.idx {used} > Q in memory")

    @invariant()
    @guarded
    def no_lost_wakeup(self) -> None:
        """RING-SPLIT-110 and RING-SPLIT-111."""
        if not self.ready:
            return
        asleep = self._asleep_with_work(self.avail_pub != self.avail_cons,
                                        self.used_pub != self.used_cons, self.arm == "normal")
        if asleep == "device":
            raise Violation("RING-SPLIT-110", f"device asleep, no kick pending, "
                            f"avail.idx={self.avail_pub} but the device consumed up to "
                            f"{self.avail_cons}")
        if asleep == "driver":
            raise Violation("RING-SPLIT-111", f"driver asleep, no interrupt pending, "
                            f"used.idx={self.used_pub} but the driver took back up to "
                            f"{self.used_cons}")

    # -- the end of a run ----------------------------------------------------------------
    def _serve_all(self) -> Program[None]:
        while (yield from self._serve_batch(self.q, MAX_BUF)):
            pass


class RmoRingMachine(RingMachine, RmoDriverDeviceMachine):
    """The machine under rmo: its rules, and loads satisfied early (models/memory/tso.py). The rules
    are only in this subclass, so the runs of the other modes are drawn as before."""


def machine_class(cfg: RingConfig) -> type[RingMachine]:
    """A RingMachine subclass bound to ``cfg``, with its own run record."""
    name = (f"Ring_{cfg.mode}_{'event_idx' if cfg.event_idx else 'flags'}_"
            f"{cfg.driver_cls.__name__}_{cfg.device_cls.__name__}")
    return bind_mode(name, cfg.mode, cfg, RingMachine, RmoRingMachine)


def run_ring(cfg: RingConfig, max_examples: int, *, derandomize: bool = False,
             shrink: bool = True, shrink_seconds: float | None = 20.0) -> registry.Evidence:
    """Run the machine for ``cfg``; ok=True when every run keeps every invariant. A failure
    is shrunk for at most ``shrink_seconds``."""
    return run_bound(machine_class(cfg), cfg.steps, max_examples, derandomize=derandomize,
                     shrink=shrink, shrink_seconds=shrink_seconds)


REQS = ("RING-SPLIT-012", "RING-SPLIT-013", "RING-SPLIT-030", "RING-SPLIT-041",
        "RING-SPLIT-043", "RING-SPLIT-074", "RING-SPLIT-090", "RING-SPLIT-091",
        "RING-SPLIT-092", "RING-SPLIT-093", "RING-SPLIT-110", "RING-SPLIT-111")
RMO_REQS = (*REQS, "RING-SPLIT-075", "RING-SPLIT-076")


def _register(name: str, mode: Mode, event_idx: bool, reqs: tuple[str, ...] = REQS) -> None:
    @registry.check(name, reqs,
                    f"driver and device interleaved access by access over {WHERE[mode]}, "
                    f"{'VIRTIO_F_EVENT_IDX' if event_idx else 'flag'} suppression")
    def check(n: int) -> registry.Evidence:
        return run_ring(RingConfig(mode=mode, event_idx=event_idx), n)


# name, memory model, VIRTIO_F_EVENT_IDX, requirements
_CHECKS: tuple[tuple[str, Mode, bool, tuple[str, ...]], ...] = (
    ("ring.sc.flags", "sc", False, REQS),
    ("ring.sc.event_idx", "sc", True, REQS),
    ("ring.tso.flags", "tso", False, REQS),
    ("ring.tso.event_idx", "tso", True, REQS),
    ("ring.pso.flags", "pso", False, REQS),
    ("ring.pso.event_idx", "pso", True, REQS),
    ("ring.rmo.flags", "rmo", False, RMO_REQS),
    ("ring.rmo.event_idx", "rmo", True, RMO_REQS),
)
for _name, _mode, _event_idx, _reqs in _CHECKS:
    _register(_name, _mode, _event_idx, _reqs)
