"""The pci cases' hands on the reference driver: :class:`CaseDriver` is the reference's
transport side of the network driver
(:class:`~virtiospec.reference.net.pci_queues.PciQueueDriver`: negotiation, MSI-X words or
the ISR, split or packed queues with indirect tables, notification data, queue reset, and
the driver-rule lines a known-bad variant turns off), with what a case needs to look at
the rings byte for byte: each queue's buffers numbered 0..size-1, the number of a buffer
being the token of its chain, a frame written into one with a raw 12-byte header (all
zeros: no offload), what comes back as (token, used length). The reference's own frames go
through :class:`~virtiospec.reference.net.driver.NetDriver` (reference/net/pci_driver.py);
the cases keep to raw buffers so that they see what the device wrote (QEMU 7.2 writes
num_buffers 0, which that driver refuses, NET-016) and can break a ring on purpose.

Bring-up follows VIRTIO-STATUS-008: negotiate (VERSION_1, MAC, STATUS), read the MAC through
the generation loop, map MSI-X vectors (0: configuration, 1: receive, 2: transmit), set up
the receive and transmit queues, post every receive buffer, DRIVER_OK, then the first
notification. Every wait is bounded.
"""

from __future__ import annotations

from collections import deque
from typing import cast

from virtiospec.reference.net.pci_queues import (
    CONFIG_VECTOR,
    IRQ_DATA,
    RX,
    RX_VECTOR,
    TX,
    TX_VECTOR,
    PciQueue,
    PciQueueDriver,
)
from virtiospec.reference.pci.discovery import Window
from virtiospec.reference.pci.host import Host
from virtiospec.reference.ring import QueueFull, SplitDriver
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.virtio_pci.errors import VectorRefused
from virtiospec.reference.virtio_pci.regs import NET_F_MAC, NET_F_STATUS, bit
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport
from virtiospec.reference.virtio_pci.wait import poll

__all__ = ["CONFIG_VECTOR", "DEFAULT_FEATURES", "IRQ_DATA", "NET_HDR_SIZE", "RX", "RX_VECTOR",
           "TX", "TX_VECTOR", "CaseDriver", "CaseQueue"]

NET_HDR_SIZE = 12
BUF_SIZE = 2048
DEFAULT_FEATURES = bit(NET_F_MAC) | bit(NET_F_STATUS)


class CaseQueue(PciQueue):
    def __init__(self, index: int, ring: SplitDriver | PackedDriver, notify_addr: int,
                 buffers: list[int]) -> None:
        super().__init__(index, ring, notify_addr)
        self.buffers = buffers  # token n owns buffers[n]
        self.outstanding: set[int] = set()


class CaseDriver(PciQueueDriver[CaseQueue]):
    def __init__(self, host: Host, transport: VirtioPciTransport, ram: Window, *,
                 queue_size: int = 16, msix: bool = True, wanted: int = DEFAULT_FEATURES,
                 packed: bool = False, share_irq: bool = False) -> None:
        super().__init__(host, transport, ram, queue_size=queue_size, wanted=wanted,
                         msix=msix, packed=packed, share_irq=share_irq)
        self.link: int | None = None  # the status field, as last read (NET_F_STATUS)
        self.config_changes = 0
        self.mac: bytes | None = None
        self.inbox: deque[tuple[bytes, bytes]] = deque()
        self._reuse: list[int] | None = None

    # -- bring-up ---------------------------------------------------------------------------
    def read_mac(self) -> bytes:
        return bytes(self.run(self.transport.config_fields([(i, 1) for i in range(6)])))

    def read_link(self) -> int:
        return self.run(self.transport.config_fields([(6, 2)]))[0]

    def setup_queue(self, index: int, vector: int | None, at: int | None = None,
                    buffers: list[int] | None = None) -> CaseQueue:
        """The reference's queue set-up, with ``buffers`` reused when given (how a reset
        queue is set up again at the same memory)."""
        self._reuse = buffers
        return super().setup_queue(index, vector, at)

    def new_queue(self, index: int, ring: SplitDriver | PackedDriver,
                  notify_addr: int) -> CaseQueue:
        buffers = self._reuse
        if buffers is None:
            buffers = [self.ram.allocate(BUF_SIZE, 64) for _ in range(ring.q)]
        return CaseQueue(index, ring, notify_addr, buffers)

    def bring_up(self) -> None:
        """Initialize the device; a vector mapping the device refuses (read back as
        NO_VECTOR, VIRTIO-PCI-041) makes the driver start again without MSI-X, one of the
        ways out that section allows."""
        try:
            self._bring_up()
        except VectorRefused:
            if self.irq_page is None:
                raise
            self.drop_msix()
            self._bring_up()

    def _bring_up(self) -> None:
        self.negotiate()
        if self.driver.has(NET_F_MAC):
            self.mac = self.read_mac()
        msix = self.setup_interrupts()
        self.setup_queues([RX, TX], msix)
        rx = self.queues[RX]
        for token in range(rx.any_ring.q):
            self._post_rx(rx, token)
        self.run(self.driver.go_live())
        self.kick(rx)

    def set_mac(self, mac: bytes) -> None:
        """Change the MAC address: only the control queue's MAC_ADDR_SET can (VIRTIO 1.4
        §5.1.9.5.2), which is not set up here, so the reference refuses (NET-022)."""
        self.write_mac(mac)
        self.mac = mac

    # -- queue reset ------------------------------------------------------------------------
    def reset_queue(self, index: int) -> list[int]:  # type: ignore[override]
        tokens = cast(list[int], super().reset_queue(index))
        self.queues[index].outstanding.clear()
        return tokens

    def reenable_queue(self, index: int, vector: int | None,
                       same_memory: bool = False) -> CaseQueue:
        """The reference's :meth:`setup_again`, the buffers reused with the same memory; a
        receive queue gets its buffers posted and a notification."""
        self._reuse = self.queues[index].buffers if same_memory else None
        q = self.setup_again(index, vector, same_memory)
        if index == RX:
            for token in range(q.any_ring.q):
                self._post_rx(q, token)
            self.kick(q)
        return q

    # -- interrupts -------------------------------------------------------------------------
    def service(self) -> dict[str, int]:
        """Handle the pending interrupt(s) (:meth:`causes`): configuration re-read (0/1),
        frames received, transmit buffers taken back."""
        config, queues = self.causes()
        done = {"config": 0, "received": 0, "sent": 0}
        if config:
            self.config_changes += 1
            done["config"] = 1
            if self.driver.has(NET_F_STATUS):
                self.link = self.read_link()
        if queues:
            done["received"] = self.receive()
            done["sent"] = len(self.reclaim_tx())
        return done

    # -- transmit ---------------------------------------------------------------------------
    def send(self, frame: bytes, header: bytes = bytes(NET_HDR_SIZE)) -> int:
        q = self.queues[TX]
        if len(header) + len(frame) > BUF_SIZE:
            raise ValueError(f"frame of {len(frame)} bytes does not fit a {BUF_SIZE}-byte buffer")
        free = [t for t in range(len(q.buffers)) if t not in q.outstanding]
        if not free:
            raise QueueFull("every transmit buffer is in flight")
        token = free[0]
        self.host.write_bytes(q.buffers[token], header + frame)
        self.run(q.any_ring.add([(q.buffers[token], len(header) + len(frame))], [], token))
        q.outstanding.add(token)
        self.kick(q)
        return token

    def reclaim_tx(self) -> list[tuple[int, int]]:
        q = self.queues[TX]
        done = []
        while (got := self.run(q.any_ring.get_used())) is not None:
            token, length = cast(int, got[0]), got[1]
            q.outstanding.discard(token)
            done.append((token, length))
        return done

    def wait_tx(self, timeout: float = 2.0) -> list[tuple[int, int]]:
        """Wait until every transmitted buffer came back; the (token, len) of each."""
        out: list[tuple[int, int]] = []

        def check() -> bool:
            out.extend(self.reclaim_tx())
            return not self.queues[TX].outstanding

        poll(check, timeout, "transmit buffers to come back")
        return out

    # -- receive ----------------------------------------------------------------------------
    def _post_rx(self, q: CaseQueue, token: int) -> None:
        self.run(q.any_ring.add([], [(q.buffers[token], BUF_SIZE)], token))
        q.outstanding.add(token)

    def receive(self) -> int:
        """Take every received packet into :attr:`inbox` as (header, frame) and give the
        buffers back to the device; returns how many arrived."""
        q = self.queues[RX]
        n = 0
        while (got := self.run(q.any_ring.get_used())) is not None:
            token, length = cast(int, got[0]), got[1]
            q.outstanding.discard(token)
            data = self.host.read_bytes(q.buffers[token], length)
            self.inbox.append((data[:NET_HDR_SIZE], data[NET_HDR_SIZE:]))
            self._post_rx(q, token)
            n += 1
        if n:
            self.kick(q)
        return n

    def wait_rx(self, timeout: float = 2.0) -> tuple[bytes, bytes]:
        """The next received packet as (header, frame), waiting at most ``timeout``."""
        if not self.inbox:
            poll(lambda: self.receive() > 0, timeout, "a received frame")
        return self.inbox.popleft()
