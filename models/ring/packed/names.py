"""Field names of a packed virtqueue's memory, for readable traces (RING-PACKED-003)."""

from __future__ import annotations

from virtiospec.models.memory.tso import AddressNames
from virtiospec.reference.ring.packed.layout import (
    DESC_ADDR,
    DESC_FLAGS,
    DESC_ID,
    DESC_LEN,
    EVENT_FLAGS,
    EVENT_OFF_WRAP,
    EVENT_SIZE,
    PACKED_DESC_SIZE,
    PackedLayout,
)

PACKED_FIELDS = ((DESC_ADDR, "addr"), (DESC_LEN, "len"), (DESC_ID, "id"), (DESC_FLAGS, "flags"))


def packed_table(names: AddressNames, base: int, entries: int, prefix: str) -> None:
    """Name the descriptors ``prefix[i].addr|len|id|flags`` of a table (or ring) at ``base``."""
    names.region(base, PACKED_DESC_SIZE * entries, prefix)
    for i in range(entries):
        for off, field in PACKED_FIELDS:
            names.field(base + PACKED_DESC_SIZE * i + off, f"{prefix}[{i}].{field}")


def packed_names(lay: PackedLayout, names: AddressNames | None = None) -> AddressNames:
    """``desc[i].addr|len|id|flags``, ``driver_event.off_wrap|flags`` and
    ``device_event.off_wrap|flags`` (a 4-byte access to a structure reads ``.off_wrap``)."""
    names = names or AddressNames()
    packed_table(names, lay.desc, lay.size, "desc")
    for base, prefix in ((lay.driver_event, "driver_event"), (lay.device_event, "device_event")):
        names.region(base, EVENT_SIZE, prefix)
        names.field(base + EVENT_OFF_WRAP, f"{prefix}.off_wrap")
        names.field(base + EVENT_FLAGS, f"{prefix}.flags")
    return names
