"""The clock device on virtio-pci (spec/shm.md, SHM-CLOCK-004, SHM-CLOCK-005, SHM-CLOCK-006,
SHM-CLOCK-007, SHM-CLOCK-008, SHM-CLOCK-009, SHM-CLOCK-010, SHM-CLOCK-011): a virtio-pci function
whose device type publishes the time in a table in shared memory region 0 and counts
interrupt edges and levels in a table in region 1, each announced by an shm-signal whose
notification is an MSI-X message.

The device type is :class:`ClockBackend`; the transport (status, features, capabilities,
MSI-X, reset) is the unchanged :class:`~virtiospec.reference.virtio_pci.VirtioPciDevice`,
which already describes the regions with VIRTIO_PCI_CAP_SHARED_MEMORY_CFG capabilities in its
shared memory BAR; the backend maps a :class:`~.region.ShmWindow` behind each. On the device side
the clock and the interrupt table are the reference's :class:`ClockDevice` and
:class:`IrqDevice`, run over the device's own view of its regions.

Time comes from the platform: :meth:`ClockBackend.tick` is one tick of the platform clock, an
``Op`` so that a test or the stack can step it against a driver, access by access.
"""

from __future__ import annotations

from virtiospec.reference.access import Op, run
from virtiospec.reference.shm.clock import ClockDevice, ClockLayout
from virtiospec.reference.shm.errors import ShmError, WrongWriter
from virtiospec.reference.shm.irq_table import IrqDevice, IrqLayout
from virtiospec.reference.shm.region import Region
from virtiospec.reference.shm.signal import SIGNAL_SIZE, SignalLayout
from virtiospec.reference.shm.table import TableLayout
from virtiospec.reference.stack.clock_counters import CountingWriter
from virtiospec.reference.stack.clock_numbers import (
    ALARM_LINE,
    CLOCK_AT,
    CLOCK_CLASS_CODE,
    CLOCK_DEVICE_ID,
    CLOCK_SHMID,
    IRQ_AT,
    IRQ_SHMID,
    MAX_IRQ_LINES,
    MSIX_VECTORS,
    REGION_SIZE,
    TICK_LINE,
    signal_vector,
)
from virtiospec.reference.stack.clock_region import DeviceView
from virtiospec.reference.stack.counters import RegionCounters
from virtiospec.reference.stack.region import Guard, ShmWindow
from virtiospec.reference.virtio_pci.device import SHM_BAR, VirtioPciDevice
from virtiospec.reference.virtio_pci.device_config import DeviceConfig
from virtiospec.reference.virtio_pci.queues import QueueRegs
from virtiospec.reference.virtio_pci.regs import (
    DEVICE_NEEDS_RESET,
    DRIVER_OK,
    F_VERSION_1,
    ISR_QUEUE,
    bit,
)

ALARM_EVERY = 8  # ticks between two changes of the alarm line's level


class SignalStats:
    """What became of one signal's notifications on the transport (SHM-CLOCK-008)."""

    def __init__(self) -> None:
        self.msix_sent = 0
        self.msix_pending = 0  # entry masked or MSI-X function masked: left pending
        self.intx = 0  # MSI-X disabled: ISR bit 0 and INTx
        self.suppressed = 0  # the injection said notify, but the device was not live


class ClockBackend:
    """The device type: IDs, features and configuration (SHM-CLOCK-004, -005), the regions
    and what is in them (SHM-CLOCK-006), the signals' vectors (SHM-CLOCK-008), liveness
    (SHM-CLOCK-009), refusal of foreign stores (SHM-CLOCK-010) and reset (SHM-CLOCK-011)."""

    device_id = CLOCK_DEVICE_ID
    class_code = CLOCK_CLASS_CODE
    features = bit(F_VERSION_1)
    queue_sizes: tuple[int, ...] = ()
    faults: tuple[type[Exception], ...] = ()  # no ring: nothing of the driver's to refuse

    def __init__(self, irq_lines: int = 2) -> None:
        if not 1 <= irq_lines <= MAX_IRQ_LINES:
            raise ValueError(f"{irq_lines} interrupt lines (1..{MAX_IRQ_LINES})")
        self.irq_lines = irq_lines
        self.config = DeviceConfig(irq_lines.to_bytes(4, "little"))
        self.regions = {shmid: ShmWindow(shmid, REGION_SIZE, RegionCounters(),
                                         guard=self._judge(shmid), refuse=self._refuse)
                        for shmid in (CLOCK_SHMID, IRQ_SHMID)}
        self.view = DeviceView(self.regions)
        self.clock = ClockDevice(ClockLayout(self._local(CLOCK_SHMID), CLOCK_AT))
        self.clock.writer = self.clock_writer = CountingWriter(self.clock.layout.table)
        self.irq = IrqDevice(IrqLayout(self._local(IRQ_SHMID), IRQ_AT, irq_lines))
        self.irq.writer = self.irq_writer = CountingWriter(self.irq.layout.table)
        self.signals = {CLOCK_SHMID: SignalStats(), IRQ_SHMID: SignalStats()}
        self.device: VirtioPciDevice | None = None
        self.time_ns = 0  # the platform's time at the last tick
        self.ticks = 0
        self.idle_ticks = 0  # ticks while not live: nothing published (SHM-CLOCK-009)
        self.published = 0
        self.edges = 0  # edges recorded since set-up or the last reset
        self.edges_total = 0
        self.level_changes = 0
        self.refusals: list[ShmError] = []
        run(self._init(), self.view)

    @staticmethod
    def _local(shmid: int) -> Region:
        """Region ``shmid`` as the device addresses it (:class:`DeviceView`)."""
        return Region(shmid, DeviceView.base(shmid), REGION_SIZE)

    # -- SHM-CLOCK-010: which stores the driver may make ----------------------------------
    def _judge(self, shmid: int) -> Guard:
        def broken(offset: int, size: int, value: int) -> str | None:
            signal, table = self._layout(shmid)
            if offset < signal.offset + SIGNAL_SIZE and signal.offset < offset + size:
                ok = size == 4 and ((offset == signal.enabled and value in (0, 1))
                                    or (offset == signal.pending and value == 0))
                return None if ok else "SHM-SIGNAL-001"
            if offset < table.offset + table.size and table.offset < offset + size:
                return "SHM-TABLE-001"  # the device is the table's only writer
            return "SHM-CLOCK-010"

        def judge(offset: int, size: int, value: int) -> ShmError | None:
            req = broken(offset, size, value)
            if req is None:
                return None
            return WrongWriter(f"driver store of {value:#x} ({size} bytes) at offset "
                               f"{offset:#x} of region {shmid} refused", req)

        return judge

    def _layout(self, shmid: int) -> tuple[SignalLayout, TableLayout]:
        lay = self.clock.layout if shmid == CLOCK_SHMID else self.irq.layout
        return lay.signal, lay.table

    def _refuse(self, err: ShmError) -> None:
        self.refusals.append(err)
        if self.device is not None:
            self.device.fail(err)  # DEVICE_NEEDS_RESET, configuration change notification

    # -- DeviceType ------------------------------------------------------------------------
    def attach(self, device: VirtioPciDevice) -> None:
        """Map each region's memory where the device's capability says it is (SHM-REGION-004)."""
        self.device = device
        for shmid, backing in self.regions.items():
            device.map(SHM_BAR, device.shm_at[shmid], backing)

    def validate_features(self, features: int) -> bool:
        return True  # only VIRTIO_F_VERSION_1 is offered

    def live(self) -> None:
        """DRIVER_OK: publish the current time at once (SHM-CLOCK-009)."""
        if self.time_ns:
            run(self._publish(self.time_ns), self.view)

    def build_queue(self, index: int, q: QueueRegs) -> object:
        raise ValueError(f"the clock has no virtqueue {index}")  # queue_sizes is empty

    def queue_notified(self, index: int) -> None:
        pass  # no virtqueues, and no driver -> device signal (SHM-CLOCK-008)

    def reset(self) -> None:
        """SHM-CLOCK-011: both regions and the private state as at set-up."""
        run(self._init(), self.view)

    def _init(self) -> Op[None]:
        yield from self.clock.init()
        yield from self.irq.init()
        self.irq.counts = [0] * self.irq_lines
        self.irq.levels = [0] * self.irq_lines
        self.edges = 0

    # -- the platform clock ----------------------------------------------------------------
    @property
    def is_live(self) -> bool:
        dev = self.device
        return dev is not None and bool(dev.status & DRIVER_OK) \
            and not dev.status & DEVICE_NEEDS_RESET

    def tick(self, ns: int) -> Op[None]:
        """The platform clock reads ``ns``: publish it (SHM-CLOCK-002), record an edge on the
        tick line and every ``ALARM_EVERY`` ticks flip the alarm line (SHM-IRQ-002), each table
        followed by its signal. Only while live (SHM-CLOCK-009); a device that went broken
        meanwhile starts nothing more (SHM-CLOCK-010)."""
        if ns < self.time_ns:
            raise ValueError(f"the platform clock went back from {self.time_ns} to {ns}")
        self.time_ns = ns
        self.ticks += 1
        if not self.is_live:
            self.idle_ticks += 1
            return
        yield from self._publish(ns)
        if not self.is_live:
            return
        self.edges += 1  # counted before the update, so a driver never sees more than this
        self.edges_total += 1
        yield from self.irq.edge(TICK_LINE)
        if self.irq_lines > ALARM_LINE and self.ticks % ALARM_EVERY == 0 and self.is_live:
            yield from self.irq.set_level(ALARM_LINE, 1 - self.irq.levels[ALARM_LINE])
            self.level_changes += 1
        if self.is_live and (yield from self.irq.inject()):
            self._notify(IRQ_SHMID)

    def _publish(self, ns: int) -> Op[None]:
        self.published += 1
        if (yield from self.clock.publish(ns)):
            self._notify(CLOCK_SHMID)

    def _notify(self, shmid: int) -> None:
        """The transport's notification of region ``shmid``'s signal (SHM-CLOCK-008)."""
        dev, stats = self.device, self.signals[shmid]
        if dev is None or not self.is_live:
            stats.suppressed += 1
            return
        if dev.msix_enabled:
            assert dev.msix_table is not None
            if dev.msix_table.notify(signal_vector(shmid)):
                stats.msix_sent += 1
            else:
                stats.msix_pending += 1
            return
        stats.intx += 1
        dev.isr |= ISR_QUEUE
        dev.set_irq(True)


class ClockPciDevice(VirtioPciDevice):
    """The PCI function: the virtio-pci transport with a :class:`ClockBackend`, its two
    regions in the shared memory BAR and an MSI-X table of at least three entries. Counts the
    driver's status writes and the device's breakages."""

    def __init__(self, irq_lines: int = 2, *, msix_vectors: int = MSIX_VECTORS) -> None:
        if msix_vectors < MSIX_VECTORS:
            raise ValueError(f"the clock needs {MSIX_VECTORS} MSI-X vectors (SHM-CLOCK-008)")
        self.clock_backend = ClockBackend(irq_lines)
        self.status_writes = 0
        self.resets = 0
        self.failures = 0
        super().__init__(self.clock_backend, msix_vectors=msix_vectors,
                         shm_regions={CLOCK_SHMID: REGION_SIZE, IRQ_SHMID: REGION_SIZE})

    def write_status(self, value: int) -> None:
        self.status_writes += 1
        if value == 0:
            self.resets += 1
        super().write_status(value)

    def fail(self, err: Exception) -> None:
        self.failures += 1
        super().fail(err)
