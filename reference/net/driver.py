"""The network driver (spec/net.md) over the virtqueues it is given, split or packed.

The driver keeps its buffers in three pools carved from one area of guest memory (receive,
transmit, control); every buffer it makes available is recorded as the token of its chain,
so that after a device reset :meth:`NetDriver.recover` takes every one of them back
(NET-062) and transmits again, in order, the frames that had not been sent (NET-061).
It trusts nothing the device wrote into a receive buffer (NET-016).
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable, Mapping

from virtiospec.reference.net import config as cfg
from virtiospec.reference.net import ctrl as C
from virtiospec.reference.net import features as F
from virtiospec.reference.net.buffers import BufferPool, ByteMemory, run_op
from virtiospec.reference.net.driver_records import (
    CTRL_BUF,
    DEFAULT_RX_BUF,
    CtrlToken,
    DriverStats,
    NetDriverLines,
    Pending,
    RxFrame,
    RxToken,
    TxToken,
)
from virtiospec.reference.net.errors import BadRxFrame, NetError
from virtiospec.reference.net.frames import flow_key, frame_class, partial_checksum
from virtiospec.reference.net.header import (
    ETH_HLEN,
    F_NEEDS_CSUM,
    HDR_LEN,
    NetHdr,
    check_rx,
    max_frame,
)
from virtiospec.reference.net.offload import gso_header, gso_kind, payload_at, rx_checksum
from virtiospec.reference.ring import QueueFull, SplitDriver
from virtiospec.reference.ring.packed.driver import PackedDriver

__all__ = ["CTRL_BUF", "DEFAULT_RX_BUF", "CtrlToken", "DriverStats", "NetDriver",
           "NetDriverLines", "RxFrame", "RxToken", "TxToken"]

Ring = SplitDriver | PackedDriver  # a virtqueue the driver is given, split or packed


class NetDriver:
    """One network driver: the queues of a device, its buffers, and what it has learnt from
    the configuration space."""

    lines = NetDriverLines()

    def __init__(self, features: int, config: cfg.ConfigSpace, mem: ByteMemory,
                 area: tuple[int, int], queue_size: int, *,
                 notify: Callable[[int], None] | None = None,
                 rx_buf_size: int = DEFAULT_RX_BUF) -> None:
        F.check(features)  # NET-027: never propose a set that breaks the dependencies
        self.features = features
        self.config = config
        self.mem = mem
        self.notify = notify or (lambda q: None)
        self.max_pairs = int(config.read(cfg.OFF_MAX_PAIRS, 2)) if F.has(features, F.MQ) else 1
        self.n_pairs = F.pairs(features, self.max_pairs)
        self.ctrl_q = F.ctrl_index(features, self.max_pairs)
        self.mtu = int(config.read(cfg.OFF_MTU, 2)) if F.has(features, F.MTU) else 1500
        full = HDR_LEN + max_frame(features, self.mtu)
        if F.has(features, F.MRG_RXBUF):
            if rx_buf_size < HDR_LEN:
                raise ValueError("NET-014: a mergeable receive buffer holds at least a header")
            if rx_buf_size * queue_size < full:
                raise ValueError(f"NET-013: a full queue of {queue_size} buffers of "
                                 f"{rx_buf_size} bytes cannot hold a {full}-byte frame")
        elif rx_buf_size < (HDR_LEN if self.lines.rx_size_counts_header else 0) \
                + self.mtu + ETH_HLEN:  # NET-108, NET-124: header and a frame of mtu
            raise ValueError("NET-013: receive buffers hold a header and a full frame")
        self.rx_buf_size = rx_buf_size
        base, size = area
        n = queue_size * self.n_pairs
        self.rx_pool = BufferPool(base, rx_buf_size, n)
        tx_slot = (HDR_LEN + max_frame(features, self.mtu) + 63) & ~63
        self.tx_pool = BufferPool(self.rx_pool.end, tx_slot, n)
        self.ctrl_pool = BufferPool(self.tx_pool.end, CTRL_BUF, queue_size)
        if self.ctrl_pool.end > base + size:
            raise ValueError(f"the driver needs {self.ctrl_pool.end - base:#x} bytes of "
                             f"buffers, the area has {size:#x}")
        self.queues: dict[int, Ring] = {}
        self.pending = [Pending() for _ in range(self.n_pairs)]
        self.pairs_in_use = 1
        self.faults: list[NetError] = []
        self.ctrl_results: list[tuple[bytes, int]] = []
        self.inbox: list[RxFrame] = []  # frames received on used-buffer notifications
        self.stats = DriverStats()
        self._seq = 0
        self._gso: dict[int, int] = {}  # seq -> gso_size of a frame sent with segmentation
        self.mac = self._read_mac()
        self.link_up = self._read_link()
        self.queue_classes = self._read_classes()

    # -- configuration (NET-022: read only) --------------------------------------------------
    def _read_mac(self) -> bytes:
        if F.has(self.features, F.MAC):
            return cfg.read_bytes(self.config, cfg.OFF_MAC, 6)  # NET-106
        return b"\x02\x00\x00\x00\x00\x01"  # locally administered

    def _read_link(self) -> bool:
        if not F.has(self.features, F.STATUS):
            return True  # NET-023: assume the link is up
        return bool(self.config.read(cfg.OFF_STATUS, 2) & cfg.STATUS_LINK_UP)

    def _read_classes(self) -> list[int]:
        if not F.has(self.features, F.VIRTIOSPEC_NET_F_QUEUE_CLASSES):
            return [0] * self.n_pairs
        return list(cfg.read_bytes(self.config, cfg.OFF_QUEUE_CLASSES, self.n_pairs))

    def config_changed(self) -> None:
        """The configuration change notification (NET-021): read status and classes again."""
        self.stats.config_changes += 1

        def read(_: cfg.ConfigSpace) -> tuple[bool, list[int]]:
            return self._read_link(), self._read_classes()

        if self.lines.config_generation_loop:
            self.link_up, self.queue_classes = cfg.read_stable(self.config, read)  # type: ignore[misc]
        else:
            self.link_up, self.queue_classes = read(self.config)

    # -- queues --------------------------------------------------------------------------------
    def attach(self, queues: Mapping[int, Ring]) -> None:
        self.queues = dict(queues)

    def split_queue(self, index: int) -> SplitDriver:
        """Queue ``index``, which the caller knows to be split (a pair of rings built so)."""
        q = self.queues[index]
        assert isinstance(q, SplitDriver), f"queue {index} is packed"
        return q

    def start(self) -> None:
        """Fill the receive queues in use and transmit whatever is pending."""
        for pair in range(self.pairs_in_use):
            self.post_rx(pair)
        for pair in range(self.n_pairs):
            self.flush(pair)

    def _kick(self, index: int) -> None:
        if run_op(self.queues[index].kick_prepare(), self.mem):
            self.stats.kicks += 1
            self.notify(index)

    # -- receive -------------------------------------------------------------------------------
    def post_rx(self, pair: int) -> int:
        """Add receive buffers to receiveq(pair+1) until it or the pool is full."""
        q = self.queues.get(2 * pair)
        if q is None:
            return 0
        added = 0
        while (addr := self.rx_pool.alloc()) is not None:
            try:
                run_op(q.add([], [(addr, self.rx_buf_size)], RxToken(addr)), self.mem)
            except QueueFull:
                self.rx_pool.release(addr)
                break
            added += 1
        if added:
            self._kick(2 * pair)
        return added

    def _next_rx(self, pair: int) -> tuple[int, int] | None:
        got = run_op(self.queues[2 * pair].get_used(), self.mem)
        if got is None:
            return None
        token, length = got
        assert isinstance(token, RxToken)
        return token.addr, length

    def receive_one(self, pair: int) -> RxFrame | None:
        """The next received frame of receiveq(pair+1), or None. A frame that breaks NET-010 /
        NET-011 is refused (:class:`BadRxFrame`, NET-016) after its buffers are recycled."""
        first = self._next_rx(pair)
        if first is None:
            return None
        taken = [first[0]]
        try:
            addr, length = first
            if length < HDR_LEN:
                raise BadRxFrame(f"used length {length} is shorter than the header")
            # NET-015: flags it does not know and csum_start/csum_offset are not used
            hdr = NetHdr.unpack(self.mem.read_bytes(addr, HDR_LEN))
            parts = [self.mem.read_bytes(addr + HDR_LEN, length - HDR_LEN)]
            check_rx(hdr, self.features)
            for _ in range(hdr.num_buffers - 1):
                more = self._next_rx(pair)
                if more is None:
                    raise BadRxFrame(f"num_buffers {hdr.num_buffers} but only {len(taken)} "
                                     "buffers were used")
                taken.append(more[0])
                parts.append(self.mem.read_bytes(*more))
            frame = b"".join(parts)
            if len(frame) < ETH_HLEN:
                raise BadRxFrame(f"a {len(frame)}-byte frame is shorter than its header")
        except BadRxFrame as err:
            self.stats.rx_refused += 1
            self.faults.append(err)
            raise
        finally:
            for a in taken:
                self.rx_pool.release(a)
        self.stats.rx_frames += 1
        return RxFrame(pair, frame, hdr, len(taken),
                       rx_checksum(hdr, frame, check=self.lines.check_rx_checksum),
                       payload_at(hdr, frame, trust_hdr_len=not self.lines.hdr_len_untrusted))

    def receive(self, pair: int) -> list[RxFrame]:
        """Every frame received on receiveq(pair+1) so far; refused ones are in
        :attr:`faults`. The queue is refilled afterwards."""
        out = self._drain_rx(pair)
        self.post_rx(pair)
        return out

    def _drain_rx(self, pair: int) -> list[RxFrame]:
        if 2 * pair not in self.queues:
            return []
        out: list[RxFrame] = []
        while True:
            try:
                got = self.receive_one(pair)
            except BadRxFrame:
                continue
            if got is None:
                return out
            out.append(got)

    # -- transmit ------------------------------------------------------------------------------
    def choose_pair(self, frame: bytes) -> int:
        """NET-053: by class with queue classes; else by flow among the pairs in use."""
        n = self.pairs_in_use
        if n == 1:
            return 0
        if F.has(self.features, F.VIRTIOSPEC_NET_F_QUEUE_CLASSES):
            cls = frame_class(frame)
            for k in range(n):
                if self.queue_classes[k] >> cls & 1:
                    return k
        return zlib.crc32(repr(flow_key(frame)).encode()) % n

    def send(self, frame: bytes, pair: int | None = None, *, csum: bool = False,
             gso_size: int = 0) -> int:
        """Queue a frame for transmission and put as much as fits in the queue. ``csum``:
        leave the TCP/UDP checksum to the device (NET-004, needs VIRTIO_NET_F_CSUM).
        ``gso_size``: have the device segment an IPv4 TCP or UDP frame into pieces of that
        many payload bytes (needs VIRTIO_NET_F_HOST_TSO4 or HOST_USO, NET-113).
        Returns the pair chosen."""
        if gso_size:
            _, needed = gso_kind(frame)
            if not F.has(self.features, needed) and self.lines.gso_needs_feature:
                raise NetError(f"segmentation of this frame needs VIRTIO_NET_F_"
                               f"{F.NAMES[needed]}", "NET-113")
        if pair is None:
            pair = self.choose_pair(frame)
        elif not 0 <= pair < self.pairs_in_use:
            raise NetError(f"transmitq{pair + 1} is beyond the {self.pairs_in_use} pairs in use",
                           "NET-039")
        if csum and not F.has(self.features, F.CSUM):
            raise NetError("checksum offload without VIRTIO_NET_F_CSUM", "NET-003")
        mtu = self.features if self.lines.tx_within_mtu else self.features & ~F.bit(F.MTU)
        longest = max_frame(mtu, self.mtu)  # segmentation too: the frame fits a buffer
        if len(frame) > longest or len(frame) < ETH_HLEN:
            raise NetError(f"a {len(frame)}-byte frame cannot be sent", "NET-024")  # NET-108
        self._seq += 1
        if gso_size:
            self._gso[self._seq] = gso_size
        self.pending[pair].frames.append((self._seq, frame, csum))
        self.stats.tx_queued += 1
        self.flush(pair)
        return pair

    def flush(self, pair: int) -> int:
        """Move pending frames of ``pair`` into its transmit queue while there is room."""
        q = self.queues.get(2 * pair + 1)
        pend = self.pending[pair].frames
        added = 0
        while q is not None and pend:
            addr = self.tx_pool.alloc()
            if addr is None:
                break
            seq, frame, csum = pend[0]
            gso = self._gso.get(seq, 0)
            if csum or gso:
                wire, start, offset = partial_checksum(frame)
                hdr = NetHdr(flags=F_NEEDS_CSUM, csum_start=start, csum_offset=offset)
                if gso:
                    hdr = gso_header(hdr, frame, gso)
            else:
                wire, hdr = frame, NetHdr()  # NET-002, NET-003: zeros
            head = hdr.pack() if self.lines.tx_full_header else hdr.pack()[:HDR_LEN - 2]
            data = head + wire  # NET-112: the receive header's size (12 bytes here)
            self.mem.write_bytes(addr, data)
            try:
                run_op(q.add([(addr, len(data))], [], TxToken(pair, seq, frame, addr, csum)),
                       self.mem)
            except QueueFull:
                self.tx_pool.release(addr)
                break
            pend.popleft()
            added += 1
        if added:
            self._kick(2 * pair + 1)
        return added

    def reap_tx(self, pair: int) -> int:
        """Take back used transmit buffers, then put pending frames in their place."""
        done = self._reap(pair)
        self.flush(pair)
        return done

    def _reap(self, pair: int) -> int:
        q = self.queues.get(2 * pair + 1)
        done = 0
        while q is not None and (got := run_op(q.get_used(), self.mem)) is not None:
            token = got[0]
            assert isinstance(token, TxToken)
            self.tx_pool.release(token.addr)
            self._gso.pop(token.seq, None)
            done += 1
        self.stats.tx_done += done
        return done

    @property
    def tx_waiting(self) -> int:
        return sum(len(p.frames) for p in self.pending)

    # -- control queue -------------------------------------------------------------------------
    def command(self, data: bytes) -> int | None:
        """Place a control command and kick; returns its ack if the device has used it by
        then (an in-process device answers at once), else None (see :meth:`ctrl_poll`)."""
        if self.ctrl_q is None or self.ctrl_q not in self.queues:
            raise NetError("no control queue (VIRTIO_NET_F_CTRL_VQ)", "NET-030")
        if len(data) + 1 > CTRL_BUF:
            raise ValueError("command too long")
        addr = self.ctrl_pool.alloc()
        if addr is None:
            raise QueueFull("every control buffer is in use")
        self.mem.write_bytes(addr, data + b"\xff")
        try:
            run_op(self.queues[self.ctrl_q].add([(addr, len(data))], [(addr + len(data), 1)],
                                                CtrlToken(addr, len(data))), self.mem)
        except QueueFull:
            self.ctrl_pool.release(addr)
            raise
        before = len(self.ctrl_results)
        self._kick(self.ctrl_q)
        self.ctrl_poll()
        return self.ctrl_results[-1][1] if len(self.ctrl_results) > before else None

    def ctrl_poll(self) -> int:
        q = self.queues.get(self.ctrl_q) if self.ctrl_q is not None else None
        done = 0
        while q is not None and (got := run_op(q.get_used(), self.mem)) is not None:
            token, length = got
            assert isinstance(token, CtrlToken)
            data = self.mem.read_bytes(token.addr, token.length)
            ack = self.mem.read(token.addr + token.length, 1) if length >= 1 else C.ERR
            self.ctrl_pool.release(token.addr)
            self.ctrl_results.append((data, ack))
            if ack == C.OK:
                self.stats.ctrl_ok += 1
                self._ctrl_done(data)
            else:
                self.stats.ctrl_err += 1
            done += 1
        return done

    def _ctrl_done(self, data: bytes) -> None:
        """What an acknowledged command changes on the driver's side."""
        if data[:2] == bytes([C.CLASS_MQ, C.MQ_VQ_PAIRS_SET]) and len(data) == 4:
            n = int.from_bytes(data[2:], "little")
            if n > self.pairs_in_use:
                self.pairs_in_use = n  # NET-039: more pairs only once the device agreed
        elif data[:2] == bytes([C.CLASS_MAC, C.MAC_ADDR_SET]) and len(data) == 8:
            self.mac = data[2:]

    def _need_rx_ctrl(self) -> None:
        if not F.has(self.features, F.CTRL_RX) and self.lines.rx_ctrl_needs_feature:
            raise NetError("RX and MAC commands need VIRTIO_NET_F_CTRL_RX", "NET-033")

    def set_rx_extra(self, command: int, on: bool) -> int | None:
        """One of the commands VIRTIO_NET_F_CTRL_RX_EXTRA brings (ALLUNI, NOMULTI, NOUNI,
        NOBCAST): never sent without that feature (NET-138)."""
        if command not in (C.RX_ALLUNI, C.RX_NOMULTI, C.RX_NOUNI, C.RX_NOBCAST):
            raise ValueError(f"RX command {command} is not one of CTRL_RX_EXTRA's")
        self._need_rx_ctrl()
        if not F.has(self.features, F.CTRL_RX_EXTRA) and self.lines.rx_extra_needs_feature:
            raise NetError("ALLUNI, NOMULTI, NOUNI and NOBCAST need "
                           "VIRTIO_NET_F_CTRL_RX_EXTRA", "NET-138")
        return self.command(C.rx_mode(command, on))

    def set_promisc(self, on: bool) -> int | None:
        self._need_rx_ctrl()
        return self.command(C.rx_mode(C.RX_PROMISC, on))

    def set_allmulti(self, on: bool) -> int | None:
        self._need_rx_ctrl()
        return self.command(C.rx_mode(C.RX_ALLMULTI, on))

    def set_mac_table(self, unicast: list[bytes], multicast: list[bytes]) -> int | None:
        self._need_rx_ctrl()
        return self.command(C.mac_table(unicast, multicast))

    def set_mac(self, mac: bytes) -> int | None:
        self._need_rx_ctrl()
        return self.command(C.mac_addr(mac))

    def set_pairs(self, n: int) -> int | None:
        """VQ_PAIRS_SET (NET-037, NET-039, NET-144): fewer pairs take effect for
        transmission before the command is placed; more pairs get receive buffers first and
        are used once the device has answered OK."""
        if not F.has(self.features, F.MQ):
            raise NetError("VQ_PAIRS_SET needs VIRTIO_NET_F_MQ", "NET-037")
        if not 1 <= n <= self.max_pairs and self.lines.pairs_in_range:
            raise NetError(f"{n} pairs outside [1, {self.max_pairs}]", "NET-037")
        if n < self.pairs_in_use or (n > self.pairs_in_use
                                     and not self.lines.more_pairs_after_ack):
            self.pairs_in_use = max(1, min(n, self.n_pairs))
            self._repending()
        for pair in range(min(n, self.n_pairs) if self.lines.rx_before_pairs else 0):
            self.post_rx(pair)
        return self.command(C.vq_pairs(n))

    def _repending(self) -> None:
        """Frames pending beyond the pairs in use go to the pairs that remain, in order."""
        moved = [item for p in self.pending[self.pairs_in_use:] for item in p.frames]
        for p in self.pending[self.pairs_in_use:]:
            p.frames.clear()
        for seq, frame, csum in sorted(moved):
            pair = self.choose_pair(frame)
            self.pending[pair].frames.append((seq, frame, csum))
        for p in self.pending:
            p.frames = deque(sorted(p.frames))

    # -- the used-buffer notification ----------------------------------------------------------
    def interrupt(self, index: int) -> None:
        """Handle a used-buffer notification of virtqueue ``index``; received frames go to
        :attr:`inbox`."""
        if index == self.ctrl_q:
            self.ctrl_poll()
        elif index % 2 == 0:
            self.inbox += self.receive(index // 2)
        else:
            self.reap_tx(index // 2)

    # -- reset (NET-062) -------------------------------------------------------------------------
    def _take_back_used(self) -> None:
        for index in sorted(self.queues):
            if index == self.ctrl_q:
                self.ctrl_poll()
            elif index % 2 == 0:
                self.inbox += self._drain_rx(index // 2)
            else:
                self._reap(index // 2)

    def recover(self) -> None:
        """After a device reset (NET-062): first take back what the device made used before it
        was reset -- those frames were transmitted, or received and are delivered now --, then
        every buffer still made available; frames of those transmit buffers go back to the
        front of their queue's pending list, in order. Then forget the queues (the transport
        sets up new ones, :meth:`attach`)."""
        self.stats.recoveries += 1
        keep = self.lines.take_back_at_reset  # else the queues are forgotten with their buffers
        if keep and self.lines.reap_used_at_reset:
            self._take_back_used()
        requeue: list[list[tuple[int, bytes, bool]]] = [[] for _ in range(self.n_pairs)]
        for q in self.queues.values() if keep else ():
            for token in q.detach_unused():
                if isinstance(token, RxToken):
                    self.rx_pool.release(token.addr)
                elif isinstance(token, TxToken):
                    self.tx_pool.release(token.addr)
                    requeue[token.pair].append((token.seq, token.frame, token.csum))
                    self.stats.tx_requeued += 1
                elif isinstance(token, CtrlToken):
                    self.ctrl_pool.release(token.addr)
        for pair, items in enumerate(requeue):
            self.pending[pair].frames = deque(sorted(items) + list(self.pending[pair].frames))
        self.queues = {}
        self.pairs_in_use = 1  # the device starts again with one pair (NET-038)
        self._repending()
