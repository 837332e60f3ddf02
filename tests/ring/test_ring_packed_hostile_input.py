"""The Python reference of the packed ring against hostile input, run straight through: a
device refuses a hostile list and a driver a hostile used descriptor, each with its
requirement, leaving the queue untouched and refusing to go on until reset."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from virtiospec.conformance.ring.api import PackedRingSetup
from virtiospec.conformance.suites.ring.packed.peer import (
    PackedHandDevice,
    PackedHandDriver,
    make_packed_setup,
)
from virtiospec.reference.access import Op, run
from virtiospec.reference.ring import PackedDevice, PackedDriver
from virtiospec.reference.ring.errors import NeedsReset, RingError
from virtiospec.reference.ring.packed.layout import (
    MARKS,
    VIRTQ_DESC_F_AVAIL,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_USED,
    VIRTQ_DESC_F_WRITE,
)


# -- hostile driver: the device refuses, untouched ----------------------------------------------
def _refused(setup: PackedRingSetup, dev: PackedDevice, req: str) -> None:
    mem = setup.memory
    before = bytes(mem.buf)
    state = (dev.last_avail, dev.avail_wrap, dev.held, dict(dev.in_flight))
    with pytest.raises(RingError) as err:
        run(dev.pop(), mem)
    assert err.value.req == req, err.value
    assert bytes(mem.buf) == before, "the device wrote during a refused pop"
    assert (dev.last_avail, dev.avail_wrap, dev.held, dict(dev.in_flight)) == state
    assert dev.needs_reset
    accesses: list[object] = []

    def spy(op: Op[object]) -> None:
        try:
            value = None
            while True:
                accesses.append(op.send(value))
                value = 0
        except StopIteration:
            pass

    for method in (dev.pop, dev.should_notify, dev.enable_notify, dev.disable_notify):
        with pytest.raises(NeedsReset):
            spy(method())
    assert not accesses, "a device that needs reset still touched memory"


R, W = False, True
MEM_END = 0x80000
Lie = Callable[[PackedHandDriver], None]

HOSTILE: dict[str, tuple[str, Lie, dict[str, bool]]] = {
    "longer-than-q": ("RING-PACKED-080", lambda d: d.publish(
        1, [(0x40000 + 64 * k, 8, R) for k in range(8)], extra={7: VIRTQ_DESC_F_NEXT}), {}),
    "table-longer-than-q": ("RING-PACKED-080", lambda d: d.publish(
        1, [(0x40000, 8, R)] * 9, table=0x20000), {"indirect": True}),
    "second-not-available": ("RING-PACKED-081", lambda d: d.publish(
        1, [(0x40000, 8, R), (0x40100, 8, W)], marks={1: MARKS}), {}),
    "second-from-last-lap": ("RING-PACKED-081", lambda d: d.publish(
        1, [(0x40000, 8, R), (0x40100, 8, W)], marks={1: VIRTQ_DESC_F_USED}), {}),
    "indirect-without-feature": ("RING-PACKED-082", lambda d: d.publish(
        1, [(0x40000, 8, R)], table=0x20000), {}),
    "indirect-with-next": ("RING-PACKED-082", lambda d: d.publish(
        1, [(0x40000, 8, R)], table=0x20000, ring_flags=VIRTQ_DESC_F_NEXT),
        {"indirect": True}),
    "indirect-in-a-list": ("RING-PACKED-082", lambda d: d.publish(
        1, [(0x40000, 8, R), (0x20000, 32, R)], extra={1: VIRTQ_DESC_F_INDIRECT}),
        {"indirect": True}),
    "indirect-empty": ("RING-PACKED-082", lambda d: d.publish(
        1, [(0x20000, 0, R)], extra={0: VIRTQ_DESC_F_INDIRECT}), {"indirect": True}),
    "indirect-ragged": ("RING-PACKED-082", lambda d: d.publish(
        1, [(0x20000, 24, R)], extra={0: VIRTQ_DESC_F_INDIRECT}), {"indirect": True}),
    "buffer-outside": ("RING-PACKED-083", lambda d: d.publish(1, [(MEM_END - 8, 64, W)]), {}),
    "buffer-overflows": ("RING-PACKED-083", lambda d: d.publish(
        1, [((1 << 64) - 16, 64, W)]), {}),
    "table-outside": ("RING-PACKED-083", lambda d: d.publish(
        1, [(MEM_END - 16, 32, R)], extra={0: VIRTQ_DESC_F_INDIRECT}), {"indirect": True}),
    "readable-after-writable": ("RING-PACKED-084", lambda d: d.publish(
        1, [(0x40000, 8, W), (0x40100, 8, R)]), {}),
    "readable-after-writable-in-table": ("RING-PACKED-084", lambda d: d.publish(
        1, [(0x40000, 8, W), (0x40100, 8, R)], table=0x20000), {"indirect": True}),
}


@pytest.mark.req("RING-PACKED-080", "RING-PACKED-081", "RING-PACKED-082", "RING-PACKED-083",
                 "RING-PACKED-084", "RING-PACKED-085")
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_device_refuses_a_hostile_list(name: str) -> None:
    req, lie, opts = HOSTILE[name]
    setup = make_packed_setup(8, **opts)
    dev = PackedDevice(setup.layout, setup.memory.size, indirect=setup.indirect)
    drv = PackedHandDriver(setup)
    for k in range(3):  # some honest traffic first, so the lie lands mid-ring
        drv.publish(k, [(0x40000, 8, R)])
        chain = run(dev.pop(), setup.memory)
        assert chain is not None
        run(dev.push([(chain.head, 0)]), setup.memory)
    lie(drv)
    _refused(setup, dev, req)


@pytest.mark.req("RING-PACKED-080", "RING-PACKED-085", "RING-PACKED-090")
def test_device_refuses_more_than_q_held_and_duplicate_ids() -> None:
    setup = make_packed_setup(4)
    dev = PackedDevice(setup.layout, setup.memory.size)
    drv = PackedHandDriver(setup)
    drv.publish(1, [(0x40000, 8, R)] * 2)
    assert run(dev.pop(), setup.memory) is not None
    drv.publish(2, [(0x40000, 8, R)] * 3)  # wraps over the two the device holds
    _refused(setup, dev, "RING-PACKED-080")
    setup = make_packed_setup(4)
    dev = PackedDevice(setup.layout, setup.memory.size)
    drv = PackedHandDriver(setup)
    drv.publish(1, [(0x40000, 8, R)])
    drv.publish(1, [(0x40000, 8, R)])
    assert run(dev.pop(), setup.memory) is not None
    _refused(setup, dev, "RING-PACKED-085")


@pytest.mark.req("RING-PACKED-015", "RING-PACKED-021", "RING-PACKED-042")
def test_device_waits_for_real_available_marks_and_ignores_table_flags() -> None:
    setup = make_packed_setup(4, indirect=True)
    dev = PackedDevice(setup.layout, setup.memory.size, indirect=True)
    drv = PackedHandDriver(setup)
    lay, mem = setup.layout, setup.memory
    for marks in (0, MARKS, VIRTQ_DESC_F_USED):  # zero, "used" and last lap's: not available
        drv.write_desc(0, 0x40000, 8, 1, marks)
        assert run(dev.pop(), mem) is None and not dev.needs_reset
    # only WRITE counts in a table; WRITE on the ring descriptor is ignored (RING-PACKED-042)
    drv.write_desc(0, 0x40000, 8, 77, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT, 0x20000)
    drv.write_desc(1, 0x40100, 8, 77, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_AVAIL, 0x20000)
    drv.write_desc(0, 0x20000, 32, 5,
                   VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_AVAIL)
    del lay
    chain = run(dev.pop(), mem)
    assert chain is not None and chain.head == 5
    assert chain.readable == [(0x40000, 8)] and chain.writable == [(0x40100, 8)]


# -- hostile device: the driver refuses, frees nothing -------------------------------------------
@pytest.mark.req("RING-PACKED-027", "RING-PACKED-086")
@pytest.mark.parametrize("lie", ["unknown-id", "id-beyond-q", "len-too-long", "twice"])
def test_driver_refuses_a_hostile_used_descriptor(lie: str) -> None:
    setup = make_packed_setup(8)
    mem = setup.memory
    drv = PackedDriver(setup.layout)
    run(drv.init(), mem)
    dev = PackedHandDevice(setup)
    ids = [run(drv.add([(0x40000, 8)], [(0x40100 + 0x100 * n, 16)], n), mem) for n in range(2)]
    dev.pop_all()
    if lie == "unknown-id":
        dev.used(7, 0)
    elif lie == "id-beyond-q":
        dev.used(4096, 0)
    elif lie == "len-too-long":
        dev.used(ids[0], 17)
    else:
        dev.used(ids[0], 0)
        assert run(drv.get_used(), mem) == (0, 0)
        dev.used(ids[0], 0)  # the same ID again: it is no longer outstanding
    free, free_ids = drv.num_free, list(drv.free_ids)
    with pytest.raises(RingError) as err:
        run(drv.get_used(), mem)
    assert err.value.req == "RING-PACKED-086"
    assert (drv.num_free, drv.free_ids) == (free, free_ids)
    with pytest.raises(NeedsReset):
        run(drv.add([(0x40000, 8)], [], 9), mem)
