"""The network device (spec/net.md) over split virtqueues it is given.

The device trusts nothing the driver wrote: a hostile ring is the ring layer's refusal
(RING-SPLIT-08x, that queue stops until a reset); a hostile header or command is refused with
its NET requirement, the buffer goes back to the driver, and the device goes on (NET-008,
NET-031). Frames come from and go to *the wire*: :meth:`NetDevice.receive` queues a frame
for the driver, ``on_transmit`` (or :attr:`NetDevice.transmitted`) gets the driver's frames.

Frames go through exactly once and in order per queue (NET-060). Steps the data-path model
interleaves: :meth:`tx_take` / :meth:`tx_complete` (NET-061),
:meth:`deliver` (NET-017), :meth:`process_ctrl`, :meth:`reset` (NET-063), and the link flap
through the configuration (NET-026).
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from virtiospec.reference.net import ctrl as C
from virtiospec.reference.net import features as F
from virtiospec.reference.net.buffers import ByteMemory, gather, run_op, scatter
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.errors import BadCommand, BadTxHeader, NetError
from virtiospec.reference.net.frames import flow_hash, flow_key, frame_class
from virtiospec.reference.net.header import (
    HDR_LEN,
    NetHdr,
    check_tx,
    driver_faults,
    finish_checksum,
    max_frame,
    rx_header,
)
from virtiospec.reference.ring import Chain, SplitDevice
from virtiospec.reference.ring.errors import RingError

Transmit = Callable[[int, bytes], None]


@dataclass
class DeviceStats:
    tx_frames: int = 0
    tx_refused: int = 0
    tx_discarded: int = 0  # taken from a disabled ring (vhost-user) or forgotten at a reset
    rx_frames: int = 0
    rx_buffers: int = 0
    rx_filtered: int = 0
    rx_too_big: int = 0
    ctrl_ok: int = 0
    ctrl_err: int = 0
    notifications: int = 0
    resets: int = 0
    rx_buf_min: int | None = None  # the sizes of the receive buffers the driver posted
    rx_buf_max: int | None = None
    driver_faults: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class NetDeviceLines:
    """The lines of :class:`NetDevice` a known-bad variant (models/net/mutants.py) may turn
    off; every default is the protocol."""

    wait_when_full: bool = True  # deliver: a frame waits for a buffer (NET-017)
    tx_stops_when_link_down: bool = True  # tx_take: nothing taken while down (NET-026)
    wire_when_used: bool = True  # tx_take, tx_complete: a frame goes on the wire in the step
    #                              that makes its buffer used, not when taken (NET-061)


class NetDevice:
    """One network device: queue pairs, the control queue, the receive filter and the wire."""

    lines = NetDeviceLines()

    def __init__(self, config: NetConfig, features: int, mem: ByteMemory, *,
                 notify: Callable[[int], None] | None = None,
                 on_transmit: Transmit | None = None, filtering: bool = True,
                 front_end_ctrl: bool = False) -> None:
        F.check(features, front_end_ctrl)  # NET-027 (VHOST-USER-010 behind vhost-user)
        self.config = config
        self.features = features
        self.mem = mem
        self.notify = notify or (lambda q: None)
        self.on_transmit = on_transmit
        self.filtering = filtering
        self.mrg = F.has(features, F.MRG_RXBUF)
        self.n_pairs = F.pairs(features, config.max_pairs)
        self.ctrl_q = F.ctrl_index(features, config.max_pairs)
        self.queues: dict[int, SplitDevice] = {}
        self.disabled: set[int] = set()  # vhost-user: started but disabled rings
        self.broken: dict[int, RingError] = {}
        self.filter = C.RxFilter()
        self.flows: dict[tuple[object, ...], int] = {}
        self.backlog: list[deque[tuple[int, bytes]]] = [deque() for _ in range(self.n_pairs)]
        self.rx_held: dict[int, list[Chain]] = {}
        self.tx_staged: dict[int, list[tuple[int, bytes]]] = {}
        self.faults: list[NetError | RingError] = []
        self.transmitted: list[tuple[int, bytes]] = []
        self.tx_headers: list[NetHdr] | None = None  # set to a list to record headers
        self.tx_headers_limit = 20000
        self.stats = DeviceStats()
        self._seq = 0
        # VHOST-USER-010: a flow the driver never transmitted goes to the pair its flow key
        # hashes to (else receiveq1), so that every pair in use receives
        self.spread_flows = False

    # -- features and queues -------------------------------------------------------------
    @staticmethod
    def offered(config: NetConfig) -> int:
        """The features the reference device offers."""
        bits = [F.VERSION_1, F.MAC, F.STATUS, F.MRG_RXBUF, F.CSUM, F.MTU, F.CTRL_VQ, F.CTRL_RX,
                F.CTRL_MAC_ADDR, F.RING_EVENT_IDX, F.RING_INDIRECT_DESC]
        if config.max_pairs > 1:
            bits.append(F.MQ)
            if any(config.queue_classes):  # NET-050: only when the host configured classes
                bits.append(F.VIRTIOSPEC_NET_F_QUEUE_CLASSES)
        return F.of(*bits)

    def attach(self, index: int, queue: SplitDevice) -> None:
        if index >= 2 * self.n_pairs + (1 if self.ctrl_q is not None else 0):
            raise ValueError(f"the device has no virtqueue {index}")
        self.queues[index] = queue
        self.broken.pop(index, None)

    def detach(self, index: int) -> None:
        """The transport stops a queue (vhost-user GET_VRING_BASE): staged frames are
        forgotten (NET-061), held receive buffers stay the driver's."""
        self.queues.pop(index, None)
        if index == self.ctrl_q:
            return
        if index % 2 == 0:
            self.rx_held.pop(index // 2, None)
        else:
            self.stats.tx_discarded += len(self.tx_staged.pop(index // 2, []))

    @property
    def pairs_in_use(self) -> int:
        return self.filter.pairs

    def set_pairs(self, n: int) -> None:
        """The transport (vhost-user, where the front-end owns the control queue) says how
        many pairs are in use; frames waiting beyond them move to receiveq1 (NET-038)."""
        self.filter.pairs = max(1, min(n, self.n_pairs))
        self._resteer()

    def reset(self) -> None:
        """Device reset: queues, filters, flows and staged frames go; the wire stays (NET-063)."""
        self.queues.clear()
        self.broken.clear()
        self.disabled.clear()
        self.rx_held.clear()
        self.stats.tx_discarded += sum(len(v) for v in self.tx_staged.values())
        self.tx_staged.clear()
        self.filter = C.RxFilter()
        self.flows.clear()
        self._resteer()
        self.stats.resets += 1

    def _resteer(self) -> None:
        """Frames waiting for queues beyond those in use go to receiveq1, in wire order."""
        n = self.filter.pairs
        moved = [item for q in self.backlog[n:] for item in q]
        if not moved:
            return
        for q in self.backlog[n:]:
            q.clear()
        self.backlog[0] = deque(heapq.merge(self.backlog[0], sorted(moved)))

    # -- ring helpers ----------------------------------------------------------------------
    def _usable(self, index: int) -> SplitDevice | None:
        q = self.queues.get(index)
        return None if q is None or index in self.broken else q

    def _fail(self, index: int, err: RingError) -> None:
        self.broken[index] = err
        self.faults.append(err)

    def _pop(self, index: int) -> Chain | None:
        q = self._usable(index)
        if q is None:
            return None
        try:
            return run_op(q.pop(), self.mem)
        except RingError as err:
            self._fail(index, err)
            return None

    def _push(self, index: int, used: list[tuple[int, int]]) -> None:
        q = self.queues[index]
        run_op(q.push(used), self.mem)
        if run_op(q.should_notify(), self.mem):
            self.stats.notifications += 1
            self.notify(index)

    # -- the wire ----------------------------------------------------------------------------
    def receive(self, frame: bytes) -> bool:
        """A frame arrives from the wire. Returns False if the receive filter drops it
        (NET-036); otherwise it waits for the driver on the queue it is steered to."""
        if len(frame) > max_frame(self.features, self.config.mtu):
            self.stats.rx_too_big += 1  # NET-024: never delivered
            return False
        if self.filtering and not self.filter.accepts(frame[:6], self.config.mac,
                                                      self.features):
            self.stats.rx_filtered += 1
            return False
        self._seq += 1
        self.backlog[self.steer(frame)].append((self._seq, frame))
        return True

    def steer(self, frame: bytes) -> int:
        """The receive queue pair of a frame: its class (NET-051), its flow (NET-040), else 0."""
        n = self.filter.pairs
        if n == 1:
            return 0
        if F.has(self.features, F.VIRTIOSPEC_NET_F_QUEUE_CLASSES):
            cls = frame_class(frame)
            for k in range(n):
                if self.config.queue_classes[k] >> cls & 1:
                    return k
        key = flow_key(frame, reverse=True)
        last = self.flows.get(key)
        if last is not None and last < n:
            return last
        return flow_hash(key) % n if self.spread_flows else 0

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self.backlog)

    # -- receive path (NET-010, NET-011, NET-017, NET-018) ------------------------------------
    def deliver(self, pair: int) -> int:
        """Place waiting frames in receive queue ``pair`` while it has buffers; returns how
        many were delivered. Nothing moves while the link is down (NET-026)."""
        index = 2 * pair
        if (not self.config.link_up or index in self.disabled or index not in self.queues
                or index in self.broken):
            return 0  # no ring to deliver to (stopped, failed, or not set up yet): frames wait
        done = 0
        while self.backlog[pair] and self._deliver_one(pair):
            done += 1
        if self.backlog[pair] and not self.lines.wait_when_full:
            self.backlog[pair].popleft()  # no buffer: the frame is dropped
        return done

    def _take_rx(self, pair: int) -> Chain | None:
        """The next usable receive buffer; one without room for a header goes straight back
        (the driver's fault, NET-014)."""
        while True:
            chain = self._pop(2 * pair)
            if chain is None:
                return None
            n = chain.writable_len
            st = self.stats
            st.rx_buf_min = n if st.rx_buf_min is None else min(st.rx_buf_min, n)
            st.rx_buf_max = n if st.rx_buf_max is None else max(st.rx_buf_max, n)
            if n >= HDR_LEN:
                return chain
            self.faults.append(NetError(f"receive buffer {chain.head} holds "
                                        f"{chain.writable_len} bytes", "NET-014"))
            self._push(2 * pair, [(chain.head, 0)])

    def _deliver_one(self, pair: int) -> bool:
        _, frame = self.backlog[pair][0]
        need = HDR_LEN + len(frame)
        held = self.rx_held.setdefault(pair, [])
        size = self.queues[2 * pair].q
        while not held or (self.mrg and sum(c.writable_len for c in held) < need):
            if self.mrg and len(held) >= size:
                break  # a full queue of buffers is not enough
            chain = self._take_rx(pair)
            if chain is None:
                return False  # NET-017: wait for buffers, keep the frame
            held.append(chain)
        room = sum(c.writable_len for c in held) if self.mrg else held[0].writable_len
        if room < need:
            # the frame can never fit (the driver broke NET-013): drop it, keep the buffers
            self.backlog[pair].popleft()
            self.stats.rx_too_big += 1
            return True
        chains: list[Chain] = []
        room = 0
        while room < need:
            chains.append(held[len(chains)])
            room += chains[-1].writable_len
        data = self._rx_header(len(chains)).pack() + frame
        used, at = [], 0
        try:
            for chain in chains:
                n = scatter(self.mem, chain.writable, data[at:])
                used.append((chain.head, n))
                at += n
        except RingError as err:
            # a buffer the ring's bounds check let through (inside the highest address) lies
            # in no memory, e.g. a hole between vhost-user regions (RING-SPLIT-082): the
            # queue stops (RING-SPLIT-084), nothing is pushed, the frame waits for a reset
            self._fail(2 * pair, err)
            return False
        del held[:len(chains)]
        self.backlog[pair].popleft()  # NET-017: the frame leaves the wire with the push
        self._push(2 * pair, used)  # NET-011: all buffers of the frame at once
        self.stats.rx_frames += 1
        self.stats.rx_buffers += len(chains)
        return True

    def _rx_header(self, buffers: int) -> NetHdr:
        """NET-010/NET-011/NET-012: flags 0, GSO_NONE, num_buffers = buffers used."""
        return rx_header(self.features, buffers)

    # -- transmit path (NET-008, NET-009, NET-052, NET-061) --------------------------------
    def tx_order(self) -> list[int]:
        """Pairs in use, highest priority first (NET-052), ties to the lower pair."""
        pairs = range(self.filter.pairs)
        if not F.has(self.features, F.VIRTIOSPEC_NET_F_QUEUE_CLASSES):
            return list(pairs)
        return sorted(pairs, key=lambda k: (-self.config.queue_classes[k].bit_length(), k))

    def tx_take(self, pair: int) -> bool:
        """Take one buffer from transmit queue ``pair``: refuse it (NET-008) or stage its frame.
        False when there is none (or the link is down, NET-026)."""
        if not self.config.link_up and self.lines.tx_stops_when_link_down:
            return False
        index = 2 * pair + 1
        chain = self._pop(index)
        if chain is None:
            return False
        if not self.config.link_up:
            self._push(index, [(chain.head, 0)])  # used, never sent
            return True
        try:
            data = gather(self.mem, chain.readable)
            hdr, frame = check_tx(data, self.features, self.config.mtu)
        except BadTxHeader as err:
            self.faults.append(err)
            self.stats.tx_refused += 1
            self._push(index, [(chain.head, 0)])
            return True
        except RingError as err:
            self._fail(index, err)
            return False
        for req in driver_faults(hdr, self.features):
            self.stats.driver_faults[req] += 1
        if self.tx_headers is not None and len(self.tx_headers) < self.tx_headers_limit:
            self.tx_headers.append(hdr)
        if hdr.needs_csum:
            frame = finish_checksum(frame, hdr.csum_start, hdr.csum_offset)  # NET-009
        if self.n_pairs > 1 and F.has(self.features, F.MQ):
            self.flows[flow_key(frame)] = pair  # NET-040
        if not self.lines.wire_when_used:  # on the wire already, its buffer used later
            self.transmitted.append((pair, frame))
            frame = b""
        self.tx_staged.setdefault(pair, []).append((chain.head, frame))
        return True

    def tx_complete(self, pair: int) -> int:
        """Put staged frames on the wire and make their buffers used, in one step (NET-061).
        A started but disabled ring (vhost-user) discards them instead."""
        staged = self.tx_staged.pop(pair, [])
        if not staged:
            return 0
        index = 2 * pair + 1
        for _, frame in staged:
            if not self.lines.wire_when_used:
                break  # sent when taken
            if index in self.disabled:
                self.stats.tx_discarded += 1
                continue
            if self.on_transmit is not None:
                self.on_transmit(pair, frame)
            else:
                self.transmitted.append((pair, frame))
            self.stats.tx_frames += 1
        self._push(index, [(head, 0) for head, _ in staged])
        return len(staged)

    def process_tx(self, budget: int = 1 << 30) -> int:
        """Transmit until no queue in use has a frame (or ``budget`` frames), always from the
        highest-priority queue that has one (NET-052)."""
        order = self.tx_order()
        done = sum(self.tx_complete(pair) for pair in order)  # anything staged goes first
        while done < budget:
            for pair in order:
                if self.tx_take(pair):
                    done += self.tx_complete(pair)
                    break
            else:
                return done
        return done

    # -- control queue (NET-030, NET-031) ------------------------------------------------------
    def process_ctrl(self) -> int:
        if self.ctrl_q is None:
            return 0
        done = 0
        while (chain := self._pop(self.ctrl_q)) is not None:
            done += 1
            if not chain.writable:
                self.faults.append(BadCommand(f"command {chain.head} has no writable ack byte",
                                              "NET-030"))
                self._push(self.ctrl_q, [(chain.head, 0)])
                continue
            try:
                command = gather(self.mem, chain.readable)
                self.command_seen(command)
                pairs = self.filter.pairs
                C.execute(command, self.filter, self.config, self.features)
                ack = C.OK
                self.stats.ctrl_ok += 1
                if self.filter.pairs < pairs:
                    self._resteer()  # NET-038
            except BadCommand as err:
                self.faults.append(err)
                ack = C.ERR
                self.stats.ctrl_err += 1
            except RingError as err:
                self._fail(self.ctrl_q, err)
                return done
            scatter(self.mem, chain.writable, bytes([ack]))
            self._push(self.ctrl_q, [(chain.head, 1)])
        return done

    def command_seen(self, command: bytes) -> None:
        """A control command as the driver placed it, before it is carried out: nothing to do
        here; a device that watches the driver (reference/net/driver_watch.py) records it."""

    # -- everything ------------------------------------------------------------------------------
    def poll(self) -> int:
        """Process every queue until nothing moves; returns the work done."""
        total = 0
        while True:
            work = self.process_ctrl() + self.process_tx()
            for pair in self.tx_order():
                work += self.deliver(pair)
            total += work
            if not work:
                return total
