"""RING-SPLIT-003, RING-SPLIT-100: our layout and event arithmetic against linux/virtio_ring.h.

The header is compiled with cffi into a helper that reports offsets from ``vring_init`` and
evaluates ``vring_need_event``; nothing is copied from it.
"""

from __future__ import annotations

import random

import pytest
from c_helpers import LINUX_RING_H, linux_ring_helper
from virtiospec.reference.ring.layout import (
    VIRTQ_AVAIL_F_NO_INTERRUPT,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    VIRTQ_USED_F_NO_NOTIFY,
    SplitLayout,
    avail_ring_size,
    desc_table_size,
    used_ring_size,
    vring_need_event,
)

pytestmark = pytest.mark.req("RING-SPLIT-003", "RING-SPLIT-100")

CDEF = """
int need_event(uint16_t event, uint16_t new_idx, uint16_t old);
void offsets(unsigned num, unsigned long align, long out[12]);
"""
SOURCE = """
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_ring.h>
int need_event(uint16_t event, uint16_t new_idx, uint16_t old) {
    return vring_need_event(event, new_idx, old);
}
void offsets(unsigned num, unsigned long align, long out[12]) {
    static char mem[1 << 20] __attribute__((aligned(4096)));
    struct vring vr;
    vring_init(&vr, num, mem, align);
    char *base = mem;
    out[0] = (char *)vr.desc - base;
    out[1] = (char *)&vr.avail->flags - base;
    out[2] = (char *)&vr.avail->idx - base;
    out[3] = (char *)&vr.avail->ring[1] - base;
    out[4] = (char *)&vring_used_event(&vr) - base;
    out[5] = (char *)&vr.used->flags - base;
    out[6] = (char *)&vr.used->idx - base;
    out[7] = (char *)&vr.used->ring[1].id - base;
    out[8] = (char *)&vr.used->ring[1].len - base;
    out[9] = (char *)&vring_avail_event(&vr) - base;
    out[10] = (long)vring_size(num, align);
    out[11] = (long)(sizeof(struct vring_desc) * 1000 + sizeof(struct vring_used_elem));
}
"""


@pytest.fixture(scope="module")
def linux(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return linux_ring_helper(tmp_path_factory, "_vs_linux_ring", CDEF, SOURCE)


def test_flag_values_match_linux() -> None:
    text = LINUX_RING_H.read_text()
    for name, value in (("VRING_DESC_F_NEXT", VIRTQ_DESC_F_NEXT),
                        ("VRING_DESC_F_WRITE", VIRTQ_DESC_F_WRITE),
                        ("VRING_DESC_F_INDIRECT", VIRTQ_DESC_F_INDIRECT),
                        ("VRING_USED_F_NO_NOTIFY", VIRTQ_USED_F_NO_NOTIFY),
                        ("VRING_AVAIL_F_NO_INTERRUPT", VIRTQ_AVAIL_F_NO_INTERRUPT)):
        assert f"#define {name}\t{value}" in text or f"#define {name} {value}" in text, name


@pytest.mark.parametrize("q", [1, 2, 8, 256, 1024, 32768])
def test_offsets_match_vring_init(linux, q: int) -> None:  # type: ignore[no-untyped-def]
    ffi, lib = linux
    align = 4096
    out = ffi.new("long[12]")
    lib.offsets(q, align, out)
    got = list(out)
    avail = desc_table_size(q)
    used = (avail + avail_ring_size(q) + align - 1) & ~(align - 1)
    lay = SplitLayout(q, 0, avail, used)
    mine = [lay.desc, lay.avail_flags, lay.avail_idx, lay.avail_ring(1), lay.used_event,
            lay.used_flags, lay.used_idx, lay.used_ring(1), lay.used_ring(1) + 4,
            lay.avail_event, lay.used + used_ring_size(q), 16 * 1000 + 8]
    assert got == mine


def test_need_event_matches_linux(linux) -> None:  # type: ignore[no-untyped-def]
    _, lib = linux
    rnd = random.Random(2026)
    edges = [0, 1, 2, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF]
    triples = [(e, n, o) for e in edges for n in edges for o in edges]
    triples += [(rnd.getrandbits(16), rnd.getrandbits(16), rnd.getrandbits(16))
                for _ in range(100_000)]
    for event, new, old in triples:
        assert vring_need_event(event, new, old) == bool(lib.need_event(event, new, old))
