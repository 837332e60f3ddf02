"""The C reference of the split ring, stepped access by access like the Python one.

The stepped build of ring.c (reference/ring/c/build.py: ``-DVS_STEPPED``) sends every load,
store and barrier to the callback ``vs_py_access``. Each C operation becomes an ``Op``
generator of the access protocol (reference/access.py) by the worker-thread machinery of
reference/c_stepping.py, which the packed ring shares.

:class:`CSplitDriver` and :class:`CSplitDevice` have the method names of
:class:`~virtiospec.reference.ring.SplitDriver` and
:class:`~virtiospec.reference.ring.SplitDevice`, so the machines that step the Python sides
step the C sides, alone or paired with a Python side over the same memory.
"""

from __future__ import annotations

from virtiospec.reference.access import Op
from virtiospec.reference.c_stepping import (
    FENCE,
    FENCES,
    JOIN_SECONDS,
    LOAD,
    MAX_SUSPENDED,
    STORE,
    abort_all,
    live_operations,
)
from virtiospec.reference.ring.c.build import MUTANTS, compile_stepped
from virtiospec.reference.ring.c.errors import check, error
from virtiospec.reference.ring.c.stepped_ops import (
    F_EVENT_IDX,
    F_INDIRECT,
    U64_MAX,
    CDeviceOps,
    CDriverOps,
    CStateSide,
    CSteppedBuild,
    segments,
    used_elems,
)
from virtiospec.reference.ring.driver import Outstanding
from virtiospec.reference.ring.layout import SplitLayout

__all__ = [
    "FENCE",
    "FENCES",
    "F_EVENT_IDX",
    "F_INDIRECT",
    "JOIN_SECONDS",
    "LOAD",
    "MAX_SUSPENDED",
    "STORE",
    "U64_MAX",
    "CSplitDevice",
    "CSplitDriver",
    "SteppedBuild",
    "abort_all",
    "live_operations",
    "segments",
    "stepped_build",
    "used_elems",
]

class SteppedBuild(CSteppedBuild):
    """One compiled stepped module of ring.c (the reference, or one mutant)."""

    compile = staticmethod(compile_stepped)
    mutants = MUTANTS


stepped_build = SteppedBuild.load  # compiled and loaded once per mutant


class _SteppedSide(CStateSide):
    """A side of ring.c: ``vs_stepped_<name>``, aborted = -18."""

    aborted = 18
    _stepped_build = staticmethod(stepped_build)
    _check = staticmethod(check)
    _error = staticmethod(error)


class CSplitDriver(_SteppedSide, CDriverOps):
    """The C driver (ring.c) with the interface of :class:`SplitDriver`."""

    layout: SplitLayout

    def __init__(self, layout: SplitLayout, *, event_idx: bool = False,
                 indirect_area: int | None = None, indirect_max: int = 16,
                 memory_size: int | None = None, mutant: str | None = None,
                 build: SteppedBuild | None = None) -> None:
        super().__init__(build, mutant)
        self._create_driver(layout, (layout.desc, layout.avail, layout.used), event_idx,
                            indirect_area, indirect_max, memory_size, 0)  # start index 0

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

    # -- operations (the rest: reference/ring/c/stepped_ops.py) ---------------------------
    def enable_cb_prepare(self) -> Op[int]:
        return (yield from self._op("driver_enable_cb_prepare"))

    def poll(self, last: int) -> Op[bool]:
        return bool((yield from self._op("driver_poll", last)))


class CSplitDevice(_SteppedSide, CDeviceOps):
    """The C device (ring.c) with the interface of :class:`SplitDevice`."""

    layout: SplitLayout

    def __init__(self, layout: SplitLayout, memory_size: int, *, event_idx: bool = False,
                 indirect: bool = False, mutant: str | None = None,
                 build: SteppedBuild | None = None) -> None:
        super().__init__(build, mutant)
        self._create_device(layout, (layout.desc, layout.avail, layout.used), memory_size,
                            event_idx, indirect, 0)  # start index 0

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
    def in_flight(self) -> dict[int, int]:
        s = self._state
        return {h: int(s.in_flight_len[h]) for h in range(self.q) if s.in_flight[h]}

    @property
    def needs_reset(self) -> bool:
        return bool(self._state.broken)
