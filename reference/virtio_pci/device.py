"""The device side of the modern virtio-pci transport: a PCI function whose BARs hold the
virtio structures, and the state behind them: device status, features, queues, interrupts.

Layout (one valid choice among many; the driver finds it through the capabilities):

* BAR0, 32-bit, 4 KiB: MSI-X table at 0, pending-bit array at 0x800;
* BAR2, 64-bit prefetchable, 16 KiB: common configuration at 0, device configuration at
  0x1000, ISR at 0x2000, notification area at 0x3000 (``queue_notify_off`` = queue index);
* BAR4, 64-bit prefetchable: the shared memory regions, if the device type has any.

The status machine keeps VIRTIO-STATUS-001, VIRTIO-STATUS-002, VIRTIO-STATUS-003, VIRTIO-STATUS-004,
VIRTIO-STATUS-005, VIRTIO-STATUS-006, VIRTIO-STATUS-007 and VIRTIO-FEAT-005, VIRTIO-FEAT-006,
VIRTIO-FEAT-007, VIRTIO-FEAT-008: writing 0 resets
everything; bits never go away except by reset (a driver's attempt to clear one is ignored);
FEATURES_OK sticks only for a valid subset of the offered features; after it, driver features
are frozen; DRIVER_OK sticks only after FEATURES_OK and is what makes queues live. A queue
notification before DRIVER_OK is ignored (VIRTIO-STATUS-003). An error on a queue sets
DEVICE_NEEDS_RESET and sends a configuration change notification (VIRTIO-STATUS-004).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from virtiospec.reference.pci.bar import BarKind, BarSpec
from virtiospec.reference.pci.errors import PciError
from virtiospec.reference.pci.function import PciFunction, PciFunctionLines
from virtiospec.reference.pci.msix import Msix
from virtiospec.reference.virtio_pci import caps
from virtiospec.reference.virtio_pci.backend import DeviceType
from virtiospec.reference.virtio_pci.queues import QueueRegs
from virtiospec.reference.virtio_pci.regions import CommonCfg, IsrRegion, NotifyArea
from virtiospec.reference.virtio_pci.regs import (
    CAP_BAR,
    CAP_LENGTH,
    CAP_OFFSET,
    CAP_PCI_CFG_DATA,
    COMMON_CFG,
    DEVICE_CFG,
    DEVICE_NEEDS_RESET,
    DRIVER_OK,
    F_NOTIFICATION_DATA,
    F_RING_RESET,
    F_VERSION_1,
    FEATURES_OK,
    ISR_CFG,
    ISR_CONFIG,
    ISR_QUEUE,
    MODERN_BASE,
    NO_VECTOR,
    NOTIFY_CFG,
    PCI_CFG,
    SHARED_MEMORY_CFG,
    SUSPEND,
    VIRTIO_VENDOR,
    bit,
)

MSIX_BAR, STRUCT_BAR, SHM_BAR = 0, 2, 4
COMMON_AT, DEVICE_AT, ISR_AT, NOTIFY_AT = 0x0000, 0x1000, 0x2000, 0x3000
STRUCT_BAR_SIZE = 0x4000
CAP_ID_VENDOR = 0x09
U32 = 0xFFFF_FFFF


@dataclass(frozen=True)
class VirtioPciDeviceLines(PciFunctionLines):
    """The lines of :class:`VirtioPciDevice` (and of the PCI function it is) a known-bad
    variant (models/virtio_pci/driver_rule_mutants.py) may turn off; every default is the
    protocol."""

    shm_inside_bar: bool = True  # _add_shm: the BAR holds every region (VIRTIO-PCI-014)
    features_frozen: bool = True  # _write_driver_feature: none taken after FEATURES_OK
    #                               (VIRTIO-FEAT-008)
    offered_only: bool = True  # accept_features: no FEATURES_OK with an unoffered feature
    #                            (VIRTIO-FEAT-006)
    queues_wait_driver_ok: bool = True  # _enable_queue, live_queue: no queue used before
    #                                     DRIVER_OK (VIRTIO-STATUS-003)
    reset_queues: bool = True  # _reset_state: every queue back to its reset values
    #                            (VIRTIO-STATUS-007)


class VirtioPciDevice(PciFunction):
    lines = VirtioPciDeviceLines()

    def __init__(self, backend: DeviceType, *, msix_vectors: int = 4,
                 notify_multiplier: int = 4, shm_regions: dict[int, int] | None = None) -> None:
        # VIRTIO-PCI-001, VIRTIO-PCI-003: 0x1040 + type, revision 1, subsystem ID 0x40
        super().__init__(vendor=VIRTIO_VENDOR, device=MODERN_BASE + backend.device_id,
                         class_code=backend.class_code, revision=1,
                         subsystem_vendor=VIRTIO_VENDOR, subsystem=0x40)
        self.backend = backend
        self.notify_multiplier = notify_multiplier
        self.queues = [QueueRegs(size) for size in backend.queue_sizes]
        m = notify_multiplier
        if backend.features & bit(F_NOTIFICATION_DATA) and (m % 4 or m & (m - 1)):
            backend.features &= ~bit(F_NOTIFICATION_DATA)  # VIRTIO-PCI-101 cannot be kept
        # VIRTIO-PCI-101: room for a 32-bit notification at the last queue's address
        notify_size = max(4, m * len(self.queues), m * (len(self.queues) - 1) + 4)
        if NOTIFY_AT + notify_size > STRUCT_BAR_SIZE or DEVICE_AT + backend.config.size > ISR_AT:
            raise PciError("the virtio structures do not fit BAR2", "VIRTIO-PCI-013")
        self.add_bar(BarSpec(STRUCT_BAR, BarKind.MEM64, STRUCT_BAR_SIZE, prefetchable=True))
        self.map(STRUCT_BAR, COMMON_AT, CommonCfg(self))
        self.map(STRUCT_BAR, DEVICE_AT, backend.config)
        self.map(STRUCT_BAR, ISR_AT, IsrRegion(self))
        self.map(STRUCT_BAR, NOTIFY_AT, NotifyArea(self, notify_size))
        cfg = self.config
        self.structures: list[tuple[int, int, int, int]] = []  # (cfg_type, bar, offset, length)
        for cfg_type, at, length, extra in (
                (COMMON_CFG, COMMON_AT, CommonCfg(self).size, b""),
                (NOTIFY_CFG, NOTIFY_AT, notify_size, notify_multiplier.to_bytes(4, "little")),
                (ISR_CFG, ISR_AT, IsrRegion(self).size, b""),
                (DEVICE_CFG, DEVICE_AT, backend.config.size, b"")):
            cfg.add_capability(CAP_ID_VENDOR, caps.body(cfg_type, STRUCT_BAR, at, length,
                                                        extra=extra))
            self.structures.append((cfg_type, STRUCT_BAR, at, length))
        window_mask = bytes([0, 0, 0xFF, 0, 0, 0] + [0xFF] * 12)  # bar, offset, length, data
        self.pci_cfg_cap = cfg.add_capability(
            CAP_ID_VENDOR, caps.body(PCI_CFG, 0, 0, 0, extra=bytes(4)), window_mask)
        data = self.pci_cfg_cap + CAP_PCI_CFG_DATA
        cfg.hook(data, data + 4, on_read=self._window_read, on_write=self._window_write)
        self.shm_regions = dict(shm_regions or {})
        self.shm_at: dict[int, int] = {}  # shmid -> offset of its region in SHM_BAR
        if self.shm_regions:
            self._add_shm()
        self.msix_table: Msix | None = None
        if msix_vectors:  # any Table Size up to 0x7FF (VIRTIO-PCI-114): BAR0 grows with it
            pba_at = max(0x800, 16 * msix_vectors)
            size = 1 << max(12, (pba_at + 8 * ((msix_vectors + 63) // 64) - 1).bit_length())
            self.add_bar(BarSpec(MSIX_BAR, BarKind.MEM32, size))
            self.msix_table = Msix(self, msix_vectors, MSIX_BAR, 0, MSIX_BAR, pba_at)
        self.ignored_notifications = 0
        self.notify_data: dict[int, int] = {}  # queue -> data of its last notification
        self.error: Exception | None = None
        self._reset_state()
        backend.attach(self)

    def _add_shm(self) -> None:
        total = sum(self.shm_regions.values())
        if not self.lines.shm_inside_bar:  # the known-bad variant: the last region overhangs
            total -= self.shm_regions[max(self.shm_regions)]
        size = 1 << max(12, (total - 1).bit_length())
        self.add_bar(BarSpec(SHM_BAR, BarKind.MEM64, size, prefetchable=True))
        at = 0
        for shm_id, length in sorted(self.shm_regions.items()):
            self.config.add_capability(CAP_ID_VENDOR, caps.body64(SHARED_MEMORY_CFG, SHM_BAR, at,
                                                                  length, shm_id))
            self.structures.append((SHARED_MEMORY_CFG, SHM_BAR, at, length))
            self.shm_at[shm_id] = at
            at += length

    # -- reset (VIRTIO-STATUS-005, -007) -------------------------------------------------
    def _reset_state(self) -> None:
        self.status = 0
        self.device_feature_select = 0
        self.driver_feature_select = 0
        self.driver_features = 0  # as written, valid or not
        self.negotiated = 0
        self.config_vector = NO_VECTOR
        self.queue_select = 0
        self.isr = 0
        self.error = None
        if self.lines.reset_queues:
            for q in self.queues:
                q.reset()
        self.set_irq(False)

    def reset(self) -> None:
        self._reset_state()
        self.backend.reset()

    # -- common configuration -----------------------------------------------------------
    def _queue(self) -> QueueRegs | None:
        sel = self.queue_select
        return self.queues[sel] if sel < len(self.queues) else None

    def common_read(self, name: str) -> int:
        q = self._queue()
        if name == "device_feature_select":
            return self.device_feature_select
        if name == "device_feature":  # VIRTIO-PCI-021: 0 above the offered bits
            return (self.backend.features >> (32 * self.device_feature_select)) & U32 \
                if self.device_feature_select < 4 else 0
        if name == "driver_feature_select":
            return self.driver_feature_select
        if name == "driver_feature":
            valid = self.driver_features & self.backend.features  # VIRTIO-PCI-022
            return (valid >> (32 * self.driver_feature_select)) & U32 \
                if self.driver_feature_select < 4 else 0
        if name == "config_msix_vector":
            return self.config_vector
        if name == "num_queues":
            return len(self.queues)
        if name == "device_status":
            return self.status
        if name == "config_generation":
            return self.backend.config.generation
        if name == "queue_select":
            return self.queue_select
        if name in ("queue_notify_off", "queue_notif_config_data"):
            return self.queue_select if q is not None else 0
        if q is None:
            return 0  # VIRTIO-PCI-024: a queue that does not exist has size 0
        if name == "queue_reset":  # VIRTIO-PCI-102: 0 unless a queue reset is under way
            return q.resetting if self.has(F_RING_RESET) else 0
        return {"queue_size": q.size, "queue_msix_vector": q.msix_vector,
                "queue_enable": q.enable, "queue_desc": q.desc, "queue_driver": q.driver,
                "queue_device": q.device}.get(name, 0)

    def common_write(self, name: str, value: int, half: int) -> None:
        q = self._queue()
        if name == "device_feature_select":
            self.device_feature_select = value
        elif name == "driver_feature_select":
            self.driver_feature_select = value
        elif name == "driver_feature":
            self._write_driver_feature(value)
        elif name == "config_msix_vector":
            self.config_vector = self._map_vector(value)
        elif name == "device_status":
            self.write_status(value)
        elif name == "queue_select":
            self.queue_select = value
        elif name == "queue_reset":
            if q is not None and value == 1 and self.has(F_RING_RESET):
                self.reset_queue(self.queue_select, q)
        elif q is None or name not in ("queue_size", "queue_msix_vector", "queue_enable",
                                       "queue_desc", "queue_driver", "queue_device"):
            return  # read-only fields (VIRTIO-PCI-023), absent queues
        elif name == "queue_msix_vector":
            q.msix_vector = self._map_vector(value)
        elif q.enable:
            return  # an enabled queue's configuration is fixed until reset
        elif name == "queue_size":
            if 1 <= value <= q.max_size and not value & (value - 1):
                q.size = value
        elif name == "queue_enable":  # VIRTIO-PCI-026: reads 1 once enabled, 0 after reset
            if value == 1:
                self._enable_queue(self.queue_select, q)
        else:
            attr = name.removeprefix("queue_")
            old = getattr(q, attr)
            setattr(q, attr, (old & ~(U32 << (32 * half))) | value << (32 * half))

    def _write_driver_feature(self, value: int) -> None:
        negotiated = self.status & FEATURES_OK
        if negotiated and self.lines.features_frozen:
            return  # VIRTIO-FEAT-008: frozen until reset
        sel = self.driver_feature_select
        if sel < 4:
            mask = U32 << (32 * sel)
            self.driver_features = (self.driver_features & ~mask) | value << (32 * sel)
        if negotiated:  # only with features_frozen off: the write is taken
            self.negotiated = self.driver_features

    def _map_vector(self, vector: int) -> int:
        """VIRTIO-PCI-040: a vector outside the table cannot be mapped."""
        if self.msix_table is not None and vector < self.msix_table.vectors:
            return vector
        return NO_VECTOR

    # -- device status (VIRTIO-STATUS-*, VIRTIO-FEAT-005, VIRTIO-FEAT-006)
    # -----------------------------
    def write_status(self, value: int) -> None:
        if value == 0:
            self.reset()
            return
        old = self.status
        new = (old | value) & ~SUSPEND  # bits only go away by reset; SUSPEND is not offered
        new = (new & ~DEVICE_NEEDS_RESET) | (old & DEVICE_NEEDS_RESET)  # the device's own bit
        if new & FEATURES_OK and not old & FEATURES_OK and not self.accept_features():
            new &= ~FEATURES_OK
        if new & DRIVER_OK and not new & FEATURES_OK:
            new &= ~DRIVER_OK  # nothing goes live without negotiated features
        self.status = new
        if new & DRIVER_OK and not old & DRIVER_OK:
            self._go_live()

    def accept_features(self) -> bool:
        """FEATURES_OK: the driver's set is a subset of the offered one (VIRTIO-FEAT-006),
        includes VERSION_1, and the device type finds it consistent. The decision depends
        on the set alone, so a set accepted once is accepted again after a reset
        (VIRTIO-FEAT-010)."""
        wanted = self.driver_features
        unoffered = wanted & ~self.backend.features
        if (unoffered and self.lines.offered_only) or not wanted & bit(F_VERSION_1):
            return False
        if not self.backend.validate_features(wanted & self.backend.features):
            return False
        self.negotiated = wanted & ~unoffered  # all of wanted (unless offered_only is off)
        return True

    def has(self, feature: int) -> bool:
        return bool(self.negotiated & bit(feature))

    # -- queues -------------------------------------------------------------------------
    def _enable_queue(self, index: int, q: QueueRegs) -> None:
        q.enable = 1
        if self.status & DRIVER_OK or not self.lines.queues_wait_driver_ok:
            self._make_ring(index, q)

    def reset_queue(self, index: int, q: QueueRegs) -> None:
        """A queue reset (VIRTIO_F_RING_RESET, VIRTIO 1.4 §2.6.1): the device stops using
        the queue at once, and tells nothing more about it (VIRTIO-VQRESET-001); every
        register and the ring state go back to their values after a device reset
        (VIRTIO-VQRESET-002), so ``queue_enable`` and ``queue_reset`` read 0 when the write
        returns (VIRTIO-PCI-102). The device type hears of it to drop what it held for the
        queue. Re-enabling builds a new ring from what the driver wrote since
        (VIRTIO-VQRESET-004, in :meth:`_enable_queue`)."""
        q.resetting = 1
        q.reset()
        hook = getattr(self.backend, "queue_reset", None)
        if hook is not None:
            self.guarded(lambda: hook(index))
        q.resetting = 0

    def _make_ring(self, index: int, q: QueueRegs) -> None:
        """The queue goes live: the device type builds it on the registers (the ring layer's
        ring over this function's memory); a ring it refuses breaks the device."""
        try:
            q.ring = self.backend.build_queue(index, q)
        except self.backend.faults as err:
            self.fail(err)

    def _go_live(self) -> None:
        for index, q in enumerate(self.queues):
            if q.enable and q.ring is None:
                self._make_ring(index, q)
        self.guarded(self.backend.live)

    def live_queue(self, index: int) -> object | None:
        """The queue the device type built, if the device is live and may touch memory,
        else None."""
        if (not self.status & DRIVER_OK and self.lines.queues_wait_driver_ok) \
                or self.status & DEVICE_NEEDS_RESET:
            return None
        if not 0 <= index < len(self.queues) or not self.bus_master:
            return None
        return self.queues[index].ring

    def notified(self, offset: int, value: int, data: int | None = None) -> None:
        """An available-buffer notification (VIRTIO-PCI-030); ``data``: with
        VIRTIO_F_NOTIFICATION_DATA, the next available position the driver sent along
        (VIRTIO-PCI-115), kept in :attr:`notify_data` (the device uses the ring itself)."""
        if data is not None:
            self.notify_data[value] = data
        if self.notify_multiplier and offset != value * self.notify_multiplier:
            self.ignored_notifications += 1  # written at another queue's address
            return
        if self.live_queue(value) is None:
            self.ignored_notifications += 1  # VIRTIO-STATUS-003: not live, not used
            return
        self.guarded(lambda: self.backend.queue_notified(value))

    def guarded(self, action: Callable[[], None]) -> None:
        """Run device-type work; an error of the other side breaks the device
        (VIRTIO-STATUS-004) instead of propagating into the driver's MMIO write."""
        errors: tuple[type[Exception], ...] = (PciError, *self.backend.faults)
        try:
            action()
        except errors as err:
            self.fail(err)

    def fail(self, err: Exception) -> None:
        self.error = err
        self.status |= DEVICE_NEEDS_RESET
        if self.status & DRIVER_OK:
            self.config_interrupt()

    # -- interrupts (VIRTIO-PCI-031, -032, -042) ------------------------------------------
    @property
    def msix_enabled(self) -> bool:
        return self.msix_table is not None and self.msix_table.enabled

    def queue_interrupt(self, index: int) -> None:
        """A used-buffer notification: the queue's vector (none for NO_VECTOR) with MSI-X
        (VIRTIO-PCI-042), else ISR bit 0 and INTx (VIRTIO-PCI-031)."""
        if self.msix_enabled:
            assert self.msix_table is not None
            vector = self.queues[index].msix_vector
            if vector != NO_VECTOR:
                self.msix_table.notify(vector)
            return
        self.isr |= ISR_QUEUE
        self.set_irq(True)

    def config_interrupt(self) -> None:
        """ISR bit 1 first, MSI-X or not (VIRTIO-PCI-032), then the configuration vector
        (VIRTIO-PCI-042) or INTx."""
        self.isr |= ISR_CONFIG
        if self.msix_enabled:
            assert self.msix_table is not None
            if self.config_vector != NO_VECTOR:
                self.msix_table.notify(self.config_vector)
            return
        self.set_irq(True)

    def config_changed(self) -> None:
        """The device type changed its configuration; tell a live driver."""
        if self.status & DRIVER_OK:
            self.config_interrupt()

    def read_isr(self) -> int:
        value, self.isr = self.isr, 0
        self.set_irq(False)
        return value

    # -- PCI configuration access window (VIRTIO-PCI-015) ---------------------------------
    def _window(self) -> tuple[int, int, int] | None:
        cfg, at = self.config, self.pci_cfg_cap
        bar, offset, length = (cfg.get(at + CAP_BAR, 1), cfg.get(at + CAP_OFFSET, 4),
                               cfg.get(at + CAP_LENGTH, 4))
        if length not in (1, 2, 4) or offset % length:
            return None
        for _, s_bar, s_at, s_len in self.structures:
            if bar == s_bar and s_at <= offset and offset + length <= s_at + s_len:
                return bar, offset, length
        return None

    def _window_read(self, offset: int, size: int) -> None:
        target = self._window()
        if target is None:
            return
        try:
            value = self.bar_read(*target)
        except PciError:
            return
        self.config.put(self.pci_cfg_cap + CAP_PCI_CFG_DATA, 4, value)

    def _window_write(self, offset: int, size: int, value: int) -> None:
        target = self._window()
        if target is None:
            return
        bar, at, length = target
        data = self.config.get(self.pci_cfg_cap + CAP_PCI_CFG_DATA, 4) & ((1 << (8 * length)) - 1)
        try:
            self.bar_write(bar, at, length, data)
        except PciError:
            return
