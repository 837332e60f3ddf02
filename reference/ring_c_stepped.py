"""The C reference of the split ring, stepped access by access like the Python one.

The stepped build of ring.c (reference/ring_c_build.py: ``-DVS_STEPPED``) sends every load,
store and barrier to the callback ``vs_py_access``. Here each C operation becomes an
``Op`` generator of the access protocol (reference/access.py): the C call runs in a worker
thread; at each access the callback hands a :class:`Load`, :class:`Store` or :class:`Fence`
to the generator, which yields it and passes the value sent back (a load's result) to the
callback, which returns it to C. When the C function returns, the generator returns its
result (or raises the error of the Python reference with the same ``req``).

:class:`CSplitDriver` and :class:`CSplitDevice` have the method names of
:class:`~virtiospec.reference.ring.SplitDriver` and
:class:`~virtiospec.reference.ring.SplitDevice`, so the machines that step the Python sides
step the C sides, alone or paired with a Python side over the same memory.

An operation abandoned mid-way (a Hypothesis example ends; the generator is closed or
collected) is aborted: the callback returns "abort", the C side longjmps out of the
operation, and the worker thread ends; starting an operation on a side whose previous one
is still suspended aborts that one first.
"""

from __future__ import annotations

import gc
import importlib.util
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from virtiospec.reference.access import Access, Fence, FenceKind, Load, Op, Store
from virtiospec.reference.ring.device import Chain, SplitDevice
from virtiospec.reference.ring.driver import Outstanding
from virtiospec.reference.ring.errors import RingError
from virtiospec.reference.ring.layout import SplitLayout
from virtiospec.reference.ring_c_build import MUTANTS, compile_stepped
from virtiospec.reference.ring_c_errors import Aborted, check, error

LOAD, STORE, FENCE = 0, 1, 2
FENCES: tuple[FenceKind, ...] = ("mb", "wmb", "rmb")
F_EVENT_IDX, F_INDIRECT = 1, 2
U64_MAX = (1 << 64) - 1
JOIN_SECONDS = 10.0
MAX_SUSPENDED = 64  # more suspended operations than this: collect the abandoned ones


class SteppedBuild:
    """One compiled stepped module (the reference, or one mutant), with its callback."""

    def __init__(self, mutant: str | None = None) -> None:
        self.mutant = mutant
        path = compile_stepped(mutant)
        spec = importlib.util.spec_from_file_location(path.name.split(".")[0], path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.path: Path = path
        self.ffi: Any = module.ffi
        self.lib: Any = module.lib
        ffi = self.ffi

        def on_error(exc_type: type, exc: BaseException, tb: object) -> None:
            return None  # the call already recorded it; the C side aborts (result 1)

        def vs_py_access(py: Any, kind: int, addr: int, size: int, value: int,
                         loaded: Any) -> int:
            call: _Call = ffi.from_handle(py)
            return call.on_access(kind, addr, size, value, loaded)

        ffi.def_extern(name="vs_py_access", onerror=on_error, error=1)(vs_py_access)


@cache
def stepped_build(mutant: str | None = None) -> SteppedBuild:
    """The stepped build of ring.c (or of one mutant of ring_mutants.h), compiled once."""
    if mutant is not None and mutant not in MUTANTS:
        raise ValueError(f"unknown C mutant {mutant!r}; known: {', '.join(MUTANTS)}")
    return SteppedBuild(mutant)


@dataclass(frozen=True, slots=True)
class _Finished:
    rc: int


_ABORT = object()
_LIVE: set[_Call] = set()  # operations started and not finished (each holds a thread)
_LIVE_LOCK = threading.Lock()


def live_operations() -> int:
    """C operations started and not yet finished or aborted (one worker thread each)."""
    with _LIVE_LOCK:
        return len(_LIVE)


def abort_all() -> None:
    """Abort every suspended C operation (e.g. when a checker discards its machines)."""
    with _LIVE_LOCK:
        calls = list(_LIVE)
    for call in calls:
        call.abort()


class _Call:
    """One C operation running in its own worker thread, handing over each access."""

    def __init__(self, fn: Callable[..., int], args: tuple[Any, ...], ffi: Any) -> None:
        self.fn, self.args = fn, args
        self.handle = ffi.new_handle(self)
        self.to_checker: queue.SimpleQueue[Access | _Finished] = queue.SimpleQueue()
        self.to_c: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.abandoned = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="ring.c stepped op", daemon=True)

    def start(self) -> None:
        if live_operations() >= MAX_SUSPENDED:
            gc.collect()  # generators of abandoned examples: closing them aborts their calls
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.thread.start()

    def _work(self) -> None:
        try:
            rc = self.fn(self.handle, *self.args)
        except BaseException as err:  # pragma: no cover - cffi reports via onerror
            self.error = err
            rc = -18
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(self)
        self.to_checker.put(_Finished(rc))

    def on_access(self, kind: int, addr: int, size: int, value: int, loaded: Any) -> int:
        """In the worker thread, from C: hand over one access; 0 = go on, 1 = abort."""
        try:
            if self.abandoned:
                return 1
            if kind == LOAD:
                access: Access = Load(addr, size)
            elif kind == STORE:
                access = Store(addr, size, value)
            else:
                access = Fence(FENCES[value])
            self.to_checker.put(access)
            reply = self.to_c.get()
            if reply is _ABORT:
                return 1
            if kind == LOAD:
                if not isinstance(reply, int):
                    raise TypeError(f"a load of {size} bytes at {addr:#x} was answered with "
                                    f"{reply!r}, not an int")
                loaded[0] = reply & ((1 << (8 * size)) - 1)
            return 0
        except BaseException as err:
            self.error = err
            return 1

    def abort(self) -> None:
        """From the checker: the operation is abandoned; let the C side unwind and wait."""
        if self.abandoned or not self.thread.is_alive():
            return
        self.abandoned = True
        self.to_c.put(_ABORT)
        if self.thread is not threading.current_thread():
            self.thread.join(JOIN_SECONDS)


class _SteppedSide:
    """What both sides share: the build, the state block, one operation at a time."""

    default_mutant: ClassVar[str | None] = None  # a subclass may bind a mutant build

    def __init__(self, build: SteppedBuild | None, mutant: str | None) -> None:
        if build is None:
            build = stepped_build(mutant if mutant is not None else self.default_mutant)
        self.build = build
        self.ffi, self.lib = self.build.ffi, self.build.lib
        self._current: _Call | None = None

    def _op(self, name: str, *args: Any) -> Op[int]:
        """Run ``vs_stepped_<name>(handle, state, *args)`` as an Op; returns its result."""
        if self._current is not None:  # the previous operation was abandoned: unwind it
            self._current.abort()
            self._current = None
        call = _Call(getattr(self.lib, f"vs_stepped_{name}"), (self._state, *args), self.ffi)
        self._current = call
        call.start()
        finished: _Finished | None = None
        try:
            while True:
                msg = call.to_checker.get()
                if isinstance(msg, _Finished):
                    finished = msg
                    break
                call.to_c.put((yield msg))
        finally:
            if finished is None:
                call.abort()
            else:
                call.thread.join(JOIN_SECONDS)
            if self._current is call:
                self._current = None
        if call.error is not None:
            raise call.error
        if finished.rc == -18:
            raise Aborted(f"vs_{name} was aborted")
        return check(finished.rc, f"vs_{name}")

    def close(self) -> None:
        """Abort an operation left suspended (also done when the next one starts)."""
        if self._current is not None:
            self._current.abort()
            self._current = None

    def _broken(self, code: int) -> RingError | None:
        if code == 0:
            return None
        err = error(-code)
        assert isinstance(err, RingError)
        return err

    _state: Any


class CSplitDriver(_SteppedSide):
    """The C driver (ring.c) with the interface of :class:`SplitDriver`."""

    def __init__(self, layout: SplitLayout, *, event_idx: bool = False,
                 indirect_area: int | None = None, indirect_max: int = 16,
                 memory_size: int | None = None, mutant: str | None = None,
                 build: SteppedBuild | None = None) -> None:
        super().__init__(build, mutant)
        self.layout = layout
        self.q = layout.size
        self.event_idx = event_idx
        self.indirect_area = indirect_area
        self.indirect_max = indirect_max
        size = self.lib.vs_driver_state_size(self.q)
        self._block = self.ffi.new("uint64_t[]", (max(size, 8) + 7) // 8)
        self._state = self.ffi.cast("struct vs_driver *", self._block)
        features = (F_EVENT_IDX if event_idx else 0) | (F_INDIRECT if indirect_area is not None
                                                        else 0)
        check(self.lib.vs_driver_create(
            self._state, size, self.ffi.NULL, U64_MAX if memory_size is None else memory_size,
            self.q, layout.desc, layout.avail, layout.used, features, indirect_area or 0,
            indirect_max, 0), "vs_driver_create")
        self._tokens: dict[int, object] = {}
        self._next_token = 1

    # -- private state, read from C ------------------------------------------------------
    @property
    def avail_idx(self) -> int:
        return int(self._state.avail_idx)

    @avail_idx.setter
    def avail_idx(self, value: int) -> None:
        self._state.avail_idx = value

    @property
    def last_used(self) -> int:
        return int(self._state.last_used)

    @last_used.setter
    def last_used(self, value: int) -> None:
        self._state.last_used = value

    @property
    def num_added(self) -> int:
        return int(self._state.num_added)

    @property
    def cb_disabled(self) -> bool:
        return bool(self._state.cb_disabled)

    @property
    def broken(self) -> RingError | None:
        return self._broken(int(self._state.broken))

    @property
    def num_free(self) -> int:
        return int(self._state.free_count)

    @property
    def free(self) -> list[int]:
        s = self._state
        return [int(s.free_fifo[(s.free_head + k) & (self.q - 1)]) for k in range(s.free_count)]

    @property
    def outstanding(self) -> int:
        return (self.avail_idx - self.last_used) & 0xFFFF

    @property
    def chains(self) -> dict[int, Outstanding]:
        out: dict[int, Outstanding] = {}
        s = self._state
        for head in range(self.q):
            c = s.chains[head]
            if c.live:
                descs, i = [], head
                for _ in range(c.ndescs):
                    descs.append(i)
                    i = int(s.chain_next[i])
                out[head] = Outstanding(self._tokens.get(int(c.token)), descs, int(c.writable))
        return out

    # -- operations ----------------------------------------------------------------------
    def init(self) -> Op[None]:
        yield from self._op("driver_init")

    def add(self, out: Sequence[tuple[int, int]], in_: Sequence[tuple[int, int]],
            token: object) -> Op[int]:
        segs = [self._segments(out), self._segments(in_)]
        tid = self._next_token
        head = yield from self._op("driver_add", segs[0], len(out), segs[1], len(in_), tid)
        self._next_token += 1
        self._tokens[tid] = token
        return head

    def _segments(self, items: Sequence[tuple[int, int]]) -> Any:
        arr = self.ffi.new("struct vs_segment[]", max(len(items), 1))
        for k, (addr, length) in enumerate(items):
            if not (0 <= addr <= U64_MAX and 0 <= length <= U64_MAX):
                raise ValueError(f"segment ({addr}, {length}) does not fit 64 bits")
            arr[k].addr, arr[k].len = addr, length
        return arr

    def kick_prepare(self) -> Op[bool]:
        return bool((yield from self._op("driver_kick_prepare")))

    def get_used(self) -> Op[tuple[object, int] | None]:
        token = self.ffi.new("uint64_t *")
        length = self.ffi.new("uint32_t *")
        if not (yield from self._op("driver_get_used", token, length)):
            return None
        return self._tokens.pop(int(token[0]), None), int(length[0])

    def detach_unused(self) -> list[object]:
        tokens = self.ffi.new("uint64_t[]", self.q)
        n = check(self.lib.vs_driver_detach_unused(self._state, tokens, self.q),
                  "vs_driver_detach_unused")
        return [self._tokens.pop(int(tokens[k]), None) for k in range(n)]

    def disable_cb(self) -> Op[None]:
        yield from self._op("driver_disable_cb")

    def enable_cb_prepare(self) -> Op[int]:
        return (yield from self._op("driver_enable_cb_prepare"))

    def poll(self, last: int) -> Op[bool]:
        return bool((yield from self._op("driver_poll", last)))

    def enable_cb(self) -> Op[bool]:
        return bool((yield from self._op("driver_enable_cb")))

    def enable_cb_delayed(self) -> Op[bool]:
        return bool((yield from self._op("driver_enable_cb_delayed")))


class CSplitDevice(_SteppedSide):
    """The C device (ring.c) with the interface of :class:`SplitDevice`."""

    read_chain = staticmethod(SplitDevice.read_chain)
    write_chain = staticmethod(SplitDevice.write_chain)

    def __init__(self, layout: SplitLayout, memory_size: int, *, event_idx: bool = False,
                 indirect: bool = False, mutant: str | None = None,
                 build: SteppedBuild | None = None) -> None:
        super().__init__(build, mutant)
        self.layout = layout
        self.q = layout.size
        self.memory_size = memory_size
        self.event_idx = event_idx
        self.indirect = indirect
        size = self.lib.vs_device_state_size(self.q)
        self._block = self.ffi.new("uint64_t[]", (max(size, 8) + 7) // 8)
        self._state = self.ffi.cast("struct vs_device *", self._block)
        features = (F_EVENT_IDX if event_idx else 0) | (F_INDIRECT if indirect else 0)
        check(self.lib.vs_device_create(
            self._state, size, self.ffi.NULL, memory_size, self.q, layout.desc, layout.avail,
            layout.used, features, 0), "vs_device_create")
        self._segs = self.ffi.new("struct vs_segment[]", self.q)

    # -- private state, read from C ------------------------------------------------------
    @property
    def last_avail(self) -> int:
        return int(self._state.last_avail)

    @last_avail.setter
    def last_avail(self, value: int) -> None:
        self._state.last_avail = value

    @property
    def used_idx(self) -> int:
        return int(self._state.used_idx)

    @used_idx.setter
    def used_idx(self, value: int) -> None:
        self._state.used_idx = value

    @property
    def signalled_used(self) -> int | None:
        s = self._state
        return int(s.signalled_used) if s.signalled_valid else None

    @property
    def notify_disabled(self) -> bool:
        return bool(self._state.notify_disabled)

    @property
    def in_flight(self) -> dict[int, int]:
        s = self._state
        return {h: int(s.in_flight_len[h]) for h in range(self.q) if s.in_flight[h]}

    @property
    def broken(self) -> RingError | None:
        return self._broken(int(self._state.broken))

    @property
    def needs_reset(self) -> bool:
        return bool(self._state.broken)

    # -- operations ----------------------------------------------------------------------
    def init(self) -> Op[None]:
        yield from self._op("device_init")

    def pop(self) -> Op[Chain | None]:
        head = self.ffi.new("uint16_t *")
        counts = self.ffi.new("uint32_t[2]")
        if not (yield from self._op("device_pop", head, self._segs, self.q, counts + 0,
                                    counts + 1)):
            return None
        segs = [(int(s.addr), int(s.len)) for s in self._segs[0 : counts[0] + counts[1]]]
        return Chain(int(head[0]), segs[: counts[0]], segs[counts[0] :])

    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        elems = self.ffi.new("struct vs_used_elem[]", max(len(used), 1))
        for k, (head, length) in enumerate(used):
            if not (0 <= head < 1 << 32 and 0 <= length < 1 << 32):
                raise ValueError(f"used element ({head}, {length}) does not fit 32 bits")
            elems[k].id, elems[k].len = head, length
        yield from self._op("device_push", elems, len(used))

    def should_notify(self) -> Op[bool]:
        return bool((yield from self._op("device_should_notify")))

    def disable_notify(self) -> Op[None]:
        yield from self._op("device_disable_notify")

    def enable_notify(self) -> Op[bool]:
        return bool((yield from self._op("device_enable_notify")))
