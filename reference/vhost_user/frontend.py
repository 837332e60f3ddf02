"""A vhost-user front-end in Python, with the reference network driver behind it.

It does what QEMU does for a vhost-user network device -- shares its guest memory as a memfd,
sets up the vrings and the kick/call eventfds, negotiates features -- and what the guest's
driver does, with :class:`~virtiospec.reference.net.driver.NetDriver`. The tests use it to
drive the back-end end to end in one process, and to send it what no real front-end would.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import select
import socket
from types import TracebackType

from virtiospec.reference.access import run
from virtiospec.reference.net import features as F
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.driver import NetDriver
from virtiospec.reference.ring import SplitDriver, SplitLayout
from virtiospec.reference.vhost_user import messages as M

USER_BASE = 0x7F00_0000_0000  # where the front-end pretends to have mapped guest memory


class MappedMemory:
    """Guest memory the front-end shares: a memfd, mapped here at guest address 0."""

    def __init__(self, size: int) -> None:
        self.fd = os.memfd_create("virtiospec-guest", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, size)
        self.map = mmap.mmap(self.fd, size, mmap.MAP_SHARED)
        self.view = memoryview(self.map)
        self.size = size

    def _check(self, addr: int, n: int) -> None:
        if addr < 0 or addr + n > self.size:
            raise IndexError(f"{addr:#x}+{n} outside guest memory")

    def read(self, addr: int, size: int) -> int:
        self._check(addr, size)
        return int.from_bytes(self.view[addr:addr + size], "little")

    def write(self, addr: int, size: int, value: int) -> None:
        self._check(addr, size)
        self.view[addr:addr + size] = (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")

    def read_bytes(self, addr: int, size: int) -> bytes:
        self._check(addr, size)
        return bytes(self.view[addr:addr + size])

    def write_bytes(self, addr: int, data: bytes) -> None:
        self._check(addr, len(data))
        self.view[addr:addr + len(data)] = data

    def close(self) -> None:
        self.view.release()
        self.map.close()
        os.close(self.fd)


class FrontEnd:
    """Connects to a back-end's socket; :meth:`start` brings up ``pairs`` queue pairs and a
    :class:`NetDriver` on them."""

    def __init__(self, path: str, *, memory: int = 4 << 20, queue_size: int = 64,
                 timeout: float = 5.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.mem = MappedMemory(memory)
        self.queue_size = queue_size
        self.kicks: dict[int, int] = {}
        self.calls: dict[int, int] = {}
        self.layouts: dict[int, SplitLayout] = {}
        self.driver: NetDriver | None = None
        self.features = 0
        self.config = NetConfig()

    def __enter__(self) -> FrontEnd:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- messages ------------------------------------------------------------------------------
    def request(self, req: int, payload: bytes = b"", fds: list[int] | None = None,
                need_reply: bool = False) -> bytes | None:
        M.send(self.sock, req, payload, fds, need_reply)
        if req in (M.Req.GET_FEATURES, M.Req.GET_PROTOCOL_FEATURES, M.Req.GET_QUEUE_NUM,
                   M.Req.GET_VRING_BASE) or need_reply:
            return M.read_reply(self.sock, req)
        return None

    def get_u64(self, req: int) -> int:
        out = self.request(req)
        assert out is not None
        return int(M.U64.unpack(out)[0])

    def negotiate(self, wanted: int) -> int:
        """GET/SET_FEATURES and the protocol features, as QEMU orders them."""
        offered = self.get_u64(M.Req.GET_FEATURES)
        if offered >> M.F_PROTOCOL_FEATURES & 1:
            proto = self.get_u64(M.Req.GET_PROTOCOL_FEATURES)
            self.request(M.Req.SET_PROTOCOL_FEATURES, M.U64.pack(proto))
        self.request(M.Req.SET_OWNER)
        # this front-end lays out split rings: it never takes VIRTIO_F_RING_PACKED; nor
        # VIRTIO_NET_F_MQ unless the back-end serves the control queue (its driver sends
        # VQ_PAIRS_SET there; this front-end serves none itself, VHOST-USER-010)
        features = offered & (wanted | F.bit(M.F_PROTOCOL_FEATURES)) & ~F.bit(F.RING_PACKED)
        if not F.has(features, F.CTRL_VQ):
            features &= ~F.bit(F.MQ)
        self.features = features
        self.request(M.Req.SET_FEATURES, M.U64.pack(self.features))
        return self.features

    def set_mem_table(self) -> bytes | None:
        table = M.REGION.pack(0, self.mem.size, USER_BASE, 0)
        payload = (1).to_bytes(4, "little") + bytes(4) + table
        return self.request(M.Req.SET_MEM_TABLE, payload, [self.mem.fd], need_reply=True)

    def start(self, pairs: int = 1, *, wanted: int = ~0, rx_buf_size: int = 1526,
              driver_cls: type[NetDriver] = NetDriver) -> NetDriver:
        """Bring up the vrings and a driver on them (the DRIVER_OK sequence of QEMU);
        ``driver_cls``: the network driver to run (a known-bad variant, for the models)."""
        self.negotiate(wanted)
        self.set_mem_table()
        at = 0x1000
        drivers: dict[int, SplitDriver] = {}
        event_idx = F.has(self.features, F.RING_EVENT_IDX)
        ctrl = 1 if F.has(self.features, F.CTRL_VQ) else 0  # the control vring, 2N
        for index in range(2 * pairs + ctrl):
            lay = SplitLayout.packed_at(at, self.queue_size)
            at = (lay.end + 0xFFF) & ~0xFFF
            self.layouts[index] = lay
            drv = SplitDriver(lay, event_idx=event_idx)
            run(drv.init(), self.mem)
            drivers[index] = drv
            self.setup_vring(index, lay)
        net = self.features & ~F.bit(M.F_PROTOCOL_FEATURES)
        self.config = NetConfig(max_pairs=pairs)
        self.driver = driver_cls(net, self.config, self.mem, (at, self.mem.size - at),
                                self.queue_size, notify=self.kick, rx_buf_size=rx_buf_size)
        self.driver.attach(drivers)
        self.driver.start()
        return self.driver

    def setup_vring(self, index: int, lay: SplitLayout, base: int = 0) -> None:
        self.request(M.Req.SET_VRING_NUM, M.STATE.pack(index, lay.size))
        self.request(M.Req.SET_VRING_BASE, M.STATE.pack(index, base))
        self.request(M.Req.SET_VRING_ADDR, M.ADDR.pack(index, 0, USER_BASE + lay.desc,
                                                       USER_BASE + lay.used,
                                                       USER_BASE + lay.avail, 0))
        call = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.calls[index] = call
        self.request(M.Req.SET_VRING_CALL, M.U64.pack(index), [call])
        kick = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.kicks[index] = kick
        self.request(M.Req.SET_VRING_KICK, M.U64.pack(index), [kick])
        self.request(M.Req.SET_VRING_ENABLE, M.STATE.pack(index, 1))

    def get_vring_base(self, index: int) -> int:
        out = self.request(M.Req.GET_VRING_BASE, M.STATE.pack(index, 0))
        assert out is not None
        base: int = M.STATE.unpack(out)[1]
        return base

    # -- the driver's notifications ------------------------------------------------------------
    def kick(self, index: int) -> None:
        os.write(self.kicks[index], (1).to_bytes(8, "little"))

    def wait_call(self, index: int, timeout: float) -> bool:
        """Wait for a used-buffer notification on ``index`` (bounded)."""
        fd = self.calls[index]
        ready, _, _ = select.select([fd], [], [], timeout)
        if ready:
            with contextlib.suppress(BlockingIOError):
                os.read(fd, 8)
            return True
        return False

    def close(self) -> None:
        self.sock.close()
        for fd in list(self.kicks.values()) + list(self.calls.values()):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.kicks.clear()
        self.calls.clear()
        self.mem.close()
