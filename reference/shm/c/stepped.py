"""The C reference of the table and shm-signal (shm.c), stepped access by access like the
Python one, and its normal build.

The stepped build (reference/shm/c/build.py: ``-DVS_STEPPED``) sends every load, store and
barrier of shm.c to the callback ``vs_shm_py_access``. Here each C operation becomes an
``Op`` generator of the access protocol (reference/access.py) that yields a :class:`Load`,
:class:`Store` or :class:`Fence` per access of the C code, in its order, and sends a load's
value back to it. The C code addresses its region by offset (SHM-REGION-006); the generator
adds the region's base, so the addresses are those the Python reference yields. When the C
function returns, the generator returns its result (or raises the error of the Python
reference with the same ``req``).

The C code is not suspended between accesses: it is *replayed*. Its result depends only on
its private state and the values its loads return, so at each step the operation runs again
from a copy of the private state it started with; the callback answers the accesses already
answered (and checks that they come out the same) and stops the run (a longjmp in
shm_stepped.c) at the first new access, which the generator yields. An operation of ``n``
accesses costs ``n(n+1)/2`` callbacks and no thread; the shm operations are a few accesses
long. A generator closed mid-way leaves the private state as the C code left it at its last
access, as a suspended Python generator does; starting another operation on the same side
abandons it (resuming it raises :class:`Aborted`).

:class:`CTableWriter`, :class:`CTableReader`, :class:`CSignalSender`,
:class:`CSignalReceiver` and :class:`CClockDriver` take the layouts and have the method
names of their Python counterparts (reference/shm/), so the machines of
models/shm/machine.py step the C sides alone or paired with a Python side over the same
memory. Each takes ``mutant=`` (a switch of shm_mutants.h) or a prebuilt ``build=``.

:func:`native` is the normal build (``virtiospec.reference.shm.c._shm``, compiled at install):
shm.c with C11 atomics and fences, for real shared memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, ClassVar

from virtiospec.reference.access import Access, Fence, Load, Op, Store
from virtiospec.reference.c_stepping import FENCES, LOAD, STORE, SteppedModule
from virtiospec.reference.shm.c.build import MUTANTS, compile_stepped
from virtiospec.reference.shm.c.errors import (
    E_ABORTED,
    E_INVALID,
    E_TABLE,
    Aborted,
    check,
    error,
)
from virtiospec.reference.shm.clock import ClockDriver, ClockLayout, join_ns
from virtiospec.reference.shm.region import Region
from virtiospec.reference.shm.signal import SignalLayout
from virtiospec.reference.shm.table import MAX_ATTEMPTS, U32, Snapshot, TableLayout


def native() -> Any:
    """The normal build's cffi module (``ffi``, ``lib``), compiled by ``pip install``."""
    import virtiospec.reference.shm.c._shm as _shm

    return _shm


class SteppedBuild(SteppedModule):
    """One compiled stepped module of shm.c (the reference, or one mutant); its callback
    ``vs_shm_py_access`` hands each access to the :class:`_Replay` behind the handle."""

    def __init__(self, mutant: str | None = None) -> None:
        super().__init__(mutant, compile_stepped(mutant), "vs_shm_py_access")


@cache
def stepped_build(mutant: str | None = None) -> SteppedBuild:
    """The stepped build of shm.c (or of one mutant of shm_mutants.h), compiled once."""
    if mutant is not None and mutant not in MUTANTS:
        raise ValueError(f"unknown C mutant {mutant!r}; known: {', '.join(MUTANTS)}")
    return SteppedBuild(mutant)


# -- one C operation, replayed ---------------------------------------------------------------

class _Replay:
    """The accesses of one operation answered so far, and the first one not yet answered.

    The C code is deterministic given its private state and the values its loads return, so
    instead of suspending it mid-way (a thread per operation, a context switch per access)
    each step runs it again from the private state it started with: the callback answers
    the accesses already answered, checking that they come out the same, and aborts the run
    (longjmp) at the first new one, which the generator yields. What the checker sees is
    exactly the C code's sequence of accesses, one at a time."""

    __slots__ = ("answers", "at", "base", "error", "next")

    def __init__(self, base: int) -> None:
        self.base = base
        self.answers: list[tuple[tuple[int, int, int, int], int]] = []
        self.at = 0
        self.next: tuple[int, int, int, int] | None = None
        self.error: BaseException | None = None

    def on_access(self, kind: int, addr: int, size: int, value: int, loaded: Any) -> int:
        """From C: 0 = go on (``loaded`` answered), 1 = abort the run."""
        try:
            key = (kind, addr, size, value)
            if self.at < len(self.answers):
                want, answer = self.answers[self.at]
                if key != want:
                    raise RuntimeError(f"replay of a C operation diverged at access {self.at}: "
                                       f"{self.access(want)} before, {self.access(key)} now")
                self.at += 1
                loaded[0] = answer
                return 0
            self.next = key
            return 1
        except BaseException as err:  # reported by _op once the C side has unwound
            self.error = err
            return 1

    def access(self, key: tuple[int, int, int, int]) -> Access:
        kind, addr, size, value = key
        if kind == LOAD:
            return Load(self.base + addr, size)
        if kind == STORE:
            return Store(self.base + addr, size, value)
        return Fence(FENCES[value])


class _CSide:
    """What every C side shares: the build, its region, its private state blocks, one
    operation at a time."""

    default_mutant: ClassVar[str | None] = None  # a subclass may bind a mutant build

    def __init__(self, region: Region, build: SteppedBuild | None, mutant: str | None) -> None:
        if build is None:
            build = stepped_build(mutant if mutant is not None else self.default_mutant)
        self.build = build
        self.region = region
        self.ffi, self.lib = build.ffi, build.lib
        self._blocks: list[tuple[Any, int]] = []  # private state: (cdata, bytes)
        self._current: object = None  # the operation under way

    def _own(self, ctype: str, size: int) -> Any:
        """A zeroed private state block of ``size`` bytes, aligned on 8, as ``ctype``."""
        if size == 0:
            raise error(E_INVALID, "state size")
        block = self.ffi.new("uint64_t[]", (size + 7) // 8)
        self._blocks.append((block, self.ffi.sizeof(block)))
        return self.ffi.cast(ctype, block)

    def _op(self, name: str, *args: Any, last: Callable[[], Snapshot] | None = None,
            also: Sequence[_CSide] = ()) -> Op[int]:
        """Run ``vs_shm_stepped_<name>(handle, *args)`` as an Op; returns its result.
        ``last``: the reader's last good value, for a TableBusy; ``also``: other sides whose
        private state the operation changes."""
        ffi, fn = self.ffi, getattr(self.lib, f"vs_shm_stepped_{name}")
        blocks = [b for side in (self, *also) for b in side._blocks]
        saved = [ffi.buffer(block, n)[:] for block, n in blocks]
        token = object()
        for side in (self, *also):
            side._current = token  # a suspended operation of these sides is abandoned
        replay = _Replay(self.region.base)
        handle = ffi.new_handle(replay)
        while True:
            if any(side._current is not token for side in (self, *also)):
                raise Aborted(f"vs_shm_{name} was abandoned: another operation started")
            for (block, n), data in zip(blocks, saved, strict=True):
                ffi.memmove(block, data, n)
            replay.at, replay.next = 0, None
            rc = fn(handle, *args)
            if replay.error is not None:
                raise replay.error
            if replay.next is None:
                break
            key = replay.next
            answer = yield replay.access(key)
            if key[0] == LOAD:
                if not isinstance(answer, int):
                    raise TypeError(f"a load of {key[2]} bytes at {self.region.base + key[1]:#x}"
                                    f" was answered with {answer!r}, not an int")
                answer &= (1 << (8 * key[2])) - 1
            replay.answers.append((key, answer or 0))
        for side in (self, *also):
            if side._current is token:
                side._current = None
        if rc == -E_ABORTED:
            raise Aborted(f"vs_shm_{name} was aborted")
        return check(rc, f"vs_shm_{name}", last() if last and rc < 0 else None)

    def close(self) -> None:
        """Abandon an operation left suspended (also done when the next one starts)."""
        self._current = None


def _slot_arg(slot: int) -> None:
    """A slot the C signature cannot carry is out of range, as in the Python layout."""
    if not 0 <= slot <= U32:
        raise error(E_TABLE, "slot index")


class _CTableSide(_CSide):
    def __init__(self, layout: TableLayout, build: SteppedBuild | None,
                 mutant: str | None) -> None:
        super().__init__(layout.region, build, mutant)
        self.layout = layout
        self._table = self.ffi.new("struct vs_shm_table *")
        check(self.lib.vs_shm_table_create(self._table, self.ffi.NULL, layout.region.length,
                                           layout.offset, layout.slots, layout.words),
              "vs_shm_table_create")


class CTableWriter(_CTableSide):
    """The C writer (shm.c) with the interface of :class:`TableWriter`."""

    def __init__(self, layout: TableLayout, *, mutant: str | None = None,
                 build: SteppedBuild | None = None) -> None:
        super().__init__(layout, build, mutant)
        size = self.lib.vs_shm_writer_state_size(layout.slots)
        self._state = self._own("struct vs_shm_writer *", size)
        check(self.lib.vs_shm_writer_create(self._state, size, self._table),
              "vs_shm_writer_create")

    @property
    def seqs(self) -> list[int]:
        """Each slot's ``seq``, kept privately (SHM-TABLE-003)."""
        return [int(self._state.seqs[i]) for i in range(self.layout.slots)]

    def init(self) -> Op[None]:
        yield from self._op("writer_init", self._state)

    def update(self, slot: int, value: Sequence[int]) -> Op[None]:
        _slot_arg(slot)
        if any(not 0 <= v <= U32 for v in value):
            if slot >= self.layout.slots:  # the slot is checked first, as in Python
                raise error(E_TABLE, "vs_shm_writer_update")
            raise ValueError(f"a value of slot {slot} is {self.layout.words} words of 32 "
                             f"bits, not {list(value)}")
        words = self.ffi.new("uint32_t[]", list(value) or [0])
        yield from self._op("writer_update", self._state, slot, words, len(value))


class CTableReader(_CTableSide):
    """The C reader (shm.c) with the interface of :class:`TableReader`."""

    def __init__(self, layout: TableLayout, max_attempts: int = MAX_ATTEMPTS, *,
                 mutant: str | None = None, build: SteppedBuild | None = None) -> None:
        if not 1 <= max_attempts <= U32:
            raise ValueError("a reader needs at least one attempt")
        super().__init__(layout, build, mutant)
        size = self.lib.vs_shm_reader_state_size(layout.slots, layout.words)
        self._state = self._own("struct vs_shm_reader *", size)
        check(self.lib.vs_shm_reader_create(self._state, size, self._table, max_attempts),
              "vs_shm_reader_create")
        self._version = self.ffi.new("uint32_t *")
        self._value = self.ffi.new("uint32_t[]", layout.words)

    # -- private state, read from C ------------------------------------------------------
    @property
    def max_attempts(self) -> int:
        return int(self._state.max_attempts)

    @property
    def attempts(self) -> int:
        """Attempts made by the last read."""
        return int(self._state.attempts)

    def _snap(self, versions: Any, values: Any, slot: int) -> Snapshot:
        w = self.layout.words
        return Snapshot(int(versions[slot]), tuple(int(values[slot * w + k]) for k in range(w)))

    @property
    def last(self) -> list[Snapshot]:
        """The last good value of each slot."""
        s = self._state
        return [self._snap(s.last_version, s.last_value, i) for i in range(self.layout.slots)]

    @property
    def processed(self) -> list[Snapshot]:
        """The last value of each slot handed out as new."""
        s = self._state
        return [self._snap(s.processed_version, s.processed_value, i)
                for i in range(self.layout.slots)]

    def _out(self) -> Snapshot:
        return Snapshot(int(self._version[0]),
                        tuple(int(self._value[k]) for k in range(self.layout.words)))

    def _last_of(self, slot: int) -> Callable[[], Snapshot]:
        return lambda: self._snap(self._state.last_version, self._state.last_value, slot)

    # -- operations ----------------------------------------------------------------------
    def attempt(self, slot: int) -> Op[Snapshot | None]:
        _slot_arg(slot)
        ok = yield from self._op("reader_attempt", self._state, slot, self._version,
                                 self._value)
        return self._out() if ok else None

    def read(self, slot: int) -> Op[Snapshot]:
        _slot_arg(slot)
        yield from self._op("reader_read", self._state, slot, self._version, self._value,
                            last=self._last_of(slot))
        return self._out()

    def poll(self, slot: int) -> Op[Snapshot | None]:
        _slot_arg(slot)
        new = yield from self._op("reader_poll", self._state, slot, self._version,
                                  self._value, last=self._last_of(slot))
        return self._out() if new else None


class _CSignalSide(_CSide):
    def __init__(self, layout: SignalLayout, build: SteppedBuild | None,
                 mutant: str | None) -> None:
        super().__init__(layout.region, build, mutant)
        self.layout = layout
        self._signal = self.ffi.new("struct vs_shm_signal *")
        check(self.lib.vs_shm_signal_create(self._signal, self.ffi.NULL, layout.region.length,
                                            layout.offset), "vs_shm_signal_create")

    def init(self) -> Op[None]:
        """Both fields 0 (SignalLayout.init), as one C operation."""
        yield from self._op("signal_init", self._signal)


class CSignalSender(_CSignalSide):
    """The C sender (shm.c) with the interface of :class:`SignalSender`."""

    def __init__(self, layout: SignalLayout, *, mutant: str | None = None,
                 build: SteppedBuild | None = None) -> None:
        super().__init__(layout, build, mutant)
        self._state = self._own("struct vs_shm_sender *",
                                self.ffi.sizeof("struct vs_shm_sender"))
        check(self.lib.vs_shm_sender_create(self._state, self._signal), "vs_shm_sender_create")

    @property
    def injections(self) -> int:
        return int(self._state.injections)

    @property
    def coalesced(self) -> int:
        return int(self._state.coalesced)

    @property
    def notifications(self) -> int:
        return int(self._state.notifications)

    def inject(self) -> Op[bool]:
        return bool((yield from self._op("sender_inject", self._state)))


class CSignalReceiver(_CSignalSide):
    """The C receiver (shm.c) with the interface of :class:`SignalReceiver`."""

    def __init__(self, layout: SignalLayout, *, mutant: str | None = None,
                 build: SteppedBuild | None = None) -> None:
        super().__init__(layout, build, mutant)
        self._state = self._own("struct vs_shm_receiver *",
                                self.ffi.sizeof("struct vs_shm_receiver"))
        check(self.lib.vs_shm_receiver_create(self._state, self._signal),
              "vs_shm_receiver_create")

    @property
    def acknowledgements(self) -> int:
        return int(self._state.acknowledgements)

    def disable(self) -> Op[None]:
        yield from self._op("receiver_disable", self._state)

    def acknowledge(self) -> Op[None]:
        yield from self._op("receiver_acknowledge", self._state)

    def enable(self) -> Op[bool]:
        return bool((yield from self._op("receiver_enable", self._state)))


class CClockDriver(ClockDriver):
    """The clock driver of :class:`ClockDriver` over the C reader and receiver: its
    :meth:`service` is one C operation, ``vs_shm_reader_service`` (disable, acknowledge,
    poll slot 0); :meth:`wait_prepare` is the C receiver's enable."""

    default_mutant: ClassVar[str | None] = None

    def __init__(self, layout: ClockLayout, max_attempts: int = MAX_ATTEMPTS, *,
                 mutant: str | None = None, build: SteppedBuild | None = None) -> None:
        if build is None:
            build = stepped_build(mutant if mutant is not None else self.default_mutant)
        self.layout = layout
        self.reader: CTableReader = CTableReader(  # type: ignore[assignment]
            layout.table, max_attempts, build=build)
        self.signal: CSignalReceiver = CSignalReceiver(  # type: ignore[assignment]
            layout.signal, build=build)
        self.now: int | None = None
        self.actions = 0

    def service(self) -> Op[int | None]:
        rd = self.reader
        new = yield from rd._op("reader_service", rd._state, self.signal._state, 0,
                                rd._version, rd._value, last=rd._last_of(0),
                                also=(self.signal,))
        if not new:
            return None
        self.now = join_ns(rd._out().value)
        self.actions += 1
        return self.now
