"""The operations every stepped C side of a ring shares, whatever ring and whatever C.

A stepped side (reference/c_stepping.py) runs each operation as ``vs_stepped_<prefix><name>``
in a worker thread and yields its accesses. The split and the packed ring's C references
(reference/ring/c/stepped.py, reference/ring/c/packed_stepped.py) and Linux's sides stepped
through the TSan hooks (conformance/ring/tsan_step/) call the same operations with the same
arguments and read the same results: a driver's ``add`` passes its readable and writable
segments and a token id and returns the head or buffer ID, ``get_used`` returns the token
and length; a device's ``pop`` fills an array of segments and returns a :class:`Chain`,
``push`` takes (ID, length) pairs. Those wrappers are here, once. What a side's build makes
different (its structs, its bookkeeping after an operation, whether it refuses the
arguments of a broken ring before looking at them) is a hook its class overrides; its state
and the names of the spec's fields (indices or positions and wrap counters) stay with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, ClassVar, TypeVar

from virtiospec.reference.access import Op
from virtiospec.reference.c_stepping import SteppedModule, ThreadedSide
from virtiospec.reference.ring.device import Chain, SplitDevice
from virtiospec.reference.ring.errors import RingError

Segments = Sequence[tuple[int, int]]
U64_MAX = (1 << 64) - 1
F_EVENT_IDX, F_INDIRECT = 1, 2  # the features argument of both rings' create (ring.h)
B = TypeVar("B", bound="CSteppedBuild")


class CSteppedBuild(SteppedModule):
    """One compiled stepped module of a ring's C (the reference, or one mutant); a subclass
    names how it compiles and which mutants it knows."""

    compile: ClassVar[Callable[[str | None], Any]]
    mutants: ClassVar[Sequence[str]]

    def __init__(self, mutant: str | None = None) -> None:
        super().__init__(mutant, type(self).compile(mutant))

    @classmethod
    @cache
    def load(cls: type[B], mutant: str | None = None) -> B:
        """The stepped build (or that of one mutant), compiled and loaded once."""
        if mutant is not None and mutant not in cls.mutants:
            raise ValueError(f"unknown C mutant {mutant!r}; known: {', '.join(cls.mutants)}")
        return cls(mutant)


def segments(ffi: Any, items: Segments) -> Any:
    """``items`` (address, length) as a ``struct vs_segment`` array (ring.h, both rings)."""
    arr = ffi.new("struct vs_segment[]", max(len(items), 1))
    for k, (addr, length) in enumerate(items):
        if not (0 <= addr <= U64_MAX and 0 <= length <= U64_MAX):
            raise ValueError(f"segment ({addr}, {length}) does not fit 64 bits")
        arr[k].addr, arr[k].len = addr, length
    return arr


def used_elems(ffi: Any, used: Sequence[tuple[int, int]]) -> Any:
    """``used`` (ID, length) as a ``struct vs_used_elem`` array (ring.h, both rings)."""
    elems = ffi.new("struct vs_used_elem[]", max(len(used), 1))
    for k, (ident, length) in enumerate(used):
        if not (0 <= ident < 1 << 32 and 0 <= length < 1 << 32):
            raise ValueError(f"used element ({ident}, {length}) does not fit 32 bits")
        elems[k].id, elems[k].len = ident, length
    return elems


class SteppedDriverOps(ThreadedSide):
    """A stepped driver's operations; ``_tokens`` maps the ids C holds to the callers'
    tokens."""

    _tokens: dict[int, object]
    _next_token: int
    refuses_when_broken = False  # a broken ring's add refused before its arguments are read

    def _new_tokens(self) -> None:
        self._tokens = {}
        self._next_token = 1

    def _segments(self, items: Segments) -> Any:
        return segments(self.ffi, items)

    def _after_add(self, tid: int, ident: int, token: object, in_: Segments) -> None:
        """Bookkeeping after ``add`` gave ``token`` (id ``tid``) the head or ID ``ident``."""

    def _after_get(self, tid: int) -> None:
        """Bookkeeping after ``get_used`` returned the token of id ``tid``."""

    def init(self) -> Op[None]:
        yield from self._op("driver_init")

    def add(self, out: Segments, in_: Segments, token: object) -> Op[int]:
        if self.refuses_when_broken and self._state.broken:  # as the Python reference
            out, in_ = (), ()
        segs = [self._segments(out), self._segments(in_)]
        tid = self._next_token
        ident = yield from self._op("driver_add", segs[0], len(out), segs[1], len(in_), tid)
        self._next_token += 1
        self._tokens[tid] = token
        self._after_add(tid, ident, token, in_)
        return ident

    def kick_prepare(self) -> Op[bool]:
        return bool((yield from self._op("driver_kick_prepare")))

    def get_used(self) -> Op[tuple[object, int] | None]:
        token = self.ffi.new("uint64_t *")
        length = self.ffi.new("uint32_t *")
        if not (yield from self._op("driver_get_used", token, length)):
            return None
        tid = int(token[0])
        self._after_get(tid)
        return self._tokens.pop(tid, None), int(length[0])

    def disable_cb(self) -> Op[None]:
        yield from self._op("driver_disable_cb")

    def enable_cb(self) -> Op[bool]:
        return bool((yield from self._op("driver_enable_cb")))


class SteppedDeviceOps(ThreadedSide):
    """A stepped device's operations; ``_segs`` is the array its ``pop`` fills (Q long)."""

    read_chain = staticmethod(SplitDevice.read_chain)
    write_chain = staticmethod(SplitDevice.write_chain)  # writable buffers only
    refuses_when_broken = False  # a broken ring's push refused before its arguments are read
    q: int
    _segs: Any

    def _used_elems(self, used: Sequence[tuple[int, int]]) -> Any:
        return used_elems(self.ffi, used)

    def _after_pop(self) -> None:
        """Bookkeeping after ``pop`` returned a chain."""

    def _after_push(self, n: int) -> None:
        """Bookkeeping after ``push`` of ``n`` used elements."""

    def init(self) -> Op[None]:
        yield from self._op("device_init")

    def pop(self) -> Op[Chain | None]:
        ident = self.ffi.new("uint16_t *")
        counts = self.ffi.new("uint32_t[2]")
        if not (yield from self._op("device_pop", ident, self._segs, self.q, counts + 0,
                                    counts + 1)):
            return None
        self._after_pop()
        segs = [(int(s.addr), int(s.len)) for s in self._segs[0 : counts[0] + counts[1]]]
        return Chain(int(ident[0]), segs[: counts[0]], segs[counts[0] :])

    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        if self.refuses_when_broken and self._state.broken:  # as the Python reference
            used = ()
        elems = self._used_elems(used)
        yield from self._op("device_push", elems, len(used))
        self._after_push(len(used))

    def should_notify(self) -> Op[bool]:
        return bool((yield from self._op("device_should_notify")))

    def disable_notify(self) -> Op[None]:
        yield from self._op("device_disable_notify")

    def enable_notify(self) -> Op[bool]:
        return bool((yield from self._op("device_enable_notify")))


class CStateSide(ThreadedSide):
    """A side of the C references: its private state a block ``struct vs_<prefix><kind>``
    allocated here, ``broken`` read from it."""

    layout: Any
    q: int

    def _new_state(self, kind: str, size: int) -> Any:
        self._block = self.ffi.new("uint64_t[]", (max(size, 8) + 7) // 8)
        return self.ffi.cast(f"struct vs_{self.prefix}{kind} *", self._block)

    def _create(self, kind: str, layout: Any, memory_size: int, areas: Sequence[int],
                features: int, *extra: int) -> None:
        """Allocate the state of ``kind`` (driver or device) and call ``vs_<prefix><kind>_
        create`` on it: no memory pointer (every access is stepped), ``memory_size``, Q, the
        ring's ``areas`` (its layout's addresses), ``features`` and the ``extra`` arguments
        of that ring's create."""
        self.layout = layout
        self.q = layout.size
        size = getattr(self.lib, f"vs_{self.prefix}{kind}_state_size")(self.q)
        self._state = self._new_state(kind, size)
        name = f"vs_{self.prefix}{kind}_create"
        self._check(getattr(self.lib, name)(self._state, size, self.ffi.NULL, memory_size,
                                            self.q, *areas, features, *extra), name)

    @property
    def broken(self) -> RingError | None:
        err = self._broken(int(self._state.broken))
        assert err is None or isinstance(err, RingError)
        return err


class CDriverOps(CStateSide, SteppedDriverOps):
    """A C reference's driver: the operations, and what both rings' structs hold alike."""

    def _create_driver(self, layout: Any, areas: Sequence[int], event_idx: bool,
                       indirect_area: int | None, indirect_max: int, memory_size: int | None,
                       *extra: int) -> None:
        """Create the C driver over ``layout`` (its ``areas``) with the features asked."""
        self.event_idx = event_idx
        self.indirect_area = indirect_area
        self.indirect_max = indirect_max
        features = ((F_EVENT_IDX if event_idx else 0)
                    | (F_INDIRECT if indirect_area is not None else 0))
        self._create("driver", layout, U64_MAX if memory_size is None else memory_size, areas,
                     features, indirect_area or 0, indirect_max, *extra)
        self._new_tokens()

    @property
    def num_added(self) -> int:
        return int(self._state.num_added)

    @property
    def cb_disabled(self) -> bool:
        return bool(self._state.cb_disabled)

    def detach_unused(self) -> list[object]:
        tokens = self.ffi.new("uint64_t[]", self.q)
        name = f"vs_{self.prefix}driver_detach_unused"
        n = self._check(getattr(self.lib, name)(self._state, tokens, self.q), name)
        return [self._tokens.pop(int(tokens[k]), None) for k in range(n)]

    def enable_cb_delayed(self) -> Op[bool]:
        return bool((yield from self._op("driver_enable_cb_delayed")))


class CDeviceOps(CStateSide, SteppedDeviceOps):
    """A C reference's device: the operations, and what both rings' structs hold alike."""

    def _create_device(self, layout: Any, areas: Sequence[int], memory_size: int,
                       event_idx: bool, indirect: bool, *extra: int) -> None:
        """Create the C device over ``layout`` (its ``areas``) with the features asked."""
        self.memory_size = memory_size
        self.event_idx = event_idx
        self.indirect = indirect
        features = (F_EVENT_IDX if event_idx else 0) | (F_INDIRECT if indirect else 0)
        self._create("device", layout, memory_size, areas, features, *extra)
        self._segs = self.ffi.new("struct vs_segment[]", self.q)

    @property
    def notify_disabled(self) -> bool:
        return bool(self._state.notify_disabled)
