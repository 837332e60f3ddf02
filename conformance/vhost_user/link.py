"""The front-end side of one vhost-user connection, for a case: guest memory shared by memfd,
the back-end's own feature and protocol-feature negotiation, vrings laid out in that memory
with kick and call eventfds, and a hand-written driver on each vring (which can lie).

Every wait is bounded: a message the back-end does not answer within ``timeout`` raises
:class:`NoAnswer`, a closed connection :class:`HungUp`. A good request for the device type
(net, blk, fs) is built by :meth:`Link.good`; the cases use it as the honest baseline and as the
liveness probe on another vring.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time

from virtiospec.conformance.ring.api import PackedRingSetup, RingSetup
from virtiospec.conformance.ring.peer import HandDriver
from virtiospec.conformance.suites.ring.packed.peer import PackedHandDriver
from virtiospec.reference.ring.layout import SplitLayout
from virtiospec.reference.ring.packed.layout import PackedLayout
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.frontend import USER_BASE, MappedMemory

MEMORY = 0x80000  # guest memory: one region at guest address 0 (MEM_END of the cases)
VRING_AT = 0x1000
VRING_STRIDE = 0x4000  # room for a queue of 256
INDIRECT_AREA = 0x20000
DATA_AT = 0x40000
DATA_STRIDE = 0x8000  # each vring's buffers: DATA_AT + index * DATA_STRIDE

F_INDIRECT = 28
F_VERSION_1 = 32
F_RING_PACKED = 34
PACKED_START = 0x8000  # SET_VRING_BASE of a fresh packed ring: position 0, wrap counter 1
BASE_FEATURES = 1 << F_VERSION_1 | 1 << M.F_PROTOCOL_FEATURES
PROTOCOLS = 1 << M.PROTOCOL_F_MQ | 1 << M.PROTOCOL_F_REPLY_ACK
NET_HDR = 12  # virtio_net_hdr with VERSION_1
FUSE_INIT = 26


class NoAnswer(TimeoutError):
    """The back-end did not answer a message in time."""


class HungUp(ConnectionError):
    """The back-end closed the connection."""


def data(index: int, n: int = 0) -> int:
    """The n-th 256-byte buffer of vring ``index``'s data area."""
    return DATA_AT + index * DATA_STRIDE + n * 0x100


class Link:
    def __init__(self, path: str, kind: str, *, timeout: float = 3.0,
                 connect_timeout: float = 10.0) -> None:
        self.kind = kind
        self.timeout = timeout
        self.sock = _connect(path, connect_timeout)
        self.sock.settimeout(timeout)
        self.mem = MappedMemory(MEMORY)
        self.offered = 0
        self.features = 0
        self.protocols = 0
        self.kicks: dict[int, int] = {}
        self.calls: dict[int, int] = {}
        self.drivers: dict[int, HandDriver] = {}
        self.layouts: dict[int, SplitLayout] = {}
        self.packed: dict[int, PackedHandDriver] = {}  # vrings set up as packed rings
        self._unique = 0
        self.closed = False

    # -- messages ------------------------------------------------------------------------------
    def _read_reply(self, req: int) -> bytes:
        try:
            return M.read_reply(self.sock, req)
        except TimeoutError:
            raise NoAnswer(f"no reply to {M.name(req)} within {self.timeout:.0f} s") from None
        except (EOFError, ConnectionError):
            raise HungUp(f"the back-end closed the connection at {M.name(req)}") from None

    def send(self, req: int, payload: bytes = b"", fds: list[int] | None = None) -> int:
        """Send a message; with REPLY_ACK the back-end's status (0: accepted), else 0."""
        ack = bool(self.protocols >> M.PROTOCOL_F_REPLY_ACK & 1)
        try:
            M.send(self.sock, req, payload, fds, need_reply=ack)
        except (BrokenPipeError, ConnectionError):
            raise HungUp(f"the back-end closed the connection before {M.name(req)}") from None
        if not ack:
            return 0
        return int(M.U64.unpack(self._read_reply(req)[:8])[0])

    def get(self, req: int, payload: bytes = b"") -> bytes:
        try:
            M.send(self.sock, req, payload)
        except (BrokenPipeError, ConnectionError):
            raise HungUp(f"the back-end closed the connection before {M.name(req)}") from None
        return self._read_reply(req)

    def get_u64(self, req: int) -> int:
        return int(M.U64.unpack(self.get(req)[:8])[0])

    def probe(self) -> None:
        """A GET_FEATURES round trip (raises NoAnswer or HungUp)."""
        self.get_u64(M.Req.GET_FEATURES)

    # -- set-up --------------------------------------------------------------------------------
    def negotiate(self, wanted: int | None = None, *, indirect: bool = True,
                  packed: bool = False) -> int:
        """GET_FEATURES, the protocol features (MQ and REPLY_ACK if offered), SET_OWNER,
        SET_FEATURES: VERSION_1, INDIRECT_DESC (if ``indirect`` and offered) and
        PROTOCOL_FEATURES of what is offered -- or exactly ``wanted``."""
        self.offered = self.get_u64(M.Req.GET_FEATURES)
        if self.offered >> M.F_PROTOCOL_FEATURES & 1:
            proto = self.get_u64(M.Req.GET_PROTOCOL_FEATURES) & PROTOCOLS
            M.send(self.sock, M.Req.SET_PROTOCOL_FEATURES, M.U64.pack(proto))
            self.protocols = proto
        self.send(M.Req.SET_OWNER)
        if wanted is None:
            wanted = BASE_FEATURES | (1 << F_INDIRECT if indirect else 0) | \
                (1 << F_RING_PACKED if packed else 0)
            wanted &= self.offered
        self.features = wanted
        return self.send(M.Req.SET_FEATURES, M.U64.pack(wanted))

    def set_mem_table(self) -> int:
        table = M.REGION.pack(0, MEMORY, USER_BASE, 0)
        payload = (1).to_bytes(4, "little") + bytes(4) + table
        return self.send(M.Req.SET_MEM_TABLE, payload, [self.mem.fd])

    def layout(self, index: int, q: int) -> SplitLayout:
        return SplitLayout.packed_at(VRING_AT + index * VRING_STRIDE, q)

    def setup_vring(self, index: int, q: int = 8, base: int = 0, *, enable: bool = True) -> int:
        """NUM, BASE, ADDR, CALL, KICK, ENABLE for vring ``index`` (QEMU's order); the hand
        driver's indices start at ``base``. Returns the first non-zero REPLY_ACK status."""
        lay = self.layout(index, q)
        self.mem.view[lay.desc:lay.end] = bytes(lay.end - lay.desc)
        self.mem.write(lay.used_idx, 2, base)  # both rings as a driver resuming at base
        self.mem.write(lay.avail_idx, 2, base)
        setup = RingSetup(lay, self.mem, start_index=base)  # type: ignore[arg-type]
        self.layouts[index], self.drivers[index] = lay, HandDriver(setup)
        status = [self.send(M.Req.SET_VRING_NUM, M.STATE.pack(index, q)),
                  self.send(M.Req.SET_VRING_BASE, M.STATE.pack(index, base)),
                  self.send(M.Req.SET_VRING_ADDR, M.ADDR.pack(
                      index, 0, USER_BASE + lay.desc, USER_BASE + lay.used,
                      USER_BASE + lay.avail, 0))]
        status.append(self.set_eventfd(M.Req.SET_VRING_CALL, index, self.calls))
        status.append(self.set_eventfd(M.Req.SET_VRING_KICK, index, self.kicks))
        if enable and self.features >> M.F_PROTOCOL_FEATURES & 1:
            status.append(self.send(M.Req.SET_VRING_ENABLE, M.STATE.pack(index, 1)))
        return next((s for s in status if s), 0)

    def setup_packed_vring(self, index: int, q: int = 8) -> int:
        """A fresh packed ring on vring ``index`` (VIRTIO_F_RING_PACKED negotiated): its
        descriptor ring, driver and device event areas as desc, avail and used addresses;
        SET_VRING_BASE 0x8000 (position 0, wrap counter 1); a packed hand driver on it."""
        lay = PackedLayout.packed_at(VRING_AT + index * VRING_STRIDE, q)
        self.mem.view[lay.desc:lay.end] = bytes(lay.end - lay.desc)
        setup = PackedRingSetup(lay, self.mem)  # type: ignore[arg-type]
        self.packed[index] = PackedHandDriver(setup)
        status = [self.send(M.Req.SET_VRING_NUM, M.STATE.pack(index, q)),
                  self.send(M.Req.SET_VRING_BASE, M.STATE.pack(index, PACKED_START)),
                  self.send(M.Req.SET_VRING_ADDR, M.ADDR.pack(
                      index, 0, USER_BASE + lay.desc, USER_BASE + lay.device_event,
                      USER_BASE + lay.driver_event, 0))]
        status.append(self.set_eventfd(M.Req.SET_VRING_CALL, index, self.calls))
        status.append(self.set_eventfd(M.Req.SET_VRING_KICK, index, self.kicks))
        if self.features >> M.F_PROTOCOL_FEATURES & 1:
            status.append(self.send(M.Req.SET_VRING_ENABLE, M.STATE.pack(index, 1)))
        return next((s for s in status if s), 0)

    def set_eventfd(self, req: int, index: int, into: dict[int, int]) -> int:
        fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        old = into.pop(index, None)
        if old is not None:
            os.close(old)
        into[index] = fd
        return self.send(req, M.U64.pack(index), [fd])

    def start(self, vrings: int, q: int = 8, *, indirect: bool = True, base: int = 0) -> None:
        self.negotiate(indirect=indirect)
        self.set_mem_table()
        for index in range(vrings):
            self.setup_vring(index, q, base)

    # -- the driver's side ---------------------------------------------------------------------
    def kick(self, index: int) -> None:
        fd = self.kicks.get(index)
        if fd is not None:
            os.write(fd, (1).to_bytes(8, "little"))

    def used(self, index: int) -> list[tuple[int, int]]:
        """Used elements published since the last call."""
        return self.drivers[index].take_used()

    def used_idx(self, index: int) -> int:
        return self.mem.read(self.layouts[index].used_idx, 2)

    def wait_used(self, index: int, n: int, timeout: float) -> list[tuple[int, int]]:
        """Poll the used ring until ``n`` elements arrived or ``timeout`` passed."""
        got: list[tuple[int, int]] = []
        end = time.monotonic() + timeout
        while True:
            got += self.used(index)
            if len(got) >= n or time.monotonic() >= end:
                return got
            time.sleep(0.005)

    def good(self, index: int, head: int | None, slot: int = 0) -> list[tuple[int, int, bool]]:
        """Write a valid request for the device type in buffers ``slot``... of the vring's
        data area, and its descriptors from ``head`` on (none if ``head`` is None); returns
        its segments ``(addr, len, writable)``."""
        mem = self.mem
        at = data(index, slot * 4)
        if self.kind == "net" and index % 2 == 0:  # a receive queue: one writable buffer
            segs = [(at, 0x100 * 4, True)]
        elif self.kind == "net":
            frame = bytes(NET_HDR) + b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x88\xb5" + \
                b"virtiospec hostile-driver probe".ljust(46, b".")
            mem.write_bytes(at, frame)
            segs = [(at, len(frame), False)]
        elif self.kind == "blk":  # VIRTIO_BLK_T_IN of sector 0: header, 512 bytes, status
            mem.write_bytes(at, struct.pack("<IIQ", 0, 0, 0))
            mem.write_bytes(at + 0x100, b"\xaa" * 512)
            segs = [(at, 16, False), (at + 0x100, 512, True), (at + 0x300, 1, True)]
        elif self.kind == "fs":  # FUSE_INIT 7.31
            self._unique += 2
            body = struct.pack("<IIII", 7, 31, 0, 0) + bytes(48)
            hdr = struct.pack("<IIQQIIII", 40 + len(body), FUSE_INIT, self._unique, 0, 0, 0,
                              0, 0)
            mem.write_bytes(at, hdr + body)
            segs = [(at, len(hdr) + len(body), False), (at + 0x100, 0x100, True)]
        else:
            raise ValueError(f"no good request for a device of kind {self.kind!r}")
        if head is not None:
            self.drivers[index].chain(head, segs)
        return segs

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        for fd in [*self.kicks.values(), *self.calls.values()]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.kicks.clear()
        self.calls.clear()
        self.mem.close()


def _connect(path: str, timeout: float) -> socket.socket:
    end = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError as err:
            sock.close()
            if time.monotonic() >= end:
                raise HungUp(f"cannot connect to {path}: {err.strerror}") from None
            time.sleep(0.05)
