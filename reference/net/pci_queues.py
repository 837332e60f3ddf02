"""The transport side of the network driver behind virtio-pci: everything between the
network driver's frames (:class:`~virtiospec.reference.net.driver.NetDriver`) and the
transport's registers (:class:`~virtiospec.reference.virtio_pci.transport.VirtioPciTransport`).

:class:`PciQueueDriver` negotiates (VIRTIO-STATUS-008 through
:class:`~virtiospec.reference.virtio_pci.init.VirtioPciDriver`), maps MSI-X vectors (0 for
configuration changes, 1 + q for queue q, or 0 for all with ``share_irq``; each message a word
in a page of guest RAM the driver polls), builds each queue in fresh, zeroed guest RAM and
gives the transport its areas (VIRTIO-PCI-025): a split ring
(:class:`~virtiospec.reference.ring.SplitDriver`) or, with VIRTIO_F_RING_PACKED, a packed one
(:class:`~virtiospec.reference.ring.packed.driver.PackedDriver`, with indirect tables in an
area of their own when VIRTIO_F_INDIRECT_DESC is negotiated too). A kick the ring decides on
is the transport's notification (VIRTIO-PCI-030), carrying the next position with
VIRTIO_F_NOTIFICATION_DATA and the device's identifier with VIRTIO_F_NOTIF_CONFIG_DATA
(VIRTIO-PCI-115). It resets and re-enables single queues (VIRTIO_F_RING_RESET), and tells
which causes an interrupt stands for, by MSI-X word or by the ISR (VIRTIO-PCI-116).

The ring layer stays below: the transport is given addresses, never a ring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from virtiospec.reference.access import Op, run
from virtiospec.reference.pci.discovery import Window
from virtiospec.reference.pci.host import Host, PhysMemory
from virtiospec.reference.ring import SplitDriver, SplitLayout
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.ring.packed.layout import EVENT_SIZE, PACKED_DESC_SIZE, PackedLayout
from virtiospec.reference.virtio_pci.errors import MissingStructure
from virtiospec.reference.virtio_pci.init import VirtioPciDriver
from virtiospec.reference.virtio_pci.regs import (
    F_EVENT_IDX,
    F_INDIRECT_DESC,
    F_NOTIF_CONFIG_DATA,
    F_RING_PACKED,
    ISR_CONFIG,
    ISR_QUEUE,
    bit,
)
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport
from virtiospec.reference.virtio_pci.wait import poll

T = TypeVar("T")
RX, TX = 0, 1  # receiveq1 and transmitq1
CONFIG_VECTOR = 0
IRQ_DATA = 0x5EC1_0000  # the message data of vector v is IRQ_DATA + v
RING_ALIGN = 0x1000
INDIRECT_MAX = 4  # entries of each packed indirect table


def queue_vector(index: int) -> int:
    """The MSI-X vector of queue ``index`` (vector 0 is the configuration's)."""
    return 1 + index


RX_VECTOR, TX_VECTOR = queue_vector(RX), queue_vector(TX)


class PciQueue:
    """One queue the driver set up: its ring (split or packed) and where to notify it."""

    def __init__(self, index: int, ring: SplitDriver | PackedDriver, notify_addr: int) -> None:
        self.index = index
        self.any_ring = ring  # what the driver adds to and takes from, split or packed
        self.notify_addr = notify_addr
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


Q = TypeVar("Q", bound=PciQueue)


@dataclass(frozen=True)
class PciNetDriverLines:
    """The lines of the driver behind virtio-pci a known-bad variant
    (models/virtio_pci/driver_rule_mutants.py) may turn off; every default is the protocol."""

    any_table_size: bool = True  # setup_interrupts: too few vectors is no failure (VIRTIO-PCI-114)
    vectors_within_table: bool = True  # setup_interrupts: none beyond Table Size (VIRTIO-PCI-041)
    serve_every_cause: bool = True  # service: config change and used buffers alike (VIRTIO-PCI-116)
    config_read_only: bool = True  # set_mac: never by writing the configuration (NET-022)
    leave_unused_queues: bool = True  # bring-up: queues it does not use are left alone; a
    #                                   0 in queue_size is no "off" (VIRTIO-PCI-104)


class PciQueueDriver(Generic[Q]):
    """``ram``: guest RAM for rings, buffers and the interrupt words. ``transport`` may come
    later (:meth:`attach_transport`), once the function is found."""

    lines = PciNetDriverLines()

    def __init__(self, host: Host, transport: VirtioPciTransport | None, ram: Window, *,
                 queue_size: int = 16, wanted: int = 0, msix: bool = True,
                 packed: bool = False, share_irq: bool = False) -> None:
        self.host = host
        self.memory = PhysMemory(host)
        self.ram = ram
        self.queue_size = queue_size
        self.wanted = wanted | (bit(F_RING_PACKED) if packed else 0)
        self.use_msix = msix
        self.share_irq = share_irq  # one MSI-X vector for the configuration and every queue
        self.queue_vectors: dict[int, int] = {}  # queue index -> MSI-X vector
        self.irq_page: int | None = None
        self.queues: dict[int, Q] = {}
        self._transport: VirtioPciTransport | None = None
        self._driver: VirtioPciDriver | None = None
        if transport is not None:
            self.attach_transport(transport)

    def attach_transport(self, transport: VirtioPciTransport) -> None:
        self._transport = transport
        self._driver = VirtioPciDriver(transport, self.wanted)

    @property
    def transport(self) -> VirtioPciTransport:
        assert self._transport is not None, "no transport yet"
        return self._transport

    @property
    def driver(self) -> VirtioPciDriver:
        """The generic part of initialization (VIRTIO-STATUS-008) on this transport."""
        assert self._driver is not None, "no transport yet"
        return self._driver

    @property
    def packed(self) -> bool:
        """Whether the negotiated features include VIRTIO_F_RING_PACKED."""
        return self.driver.has(F_RING_PACKED)

    def run(self, op: Op[T]) -> T:
        return run(op, self.memory)

    # -- bring-up ---------------------------------------------------------------------------
    def negotiate(self) -> int:
        return self.run(self.driver.negotiate())

    def setup_interrupts(self, queues: int = 2) -> bool:
        """MSI-X vectors 0..queues (configuration, then one per queue), or with ``share_irq``
        vector 0 for all, into a page of guest RAM. False when the table has fewer vectors
        than that: the driver then works without MSI-X (INTx and the ISR, or polling),
        whatever the Table Size (VIRTIO-PCI-114), and maps no vector beyond it
        (VIRTIO-PCI-041)."""
        t = self.transport
        if not self.use_msix or t.msix is None:
            return False
        want = 1 if self.share_irq else 1 + queues
        if t.msix.vectors < want:
            if not self.lines.any_table_size:
                raise MissingStructure(f"{t.msix.vectors} MSI-X vectors; this driver needs "
                                       f"{want}")
            if self.lines.vectors_within_table:
                return False
        if self.irq_page is None:
            self.irq_page = self.ram.allocate(0x1000, 0x1000)
        self.host.write_bytes(self.irq_page, bytes(0x1000))
        t.msix_program([(self.irq_page + 4 * v, IRQ_DATA + v)
                        for v in range(min(want, t.msix.vectors))])
        self.queue_vectors = {q: 0 if self.share_irq else queue_vector(q) for q in range(queues)}
        self.run(t.map_vector("config_msix_vector", CONFIG_VECTOR))
        return True

    def drop_msix(self) -> None:
        """Go on without MSI-X (after the device refused a vector mapping, VIRTIO-PCI-041)."""
        self.transport.msix_control(enable=False)
        self.use_msix, self.irq_page, self.queue_vectors, self.queues = False, None, {}, {}

    def setup_queue(self, index: int, vector: int | None, at: int | None = None) -> Q:
        """Set up queue ``index`` in fresh memory, or at ``at`` (memory this driver owns,
        zeroed again here): how a reset queue is set up again."""
        t = self.transport
        size = min(self.queue_size, self.run(t.max_queue_size(index)))
        layout: SplitLayout | PackedLayout
        ring: SplitDriver | PackedDriver
        event_idx = self.driver.has(F_EVENT_IDX)
        if self.packed:
            span = PACKED_DESC_SIZE * size + 2 * EVENT_SIZE
            base = self.ram.allocate(span, RING_ALIGN) if at is None else at
            self.host.write_bytes(base, bytes(span))
            layout = PackedLayout.packed_at(base, size)
            area = None
            if self.driver.has(F_INDIRECT_DESC):
                area = self.ram.allocate(size * INDIRECT_MAX * PACKED_DESC_SIZE, 16)
            ring = PackedDriver(layout, event_idx=event_idx, indirect_area=area,
                                indirect_max=INDIRECT_MAX)
        else:
            span = SplitLayout.packed_at(0, size).end
            base = self.ram.allocate(span, RING_ALIGN) if at is None else at
            self.host.write_bytes(base, bytes(span))  # allocate and zero (VIRTIO 1.4 §2.7)
            layout = SplitLayout.packed_at(base, size)
            ring = SplitDriver(layout, event_idx=event_idx)
        notify_addr = self.run(t.setup_queue(index, layout, vector))
        self.run(ring.init())
        q = self.new_queue(index, ring, notify_addr)
        if self.driver.has(F_NOTIF_CONFIG_DATA):  # VIRTIO-PCI-115: the device's value
            q.notify_id = self.run(t.read("queue_notif_config_data"))
        self.queues[index] = q
        return q

    def new_queue(self, index: int, ring: SplitDriver | PackedDriver, notify_addr: int) -> Q:
        """The record of a queue just set up (a subclass keeps more with it)."""
        return cast(Q, PciQueue(index, ring, notify_addr))

    def setup_queues(self, indices: list[int], msix: bool) -> None:
        """Each queue in ``indices`` on its vector; with ``leave_unused_queues`` off (the
        known-bad variant) the others are written queue_size 0, as if that turned them off."""
        for index in indices:
            self.setup_queue(index, self.queue_vectors[index] if msix else None)
        if not self.lines.leave_unused_queues:
            for index in range(max(indices) + 1, self.run(self.transport.read("num_queues"))):
                self.run(self.transport.write("queue_select", index))
                self.run(self.transport.write("queue_size", 0))

    # -- configuration (NET-022: read only) -------------------------------------------------
    def write_mac(self, mac: bytes) -> None:
        """Changing the MAC address without the control queue: refused, since the device
        configuration is the driver's to read, never to write (NET-022), as legacy drivers
        did; with ``config_read_only`` off (the known-bad variant) written there."""
        if self.lines.config_read_only:
            raise MissingStructure("changing the MAC address needs the control queue "
                                   "(VIRTIO_NET_F_CTRL_MAC_ADDR)", "NET-022")
        base = self.transport.structures.device
        assert base is not None
        for i, byte in enumerate(mac):
            self.host.mem_write(base + i, 1, byte)

    # -- queue reset (VIRTIO_F_RING_RESET, VIRTIO 1.4 §2.6.1) -------------------------------
    def reset_queue(self, index: int) -> list[object]:
        """Reset one queue and take back its buffers: the reset is done only once
        ``queue_reset`` reads 0 (VIRTIO-VQRESET-003, VIRTIO-PCI-105); then the tokens of every
        buffer the device did not use come back from the ring (``detach_unused``)."""
        q = self.queues[index]
        self.run(self.transport.reset_queue(index))
        return q.any_ring.detach_unused()

    def setup_again(self, index: int, vector: int | None, same_memory: bool) -> Q:
        """Set a reset queue up again as the first time (VIRTIO-VQRESET-005): ring memory
        zeroed and initialised, every queue register written, then ``queue_enable``; at new
        addresses, or at the old ones with ``same_memory`` (VIRTIO-PCI-105 allows both)."""
        old = self.queues[index]
        return self.setup_queue(index, vector, old.any_ring.layout.desc if same_memory else None)

    # -- notifications ----------------------------------------------------------------------
    def kick(self, q: Q) -> bool:
        """Notify the device if the ring says so (event suppression); True if it did."""
        if self.run(q.any_ring.kick_prepare()):
            self.run(self.driver.notify(q.notify_id, q.notify_addr, self.notify_data(q)))
            return True
        return False

    @staticmethod
    def notify_data(q: PciQueue) -> int:
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

    def wait_irq(self, vector: int, timeout: float = 2.0) -> None:
        poll(lambda: self.irq_count(vector) or None, timeout, f"MSI-X message of vector {vector}")
        self.clear_irq(vector)

    def causes(self) -> tuple[bool, set[int]]:
        """What the pending interrupt(s) stand for, taken (words cleared, the ISR read once,
        which clears it): whether the configuration changed, and the queues that may have
        used buffers. One interrupt may stand for both (VIRTIO-PCI-116)."""
        if self.irq_page is None:
            isr = self.run(self.transport.read_isr())
            return bool(isr & ISR_CONFIG), set(self.queues) if isr & ISR_QUEUE else set()
        config, queues = False, set()
        vectors = {CONFIG_VECTOR, *self.queue_vectors.values()}
        for vector in sorted(vectors):
            if self.irq_count(vector):
                self.clear_irq(vector)
                config |= vector == CONFIG_VECTOR
                queues |= {q for q, v in self.queue_vectors.items() if v == vector}
        if config and queues and not self.lines.serve_every_cause:
            queues = set()  # the known-bad variant: a configuration change hides the rest
        return config, queues
