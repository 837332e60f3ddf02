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
from virtiospec.reference.vhost_user.fast_queue import (
    RX_BATCH,
    TX_BATCH,
    TX_OUT,
    FastQueue,
    _check,
    _Pattern,
    available,
    rx_repeat,
)

__all__ = ["FastNetDevice", "FastQueue", "available", "rx_repeat"]

HDR_CACHE = 256

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
