"""The operations of a ring side over a C library, one body for the split and the packed ring.

Every C target of the ring suites (the split ABI of virtiospec_ring.h in target_abi.py, the
packed ABI of virtiospec_ring_packed.h in target_packed_abi.py, ring_packed.c's own names in
target_c.py) calls a side's operations the same way: a driver's ``add`` passes arrays of
segments and a token, ``get_used`` returns a token and a length, ``detach_unused`` fills an
array of tokens; a device's ``pop`` fills an array of segments and two counts, ``push``
takes an array of (ID, length). :class:`DriverCalls` and :class:`DeviceCalls` are those
calls, once. A side provides ``ffi``, ``lib``, ``state``, ``q`` and ``op`` (its own call
convention and error table) and names its structs and its needs-reset function; what the
spec makes different (the split driver's delayed callbacks, the packed driver's kick data,
how each counts free room) stays with the side.
"""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.ring.api import Segment
from virtiospec.reference.ring import Chain


class _Calls:
    SEGMENT = "struct virtiospec_ring_segment"
    ffi: Any
    lib: Any
    state: Any
    q: int

    def op(self, fn: str, *args: Any) -> int:
        raise NotImplementedError


class DriverCalls(_Calls):
    """A driver's operations over C: ``add``, ``kick_prepare``, ``get_used``, ``enable_cb``,
    ``disable_cb``, ``detach_unused``."""

    def _segments(self, segs: list[Segment]) -> Any:
        arr = self.ffi.new(f"{self.SEGMENT}[]", max(len(segs), 1))
        for k, (addr, length) in enumerate(segs):
            arr[k].addr, arr[k].len = addr, length
        return arr

    def add(self, out: list[Segment], in_: list[Segment], token: int) -> int:
        return self.op("add", self._segments(out), len(out), self._segments(in_), len(in_),
                       token)

    def kick_prepare(self) -> bool:
        return bool(self.op("kick_prepare"))

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


class DeviceCalls(_Calls):
    """A device's operations over C: ``pop``, ``push``, ``should_notify``,
    ``enable_notify``, ``disable_notify``, ``needs_reset``. :meth:`_buffers` makes the
    arrays ``pop`` fills; call it once ``ffi`` and ``q`` are set."""

    USED_ELEM = "struct virtiospec_ring_used_elem"
    NEEDS_RESET: str  # the C function that answers 0 or minus the code that stopped it

    def _buffers(self) -> None:
        self._segs = self.ffi.new(f"{self.SEGMENT}[]", self.q)
        self._id = self.ffi.new("uint16_t *")
        self._counts = self.ffi.new("uint32_t[2]")

    def pop(self, max_segs: int | None = None) -> Chain | None:
        """The next chain; ``max_segs`` (ABI only) is what the call says the array holds."""
        c = self._counts
        room = self.q if max_segs is None else max_segs
        if not self.op("pop", self._id, self._segs, room, c + 0, c + 1):
            return None
        segs = [(int(s.addr), int(s.len)) for s in self._segs[0 : c[0] + c[1]]]
        return Chain(int(self._id[0]), segs[: c[0]], segs[c[0] :])

    def push(self, used: list[tuple[int, int]]) -> None:
        elems = self.ffi.new(f"{self.USED_ELEM}[]", max(len(used), 1))
        for k, (ident, length) in enumerate(used):
            if not (0 <= ident < 1 << 32 and 0 <= length < 1 << 32):
                raise ValueError(f"used element ({ident}, {length}) does not fit 32 bits")
            elems[k].id, elems[k].len = ident, length
        self.op("push", elems, len(used))

    def should_notify(self) -> bool:
        return bool(self.op("should_notify"))

    def enable_notify(self) -> bool:
        return bool(self.op("enable_notify"))

    def disable_notify(self) -> None:
        self.op("disable_notify")

    @property
    def needs_reset(self) -> bool:
        return self.needs_reset_code != 0

    @property
    def needs_reset_code(self) -> int:
        """0, or minus the error code that stopped the device (the library's own answer)."""
        return int(getattr(self.lib, self.NEEDS_RESET)(self.state))
