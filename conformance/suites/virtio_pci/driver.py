"""The pci suite's virtio-net driver on top of the transport: enough to bring a network device
up and pass frames both ways, against our device or QEMU's (the reference network driver is
reference/net's; this one builds the rings the cases reach into, split or packed, and hands
the transport their areas).

Bring-up follows VIRTIO-STATUS-008: negotiate (VERSION_1, MAC, STATUS), read the MAC through
the generation loop, map MSI-X vectors (0: configuration, 1: receive, 2: transmit; each
message is a word in guest RAM the driver polls), set up the receive and transmit split
queues with :class:`~virtiospec.reference.ring.SplitDriver`, post every receive buffer,
DRIVER_OK, then the first notification. Every wait is bounded (:mod:`.wait`).

``packed=True`` asks for VIRTIO_F_RING_PACKED as well; when the device grants it, both queues
are packed (:class:`~virtiospec.reference.ring.packed.driver.PackedDriver`: the descriptor
ring, then the driver's and the device's event-suppression structures), with indirect tables
in a separate area when VIRTIO_F_INDIRECT_DESC is negotiated too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TypeVar, cast

from virtiospec.reference.access import Op, run
from virtiospec.reference.pci.discovery import Window
from virtiospec.reference.pci.host import Host, PhysMemory
from virtiospec.reference.ring import QueueFull, SplitDriver, SplitLayout
from virtiospec.reference.ring.layout import avail_ring_size, desc_table_size, used_ring_size
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.ring.packed.layout import EVENT_SIZE, PACKED_DESC_SIZE, PackedLayout
from virtiospec.reference.virtio_pci.errors import MissingStructure, VectorRefused
from virtiospec.reference.virtio_pci.init import VirtioPciDriver
from virtiospec.reference.virtio_pci.regs import (
    F_EVENT_IDX,
    F_INDIRECT_DESC,
    F_NOTIF_CONFIG_DATA,
    F_RING_PACKED,
    ISR_CONFIG,
    ISR_QUEUE,
    NET_F_MAC,
    NET_F_STATUS,
    bit,
)
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport
from virtiospec.reference.virtio_pci.wait import poll

T = TypeVar("T")
NET_HDR_SIZE = 12
BUF_SIZE = 2048
RX, TX = 0, 1
CONFIG_VECTOR, RX_VECTOR, TX_VECTOR = 0, 1, 2
IRQ_DATA = 0x5EC0_0000  # message data of vector v is IRQ_DATA + v
DEFAULT_FEATURES = bit(NET_F_MAC) | bit(NET_F_STATUS)
INDIRECT_MAX = 4  # entries of each packed indirect table


class DriverQueue:
    def __init__(self, index: int, ring: SplitDriver | PackedDriver, notify_addr: int,
                 buffers: list[int]) -> None:
        self.index = index
        self.any_ring = ring  # what the driver adds to and takes from, split or packed
        self.notify_addr = notify_addr
        self.buffers = buffers  # token n owns buffers[n]
        self.outstanding: set[int] = set()
        self.notify_id = index  # what identifies it in a notification (VIRTIO-PCI-115)

    @property
    def ring(self) -> SplitDriver:
        """The queue's split ring (a packed queue has :attr:`packed` instead)."""
        assert isinstance(self.any_ring, SplitDriver), "a packed queue: see .packed"
        return self.any_ring

    @property
    def packed(self) -> PackedDriver:
        """The queue's packed ring (a split queue has :attr:`ring` instead)."""
        assert isinstance(self.any_ring, PackedDriver), "a split queue: see .ring"
        return self.any_ring


@dataclass(frozen=True)
class PciNetDriverLines:
    """The lines of :class:`NetDriver` a known-bad variant (models/driver_rule_mutants.py)
    may turn off; every default is the protocol."""

    any_table_size: bool = True  # setup_interrupts: too few vectors is no failure (VIRTIO-PCI-114)
    vectors_within_table: bool = True  # setup_interrupts: none beyond Table Size (VIRTIO-PCI-041)
    serve_every_cause: bool = True  # service: config change and used buffers alike (VIRTIO-PCI-116)
    config_read_only: bool = True  # set_mac: never by writing the configuration (NET-022)
    leave_unused_queues: bool = True  # bring-up: queues it does not use are left alone; a
    #                                   0 in queue_size is no "off" (VIRTIO-PCI-104)


class NetDriver:
    lines = PciNetDriverLines()

    def __init__(self, host: Host, transport: VirtioPciTransport, ram: Window, *,
                 queue_size: int = 16, msix: bool = True,
                 wanted: int = DEFAULT_FEATURES, packed: bool = False,
                 share_irq: bool = False) -> None:
        if packed:
            wanted |= bit(F_RING_PACKED)
        self.host = host
        self.transport = transport
        self.ram = ram
        self.queue_size = queue_size
        self.use_msix = msix
        self.share_irq = share_irq  # one MSI-X vector for the configuration and both queues
        self.vectors: dict[str, int] = {}  # "config", "rx", "tx" -> MSI-X vector
        self.link: int | None = None  # the status field, as last read (NET_F_STATUS)
        self.config_changes = 0
        self.memory = PhysMemory(host)
        self.driver = VirtioPciDriver(transport, wanted)
        self.mac: bytes | None = None
        self.irq_page: int | None = None
        self.queues: dict[int, DriverQueue] = {}
        self.inbox: deque[tuple[bytes, bytes]] = deque()

    @property
    def packed(self) -> bool:
        """Whether the negotiated features include VIRTIO_F_RING_PACKED."""
        return self.driver.has(F_RING_PACKED)

    def run(self, op: Op[T]) -> T:
        return run(op, self.memory)

    # -- bring-up ---------------------------------------------------------------------
    def negotiate(self) -> int:
        return self.run(self.driver.negotiate())

    def read_mac(self) -> bytes:
        return bytes(self.run(self.transport.config_fields([(i, 1) for i in range(6)])))

    def read_link(self) -> int:
        return self.run(self.transport.config_fields([(6, 2)]))[0]

    def setup_interrupts(self) -> bool:
        """MSI-X vectors 0..2 (configuration, receive, transmit), or with ``share_irq`` vector
        0 for all three, into a page of guest RAM. False when the table has fewer vectors than
        that: the driver then works without MSI-X (INTx and the ISR, or polling), whatever the
        Table Size (VIRTIO-PCI-114), and maps no vector beyond it (VIRTIO-PCI-041)."""
        t = self.transport
        if not self.use_msix or t.msix is None:
            return False
        want = 1 if self.share_irq else 3
        if t.msix.vectors < want:
            if not self.lines.any_table_size:
                raise MissingStructure(f"{t.msix.vectors} MSI-X vectors; this driver needs "
                                       f"{want}")
            if self.lines.vectors_within_table:
                return False
        self.irq_page = self.ram.allocate(0x1000, 0x1000)
        self.host.write_bytes(self.irq_page, bytes(0x1000))
        t.msix_program([(self.irq_page + 4 * v, IRQ_DATA + v)
                        for v in range(min(want, t.msix.vectors))])
        self.vectors = dict.fromkeys(("config", "rx", "tx"), 0) if self.share_irq else \
            {"config": CONFIG_VECTOR, "rx": RX_VECTOR, "tx": TX_VECTOR}
        self.run(t.map_vector("config_msix_vector", self.vectors["config"]))
        return True

    def setup_queue(self, index: int, vector: int | None, at: int | None = None,
                    buffers: list[int] | None = None) -> DriverQueue:
        """Set up queue ``index`` in fresh memory, or at ``at`` (memory this driver owns,
        zeroed again here) with ``buffers`` reused: how a reset queue is set up again."""
        t = self.transport
        largest = self.run(t.max_queue_size(index))
        size = min(self.queue_size, largest)
        layout: SplitLayout | PackedLayout
        ring: SplitDriver | PackedDriver
        event_idx = self.driver.has(F_EVENT_IDX)
        if self.packed:
            span = PACKED_DESC_SIZE * size + 2 * EVENT_SIZE
            base = self.ram.allocate(span, 0x1000) if at is None else at
            self.host.write_bytes(base, bytes(span))
            layout = PackedLayout.packed_at(base, size)
            area = None
            if self.driver.has(F_INDIRECT_DESC):
                area = self.ram.allocate(size * INDIRECT_MAX * PACKED_DESC_SIZE, 16)
            ring = PackedDriver(layout, event_idx=event_idx, indirect_area=area,
                                indirect_max=INDIRECT_MAX)
        else:
            span = desc_table_size(size) + avail_ring_size(size) + used_ring_size(size) + 32
            base = self.ram.allocate(span, 0x1000) if at is None else at
            self.host.write_bytes(base, bytes(span))  # allocate and zero (§4.1.5.1.3)
            layout = SplitLayout.packed_at(base, size)
            ring = SplitDriver(layout, event_idx=event_idx)
        notify_addr = self.run(t.setup_queue(index, layout, vector))
        self.run(ring.init())
        if buffers is None:
            buffers = [self.ram.allocate(BUF_SIZE, 64) for _ in range(size)]
        q = DriverQueue(index, ring, notify_addr, buffers)
        if self.driver.has(F_NOTIF_CONFIG_DATA):  # VIRTIO-PCI-115: the device's value
            q.notify_id = self.run(t.read("queue_notif_config_data"))
        self.queues[index] = q
        return q

    def bring_up(self) -> None:
        """Initialize the device; a vector mapping the device refuses (read back as
        NO_VECTOR, VIRTIO-PCI-041) makes the driver start again without MSI-X, one of the
        ways out that section allows."""
        try:
            self._bring_up()
        except VectorRefused:
            if self.irq_page is None:
                raise
            self.transport.msix_control(enable=False)
            self.use_msix, self.irq_page, self.vectors, self.queues = False, None, {}, {}
            self._bring_up()

    def _bring_up(self) -> None:
        self.negotiate()
        if self.driver.has(NET_F_MAC):
            self.mac = self.read_mac()
        msix = self.setup_interrupts()
        rx = self.setup_queue(RX, self.vectors["rx"] if msix else None)
        self.setup_queue(TX, self.vectors["tx"] if msix else None)
        if not self.lines.leave_unused_queues:
            for index in range(TX + 1, self.run(self.transport.read("num_queues"))):
                self.run(self.transport.write("queue_select", index))
                self.run(self.transport.write("queue_size", 0))
        for token in range(rx.any_ring.q):
            self._post_rx(rx, token)
        self.run(self.driver.go_live())
        self.kick(rx)

    def set_mac(self, mac: bytes) -> None:
        """Change the MAC address: only the control queue's MAC_ADDR_SET can (VIRTIO 1.4
        §5.1.9.5.2), which this driver does not set up, so it refuses; the device
        configuration is the driver's to read, never to write (NET-022), as legacy drivers
        did."""
        if self.lines.config_read_only:
            raise MissingStructure("changing the MAC address needs the control queue "
                                   "(VIRTIO_NET_F_CTRL_MAC_ADDR)", "NET-022")
        base = self.transport.structures.device
        assert base is not None
        for i, byte in enumerate(mac):
            self.host.mem_write(base + i, 1, byte)
        self.mac = mac

    # -- queue reset (VIRTIO_F_RING_RESET, VIRTIO 1.4 §2.6.1) ----------------------------
    def reset_queue(self, index: int) -> list[int]:
        """Reset one queue and take back its buffers: the reset is done only once
        ``queue_reset`` reads 0 (VIRTIO-VQRESET-003, VIRTIO-PCI-105); then the tokens of every
        buffer the device did not use come back from the ring (``detach_unused``)."""
        q = self.queues[index]
        self.run(self.transport.reset_queue(index))
        tokens = cast(list[int], q.any_ring.detach_unused())
        q.outstanding.clear()
        return tokens

    def reenable_queue(self, index: int, vector: int | None,
                       same_memory: bool = False) -> DriverQueue:
        """Set a reset queue up again as the first time (VIRTIO-VQRESET-005): ring memory
        zeroed and initialised, every queue register written, then ``queue_enable``; at new
        addresses, or at the old ones with ``same_memory`` (VIRTIO-PCI-105 allows both). A
        receive queue gets its buffers posted and a notification."""
        old = self.queues[index]
        at = old.any_ring.layout.desc if same_memory else None
        q = self.setup_queue(index, vector, at, old.buffers if same_memory else None)
        if index == RX:
            for token in range(q.any_ring.q):
                self._post_rx(q, token)
            self.kick(q)
        return q

    # -- notifications ----------------------------------------------------------------
    def kick(self, q: DriverQueue) -> bool:
        if self.run(q.any_ring.kick_prepare()):
            self.run(self.driver.notify(q.notify_id, q.notify_addr, self.notify_data(q)))
            return True
        return False

    @staticmethod
    def notify_data(q: DriverQueue) -> int:
        """The next position to send with a notification (VIRTIO_F_NOTIFICATION_DATA,
        VIRTIO-PCI-115): split, ``avail.idx`` (``next_off`` its bits 0..14, ``next_wrap`` bit
        15); packed, ``next_off`` and ``next_wrap`` of RING-PACKED-024."""
        ring = q.any_ring
        return ring.avail_idx if isinstance(ring, SplitDriver) else ring.kick_data()

    def irq_count(self, vector: int) -> int:
        """1 if vector's message word was written since the last :meth:`clear_irq`."""
        assert self.irq_page is not None
        word = self.host.mem_read(self.irq_page + 4 * vector, 4)
        return 1 if word == IRQ_DATA + vector else 0

    def clear_irq(self, vector: int) -> None:
        assert self.irq_page is not None
        self.host.mem_write(self.irq_page + 4 * vector, 4, 0)

    def service(self) -> dict[str, int]:
        """Handle the pending interrupt(s): with MSI-X each vector whose message arrived, else
        the ISR (read once, which clears it). One interrupt may stand for a configuration
        change and used buffers at once (VIRTIO-PCI-116): both are served. Returns what was
        done: configuration re-read (0/1), frames received, transmit buffers taken back."""
        causes: set[str] = set()
        if self.irq_page is None:
            isr = self.run(self.transport.read_isr())
            causes |= {"config"} if isr & ISR_CONFIG else set()
            causes |= {"queues"} if isr & ISR_QUEUE else set()
        else:
            for vector in sorted(set(self.vectors.values())):
                if self.irq_count(vector):
                    self.clear_irq(vector)
                    causes |= {"config" if k == "config" else "queues"
                               for k, v in self.vectors.items() if v == vector}
        done = {"config": 0, "received": 0, "sent": 0}
        if "config" in causes:
            self.config_changes += 1
            done["config"] = 1
            if self.driver.has(NET_F_STATUS):
                self.link = self.read_link()
        if "queues" in causes and (self.lines.serve_every_cause or "config" not in causes):
            done["received"] = self.receive()
            done["sent"] = len(self.reclaim_tx())
        return done

    def wait_irq(self, vector: int, timeout: float = 2.0) -> None:
        poll(lambda: self.irq_count(vector) or None, timeout, f"MSI-X message of vector {vector}")
        self.clear_irq(vector)

    # -- transmit ---------------------------------------------------------------------
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

    # -- receive ------------------------------------------------------------------------
    def _post_rx(self, q: DriverQueue, token: int) -> None:
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
