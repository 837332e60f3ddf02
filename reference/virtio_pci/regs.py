"""Numbers of the virtio-pci transport (spec/pci.md): IDs, capability types, the common
configuration layout, status bits, feature bits, ISR bits.
"""

from __future__ import annotations

# discovery (VIRTIO-PCI-001)
VIRTIO_VENDOR = 0x1AF4
MODERN_BASE = 0x1040
MODERN_LAST = 0x107F
TRANSITIONAL = {0x1000: 1, 0x1001: 2, 0x1002: 5, 0x1003: 3, 0x1004: 8, 0x1005: 4, 0x1009: 9}
DEVICE_NET = 1

# vendor capability (VIRTIO-PCI-010)
CAP_VNDR = 0
CAP_NEXT = 1
CAP_LEN = 2
CAP_CFG_TYPE = 3
CAP_BAR = 4
CAP_ID = 5
CAP_OFFSET = 8
CAP_LENGTH = 12
CAP_NOTIFY_MULTIPLIER = 16
CAP_OFFSET_HI = 16
CAP_LENGTH_HI = 20
CAP_PCI_CFG_DATA = 16
CAP_SIZE = 16
NOTIFY_CAP_SIZE = 20
CAP64_SIZE = 24
PCI_CFG_CAP_SIZE = 20

COMMON_CFG = 1
NOTIFY_CFG = 2
ISR_CFG = 3
DEVICE_CFG = 4
PCI_CFG = 5
SHARED_MEMORY_CFG = 8
VENDOR_CFG = 9
KNOWN_CFG_TYPES = (COMMON_CFG, NOTIFY_CFG, ISR_CFG, DEVICE_CFG, PCI_CFG, SHARED_MEMORY_CFG,
                   VENDOR_CFG)

# common configuration (VIRTIO-PCI-020): offset -> size
DEVICE_FEATURE_SELECT = 0
DEVICE_FEATURE = 4
DRIVER_FEATURE_SELECT = 8
DRIVER_FEATURE = 12
CONFIG_MSIX_VECTOR = 16
NUM_QUEUES = 18
DEVICE_STATUS = 20
CONFIG_GENERATION = 21
QUEUE_SELECT = 22
QUEUE_SIZE = 24
QUEUE_MSIX_VECTOR = 26
QUEUE_ENABLE = 28
QUEUE_NOTIFY_OFF = 30
QUEUE_DESC = 32
QUEUE_DRIVER = 40
QUEUE_DEVICE = 48
QUEUE_NOTIF_CONFIG_DATA = 56
QUEUE_RESET = 58
COMMON_CFG_SIZE = 60

COMMON_FIELDS: dict[int, tuple[str, int]] = {
    DEVICE_FEATURE_SELECT: ("device_feature_select", 4),
    DEVICE_FEATURE: ("device_feature", 4),
    DRIVER_FEATURE_SELECT: ("driver_feature_select", 4),
    DRIVER_FEATURE: ("driver_feature", 4),
    CONFIG_MSIX_VECTOR: ("config_msix_vector", 2),
    NUM_QUEUES: ("num_queues", 2),
    DEVICE_STATUS: ("device_status", 1),
    CONFIG_GENERATION: ("config_generation", 1),
    QUEUE_SELECT: ("queue_select", 2),
    QUEUE_SIZE: ("queue_size", 2),
    QUEUE_MSIX_VECTOR: ("queue_msix_vector", 2),
    QUEUE_ENABLE: ("queue_enable", 2),
    QUEUE_NOTIFY_OFF: ("queue_notify_off", 2),
    QUEUE_DESC: ("queue_desc", 8),
    QUEUE_DRIVER: ("queue_driver", 8),
    QUEUE_DEVICE: ("queue_device", 8),
    QUEUE_NOTIF_CONFIG_DATA: ("queue_notif_config_data", 2),
    QUEUE_RESET: ("queue_reset", 2),
}

NO_VECTOR = 0xFFFF

# device status (VIRTIO-STATUS-001)
ACKNOWLEDGE = 1
DRIVER = 2
DRIVER_OK = 4
FEATURES_OK = 8
SUSPEND = 16
DEVICE_NEEDS_RESET = 64
FAILED = 128

# ISR (VIRTIO-PCI-031, VIRTIO-PCI-032)
ISR_QUEUE = 1
ISR_CONFIG = 2

# transport feature bits (§6)
F_INDIRECT_DESC = 28
F_EVENT_IDX = 29
F_VERSION_1 = 32
F_ACCESS_PLATFORM = 33
F_RING_PACKED = 34
F_IN_ORDER = 35
F_ORDER_PLATFORM = 36
F_SR_IOV = 37
F_NOTIFICATION_DATA = 38
F_NOTIF_CONFIG_DATA = 39
F_RING_RESET = 40
F_ADMIN_VQ = 41
F_SUSPEND = 43

# virtio-net bits the transport's test device uses
NET_F_MAC = 5
NET_F_STATUS = 16
NET_S_LINK_UP = 1


def bit(n: int) -> int:
    return 1 << n


def status_names(status: int) -> str:
    names = [(ACKNOWLEDGE, "ACKNOWLEDGE"), (DRIVER, "DRIVER"), (FEATURES_OK, "FEATURES_OK"),
             (DRIVER_OK, "DRIVER_OK"), (SUSPEND, "SUSPEND"),
             (DEVICE_NEEDS_RESET, "DEVICE_NEEDS_RESET"), (FAILED, "FAILED")]
    got = [n for b, n in names if status & b]
    return "|".join(got) if got else "0"
