"""Offsets and bits of PCI configuration space, MSI-X and configuration mechanism #1.

Values are from the PCI Local Bus specification as summarised in spec/pci.md
(PCI-CFG-001, PCI-CFG-002, PCI-CFG-003, PCI-CFG-004, PCI-CFG-005, PCI-CFG-006, PCI-CFG-007,
PCI-CFG-008, PCI-CFG-010, PCI-CFG-011, PCI-CFG-012).
"""

from __future__ import annotations

CONFIG_SPACE_SIZE = 256
ALL_ONES = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}

# type-0 header (PCI-CFG-002)
VENDOR_ID = 0x00
DEVICE_ID = 0x02
COMMAND = 0x04
STATUS = 0x06
REVISION_ID = 0x08
CLASS_PROG = 0x09
CLASS_CODE = 0x09  # three bytes: programming interface, sub-class, base class
HEADER_TYPE = 0x0E
BAR0 = 0x10
BAR_COUNT = 6
SUBSYSTEM_VENDOR_ID = 0x2C
SUBSYSTEM_ID = 0x2E
CAPABILITY_POINTER = 0x34
INTERRUPT_LINE = 0x3C
INTERRUPT_PIN = 0x3D
HEADER_END = 0x40

HEADER_MULTI_FUNCTION = 0x80

# command register
CMD_IO = 1 << 0
CMD_MEMORY = 1 << 1
CMD_BUS_MASTER = 1 << 2
CMD_INTX_DISABLE = 1 << 10
CMD_WRITABLE = CMD_IO | CMD_MEMORY | CMD_BUS_MASTER | (1 << 6) | (1 << 8) | CMD_INTX_DISABLE

# status register
STATUS_INTERRUPT = 1 << 3
STATUS_CAP_LIST = 1 << 4
STATUS_ERRORS_W1C = 0xF900  # parity, signalled/received aborts, SERR: write one to clear

# BAR low bits (PCI-CFG-003)
BAR_IO = 1 << 0
BAR_MEM_64 = 0b10 << 1
BAR_MEM_PREFETCH = 1 << 3
BAR_MEM_FLAGS = 0xF
BAR_IO_FLAGS = 0x3

# capabilities
CAP_ID_VENDOR = 0x09
CAP_ID_MSIX = 0x11
MAX_CAPABILITIES = 48  # (256 - 64) / 4 (PCI-CFG-007)

# MSI-X (PCI-CFG-010)
MSIX_CONTROL = 2  # offset in the capability
MSIX_TABLE = 4
MSIX_PBA = 8
MSIX_CAP_LEN = 12
MSIX_TABLE_SIZE_MASK = 0x7FF
MSIX_FUNCTION_MASK = 1 << 14
MSIX_ENABLE = 1 << 15
MSIX_BIR_MASK = 0x7
MSIX_ENTRY_SIZE = 16
MSIX_ENTRY_ADDR_LO = 0
MSIX_ENTRY_ADDR_HI = 4
MSIX_ENTRY_DATA = 8
MSIX_ENTRY_CONTROL = 12
MSIX_ENTRY_MASKED = 1

# configuration mechanism #1 (PCI-CFG-001)
CONFIG_ADDRESS_PORT = 0xCF8
CONFIG_DATA_PORT = 0xCFC
CONFIG_ENABLE = 1 << 31

# x86: an MSI message is a write into this window, seen by the local APICs
MSI_WINDOW = (0xFEE0_0000, 0x10_0000)


def config_address(bus: int, dev: int, fn: int, reg: int) -> int:
    """The value written to 0xCF8 to select dword ``reg & ~3`` of bus/dev/fn (PCI-CFG-001)."""
    if not (0 <= bus < 256 and 0 <= dev < 32 and 0 <= fn < 8 and 0 <= reg < CONFIG_SPACE_SIZE):
        raise ValueError(f"no config address for {bus:02x}:{dev:02x}.{fn} register {reg:#x}")
    return CONFIG_ENABLE | bus << 16 | dev << 11 | fn << 8 | (reg & 0xFC)


def decode_config_address(value: int) -> tuple[bool, int, int, int, int]:
    """(enabled, bus, dev, fn, dword register) of a value written to 0xCF8."""
    return (bool(value & CONFIG_ENABLE), (value >> 16) & 0xFF, (value >> 11) & 0x1F,
            (value >> 8) & 0x7, value & 0xFC)
