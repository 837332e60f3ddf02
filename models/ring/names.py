"""Field names of a split virtqueue's memory, for readable traces (RING-SPLIT-003)."""

from __future__ import annotations

from virtiospec.models.memory.tso import AddressNames
from virtiospec.reference.ring.layout import (
    DESC_SIZE,
    USED_ELEM_SIZE,
    SplitLayout,
    avail_ring_size,
    desc_table_size,
    used_ring_size,
)

DESC_FIELDS = ((0, "addr"), (8, "len"), (12, "flags"), (14, "next"))


def name_table(names: AddressNames, base: int, entries: int, prefix: str) -> None:
    """Name the descriptors ``prefix[i].addr`` ... of a table at ``base``."""
    names.region(base, DESC_SIZE * entries, prefix)
    for i in range(entries):
        for off, field in DESC_FIELDS:
            names.field(base + DESC_SIZE * i + off, f"{prefix}[{i}].{field}")


def ring_names(lay: SplitLayout, names: AddressNames | None = None) -> AddressNames:
    """``desc[i].addr|len|flags|next``, ``avail.flags|idx|ring[s]``, ``used_event``,
    ``used.flags|idx|ring[s].id|len`` and ``avail_event``."""
    names = names or AddressNames()
    q = lay.size
    name_table(names, lay.desc, q, "desc")
    names.region(lay.desc, desc_table_size(q), "desc")
    names.region(lay.avail, avail_ring_size(q), "avail")
    names.field(lay.avail_flags, "avail.flags")
    names.field(lay.avail_idx, "avail.idx")
    for s in range(q):
        names.field(lay.avail_ring(s), f"avail.ring[{s}]")
    names.field(lay.used_event, "used_event")
    names.region(lay.used, used_ring_size(q), "used")
    names.field(lay.used_flags, "used.flags")
    names.field(lay.used_idx, "used.idx")
    for s in range(q):
        names.field(lay.used_ring(s), f"used.ring[{s}].id")
        names.field(lay.used_ring(s) + 4, f"used.ring[{s}].len")
    names.field(lay.avail_event, "avail_event")
    assert USED_ELEM_SIZE == 8
    return names
