"""The driver side of the modern virtio-pci transport.

:meth:`VirtioPciTransport.probe` finds a virtio function on bus 0 through configuration
mechanism #1 (VIRTIO-PCI-002), sizes and assigns its BARs, enables memory decoding and bus
mastering, and walks the capability list (VIRTIO-PCI-011) to locate the structures, checking
where the device put them (VIRTIO-PCI-013, VIRTIO-PCI-014).

Register accesses to the structures are operations of the access protocol (``Op``): they
yield a :class:`~virtiospec.reference.access.Load` or
:class:`~virtiospec.reference.access.Store` at a physical address, so ``access.run`` executes
them on any host, and the models step them one access at a time against a device that changes
under them. Widths follow VIRTIO-PCI-004: a 64-bit field is two 32-bit accesses, low half
first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from virtiospec.reference.access import Memory, Op, load, run, store
from virtiospec.reference.pci.bar import BarKind
from virtiospec.reference.pci.discovery import (
    Bdf,
    ConfigMechanism1,
    FoundBar,
    FoundFunction,
    Window,
    assign_bars,
    capabilities,
    enable,
    scan,
    size_bars,
)
from virtiospec.reference.pci.host import Host
from virtiospec.reference.pci.regs import (
    CAP_ID_MSIX,
    CAP_ID_VENDOR,
    MSIX_BIR_MASK,
    MSIX_CONTROL,
    MSIX_ENABLE,
    MSIX_ENTRY_ADDR_HI,
    MSIX_ENTRY_ADDR_LO,
    MSIX_ENTRY_CONTROL,
    MSIX_ENTRY_DATA,
    MSIX_ENTRY_SIZE,
    MSIX_FUNCTION_MASK,
    MSIX_PBA,
    MSIX_TABLE,
    MSIX_TABLE_SIZE_MASK,
)
from virtiospec.reference.virtio_pci import caps
from virtiospec.reference.virtio_pci.caps import VirtioCap
from virtiospec.reference.virtio_pci.errors import (
    BadCapability,
    GenerationUnstable,
    MissingStructure,
    NotVirtio,
    QueueUnavailable,
    ResetTimeout,
    VectorRefused,
)
from virtiospec.reference.virtio_pci.regs import (
    COMMON_CFG,
    COMMON_FIELDS,
    CONFIG_GENERATION,
    DEVICE_CFG,
    DEVICE_FEATURE,
    DEVICE_FEATURE_SELECT,
    DEVICE_STATUS,
    DRIVER_FEATURE,
    DRIVER_FEATURE_SELECT,
    ISR_CFG,
    KNOWN_CFG_TYPES,
    MODERN_BASE,
    MODERN_LAST,
    NO_VECTOR,
    NOTIFY_CFG,
    PCI_CFG,
    SHARED_MEMORY_CFG,
    TRANSITIONAL,
    VIRTIO_VENDOR,
)

COMMON_NEEDED = 56  # through queue_device
FIELD_BY_NAME = {name: (offset, width) for offset, (name, width) in COMMON_FIELDS.items()}
RESET_POLLS = 10_000
GENERATION_TRIES = 64
MAX_FIELDS = 255  # reads per loop the 8-bit generation protects (models/virtio_pci/generation.py)


def virtio_type(function: FoundFunction) -> int | None:
    """The virtio device ID of a function, or None if it is not a virtio device."""
    if function.vendor != VIRTIO_VENDOR:
        return None
    if MODERN_BASE <= function.device <= MODERN_LAST:
        return function.device - MODERN_BASE
    if function.device in TRANSITIONAL:
        return function.subsystem or TRANSITIONAL[function.device]
    return None


class QueueAreas(Protocol):
    """Where the driver put a queue (VIRTIO 1.4 §2.6): its size and the addresses of its
    Descriptor Area, Driver Area and Device Area. The ring layer's layouts
    (:class:`~virtiospec.reference.ring.SplitLayout`, the packed ring's ``PackedLayout``)
    are such; the transport only writes them into the queue's registers."""

    @property
    def size(self) -> int: ...
    @property
    def desc(self) -> int: ...
    @property
    def driver_area(self) -> int: ...
    @property
    def device_area(self) -> int: ...


@dataclass(frozen=True)
class MsixInfo:
    vectors: int
    table: int  # physical address of entry 0
    pba: int
    cap: int  # offset of the capability in configuration space


@dataclass
class Structures:
    """Where the driver found each structure (physical addresses)."""

    common: int
    notify: int
    notify_length: int
    notify_multiplier: int
    isr: int
    device: int | None = None
    device_length: int = 0
    pci_cfg: int | None = None  # offset of the access capability in configuration space
    shm: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (address, length)
    caps: list[VirtioCap] = field(default_factory=list)  # every vendor capability, in order


@dataclass(frozen=True)
class TransportLines:
    """The lines of :class:`VirtioPciTransport` a known-bad variant
    (models/virtio_pci/driver_rule_mutants.py) may turn off; every default is the protocol."""

    vector_in_table: bool = True  # map_vector: no vector beyond Table Size (VIRTIO-PCI-041)
    vector_read_back: bool = True  # map_vector: read the mapping back (VIRTIO-PCI-041)
    pass_over_unusable: bool = True  # _locate: a capability with a reserved type or BAR, or
    #                                  in a BAR without memory, is passed over (VIRTIO-PCI-011)
    queue_reset_poll: bool = True  # reset_queue: queue_reset read until 0 before the queue's
    #                                memory is taken back (VIRTIO-VQRESET-003, VIRTIO-PCI-105)
    generation_recheck: bool = True  # config_fields: the generation read again after the
    #                                  fields, the pass retried until both agree
    #                                  (VIRTIO-PCI-051, VIRTIO-PCI-053)


class VirtioPciTransport:
    lines = TransportLines()

    def __init__(self, host: Host, cfg: ConfigMechanism1, function: FoundFunction,
                 bars: list[FoundBar]) -> None:
        self.host = host
        self.cfg = cfg
        self.function = function
        self.bdf: Bdf = function.bdf
        self.bars = {b.index: b for b in bars}
        self.msix: MsixInfo | None = None
        self.reset_polls = RESET_POLLS
        self.notification_data = False  # set by the driver once the feature is negotiated
        self.structures = self._locate()

    # -- discovery ------------------------------------------------------------------------
    @classmethod
    def probe(cls, host: Host, device_type: int, mmio: Window) -> VirtioPciTransport:
        """The first function on bus 0 that is a virtio device of ``device_type``, with its
        memory BARs assigned from ``mmio`` and memory decoding and bus mastering on."""
        cfg = ConfigMechanism1(host)
        for function in scan(cfg):
            if virtio_type(function) == device_type:
                bars = size_bars(cfg, function.bdf)
                assign_bars(cfg, function.bdf, bars, mmio)
                enable(cfg, function.bdf, memory=True, bus_master=True)
                return cls(host, cfg, function, bars)
        raise NotVirtio(f"no virtio device of type {device_type} on bus 0")

    def _bar_range(self, bar: int, offset: int, length: int, what: str) -> int:
        found = self.bars.get(bar)
        if found is None or not found.address or found.kind is BarKind.IO:
            raise BadCapability(f"{what} is in BAR{bar}, which has no memory address")
        if offset + length > found.size:
            raise BadCapability(f"{what} [{offset:#x}, +{length:#x}) is outside BAR{bar} of "
                                f"{found.size:#x} bytes")
        return found.address + offset

    def _locate(self) -> Structures:
        read = lambda at, size: self.cfg.read(self.bdf, at, size)  # noqa: E731
        first: dict[int, VirtioCap] = {}
        found: list[VirtioCap] = []
        shm: dict[int, tuple[int, int]] = {}
        for at, cap_id in capabilities(self.cfg, self.bdf):
            if cap_id == CAP_ID_MSIX:
                self.msix = self._msix(at)
                continue
            if cap_id != CAP_ID_VENDOR:
                continue
            cap = caps.parse(read, at)
            found.append(cap)
            skip = self.lines.pass_over_unusable
            if (cap.cfg_type not in KNOWN_CFG_TYPES or cap.bar > 5) and skip:
                continue  # VIRTIO-PCI-011: reserved type or BAR: ignored
            if cap.cfg_type == SHARED_MEMORY_CFG:
                self._shm_cap(cap, shm)
                continue
            if cap.cfg_type == PCI_CFG:
                first.setdefault(PCI_CFG, cap)
                continue
            bar = self.bars.get(cap.bar)
            if (bar is None or not bar.address or bar.kind is BarKind.IO) and skip:
                continue  # a structure this driver cannot map: try the next one of its type
            first.setdefault(cap.cfg_type, cap)
        for cfg_type, name in ((COMMON_CFG, "common configuration"), (NOTIFY_CFG, "notify"),
                               (ISR_CFG, "ISR")):
            if cfg_type not in first:
                raise MissingStructure(f"no usable {name} capability")
        common, notify, isr = first[COMMON_CFG], first[NOTIFY_CFG], first[ISR_CFG]
        self._check_placement(common, 4, COMMON_NEEDED, "common configuration")
        self._check_placement(notify, 2, 2, "notification area")
        self._check_placement(isr, 1, 1, "ISR")
        m = notify.notify_off_multiplier
        if m and (m & (m - 1) or m % 2):
            raise BadCapability(f"notify_off_multiplier {m} is not 0 or an even power of 2")
        out = Structures(
            common=self._bar_range(common.bar, common.offset, common.length, "common cfg"),
            notify=self._bar_range(notify.bar, notify.offset, notify.length, "notify area"),
            notify_length=notify.length, notify_multiplier=m,
            isr=self._bar_range(isr.bar, isr.offset, isr.length, "ISR"),
            pci_cfg=first[PCI_CFG].at if PCI_CFG in first else None, shm=shm, caps=found)
        if DEVICE_CFG in first:
            dev = first[DEVICE_CFG]
            self._check_placement(dev, 4, 0, "device configuration")
            out.device = self._bar_range(dev.bar, dev.offset, dev.length, "device cfg")
            out.device_length = dev.length
        return out

    def _shm_cap(self, cap: VirtioCap, shm: dict[int, tuple[int, int]]) -> None:
        """A shared memory capability: its id unique, its region inside its BAR
        (VIRTIO-PCI-014). A driver that checks regions itself overrides this (the clock's,
        reference/stack/clock_driver.py, with the errors of spec/shm.md)."""
        if cap.id in shm:
            raise BadCapability(f"shared memory id {cap.id} appears twice", "VIRTIO-PCI-014")
        addr = self._bar_range(cap.bar, cap.offset, cap.length, f"shared memory region {cap.id}")
        shm[cap.id] = (addr, cap.length)

    @staticmethod
    def _check_placement(cap: VirtioCap, align: int, least: int, what: str) -> None:
        """VIRTIO-PCI-013: alignment, and long enough for what this driver uses."""
        if cap.offset % align:
            raise BadCapability(f"{what} at offset {cap.offset:#x} is not {align}-byte aligned")
        if cap.length < least:
            raise BadCapability(f"{what} is {cap.length} bytes, fewer than {least}")

    def _msix(self, at: int) -> MsixInfo:
        control = self.cfg.read(self.bdf, at + MSIX_CONTROL, 2)
        table = self.cfg.read(self.bdf, at + MSIX_TABLE, 4)
        pba = self.cfg.read(self.bdf, at + MSIX_PBA, 4)
        vectors = (control & MSIX_TABLE_SIZE_MASK) + 1
        table_at = self._bar_range(table & MSIX_BIR_MASK, table & ~MSIX_BIR_MASK,
                                   MSIX_ENTRY_SIZE * vectors, "MSI-X table")
        pba_at = self._bar_range(pba & MSIX_BIR_MASK, pba & ~MSIX_BIR_MASK,
                                 8 * ((vectors + 63) // 64), "MSI-X PBA")
        return MsixInfo(vectors, table_at, pba_at, at)

    # -- common configuration registers -------------------------------------------------
    def field_addr(self, name: str) -> tuple[int, int]:
        offset, width = FIELD_BY_NAME[name]
        return self.structures.common + offset, width

    def read(self, name: str) -> Op[int]:
        addr, width = self.field_addr(name)
        if width == 8:
            low = yield from load(addr, 4)
            high = yield from load(addr + 4, 4)
            return low | high << 32
        return (yield from load(addr, width))

    def write(self, name: str, value: int) -> Op[None]:
        addr, width = self.field_addr(name)
        if width == 8:
            yield from store(addr, 4, value & 0xFFFF_FFFF)
            yield from store(addr + 4, 4, value >> 32)
        else:
            yield from store(addr, width, value)

    def status(self) -> Op[int]:
        return (yield from load(self.structures.common + DEVICE_STATUS, 1))

    def set_status(self, value: int) -> Op[None]:
        yield from store(self.structures.common + DEVICE_STATUS, 1, value)

    def reset(self, polls: int | None = None) -> Op[None]:
        """Write 0, then wait (boundedly) for ``device_status`` to read 0 (VIRTIO-STATUS-006)."""
        polls = self.reset_polls if polls is None else polls
        yield from self.set_status(0)
        for _ in range(polls):
            if (yield from self.status()) == 0:
                return
        raise ResetTimeout(f"device_status still not 0 after {polls} reads")

    def device_features(self) -> Op[int]:
        """Bits 0..63 of the offered features, 32 at a time (VIRTIO-FEAT-001)."""
        common = self.structures.common
        features = 0
        for sel in (0, 1):
            yield from store(common + DEVICE_FEATURE_SELECT, 4, sel)
            features |= (yield from load(common + DEVICE_FEATURE, 4)) << (32 * sel)
        return features

    def set_driver_features(self, features: int) -> Op[None]:
        common = self.structures.common
        for sel in (0, 1):
            yield from store(common + DRIVER_FEATURE_SELECT, 4, sel)
            yield from store(common + DRIVER_FEATURE, 4, (features >> (32 * sel)) & 0xFFFF_FFFF)

    def driver_features(self) -> Op[int]:
        common = self.structures.common
        features = 0
        for sel in (0, 1):
            yield from store(common + DRIVER_FEATURE_SELECT, 4, sel)
            features |= (yield from load(common + DRIVER_FEATURE, 4)) << (32 * sel)
        return features

    # -- device configuration (VIRTIO-PCI-051) ------------------------------------------
    def generation(self) -> Op[int]:
        return (yield from load(self.structures.common + CONFIG_GENERATION, 1))

    def config_fields(self, fields: list[tuple[int, int]],
                      tries: int = GENERATION_TRIES) -> Op[list[int]]:
        """Read device configuration fields ``(offset, size)`` as one consistent snapshot:
        generation, fields, generation, until both generations agree (bounded)."""
        base = self.structures.device
        if base is None:
            raise MissingStructure("the device has no device configuration capability")
        if not 1 <= len(fields) <= MAX_FIELDS:
            raise GenerationUnstable(f"{len(fields)} fields in one loop: the 8-bit generation "
                                     f"only covers up to {MAX_FIELDS} reads (VIRTIO-PCI-053)")
        for offset, size in fields:
            if size not in (1, 2, 4) or offset % size or offset + size > \
                    self.structures.device_length:
                raise BadCapability(f"device configuration field ({offset}, {size}) cannot be "
                                    f"read with one aligned access", "VIRTIO-PCI-004")
        for _ in range(tries):
            before = yield from self.generation()
            values = []
            for offset, size in fields:
                values.append((yield from load(base + offset, size)))
            if not self.lines.generation_recheck:
                return values  # one pass, whatever the generation did
            after = yield from self.generation()
            if before == after:
                return values
        raise GenerationUnstable(f"config_generation changed on each of {tries} reads")

    # -- queues ---------------------------------------------------------------------------
    def max_queue_size(self, index: int) -> Op[int]:
        yield from self.write("queue_select", index)
        return (yield from self.read("queue_size"))

    def setup_queue(self, index: int, layout: QueueAreas, vector: int | None) -> Op[int]:
        """Configure queue ``index`` (VIRTIO-PCI-025) at the areas of ``layout`` and enable
        it; returns its notify address. ``vector``: MSI-X vector to map (verified,
        VIRTIO-PCI-041), or None. The ring in those areas is the layer above's (a split
        ring's available and used rings, a packed ring's event-suppression structures)."""
        yield from self.write("queue_select", index)
        largest = yield from self.read("queue_size")
        if largest == 0 or largest & (largest - 1):
            raise QueueUnavailable(f"queue {index} reads size {largest}")
        if layout.size > largest:
            raise QueueUnavailable(f"queue {index} holds {largest}, {layout.size} wanted")
        if layout.size != largest:
            yield from self.write("queue_size", layout.size)
        yield from self.write("queue_desc", layout.desc)
        yield from self.write("queue_driver", layout.driver_area)
        yield from self.write("queue_device", layout.device_area)
        if vector is not None:
            yield from self.map_vector("queue_msix_vector", vector)
        notify_off = yield from self.read("queue_notify_off")
        s = self.structures
        offset = notify_off * s.notify_multiplier
        width = 4 if self.notification_data else 2  # VIRTIO-PCI-101, VIRTIO-PCI-030
        if offset + width > s.notify_length:
            raise BadCapability(f"queue {index}: notify offset {offset:#x} + {width} is beyond "
                                f"the {s.notify_length} bytes of the notification area")
        yield from self.write("queue_enable", 1)
        return s.notify + offset

    def reset_queue(self, index: int, polls: int | None = None) -> Op[None]:
        """Reset queue ``index`` alone (VIRTIO_F_RING_RESET negotiated): write 1 to
        ``queue_reset``, then read it until 0 (bounded): only then is the reset done and may
        the queue's memory be taken back (VIRTIO-VQRESET-003, VIRTIO-PCI-105). A device that
        still shows the queue enabled afterwards did not reset it (VIRTIO-PCI-102)."""
        polls = self.reset_polls if polls is None else polls
        yield from self.write("queue_select", index)
        yield from self.write("queue_reset", 1)
        if not self.lines.queue_reset_poll:
            return  # taken as done at once
        for _ in range(polls):
            if (yield from self.read("queue_reset")) == 0:
                break
        else:
            raise ResetTimeout(f"queue {index}: queue_reset still not 0 after {polls} reads",
                               "VIRTIO-VQRESET-003")
        if (yield from self.read("queue_enable")) != 0:
            raise ResetTimeout(f"queue {index}: queue_enable still 1 after its reset",
                               "VIRTIO-PCI-102")

    def map_vector(self, name: str, vector: int) -> Op[None]:
        """Map an event to a vector inside the table and read it back (VIRTIO-PCI-041)."""
        if vector != NO_VECTOR and (self.msix is None or vector >= self.msix.vectors) \
                and self.lines.vector_in_table:
            raise VectorRefused(f"vector {vector} is outside the MSI-X table")
        yield from self.write(name, vector)
        if not self.lines.vector_read_back:
            return
        got = yield from self.read(name)
        if got != vector:
            raise VectorRefused(f"{name} reads {got:#x} after {vector:#x} was written")

    def notify(self, index: int, addr: int, data: int | None = None) -> Op[None]:
        """An available-buffer notification: the 16-bit queue index (VIRTIO-PCI-030), or with
        VIRTIO_F_NOTIFICATION_DATA (``data``: the next position, split ``avail.idx`` or packed
        ``next_off | next_wrap << 15``) one 32-bit write of ``index | data << 16``
        (VIRTIO-PCI-115). With VIRTIO_F_NOTIF_CONFIG_DATA the caller passes the queue's
        ``queue_notif_config_data`` as ``index``."""
        if data is None:
            yield from store(addr, 2, index)
        else:
            yield from store(addr, 4, index | (data & 0xFFFF) << 16)

    def read_isr(self) -> Op[int]:
        return (yield from load(self.structures.isr, 1))

    # -- MSI-X (through configuration space and the table's BAR) -----------------------
    def msix_program(self, entries: list[tuple[int, int]]) -> None:
        """Fill table entries 0.. with ``(address, data)``, unmasked, then enable MSI-X."""
        if self.msix is None:
            raise MissingStructure("the device has no MSI-X capability", "PCI-CFG-010")
        if len(entries) > self.msix.vectors:
            raise VectorRefused(f"{len(entries)} vectors wanted, the table has "
                                f"{self.msix.vectors}")
        for n, (addr, data) in enumerate(entries):
            at = self.msix.table + MSIX_ENTRY_SIZE * n
            self.host.mem_write(at + MSIX_ENTRY_ADDR_LO, 4, addr & 0xFFFF_FFFF)
            self.host.mem_write(at + MSIX_ENTRY_ADDR_HI, 4, addr >> 32)
            self.host.mem_write(at + MSIX_ENTRY_DATA, 4, data)
            self.host.mem_write(at + MSIX_ENTRY_CONTROL, 4, 0)
        self.msix_control(enable=True)

    def msix_control(self, *, enable: bool, function_mask: bool = False) -> None:
        if self.msix is None:
            raise MissingStructure("the device has no MSI-X capability", "PCI-CFG-010")
        at = self.msix.cap + MSIX_CONTROL
        control = self.cfg.read(self.bdf, at, 2) & ~(MSIX_ENABLE | MSIX_FUNCTION_MASK)
        control |= (MSIX_ENABLE if enable else 0) | (MSIX_FUNCTION_MASK if function_mask else 0)
        self.cfg.write(self.bdf, at, 2, control)


class TransportConfig:
    """The device configuration as a device type's driver reads it (the network layer's
    ``ConfigSpace``): each read an aligned access inside a generation loop (VIRTIO-PCI-051),
    never a write (NET-022)."""

    def __init__(self, transport: VirtioPciTransport, memory: Memory) -> None:
        self.transport = transport
        self.memory = memory

    def read(self, offset: int, size: int) -> int:
        return run(self.transport.config_fields([(offset, size)]), self.memory)[0]

    def generation(self) -> int:
        return run(self.transport.generation(), self.memory)
