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

from virtiospec.reference.access import Op
from virtiospec.reference.ring.c.packed_build import MUTANTS, compile_stepped
from virtiospec.reference.ring.c.packed_errors import ABORTED, check, error
from virtiospec.reference.ring.c.stepped_ops import (
    CDeviceOps,
    CDriverOps,
    CStateSide,
    CSteppedBuild,
)
from virtiospec.reference.ring.packed.device import Held
from virtiospec.reference.ring.packed.driver import PackedOutstanding
from virtiospec.reference.ring.packed.layout import EVENT_WRAP_BIT, PackedLayout, off_wrap


class PackedSteppedBuild(CSteppedBuild):
    """One compiled stepped module of ring_packed.c (the reference, or one mutant)."""

    compile = staticmethod(compile_stepped)
    mutants = MUTANTS


stepped_build = PackedSteppedBuild.load  # compiled and loaded once per mutant


def _wrap_of(value: int) -> tuple[int, int]:
    """(position, wrap bit) of an off_wrap value."""
    return value & ((1 << EVENT_WRAP_BIT) - 1), value >> EVENT_WRAP_BIT


class _PackedSide(CStateSide):
    """A side of ring_packed.c: ``vs_stepped_packed_<name>``, its own state block."""

    prefix = "packed_"
    aborted = ABORTED
    _stepped_build = staticmethod(stepped_build)
    _check = staticmethod(check)
    _error = staticmethod(error)


class CPackedDriver(_PackedSide, CDriverOps):
    """The C driver (ring_packed.c) with the interface of :class:`PackedDriver`."""

    layout: PackedLayout

    refuses_when_broken = True

    def __init__(self, layout: PackedLayout, *, event_idx: bool = False,
                 indirect_area: int | None = None, indirect_max: int = 16,
                 memory_size: int | None = None, mutant: str | None = None,
                 build: PackedSteppedBuild | None = None) -> None:
        super().__init__(build, mutant)
        self._create_driver(layout, (layout.desc, layout.driver_event, layout.device_event),
                            event_idx, indirect_area, indirect_max, memory_size)

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

    # -- operations (the rest: reference/ring/c/stepped_ops.py) ---------------------------
    def kick_data(self) -> int:
        return int(self.lib.vs_packed_driver_kick_data(self._state))

    def enable_cb_prepare(self) -> Op[tuple[int, int]]:
        return _wrap_of((yield from self._op("driver_enable_cb_prepare")))

    def poll(self, last: tuple[int, int]) -> Op[bool]:
        return bool((yield from self._op("driver_poll", off_wrap(*last))))


class CPackedDevice(_PackedSide, CDeviceOps):
    """The C device (ring_packed.c) with the interface of :class:`PackedDevice`."""

    layout: PackedLayout

    refuses_when_broken = True
    # RING-PACKED-020: write_chain (stepped_ops.py) writes the writable buffers only

    def __init__(self, layout: PackedLayout, memory_size: int, *, event_idx: bool = False,
                 indirect: bool = False, mutant: str | None = None,
                 build: PackedSteppedBuild | None = None) -> None:
        super().__init__(build, mutant)
        self._create_device(layout, (layout.desc, layout.driver_event, layout.device_event),
                            memory_size, event_idx, indirect)

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
    def in_flight(self) -> dict[int, Held]:
        """Lists popped and not pushed, by buffer ID."""
        s = self._state
        return {int(s.in_flight[k].id): Held(int(s.in_flight[k].ndesc),
                                             int(s.in_flight[k].writable))
                for k in range(self.q) if s.in_flight[k].live}

    @property
    def needs_reset(self) -> bool:
        return bool(self.lib.vs_packed_device_needs_reset(self._state))
