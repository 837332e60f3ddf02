"""RING-PACKED-001, RING-PACKED-002, RING-PACKED-003: our packed layout, flags and event-suppression
format against
linux/virtio_ring.h (``struct vring_packed_desc``, ``struct vring_packed_desc_event`` and the
``VRING_PACKED_*`` constants).

The header is compiled with cffi into a helper that reports sizes, offsets and constants;
nothing is copied from it.
"""

from __future__ import annotations

import pytest
from c_helpers import linux_ring_helper
from virtiospec.reference.ring.errors import BadPlacement, BadQueueSize
from virtiospec.reference.ring.packed import layout as pl

pytestmark = pytest.mark.req("RING-PACKED-003")

CDEF = """
void packed_facts(long out[16]);
"""
SOURCE = """
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_ring.h>
void packed_facts(long out[16]) {
    out[0] = sizeof(struct vring_packed_desc);
    out[1] = offsetof(struct vring_packed_desc, addr);
    out[2] = offsetof(struct vring_packed_desc, len);
    out[3] = offsetof(struct vring_packed_desc, id);
    out[4] = offsetof(struct vring_packed_desc, flags);
    out[5] = sizeof(struct vring_packed_desc_event);
    out[6] = offsetof(struct vring_packed_desc_event, off_wrap);
    out[7] = offsetof(struct vring_packed_desc_event, flags);
    out[8] = 1L << VRING_PACKED_DESC_F_AVAIL;
    out[9] = 1L << VRING_PACKED_DESC_F_USED;
    out[10] = VRING_PACKED_EVENT_FLAG_ENABLE;
    out[11] = VRING_PACKED_EVENT_FLAG_DISABLE;
    out[12] = VRING_PACKED_EVENT_FLAG_DESC;
    out[13] = VRING_PACKED_EVENT_F_WRAP_CTR;
    out[14] = VRING_DESC_F_NEXT * 100 + VRING_DESC_F_WRITE * 10 + VRING_DESC_F_INDIRECT;
    out[15] = sizeof(((struct vring_packed_desc *)0)->addr) * 1000
            + sizeof(((struct vring_packed_desc *)0)->len) * 100
            + sizeof(((struct vring_packed_desc *)0)->id) * 10
            + sizeof(((struct vring_packed_desc *)0)->flags);
}
"""


@pytest.fixture(scope="module")
def linux(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return linux_ring_helper(tmp_path_factory, "_vs_linux_packed", CDEF, SOURCE)


def test_descriptor_and_event_structures_match_linux(linux) -> None:  # type: ignore[no-untyped-def]
    ffi, lib = linux
    out = ffi.new("long[16]")
    lib.packed_facts(out)
    got = list(out)
    mine = [pl.PACKED_DESC_SIZE, pl.DESC_ADDR, pl.DESC_LEN, pl.DESC_ID, pl.DESC_FLAGS,
            pl.EVENT_SIZE, pl.EVENT_OFF_WRAP, pl.EVENT_FLAGS,
            pl.VIRTQ_DESC_F_AVAIL, pl.VIRTQ_DESC_F_USED,
            pl.RING_EVENT_FLAGS_ENABLE, pl.RING_EVENT_FLAGS_DISABLE, pl.RING_EVENT_FLAGS_DESC,
            pl.EVENT_WRAP_BIT,
            pl.VIRTQ_DESC_F_NEXT * 100 + pl.VIRTQ_DESC_F_WRITE * 10 + pl.VIRTQ_DESC_F_INDIRECT,
            8 * 1000 + 4 * 100 + 2 * 10 + 2]
    assert got == mine


@pytest.mark.req("RING-PACKED-001", "RING-PACKED-002")
def test_sizes_and_placement() -> None:
    for q in (1, 3, 5, 100, 255, 32767, 32768):  # any size, not only powers of 2
        lay = pl.PackedLayout.packed_at(0x1000, q)
        assert lay.desc == 0x1000 and lay.driver_event == 0x1000 + 16 * q
        assert lay.device_event == lay.driver_event + 4 and lay.end == lay.device_event + 4
    for q in (0, -1, 32769, 65536):
        with pytest.raises(BadQueueSize) as err:
            pl.PackedLayout.packed_at(0, q)
        assert err.value.req == "RING-PACKED-002"
    for bad in ((8, 0x100, 0x104), (0, 0x102, 0x104), (0, 0x100, 0x106)):
        with pytest.raises(BadPlacement) as perr:
            pl.PackedLayout(4, *bad)
        assert perr.value.req == "RING-PACKED-001"
    with pytest.raises(BadPlacement):
        pl.PackedLayout.packed_at(0x1000, 256).check_inside(0x1000 + 16 * 256 + 7)


@pytest.mark.req("RING-PACKED-012", "RING-PACKED-013", "RING-PACKED-014", "RING-PACKED-015")
def test_marks_and_wrap_counters() -> None:
    for w in (0, 1):
        avail, used = pl.avail_marks(w), pl.used_marks(w)
        assert pl.is_avail(avail, w) and not pl.is_used(avail, w)
        assert pl.is_used(used, w) and not pl.is_avail(used, w)
        # what a side finds from the previous lap is neither
        last_avail, last_used = pl.avail_marks(w ^ 1), pl.used_marks(w ^ 1)
        assert not pl.is_avail(last_avail, w) and not pl.is_avail(last_used, w)
        assert not pl.is_used(last_used, w) and not pl.is_used(last_avail, w)
    assert not pl.is_avail(0, 1) and not pl.is_used(0, 1)  # the zeroed ring (RING-PACKED-004)
    assert pl.advance(3, 2, 1, 1) == (0, 0)
    assert pl.advance(3, 0, 0, 4) == (1, 1) and pl.advance(3, 0, 0, 7) == (1, 0)  # 1, 2 passes
    assert [pl.lap_index(3, p, w) for p, w in ((0, 1), (2, 1), (0, 0), (2, 0))] == [0, 2, 3, 5]
    assert pl.off_wrap(5, 1) == 5 | 1 << 15 and pl.off_wrap(5, 0) == 5


@pytest.mark.req("RING-PACKED-064")
@pytest.mark.parametrize("q", [1, 2, 3, 4, 7, 8])
def test_the_window_is_exact_below_2q(q: int) -> None:
    """Against an unbounded count: the position at unbounded index ``t`` (lap index t mod 2Q)
    is in the window iff old <= t < new, for every window shorter than 2Q."""
    for old in range(4 * q):
        for passed in range(2 * q):
            new = old + passed
            for t in range(old - 2 * q + passed + 1, old + 2 * q):  # fewer than 2Q apart
                pos, wrap = pl.advance(q, 0, 1, t % (2 * q))
                want = old <= t < new
                event = pl.off_wrap(pos, wrap)
                assert pl.packed_need_event(q, event, new % (2 * q), passed) == want
        assert pl.packed_need_event(q, 0, old % (2 * q), 2 * q)  # forced once it would alias
