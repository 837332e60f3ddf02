"""One vhost-user connection: negotiated features, the memory table, the vrings, and the
network device that serves them (VHOST-USER-001, VHOST-USER-002, VHOST-USER-003, VHOST-USER-004,
VHOST-USER-005).

Everything here runs on the server's loop thread; :meth:`Session.handle` takes one message
and returns the reply payload (or None), :meth:`Session.pump` runs the device until nothing
moves. The device is the reference :class:`NetDevice`, in one of two builds
(:attr:`Options.device`):

* ``"python"``: its queues are :class:`SplitDevice` objects over the :class:`MemoryTable`, every
  ring access stepped through the access protocol -- the spec, executed;
* ``"c"`` (the default; ``$VIRTIOSPEC_VHOST_DEVICE`` changes it): :class:`FastNetDevice`, the
  same device with its per-frame data path in C over :class:`FastQueue` queues (ring.c through
  the memory table, see reference/vhost_user/c/ring_vhost.h and :mod:`.fast`).

Ring addresses are translated from the front-end's user addresses to guest addresses.

Packed rings (VIRTIO_F_RING_PACKED, offered by default): served by :class:`FastQueue` queues
over ring_vhost_packed.c (ring_packed.c through the memory table) on the C fast path, by
:class:`PackedDevice` queues on the Python device. SET_VRING_ADDR then names the descriptor
ring and the driver's and the device's event-suppression structures; SET_VRING_BASE and
GET_VRING_BASE carry the next available position in bits 0-14 and its wrap counter in bit 15,
and (QEMU's form, read when present) the used position and its wrap counter in bits 16-30 and
31.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import cycle, islice

from virtiospec.reference.access import MemoryError_
from virtiospec.reference.net import features as F
from virtiospec.reference.net.buffers import run_op
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.frames import flow_hash, flow_key
from virtiospec.reference.ring import SplitDevice, SplitLayout
from virtiospec.reference.ring.errors import RingError
from virtiospec.reference.ring.layout import avail_ring_size, desc_table_size, used_ring_size
from virtiospec.reference.ring.packed.device import PackedDevice
from virtiospec.reference.ring.packed.layout import EVENT_SIZE, PACKED_DESC_SIZE, PackedLayout
from virtiospec.reference.vhost_user import fast
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.fast import FastNetDevice, FastQueue
from virtiospec.reference.vhost_user.fast import available as fast_path_built
from virtiospec.reference.vhost_user.in_order import InOrderWatch, RingView
from virtiospec.reference.vhost_user.memory import MemoryTable, check_disjoint, parse_table

Transmit = Callable[["Session", int, bytes], None]

NET_FEATURES = F.of(F.VERSION_1, F.MRG_RXBUF, F.CSUM, F.RING_EVENT_IDX, F.RING_INDIRECT_DESC,
                    F.RING_PACKED, F.IN_ORDER)
PROTOCOL_FEATURES = F.of(M.PROTOCOL_F_MQ, M.PROTOCOL_F_REPLY_ACK)
DEVICES = ("python", "c")
DEVICE_ENV = "VIRTIOSPEC_VHOST_DEVICE"
# A known-bad build for the tests: $VIRTIOSPEC_VHOST_PLANT names one message check skipped
PLANT_ENV = "VIRTIOSPEC_VHOST_PLANT"
CHECKS = ("reply-flag", "mem-overlap", "vring-num", "vring-addr", "vring-base", "eventfd")
MAX_QUEUE = 32768


def default_device() -> str:
    """``$VIRTIOSPEC_VHOST_DEVICE`` if set, else ``"c"`` (the fast path)."""
    return os.environ.get(DEVICE_ENV) or "c"


@dataclass
class Options:
    """What the back-end offers and how it runs."""

    pairs: int = 1
    features: int = NET_FEATURES
    protocol_features: int = PROTOCOL_FEATURES
    poll: bool = False  # busy-poll the rings (no kicks needed) instead of waiting for kicks
    mtu: int = 1500
    source: Callable[[int], list[bytes]] | None = None  # frames to send, asked for n at a time
    source_depth: int = 256  # keep this many frames waiting when there is a source
    # a traffic source: these frames, over and over, as fast as the driver gives buffers
    # (the C fast path makes them in C, a burst per call; the Python device takes them from
    # a Python source like ``source``)
    repeat: tuple[bytes, ...] | None = None
    device: str = field(default_factory=default_device)  # "python" (the spec) or "c"
    # a check of CHECKS to skip (a planted bug the hostile protocol cases must catch)
    plant: str = field(default_factory=lambda: os.environ.get(PLANT_ENV, ""))
    # watch the device keep VIRTIO_F_IN_ORDER from the rings in memory (InOrderWatch) and
    # count what moves on each queue pair: for the conformance cases, not the benchmark
    observe: bool = False

    def __post_init__(self) -> None:
        if self.plant and self.plant not in CHECKS:
            raise ValueError(f"plant {self.plant!r}: one of {', '.join(CHECKS)}")
        if self.device not in DEVICES:
            raise ValueError(f"device {self.device!r}: one of {', '.join(DEVICES)}")
        if self.repeat is not None:
            if not self.repeat:
                raise ValueError("repeat: at least one frame")
            if self.source is not None:
                raise ValueError("repeat and source: one traffic source at a time")


@dataclass
class Vring:
    index: int
    num: int = 0
    base: int = 0  # SET_VRING_BASE's num (packed: position | wrap << 15 | used << 16)
    user_addrs: tuple[int, int, int] | None = None  # desc, used, avail (user addresses)
    kick: int | None = None
    call: int | None = None
    err: int | None = None
    enabled: bool = False
    queue: SplitDevice | PackedDevice | FastQueue | None = None
    view: RingView | None = None  # where the started ring lies, in guest addresses
    calls: int = 0
    kicks: int = 0

    @property
    def started(self) -> bool:
        return self.queue is not None


@dataclass
class Transcript:
    """What happened on the connection, for the conformance cases and the report."""

    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    features: int | None = None
    protocol_features: int | None = None
    started: list[int] = field(default_factory=list)  # vrings, each time one starts
    # with Options.observe: frames per queue pair, and received frames placed on another
    # pair than the one their flow was due (VHOST-USER-010, NET-040, NET-038)
    rx_pairs: Counter[int] = field(default_factory=Counter)
    tx_pairs: Counter[int] = field(default_factory=Counter)
    steered: int = 0
    misteered: list[str] = field(default_factory=list)
    pairs_enabled: int = 0  # the most pairs started and enabled at once


class Session:
    def __init__(self, options: Options, on_transmit: Transmit | None = None) -> None:
        if options.device == "c" and not fast.available():
            raise RuntimeError("the C fast path is not built "
                               "(virtiospec.reference.vhost_user.c._ring_vhost):"
                               " reinstall virtiospec with a C compiler, or use device "
                               "'python'")
        self.options = options
        self.on_transmit = on_transmit
        self.mem = MemoryTable()
        # vrings 0..2N-1, and the control vring 2N when VIRTIO_NET_F_CTRL_VQ is offered
        # (a front-end that passes it on; QEMU and virtio-user serve the control queue
        # themselves, VHOST-USER-010)
        ctrl = 1 if F.has(options.features, F.CTRL_VQ) else 0
        self.vrings = [Vring(i) for i in range(2 * options.pairs + ctrl)]
        # VHOST-USER-010: several pairs are offered as VIRTIO_NET_F_MQ
        mq = F.bit(F.MQ) if options.pairs > 1 else 0
        self.offered = options.features | mq | F.bit(M.F_PROTOCOL_FEATURES)
        self.features: int | None = None
        self.protocol_features = 0
        self.owner = False
        self.device: NetDevice | None = None
        self.log = Transcript()
        self.config = NetConfig(max_pairs=options.pairs, mtu=options.mtu)
        self._repeat_at = 0  # where the next frame of options.repeat starts
        self.watch = InOrderWatch(self.mem) if options.observe else None
        # Options.observe: the pair each flow was last transmitted on, as the wire saw it,
        # and the pair each frame from the wire is due on (kept apart from the device's own)
        self._tx_flows: dict[tuple[object, ...], int] = {}
        self._due: dict[bytes, deque[int]] = {}

    # -- messages ------------------------------------------------------------------------------
    def handle(self, msg: M.Message) -> bytes | None:
        """Carry out one message; returns the reply payload, or None for no reply. A reply to
        NEED_REPLY under REPLY_ACK is added by the caller (:meth:`ack`)."""
        self.log.messages.append(str(msg))
        if msg.flags & M.FLAG_REPLY and self._checks("reply-flag"):
            M._close(msg.fds)
            raise M.ProtocolError(f"{M.name(msg.request)} carries the REPLY flag: a front-end "
                                  "message is never a reply (VHOST-USER-006)")
        handler = getattr(self, f"_{M.name(msg.request).lower()}", None)
        if handler is None:
            M._close(msg.fds)
            raise M.ProtocolError(f"{M.name(msg.request)} is not supported")
        result: bytes | None = handler(msg)
        return result

    def _checks(self, name: str) -> bool:
        """False only for the check a planted build skips (:data:`PLANT_ENV`)."""
        return self.options.plant != name

    def _ctrl_index(self) -> int | None:
        """The control vring (2N), if the front-end negotiated VIRTIO_NET_F_CTRL_VQ."""
        dev = self.device
        return dev.ctrl_q if dev is not None else None

    def _packed(self) -> bool:
        return self.features is not None and F.has(self.features, F.RING_PACKED)

    def ack(self, msg: M.Message, ok: bool) -> bytes | None:
        """VHOST-USER-002: with REPLY_ACK negotiated, a NEED_REPLY message gets a u64 status."""
        if msg.need_reply and self.protocol_features >> M.PROTOCOL_F_REPLY_ACK & 1:
            return M.U64.pack(0 if ok else 1)
        return None

    def _get_features(self, msg: M.Message) -> bytes:
        return M.U64.pack(self.offered)

    def _set_features(self, msg: M.Message) -> None:
        features = msg.u64()
        if features & ~self.offered:
            raise M.ProtocolError(f"SET_FEATURES {features:#x} sets bits never offered")
        net = features & ~F.bit(M.F_PROTOCOL_FEATURES)
        F.check(net, front_end_ctrl=True)  # NET-027; MQ without CTRL_VQ: VHOST-USER-010
        if self.device is not None and self.features == features:
            return
        self.features = features
        self.log.features = features
        self._close_queues()
        if self.options.device == "c" and F.has(net, F.CTRL_VQ):
            # the fast path serves data queues only: the control queue needs the spec's
            self.log.messages.append("CTRL_VQ negotiated: the Python device serves")
        packed_c = fast_path_built(packed=True)
        if self.options.device == "c" and F.has(net, F.RING_PACKED) and not packed_c:
            self.log.messages.append("RING_PACKED negotiated, its C fast path not built: the "
                                     "Python device serves")
        if self.options.device == "c" and not F.has(net, F.CTRL_VQ) and \
                (packed_c or not F.has(net, F.RING_PACKED)):
            fast = FastNetDevice(self.config, net, self.mem, notify=self._notify,
                                 on_transmit=self._transmit, filtering=False,
                                 on_notified=self._notified, front_end_ctrl=True)
            fast.discard_wire = self.on_transmit is None
            dev: NetDevice = fast
        else:
            dev = NetDevice(self.config, net, self.mem, notify=self._notify,
                            on_transmit=self._transmit, filtering=False, front_end_ctrl=True)
        dev.spread_flows = True  # VHOST-USER-010
        self.device = dev
        dev.tx_headers = []

    def _get_protocol_features(self, msg: M.Message) -> bytes:
        return M.U64.pack(self.options.protocol_features)

    def _set_protocol_features(self, msg: M.Message) -> None:
        value = msg.u64()
        if value & ~self.options.protocol_features:
            raise M.ProtocolError(f"SET_PROTOCOL_FEATURES {value:#x} sets bits never offered")
        self.protocol_features = value
        self.log.protocol_features = value

    def _get_queue_num(self, msg: M.Message) -> bytes:
        return M.U64.pack(self.options.pairs)

    def _set_owner(self, msg: M.Message) -> None:
        self.owner = True

    def _reset_owner(self, msg: M.Message) -> None:
        """Deprecated: taken to stop every ring, as the protocol recommends."""
        for v in self.vrings:
            self._stop(v)

    def _set_mem_table(self, msg: M.Message) -> None:
        regions = parse_table(msg.payload)
        if self._checks("mem-overlap"):
            check_disjoint(regions)
        running = [v for v in self.vrings if v.started]
        for v in running:  # before the old regions go: a C queue holds them mapped
            self._stop(v)
        try:
            self.mem.set(regions, msg.fds)  # closes the fds, mapped or not
        finally:
            msg.fds = []
            for v in running:  # ring addresses are translated again (old table if refused)
                self._maybe_start(v)

    def _vring(self, index: int) -> Vring:
        if not 0 <= index < len(self.vrings):
            raise M.ProtocolError(f"vring {index} of {len(self.vrings)}")
        return self.vrings[index]

    def _set_vring_num(self, msg: M.Message) -> None:
        index, num = msg.state()
        v = self._vring(index)
        if self._checks("vring-num"):
            if not 1 <= num <= MAX_QUEUE:
                raise ValueError(f"SET_VRING_NUM {num} for vring {index}: not in 1..{MAX_QUEUE}"
                                 " (VHOST-USER-009)")
            if not self._packed() and num & (num - 1):
                raise ValueError(f"SET_VRING_NUM {num} for vring {index}: a split ring's size "
                                 "is a power of 2 (RING-SPLIT-005)")
        v.num = num

    def _set_vring_base(self, msg: M.Message) -> None:
        index, num = msg.state()
        v = self._vring(index)
        if self._checks("vring-base"):
            if not self._packed() and num > 0xFFFF:
                raise ValueError(f"SET_VRING_BASE {num:#x} for vring {index}: a split ring's "
                                 "index is 16 bits (VHOST-USER-009)")
            if self._packed() and v.num and (num & 0x7FFF >= v.num
                                             or (num >> 16 and num >> 16 & 0x7FFF >= v.num)):
                raise ValueError(f"SET_VRING_BASE {num:#x} for vring {index}: a position "
                                 f"beyond its ring of {v.num} (VHOST-USER-009)")
        v.base = num & 0xFFFF_FFFF

    def _set_vring_addr(self, msg: M.Message) -> None:
        index, _flags, desc, used, avail, _log = M.ADDR.unpack(msg.payload)
        v = self._vring(index)
        if self._checks("vring-addr"):
            self._check_addrs(v, desc, used, avail)
        v.user_addrs = (desc, used, avail)

    def _check_addrs(self, v: Vring, desc: int, used: int, avail: int) -> None:
        """VHOST-USER-009: each part aligned (RING-SPLIT-002; a packed ring's descriptors on
        16 bytes, its event structures on 4) and, once a memory table is set, inside one
        region. Refused as the vring not started."""
        packed = self._packed()
        q = v.num or 1
        parts = (("descriptor table", desc, 16, PACKED_DESC_SIZE * q if packed
                  else desc_table_size(q)),
                 ("available ring", avail, 4 if packed else 2,
                  EVENT_SIZE if packed else avail_ring_size(q)),
                 ("used ring", used, 4, EVENT_SIZE if packed else used_ring_size(q)))
        for name, addr, align, size in parts:
            if addr % align:
                raise ValueError(f"vring {v.index} not started: its {name} at {addr:#x} is not "
                                 f"aligned on {align} bytes (VHOST-USER-009)")
            if self.mem.maps:
                try:
                    self.mem.user_to_guest(addr, size)
                except MemoryError_:
                    raise ValueError(f"vring {v.index} not started: its {name} "
                                     f"[{addr:#x}, +{size:#x}) lies in no region "
                                     "(VHOST-USER-009)") from None

    def _fd_message(self, msg: M.Message, what: str) -> tuple[Vring, int | None]:
        value = msg.u64()
        v = self._vring(value & M.VRING_IDX_MASK)
        if value & M.VRING_NOFD:
            M._close(msg.fds)
            return v, None
        if len(msg.fds) != 1:
            M._close(msg.fds)
            raise M.ProtocolError(f"{what} for vring {v.index} without its file descriptor")
        if self._checks("eventfd") and not _is_eventfd(msg.fds[0]):
            M._close(msg.fds)
            raise ValueError(f"{what} for vring {v.index}: its file descriptor is not an "
                             "eventfd (VHOST-USER-009)")
        fd = msg.fds.pop()
        return v, fd

    def _set_vring_kick(self, msg: M.Message) -> None:
        v, fd = self._fd_message(msg, "SET_VRING_KICK")
        _close_fd(v.kick)
        v.kick = fd
        self._maybe_start(v)

    def _set_vring_call(self, msg: M.Message) -> None:
        v, fd = self._fd_message(msg, "SET_VRING_CALL")
        if isinstance(v.queue, FastQueue):
            v.queue.set_call(fd)  # before the old one is closed
        _close_fd(v.call)
        v.call = fd

    def _set_vring_err(self, msg: M.Message) -> None:
        v, fd = self._fd_message(msg, "SET_VRING_ERR")
        _close_fd(v.err)
        v.err = fd

    def _set_vring_enable(self, msg: M.Message) -> None:
        index, num = msg.state()
        v = self._vring(index)
        v.enabled = bool(num)
        self._apply_enable(v)

    def _get_vring_base(self, msg: M.Message) -> bytes:
        index, _ = msg.state()
        v = self._vring(index)
        base = self._stop(v)
        _close_fd(v.kick)
        v.kick = None
        return M.STATE.pack(index, base)

    def _net_set_mtu(self, msg: M.Message) -> None:
        mtu = msg.u64()
        if not 68 <= mtu <= 65535:
            raise M.ProtocolError(f"MTU {mtu}")
        self.config.mtu = mtu

    # -- rings ---------------------------------------------------------------------------------
    def _enabled_state(self, v: Vring) -> bool:
        """Without VHOST_USER_F_PROTOCOL_FEATURES a ring is enabled once started."""
        if self.features is None or not self.features >> M.F_PROTOCOL_FEATURES & 1:
            return True
        return v.enabled

    def _apply_enable(self, v: Vring) -> None:
        dev = self.device
        if dev is None:
            return
        if self._enabled_state(v):
            dev.disabled.discard(v.index)
        else:
            dev.disabled.add(v.index)
        pairs = 0
        while 2 * pairs + 1 < len(self.vrings) and all(
                self.vrings[i].started and self._enabled_state(self.vrings[i])
                for i in (2 * pairs, 2 * pairs + 1)):
            pairs += 1
        self.log.pairs_enabled = max(self.log.pairs_enabled, pairs)
        if dev.ctrl_q is not None:
            return  # the control queue's VQ_PAIRS_SET says how many pairs are in use
        dev.set_pairs(max(pairs, 1))

    def _maybe_start(self, v: Vring) -> None:
        """VHOST-USER-004: a ring starts once it has a size, addresses and a kick fd."""
        dev = self.device
        if dev is None or v.kick is None or v.user_addrs is None or not v.num or v.started:
            return
        desc, used, avail = v.user_addrs
        q: SplitDevice | PackedDevice | FastQueue
        try:
            if F.has(dev.features, F.RING_PACKED):
                q = self._packed_queue(v, desc, avail, used)
            else:
                q = self._split_queue(v, desc, avail, used)
        except (RingError, MemoryError_, ValueError) as err:
            self.log.errors.append(f"vring {v.index} not started: {err}")
            self._signal_err(v)
            return
        v.queue = q
        packed = F.has(dev.features, F.RING_PACKED)
        size = PACKED_DESC_SIZE * v.num if packed else desc_table_size(v.num)
        v.view = RingView(v.index, v.num, packed, self.mem.user_to_guest(desc, size),
                          self.mem.user_to_guest(avail, 4), self.mem.user_to_guest(used, 4))
        self.log.started.append(v.index)
        try:
            dev.attach(v.index, q)  # type: ignore[arg-type]
        except ValueError:
            v.queue = None
            if isinstance(q, FastQueue):
                q.close()
            raise
        self._apply_enable(v)
        if self.options.poll:
            self._disable_notify(q)

    def _packed_queue(self, v: Vring, desc: int, avail: int, used: int
                      ) -> PackedDevice | FastQueue:
        """A packed queue: the Driver Area holds the driver's event-suppression structure,
        the Device Area the device's; positions and wrap counters from SET_VRING_BASE."""
        dev = self.device
        assert dev is not None
        pos, wrap = v.base & 0x7FFF, v.base >> 15 & 1
        if pos >= v.num:
            raise ValueError(f"SET_VRING_BASE position {pos} in a ring of {v.num}")
        used_word = v.base >> 16  # QEMU's form; DPDK's virtio-user sends 0 here
        if not used_word:
            used_word = v.base & 0xFFFF
        if isinstance(dev, FastNetDevice):
            return FastQueue(self.mem, v.num, self.mem.user_to_guest(desc, PACKED_DESC_SIZE
                                                                      * v.num),
                             self.mem.user_to_guest(avail, EVENT_SIZE),
                             self.mem.user_to_guest(used, EVENT_SIZE), features=dev.features,
                             last_avail=v.base & 0xFFFF, used_idx=used_word,
                             call_fd=v.call, receive=v.index % 2 == 0, packed=True)
        lay = PackedLayout(v.num, self.mem.user_to_guest(desc, PACKED_DESC_SIZE * v.num),
                           self.mem.user_to_guest(avail, EVENT_SIZE),
                           self.mem.user_to_guest(used, EVENT_SIZE))
        q = PackedDevice(lay, self.mem.limit, event_idx=F.has(dev.features, F.RING_EVENT_IDX),
                         indirect=F.has(dev.features, F.RING_INDIRECT_DESC))
        q.last_avail, q.avail_wrap = pos, wrap
        q.used_pos, q.used_wrap = used_word & 0x7FFF, used_word >> 15 & 1
        return q

    def _split_queue(self, v: Vring, desc: int, avail: int, used: int
                     ) -> SplitDevice | FastQueue:
        dev = self.device
        assert dev is not None
        q: SplitDevice | FastQueue
        lay = SplitLayout(v.num, self.mem.user_to_guest(desc, desc_table_size(v.num)),
                          self.mem.user_to_guest(avail, avail_ring_size(v.num)),
                          self.mem.user_to_guest(used, used_ring_size(v.num)))
        lay.check_inside(self.mem.limit)
        used_idx = self.mem.read(lay.used_idx, 2)
        if isinstance(dev, FastNetDevice):
            q = FastQueue(self.mem, v.num, lay.desc, lay.avail, lay.used,
                          features=dev.features, last_avail=v.base & 0xFFFF,
                          used_idx=used_idx,
                          call_fd=v.call, receive=v.index % 2 == 0)
        else:
            q = SplitDevice(lay, self.mem.limit,
                            event_idx=F.has(dev.features, F.RING_EVENT_IDX),
                            indirect=F.has(dev.features, F.RING_INDIRECT_DESC))
            q.last_avail = v.base & 0xFFFF
            q.used_idx = used_idx
        return q

    def _stop(self, v: Vring) -> int:
        """Stop a ring (GET_VRING_BASE): finish staged transmissions, give back receive
        buffers taken but not used (they were the last taken, in order), return the next
        available index to process."""
        dev, q = self.device, v.queue
        if q is None or dev is None:
            return v.base
        pair = v.index // 2
        held = 0
        if v.index == dev.ctrl_q:
            pass  # a command is answered when it is taken: nothing held
        elif v.index % 2:
            dev.tx_complete(pair)
        elif isinstance(dev, FastNetDevice):
            held = dev.held(pair)
        else:
            held = len(dev.rx_held.get(pair, []))
        dev.detach(v.index)
        v.queue = None
        if self.watch is not None:
            self.watch.forget(v.index)
        if isinstance(q, PackedDevice):
            v.base = _packed_base(q, held)
        elif isinstance(q, FastQueue) and q.packed:  # the C side gave the held lists back
            v.base = q.last_avail | q.used_idx << 16
        else:
            v.base = (q.last_avail - held) & 0xFFFF
        return v.base

    def _signal_err(self, v: Vring) -> None:
        if v.err is not None:
            with contextlib.suppress(OSError):
                os.write(v.err, (1).to_bytes(8, "little"))

    def _notify(self, index: int) -> None:
        """VHOST-USER-005: a used-buffer notification is a write to the call eventfd."""
        v = self.vrings[index]
        if v.call is not None:
            v.calls += 1
            with contextlib.suppress(OSError):
                os.write(v.call, (1).to_bytes(8, "little"))

    def _notified(self, index: int) -> None:
        """The C fast path wrote the call eventfd itself (one write per batch)."""
        if self.vrings[index].call is not None:
            self.vrings[index].calls += 1

    def _transmit(self, pair: int, frame: bytes) -> None:
        if self.options.observe:
            self.log.tx_pairs[pair] += 1
            self._tx_flows[flow_key(frame)] = pair
        if self.on_transmit is not None:
            self.on_transmit(self, pair, frame)

    # -- running the device ----------------------------------------------------------------------
    def kicked(self, index: int) -> None:
        v = self.vrings[index]
        v.kicks += 1
        if v.kick is not None:
            with contextlib.suppress(OSError):
                os.read(v.kick, 8)

    def inject(self, frame: bytes) -> bool:
        """A frame arrives from the wire for the driver (delivered by :meth:`pump`)."""
        dev = self.device
        if dev is None:
            return False
        if self.options.observe:
            n = dev.pairs_in_use
            key = flow_key(frame, reverse=True)
            due = self._tx_flows.get(key)
            if due is None or due >= n:
                due = flow_hash(key) % n
            self._due.setdefault(frame, deque()).append(due)
        return dev.receive(frame)

    def pump(self, budget: int = 256) -> int:
        """Run the device until nothing moves (or ``budget`` rounds); with kicks, re-enable
        available-buffer notifications and re-check before going to sleep (RING-SPLIT-072).
        With :attr:`Options.observe` the in-order watch looks at the rings before and after."""
        watch = self.watch
        if watch is None or self.device is None or not F.has(self.device.features, F.IN_ORDER):
            return self._pump(budget)
        running = [v for v in self.vrings if v.queue is not None and v.view is not None]
        for v in running:
            assert v.queue is not None and v.view is not None
            last, used = _positions(v.queue)
            watch.before(v.view, last, used)
        moved = self._pump(budget)
        for v in running:
            if v.queue is not None and v.view is not None:
                watch.after(v.view, _positions(v.queue)[1])
        return moved

    def _deliver(self, dev: NetDevice, pair: int) -> int:
        """dev.deliver(pair), counting what went to each pair and each flow's pairs."""
        if not self.options.observe:
            return dev.deliver(pair)
        waiting = list(dev.backlog[pair])
        done = dev.deliver(pair)
        self.log.rx_pairs[pair] += done
        for _, frame in waiting[:done]:
            dues = self._due.get(frame)
            if not dues:
                continue  # not from inject (a test's own backlog)
            due = dues.popleft()
            if not dues:
                del self._due[frame]
            if due >= dev.pairs_in_use:
                due = 0  # the pairs in use went down: receiveq1 (NET-038)
            self.log.steered += 1
            if due != pair and len(self.log.misteered) < 20:
                self.log.misteered.append(f"a frame of {len(frame)} bytes due on pair {due} "
                                          f"placed on pair {pair}")
        return done

    def _pump(self, budget: int) -> int:
        dev = self.device
        if dev is None:
            return 0
        total = 0
        source = self.options.source
        repeat = self.options.repeat
        in_c = repeat is not None and isinstance(dev, FastNetDevice) and dev.can_repeat()
        if repeat is not None and not in_c:
            source = self._repeating  # frame by frame, through the backlog
        if self.options.poll and isinstance(dev, FastNetDevice) and source is None:
            # busy-polling with nobody handed a frame: the device's loop is one C call
            # (FastNetDevice.run_loop, up to 256 bursts); back to the server after each
            moved = dev.run_loop(repeat if in_c else None)
            if moved is not None:
                self._reap_broken(dev)
                return moved
        for _ in range(budget):
            depth = self.options.source_depth
            running = dev.fast if isinstance(dev, FastNetDevice) else dev.queues
            if source is not None and running and len(dev.backlog[0]) < depth:
                frames = source(depth - len(dev.backlog[0]))
                if isinstance(dev, FastNetDevice):
                    dev.receive_many(frames)
                else:
                    for frame in frames:
                        dev.receive(frame)
            work = dev.process_ctrl()  # 0 without a control vring
            work += dev.process_tx(64 if self.options.device == "python" else 1024)
            for pair in range(dev.pairs_in_use):
                if 2 * pair in dev.broken:
                    continue  # stopped below: not written to again
                try:
                    work += self._deliver(dev, pair)
                    if in_c and pair == 0:  # the source, a burst per C call
                        assert repeat is not None and isinstance(dev, FastNetDevice)
                        work += dev.send_repeating(repeat)
                except RingError as fault:  # a receive buffer that faults at the write
                    dev._fail(2 * pair, fault)
            total += work
            if work:
                continue
            if self.options.poll or not self._rearm():
                break
        self._reap_broken(dev)
        return total

    def _reap_broken(self, dev: NetDevice) -> None:
        """Report and stop every ring the device found broken (VHOST-USER err eventfd)."""
        for index, err in list(dev.broken.items()):
            self.log.errors.append(f"vring {index}: {err}")
            self._signal_err(self.vrings[index])
            del dev.broken[index]
            dev.detach(index)
            self.vrings[index].queue = None

    def _repeating(self, n: int) -> list[bytes]:
        """``n`` frames of :attr:`Options.repeat`, continuing where the last call stopped."""
        pattern = self.options.repeat
        assert pattern is not None
        start = self._repeat_at
        out = list(islice(cycle(pattern), start, start + n))
        self._repeat_at = (start + n) % len(pattern)
        return out

    def _enable_notify(self, q: SplitDevice | PackedDevice | FastQueue) -> bool:
        if isinstance(q, FastQueue):
            return q.enable_notify()
        return run_op(q.enable_notify(), self.mem)

    def _disable_notify(self, q: SplitDevice | PackedDevice | FastQueue) -> None:
        if isinstance(q, FastQueue):
            q.disable_notify()
        else:
            run_op(q.disable_notify(), self.mem)

    def _rearm(self) -> bool:
        """Enable kicks where the device waits for the driver: every transmit ring, and a
        receive ring with frames waiting for buffers. True if one of them has buffers already."""
        dev = self.device
        assert dev is not None
        more = False
        for v in self.vrings:
            q = v.queue
            if q is None or v.index in dev.broken:
                continue
            try:
                if v.index % 2 or v.index == dev.ctrl_q or dev.backlog[v.index // 2]:
                    more |= self._enable_notify(q)
                else:
                    self._disable_notify(q)
            except RingError:
                continue
        return more

    def _close_queues(self) -> None:
        """Drop every queue (a C queue gives its regions back)."""
        if isinstance(self.device, FastNetDevice):
            self.device.close()
        for v in self.vrings:
            v.queue = None

    def close(self) -> None:
        self._close_queues()
        for v in self.vrings:
            for fd in (v.kick, v.call, v.err):
                _close_fd(fd)
            v.kick = v.call = v.err = None
        self.mem.close()


def _positions(q: SplitDevice | PackedDevice | FastQueue) -> tuple[int, int]:
    """The device's next available and next used positions (packed: pos | wrap << 15)."""
    if isinstance(q, PackedDevice):
        return q.last_avail | q.avail_wrap << 15, q.used_pos | q.used_wrap << 15
    return q.last_avail, q.used_idx


def _packed_base(q: PackedDevice, held: int) -> int:
    """GET_VRING_BASE of a packed queue: the available position and wrap counter, moved back
    over the ``held`` receive lists taken last and not used (they stay the driver's), then
    the used position and its wrap counter in the upper half."""
    back = sum(h.ndesc for h in list(q.in_flight.values())[len(q.in_flight) - held:]) \
        if held else 0
    pos, wrap = q.last_avail - back, q.avail_wrap
    if pos < 0:
        pos, wrap = pos + q.q, wrap ^ 1
    return pos | wrap << 15 | (q.used_pos | q.used_wrap << 15) << 16


def _is_eventfd(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
    except OSError:
        return False


def _close_fd(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
