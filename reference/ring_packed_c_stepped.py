"""The C reference of the packed ring, stepped access by access like the Python one.

The stepped build of ring_packed.c (reference/ring_packed_c_build.py: ``-DVS_STEPPED``)
sends every load, store and barrier to the callback ``vs_py_access``. As for the split ring
(reference/ring_c_stepped.py, whose worker-thread machinery this module shares), each C
operation becomes an ``Op`` generator of the access protocol (reference/access.py): the C
call runs in a worker thread, each access is yielded, a load's value is sent back to C, and
the generator returns the C result or raises the error of the Python reference with the
same ``req`` (reference/ring_packed_c_errors.py).

:class:`CPackedDriver` and :class:`CPackedDevice` have the constructor arguments, method
names and visible state of :class:`~virtiospec.reference.ring.PackedDriver` and
:class:`~virtiospec.reference.ring.PackedDevice` (the state is read from the C struct), so
the machines of models/ring_packed_machine.py and models/ring_packed_hostile.py step the C
sides, alone or paired with a Python side over the same memory.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from virtiospec.reference.access import Op
from virtiospec.reference.ring.device import Chain, SplitDevice
from virtiospec.reference.ring.errors import RingError
from virtiospec.reference.ring.packed_device import Held
from virtiospec.reference.ring.packed_driver import PackedOutstanding
from virtiospec.reference.ring.packed_layout import EVENT_WRAP_BIT, PackedLayout, off_wrap
from virtiospec.reference.ring_c_errors import Aborted
from virtiospec.reference.ring_c_stepped import JOIN_SECONDS, _Call, _Finished
from virtiospec.reference.ring_packed_c_build import MUTANTS, compile_stepped
from virtiospec.reference.ring_packed_c_errors import ABORTED, check, error

F_EVENT_IDX, F_INDIRECT = 1, 2
U64_MAX = (1 << 64) - 1


class PackedSteppedBuild:
    """One compiled stepped module of ring_packed.c (the reference, or one mutant)."""

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
def stepped_build(mutant: str | None = None) -> PackedSteppedBuild:
    """The stepped build of ring_packed.c (or of one mutant), compiled and loaded once."""
    if mutant is not None and mutant not in MUTANTS:
        raise ValueError(f"unknown C mutant {mutant!r}; known: {', '.join(MUTANTS)}")
    return PackedSteppedBuild(mutant)


def _wrap_of(value: int) -> tuple[int, int]:
    """(position, wrap bit) of an off_wrap value."""
    return value & ((1 << EVENT_WRAP_BIT) - 1), value >> EVENT_WRAP_BIT


class _PackedSide:
    """What both sides share: the build, the state block, one operation at a time."""

    default_mutant: ClassVar[str | None] = None  # a subclass may bind a mutant build
    _state: Any

    def __init__(self, build: PackedSteppedBuild | None, mutant: str | None) -> None:
        if build is None:
            build = stepped_build(mutant if mutant is not None else self.default_mutant)
        self.build = build
        self.ffi, self.lib = build.ffi, build.lib
        self._current: _Call | None = None

    def _new_state(self, kind: str, size: int) -> Any:
        self._block = self.ffi.new("uint64_t[]", (max(size, 8) + 7) // 8)
        return self.ffi.cast(f"struct vs_packed_{kind} *", self._block)

    def _op(self, name: str, *args: Any) -> Op[int]:
        """Run ``vs_stepped_packed_<name>(handle, state, *args)`` as an Op."""
        if self._current is not None:  # the previous operation was abandoned: unwind it
            self._current.abort()
            self._current = None
        call = _Call(getattr(self.lib, f"vs_stepped_packed_{name}"), (self._state, *args),
                     self.ffi)
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
        if finished.rc == -ABORTED:
            raise Aborted(f"vs_packed_{name} was aborted")
        return check(finished.rc, f"vs_packed_{name}")

    def close(self) -> None:
        """Abort an operation left suspended (also done when the next one starts)."""
        if self._current is not None:
            self._current.abort()
            self._current = None

    @staticmethod
    def _broken(code: int) -> RingError | None:
        if code == 0:
            return None
        err = error(-code)
        assert isinstance(err, RingError)
        return err


class CPackedDriver(_PackedSide):
    """The C driver (ring_packed.c) with the interface of :class:`PackedDriver`."""

    def __init__(self, layout: PackedLayout, *, event_idx: bool = False,
                 indirect_area: int | None = None, indirect_max: int = 16,
                 memory_size: int | None = None, mutant: str | None = None,
                 build: PackedSteppedBuild | None = None) -> None:
        super().__init__(build, mutant)
        self.layout = layout
        self.q = layout.size
        self.event_idx = event_idx
        self.indirect_area = indirect_area
        self.indirect_max = indirect_max
        size = self.lib.vs_packed_driver_state_size(self.q)
        self._state = self._new_state("driver", size)
        features = ((F_EVENT_IDX if event_idx else 0)
                    | (F_INDIRECT if indirect_area is not None else 0))
        check(self.lib.vs_packed_driver_create(
            self._state, size, self.ffi.NULL, U64_MAX if memory_size is None else memory_size,
            self.q, layout.desc, layout.driver_event, layout.device_event, features,
            indirect_area or 0, indirect_max), "vs_packed_driver_create")
        self._tokens: dict[int, object] = {}
        self._next_token = 1

    # -- private state, read from C ------------------------------------------------------
    @property
    def next_avail(self) -> int:
        return int(self._state.next_avail)

    @property
    def avail_wrap(self) -> int:
        return int(self._state.avail_wrap)

    @property
    def last_used(self) -> int:
        return int(self._state.last_used)

    @property
    def used_wrap(self) -> int:
        return int(self._state.used_wrap)

    @property
    def free_descs(self) -> int:
        return int(self._state.free_descs)

    @property
    def num_free(self) -> int:
        return self.free_descs

    @property
    def outstanding(self) -> int:
        """Outstanding descriptors (RING-PACKED-090)."""
        return self.q - self.free_descs

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
    def free_ids(self) -> list[int]:
        """The free buffer IDs, the next one to give out first."""
        s, q = self._state, self.q
        return [int(s.free_ids[(s.free_head + k) % q]) for k in range(s.free_count)]

    @property
    def ids(self) -> dict[int, PackedOutstanding]:
        """Outstanding lists by buffer ID."""
        s = self._state
        return {i: PackedOutstanding(self._tokens.get(int(s.ids[i].token)), int(s.ids[i].ndesc),
                                     int(s.ids[i].writable))
                for i in range(self.q) if s.ids[i].live}

    # -- operations ----------------------------------------------------------------------
    def init(self) -> Op[None]:
        yield from self._op("driver_init")

    def add(self, out: Sequence[tuple[int, int]], in_: Sequence[tuple[int, int]],
            token: object) -> Op[int]:
        if self._state.broken:  # refused before the arguments are looked at, as in Python
            out, in_ = (), ()
        segs = [self._segments(out), self._segments(in_)]
        tid = self._next_token
        buf_id = yield from self._op("driver_add", segs[0], len(out), segs[1], len(in_), tid)
        self._next_token += 1
        self._tokens[tid] = token
        return buf_id

    def _segments(self, items: Sequence[tuple[int, int]]) -> Any:
        arr = self.ffi.new("struct vs_segment[]", max(len(items), 1))
        for k, (addr, length) in enumerate(items):
            if not (0 <= addr <= U64_MAX and 0 <= length <= U64_MAX):
                raise ValueError(f"segment ({addr}, {length}) does not fit 64 bits")
            arr[k].addr, arr[k].len = addr, length
        return arr

    def kick_prepare(self) -> Op[bool]:
        return bool((yield from self._op("driver_kick_prepare")))

    def kick_data(self) -> int:
        return int(self.lib.vs_packed_driver_kick_data(self._state))

    def get_used(self) -> Op[tuple[object, int] | None]:
        token = self.ffi.new("uint64_t *")
        length = self.ffi.new("uint32_t *")
        if not (yield from self._op("driver_get_used", token, length)):
            return None
        return self._tokens.pop(int(token[0]), None), int(length[0])

    def detach_unused(self) -> list[object]:
        tokens = self.ffi.new("uint64_t[]", self.q)
        n = check(self.lib.vs_packed_driver_detach_unused(self._state, tokens, self.q),
                  "vs_packed_driver_detach_unused")
        return [self._tokens.pop(int(tokens[k]), None) for k in range(n)]

    def disable_cb(self) -> Op[None]:
        yield from self._op("driver_disable_cb")

    def enable_cb_prepare(self) -> Op[tuple[int, int]]:
        return _wrap_of((yield from self._op("driver_enable_cb_prepare")))

    def poll(self, last: tuple[int, int]) -> Op[bool]:
        return bool((yield from self._op("driver_poll", off_wrap(*last))))

    def enable_cb(self) -> Op[bool]:
        return bool((yield from self._op("driver_enable_cb")))

    def enable_cb_delayed(self) -> Op[bool]:
        return bool((yield from self._op("driver_enable_cb_delayed")))


class CPackedDevice(_PackedSide):
    """The C device (ring_packed.c) with the interface of :class:`PackedDevice`."""

    read_chain = staticmethod(SplitDevice.read_chain)
    write_chain = staticmethod(SplitDevice.write_chain)  # RING-PACKED-020: writable only

    def __init__(self, layout: PackedLayout, memory_size: int, *, event_idx: bool = False,
                 indirect: bool = False, mutant: str | None = None,
                 build: PackedSteppedBuild | None = None) -> None:
        super().__init__(build, mutant)
        self.layout = layout
        self.q = layout.size
        self.memory_size = memory_size
        self.event_idx = event_idx
        self.indirect = indirect
        size = self.lib.vs_packed_device_state_size(self.q)
        self._state = self._new_state("device", size)
        features = (F_EVENT_IDX if event_idx else 0) | (F_INDIRECT if indirect else 0)
        check(self.lib.vs_packed_device_create(
            self._state, size, self.ffi.NULL, memory_size, self.q, layout.desc,
            layout.driver_event, layout.device_event, features), "vs_packed_device_create")
        self._segs = self.ffi.new("struct vs_segment[]", self.q)

    # -- private state, read from C ------------------------------------------------------
    @property
    def last_avail(self) -> int:
        return int(self._state.last_avail)

    @property
    def avail_wrap(self) -> int:
        return int(self._state.avail_wrap)

    @property
    def used_pos(self) -> int:
        return int(self._state.used_pos)

    @property
    def used_wrap(self) -> int:
        return int(self._state.used_wrap)

    @property
    def held(self) -> int:
        return int(self._state.held)

    @property
    def num_pushed(self) -> int:
        return int(self._state.num_pushed)

    @property
    def notify_disabled(self) -> bool:
        return bool(self._state.notify_disabled)

    @property
    def in_flight(self) -> dict[int, Held]:
        """Lists popped and not pushed, by buffer ID."""
        s = self._state
        return {int(s.in_flight[k].id): Held(int(s.in_flight[k].ndesc),
                                             int(s.in_flight[k].writable))
                for k in range(self.q) if s.in_flight[k].live}

    @property
    def broken(self) -> RingError | None:
        return self._broken(int(self._state.broken))

    @property
    def needs_reset(self) -> bool:
        return bool(self.lib.vs_packed_device_needs_reset(self._state))

    # -- operations ----------------------------------------------------------------------
    def init(self) -> Op[None]:
        yield from self._op("device_init")

    def pop(self) -> Op[Chain | None]:
        buf_id = self.ffi.new("uint16_t *")
        counts = self.ffi.new("uint32_t[2]")
        if not (yield from self._op("device_pop", buf_id, self._segs, self.q, counts + 0,
                                    counts + 1)):
            return None
        segs = [(int(s.addr), int(s.len)) for s in self._segs[0 : counts[0] + counts[1]]]
        return Chain(int(buf_id[0]), segs[: counts[0]], segs[counts[0] :])

    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        if self._state.broken:  # refused before the arguments are looked at, as in Python
            used = ()
        elems = self.ffi.new("struct vs_used_elem[]", max(len(used), 1))
        for k, (buf_id, length) in enumerate(used):
            if not (0 <= buf_id < 1 << 32 and 0 <= length < 1 << 32):
                raise ValueError(f"used element ({buf_id}, {length}) does not fit 32 bits")
            elems[k].id, elems[k].len = buf_id, length
        yield from self._op("device_push", elems, len(used))

    def should_notify(self) -> Op[bool]:
        return bool((yield from self._op("device_should_notify")))

    def disable_notify(self) -> Op[None]:
        yield from self._op("device_disable_notify")

    def enable_notify(self) -> Op[bool]:
        return bool((yield from self._op("device_enable_notify")))
