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
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import RunRecord, Violation
from virtiospec.models.machine_base import (
    WHERE,
    DriverDeviceMachine,
    RmoDriverDeviceMachine,
    bind,
    guarded,
    run_bound,
)
from virtiospec.models.memory.tso import (
    LOAD_REORDERING,
    Action,
    Mode,
    Notify,
    Program,
    SharedMemory,
    Side,
    Wait,
)
from virtiospec.models.ring.names import name_table, ring_names
from virtiospec.reference.access import GuestMemory, Load, Store, run
from virtiospec.reference.ring import QueueFull, SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.ring.device import Chain
from virtiospec.reference.ring.layout import DESC_SIZE, U16

Segment = tuple[int, int]
SLOT = 64  # bytes of data area per chain: up to 4 buffers of up to 16 bytes
MAX_BUF = 16
INDIRECT_MAX = 4
NEAR_WRAP = tuple(range(65528, 65536))


def out_pattern(token: int, n: int) -> bytes:
    """The bytes the application puts in the readable buffers of chain ``token``."""
    return bytes((token * 17 + 3 * i + 5) & 0xFF for i in range(n))


def reply_pattern(token: int, n: int) -> bytes:
    """The bytes the device writes to the writable buffers of chain ``token``."""
    return bytes((token * 29 + 7 * i + 1) & 0xFF for i in range(n))


def write_segments(segs: list[Segment], data: bytes) -> Program[None]:
    done = 0
    for addr, length in segs:
        for off in range(0, length, 8):
            piece = data[done + off : done + min(off + 8, length)]
            yield Store(addr + off, len(piece), int.from_bytes(piece, "little"))
        done += length


def read_segments(segs: list[Segment], n: int) -> Program[bytes]:
    """The first ``n`` bytes of a list of buffers, loaded 8 bytes at a time."""
    out = bytearray()
    for addr, length in segs:
        for off in range(0, min(length, n - len(out)), 8):
            size = min(8, length - off, n - len(out))
            value = yield Load(addr + off, size)
            assert value is not None
            out += value.to_bytes(size, "little")
        if len(out) >= n:
            break
    return bytes(out)


def inside(segs: list[Segment], addr: int, size: int) -> bool:
    return any(a <= addr and addr + size <= a + n for a, n in segs)


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


class RingMachine(DriverDeviceMachine):
    """The split ring's driver and device over one SharedMemory (see the module's text)."""

    OUT_OF_BOUNDS_REQ = "RING-SPLIT-082"
    NO_LOSS_REQ = "RING-SPLIT-092"
    cfg: ClassVar[RingConfig] = RingConfig()
    record: ClassVar[RunRecord] = RunRecord()

    # -- set-up --------------------------------------------------------------------------
    @initialize(data=st.data())
    @guarded
    def setup(self, data: st.DataObject) -> None:
        cfg = self.cfg
        q = data.draw(st.sampled_from(cfg.sizes), label="Q")
        start = data.draw(st.sampled_from(cfg.starts), label="start index")
        indirect = data.draw(st.sampled_from(cfg.indirect), label="indirect")
        self.build(q, start, indirect)

    def build(self, q: int, start: int, indirect: bool) -> None:
        """Lay out memory for queue size ``q``, both sides with indices at ``start``."""
        cfg = self.cfg
        self.q, self.event_idx = q, cfg.event_idx
        lay = self.lay = SplitLayout.packed_at(0, q)
        self.ind_area = (lay.end + 15) & ~15
        ind_size = q * INDIRECT_MAX * DESC_SIZE if indirect else 0
        self.data_area = self.ind_area + ind_size
        size = self.data_area + (q + 1) * SLOT
        names = ring_names(lay)
        if indirect:
            for h in range(q):
                name_table(names, self.ind_area + h * INDIRECT_MAX * DESC_SIZE, INDIRECT_MAX,
                           f"ind{h}")
        for s in range(q + 1):
            names.region(self.data_area + s * SLOT, SLOT, f"buf{s}")
        self.guest = GuestMemory(size)
        self.shm = SharedMemory(self.guest, cfg.mode, names)
        self.dside, self.vside = self.shm.side("driver"), self.shm.side("device")
        self.drv = cfg.driver_cls(lay, event_idx=cfg.event_idx,
                                  indirect_area=self.ind_area if indirect else None,
                                  indirect_max=INDIRECT_MAX)
        self.dev = cfg.device_cls(lay, size, event_idx=cfg.event_idx, indirect=indirect)
        run(self.drv.init(), self.guest)
        run(self.dev.init(), self.guest)
        # start the free-running indices at `start` on both sides and in memory
        self.drv.avail_idx = self.drv.last_used = start
        self.dev.last_avail = self.dev.used_idx = start
        for addr in (lay.avail_idx, lay.used_idx, lay.used_event, lay.avail_event):
            self.guest.write(addr, 2, start)
        # the abstract model
        self.next_token = 1
        self.free_slots = list(range(q + 1))
        self.bufs: dict[int, Buf] = {}  # added, not yet taken back
        self.avail_fifo: deque[int] = deque()  # tokens made available, in order
        self.used_fifo: deque[tuple[int, int]] = deque()  # (token, len) pushed, in order
        self.owned: dict[int, int] = {}  # descriptor -> token of the outstanding chain
        self.dev_inflight: dict[int, Buf] = {}  # popped, not pushed
        self.filling: Buf | None = None
        self.avail_pub = self.avail_cons = self.used_pub = self.used_cons = start
        self.undecided = 0  # chains added since the driver's last kick decision
        self.cb_enabled = True
        self.arm = "normal"  # how the driver last asked for interrupts: normal or delayed
        self.shm.watchers.append(self._watch)
        self.shm.note("env", f"Q={q} start={start} {cfg.mode} "
                      f"{'event_idx' if cfg.event_idx else 'flags'}"
                      f"{' indirect' if indirect else ''}")
        self.ready = True

    # -- rules: starting operations ------------------------------------------------------
    @precondition(lambda m: m.ready and not m.dside.busy)
    @rule(shape=st.lists(st.tuples(st.booleans(), st.integers(1, MAX_BUF)),
                         min_size=1, max_size=3),
          kick=st.booleans(), run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_add(self, shape: list[tuple[bool, int]], kick: bool, run: str) -> None:
        self._start(self.dside, self._add(shape, kick), f"add{' + kick' if kick else ''}",
                    run)

    @precondition(lambda m: m.ready and not m.dside.busy and m.undecided > 0)
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_kick(self, run: str) -> None:
        self._start(self.dside, self._kick(), "kick", run)

    @precondition(lambda m: m.ready and not m.dside.busy)
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_get(self, run: str) -> None:
        self._start(self.dside, self._get(), "get", run)

    @precondition(lambda m: m.ready and not m.dside.busy and m.cb_enabled)
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_disable_cb(self, run: str) -> None:
        self._start(self.dside, self._disable_cb(), "disable_cb", run)

    @precondition(lambda m: m.ready and not m.dside.busy)
    @rule(delayed=st.booleans(), run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_sleep(self, delayed: bool, run: str) -> None:
        delayed = delayed and self.event_idx
        self._start(self.dside, self._sleep(delayed),
                    "enable_cb_delayed, sleep" if delayed else "enable_cb, sleep", run)

    @precondition(lambda m: m.ready and not m.dside.busy and m.cb_enabled)
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_isr_sleep(self, run: str) -> None:
        self._start(self.dside, self._isr_sleep(), "get, sleep if none", run)

    @precondition(lambda m: m.ready and not m.vside.busy)
    @rule(batch=st.integers(1, 4), nbytes=st.integers(0, 3 * MAX_BUF), disable=st.booleans(),
          run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def device_serve(self, batch: int, nbytes: int, disable: bool, run: str) -> None:
        self._start(self.vside, self._serve(batch, nbytes, disable), f"serve {batch}", run)

    # -- driver operations ---------------------------------------------------------------
    def _add(self, shape: list[tuple[bool, int]], kick: bool) -> Program[None]:
        items = sorted(shape, key=lambda t: t[0])[: self.q]  # readable first: RING-SPLIT-011
        token = self.next_token
        self.next_token += 1
        slot = self.free_slots[0]
        at = self.data_area + slot * SLOT
        out: list[Segment] = []
        in_: list[Segment] = []
        for writable, n in items:
            (in_ if writable else out).append((at, n))
            at += n
        buf = Buf(token, slot, out, in_, out_pattern(token, sum(n for _, n in out)))
        self.filling = buf
        yield from write_segments(out, buf.out_data)
        self.filling = None
        self.avail_fifo.append(token)
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

    def _kick(self) -> Program[None]:
        need = yield from self.drv.kick_prepare()
        self.undecided = 0
        self.shm.note("driver", f"kick_prepare -> {need}")
        if need:
            yield Notify("device", "kick")

    def _get(self) -> Program[bool]:
        got = yield from self.drv.get_used()
        if got is None:
            self.shm.note("driver", "get_used -> none")
            return False
        token, length = got
        self.shm.note("driver", f"get_used -> t{token} len {length}")
        if not self.used_fifo:
            raise Violation("RING-SPLIT-092", f"driver got {token!r} back, the device used nothing")
        want = self.used_fifo.popleft()
        if (token, length) != want:
            raise Violation("RING-SPLIT-092", f"driver got (t{token}, len {length}) back, the "
                            f"device used (t{want[0]}, len {want[1]}) next")
        self.used_cons = (self.used_cons + 1) & U16
        if self.event_idx and self.cb_enabled:
            self.arm = "normal"  # get_used asked for the next entry (RING-SPLIT-051)
        buf = self.bufs.pop(want[0])  # == token (checked above)
        data = yield from read_segments(buf.in_, length)
        if data != buf.reply[:length]:
            raise Violation("RING-SPLIT-041", f"driver read {data.hex()} from t{token}, the "
                            f"device wrote {buf.reply[:length].hex()}")
        for d in buf.descs:
            del self.owned[d]
        self.free_slots.append(buf.slot)
        self._count("buffers returned")
        return True

    def _disable_cb(self) -> Program[None]:
        yield from self.drv.disable_cb()
        self.cb_enabled = False

    def _sleep(self, delayed: bool) -> Program[None]:
        self.dside.consume("irq")  # the ring is re-checked below before sleeping
        if self.undecided:
            yield from self._kick()
        if delayed:
            pending = yield from self.drv.enable_cb_delayed()
        else:
            pending = yield from self.drv.enable_cb()
        self.cb_enabled, self.arm = True, "delayed" if delayed else "normal"
        self.shm.note("driver", f"{'enable_cb_delayed' if delayed else 'enable_cb'} -> {pending}")
        if not pending:
            yield Wait("irq")

    def _isr_sleep(self) -> Program[None]:
        self.dside.consume("irq")
        if self.undecided:
            yield from self._kick()
        if not (yield from self._get()):
            yield Wait("irq")

    # -- device operations ---------------------------------------------------------------
    def _serve_batch(self, batch: int, nbytes: int) -> Program[bool]:
        dev = self.dev
        done: list[tuple[int, int, Buf]] = []
        for _ in range(batch):
            chain = yield from dev.pop()
            if chain is None:
                self.shm.note("device", "pop -> none")
                break
            buf = self._popped(chain)
            data = yield from dev.read_chain(chain)
            if data != buf.out_data:
                raise Violation("RING-SPLIT-013", f"device read {data.hex()} from t{buf.token}, "
                                f"the application wrote {buf.out_data.hex()}")
            reply = reply_pattern(buf.token, min(nbytes, chain.writable_len))
            self.dev_inflight[buf.token] = buf
            written = yield from dev.write_chain(chain, reply)
            buf.reply = reply[:written]
            done.append((chain.head, written, buf))
        if not done:
            return False
        for _, written, buf in done:
            self.used_fifo.append((buf.token, written))
            del self.dev_inflight[buf.token]
        yield from dev.push([(head, written) for head, written, _ in done])
        notify = yield from dev.should_notify()
        self.shm.note("device", f"should_notify -> {notify}")
        if notify:
            yield Notify("driver", "irq")
        return True

    def _serve(self, batch: int, nbytes: int, disable: bool) -> Program[None]:
        self.vside.consume("kick")  # the ring is re-checked below before sleeping
        if disable:
            yield from self.dev.disable_notify()
        if (yield from self._serve_batch(batch, nbytes)):
            return
        pending = yield from self.dev.enable_notify()
        self.shm.note("device", f"enable_notify -> {pending}")
        if not pending:
            yield Wait("kick")

    def _popped(self, chain: Chain) -> Buf:
        if not self.avail_fifo:
            raise Violation("RING-SPLIT-092", f"device popped head {chain.head}, nothing was "
                            "made available")
        token = self.avail_fifo.popleft()
        buf = self.bufs.get(token)
        self.shm.note("device", f"pop -> head {chain.head}")
        if buf is None or (chain.head, chain.readable, chain.writable) != (buf.head, buf.out,
                                                                           buf.in_):
            want = (buf.head, buf.out, buf.in_) if buf else None
            raise Violation("RING-SPLIT-092", f"device popped {chain}, the driver made "
                            f"available t{token} = {want} next")
        self.avail_cons = (self.avail_cons + 1) & U16
        return buf

    # -- store ownership (checked as each store is issued) -------------------------------
    def _watch(self, side: Side, action: Action) -> None:
        if isinstance(action, Store):
            if side is self.dside:
                self._driver_store(action)
            else:
                self._device_store(action)

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
        d, v = self.dside, self.vside
        driver_done = ((not d.busy or d.asleep) and self.undecided == 0 and not d.buffer)
        if v.asleep and driver_done and self.avail_pub != self.avail_cons:
            raise Violation("RING-SPLIT-110", f"device asleep, no kick pending, "
                            f"avail.idx={self.avail_pub} but the device consumed up to "
                            f"{self.avail_cons}")
        device_done = not v.buffer and (v.asleep or (not v.busy and self.arm == "normal"))
        if d.asleep and device_done and self.used_pub != self.used_cons:
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
    base = RmoRingMachine if cfg.mode in LOAD_REORDERING else RingMachine
    return bind(name, (base,), cfg)


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
