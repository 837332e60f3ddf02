"""The network device's data path in C, one batch per call (issue #7): ``--device c``.

:class:`FastNetDevice` is the reference :class:`~virtiospec.reference.net.device.NetDevice`
(receive filter, steering, backlog, link, disabled rings, statistics, faults: all inherited)
with its two per-frame loops -- :meth:`NetDevice.process_tx` (``tx_take`` + ``tx_complete``)
and :meth:`NetDevice.deliver` -- done by ``reference/vhost_user/c/ring_vhost.c`` over
:class:`FastQueue` queues: ring.c's device side with its accesses translated through the
vhost-user memory table, the frame bytes gathered and scattered in C, the used elements of a
batch pushed at once, one notification decision and at most one eventfd write per batch.

What stays in Python is what the spec decides frame by frame and the fast path cannot
shortcut: a transmitted header with anything to check (NEEDS_CSUM, GSO, a length out of
range) is checked by :func:`~virtiospec.reference.net.header.check_tx` and its checksum
finished by :func:`~virtiospec.reference.net.header.finish_checksum`; headers are recorded as
the Python device records them; frames go to ``on_transmit`` one by one. Errors are the
Python device's: a ring error is the ring's error class with its requirement ID
(reference/ring/c/errors.py), a refused header the same :class:`BadTxHeader`.

Where the two differ (by design): used elements are pushed per batch rather than per frame,
so the driver gets fewer used-buffer notifications for the same used entries, and
``process_tx`` takes a batch from one queue before it looks at a higher-priority one again.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Iterable, Sequence
from itertools import count, islice
from operator import itemgetter
from typing import Any

from virtiospec.reference.net import features as F
from virtiospec.reference.net.buffers import ByteMemory
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice, Transmit
from virtiospec.reference.net.errors import BadTxHeader, NetError
from virtiospec.reference.net.frames import flow_key
from virtiospec.reference.net.header import (
    HDR_LEN,
    NetHdr,
    check_tx,
    driver_faults,
    finish_checksum,
    max_frame,
)
from virtiospec.reference.ring import SplitDevice
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
HDR_CACHE = 256


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


class FastNetDevice(NetDevice):
    """The reference network device with its data path in C (see the module's text).

    ``on_notified(index)`` is told of every used-buffer notification the C side made (it
    wrote the queue's call eventfd itself); ``discard_wire`` drops transmitted frames
    without making them Python bytes, for a wire nobody listens to (the benchmark)."""

    _seq: int  # NetDevice's count of frames from the wire (receive_many keeps it)

    def __init__(self, config: NetConfig, features: int, mem: ByteMemory, *,
                 notify: Callable[[int], None] | None = None,
                 on_transmit: Transmit | None = None, filtering: bool = True,
                 on_notified: Callable[[int], None] | None = None,
                 front_end_ctrl: bool = False) -> None:
        super().__init__(config, features, mem, notify=notify, on_transmit=on_transmit,
                         filtering=filtering, front_end_ctrl=front_end_ctrl)
        if config.mtu > 65535:
            raise ValueError(f"MTU {config.mtu}: the fast path takes frames of an MTU <= 65535")
        self.fast: dict[int, FastQueue] = {}
        self.on_notified = on_notified or (lambda index: None)
        self.discard_wire = False
        self.batches = 0
        self._headers: dict[bytes, NetHdr] = {}
        self._pattern: _Pattern | None = None
        self._repeat_at = 0  # the pattern frame the next send_repeating starts with
        self._acc: Any = None  # struct vsv_poll_result, of the module in _acc_ffi
        self._acc_ffi: Any = None

    # -- queues ----------------------------------------------------------------------------------
    def attach(self, index: int, queue: SplitDevice | FastQueue) -> None:
        if not isinstance(queue, FastQueue):
            raise TypeError("the fast path serves FastQueue queues")
        if index >= 2 * self.n_pairs or index == self.ctrl_q:
            raise ValueError(f"the device has no data virtqueue {index}")
        self.fast[index] = queue
        self.broken.pop(index, None)

    def detach(self, index: int) -> None:
        q = self.fast.pop(index, None)
        if q is not None:
            q.close()
        super().detach(index)

    def held(self, pair: int) -> int:
        """Receive buffers of ``pair`` taken and not used (a stop gives them back)."""
        q = self.fast.get(2 * pair)
        return q.held if q is not None else 0

    def reset(self) -> None:
        for q in self.fast.values():
            q.close()
        self.fast.clear()
        super().reset()

    def close(self) -> None:
        for index in list(self.fast):
            self.detach(index)

    def _notified(self, index: int, res: Any) -> None:
        if res.notified:
            self.stats.notifications += 1
            self.on_notified(index)
        if res.error:
            q = self.fast.get(index)
            error_of = q.error_of if q is not None else c_error
            self._fail(index, error_of(-res.error))  # type: ignore[arg-type]

    # -- transmit ----------------------------------------------------------------------------------
    def tx_take(self, pair: int) -> bool:
        raise NotImplementedError("the fast path transmits in batches (process_tx)")

    def tx_complete(self, pair: int) -> int:
        return 0  # nothing is ever left staged between batches

    def process_tx(self, budget: int = 1 << 30) -> int:
        """Transmit until no queue in use has a frame (or about ``budget`` chains), a batch at
        a time from the highest-priority queue that has one (NET-052)."""
        if not self.config.link_up:
            return 0  # NET-026
        order = self.tx_order()
        done = 0
        while done < budget:
            for pair in order:
                n = self._tx_batch(pair, budget - done)
                if n:
                    done += n
                    break
            else:
                return done
        return done

    def _tx_batch(self, pair: int, budget: int) -> int:
        index = 2 * pair + 1
        q = self.fast.get(index)
        if q is None or index in self.broken:
            return 0
        longest = max_frame(self.features, self.config.mtu)
        if self.discard_wire and not self._recording() and not self._flows():
            # nobody is handed a frame: used at once, the headers looked at after (the
            # counts and faults are the same; only the order against "on the wire" differs,
            # and there is no wire)
            res = q.tx_burst(budget, longest)
            n = int(res.frames)
            if n:
                self.batches += 1
                self._tx_frames(pair, index, q, n, res)
            self._notified(index, res)
            return n
        res = q.tx_pop(budget, longest)
        n = int(res.frames)
        if n:
            self.batches += 1
            self._tx_frames(pair, index, q, n, res)
        self._notified(index, q.tx_done())
        return n

    def _recording(self) -> bool:
        """Whether transmitted headers are still recorded (the first tx_headers_limit)."""
        return self.tx_headers is not None and len(self.tx_headers) < self.tx_headers_limit

    def _flows(self) -> bool:
        return self.n_pairs > 1 and F.has(self.features, F.MQ)

    def _tx_frames(self, pair: int, index: int, q: FastQueue, n: int, res: Any) -> None:
        st = self.stats
        for req, times in (("NET-002", res.faults_num_buffers), ("NET-005", res.faults_flags),
                           ("NET-003", res.faults_no_csum)):
            if times:
                st.driver_faults[req] += times  # the plain frames' (the others' below)
        disabled = index in self.disabled
        recording = self.tx_headers is not None and len(self.tx_headers) < self.tx_headers_limit
        flows = self._flows()
        if self.discard_wire and not recording and not flows and res.plain == n:
            if disabled:  # every frame accepted, nobody to hand them to
                st.tx_discarded += n
            else:
                st.tx_frames += n
            return
        out = q.out
        sent: list[bytes] = []
        for off, length, _total, _head, plain, _, _ in q.tx_frames(n):
            data = out[off:off + length]
            if plain:
                hdr = self._header(data[:HDR_LEN])
                frame = data[HDR_LEN:]
            else:
                try:
                    hdr, frame = check_tx(data, self.features, self.config.mtu)  # NET-008
                except BadTxHeader as err:
                    self.faults.append(err)
                    st.tx_refused += 1
                    continue
                for req in driver_faults(hdr, self.features):
                    st.driver_faults[req] += 1
            if self.tx_headers is not None and len(self.tx_headers) < self.tx_headers_limit:
                self.tx_headers.append(hdr)
            if hdr.needs_csum:
                frame = finish_checksum(frame, hdr.csum_start, hdr.csum_offset)  # NET-009
            if flows:
                self.flows[flow_key(frame)] = pair  # NET-040
            sent.append(frame)
        # NET-061: on the wire, then (vsv_tx_done) used
        if disabled:
            st.tx_discarded += len(sent)
            return
        st.tx_frames += len(sent)
        if self.discard_wire:
            return
        for frame in sent:
            if self.on_transmit is not None:
                self.on_transmit(pair, frame)
            else:
                self.transmitted.append((pair, frame))

    def _header(self, raw: bytes) -> NetHdr:
        hdr = self._headers.get(raw)
        if hdr is None:
            hdr = NetHdr.unpack(raw)
            if len(self._headers) < HDR_CACHE:
                self._headers[raw] = hdr
        return hdr

    # -- receive -----------------------------------------------------------------------------------
    def receive_many(self, frames: Iterable[bytes]) -> int:
        """:meth:`NetDevice.receive` of each frame, in order; returns how many were queued.
        Without filtering and with one pair in use (vhost-user's usual case) the same checks
        are made with their constants taken once."""
        if self.filtering or self.filter.pairs != 1:
            return sum(self.receive(frame) for frame in frames)
        longest = max_frame(self.features, self.config.mtu)
        frames = list(frames)
        if frames and max(map(len, frames)) > longest:
            kept = [f for f in frames if len(f) <= longest]
            self.stats.rx_too_big += len(frames) - len(kept)  # NET-024: never delivered
            frames = kept
        seq = self._seq
        self.backlog[0].extend(zip(count(seq + 1), frames))
        self._seq = seq + len(frames)
        return len(frames)

    def deliver(self, pair: int) -> int:
        """Place waiting frames in receive queue ``pair`` while it has buffers, a batch per
        call into C; returns how many left the backlog (delivered, or dropped as never
        fitting). Nothing moves while the link is down (NET-026)."""
        index = 2 * pair
        q = self.fast.get(index)
        if not self.config.link_up or index in self.disabled or q is None \
                or index in self.broken:
            return 0
        backlog = self.backlog[pair]
        done = 0
        while backlog:
            # each frame takes at least one buffer not yet taken, or held ones
            most = min(RX_BATCH, q.room)
            if not most:
                break
            batch = list(map(itemgetter(1), islice(backlog, most)))
            n, res, small = q.rx(batch)
            self.batches += 1
            if n == len(backlog):
                backlog.clear()  # NET-017: the frames leave the wire with the push
            else:
                for _ in range(n):
                    backlog.popleft()
            done += n
            self._rx_done(index, res, small)
            if res.error or (n < len(batch) and not res.retry):
                break
        return done

    def _rx_done(self, index: int, res: Any, small: list[tuple[int, int]]) -> None:
        st = self.stats
        if res.popped:
            lo, hi = int(res.buf_min), int(res.buf_max)
            st.rx_buf_min = lo if st.rx_buf_min is None else min(st.rx_buf_min, lo)
            st.rx_buf_max = hi if st.rx_buf_max is None else max(st.rx_buf_max, hi)
        for head, length in small:
            self.faults.append(NetError(f"receive buffer {head} holds {length} bytes",
                                        "NET-014"))
        st.rx_frames += res.delivered
        st.rx_buffers += res.buffers
        st.rx_too_big += res.dropped
        self._notified(index, res)

    def run_loop(self, frames: Sequence[bytes] | None, max_bursts: int = 256,
             max_idle: int = 4096) -> int | None:
        """The device's loop in one C call (vsv_poll) while nobody is handed a frame: up to
        ``max_bursts`` rounds of a transmit burst (used at once, :meth:`FastQueue.tx_burst`)
        and a receive burst of the source ``frames`` (:meth:`send_repeating`), back after
        ``max_idle`` idle rounds (4096: some 100 us of polling in C, so that a driver filling
        the ring finds the device there, not in Python) or at anything the spec decides in
        Python (a header to check, a ring error, a receive buffer too small), handled here as
        :meth:`process_tx` and :meth:`send_repeating` handle it. While transmitted headers
        are still recorded, the transmit queue is only watched in C (max_tx 0): a chain there
        ends the call and :meth:`process_tx` takes it, recording its header, as the general
        path does. Returns the frames moved, or None when this configuration needs the
        general path (a wire someone listens to, flows, a filter, a backlog, a disabled or
        broken queue)."""
        if not self.discard_wire or self._flows() \
                or not self.config.link_up or self.disabled or self.broken \
                or self.pairs_in_use != 1 or self.backlog[0]:
            return None
        if frames is not None and not self.can_repeat():
            return None
        tx, rx = self.fast.get(1), self.fast.get(0) if frames is not None else None
        if tx is None and rx is None:
            return 0
        lib = (tx or rx)._lib  # type: ignore[union-attr]
        ffi = (tx or rx)._ffi  # type: ignore[union-attr]
        if tx is not None and rx is not None and tx._lib is not rx._lib:
            return None  # a split and a packed queue: never in one session
        pattern = None
        if rx is not None:
            assert frames is not None
            pattern = self._pattern_of(rx, frames)
            if not pattern.frames:
                rx = None
        acc = self._acc
        if acc is None or self._acc_ffi is not ffi:
            acc = self._acc = ffi.new("struct vsv_poll_result *")
            self._acc_ffi = ffi
        null = ffi.NULL
        watch = tx is not None and self._recording()  # headers recorded: Python transmits
        rc = lib.vsv_poll(
            tx._live() if tx else null, tx._out if tx else null, TX_OUT if tx else 0,
            tx._frames if tx else null, 0 if watch else TX_BATCH,
            max_frame(self.features, self.config.mtu),
            rx._live() if rx else null, pattern.data if rx and pattern else null,
            pattern.lens if rx and pattern else null,
            len(pattern.frames) if rx and pattern else 0, self._repeat_at if rx else 0,
            rx.q if rx else 0, rx._small if rx else null, rx.q if rx else 0,
            max_bursts, max_idle, acc)
        _check(rc, "vsv_poll", (tx or rx).error_of)  # type: ignore[union-attr]
        st = self.stats
        self.batches += rc
        moved = int(acc.tx_frames) + int(acc.rx_frames)
        if tx is not None:
            st.tx_frames += acc.tx_frames
            for req, times in (("NET-002", acc.faults_num_buffers),
                               ("NET-005", acc.faults_flags), ("NET-003", acc.faults_no_csum)):
                if times:
                    st.driver_faults[req] += times
            for _ in range(acc.tx_notified):
                st.notifications += 1
                self.on_notified(1)
            if acc.tx_stop and watch:
                moved += self.process_tx()
            elif acc.tx_stop:
                n = int(acc.tx.frames)
                if n:
                    self.batches += 1
                    self._tx_frames(0, 1, tx, n, acc.tx)
                self._notified(1, acc.tx)
                moved += n
        if rx is not None:
            self._repeat_at = int(acc.first)
            if acc.rx_popped:
                lo, hi = int(acc.buf_min), int(acc.buf_max)
                st.rx_buf_min = lo if st.rx_buf_min is None else min(st.rx_buf_min, lo)
                st.rx_buf_max = hi if st.rx_buf_max is None else max(st.rx_buf_max, hi)
            st.rx_frames += acc.rx_delivered
            st.rx_buffers += acc.rx_buffers
            st.rx_too_big += acc.rx_dropped
            for _ in range(acc.rx_notified):
                st.notifications += 1
                self.on_notified(0)
            if acc.rx_stop:
                r = acc.rx
                small = [(int(x.head), int(x.len)) for x in rx._small[0:r.small]]
                self.batches += 1
                self._rx_done(0, r, small)
                moved += int(r.frames)
        return moved

    def _pattern_of(self, q: FastQueue, frames: Sequence[bytes]) -> _Pattern:
        pattern = self._pattern
        if pattern is None or pattern.ffi is not q._ffi or pattern.source != tuple(frames):
            longest = max_frame(self.features, self.config.mtu)
            pattern = self._pattern = _Pattern(q._ffi, [f for f in frames if len(f) <= longest],
                                               tuple(frames))
            self._repeat_at = 0
        return pattern

    def can_repeat(self) -> bool:
        """Whether :meth:`send_repeating` serves a traffic source here: no receive filter,
        one pair (vhost-user's usual case; otherwise the source goes through
        :meth:`receive_many`, frame by frame)."""
        return not self.filtering and self.filter.pairs == 1

    def send_repeating(self, frames: Sequence[bytes]) -> int:
        """A traffic source on the wire: ``frames`` over and over into receive queue 0, as
        many as it has buffers for, in one C call (vsv_rx_repeat). Nothing is queued in the
        backlog (a source that never runs dry would only wait there); what already waits
        there goes first (:meth:`deliver`). Frames longer than the device takes (NET-024)
        are left out. The frames follow on across calls (the next call starts with the frame
        after the last one consumed). Returns the frames delivered (or dropped as never
        fitting)."""
        if not self.can_repeat():
            raise RuntimeError("send_repeating: only without filtering, with one pair")
        q = self.fast.get(0)
        if not self.config.link_up or 0 in self.disabled or q is None or 0 in self.broken \
                or self.backlog[0]:
            return 0
        pattern = self._pattern_of(q, frames)
        if not pattern.frames:
            return 0
        n, res, small = rx_repeat(q, pattern, self._repeat_at, q.q)
        self._repeat_at = (self._repeat_at + n) % len(pattern.frames)
        self.batches += 1
        self._rx_done(0, res, small)
        return n
