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
from virtiospec.conformance.ring.api import PackedRingSetup, Segment
from virtiospec.reference.ring import Chain
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


class AbiPackedDriver(_Side):
    def __init__(self, abi: Any, setup: PackedRingSetup) -> None:
        super().__init__(abi, setup, "driver")

    def _segments(self, segs: list[Segment]) -> Any:
        arr = self.ffi.new("struct virtiospec_ring_segment[]", max(len(segs), 1))
        for k, (addr, length) in enumerate(segs):
            arr[k].addr, arr[k].len = addr, length
        return arr

    def add(self, out: list[Segment], in_: list[Segment], token: int) -> int:
        return self.op("add", self._segments(out), len(out), self._segments(in_), len(in_),
                       token)

    def kick_prepare(self) -> bool:
        return bool(self.op("kick_prepare"))

    def kick_data(self) -> int:
        return self.op("kick_data")

    def get_used(self) -> tuple[int, int] | None:
        token, length = self.ffi.new("uint64_t *"), self.ffi.new("uint32_t *")
        if not self.op("get_used", token, length):
            return None
        return int(token[0]), int(length[0])

    def enable_cb(self) -> bool:
        return bool(self.op("enable_cb"))

    def disable_cb(self) -> None:
        self.op("disable_cb")

    def detach_unused(self) -> list[int]:
        tokens = self.ffi.new("uint64_t[]", self.q)
        n = self.op("detach_unused", tokens, self.q)
        return [int(tokens[k]) for k in range(n)]

    @property
    def num_free(self) -> int:
        return self.op("num_free")


class PackedDeviceCalls:
    """The device's operations over a packed-ring C device: one body for every build of
    ring_packed.c's device, whatever its names (this ABI's, or ring_packed.c's own in
    target_c.py). A subclass names its segment and used-element structs and its
    needs-reset function, and provides ``ffi``, ``lib``, ``state``, ``q`` and ``op``."""

    SEGMENT = "struct virtiospec_ring_segment"
    USED_ELEM = "struct virtiospec_ring_used_elem"
    NEEDS_RESET = "virtiospec_ring_packed_device_needs_reset"
    ffi: Any
    lib: Any
    state: Any
    q: int

    def op(self, fn: str, *args: Any) -> int:
        raise NotImplementedError

    def _buffers(self) -> None:
        self._segs = self.ffi.new(f"{self.SEGMENT}[]", self.q)
        self._id = self.ffi.new("uint16_t *")
        self._counts = self.ffi.new("uint32_t[2]")

    def pop(self) -> Chain | None:
        c = self._counts
        if not self.op("pop", self._id, self._segs, self.q, c + 0, c + 1):
            return None
        segs = [(int(s.addr), int(s.len)) for s in self._segs[0 : c[0] + c[1]]]
        return Chain(int(self._id[0]), segs[: c[0]], segs[c[0] :])

    def push(self, used: list[tuple[int, int]]) -> None:
        elems = self.ffi.new(f"{self.USED_ELEM}[]", max(len(used), 1))
        for k, (buf_id, length) in enumerate(used):
            if not (0 <= buf_id < 1 << 32 and 0 <= length < 1 << 32):
                raise ValueError(f"used element ({buf_id}, {length}) does not fit 32 bits")
            elems[k].id, elems[k].len = buf_id, length
        self.op("push", elems, len(used))

    def should_notify(self) -> bool:
        return bool(self.op("should_notify"))

    def enable_notify(self) -> bool:
        return bool(self.op("enable_notify"))

    def disable_notify(self) -> None:
        self.op("disable_notify")

    @property
    def needs_reset(self) -> bool:
        return int(getattr(self.lib, self.NEEDS_RESET)(self.state)) != 0


class AbiPackedDevice(_Side, PackedDeviceCalls):
    def __init__(self, abi: Any, setup: PackedRingSetup) -> None:
        super().__init__(abi, setup, "device")
        self._buffers()
