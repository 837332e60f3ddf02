"""Shared memory as two processors see it: SC, x86-TSO and PSO store buffers, and RMO (PSO
stores plus loads satisfied early).

Any code that follows the access protocol of :mod:`virtiospec.reference.access` (rings now,
shared-memory tables and signals later) can be stepped here one access at a time. Each
processor is a :class:`Side` of a :class:`SharedMemory`; a side runs one *program* at a time
(a generator yielding :class:`Load`, :class:`Store`, :class:`Fence`, and the two notification
actions below) and :meth:`Side.step` performs exactly one of its accesses.

Memory models (the ``mode`` of a :class:`SharedMemory`):

``sc``
    Sequential consistency: a store reaches memory when it is performed.
``tso``
    x86-TSO, the model of spec/ring.md: a side's stores enter its private FIFO store
    buffer and reach memory later, oldest first (:meth:`Side.drain_one`); a load returns, byte
    by byte, the newest store of the side's own buffer that covers the byte, else memory; an
    ``mb`` can only be performed once the buffer is empty; ``wmb`` and ``rmb`` are no-ops.
``pso``
    Partial store order, *deliberately weaker than x86*: like ``tso`` except that buffered
    stores may reach memory in any order, save that a store never overtakes an older store
    issued before a ``wmb`` or ``mb`` of the same side, and stores to overlapping bytes keep
    their order. x86 never reorders stores, so a missing ``wmb`` (RING-SPLIT-032,
    RING-SPLIT-043) cannot be observed under ``tso``; under ``pso`` it can.

``rmo``
    Relaxed memory order, *ARM-like*: ``pso`` stores, and loads that may be *satisfied early*,
    so that a load can return an older value than a load before it. Memory keeps, for every
    byte, the history of the values drains wrote to it, on a clock that ticks at each drain
    (``SharedMemory.clock``). A load is performed *at* a time ``t`` chosen between its
    side's lower bound and now: it returns, for every byte not forwarded from the side's own
    buffer, the value the byte had at ``t`` (all bytes at one ``t``: single-copy atomic). The
    lower bound is the larger of

    * the side's ``floor``: ``mb`` raises it to now (the buffer is empty then, so every
      earlier store is in memory); ``rmb`` raises it to the latest time at which an earlier
      load of the side was performed (load-load order); taking a notification (:class:`Wait`
      woken or already pending, :meth:`Side.consume`, :meth:`Side.acquire`) raises it to now
      (an acquire: the notifier's stores drained before it posted);
    * per byte, the time at which the side last read it or its own store to it drained
      (coherence: a side never reads a byte older than a value it has seen or written).

    A load reads at the earliest time consistent with the value it returns (the start of the
    run of that value, or the lower bound), which is the weakest constraint it leaves on the
    loads after an ``rmb``. :meth:`Side.step` reads the newest value by default (as ``pso``);
    ``step(early=k)`` returns the ``k``-th older distinct value the load may return
    (:meth:`Side.early_choices` counts them). Loads are never performed later than a store
    after them in program order reaches memory (a store drains after it was issued), and
    there are no address dependencies (as on Alpha): only ``rmb``/``mb`` order loads.
    ``wmb`` orders stores only. A missing ``rmb`` (RING-SPLIT-075, RING-SPLIT-076,
    SHM-TABLE-006) is observable here and under no other mode: ``sc``, ``tso`` and ``pso``
    never reorder loads.

Under ``rmo`` guest memory must change only through drains once the sides run (write the
initial contents before): the byte histories are recorded at each drain.

Notifications: a program yields :class:`Notify` to post a named notification to another side
(a kick, an interrupt). The transport orders it after every store its sender issued before it
(RING-SPLIT-074), so a :class:`Notify` can only be performed with an empty store buffer. A
program yields :class:`Wait` to sleep until a notification of that name is posted to its
side; one that is already pending is consumed at once (no sleep).

Every performed access, drain and notification is logged as a :class:`~registry.Step` with
the field names of an :class:`AddressNames` map, so a failing interleaving reads like the spec.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

from virtiospec.models.registry import Step
from virtiospec.reference.access import Fence, GuestMemory, Load, Store

T = TypeVar("T")
Mode = Literal["sc", "tso", "pso", "rmo"]
MODES: tuple[Mode, ...] = ("sc", "tso", "pso")  # the models that never reorder loads
ALL_MODES: tuple[Mode, ...] = (*MODES, "rmo")
STORE_REORDERING: frozenset[Mode] = frozenset({"pso", "rmo"})
LOAD_REORDERING: frozenset[Mode] = frozenset({"rmo"})


@dataclass(frozen=True, slots=True)
class Notify:
    """Post notification ``what`` to side ``to``; performed only with an empty store buffer
    (RING-SPLIT-074)."""

    to: str
    what: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Sleep until notification ``what`` is posted to this side, then consume it."""

    what: str


Action: TypeAlias = Load | Store | Fence | Notify | Wait
Program: TypeAlias = Generator[Action, int | None, T]


@dataclass(slots=True)
class Buffered:
    """A store in a store buffer; ``epoch`` counts the side's wmb/mb issued before it."""

    addr: int
    size: int
    value: int
    epoch: int

    def overlaps(self, other: Buffered) -> bool:
        return self.addr < other.addr + other.size and other.addr < self.addr + self.size


class AddressNames:
    """Readable names of guest addresses: ``avail.idx``, ``desc[2].len``, ``buf3+8``."""

    def __init__(self) -> None:
        self._exact: dict[int, str] = {}
        self._starts: list[int] = []
        self._regions: list[tuple[int, int, str]] = []

    def field(self, addr: int, name: str) -> None:
        """Name the field that starts at ``addr``."""
        self._exact[addr] = name

    def region(self, addr: int, size: int, name: str) -> None:
        """Name a region; an address inside it reads ``name+offset``."""
        at = bisect.bisect(self._starts, addr)
        self._starts.insert(at, addr)
        self._regions.insert(at, (addr, size, name))

    def __call__(self, addr: int) -> str:
        name = self._exact.get(addr)
        if name is not None:
            return name
        at = bisect.bisect(self._starts, addr) - 1
        while at >= 0:
            start, size, rname = self._regions[at]
            if start <= addr < start + size:
                return f"{rname}+{addr - start}" if addr > start else rname
            at -= 1
        return f"[{addr:#x}]"


def _show(value: int, size: int) -> str:
    """Indices and flags (1 or 2 bytes) in decimal, like the spec; wider values over 4095
    (addresses, buffer contents) in hex."""
    return str(value) if size <= 2 or value < 4096 else hex(value)


Watcher = Callable[["Side", Action], None]


class SharedMemory:
    """Guest memory shared by named sides, each with its own store buffer (see module doc)."""

    def __init__(self, guest: GuestMemory, mode: Mode = "sc",
                 names: AddressNames | None = None) -> None:
        if mode not in ALL_MODES:
            raise ValueError(f"unknown memory model {mode!r}")
        self.guest = guest
        self.mode: Mode = mode
        self.names = names or AddressNames()
        self.sides: dict[str, Side] = {}
        self.log: list[Step] = []
        self.steps = 0  # accesses performed and stores drained
        self.stats: Counter[str] = Counter()
        self.watchers: list[Watcher] = []  # called before each action is performed
        self.clock = 0  # rmo: drains so far; a load is performed at a time <= clock
        self._history: dict[int, list[tuple[int, int]]] = {}  # rmo: byte -> (time, value)

    def side(self, name: str) -> Side:
        if name not in self.sides:
            self.sides[name] = Side(self, name)
        return self.sides[name]

    def read(self, addr: int, size: int) -> int:
        """Memory as it is, ignoring every store buffer (for invariants)."""
        return self.guest.read(addr, size)

    def value_at(self, addr: int, size: int, t: int) -> int:
        """rmo: the little-endian value of ``size`` bytes at ``addr`` as it was at time ``t``."""
        data = bytearray(self.guest.read_bytes(addr, size))
        for i in range(size):
            hist = self._history.get(addr + i)
            if hist is not None:
                data[i] = hist[bisect.bisect_right(hist, (t, 256)) - 1][1]
        return int.from_bytes(data, "little")

    def _changes(self, addrs: list[int], after: int) -> list[int]:
        """rmo: the times in ``(after, clock]`` at which a drain wrote one of ``addrs``."""
        out: set[int] = set()
        for a in addrs:
            hist = self._history.get(a)
            if hist is not None:
                at = bisect.bisect_right(hist, (after, 256))
                out.update(t for t, _ in hist[at:])
        return sorted(out)

    def _record(self, addr: int, size: int, value: int) -> None:
        """rmo: a drain writes memory at the next tick of the clock."""
        self.clock += 1
        old = self.guest.read_bytes(addr, size)
        new = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        for i in range(size):
            hist = self._history.get(addr + i)
            if hist is None:
                hist = self._history[addr + i] = [(0, old[i])]
            hist.append((self.clock, new[i]))

    def note(self, side: str, text: str) -> Step:
        """Log something that is not an access (a call, a result, an environment event)."""
        step = Step(side, text)
        self.log.append(step)
        return step

    def post(self, to: str, what: str, by: str) -> None:
        """Deliver notification ``what`` to side ``to`` (from another side or the environment)."""
        target = self.side(to)
        was_asleep = target.asleep
        target.pending.add(what)
        if was_asleep and not target.asleep:
            self.stats[f"{to} woken by {what}" if by != "env" else f"{to} woken by env"] += 1

    def drain_all(self) -> None:
        for side in self.sides.values():
            while side.buffer:
                side.drain_one()

    @property
    def buffered(self) -> bool:
        return any(side.buffer for side in self.sides.values())


class Side:
    """One processor: its store buffer, its pending notifications and its running program."""

    def __init__(self, mem: SharedMemory, name: str) -> None:
        self.mem = mem
        self.name = name
        self.buffer: list[Buffered] = []
        self.epoch = 0
        self.pending: set[str] = set()
        self.program: Program[object] | None = None
        self.next: Action | None = None  # the action step() performs
        self.result: object = None  # what the last program returned
        self.label = ""
        self.ops = 0  # accesses performed by the current program
        self._slept = False  # the current Wait found nothing pending
        # rmo: loads are performed at a time >= floor, and >= seen[byte] for each byte
        self.floor = 0
        self.seen: dict[int, int] = {}
        self.performed = 0  # rmo: the latest time at which a load of this side was performed

    # -- programs ----------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.program is not None

    @property
    def asleep(self) -> bool:
        """Blocked in a :class:`Wait` with no matching notification pending."""
        nxt = self.next
        return isinstance(nxt, Wait) and nxt.what not in self.pending

    def start(self, program: Program[object], label: str = "") -> None:
        """Run ``program`` up to its first action (it may finish, or raise, right away)."""
        if self.program is not None:
            raise RuntimeError(f"{self.name} is already running {self.label}")
        self.program, self.label, self.ops, self.result = program, label, 0, None
        if label:
            self.mem.note(self.name, f"{label}:")
        self._advance(None)

    def _advance(self, value: int | None) -> None:
        assert self.program is not None
        try:
            self.next = self.program.send(value)
        except StopIteration as done:
            self.program, self.next, self.result = None, None, done.value
            return
        except BaseException:
            self.program, self.next = None, None
            raise
        if isinstance(self.next, Wait) and self.next.what not in self.pending:
            self._slept = True
            self.mem.stats[f"{self.name} slept"] += 1
            self.mem.note(self.name, f"sleep until {self.next.what}")
        else:
            self._slept = False

    def consume(self, what: str) -> bool:
        """Take a pending notification without sleeping (a handler that then re-checks the
        shared memory before it sleeps, as vhost reads its eventfd or a driver acks its
        interrupt). Returns whether one was pending."""
        if what not in self.pending:
            return False
        self.pending.discard(what)
        self.mem.note(self.name, f"take pending {what}")
        self.floor = max(self.floor, self.mem.clock)  # rmo: an acquire
        return True

    def acquire(self, what: str) -> None:
        """rmo: the side takes notification ``what`` (delivered outside the programs): its
        later loads are performed after now. A no-op in the other modes."""
        if self.mem.mode in LOAD_REORDERING:
            self.floor = max(self.floor, self.mem.clock)
            self.mem.note(self.name, f"takes {what} (loads from now on see memory as of "
                          f"t={self.mem.clock})")

    def early_choices(self) -> int:
        """How many distinct values the next action could return: 1 unless it is a load
        under rmo that may be satisfied early (then ``step(early=k)``, ``k`` below this)."""
        nxt = self.next
        if not isinstance(nxt, Load) or self.mem.mode not in LOAD_REORDERING:
            return 1
        return len(self._candidates(nxt.addr, nxt.size))

    def enabled(self) -> bool:
        """Whether :meth:`step` can perform the next action now."""
        nxt = self.next
        if nxt is None:
            return False
        if isinstance(nxt, Fence):
            return nxt.kind != "mb" or not self.buffer
        if isinstance(nxt, Notify):
            return not self.buffer
        if isinstance(nxt, Wait):
            return nxt.what in self.pending
        return True

    def step(self, early: int = 0) -> Step:
        """Perform exactly one action of the running program, then run it up to the next.
        ``early``: under rmo, a load returns the ``early``-th older value it may (clamped to
        the oldest; 0 is the newest, as in the other modes, where it is ignored)."""
        if not self.enabled():
            raise RuntimeError(f"{self.name} cannot step now (next: {self.next})")
        action = self.next
        assert action is not None
        for watch in self.mem.watchers:
            watch(self, action)
        value, text = self.perform(action, early)
        step = self.mem.note(self.name, text)
        self._advance(value)
        return step

    def perform(self, action: Action, early: int = 0) -> tuple[int | None, str]:
        """Do one action now (it must be enabled); return the loaded value and its log text.
        This is the entry point for code that is stepped through callbacks instead of
        generators. ``early``: see :meth:`step`."""
        mem, names = self.mem, self.mem.names
        value: int | None = None
        if isinstance(action, Load):
            if mem.mode in LOAD_REORDERING:
                value, forwarded, at = self._load_rmo(action.addr, action.size, early)
            else:
                (value, forwarded), at = self._load(action.addr, action.size), None
            text = f"load {names(action.addr)} -> {_show(value, action.size)}"
            if forwarded:
                text += " (own buffer)"
                mem.stats["forwarded loads"] += 1
            if at is not None:
                text += f" (satisfied early: memory as of t={at}, now t={mem.clock})"
                mem.stats["loads satisfied early"] += 1
        elif isinstance(action, Store):
            mem.guest.check(action.addr, action.size)
            if mem.mode == "sc":
                mem.guest.write(action.addr, action.size, action.value)
                text = f"store {names(action.addr)} := {_show(action.value, action.size)}"
            else:
                self.buffer.append(Buffered(action.addr, action.size, action.value, self.epoch))
                text = (f"store {names(action.addr)} := {_show(action.value, action.size)}"
                        " (buffered)")
        elif isinstance(action, Fence):
            if action.kind == "mb" and self.buffer:
                raise RuntimeError("mb with a non-empty store buffer")
            if action.kind != "rmb":
                self.epoch += 1
            if action.kind == "mb":
                self.floor = max(self.floor, mem.clock)
            elif action.kind == "rmb":
                self.floor = max(self.floor, self.performed)
            text = action.kind
        elif isinstance(action, Notify):
            if self.buffer:
                raise RuntimeError("notification with a non-empty store buffer (RING-SPLIT-074)")
            target = mem.side(action.to)
            wakes = target.asleep and action.what == getattr(target.next, "what", None)
            mem.post(action.to, action.what, self.name)
            text = f"{action.what} -> {action.to}" + (" (wakes it)" if wakes else "")
        else:
            self.pending.discard(action.what)
            self.floor = max(self.floor, mem.clock)  # rmo: taking a notification acquires
            text = (f"woken by {action.what}" if self._slept
                    else f"{action.what} already pending: no sleep")
            self._slept = False
        mem.steps += 1
        self.ops += 1
        return value, text

    def _load(self, addr: int, size: int) -> tuple[int, bool]:
        guest = self.mem.guest
        if not self.buffer:
            return guest.read(addr, size), False
        data = bytearray(guest.read_bytes(addr, size))
        forwarded = False
        for b in self.buffer:  # oldest first, so the newest store of a byte wins
            lo, hi = max(addr, b.addr), min(addr + size, b.addr + b.size)
            if lo < hi:
                raw = b.value.to_bytes(b.size, "little")
                data[lo - addr : hi - addr] = raw[lo - b.addr : hi - b.addr]
                forwarded = True
        return int.from_bytes(data, "little"), forwarded

    # -- rmo: loads satisfied early ------------------------------------------------------
    def _own(self, addr: int, size: int) -> dict[int, int]:
        """Bytes of ``[addr, addr + size)`` the newest store of the own buffer covers."""
        out: dict[int, int] = {}
        for b in self.buffer:  # oldest first, so the newest store of a byte wins
            lo, hi = max(addr, b.addr), min(addr + size, b.addr + b.size)
            if lo < hi:
                raw = b.value.to_bytes(b.size, "little")
                for a in range(lo, hi):
                    out[a] = raw[a - b.addr]
        return out

    def _candidates(self, addr: int, size: int) -> list[tuple[int, int]]:
        """The (time, value) a load may return, newest first, one per run of equal values:
        the time is the earliest of the run at or after the load's lower bound."""
        mem = self.mem
        mem.guest.check(addr, size)
        own = self._own(addr, size)
        rest = [a for a in range(addr, addr + size) if a not in own]
        low = max([self.floor, *(self.seen.get(a, 0) for a in rest)])
        out: list[tuple[int, int]] = []
        for t in [low, *mem._changes(rest, low)]:
            data = bytearray(mem.value_at(addr, size, t).to_bytes(size, "little"))
            for a, byte in own.items():
                data[a - addr] = byte
            value = int.from_bytes(data, "little")
            if not out or out[-1][1] != value:
                out.append((t, value))
        out.reverse()
        return out

    def _load_rmo(self, addr: int, size: int, early: int) -> tuple[int, bool, int | None]:
        """A load under rmo: (value, forwarded, the past time it read at, or None if it
        returned the newest value)."""
        choices = self._candidates(addr, size)
        k = min(max(early, 0), len(choices) - 1)
        t, value = choices[k]
        own = self._own(addr, size)
        for a in range(addr, addr + size):
            if a not in own:
                self.seen[a] = max(self.seen.get(a, 0), t)
        self.performed = max(self.performed, t)
        return value, bool(own), (t if k else None)

    # -- store buffer ------------------------------------------------------------------
    def drainable(self) -> list[int]:
        """Positions in the buffer of the stores that may reach memory next."""
        if not self.buffer:
            return []
        if self.mem.mode not in STORE_REORDERING:
            return [0]
        first = self.buffer[0].epoch
        out = []
        for i, b in enumerate(self.buffer):
            if b.epoch != first:
                break
            if not any(b.overlaps(older) for older in self.buffer[:i]):
                out.append(i)
        return out

    def drain_one(self, k: int = 0) -> Step:
        """Let one buffered store reach memory: the oldest (tso), or eligible one number
        ``k`` modulo their count (pso, rmo)."""
        choices = self.drainable()
        if not choices:
            raise RuntimeError(f"{self.name} has nothing to drain")
        at = choices[k % len(choices)]
        if at:
            self.mem.stats["stores reordered"] += 1
        b = self.buffer.pop(at)
        if self.mem.mode in LOAD_REORDERING:
            self.mem._record(b.addr, b.size, b.value)
            for a in range(b.addr, b.addr + b.size):  # the side never reads older than this
                self.seen[a] = self.mem.clock
        self.mem.guest.write(b.addr, b.size, b.value)
        self.mem.steps += 1
        return self.mem.note(
            "memory", f"drain {self.mem.names(b.addr)} := {_show(b.value, b.size)} ({self.name})")
