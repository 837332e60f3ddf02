"""The Python reference of virtio-shm run straight through: regions and their bounds, signals
and their coalescing, the table (including a hostile writer), the clock, the interrupt table
and the split ring on shm."""

from __future__ import annotations

import pytest
from virtiospec.reference.access import GuestMemory, Load, Op, Store, run
from virtiospec.reference.ring import SplitDevice, SplitDriver
from virtiospec.reference.ring.on_shm import ShmRingDevice, ShmRingDriver, ShmRingLayout, on_shm
from virtiospec.reference.shm import (
    BadCapability,
    BadLayout,
    BadRegionSet,
    ClockDevice,
    ClockDriver,
    ClockLayout,
    IrqDevice,
    IrqDriver,
    IrqEvent,
    IrqLayout,
    Misaligned,
    Region,
    RegionOutOfBounds,
    RegionOutsideBar,
    RegionSet,
    ShmCap,
    SignalLayout,
    SignalReceiver,
    SignalSender,
    TableBusy,
    TableLayout,
    TableReader,
    TableWriter,
    UnknownRegion,
    WrongWriter,
)
from virtiospec.reference.shm.clock import join_ns, split_ns


class Recording(GuestMemory):
    """Guest memory that records every access that reaches it."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.accesses: list[tuple[str, int, int]] = []

    def read(self, addr: int, size: int) -> int:
        self.accesses.append(("load", addr, size))
        return super().read(addr, size)

    def write(self, addr: int, size: int, value: int) -> None:
        self.accesses.append(("store", addr, size))
        super().write(addr, size, value)


# -- regions -------------------------------------------------------------------------------

@pytest.mark.req("SHM-REGION-007")
@pytest.mark.parametrize(("offset", "size"), [(-4, 4), (0x100, 4), (0xFC, 8), (0xFF, 2),
                                              (1 << 64, 1)])
def test_an_access_outside_its_region_touches_no_memory(offset: int, size: int) -> None:
    mem = Recording(0x1000)
    region = Region(1, 0x800, 0x100)
    for op in (region.load(offset, size), region.store(offset, size, 0xFF)):
        with pytest.raises(RegionOutOfBounds):
            run(op, mem)
    assert mem.accesses == [] and mem.buf == bytearray(0x1000)


@pytest.mark.req("SHM-REGION-008", "SHM-REGION-006")
def test_accesses_are_naturally_aligned_words() -> None:
    mem = Recording(0x1000)
    region = Region(0, 0x800, 0x100)
    for offset, size in ((2, 4), (4, 8), (1, 2), (0, 3)):
        with pytest.raises(Misaligned):
            run(region.load(offset, size), mem)
    assert mem.accesses == []
    with pytest.raises(Misaligned):
        Region(0, 0x804, 0x100)
    run(region.store(0xF8, 8, 0x1122334455667788), mem)
    assert run(region.load(0xFC, 4), mem) == 0x11223344
    assert mem.accesses == [("store", 0x8F8, 8), ("load", 0x8FC, 4)]


@pytest.mark.req("SHM-REGION-005")
def test_the_pci_capability_round_trips_with_64_bit_fields() -> None:
    cap = ShmCap(bar=2, shmid=7, offset=0x1_2345_6000, length=0x2_0000_0000)
    raw = cap.encode(cap_next=0x40)
    assert len(raw) == 24 and raw[0] == 0x09 and raw[1] == 0x40 and raw[2] == 24
    assert raw[3] == 8  # VIRTIO_PCI_CAP_SHARED_MEMORY_CFG
    assert ShmCap.decode(raw) == cap
    assert ShmCap.decode(raw[:2] + bytes([32]) + raw[3:] + bytes(8)) == cap  # longer cap_len


@pytest.mark.req("SHM-REGION-005")
@pytest.mark.parametrize("patch", [(0, 0x11), (3, 5), (2, 16), (4, 6)])
def test_capabilities_a_driver_must_ignore_are_refused(patch: tuple[int, int]) -> None:
    raw = bytearray(ShmCap(0, 0, 0, 0x1000).encode())
    raw[patch[0]] = patch[1]
    with pytest.raises(BadCapability):
        ShmCap.decode(bytes(raw))
    with pytest.raises(BadCapability):
        ShmCap.decode(bytes(raw[:20]))


@pytest.mark.req("SHM-REGION-003", "SHM-REGION-004", "SHM-REGION-002", "SHM-REGION-001")
def test_a_device_region_set() -> None:
    bars = {2: (0x1_0000_0000, 0x10_0000), 4: (0xE000_0000, 0x1000)}
    regions = RegionSet.from_pci([ShmCap(2, 0, 0x0, 0x8000), ShmCap(2, 5, 0x8000, 0x1000),
                                  ShmCap(4, 1, 0x0, 0x1000)], bars)
    assert list(regions) == [0, 1, 5]
    assert regions[5] == Region(5, 0x1_0000_8000, 0x1000)
    with pytest.raises(UnknownRegion):
        regions[3]
    assert 3 not in regions and regions.get(3) is None
    with pytest.raises(BadRegionSet) as dup:
        RegionSet.from_pci([ShmCap(2, 0, 0, 0x10), ShmCap(4, 0, 0, 0x10)], bars)
    assert dup.value.req == "SHM-REGION-003"
    with pytest.raises(RegionOutsideBar):
        RegionSet.from_pci([ShmCap(4, 0, 0x800, 0x801)], bars)
    with pytest.raises(RegionOutsideBar):
        RegionSet.from_pci([ShmCap(3, 0, 0, 0x10)], bars)
    with pytest.raises(BadRegionSet):
        RegionSet([Region(0, 0x1000, 0x100), Region(1, 0x10F8, 0x100)])
    with pytest.raises(BadRegionSet):
        Region(0, 0x1000, 0)
    assert not hasattr(regions, "add") and not hasattr(regions, "__setitem__")


# -- signals -------------------------------------------------------------------------------

def _signal() -> tuple[GuestMemory, SignalSender, SignalReceiver]:
    mem = GuestMemory(0x1000)
    lay = SignalLayout(Region(0, 0x100, 0x100), 0x10)
    run(lay.init(), mem)
    return mem, SignalSender(lay), SignalReceiver(lay)


@pytest.mark.req("SHM-SIGNAL-011", "SHM-SIGNAL-002", "SHM-SIGNAL-005", "SHM-SIGNAL-006")
def test_many_injections_while_the_receiver_is_busy_cost_one_notification() -> None:
    mem, tx, rx = _signal()
    assert run(rx.enable(), mem) is False  # nothing pending: the receiver waits
    notes = [run(tx.inject(), mem) for _ in range(10)]
    assert notes == [True] + [False] * 9
    assert (tx.injections, tx.coalesced, tx.notifications) == (10, 9, 1)
    # the receiver wakes, disables, acknowledges, processes; injections meanwhile: none notify
    run(rx.disable(), mem)
    run(rx.acknowledge(), mem)
    assert [run(tx.inject(), mem) for _ in range(5)] == [False] * 5
    assert run(rx.enable(), mem) is True  # SHM-SIGNAL-006: pending again, process again
    run(rx.acknowledge(), mem)
    assert run(rx.enable(), mem) is False
    assert run(tx.inject(), mem) is True
    assert tx.notifications == 2 <= rx.acknowledgements + 1


@pytest.mark.req("SHM-SIGNAL-002", "SHM-SIGNAL-007")
def test_a_disabled_receiver_is_not_notified_but_pending_is_kept() -> None:
    mem, tx, rx = _signal()
    assert run(tx.inject(), mem) is False
    assert run(rx.enable(), mem) is True


@pytest.mark.req("SHM-SIGNAL-001")
def test_signal_placement() -> None:
    region = Region(0, 0x100, 0x100)
    with pytest.raises(BadLayout):
        SignalLayout(region, 2)
    with pytest.raises(RegionOutOfBounds):
        SignalLayout(region, 0xFC)


# -- the table -----------------------------------------------------------------------------

def _table(slots: int = 2, words: int = 3, **kw: int) -> tuple[GuestMemory, TableWriter,
                                                                TableReader]:
    mem = GuestMemory(0x1000)
    lay = TableLayout(Region(0, 0x200, 0x100), 0x20, slots, words)
    w = TableWriter(lay)
    run(w.init(), mem)
    return mem, w, TableReader(lay, **kw)


@pytest.mark.req("SHM-TABLE-003", "SHM-TABLE-005", "SHM-TABLE-008", "SHM-TABLE-009")
def test_values_overwrite_and_only_the_newest_is_handed_out() -> None:
    mem, w, r = _table()
    assert run(r.poll(0), mem) is None  # the initial value was never handed out as new
    for n in range(1, 6):
        run(w.update(0, (n, n * 2, n * 3)), mem)
    snap = run(r.poll(0), mem)
    assert snap is not None and snap.value == (5, 10, 15) and snap.version == 10
    assert run(r.poll(0), mem) is None
    assert run(r.read(1), mem).value == (0, 0, 0)
    run(w.update(1, (7, 8, 9)), mem)
    assert run(r.poll(1), mem).value == (7, 8, 9)  # type: ignore[union-attr]


@pytest.mark.req("SHM-TABLE-002", "SHM-TABLE-001")
def test_space_does_not_grow_with_the_write_rate() -> None:
    mem, w, _ = _table(slots=3, words=2)
    lay = w.layout
    touched: set[int] = set()

    class Watch(GuestMemory):
        def write(self, addr: int, size: int, value: int) -> None:
            touched.add(addr)
            super().write(addr, size, value)

    watch = Watch(0x1000)
    for n in range(500):
        run(w.update(n % 3, (n, n)), watch)
    base = lay.region.base + lay.offset
    assert touched == set(range(base, base + lay.size, 4)) and lay.size == 3 * 12
    with pytest.raises(BadLayout):
        run(w.update(3, (1, 1)), mem)
    with pytest.raises(RegionOutOfBounds):
        TableLayout(Region(0, 0x200, 0x100), 0xF8, 2, 1)


@pytest.mark.req("SHM-TABLE-011")
def test_a_writer_that_never_finishes_does_not_hang_the_reader() -> None:
    mem, w, r = _table(max_attempts=64)
    run(w.update(0, (1, 2, 3)), mem)
    good = run(r.read(0), mem)
    run(w.update(0, (4, 5, 6)), mem)
    seq = w.layout.region.base + w.layout.seq(0)
    mem.write(seq, 4, mem.read(seq, 4) + 1)  # hostile: seq left odd for ever
    loads = 0
    op = r.read(0)
    with pytest.raises(TableBusy) as busy:
        access = op.send(None)
        while True:
            assert isinstance(access, Load | Store) or access is not None
            value = mem.read(access.addr, access.size) if isinstance(access, Load) else None
            loads += isinstance(access, Load)
            access = op.send(value)
    assert busy.value.last == good and r.last[0] == good and r.attempts == 64
    assert loads == 64  # one load of an odd seq per attempt: bounded work


@pytest.mark.req("SHM-TABLE-011", "SHM-TABLE-007")
def test_a_writer_that_changes_seq_during_every_attempt_does_not_hang_the_reader() -> None:
    _mem, w, r = _table(max_attempts=10)
    seq = w.layout.region.base + w.layout.seq(0)

    class Churn(GuestMemory):
        def read(self, addr: int, size: int) -> int:
            if addr == seq:  # every load of seq sees a new even value, and the words torn
                self.write(seq, 4, super().read(seq, 4) + 2)
                self.write(seq + 4, 4, super().read(seq + 4, 4) + 1)
            return super().read(addr, size)

    churn = Churn(0x1000)
    with pytest.raises(TableBusy) as busy:
        run(r.read(0), churn)
    last = busy.value.last
    assert last is not None and last.version == 0 and r.attempts == 10


@pytest.mark.req("SHM-TABLE-005", "SHM-TABLE-007")
def test_a_read_overlapping_an_update_is_retried() -> None:
    mem, w, r = _table(slots=1, words=2)
    run(w.update(0, (1, 1)), mem)
    # step the reader to just after its first seq load, then run a whole update, then finish
    op = r.read(0)
    access = op.send(None)
    assert isinstance(access, Load)
    first = mem.read(access.addr, access.size)
    run(w.update(0, (2, 2)), mem)
    access = op.send(first)
    try:
        while True:
            value = mem.read(access.addr, access.size) if isinstance(access, Load) else None
            access = op.send(value)
    except StopIteration as done:
        assert done.value.value == (2, 2) and r.attempts == 2


# -- the clock and the interrupt table -----------------------------------------------------

@pytest.mark.req("SHM-CLOCK-001", "SHM-CLOCK-002", "SHM-CLOCK-003", "SHM-TABLE-012")
def test_a_lagging_clock_driver_acts_only_on_the_newest_time() -> None:
    mem = GuestMemory(0x2000)
    lay = ClockLayout(Region(0, 0x1000, 0x100), 0x40)
    assert (lay.signal.offset, lay.table.offset, lay.table.slots, lay.table.words) == (
        0x40, 0x48, 1, 2)
    dev, drv = ClockDevice(lay), ClockDriver(lay)
    run(dev.init(), mem)
    assert run(drv.service(), mem) is None
    assert run(drv.wait_prepare(), mem) is False
    times = [(1 << 32) - 3 + 2 * k for k in range(12)]  # crosses the 32-bit boundary
    notes = []
    for k, t in enumerate(times, 1):
        notes.append(run(dev.publish(t), mem))
        if k % 5 == 0:
            assert run(drv.service(), mem) == t  # acts on the newest, skips four
            assert run(drv.wait_prepare(), mem) is False
    assert notes.count(True) == 2 + 1  # one per acknowledgement, plus the first
    assert run(drv.service(), mem) == times[-1] and drv.actions == 3
    with pytest.raises(ValueError):
        run(dev.publish(times[0]), mem)
    assert join_ns(split_ns(0x1234_5678_9ABC_DEF0)) == 0x1234_5678_9ABC_DEF0


@pytest.mark.req("SHM-IRQ-001", "SHM-IRQ-002", "SHM-IRQ-003")
def test_the_interrupt_table_counts_edges_instead_of_queueing_them() -> None:
    mem = GuestMemory(0x2000)
    lay = IrqLayout(Region(0, 0x1000, 0x100), 0, 4)
    assert (lay.signal.offset, lay.table.offset, lay.table.slots, lay.table.words) == (
        0, 8, 4, 2)
    dev, drv = IrqDevice(lay), IrqDriver(lay)
    run(dev.init(), mem)
    assert run(drv.wait_prepare(), mem) is False
    for _ in range(1000):
        run(dev.edge(2), mem)
    run(dev.set_level(1, 1), mem)
    assert run(dev.inject(), mem) is True
    assert run(dev.inject(), mem) is False
    assert run(drv.service(), mem) == [IrqEvent(1, 0, 1), IrqEvent(2, 1000, 0)]
    assert run(drv.service(), mem) == []
    run(dev.edge(2), mem)
    run(dev.set_level(1, 0), mem)
    assert run(drv.service(), mem) == [IrqEvent(1, 0, 0), IrqEvent(2, 1, 0)]
    assert lay.table.size == 4 * 12


# -- the ring on shm -----------------------------------------------------------------------

def _ring_pair(q: int = 8) -> tuple[GuestMemory, ShmRingDriver, ShmRingDevice]:
    mem = GuestMemory(0x20000)
    lay = ShmRingLayout(Region(3, 0x1008, 0x1000), 0, q)
    drv, dev = ShmRingDriver(lay), ShmRingDevice(lay, mem.size)
    run(dev.init(), mem)
    run(drv.init(), mem)
    return mem, drv, dev


@pytest.mark.req("SHM-RING-001")
def test_the_ring_on_shm_has_the_split_ring_wire_format() -> None:
    mem, drv, dev = _ring_pair()
    plain = GuestMemory(0x20000)
    lay = drv.layout.ring
    pdrv, pdev = SplitDriver(lay), SplitDevice(lay, plain.size)
    run(pdev.init(), plain)
    run(pdrv.init(), plain)
    for m, d, v in ((mem, drv, dev), (plain, pdrv, pdev)):
        for n in range(3):
            run(d.add([(0x10000 + 0x100 * n, 16)], [(0x11000 + 0x100 * n, 64)], n), m)
        chain = run(v.pop(), m)
        assert chain is not None
        run(v.push([(chain.head, 5)]), m)
    start, end = lay.desc, lay.end
    assert mem.buf[start:end] == plain.buf[start:end]
    assert lay.desc % 16 == 0 and drv.layout.region.contains(start, end - start)


@pytest.mark.req("SHM-RING-001")
def test_a_ring_that_does_not_fit_its_region_is_refused() -> None:
    with pytest.raises(RegionOutOfBounds):
        ShmRingLayout(Region(0, 0x1000, 0x100), 0, 16)


def _one(access: Load | Store) -> Op[None]:
    yield access


@pytest.mark.req("SHM-RING-002", "SHM-TABLE-013")
def test_a_store_to_a_field_the_other_side_owns_is_refused() -> None:
    mem, drv, _dev = _ring_pair()
    lay = drv.layout
    assert [p.name for p in lay.parts if p.writer == "driver"][:3] == [
        "avail.flags", "avail.idx", "used_event"]
    assert [p.name for p in lay.parts if p.writer == "device"][:3] == [
        "used.flags", "used.idx", "avail_event"]
    before = bytes(mem.buf)
    with pytest.raises(WrongWriter):  # the device writing avail.idx
        run(on_shm(_one(Store(lay.ring.avail_idx, 2, 5)), lay, "device"), mem)
    with pytest.raises(WrongWriter):  # the driver writing used.idx
        run(on_shm(_one(Store(lay.ring.used_idx, 2, 5)), lay, "driver"), mem)
    with pytest.raises(WrongWriter):  # the device writing a descriptor
        run(on_shm(_one(Store(lay.ring.desc, 8, 5)), lay, "device"), mem)
    with pytest.raises(Misaligned):
        run(on_shm(_one(Load(lay.ring.avail_idx + 1, 2)), lay, "driver"), mem)
    end = lay.region.end
    with pytest.raises(RegionOutOfBounds):  # straddles the region's end
        run(on_shm(_one(Load(end - 2, 4)), lay, "driver"), mem)
    assert bytes(mem.buf) == before
    run(on_shm(_one(Store(0x10000, 8, 5)), lay, "device"), mem)  # a buffer: not the region's


@pytest.mark.req("SHM-RING-003", "SHM-RING-004")
def test_ring_notifications_go_through_signals_and_coalesce() -> None:
    mem, drv, dev = _ring_pair()
    assert run(dev.finish(), mem) is False  # the device enables kicks and waits
    kicks = []
    for n in range(4):
        run(drv.add([(0x10000, 16)], [(0x11000 + 0x100 * n, 64)], n), mem)
        kicks.append(run(drv.kick_if_needed(), mem))
    assert kicks == [True, False, False, False]  # the kick signal coalesces the rest
    run(dev.begin(), mem)
    heads = []
    while (chain := run(dev.pop(), mem)) is not None:
        heads.append(chain.head)
    assert len(heads) == 4
    run(dev.push([(h, 1) for h in heads]), mem)
    assert run(drv.finish(), mem) is True  # used buffers already there: no wait
    assert run(dev.call_if_needed(), mem) is True
    assert run(dev.finish(), mem) is False
    run(drv.begin(), mem)
    got = [run(drv.get_used(), mem) for _ in range(4)]
    assert [t for t, _ in got] == [0, 1, 2, 3]  # type: ignore[misc]
    assert run(drv.finish(), mem) is False
