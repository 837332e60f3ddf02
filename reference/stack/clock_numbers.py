"""Numbers of the clock device on virtio-pci (spec/shm.md, SHM-CLOCK-004, SHM-CLOCK-005,
SHM-CLOCK-006, SHM-CLOCK-007, SHM-CLOCK-008, SHM-CLOCK-009, SHM-CLOCK-010, SHM-CLOCK-011): its IDs,
its
regions and what is in them, its MSI-X vectors and its device configuration."""

from __future__ import annotations

from virtiospec.reference.virtio_pci.regs import MODERN_BASE

# SHM-CLOCK-004: virtio device ID 0xB0, PCI device ID 0x1040 + 0xB0 = 0x10F0, the first of
# QEMU's 1AF4:10F0..10FF "experimental usage without registration" (docs/specs/pci-ids.rst)
CLOCK_DEVICE_ID = 0xB0
CLOCK_PCI_DEVICE_ID = MODERN_BASE + CLOCK_DEVICE_ID
CLOCK_CLASS_CODE = 0x088000  # generic system peripheral, other

# SHM-CLOCK-006: region 0 holds the clock, region 1 the interrupt table, each at offset 0
CLOCK_SHMID = 0
IRQ_SHMID = 1
CLOCK_AT = 0
IRQ_AT = 0
REGION_SIZE = 0x1000

# SHM-CLOCK-005: device configuration, le32 irq_lines at offset 0
IRQ_LINES_AT = 0
MAX_IRQ_LINES = 64
TICK_LINE = 0  # the reference's lines: an edge per tick on line 0, an alarm level on line 1
ALARM_LINE = 1

# SHM-CLOCK-008: vector 0 for configuration changes, 1 + shmid for the signal of region shmid
CONFIG_VECTOR = 0
MSIX_VECTORS = 3


def signal_vector(shmid: int) -> int:
    return 1 + shmid
