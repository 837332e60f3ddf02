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
from collections import deque
from collections.abc import Callable

from virtiospec.reference.access import MemoryError_
from virtiospec.reference.net import features as F
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.frames import flow_key
from virtiospec.reference.ring import SplitDevice
from virtiospec.reference.ring.errors import RingError
from virtiospec.reference.ring.layout import avail_ring_size, desc_table_size, used_ring_size
from virtiospec.reference.ring.packed.device import PackedDevice
from virtiospec.reference.ring.packed.layout import EVENT_SIZE, PACKED_DESC_SIZE
from virtiospec.reference.vhost_user import fast
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.datapath import Datapath
from virtiospec.reference.vhost_user.fast import FastNetDevice, FastQueue
from virtiospec.reference.vhost_user.fast import available as fast_path_built
from virtiospec.reference.vhost_user.in_order import InOrderWatch, RingView
from virtiospec.reference.vhost_user.memory import MemoryTable, check_disjoint, parse_table
from virtiospec.reference.vhost_user.options import (
    CHECKS,
    DEVICE_ENV,
    DEVICES,
    MAX_QUEUE,
    NET_FEATURES,
    PLANT_ENV,
    PROTOCOL_FEATURES,
    Options,
    Transcript,
    Vring,
    default_device,
)
from virtiospec.reference.vhost_user.queues import packed_base, packed_queue, split_queue

__all__ = [
    "CHECKS",
    "DEVICES",
    "DEVICE_ENV",
    "MAX_QUEUE",
    "NET_FEATURES",
    "PLANT_ENV",
    "PROTOCOL_FEATURES",
    "Options",
    "Session",
    "Transcript",
    "Transmit",
    "Vring",
    "default_device",
]

Transmit = Callable[["Session", int, bytes], None]


class Session(Datapath):
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
                q = packed_queue(self.mem, dev, v, desc, avail, used)
            else:
                q = split_queue(self.mem, dev, v, desc, avail, used)
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
            v.base = packed_base(q, held)
        elif isinstance(q, FastQueue) and q.packed:  # the C side gave the held lists back
            v.base = q.last_avail | q.used_idx << 16
        else:
            v.base = (q.last_avail - held) & 0xFFFF
        return v.base

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

    def close(self) -> None:
        self._close_queues()
        for v in self.vrings:
            for fd in (v.kick, v.call, v.err):
                _close_fd(fd)
            v.kick = v.call = v.err = None
        self.mem.close()


def _is_eventfd(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
    except OSError:
        return False


def _close_fd(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
