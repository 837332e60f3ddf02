"""``--target c``: the C reference of the ring (reference/ring.c), through its public ABI,
and of the packed ring (reference/ring/c/ring_packed.c).

The cffi module ``virtiospec.reference.ring.c._ring`` is compiled at install (setup.py); it is
ring.c and ring_abi.c behind conformance/ring/virtiospec_ring.h, called exactly as
``--target lib:`` calls a third-party library. The packed sessions (``ring.packed.*``) call
ring_packed.c in ``virtiospec.reference.ring.c._ring_packed``, also compiled at install, with C11
atomics on the suite's own guest memory.
"""

from __future__ import annotations

import importlib
from typing import Any

from virtiospec.conformance.ring.api import PackedRingSetup
from virtiospec.conformance.ring.target_abi import AbiLibrary, AbiTarget
from virtiospec.conformance.ring.target_calls import DriverCalls
from virtiospec.conformance.ring.target_packed_abi import PackedDeviceCalls
from virtiospec.reference.ring.c.packed_errors import check

PACKED_MODULE = "virtiospec.reference.ring.c._ring_packed"
F_EVENT_IDX, F_INDIRECT = 1, 2


def packed_module() -> Any:
    """The installed cffi module of ring_packed.c, or RuntimeError naming the fix."""
    try:
        return importlib.import_module(PACKED_MODULE)
    except ImportError as err:
        raise RuntimeError(f"the C reference of the packed ring ({PACKED_MODULE}) is not "
                           "built: reinstall virtiospec (`make setup` or `pip install -e .`) "
                           "with a C compiler") from err


class _PackedSide:
    """One side of ring_packed.c on the suite's guest memory, run straight through."""

    def __init__(self, setup: PackedRingSetup, side: str) -> None:
        module = packed_module()
        self.ffi, self.lib, self.side = module.ffi, module.lib, side
        self.q = setup.layout.size
        self.mem = self.ffi.from_buffer(setup.memory.buf)  # kept alive with this object
        size = getattr(self.lib, f"vs_packed_{side}_state_size")(self.q)
        self._block = self.ffi.new("uint64_t[]", (max(size, 8) + 7) // 8)
        self.state = self.ffi.cast(f"struct vs_packed_{side} *", self._block)
        lay = setup.layout
        features = ((F_EVENT_IDX if setup.event_idx else 0)
                    | (F_INDIRECT if setup.indirect else 0))
        args: tuple[Any, ...] = (self.state, size, self.mem, setup.memory.size, self.q, lay.desc,
                                 lay.driver_event, lay.device_event)
        if side == "driver":
            indirect = setup.indirect and setup.indirect_area is not None
            args += (features if indirect else features & ~F_INDIRECT,
                     setup.indirect_area if indirect else 0, setup.indirect_max)
        else:
            args += (features,)
        self.call("create", *args)
        self.call("init", self.state)

    def call(self, fn: str, *args: Any) -> int:
        name = f"vs_packed_{self.side}_{fn}"
        return check(getattr(self.lib, name)(*args), name)

    def op(self, fn: str, *args: Any) -> int:
        return self.call(fn, self.state, *args)


class CPackedDriverSession(_PackedSide, DriverCalls):
    """The driver of ring_packed.c as a PackedRingDriver (conformance/ring/api.py)."""

    SEGMENT = "struct vs_segment"

    def __init__(self, setup: PackedRingSetup) -> None:
        super().__init__(setup, "driver")

    def kick_data(self) -> int:
        return self.op("kick_data")

    @property
    def num_free(self) -> int:
        return int(self.lib.vs_packed_driver_num_free(self.state))


class CPackedDeviceSession(_PackedSide, PackedDeviceCalls):
    """The device of ring_packed.c as a PackedRingDevice (conformance/ring/api.py)."""

    SEGMENT = "struct vs_segment"
    USED_ELEM = "struct vs_used_elem"
    NEEDS_RESET = "vs_packed_device_needs_reset"

    def __init__(self, setup: PackedRingSetup) -> None:
        super().__init__(setup, "device")
        self._buffers()


class CRingTarget(AbiTarget):
    """The split ring through the ABI, and the packed ring of ring_packed.c."""

    # ring.c's driver keeps VIRTIO_F_IN_ORDER's layout rules (RING-SPLIT-016, RING-SPLIT-026;
    # suites/ring/in_order.py); a lib: target does not claim it
    ring_in_order = True

    def ring_packed_driver(self, setup: PackedRingSetup) -> CPackedDriverSession:
        self._only("driver")
        return CPackedDriverSession(setup)

    def ring_packed_device(self, setup: PackedRingSetup) -> CPackedDeviceSession:
        self._only("device")
        return CPackedDeviceSession(setup)


def make(arg: str) -> CRingTarget:
    if arg:
        raise ValueError(f"the c target takes no argument (got {arg!r})")
    try:
        import virtiospec.reference.ring.c._ring as _ring
    except ImportError as err:
        raise RuntimeError("the C reference is not built: reinstall virtiospec "
                           "(`make setup` or `pip install -e .`) with a C compiler") from err
    return CRingTarget(AbiLibrary(_ring.ffi, _ring.lib, "virtiospec.reference.ring.c._ring"), "c")
