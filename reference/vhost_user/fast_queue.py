"""One virtqueue served in C over the vhost-user memory table: :class:`FastQueue` (ring.c's
device side through reference/vhost_user/c/ring_vhost.c, or ring_packed.c's through
ring_vhost_packed.c), with its accesses translated through the table's regions; and a
traffic source's frames laid out for C (:class:`_Pattern`, :func:`rx_repeat`). The device
that uses these queues is :class:`~.fast.FastNetDevice`."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from virtiospec.reference.net import features as F
from virtiospec.reference.ring.c.errors import error as c_error
from virtiospec.reference.ring.c.packed_errors import error as packed_c_error
from virtiospec.reference.ring.errors import NeedsReset
from virtiospec.reference.vhost_user.memory import MemoryTable

try:
    from virtiospec.reference.vhost_user.c import _ring_vhost  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - the install builds it (setup.py)
    _ring_vhost = None
try:  # the same API over ring_packed.c (reference/vhost_user/c/ring_vhost_packed.c)
    from virtiospec.reference.vhost_user.c import _ring_vhost_packed  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - the install builds it (setup.py)
    _ring_vhost_packed = None

TX_BATCH = 256  # chains per vsv_tx_pop
RX_BATCH = 256  # frames per vsv_rx
TX_OUT = 1 << 20  # bytes of transmitted chains per batch (vsv_tx_pop stops at VSV_TX_CAP left)
_TX_FRAME = struct.Struct("<IIQHBBI")  # struct vsv_tx_frame


def available(packed: bool = False) -> bool:
    """Whether the C fast path (for split rings, or for packed ones) was built (pip install
    compiles it with a C compiler)."""
    return (_ring_vhost_packed if packed else _ring_vhost) is not None


def _lib(packed: bool = False) -> tuple[Any, Any]:
    module = _ring_vhost_packed if packed else _ring_vhost
    if module is None:
        name = "_ring_vhost_packed" if packed else "_ring_vhost"
        raise RuntimeError(f"the C fast path (virtiospec.reference.{name}) is not built: "
                           "reinstall virtiospec (`pip install -e .`) with a C compiler")
    return module.ffi, module.lib


def _check(rc: int, what: str, error: Callable[..., Exception] = c_error) -> int:
    if rc < 0:
        raise error(-rc, what)
    return rc


class FastQueue:
    """One split virtqueue served by ring_vhost.c over the regions of a :class:`MemoryTable`
    (``packed=True``: a packed one, served by ring_vhost_packed.c; ``desc``, ``avail`` and
    ``used`` are then the descriptor ring and the driver's and the device's event-suppression
    structures, ``last_avail`` and ``used_idx`` positions with their wrap counter in bit 15).

    Holds a buffer export of every region's mapping while it lives, so a region cannot be
    unmapped under it; :meth:`close` gives them back (the session closes its queues before
    it replaces or closes the table)."""

    def __init__(self, mem: MemoryTable, size: int, desc: int, avail: int, used: int, *,
                 features: int, last_avail: int, used_idx: int, call_fd: int | None,
                 receive: bool, packed: bool = False) -> None:
        ffi, lib = _lib(packed)
        self._ffi, self._lib = ffi, lib
        self.packed = packed
        self.error_of: Callable[..., Exception] = packed_c_error if packed else c_error
        self.q = size
        self.receive = receive
        self._exports: list[Any] = []
        self._state: Any = None
        self._final = (last_avail & 0xFFFF, used_idx & 0xFFFF, 0, 0)
        spans = mem.spans()
        if not 1 <= len(spans) <= lib.VSV_MAX_REGIONS:
            raise ValueError(f"{len(spans)} regions: the fast path takes 1 to "
                             f"{lib.VSV_MAX_REGIONS}")
        cfg = ffi.new("struct vsv_config *")
        cfg.queue_size = size
        cfg.features = ((lib.VSV_F_EVENT_IDX if F.has(features, F.RING_EVENT_IDX) else 0)
                        | (lib.VSV_F_INDIRECT if F.has(features, F.RING_INDIRECT_DESC) else 0)
                        | (lib.VSV_F_MRG_RXBUF if F.has(features, F.MRG_RXBUF) else 0)
                        | (lib.VSV_F_CSUM if F.has(features, F.CSUM) else 0))
        cfg.desc, cfg.avail, cfg.used = desc, avail, used
        cfg.last_avail, cfg.used_idx = last_avail & 0xFFFF, used_idx & 0xFFFF
        cfg.call_fd = -1 if call_fd is None else call_fd
        cfg.n_regions = len(spans)
        try:
            for i, (gpa, length, mapping, skip) in enumerate(spans):
                ptr = ffi.from_buffer("uint8_t[]", mapping, require_writable=True)
                self._exports.append(ptr)
                cfg.regions[i].guest_addr = gpa
                cfg.regions[i].size = length
                cfg.regions[i].host = ptr + skip
            n = lib.vsv_queue_state_size(size)
            if n == 0:
                _check(-1, "vsv_queue_state_size", self.error_of)  # a bad queue size
            state = ffi.new("uint64_t[]", (n + 7) // 8)
            _check(lib.vsv_queue_create(state, n, cfg), "vsv_queue_create", self.error_of)
            self._state = state  # only a queue that was created is ever used
        except BaseException:
            self.close()
            raise
        self._res = ffi.new("struct vsv_result *")
        if receive:
            self._small = ffi.new("struct vsv_small[]", size)
        else:
            self._out = ffi.new("uint8_t[]", TX_OUT)
            self._out_buf = ffi.buffer(self._out)
            self._frames = ffi.new("struct vsv_tx_frame[]", TX_BATCH)
            self._frames_buf = ffi.buffer(self._frames)

    def close(self) -> None:
        """Give back the regions. The queue runs no more; its indices stay readable."""
        if self._state is not None:
            self._final = (self.last_avail, self.used_idx, self.held, self.error)
        for ptr in self._exports:
            self._ffi.release(ptr)
        self._exports = []
        self._state = None

    @property
    def closed(self) -> bool:
        return self._state is None

    # -- state, as SplitDevice has it ----------------------------------------------------------
    @property
    def last_avail(self) -> int:
        if self._state is None:
            return self._final[0]
        return int(self._lib.vsv_queue_last_avail(self._state))

    @property
    def used_idx(self) -> int:
        if self._state is None:
            return self._final[1]
        return int(self._lib.vsv_queue_used_idx(self._state))

    @property
    def held(self) -> int:
        """Receive buffers taken and not used yet."""
        if self._state is None:
            return self._final[2]
        return int(self._lib.vsv_queue_held(self._state))

    @property
    def error(self) -> int:
        """0, or minus the ring error code that stopped the queue."""
        if self._state is None:
            return self._final[3]
        return int(self._lib.vsv_queue_broken(self._state))

    @property
    def waiting(self) -> int:
        """Chains the driver made available that are not taken yet (avail.idx - last_avail,
        as last read: a hint, never trusted beyond sizing a batch)."""
        return int(self._lib.vsv_queue_waiting(self._live()))

    @property
    def room(self) -> int:
        """:attr:`waiting` + :attr:`held`: at most how many frames a receive batch can place
        (each takes a buffer not taken yet, or a held one), or be dropped against."""
        return int(self._lib.vsv_queue_room(self._live()))

    @property
    def needs_reset(self) -> bool:
        return self.error != 0

    def _live(self) -> Any:
        if self._state is None:
            raise RuntimeError("the queue was closed")
        return self._state

    def set_call(self, fd: int | None) -> None:
        if self._state is not None:
            self._lib.vsv_queue_set_call(self._state, -1 if fd is None else fd)

    def enable_notify(self) -> bool:
        """Re-enable kicks, then re-check (RING-SPLIT-072): True if buffers are waiting."""
        rc = self._lib.vsv_queue_enable_notify(self._live())
        if rc < 0:
            raise NeedsReset(f"vring needs a reset ({self.error_of(-rc)})")
        return bool(rc)

    def disable_notify(self) -> None:
        rc = self._lib.vsv_queue_disable_notify(self._live())
        if rc < 0:
            raise NeedsReset(f"vring needs a reset ({self.error_of(-rc)})")

    # -- batches -------------------------------------------------------------------------------
    def tx_pop(self, limit: int, longest: int) -> Any:
        """Pop up to ``limit`` chains (``res.frames``); :meth:`tx_frames` describes them and
        :attr:`out` holds their bytes."""
        res = self._res
        _check(self._lib.vsv_tx_pop(self._live(), self._out, TX_OUT, self._frames,
                                    min(limit, TX_BATCH), longest, res), "vsv_tx_pop",
               self.error_of)
        return res

    def tx_frames(self, n: int) -> list[tuple[int, int, int, int, int, int, int]]:
        """``(off, len, total, head, plain, 0, 0)`` of the first ``n`` chains popped."""
        return list(_TX_FRAME.iter_unpack(self._frames_buf[:n * _TX_FRAME.size]))

    @property
    def out(self) -> Any:
        return self._out_buf

    def tx_burst(self, limit: int, longest: int) -> Any:
        """:meth:`tx_pop` and :meth:`tx_done` in one C call, for a wire nobody listens to:
        the chains are used before anyone looks at their bytes (still in :attr:`out`)."""
        res = self._res
        _check(self._lib.vsv_tx_burst(self._live(), self._out, TX_OUT, self._frames,
                                      min(limit, TX_BATCH), longest, res), "vsv_tx_burst",
               self.error_of)
        return res

    def tx_done(self) -> Any:
        """Push every chain of the last :meth:`tx_pop` as used with len 0, decide and notify
        once; the result says whether it notified and the ring error of the batch."""
        _check(self._lib.vsv_tx_done(self._live(), self._res), "vsv_tx_done", self.error_of)
        return self._res

    def rx(self, frames: Sequence[bytes]) -> tuple[int, Any, list[tuple[int, int]]]:
        """Deliver ``frames`` in order while there are buffers: (frames consumed, the result,
        the (head, len) of every buffer too small for a header)."""
        ffi, res = self._ffi, self._res
        data = b"".join(frames)
        lens = array("I", map(len, frames))
        n = _check(self._lib.vsv_rx(self._live(), ffi.from_buffer(data),
                                    ffi.from_buffer("uint32_t[]", lens), len(frames),
                                    self._small, self.q, res), "vsv_rx", self.error_of)
        small = [(int(s.head), int(s.len)) for s in self._small[0:res.small]] if res.small \
            else []
        return n, res, small


def rx_repeat(q: FastQueue, pattern: _Pattern, first: int, n: int
              ) -> tuple[int, Any, list[tuple[int, int]]]:
    """:meth:`FastQueue.rx` of ``n`` frames of a traffic source, frame f being
    ``pattern.frames[(first + f) % len(pattern.frames)]``: one C call however long the
    burst."""
    res = q._res
    n = _check(q._lib.vsv_rx_repeat(q._live(), pattern.data, pattern.lens,
                                    len(pattern.frames), first, n, q._small, q.q, res),
               "vsv_rx_repeat", q.error_of)
    small = [(int(s.head), int(s.len)) for s in q._small[0:res.small]] if res.small else []
    return n, res, small


class _Pattern:
    """The frames of a traffic source, back to back in C-readable memory (vsv_rx_repeat)."""

    def __init__(self, ffi: Any, frames: Sequence[bytes], source: tuple[bytes, ...]) -> None:
        self.source = source  # the frames asked for (frames: those the device takes)
        self.ffi = ffi  # the split and the packed module each have their own
        self.frames = tuple(frames)
        self._data = b"".join(frames)
        self._lens = array("I", map(len, frames))
        self.data = ffi.from_buffer(self._data)
        self.lens = ffi.from_buffer("uint32_t[]", self._lens)
