"""The Python reference of the split ring, run straight through: sizes, placement, data path."""

from __future__ import annotations

import pytest
from virtiospec.reference.access import GuestMemory, run
from virtiospec.reference.ring import QueueFull, SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.ring.errors import BadPlacement, BadQueueSize, ChainTooLong


@pytest.mark.req("RING-SPLIT-001")
@pytest.mark.parametrize("q", [0, 3, 6, 65536, 32769, -1])
def test_bad_queue_sizes_are_refused(q: int) -> None:
    with pytest.raises(BadQueueSize):
        SplitLayout(q, 0, 0x1000, 0x2000)


@pytest.mark.req("RING-SPLIT-001")
def test_every_power_of_two_up_to_32768_is_accepted() -> None:
    for k in range(16):
        assert SplitLayout.packed_at(0, 1 << k).size == 1 << k


@pytest.mark.req("RING-SPLIT-002")
def test_misaligned_and_outside_parts_are_refused() -> None:
    with pytest.raises(BadPlacement):
        SplitLayout(8, 8, 0x1000, 0x2000)  # descriptor table on 8, not 16
    with pytest.raises(BadPlacement):
        SplitLayout(8, 0, 0x1001, 0x2000)
    with pytest.raises(BadPlacement):
        SplitLayout(8, 0, 0x1000, 0x2002)
    with pytest.raises(BadPlacement):
        SplitDevice(SplitLayout.packed_at(0x1000, 256), 0x1100)


def _pair(q: int = 8, **kw: bool) -> tuple[GuestMemory, SplitDriver, SplitDevice]:
    mem = GuestMemory(0x20000)
    lay = SplitLayout.packed_at(0x1000, q)
    drv = SplitDriver(lay, event_idx=kw.get("event_idx", False),
                      indirect_area=0x8000 if kw.get("indirect") else None, indirect_max=4)
    dev = SplitDevice(lay, mem.size, event_idx=kw.get("event_idx", False),
                      indirect=kw.get("indirect", False))
    run(drv.init(), mem)
    run(dev.init(), mem)
    return mem, drv, dev


@pytest.mark.req("RING-SPLIT-041", "RING-SPLIT-092")
@pytest.mark.parametrize("indirect", [False, True])
def test_data_goes_both_ways(indirect: bool) -> None:
    mem, drv, dev = _pair(indirect=indirect)
    mem.write_bytes(0x10000, b"request!")
    drv_heads = [run(drv.add([(0x10000, 8)], [(0x11000 + 0x100 * n, 0x100)], n), mem)
                 for n in range(3)]
    assert len(set(drv_heads)) == 3
    for n in range(3):
        chain = run(dev.pop(), mem)
        assert chain is not None
        assert run(dev.read_chain(chain), mem) == b"request!"
        reply = f"reply {n}".encode()
        written = run(dev.write_chain(chain, reply), mem)
        run(dev.push([(chain.head, written)]), mem)
    for n in range(3):
        token, length = run(drv.get_used(), mem)  # type: ignore[misc]
        assert token == n and mem.read_bytes(0x11000 + 0x100 * n, length) == f"reply {n}".encode()
    assert run(drv.get_used(), mem) is None
    assert drv.num_free == 8


@pytest.mark.req("RING-SPLIT-090")
def test_queue_full_and_oversized_chains() -> None:
    mem, drv, _ = _pair(q=2)
    with pytest.raises(ChainTooLong):
        run(drv.add([(0x10000, 1)] * 3, [], 0), mem)
    run(drv.add([(0x10000, 1)], [], 0), mem)
    run(drv.add([(0x10000, 1)], [], 1), mem)
    with pytest.raises(QueueFull):
        run(drv.add([(0x10000, 1)], [], 2), mem)
    with pytest.raises(ChainTooLong):
        run(drv.add([(0x10000, 1 << 32)], [], 3), mem)


@pytest.mark.req("RING-SPLIT-084")
def test_device_refuses_after_an_error() -> None:
    from virtiospec.reference.ring.errors import NeedsReset

    mem, _, dev = _pair()
    lay = dev.layout
    mem.write(lay.avail_ring(0), 2, 99)
    mem.write(lay.avail_idx, 2, 1)
    with pytest.raises(Exception, match="RING-SPLIT-080"):
        run(dev.pop(), mem)
    assert dev.needs_reset and dev.last_avail == 0
    with pytest.raises(NeedsReset):
        run(dev.pop(), mem)


@pytest.mark.req("RING-SPLIT-101")
@pytest.mark.parametrize("event_idx", [False, True])
def test_a_full_window_of_publications_always_notifies(event_idx: bool) -> None:
    """2^16 - 1 chains since the last decision: the event window aliases, so notify anyway."""
    mem, drv, dev = _pair(q=1, event_idx=event_idx)
    lay = drv.layout
    for _ in range(3):  # a few real round trips, then pretend the rest happened
        run(drv.add([(0x10000, 1)], [], 0), mem)
        chain = run(dev.pop(), mem)
        assert chain is not None
        run(dev.push([(chain.head, 0)]), mem)
        run(drv.get_used(), mem)
    mem.write(lay.used_flags, 2, 1)  # suppression asked for, in both forms
    mem.write(lay.avail_flags, 2, 1)
    mem.write(lay.avail_event, 2, (drv.avail_idx + 0x8000) & 0xFFFF)
    mem.write(lay.used_event, 2, (dev.used_idx + 0x8000) & 0xFFFF)
    drv.num_added = 0xFFFF
    dev.num_pushed = 0xFFFF
    dev.signalled_used = dev.used_idx  # exactly 2^16 pushes look like none at all
    assert run(drv.kick_prepare(), mem)
    assert run(dev.should_notify(), mem)
    drv.num_added, dev.num_pushed = 3, 3
    assert not run(drv.kick_prepare(), mem)
