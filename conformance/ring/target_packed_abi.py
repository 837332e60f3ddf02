"""Packed-ring sides over the C ABI of ``conformance/ring/virtiospec_ring_packed.h``.

:class:`AbiPackedDriver` and :class:`AbiPackedDevice` implement the PackedRingDriver /
PackedRingDevice protocols of :mod:`virtiospec.conformance.ring.api` by calling the ABI
through cffi on the case's guest memory. ``--target lib:PATH.so`` offers them when the
library exports the packed ABI (target_abi.AbiTarget); the ``ring.packed.*`` cases SKIP,
naming what is missing, when it does not.
"""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.cases import CaseSkipped
from virtiospec.conformance.ring.api import PackedRingSetup
from virtiospec.conformance.ring.target_calls import DeviceCalls, DriverCalls
from virtiospec.reference.ring.c.packed_errors import check

ABI_VERSION = 1
PREFIX = "virtiospec_ring_packed_"
F_EVENT_IDX, F_INDIRECT = 1, 2


def packed_abi(abi: Any, name: str) -> Any:
    """``abi`` (an AbiLibrary) if its library exports the packed ABI of this version, else
    SKIP naming why."""
    try:
        version = abi.lib.virtiospec_ring_packed_abi_version()
    except AttributeError:
        raise CaseSkipped(f"target {name} does not export virtiospec_ring_packed_abi_version "
                          "(conformance/ring/virtiospec_ring_packed.h): no packed ring") from None
    if version != ABI_VERSION:
        raise CaseSkipped(f"target {name} implements virtiospec_ring_packed ABI version "
                          f"{version}; this suite speaks version {ABI_VERSION}")
    return abi


class _Side:
    def __init__(self, abi: Any, setup: PackedRingSetup, side: str) -> None:
        self.ffi, self.lib, self.side = abi.ffi, abi.lib, side
        self.q = setup.layout.size
        self.mem = self.ffi.from_buffer(setup.memory.buf)  # kept alive with this object
        size = getattr(self.lib, f"{PREFIX}{side}_state_size")(self.q)
        self.state = self.ffi.new("uint64_t[]", (max(size, 8) + 7) // 8)
        cfg = self.ffi.new("struct virtiospec_ring_packed_config *")
        lay = setup.layout
        cfg.queue_size, cfg.desc = self.q, lay.desc
        cfg.driver_event, cfg.device_event = lay.driver_event, lay.device_event
        indirect = setup.indirect and (side == "device" or setup.indirect_area is not None)
        cfg.features = (F_EVENT_IDX if setup.event_idx else 0) | (F_INDIRECT if indirect else 0)
        if side == "driver":
            cfg.indirect_max = setup.indirect_max
            if indirect:
                cfg.indirect_area = setup.indirect_area
        self.call("create", self.state, size, self.mem, setup.memory.size, cfg)
        self.call("init", self.state)

    def call(self, fn: str, *args: Any) -> int:
        name = f"{PREFIX}{self.side}_{fn}"
        return check(getattr(self.lib, name)(*args), name)

    def op(self, fn: str, *args: Any) -> int:
        return self.call(fn, self.state, *args)


class AbiPackedDriver(_Side, DriverCalls):
    def __init__(self, abi: Any, setup: PackedRingSetup) -> None:
        super().__init__(abi, setup, "driver")

    def kick_data(self) -> int:
        return self.op("kick_data")

    @property
    def num_free(self) -> int:
        return self.op("num_free")


class PackedDeviceCalls(DeviceCalls):
    """The device's operations over a packed-ring C device (target_calls.py): one body for
    every build of ring_packed.c's device, whatever its names (this ABI's, or
    ring_packed.c's own in target_c.py)."""

    NEEDS_RESET = "virtiospec_ring_packed_device_needs_reset"


class AbiPackedDevice(_Side, PackedDeviceCalls):
    def __init__(self, abi: Any, setup: PackedRingSetup) -> None:
        super().__init__(abi, setup, "device")
        self._buffers()
