"""A driver and a device of any C implementation of virtiospec_ring.h, stepped access by
access through our TSan hooks (build.py, tsan_hooks.c).

:class:`TsanDriver` and :class:`TsanDevice` have the method names of
:class:`~virtiospec.reference.ring.SplitDriver` and
:class:`~virtiospec.reference.ring.SplitDevice`: each operation is an ``Op`` generator of the
access protocol (reference/access.py), run in a worker thread by reference/c_stepping.py,
so the ring machines, the litmus races and the conformance suite step a foreign build as they
step the Python reference. Each side owns a private *view* of guest memory (the ``mem`` its
implementation was created with), which the hooks keep in step with the checker's memory.

What the checkers read of a side's private state and the ABI does not export is kept here
from the results of its operations: the free-running indices (the start index plus the
chains added, taken back, popped, pushed) and the descriptors of each chain the driver added
(walked in the driver's view right after ``add``). The start index is set at creation; the
setters of the indices create the side again on its state with that start and run its init
unstepped (a reset: see ``_reset``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from virtiospec.conformance.ring.tsan_step.build import Recipe, compile_module
from virtiospec.reference.access import Op
from virtiospec.reference.c_stepping import SteppedModule, ThreadedSide
from virtiospec.reference.ring.c.errors import check, error
from virtiospec.reference.ring.c.stepped_ops import Segments, SteppedDeviceOps, SteppedDriverOps
from virtiospec.reference.ring.driver import Outstanding
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_NEXT,
    SplitLayout,
)

F_EVENT_IDX, F_INDIRECT = 1, 2
DRIVER_VIEW = 1 << 20  # a driver created without a memory size sees this much
RECIPES: dict[str, Callable[[], Recipe]] = {}  # build key -> how to compile it


class TsanBuild(SteppedModule):
    """One compiled stepped module of a foreign implementation."""

    def __init__(self, key: str, recipe: Recipe) -> None:
        super().__init__(key, compile_module(recipe))
        self.key, self.recipe = key, recipe
        self.version = int(self.lib.virtiospec_ring_abi_version())


def register(key: str, recipe: Callable[[], Recipe]) -> None:
    """Make ``key`` name a build (compiled when first used)."""
    RECIPES[key] = recipe


@cache
def tsan_build(key: str) -> TsanBuild:
    if key not in RECIPES:
        raise ValueError(f"unknown stepped build {key!r}; known: {', '.join(sorted(RECIPES))}")
    return TsanBuild(key, RECIPES[key]())


class _Side(ThreadedSide):
    aborted = 18
    _check = staticmethod(check)
    which: str = ""

    @staticmethod
    def _stepped_build(mutant: str | None) -> SteppedModule:
        if mutant is None:
            raise ValueError("a stepped foreign side needs a build key (see sides.register)")
        return tsan_build(mutant)
    _error = staticmethod(error)

    def _setup(self, layout: SplitLayout, view_size: int, features: int,
               indirect_area: int, indirect_max: int) -> None:
        self.layout, self.q = layout, layout.size
        self.view_size = view_size
        self.features, self.indirect_area, self.indirect_max = (features, indirect_area,
                                                                indirect_max)
        ffi, lib = self.ffi, self.lib
        size = int(getattr(lib, f"virtiospec_ring_{self.which}_state_size")(self.q))
        self._size = size
        self._priv = ffi.new("uint64_t[]", max(size, 8) // 8 + 1)
        self._view = ffi.new("uint8_t[]", view_size)
        self._state = ffi.new("struct vs_tsan_side *")
        self._state.state = self._priv
        self._state.view, self._state.view_size = self._view, view_size
        self._create(0)

    def _create(self, start: int) -> None:
        cfg = self.ffi.new("struct virtiospec_ring_config *")
        lay = self.layout
        cfg.queue_size, cfg.features = self.q, self.features
        cfg.desc, cfg.avail, cfg.used = lay.desc, lay.avail, lay.used
        cfg.indirect_area, cfg.indirect_max = self.indirect_area, self.indirect_max
        cfg.start_index = start & 0xFFFF
        self.start = start & 0xFFFF
        fn = getattr(self.lib, f"virtiospec_ring_{self.which}_create")
        check(fn(self._priv, self._size, self._view, self.view_size, cfg),
              f"virtiospec_ring_{self.which}_create")

    def _reset(self, start: int) -> None:
        """Create the side again at ``start`` and run its init outside any stepped operation:
        its private state is initialised (an implementation may set its indices there), its
        stores reach only its own view -- the checker has initialised guest memory itself."""
        self._create(start)
        check(getattr(self.lib, f"virtiospec_ring_{self.which}_init")(self._priv),
              f"virtiospec_ring_{self.which}_init")


class TsanDriver(_Side, SteppedDriverOps):
    """A foreign driver with the interface of :class:`SplitDriver`."""

    which = "driver"

    def __init__(self, layout: SplitLayout, *, event_idx: bool = False,
                 indirect_area: int | None = None, indirect_max: int = 16,
                 memory_size: int | None = None, build: Any = None,
                 mutant: str | None = None) -> None:
        super().__init__(build, mutant)
        self.event_idx = event_idx
        need = max(layout.end, (indirect_area or 0) + layout.size * indirect_max * 16)
        view = memory_size if memory_size is not None else max(DRIVER_VIEW, need)
        features = (F_EVENT_IDX if event_idx else 0) | (F_INDIRECT if indirect_area is not None
                                                        else 0)
        self._setup(layout, view, features, indirect_area or 0, indirect_max)
        self._new_tokens()
        self._heads: dict[int, int] = {}  # token id -> head
        self.chains: dict[int, Outstanding] = {}
        self._added = self._taken = 0

    def _restart(self, start: int) -> None:
        self._reset(start)
        self._added = self._taken = 0

    @property
    def avail_idx(self) -> int:
        return (self.start + self._added) & 0xFFFF

    @avail_idx.setter
    def avail_idx(self, value: int) -> None:
        self._restart(value)

    @property
    def last_used(self) -> int:
        return (self.start + self._taken) & 0xFFFF

    @last_used.setter
    def last_used(self, value: int) -> None:
        self._restart(value)

    @property
    def outstanding(self) -> int:
        return (self._added - self._taken) & 0xFFFF

    @property
    def num_free(self) -> int:
        return check(self.lib.virtiospec_ring_driver_num_free(self._priv),
                     "virtiospec_ring_driver_num_free")

    def _walk(self, head: int) -> list[int]:
        """The descriptors of the chain at ``head``, as the driver wrote them in its view."""
        descs, i = [], head
        while 0 <= i < self.q and i not in descs:
            descs.append(i)
            at = self.layout.desc + 16 * i
            flags = self._view[at + 12] | self._view[at + 13] << 8
            if not flags & VIRTQ_DESC_F_NEXT:
                break
            i = self._view[at + 14] | self._view[at + 15] << 8
        return descs

    # -- operations (the rest: reference/ring/c/stepped_ops.py) ---------------------------
    def _segments(self, items: Segments) -> Any:
        return _segments(self.ffi, items)

    def _after_add(self, tid: int, ident: int, token: object, in_: Segments) -> None:
        self._added += 1
        self._heads[tid] = ident
        self.chains[ident] = Outstanding(token, self._walk(ident), sum(n for _, n in in_))

    def _after_get(self, tid: int) -> None:
        self._taken += 1
        self.chains.pop(self._heads.pop(tid, -1), None)

    def detach_unused(self) -> list[object]:
        tokens = self.ffi.new("uint64_t[]", self.q)
        n = check(self.lib.virtiospec_ring_driver_detach_unused(self._priv, tokens, self.q),
                  "virtiospec_ring_driver_detach_unused")
        self.chains.clear()
        self._heads.clear()
        return [self._tokens.pop(int(tokens[k]), None) for k in range(n)]

    def enable_cb_delayed(self) -> Op[bool]:
        return bool((yield from self._op("driver_enable_cb_delayed")))


class TsanDevice(_Side, SteppedDeviceOps):
    """A foreign device with the interface of :class:`SplitDevice`."""

    which = "device"

    def __init__(self, layout: SplitLayout, memory_size: int, *, event_idx: bool = False,
                 indirect: bool = False, build: Any = None,
                 mutant: str | None = None) -> None:
        super().__init__(build, mutant)
        self.memory_size, self.event_idx, self.indirect = memory_size, event_idx, indirect
        features = (F_EVENT_IDX if event_idx else 0) | (F_INDIRECT if indirect else 0)
        self._setup(layout, memory_size, features, 0, 0)
        self._segs = self.ffi.new("struct virtiospec_ring_segment[]", self.q)
        self._popped = self._pushed = 0

    def _restart(self, start: int) -> None:
        self._reset(start)
        self._popped = self._pushed = 0

    @property
    def last_avail(self) -> int:
        return (self.start + self._popped) & 0xFFFF

    @last_avail.setter
    def last_avail(self, value: int) -> None:
        self._restart(value)

    @property
    def used_idx(self) -> int:
        return (self.start + self._pushed) & 0xFFFF

    @used_idx.setter
    def used_idx(self, value: int) -> None:
        self._restart(value)

    @property
    def needs_reset(self) -> bool:
        return bool(self.lib.virtiospec_ring_device_needs_reset(self._priv))

    # -- operations (the rest: reference/ring/c/stepped_ops.py) ---------------------------
    def _used_elems(self, used: Sequence[tuple[int, int]]) -> Any:
        elems = self.ffi.new("struct virtiospec_ring_used_elem[]", max(len(used), 1))
        for k, (ident, length) in enumerate(used):
            elems[k].id, elems[k].len = ident, length
        return elems

    def _after_pop(self) -> None:
        self._popped += 1

    def _after_push(self, n: int) -> None:
        self._pushed += n


def _segments(ffi: Any, items: Sequence[tuple[int, int]]) -> Any:
    arr = ffi.new("struct virtiospec_ring_segment[]", max(len(items), 1))
    for k, (addr, length) in enumerate(items):
        arr[k].addr, arr[k].len = addr, length
    return arr


@cache
def driver_class(key: str) -> type[TsanDriver]:
    """TsanDriver bound to the build ``key``, constructible with SplitDriver's arguments."""
    return type(f"TsanDriver[{key}]", (TsanDriver,), {"default_mutant": key})


@cache
def device_class(key: str) -> type[TsanDevice]:
    return type(f"TsanDevice[{key}]", (TsanDevice,), {"default_mutant": key})
