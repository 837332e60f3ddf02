"""The C reference of the packed ring, stepped access by access like the Python one.

The stepped build of ring_packed.c (reference/ring/c/packed_build.py: ``-DVS_STEPPED``)
sends every load, store and barrier to the callback ``vs_py_access``. As for the split ring
(reference/ring/c/stepped.py; the worker-thread machinery of reference/c_stepping.py), each C
operation becomes an ``Op`` generator of the access protocol (reference/access.py): the C
call runs in a worker thread, each access is yielded, a load's value is sent back to C, and
the generator returns the C result or raises the error of the Python reference with the
same ``req`` (reference/ring/c/packed_errors.py).

:class:`CPackedDriver` and :class:`CPackedDevice` have the constructor arguments, method
names and visible state of :class:`~virtiospec.reference.ring.PackedDriver` and
:class:`~virtiospec.reference.ring.PackedDevice` (the state is read from the C struct), so
the machines of models/ring/packed/machine.py and models/ring/packed/hostile.py step the C
sides, alone or paired with a Python side over the same memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from virtiospec.reference.access import Op
from virtiospec.reference.c_stepping import SteppedModule, ThreadedSide
from virtiospec.reference.ring.c.packed_build import MUTANTS, compile_stepped
from virtiospec.reference.ring.c.packed_errors import ABORTED, check, error
from virtiospec.reference.ring.c.stepped import (
    F_EVENT_IDX,
    F_INDIRECT,
    U64_MAX,
    segments,
    used_elems,
)
from virtiospec.reference.ring.device import Chain, SplitDevice
from virtiospec.reference.ring.errors import RingError
from virtiospec.reference.ring.packed.device import Held
from virtiospec.reference.ring.packed.driver import PackedOutstanding
from virtiospec.reference.ring.packed.layout import EVENT_WRAP_BIT, PackedLayout, off_wrap


class PackedSteppedBuild(SteppedModule):
    """One compiled stepped module of ring_packed.c (the reference, or one mutant)."""

    def __init__(self, mutant: str | None = None) -> None:
        super().__init__(mutant, compile_stepped(mutant))


@cache
def stepped_build(mutant: str | None = None) -> PackedSteppedBuild:
    """The stepped build of ring_packed.c (or of one mutant), compiled and loaded once."""
    if mutant is not None and mutant not in MUTANTS:
        raise ValueError(f"unknown C mutant {mutant!r}; known: {', '.join(MUTANTS)}")
    return PackedSteppedBuild(mutant)


def _wrap_of(value: int) -> tuple[int, int]:
    """(position, wrap bit) of an off_wrap value."""
    return value & ((1 << EVENT_WRAP_BIT) - 1), value >> EVENT_WRAP_BIT


class _PackedSide(ThreadedSide):
    """A side of ring_packed.c: ``vs_stepped_packed_<name>``, its own state block."""

    prefix = "packed_"
    aborted = ABORTED
    _stepped_build = staticmethod(stepped_build)
    _check = staticmethod(check)

    @staticmethod
    def _error(code: int) -> Exception:
        return error(code)

    def _new_state(self, kind: str, size: int) -> Any:
        self._block = self.ffi.new("uint64_t[]", (max(size, 8) + 7) // 8)
        return self.ffi.cast(f"struct vs_packed_{kind} *", self._block)


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
        err = self._broken(int(self._state.broken))
        assert err is None or isinstance(err, RingError)
        return err

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
        segs = [segments(self.ffi, out), segments(self.ffi, in_)]
        tid = self._next_token
        buf_id = yield from self._op("driver_add", segs[0], len(out), segs[1], len(in_), tid)
        self._next_token += 1
        self._tokens[tid] = token
        return buf_id

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
        err = self._broken(int(self._state.broken))
        assert err is None or isinstance(err, RingError)
        return err

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
        elems = used_elems(self.ffi, used)
        yield from self._op("device_push", elems, len(used))

    def should_notify(self) -> Op[bool]:
        return bool((yield from self._op("device_should_notify")))

    def disable_notify(self) -> Op[None]:
        yield from self._op("device_disable_notify")

    def enable_notify(self) -> Op[bool]:
        return bool((yield from self._op("device_enable_notify")))
