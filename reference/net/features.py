"""Feature bits of the network device (VIRTIO 1.4 §5.1.3) and their dependencies (NET-027).

Ring and transport bits that the net layer needs to know about are repeated here by value;
``VIRTIOSPEC_NET_F_QUEUE_CLASSES`` is our extension (NET-050), on a bit OASIS has not allocated.
"""

from __future__ import annotations

from virtiospec.reference.net.errors import BadFeatures

CSUM = 0
GUEST_CSUM = 1
CTRL_GUEST_OFFLOADS = 2
MTU = 3
MAC = 5
GUEST_TSO4 = 7
GUEST_TSO6 = 8
GUEST_ECN = 9
GUEST_UFO = 10
HOST_TSO4 = 11
HOST_TSO6 = 12
HOST_ECN = 13
HOST_UFO = 14
MRG_RXBUF = 15
STATUS = 16
CTRL_VQ = 17
CTRL_RX = 18
CTRL_VLAN = 19
CTRL_RX_EXTRA = 20
GUEST_ANNOUNCE = 21
MQ = 22
CTRL_MAC_ADDR = 23
HOST_USO = 56
RSS = 60

RING_INDIRECT_DESC = 28
RING_EVENT_IDX = 29
VERSION_1 = 32
ACCESS_PLATFORM = 33
RING_PACKED = 34
IN_ORDER = 35

VIRTIOSPEC_NET_F_QUEUE_CLASSES = 95

NAMES = {
    CSUM: "CSUM", GUEST_CSUM: "GUEST_CSUM", CTRL_GUEST_OFFLOADS: "CTRL_GUEST_OFFLOADS",
    MTU: "MTU", MAC: "MAC", GUEST_TSO4: "GUEST_TSO4", GUEST_TSO6: "GUEST_TSO6",
    GUEST_ECN: "GUEST_ECN", GUEST_UFO: "GUEST_UFO", HOST_TSO4: "HOST_TSO4",
    HOST_TSO6: "HOST_TSO6", HOST_ECN: "HOST_ECN", HOST_UFO: "HOST_UFO", MRG_RXBUF: "MRG_RXBUF",
    STATUS: "STATUS", CTRL_VQ: "CTRL_VQ", CTRL_RX: "CTRL_RX", CTRL_VLAN: "CTRL_VLAN",
    CTRL_RX_EXTRA: "CTRL_RX_EXTRA", GUEST_ANNOUNCE: "GUEST_ANNOUNCE", MQ: "MQ",
    CTRL_MAC_ADDR: "CTRL_MAC_ADDR", HOST_USO: "HOST_USO", RSS: "RSS",
    RING_INDIRECT_DESC: "RING_INDIRECT_DESC", RING_EVENT_IDX: "RING_EVENT_IDX",
    VERSION_1: "VERSION_1", ACCESS_PLATFORM: "ACCESS_PLATFORM", RING_PACKED: "RING_PACKED",
    IN_ORDER: "IN_ORDER",
    VIRTIOSPEC_NET_F_QUEUE_CLASSES: "VIRTIOSPEC_QUEUE_CLASSES",
}

# NET-027: feature -> the features it needs (any one of them).
REQUIRES: dict[int, tuple[int, ...]] = {
    GUEST_TSO4: (GUEST_CSUM,), GUEST_TSO6: (GUEST_CSUM,), GUEST_UFO: (GUEST_CSUM,),
    GUEST_ECN: (GUEST_TSO4, GUEST_TSO6),
    HOST_TSO4: (CSUM,), HOST_TSO6: (CSUM,), HOST_UFO: (CSUM,), HOST_USO: (CSUM,),
    HOST_ECN: (HOST_TSO4, HOST_TSO6),
    CTRL_RX: (CTRL_VQ,), CTRL_VLAN: (CTRL_VQ,), GUEST_ANNOUNCE: (CTRL_VQ,), MQ: (CTRL_VQ,),
    CTRL_MAC_ADDR: (CTRL_VQ,), CTRL_RX_EXTRA: (CTRL_VQ,), RSS: (CTRL_VQ,),
}


def bit(n: int) -> int:
    return 1 << n


def has(features: int, n: int) -> bool:
    return bool(features >> n & 1)


def of(*bits: int) -> int:
    out = 0
    for b in bits:
        out |= 1 << b
    return out


def names(features: int) -> list[str]:
    return [NAMES.get(n, f"bit{n}") for n in range(128) if features >> n & 1]


def check(features: int, front_end_ctrl: bool = False) -> None:
    """NET-027: every accepted feature has one of the features it needs. ``front_end_ctrl``:
    the features a vhost-user back-end is given, whose front-end serves the control queue
    itself and never passes VIRTIO_NET_F_CTRL_VQ on (VHOST-USER-010)."""
    if front_end_ctrl and has(features, MQ):
        features |= bit(CTRL_VQ)
    for feat, needs in REQUIRES.items():
        if has(features, feat) and not any(has(features, n) for n in needs):
            wanted = " or ".join(NAMES[n] for n in needs)
            raise BadFeatures(f"{NAMES[feat]} accepted without {wanted}")


def pairs(features: int, max_pairs: int) -> int:
    """The number of queue pairs the device has: max_virtqueue_pairs with MQ, else 1."""
    return max_pairs if has(features, MQ) else 1


def ctrl_index(features: int, max_pairs: int) -> int | None:
    """Index of the control queue (2N), or None without CTRL_VQ."""
    return 2 * pairs(features, max_pairs) if has(features, CTRL_VQ) else None
