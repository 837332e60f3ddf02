"""The driver of the clock device, over the whole stack (spec/shm.md, SHM-CLOCK-004, SHM-CLOCK-005,
SHM-CLOCK-006, SHM-CLOCK-007, SHM-CLOCK-008, SHM-CLOCK-009, SHM-CLOCK-010, SHM-CLOCK-011).

From the bottom up: PCI enumeration through the host's configuration mechanism #1 (scan,
size and assign the BARs, memory decoding and bus mastering: reference/pci/discovery.py);
the virtio-pci transport (capabilities, common configuration) and its initialization sequence
(VIRTIO-STATUS-008: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK); the device
configuration through the generation loop; the shared memory regions, found through their
capabilities and checked with the errors of spec/shm.md (SHM-CLOCK-007); MSI-X vectors into a
page of guest RAM that the driver polls; DRIVER_OK. Then the reference's
:class:`ClockDriver` and :class:`IrqDriver` run on the regions, through MMIO.

Every operation on the regions or the interrupt page is an ``Op``, so a test or the stack
steps the driver against the device access by access (reference/stack/clock_steps.py).
"""

from __future__ import annotations

from typing import TypeVar

from virtiospec.reference.access import Op, load, run, store
from virtiospec.reference.pci.discovery import (
    ConfigMechanism1,
    FoundBar,
    FoundFunction,
    Window,
    assign_bars,
    enable,
    scan,
    size_bars,
)
from virtiospec.reference.pci.host import Host, PhysMemory
from virtiospec.reference.shm.clock import ClockDriver, ClockLayout
from virtiospec.reference.shm.errors import BadCapability, BadLayout, ShmError
from virtiospec.reference.shm.irq_table import IrqDriver, IrqLayout
from virtiospec.reference.shm.region import CAP64_LEN, RegionSet, ShmCap
from virtiospec.reference.shm.table import MAX_ATTEMPTS
from virtiospec.reference.stack.clock_counters import CountingReader
from virtiospec.reference.stack.clock_numbers import (
    CLOCK_AT,
    CLOCK_PCI_DEVICE_ID,
    CLOCK_SHMID,
    CONFIG_VECTOR,
    IRQ_AT,
    IRQ_LINES_AT,
    IRQ_SHMID,
    MAX_IRQ_LINES,
    MSIX_VECTORS,
    signal_vector,
)
from virtiospec.reference.virtio_pci.caps import VirtioCap
from virtiospec.reference.virtio_pci.errors import NotLive, NotVirtio, VectorRefused
from virtiospec.reference.virtio_pci.init import VirtioPciDriver
from virtiospec.reference.virtio_pci.regs import VIRTIO_VENDOR
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport

T = TypeVar("T")
IRQ_DATA = 0xC10C_0000  # message data of vector v is IRQ_DATA + v
PAGE = 0x1000


class ShmTransport(VirtioPciTransport):
    """The virtio-pci transport, leaving shared memory capabilities to the driver: it notes
    where each one sits in configuration space, and the driver decodes and checks them with
    the errors of spec/shm.md (SHM-REGION-003, SHM-REGION-004, SHM-REGION-005, SHM-CLOCK-007)."""

    def __init__(self, host: Host, cfg: ConfigMechanism1, function: FoundFunction,
                 bars: list[FoundBar]) -> None:
        self.shm_caps: list[int] = []
        super().__init__(host, cfg, function, bars)

    def _shm_cap(self, cap: VirtioCap, shm: dict[int, tuple[int, int]]) -> None:
        self.shm_caps.append(cap.at)


def clock_driver(layout: ClockLayout, max_attempts: int = MAX_ATTEMPTS) -> ClockDriver:
    """The reference's clock driver, with a reader that counts its attempts."""
    drv = ClockDriver(layout, max_attempts)
    drv.reader = CountingReader(layout.table, max_attempts)
    return drv


def irq_driver(layout: IrqLayout) -> IrqDriver:
    drv = IrqDriver(layout)
    drv.reader = CountingReader(layout.table)
    return drv


class ClockStackDriver:
    def __init__(self, host: Host, mmio: Window, ram: Window) -> None:
        self.host = host
        self.mmio = mmio
        self.ram = ram
        self.memory = PhysMemory(host)
        self.cfg = ConfigMechanism1(host)
        self.transport: ShmTransport | None = None
        self.virtio: VirtioPciDriver | None = None
        self.regions: RegionSet | None = None
        self.clock: ClockDriver | None = None
        self.irq: IrqDriver | None = None
        self.retired: list[tuple[ClockDriver, IrqDriver]] = []  # before each reset
        self.irq_page: int | None = None
        self.irq_lines = 0
        self.ignored_caps = 0  # SHM-REGION-005: capabilities a driver must ignore
        self.bring_ups = 0
        self.irqs_seen = [0] * MSIX_VECTORS

    def run(self, op: Op[T]) -> T:
        return run(op, self.memory)

    # -- PCI (PCI-CFG-001, PCI-CFG-002, PCI-CFG-003, PCI-CFG-004, PCI-CFG-005)
    # ------------------------------------------------------------
    def probe(self) -> ShmTransport:
        """The function with the clock's IDs on bus 0 (SHM-CLOCK-004), its memory BARs
        assigned from ``mmio``, memory decoding and bus mastering on."""
        for function in scan(self.cfg):
            if function.vendor == VIRTIO_VENDOR and function.device == CLOCK_PCI_DEVICE_ID:
                bars = size_bars(self.cfg, function.bdf)
                assign_bars(self.cfg, function.bdf, bars, self.mmio)
                enable(self.cfg, function.bdf, memory=True, bus_master=True)
                self.transport = ShmTransport(self.host, self.cfg, function, bars)
                return self.transport
        raise NotVirtio(f"no function {VIRTIO_VENDOR:04x}:{CLOCK_PCI_DEVICE_ID:04x} on bus 0",
                        "SHM-CLOCK-004")

    def _transport(self) -> ShmTransport:
        if self.transport is None:
            raise NotLive("the device has not been probed")
        return self.transport

    # -- virtio-pci bring-up (VIRTIO-STATUS-008) -----------------------------------------
    def bring_up(self) -> None:
        """Steps 1-8. A device whose configuration or regions break SHM-CLOCK-005, SHM-CLOCK-007
        gets
        FAILED and the :class:`ShmError`; its regions are not touched. Called again after a
        reset, it finds the regions anew and starts fresh readers (SHM-CLOCK-011)."""
        t = self._transport()
        virtio = VirtioPciDriver(t, 0)
        self.virtio = virtio
        self.run(virtio.negotiate())  # steps 1-6: VERSION_1 only
        try:
            lines = self.run(t.config_fields([(IRQ_LINES_AT, 4)]))[0]
            if not 1 <= lines <= MAX_IRQ_LINES:
                raise BadLayout(f"irq_lines reads {lines} (1..{MAX_IRQ_LINES})",
                                "SHM-CLOCK-005")
            regions = self.discover()
            clock_layout = ClockLayout(regions[CLOCK_SHMID], CLOCK_AT)
            irq_layout = IrqLayout(regions[IRQ_SHMID], IRQ_AT, lines)
            self._setup_msix()
        except (ShmError, VectorRefused):
            self.run(virtio.fail())  # VIRTIO-STATUS-009
            raise
        self.run(virtio.go_live())  # step 8
        if self.clock is not None and self.irq is not None:
            self.retired.append((self.clock, self.irq))  # SHM-CLOCK-011: fresh readers
        self.regions, self.irq_lines = regions, lines
        self.clock, self.irq = clock_driver(clock_layout), irq_driver(irq_layout)
        self.bring_ups += 1

    def discover(self) -> RegionSet:
        """SHM-CLOCK-007: every shared memory capability read from configuration space and
        decoded (one that must be ignored is, SHM-REGION-005), then the regions with their
        BARs' addresses: each inside its BAR (SHM-REGION-004), ids unique (SHM-REGION-003),
        no overlap (SHM-REGION-002)."""
        t = self._transport()
        caps: list[ShmCap] = []
        for at in t.shm_caps:
            raw = b"".join(self.cfg.read(t.bdf, at + k, 4).to_bytes(4, "little")
                           for k in range(0, CAP64_LEN, 4))
            try:
                caps.append(ShmCap.decode(raw))
            except BadCapability:
                self.ignored_caps += 1
        bars = {b.index: (b.address, b.size) for b in t.bars.values()
                if b.is_memory and b.address}
        return RegionSet.from_pci(caps, bars)

    def _setup_msix(self) -> None:
        """Vectors 0..2 into a page of guest RAM: 0 configuration, 1 + shmid each signal
        (SHM-CLOCK-008)."""
        t = self._transport()
        if t.msix is None or t.msix.vectors < MSIX_VECTORS:
            raise VectorRefused(f"the clock needs {MSIX_VECTORS} MSI-X vectors")
        if self.irq_page is None:
            self.irq_page = self.ram.allocate(PAGE, PAGE)
        self.host.write_bytes(self.irq_page, bytes(PAGE))
        t.msix_program([(self.irq_page + 4 * v, IRQ_DATA + v) for v in range(MSIX_VECTORS)])
        self.run(t.map_vector("config_msix_vector", CONFIG_VECTOR))

    # -- running ---------------------------------------------------------------------------
    def take_irq(self, vector: int) -> Op[bool]:
        """Whether vector's message arrived since the last call; clears it."""
        if self.irq_page is None:
            return False
        addr = self.irq_page + 4 * vector
        if (yield from load(addr, 4)) != IRQ_DATA + vector:
            return False
        yield from store(addr, 4, 0)
        self.irqs_seen[vector] += 1
        return True

    def device_status(self) -> Op[int]:
        return (yield from self._transport().status())

    @staticmethod
    def clock_vector() -> int:
        return signal_vector(CLOCK_SHMID)

    @staticmethod
    def irq_vector() -> int:
        return signal_vector(IRQ_SHMID)

    def generations(self) -> list[tuple[ClockDriver, IrqDriver]]:
        """Every pair of readers this driver used, oldest first (one per bring-up)."""
        out = list(self.retired)
        if self.clock is not None and self.irq is not None:
            out.append((self.clock, self.irq))
        return out
