"""The packed ring under interleaving: a driver and a device stepped one access at a time.

A Hypothesis :class:`PackedMachine` runs a :class:`PackedDriver` and a :class:`PackedDevice`
(or known-bad subclasses of them, models/ring/packed/mutants.py) as two sides of a
:class:`~tso.SharedMemory` in SC, x86-TSO, PSO or RMO mode, exactly as
models/ring/machine.py does for the split ring. Each run draws the queue size (1 to 4, not
only powers of 2: RING-PACKED-002), whether VIRTIO_F_EVENT_IDX (DESC suppression) and
VIRTIO_F_INDIRECT_DESC are negotiated. Each side runs one *operation* at a time, a short
program over the reference's own methods:

* driver: ``add`` (the application fills the readable bytes, then ``add`` and maybe the kick),
  ``kick`` (``kick_prepare``, then the kick), ``get`` (``get_used``, then it reads back the
  bytes the device wrote), ``disable_cb``, ``sleep`` (``enable_cb``, and sleep until an
  interrupt unless it reports a used buffer) and ``isr_sleep`` (with callbacks enabled:
  ``get_used`` and sleep if it finds nothing);
* device: ``serve`` (take a pending kick; maybe ``disable_notify``; ``pop`` up to a batch of
  lists, check and read each, write some bytes; then ``push`` the lists it holds, all but the
  ``keep`` last popped, in a rotated order: out-of-order completion, RING-PACKED-011; then
  ``should_notify`` and interrupt; or, if it did nothing, ``enable_notify`` and sleep until a
  kick unless it reports a list).

The schedule is Hypothesis's choice at every rule, as in the split machine: start an
operation, step a side once, run it for a burst, up to just after its next load, or to the
end of its operation, let one buffered store reach memory; under RMO
(:class:`RmoPackedMachine`) also satisfy a load early. Notifications are performed only with
the sender's store buffer empty (RING-SPLIT-074) and stay pending until the peer's next
operation that re-checks the ring takes them.

Checked at every store, as it is issued (ownership):

* RING-PACKED-023, RING-PACKED-032: the driver writes a ring descriptor only at the positions
  of the list it is adding, with room for all of them; never an indirect table or a buffer of
  an outstanding list;
* RING-PACKED-033: the first descriptor's ``flags`` is the last ``flags`` of the list stored;
* RING-PACKED-022, RING-PACKED-026: the device writes the ring only at the used positions of
  the lists it is pushing (each skipping its list's descriptors), each ``flags`` once;
* RING-PACKED-020: the device writes only to writable buffers of lists it holds;
* RING-PACKED-060, RING-PACKED-061: each event-suppression structure has one writer.

Checked after every step (invariants) and at the end of the operations:

* RING-PACKED-090: outstanding descriptors never exceed Q, on either side;
* RING-PACKED-092 (refinement of an abstract FIFO), RING-PACKED-010, RING-PACKED-011,
RING-PACKED-034: the device pops
  exactly the lists the driver added, in order, with their buffers and buffer IDs, and reads
  the bytes the application wrote; the driver gets each token back once, in the order the
  device pushed, with the ``len`` the device wrote, and reads back those bytes
  (RING-PACKED-027);
* RING-PACKED-110: the device never sleeps, with no kick pending, while the driver (done with
  its decisions, its stores in memory) has made available lists the device has not taken;
* RING-PACKED-111: the driver never sleeps, with no interrupt pending, while used descriptors
  it has not taken are in memory and the device is done.

At the end of every run both sides finish, the device serves everything, the driver takes
everything back: no buffer is lost (RING-PACKED-092). The barriers (RING-PACKED-050,
RING-PACKED-051, RING-PACKED-052, RING-PACKED-053, RING-PACKED-054, RING-PACKED-055)
are what keep these true under PSO and RMO; the variants without them are caught there.
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
from virtiospec.models.ring.packed.names import packed_names, packed_table
from virtiospec.reference.access import Store
from virtiospec.reference.ring import Chain, PackedDevice, PackedDriver, PackedLayout, QueueFull
from virtiospec.reference.ring.packed.layout import DESC_FLAGS, EVENT_SIZE, PACKED_DESC_SIZE


@dataclass
class PBuf:
    """A list as the harness knows it: what the driver gave and what the device wrote."""

    token: int
    slot: int
    out: list[Segment]
    in_: list[Segment]
    out_data: bytes
    ndesc: int  # ring descriptors the list occupies (RING-PACKED-026)
    start: int = -1  # unbounded index of its first ring position
    id: int = -1  # the buffer ID the driver gave it
    reply: bytes = b""


@dataclass
class Adding:
    """The list the driver is adding: where its ring descriptors must go."""

    start: int
    ndesc: int
    flags_stored: set[int] = field(default_factory=set)  # offsets k whose flags were stored


@dataclass(frozen=True)
class PackedConfig:
    """What a machine runs: memory model, the two classes, sizes and features to draw."""

    mode: Mode = "sc"
    driver_cls: type[PackedDriver] = PackedDriver
    device_cls: type[PackedDevice] = PackedDevice
    sizes: tuple[int, ...] = (1, 2, 3, 4)
    event_idx: tuple[bool, ...] = (False, True)
    indirect: tuple[bool, ...] = (False, True)
    steps: int = 100


class PackedMachine(RingOpsMachine):
    """The packed ring's driver and device over one SharedMemory (see the module's text)."""

    OUT_OF_BOUNDS_REQ = "RING-PACKED-083"
    NO_LOSS_REQ = "RING-PACKED-092"
    READ_BACK_REQ = "RING-PACKED-027"
    POP_WORD = "ID"
    cfg: ClassVar[PackedConfig] = PackedConfig()
    record: ClassVar[RunRecord] = RunRecord()

    # -- set-up (the rule: models/ring/machine_ops.py) -------------------------------------
    def _draws(self) -> Draws:
        return (("Q", self.cfg.sizes), ("event_idx", self.cfg.event_idx),
                ("indirect", self.cfg.indirect))

    def build(self, q: int, event_idx: bool, indirect: bool) -> None:
        """Lay out memory for a fresh queue of size ``q``; both sides initialise it."""
        cfg = self.cfg
        self.q, self.event_idx, self.indirect = q, event_idx, indirect
        lay = self.lay = PackedLayout.packed_at(0, q)
        self._lay_out(lay, PACKED_DESC_SIZE, packed_names(lay), packed_table, event_idx,
                      indirect)
        # the abstract model; positions are unbounded indices (position n % Q, lap n // Q)
        self.bufs: dict[int, PBuf] = {}  # added, not yet taken back
        self.avail_fifo: deque[int] = deque()  # tokens made available, not yet popped
        self.used_fifo: deque[tuple[int, int]] = deque()  # (token, len) pushed, not taken
        self.pub = 0  # ring positions made available
        self.ret = 0  # ring positions the driver took back
        self.used_at = 0  # where the device writes its next used descriptor
        self.adding: Adding | None = None
        self.pushing: dict[int, int] = {}  # ring position -> token, during a push
        self.pushed_flags: set[int] = set()
        self.dev_held: list[tuple[int, int, PBuf]] = []  # (ID, len written, buf) popped
        self.shm.watchers.append(self._watch)
        self.shm.note("env", f"Q={q} {cfg.mode} {'DESC' if event_idx else 'flags'}"
                      f"{' indirect' if indirect else ''}")
        self.ready = True

    # -- rules: starting operations (the rest: models/ring/machine_ops.py) ---------------
    @precondition(lambda m: m.ready and not m.dside.busy)
    @rule(run=RUN)
    @guarded
    def driver_sleep(self, run: str) -> None:
        self._start(self.dside, self._sleep(), "enable_cb, sleep", run)

    @precondition(lambda m: m.ready and not m.vside.busy)
    @rule(batch=st.integers(0, 3), nbytes=st.integers(0, 3 * MAX_BUF), disable=st.booleans(),
          keep=st.integers(0, 2), rot=st.integers(0, 3), run=RUN)
    @guarded
    def device_serve(self, batch: int, nbytes: int, disable: bool, keep: int, rot: int,
                     run: str) -> None:
        self._start(self.vside,
                    self._serve_or_sleep(disable, self._serve_batch(batch, nbytes, keep, rot)),
                    f"serve {batch}, keep {keep}", run)

    # -- driver operations ---------------------------------------------------------------
    def _add(self, shape: list[tuple[bool, int]], kick: bool) -> Program[None]:
        token, slot, out, in_ = self._buffers(shape)
        nbufs = len(out) + len(in_)
        ndesc = 1 if self.indirect and 1 < nbufs <= INDIRECT_MAX else nbufs
        buf = PBuf(token, slot, out, in_, out_pattern(token, sum(n for _, n in out)), ndesc)
        yield from self._fill(buf)
        self.adding = Adding(self.pub, ndesc)
        try:
            buf_id = yield from self.drv.add(out, in_, token)
        except QueueFull:
            self.avail_fifo.pop()
            self.adding = None
            if self.pub + ndesc - self.ret <= self.q:
                self._count("queue full with room (liveness only)")
            self._count("queue full")
            self.shm.note("driver", "add -> queue full")
            return
        self.adding = None
        if any(b.id == buf_id for b in self.bufs.values()):
            raise Violation("RING-PACKED-025", f"ID {buf_id} given to t{token} while an "
                            "outstanding list has it")
        buf.id, buf.start = buf_id, self.pub
        self.free_slots.remove(slot)
        self.bufs[token] = buf
        if (self.pub + ndesc) // self.q != self.pub // self.q:
            self._count("driver wrapped")
        self.pub += ndesc
        self.undecided += 1
        self.shm.note("driver", f"add -> ID {buf_id} (t{token}, {ndesc} descriptors)")
        if kick:
            yield from self._kick()

    def _took(self, buf: PBuf) -> None:
        self.ret += buf.ndesc

    def _sleep(self) -> Program[None]:
        yield from self._before_sleep()
        pending = yield from self.drv.enable_cb()
        self.cb_enabled = True
        self.shm.note("driver", f"enable_cb -> {pending}")
        if not pending:
            yield Wait("irq")

    # -- device operations ---------------------------------------------------------------
    def _serve_batch(self, batch: int, nbytes: int, keep: int, rot: int) -> Program[bool]:
        dev = self.dev
        popped = 0
        for _ in range(batch):
            got = yield from self._pop_one(nbytes, "RING-PACKED-092")
            if got is None:
                break
            chain, buf, written = got
            self.dev_held[-1] = (chain.head, written, buf)
            popped += 1
        cut = max(len(self.dev_held) - keep, 0)
        done, self.dev_held = self.dev_held[:cut], self.dev_held[cut:]
        if done:
            r = rot % len(done)
            done = done[r:] + done[:r]  # completion order differs from pop order
            if r:
                self._count("out of order")
            self.pushing, self.pushed_flags = {}, set()
            at = self.used_at
            for _, written, buf in done:
                self.pushing[at % self.q] = buf.token
                self.used_fifo.append((buf.token, written))
                at += buf.ndesc
            yield from dev.push([(i, written) for i, written, _ in done])
            self.pushing = {}
            self.used_at = at
            yield from self._interrupt()
        return bool(popped or done)

    def _buf_id(self, buf: PBuf) -> int:
        return buf.id

    def _hold(self, chain: Chain, buf: PBuf) -> None:
        self.dev_held.append((chain.head, 0, buf))  # its writes are checked against it

    def _popped(self, chain: Chain) -> PBuf:
        return cast(PBuf, self._next_available(chain)[1])

    # -- store ownership (checked as each store is issued) -------------------------------
    def _driver_store(self, st_: Store) -> None:
        lay, a, q = self.lay, st_.addr, self.q
        name = self.shm.names(a)
        pos = lay.position_of(a)
        if pos is not None:
            adding = self.adding
            if adding is None:
                raise Violation("RING-PACKED-023", f"driver wrote {name} outside an add")
            k = (pos - adding.start) % q
            if k >= adding.ndesc:
                raise Violation("RING-PACKED-023", f"driver wrote {name}, not a position of "
                                f"the list it adds ({adding.start % q}, +{adding.ndesc})")
            if adding.start + adding.ndesc - self.ret > q:
                raise Violation("RING-PACKED-032", f"driver wrote {name} with only "
                                f"{q - (adding.start - self.ret)} positions free for "
                                f"{adding.ndesc}")
            if a - lay.desc_addr(pos) == DESC_FLAGS:
                if k == 0 and len(adding.flags_stored) < adding.ndesc - 1:
                    raise Violation("RING-PACKED-033", f"driver stored {name}, the first "
                                    "descriptor's flags, before the rest of the list")
                adding.flags_stored.add(k)
        elif self.lay.driver_event <= a < self.lay.driver_event + EVENT_SIZE:
            pass
        elif self.lay.device_event <= a < self.lay.device_event + EVENT_SIZE:
            raise Violation("RING-PACKED-061", f"driver wrote {name}, the device's structure")
        elif self.ind_area <= a < self.data_area:
            i = (a - self.ind_area) // (INDIRECT_MAX * PACKED_DESC_SIZE)
            owner = next((b.token for b in self.bufs.values() if b.id == i), None)
            if owner is not None:
                raise Violation("RING-PACKED-023", f"driver wrote {name}, the indirect table "
                                f"of outstanding t{owner}")
            if self.adding is None:
                raise Violation("RING-PACKED-023", f"driver wrote {name} outside an add")
        elif a >= self.data_area:
            buf = self.filling
            if buf is None or not inside(buf.out, a, st_.size):
                raise Violation("RING-PACKED-023", f"driver wrote {name}, not a buffer it "
                                "fills")
        else:
            raise Violation("RING-PACKED-003", f"driver wrote {name}")

    def _device_store(self, st_: Store) -> None:
        lay, a = self.lay, st_.addr
        name = self.shm.names(a)
        pos = lay.position_of(a)
        if pos is not None:
            if pos not in self.pushing:
                raise Violation("RING-PACKED-022", f"device wrote {name}, not the used "
                                "position of a list it is pushing")
            if a - lay.desc_addr(pos) == DESC_FLAGS:
                if pos in self.pushed_flags:
                    raise Violation("RING-PACKED-022", f"device changed {name} again")
                self.pushed_flags.add(pos)
        elif lay.device_event <= a < lay.device_event + EVENT_SIZE:
            pass
        elif lay.driver_event <= a < lay.driver_event + EVENT_SIZE:
            raise Violation("RING-PACKED-060", f"device wrote {name}, the driver's structure")
        elif not any(inside(b.in_, a, st_.size) for _, _, b in self.dev_held):
            raise Violation("RING-PACKED-020", f"device wrote {name}, not a writable buffer "
                            "of a list it holds")

    # -- invariants ----------------------------------------------------------------------
    @invariant()
    @guarded
    def accounting(self) -> None:
        """RING-PACKED-090."""
        if not self.ready:
            return
        q = self.q
        if not 0 <= self.pub - self.ret <= q:
            raise Violation("RING-PACKED-090", f"{self.pub - self.ret} outstanding, Q={q}")
        if not 0 <= self.drv.outstanding <= q or not 0 <= self.dev.held <= q:
            raise Violation("RING-PACKED-090", f"driver counts {self.drv.outstanding} "
                            f"outstanding, device holds {self.dev.held}, Q={q}")

    @invariant()
    @guarded
    def no_lost_wakeup(self) -> None:
        """RING-PACKED-110 and RING-PACKED-111."""
        if not self.ready:
            return
        asleep = self._asleep_with_work(bool(self.avail_fifo), bool(self.used_fifo))
        if asleep == "device":
            raise Violation("RING-PACKED-110", f"device asleep, no kick pending, "
                            f"{len(self.avail_fifo)} lists available it has not taken "
                            f"(t{self.avail_fifo[0]} first)")
        if asleep == "driver":
            raise Violation("RING-PACKED-111", f"driver asleep, no interrupt pending, "
                            f"{len(self.used_fifo)} used descriptors it has not taken "
                            f"(t{self.used_fifo[0][0]} first)")

    # -- the end of a run ----------------------------------------------------------------
    def _serve_all(self) -> Program[None]:
        while (yield from self._serve_batch(self.q, MAX_BUF, 0, 0)):
            pass


class RmoPackedMachine(PackedMachine, RmoDriverDeviceMachine):
    """The machine under rmo: its rules, and loads satisfied early (models/memory/tso.py)."""


def machine_class(cfg: PackedConfig) -> type[PackedMachine]:
    """A PackedMachine subclass bound to ``cfg``, with its own run record."""
    name = f"Packed_{cfg.mode}_{cfg.driver_cls.__name__}_{cfg.device_cls.__name__}"
    return bind_mode(name, cfg.mode, cfg, PackedMachine, RmoPackedMachine)


def run_packed(cfg: PackedConfig, max_examples: int, *, derandomize: bool = False,
               shrink: bool = True, shrink_seconds: float | None = 20.0) -> registry.Evidence:
    """Run the machine for ``cfg``; ok=True when every run keeps every invariant."""
    return run_bound(machine_class(cfg), cfg.steps, max_examples, derandomize=derandomize,
                     shrink=shrink, shrink_seconds=shrink_seconds)


REQS = ("RING-PACKED-010", "RING-PACKED-011", "RING-PACKED-012", "RING-PACKED-013",
        "RING-PACKED-014", "RING-PACKED-015", "RING-PACKED-020", "RING-PACKED-022",
        "RING-PACKED-023", "RING-PACKED-025", "RING-PACKED-026", "RING-PACKED-027",
        "RING-PACKED-032", "RING-PACKED-033", "RING-PACKED-034", "RING-PACKED-051",
        "RING-PACKED-053", "RING-PACKED-060", "RING-PACKED-061", "RING-PACKED-062",
        "RING-PACKED-063", "RING-PACKED-064", "RING-PACKED-070", "RING-PACKED-071",
        "RING-PACKED-090", "RING-PACKED-092", "RING-PACKED-110", "RING-PACKED-111",
        "RING-SPLIT-074")
STORE_ORDER_REQS = (*REQS, "RING-PACKED-050", "RING-PACKED-052")
RMO_REQS = (*STORE_ORDER_REQS, "RING-PACKED-054", "RING-PACKED-055")
_REQS: dict[Mode, tuple[str, ...]] = {"sc": REQS, "tso": REQS, "pso": STORE_ORDER_REQS,
                                     "rmo": RMO_REQS}


def _register(name: str, mode: Mode) -> None:
    where, reqs = WHERE[mode], _REQS[mode]

    @registry.check(name, reqs,
                    f"packed ring: driver and device interleaved access by access over "
                    f"{where}, Q in 1..4, ENABLE/DISABLE or DESC, direct or indirect lists, "
                    "out-of-order completion")
    def check(n: int) -> registry.Evidence:
        return run_packed(PackedConfig(mode=mode), n)


# name, memory model
_CHECKS: tuple[tuple[str, Mode], ...] = (
    ("ring.packed.sc", "sc"),
    ("ring.packed.tso", "tso"),
    ("ring.packed.pso", "pso"),
    ("ring.packed.rmo", "rmo"),
)
PACKED_MODES: tuple[Mode, ...] = tuple(_mode for _, _mode in _CHECKS)
for _name, _mode in _CHECKS:
    _register(_name, _mode)
