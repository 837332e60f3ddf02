"""The clock and the interrupt table over the whole stack, PCI → virtio-pci → virtio-shm
(reference/stack/clock_*.py, spec/shm.md SHM-CLOCK-004, SHM-CLOCK-005, SHM-CLOCK-006, SHM-CLOCK-007,
SHM-CLOCK-008, SHM-CLOCK-009, SHM-CLOCK-010, SHM-CLOCK-011): the device found by its IDs,
its regions through their capabilities (and refused when a capability lies), reads stepped
against updates access by access, a lagging driver, coalescing into MSI-X messages, accesses
outside a region, hostile driver stores, reset, and the demo command."""

from __future__ import annotations

import json

import pytest
from virtiospec.reference.access import run
from virtiospec.reference.pci import Machine, PciError, Window
from virtiospec.reference.pci.regs import MSIX_ENTRY_CONTROL, MSIX_ENTRY_SIZE
from virtiospec.reference.shm import (
    BadLayout,
    BadRegionSet,
    Misaligned,
    RegionOutOfBounds,
    RegionOutsideBar,
    ShmError,
    UnknownRegion,
    WrongWriter,
)
from virtiospec.reference.shm.table import TableLines
from virtiospec.reference.stack.clock_counters import CountingReader
from virtiospec.reference.stack.clock_driver import ClockStackDriver
from virtiospec.reference.stack.clock_numbers import (
    CLOCK_DEVICE_ID,
    CLOCK_PCI_DEVICE_ID,
    CLOCK_SHMID,
    IRQ_SHMID,
    REGION_SIZE,
)
from virtiospec.reference.stack.clock_stack import MMIO_WINDOW, RAM_WINDOW, ClockStack
from virtiospec.reference.stack.clock_steps import Thread, run_alone
from virtiospec.reference.virtio_pci import VirtioPciTransport
from virtiospec.reference.virtio_pci.device import CAP_ID_VENDOR, SHM_BAR
from virtiospec.reference.virtio_pci.errors import DeviceNeedsReset, NotVirtio
from virtiospec.reference.virtio_pci.regs import (
    ACKNOWLEDGE,
    CAP_BAR,
    CAP_CFG_TYPE,
    CAP_ID,
    CAP_LEN,
    CAP_LENGTH,
    CAP_OFFSET,
    DEVICE_NEEDS_RESET,
    DRIVER,
    DRIVER_OK,
    F_VERSION_1,
    FAILED,
    FEATURES_OK,
    ISR_QUEUE,
    SHARED_MEMORY_CFG,
    bit,
)
from virtiospec.reference.virtio_pci.transport import virtio_type

from virtiospec.demo_clock import clock_demo

LIVE = ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
BOTH_WORDS = (1 << 32) + 1  # a tick that changes both 32-bit halves of the time


def up(seed: int = 0) -> ClockStack:
    stack = ClockStack(seed=seed)
    stack.bring_up()
    return stack


def shm_caps(stack: ClockStack) -> dict[int, int]:
    """shmid -> where the device's VIRTIO_PCI_CAP_SHARED_MEMORY_CFG capability sits."""
    cfg = stack.device.config
    return {cfg.get(at + CAP_ID, 1): at for at, cap_id in cfg.capabilities
            if cap_id == CAP_ID_VENDOR and cfg.get(at + CAP_CFG_TYPE, 1) == SHARED_MEMORY_CFG}


def bar4_accesses(stack: ClockStack) -> int:
    h = stack.host.counters
    return h.bar_reads[SHM_BAR] + h.bar_writes[SHM_BAR]


def region_bytes(stack: ClockStack) -> tuple[bytes, bytes]:
    return (stack.backend.regions[CLOCK_SHMID].snapshot(),
            stack.backend.regions[IRQ_SHMID].snapshot())


# -- finding the device and its regions -------------------------------------------------

@pytest.mark.req("SHM-CLOCK-004", "VIRTIO-PCI-001", "VIRTIO-PCI-002")
def test_the_device_is_found_by_its_experimental_ids_and_by_nothing_else() -> None:
    stack = ClockStack()
    function = stack.driver.probe().function
    assert (function.vendor, function.device, function.revision, function.subsystem) == \
        (0x1AF4, 0x10F0, 1, 0x40)
    assert CLOCK_PCI_DEVICE_ID == 0x1040 + CLOCK_DEVICE_ID and 0x10F0 <= function.device <= 0x10FF
    # a driver that matches virtio devices by VIRTIO 1.4 §4.1.2 does not take it
    assert virtio_type(function) is None
    with pytest.raises(NotVirtio):
        VirtioPciTransport.probe(stack.machine, CLOCK_DEVICE_ID, Window(*MMIO_WINDOW))
    bare = ClockStackDriver(Machine(1 << 20), Window(*MMIO_WINDOW), Window(*RAM_WINDOW))
    with pytest.raises(NotVirtio) as err:  # a machine without the device
        bare.probe()
    assert err.value.req == "SHM-CLOCK-004"


@pytest.mark.req("SHM-CLOCK-005", "SHM-CLOCK-006", "SHM-CLOCK-007", "SHM-REGION-001",
                 "SHM-REGION-004", "SHM-REGION-005", "SHM-REGION-006")
def test_the_driver_finds_both_regions_through_their_capabilities() -> None:
    stack = up()
    t, drv = stack.driver.transport, stack.driver
    assert t is not None and drv.regions is not None
    bar4 = t.bars[SHM_BAR]
    assert set(drv.regions) == {CLOCK_SHMID, IRQ_SHMID}
    for shmid, region in drv.regions.items():
        assert region.base == bar4.address + stack.device.shm_at[shmid]  # BAR + cap.offset
        assert region.length == REGION_SIZE
    assert stack.device.status == LIVE
    assert drv.virtio is not None and drv.virtio.features == bit(F_VERSION_1)
    assert run(t.read("num_queues"), drv.memory) == 0 and drv.irq_lines == 2
    assert drv.clock is not None and drv.clock.layout.region is drv.regions[CLOCK_SHMID]
    assert drv.clock.layout.offset == 0 and drv.irq is not None
    assert drv.irq.layout.region is drv.regions[IRQ_SHMID] and drv.irq.layout.lines == 2
    with pytest.raises(UnknownRegion):
        drv.regions[2]
    # the driver's first service read the device's region through BAR4, nothing else
    assert bar4_accesses(stack) > 0 and stack.machine.master_aborts == 0


def _lie(stack: ClockStack, how: str) -> None:
    cfg, caps = stack.device.config, shm_caps(stack)
    irq_cap = caps[IRQ_SHMID]
    if how == "outside its BAR":
        cfg.put(irq_cap + CAP_LENGTH, 4, 2 * REGION_SIZE)  # at 0x1000 of a 0x2000 BAR
    elif how == "in a BAR the device does not have":
        cfg.put(irq_cap + CAP_BAR, 1, 3)
    elif how == "id used twice":
        cfg.put(irq_cap + CAP_ID, 1, CLOCK_SHMID)
    elif how == "id missing":
        cfg.put(irq_cap + CAP_ID, 1, 7)
    elif how == "cap_len below 24":
        cfg.put(irq_cap + CAP_LEN, 1, 16)
    elif how == "overlapping":
        cfg.put(irq_cap + CAP_OFFSET, 4, REGION_SIZE // 2)
    elif how == "too short for the clock":
        cfg.put(caps[CLOCK_SHMID] + CAP_LENGTH, 4, 16)
    elif how == "irq_lines 0":
        stack.backend.config.data[0:4] = bytes(4)


@pytest.mark.req("SHM-CLOCK-007", "SHM-CLOCK-005", "SHM-REGION-001", "SHM-REGION-002",
                 "SHM-REGION-003", "SHM-REGION-004", "SHM-REGION-005", "VIRTIO-STATUS-009")
@pytest.mark.parametrize(("how", "error", "req"), [
    ("outside its BAR", RegionOutsideBar, "SHM-REGION-004"),
    ("in a BAR the device does not have", RegionOutsideBar, "SHM-REGION-004"),
    ("id used twice", BadRegionSet, "SHM-REGION-003"),
    ("id missing", UnknownRegion, "SHM-REGION-001"),
    ("cap_len below 24", UnknownRegion, "SHM-REGION-001"),
    ("overlapping", BadRegionSet, "SHM-REGION-002"),
    ("too short for the clock", RegionOutOfBounds, "SHM-REGION-007"),
    ("irq_lines 0", BadLayout, "SHM-CLOCK-005"),
])
def test_a_device_whose_capabilities_lie_is_refused_before_its_regions_are_touched(
        how: str, error: type[ShmError], req: str) -> None:
    stack = ClockStack()
    _lie(stack, how)
    stack.driver.probe()
    with pytest.raises(error) as err:
        stack.start()
    assert err.value.req == req
    assert stack.device.status & FAILED and not stack.device.status & DRIVER_OK
    assert bar4_accesses(stack) == 0  # neither region was read or written
    assert all(r.counters.driver_loads == r.counters.driver_stores == 0
               for r in stack.backend.regions.values())
    assert stack.driver.ignored_caps == (how == "cap_len below 24")


# -- reads against updates, access by access --------------------------------------------

@pytest.mark.req("SHM-TABLE-007", "SHM-TABLE-008", "SHM-TABLE-009", "SHM-CLOCK-003",
                 "SHM-IRQ-003")
def test_interleaved_reads_over_the_stack_are_never_torn_stale_or_older() -> None:
    retries = acted = 0
    for seed in range(16):
        stack = up(seed)
        stack.run(24, 1 + seed % 3, start_ns=0, tick_ns=BOTH_WORDS)
        assert stack.failures() == {}, seed
        acted += stack.check.acted
        clock = stack.driver.clock
        assert clock is not None and isinstance(clock.reader, CountingReader)
        retries += clock.reader.retries
    assert acted >= 100  # many times acted on, each one checked (192 with these seeds)
    assert retries > 0  # reads did overlap updates: the check was not vacuous (386)


class NoRecheck(CountingReader):
    """A known-bad reader: takes the words without loading ``seq`` again (SHM-TABLE-005)."""

    lines = TableLines(reader_recheck=False)  # BUG (SHM-TABLE-005)


@pytest.mark.req("SHM-TABLE-005", "SHM-TABLE-007")
def test_a_reader_without_the_recheck_tears_over_the_stack() -> None:
    """The checks above can fail: the same run with a known-bad reader acts on torn times."""
    torn = 0
    for seed in range(40):
        stack = up(seed)
        clock = stack.driver.clock
        assert clock is not None
        clock.reader = NoRecheck(clock.layout.table)
        stack.run(24, 1 + seed % 3, start_ns=0, tick_ns=BOTH_WORDS)
        torn += stack.check.torn
        if torn:
            break
    assert torn > 0


# -- a lagging driver, coalescing ----------------------------------------------------------

@pytest.mark.req("SHM-CLOCK-003", "SHM-TABLE-009", "SHM-TABLE-010", "SHM-SIGNAL-011",
                 "SHM-CLOCK-008")
@pytest.mark.parametrize("lag", [1, 4, 16])
def test_a_lagging_driver_acts_once_per_service_on_the_newest_time(lag: int) -> None:
    stack, ticks = up(), 48
    times = [1_000_000 * k + 999 for k in range(1, ticks + 1)]
    for k, ns in enumerate(times, 1):
        stack.tick(ns, driver=False)
        if k % lag == 0:
            stack.settle()
            assert stack.driver.clock is not None and stack.driver.clock.now == ns
    c, sender = stack.check, stack.backend.clock.signal
    assert c.acted == ticks // lag and c.stale == c.torn == c.backwards == 0
    assert stack.backend.published - c.acted == ticks - ticks // lag  # superseded, never seen
    assert c.unchanged == 1  # the first service, at bring-up, before any tick
    # one MSI-X message per service, every other injection coalesced
    assert sender.notifications == ticks // lag == stack.backend.signals[CLOCK_SHMID].msix_sent
    assert sender.coalesced == ticks - ticks // lag
    assert stack.driver.irqs_seen[1] == ticks // lag
    assert stack.driver.clock is not None
    assert sender.notifications <= stack.driver.clock.signal.acknowledgements + 1
    assert stack.failures() == {}


@pytest.mark.req("SHM-CLOCK-003", "SHM-TABLE-009", "SHM-SIGNAL-011", "SHM-IRQ-003")
@pytest.mark.parametrize("lag", [3, 8])
def test_a_lagging_driver_stepped_against_the_device(lag: int) -> None:
    stack = up(seed=lag)
    check = stack.run(96, lag)
    assert stack.failures() == {}
    assert check.acted <= 2 * (96 // lag) + 1  # a service and at most one re-check per round
    assert stack.backend.published - check.acted >= 96 - 2 * (96 // lag) - 1
    sender = stack.backend.clock.signal
    assert sender.coalesced > 0 and sender.notifications <= sum(
        c.signal.acknowledgements for c, _ in stack.driver.generations()) + 1
    assert check.edges_total == stack.backend.edges_total == 96
    assert stack.driver.irq is not None
    assert stack.driver.irq.handled == stack.backend.irq.counts


@pytest.mark.req("SHM-CLOCK-008", "PCI-CFG-011")
def test_a_masked_vector_leaves_the_notification_pending() -> None:
    stack = up()
    t = stack.driver.transport
    assert t is not None and t.msix is not None
    entry = t.msix.table + MSIX_ENTRY_SIZE * 1 + MSIX_ENTRY_CONTROL
    stack.host.mem_write(entry, 4, 1)  # mask the clock's vector
    stack.tick(5_000, driver=False)
    stats = stack.backend.signals[CLOCK_SHMID]
    assert (stats.msix_sent, stats.msix_pending) == (0, 1)
    assert stack.host.mem_read(t.msix.pba, 8) & 0b10
    assert run(stack.driver.take_irq(1), stack.driver.memory) is False
    stack.host.mem_write(entry, 4, 0)  # unmask: the message goes now
    assert not stack.host.mem_read(t.msix.pba, 8) & 0b10
    stack.settle()
    assert stack.driver.clock is not None and stack.driver.clock.now == 5_000


@pytest.mark.req("SHM-CLOCK-008", "VIRTIO-PCI-031")
def test_without_msix_a_signal_is_isr_bit_0_and_intx() -> None:
    stack = up()
    assert stack.driver.transport is not None
    stack.driver.transport.msix_control(enable=False)
    stack.tick(7_000, driver=False)
    assert stack.backend.signals[CLOCK_SHMID].intx == 1 and stack.device.intx_asserted
    assert stack.device.read_isr() == ISR_QUEUE


@pytest.mark.req("SHM-CLOCK-009")
def test_nothing_is_published_before_driver_ok_and_the_time_is_there_at_once() -> None:
    stack = ClockStack()
    stack.driver.probe()
    stack.tick(123_456, driver=False)
    assert stack.backend.idle_ticks == 1 and stack.backend.published == 0
    assert region_bytes(stack) == (bytes(REGION_SIZE), bytes(REGION_SIZE))
    assert stack.device.msix_table is not None and stack.device.msix_table.sent == []
    stack.start()
    assert stack.check.last == 123_456 and stack.check.acted == 1


# -- refused accesses ---------------------------------------------------------------------

@pytest.mark.req("SHM-REGION-007", "SHM-REGION-008", "SHM-CLOCK-007")
def test_an_access_outside_a_region_is_refused_and_touches_nothing() -> None:
    stack = up()
    stack.run(4, 1)
    assert stack.driver.regions is not None
    region = stack.driver.regions[CLOCK_SHMID]
    before, accesses, status = region_bytes(stack), bar4_accesses(stack), stack.device.status
    for op in (region.load(REGION_SIZE, 4), region.store(REGION_SIZE, 4, 1),
               region.load(REGION_SIZE - 2, 4), region.store(-4, 4, 0),
               region.load(REGION_SIZE - 4, 8)):
        with pytest.raises(RegionOutOfBounds) as err:
            stack.driver.run(op)
        assert err.value.req == "SHM-REGION-007"
    for op in (region.load(2, 4), region.store(6, 4, 0), region.load(0, 3)):
        with pytest.raises(Misaligned) as misaligned:
            stack.driver.run(op)
        assert misaligned.value.req == "SHM-REGION-008"
    assert region_bytes(stack) == before and bar4_accesses(stack) == accesses
    # a raw MMIO store that is not naturally aligned is refused by the bus before the BAR
    with pytest.raises(PciError) as bus:
        stack.host.mem_write(region.base + 2, 4, 1)
    assert bus.value.req == "PCI-CFG-008" and region_bytes(stack) == before
    assert stack.device.status == status and stack.device.failures == 0


@pytest.mark.req("SHM-CLOCK-010", "SHM-TABLE-001", "VIRTIO-STATUS-004", "SHM-CLOCK-011")
def test_a_driver_store_to_the_device_table_breaks_the_device_not_the_table() -> None:
    stack = up()
    stack.run(8, 1)
    drv = stack.driver
    assert drv.regions is not None and drv.clock is not None
    seq = drv.regions[CLOCK_SHMID].base + drv.clock.layout.table.seq(0)
    before, published = region_bytes(stack), stack.backend.published
    stack.host.mem_write(seq, 4, 0xDEAD)  # the CPU's write completes: no exception
    assert region_bytes(stack) == before
    assert stack.device.status & DEVICE_NEEDS_RESET
    assert isinstance(stack.device.error, WrongWriter) and stack.device.error.req == "SHM-TABLE-001"
    assert stack.device.msix_table is not None
    assert [v for v, _, _ in stack.device.msix_table.sent].count(0) == 1  # config vector
    assert drv.virtio is not None
    with pytest.raises(DeviceNeedsReset):
        drv.run(drv.virtio.check_device())
    later = stack.backend.time_ns + 1_000_000
    run(stack.backend.tick(later), stack.backend.view)  # broken: publishes nothing
    assert region_bytes(stack) == before and stack.backend.published == published
    stack.tick(later + 1, driver=True)  # the driver's round sees it and recovers
    assert stack.recoveries == 1 and stack.device.status == LIVE
    assert stack.check.last == later + 1  # published again at DRIVER_OK, acted on at once
    stack.run(16, 4)
    assert stack.failures() == {} and stack.check.last == stack.backend.clock.now


@pytest.mark.req("SHM-CLOCK-010", "SHM-SIGNAL-001")
@pytest.mark.parametrize(("word", "size", "value", "req"), [
    ("pending", 4, 1, "SHM-SIGNAL-001"),  # only the sender sets pending
    ("enabled", 4, 7, "SHM-SIGNAL-001"),  # no value but 0 and 1
    ("enabled", 2, 1, "SHM-SIGNAL-001"),  # half a word
    ("table", 4, 0, "SHM-TABLE-001"),
    ("free", 4, 0, "SHM-CLOCK-010"),  # a byte neither structure holds
    ("enabled", 4, 1, None),  # what the driver may store
    ("enabled", 4, 0, None),
    ("pending", 4, 0, None),
])
def test_driver_stores_to_the_interrupt_region_are_judged(word: str, size: int, value: int,
                                                          req: str | None) -> None:
    stack = up()
    drv = stack.driver
    assert drv.regions is not None and drv.irq is not None
    lay = drv.irq.layout
    offset = {"pending": lay.signal.pending, "enabled": lay.signal.enabled,
              "table": lay.table.word(1, 1), "free": REGION_SIZE - 8}[word]
    before = region_bytes(stack)[1]
    stack.host.mem_write(drv.regions[IRQ_SHMID].base + offset, size, value)
    if req is None:
        assert stack.device.status == LIVE and stack.device.failures == 0
        assert stack.backend.regions[IRQ_SHMID].memory.read(offset, 4) == value
        return
    assert region_bytes(stack)[1] == before
    assert stack.device.status & DEVICE_NEEDS_RESET and stack.device.error is not None
    assert getattr(stack.device.error, "req", None) == req


# -- reset --------------------------------------------------------------------------------

@pytest.mark.req("SHM-CLOCK-011", "SHM-REGION-002", "SHM-IRQ-003")
def test_reset_clears_both_regions_and_the_driver_starts_afresh() -> None:
    stack = up()
    stack.run(12, 3)
    drv = stack.driver
    assert drv.regions is not None and drv.transport is not None
    placed = {shmid: (r.base, r.length) for shmid, r in drv.regions.items()}
    assert region_bytes(stack) != (bytes(REGION_SIZE), bytes(REGION_SIZE))
    stack.check.new_generation(stack.backend.edges)
    drv.run(drv.transport.reset())
    assert stack.device.status == 0
    assert region_bytes(stack) == (bytes(REGION_SIZE), bytes(REGION_SIZE))
    assert stack.backend.irq.counts == [0, 0] and stack.backend.clock.writer.seqs == [0]
    stack.start()
    assert {shmid: (r.base, r.length) for shmid, r in drv.regions.items()} == placed
    assert len(drv.generations()) == 2 and drv.clock is not None
    assert drv.clock.reader.processed[0].version == 2  # the first version after the reset
    stack.run(12, 3)
    assert stack.failures() == {}  # no edge of the new generation counted twice
    assert stack.check.edges_total + stack.check.edges_discarded == stack.backend.edges_total


# -- the command ----------------------------------------------------------------------------

@pytest.mark.req("SHM-CLOCK-003")
def test_demo_clock_prints_every_layer_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert clock_demo(40, 4, True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["failures"] == {}
    counters = out["counters"]
    assert {"PCI", "virtio-pci", "region 0 (clock)", "signal (clock)", "table (clock)",
            "clock", "irq table"} <= set(counters)
    assert counters["clock"]["stale acted on"] == counters["clock"]["torn acted on"] == 0
    assert counters["PCI"]["config reads"] > 0 and counters["PCI"]["BAR4 (shared memory) reads"] > 0
    assert clock_demo(16, 2, False) == 0
    assert "superseded" in capsys.readouterr().out
    assert clock_demo(0, 1, False) == 2


def test_demo_clock_exits_1_when_the_driver_acted_on_a_stale_time(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ClockStack, "failures", lambda self: {"stale": 1})
    assert clock_demo(8, 2, True) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_the_stepper_runs_an_operation_to_its_result() -> None:
    stack = up()
    thread = Thread("driver", stack.driver.device_status(), stack.driver.memory)
    run_alone(thread)
    assert thread.done and thread.result == LIVE and thread.steps == 1
