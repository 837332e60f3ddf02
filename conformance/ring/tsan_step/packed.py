"""Linux's packed-ring driver (virtio_ring.c behind conformance/ring/linux_vring/driver_packed.c)
stepped through the TSan hooks, with the interface of
:class:`~virtiospec.reference.ring.PackedDriver`, so that the packed-ring machine
(models/ring/packed/machine.py) steps it against the reference packed device. Linux has no
packed-ring device (vringh is split only)."""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.ring.tsan_step.sides import (
    DRIVER_VIEW,
    F_EVENT_IDX,
    F_INDIRECT,
    tsan_build,
)
from virtiospec.conformance.ring.tsan_step.sides import _segments as segments
from virtiospec.reference.c_stepping import SteppedModule
from virtiospec.reference.ring.c.packed_errors import check, error
from virtiospec.reference.ring.c.stepped_ops import Segments, SteppedDriverOps
from virtiospec.reference.ring.packed.layout import PackedLayout


class TsanPackedDriver(SteppedDriverOps):
    """Linux's packed driver, stepped (``vs_stepped_packed_driver_*``)."""

    prefix = "packed_"
    aborted = 18  # the entry points return -VIRTIOSPEC_RING_E_ABORTED when abandoned
    _check = staticmethod(check)

    @staticmethod
    def _stepped_build(mutant: str | None) -> SteppedModule:
        if mutant is None:
            raise ValueError("a stepped packed driver needs a build key")
        return tsan_build(mutant)
    _error = staticmethod(error)

    def __init__(self, layout: PackedLayout, *, event_idx: bool = False,
                 indirect_area: int | None = None, indirect_max: int = 16,
                 build: Any = None, mutant: str | None = None) -> None:
        super().__init__(build, mutant)
        self.layout, self.q, self.event_idx = layout, layout.size, event_idx
        ffi, lib = self.ffi, self.lib
        size = int(lib.vsl_packed_driver_state_size(self.q))
        self._priv = ffi.new("uint64_t[]", max(size, 8) // 8 + 1)
        need = max(layout.end, (indirect_area or 0) + self.q * indirect_max * 16)
        self._view = ffi.new("uint8_t[]", max(DRIVER_VIEW, need))
        self._state = ffi.new("struct vs_tsan_side *")
        self._state.state, self._state.view = self._priv, self._view
        self._state.view_size = len(self._view)
        features = (F_EVENT_IDX if event_idx else 0) | (F_INDIRECT if indirect_area is not None
                                                        else 0)
        check(lib.vsl_packed_driver_create(self._priv, size, self._view, len(self._view),
                                           self.q, layout.desc, layout.driver_event,
                                           layout.device_event, features, indirect_area or 0,
                                           indirect_max), "vsl_packed_driver_create")
        self._new_tokens()

    @property
    def num_free(self) -> int:
        return check(self.lib.vsl_packed_driver_num_free(self._priv),
                     "vsl_packed_driver_num_free")

    @property
    def outstanding(self) -> int:
        return self.q - self.num_free

    # -- operations: reference/ring/c/stepped_ops.py --------------------------------------
    def _segments(self, items: Segments) -> Any:
        return segments(self.ffi, items)


def packed_driver_class(key: str) -> type[TsanPackedDriver]:
    """TsanPackedDriver bound to the build ``key``."""
    return type(f"TsanPackedDriver[{key}]", (TsanPackedDriver,), {"default_mutant": key})
