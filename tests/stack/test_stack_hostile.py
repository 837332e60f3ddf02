"""A hostile driver against the full stack (reference/stack): queues placed outside or across
the shared memory region, stores to what the device owns, accesses outside the region,
buffers outside guest RAM. Each is refused with its requirement ID, changes nothing it must
not, breaks the device (DEVICE_NEEDS_RESET, never a crash) and a reset brings it back."""

from __future__ import annotations

import pytest
from virtiospec.reference.access import run, store
from virtiospec.reference.ring import SplitLayout
from virtiospec.reference.shm.errors import RegionOutOfBounds
from virtiospec.reference.stack.net_driver import (
    CONFIG_VECTOR,
    DRIVER_FEATURES,
    MSI_ADDRESS,
    MSI_DATA,
)
from virtiospec.reference.stack.net_function import ring_span
from virtiospec.reference.stack.net_stack import Stack, StackOptions
from virtiospec.reference.stack.rings import DeviceRing, checked
from virtiospec.reference.stack.traffic import run_traffic
from virtiospec.reference.stack.transport import WideTransport
from virtiospec.reference.virtio_pci.init import VirtioPciDriver
from virtiospec.reference.virtio_pci.regs import DEVICE_NEEDS_RESET, DRIVER_OK

Q = 16


def up(**options: object) -> Stack:
    stack = Stack(StackOptions(queue_size=Q, **options))  # type: ignore[arg-type]
    stack.bring_up()
    return stack


def negotiated() -> tuple[Stack, WideTransport, VirtioPciDriver]:
    """A driver that has negotiated (steps 1-6) and mapped MSI-X, nothing more."""
    s = Stack(StackOptions(queue_size=Q))
    t = s.driver.probe()
    v = VirtioPciDriver(t, DRIVER_FEATURES)
    run(v.negotiate(), s.driver.mem)
    t.msix_program([(MSI_ADDRESS, MSI_DATA + n) for n in range(4)])
    run(t.map_vector("config_msix_vector", CONFIG_VECTOR), s.driver.mem)
    return s, t, v


def broken(s: Stack, req: str) -> None:
    """The device says DEVICE_NEEDS_RESET for ``req`` and the driver heard of it."""
    assert s.function.status & DEVICE_NEEDS_RESET
    assert getattr(s.function.error, "req", None) == req, s.function.error
    s.deliver_interrupts()  # the configuration change notification (VIRTIO-STATUS-004)
    assert s.driver.needs_reset


def recovers(s: Stack) -> None:
    """A reset and a fresh bring-up: traffic is exactly-once again."""
    if s.driver.net is None:
        s.bring_up()
    else:
        s.reset()
    assert not s.function.status & DEVICE_NEEDS_RESET
    assert run_traffic(s, 40, 100).ok


def placements(base: int, length: int) -> dict[str, tuple[list[SplitLayout], str]]:
    """Queue placements a hostile driver writes, and the requirement each breaks."""
    span = ring_span(Q)
    inside = SplitLayout.packed_at(base, Q)
    return {
        "in guest RAM": ([SplitLayout.packed_at(0x20_0000, Q)], "SHM-RING-001"),
        "across the region's end": ([SplitLayout.packed_at(base + length - 64, Q)],
                                    "SHM-REGION-007"),
        "not packed": ([SplitLayout(Q, inside.desc, inside.avail + 0x40, inside.used + 0x40)],
                       "SHM-RING-005"),
        "overlapping": ([inside, SplitLayout.packed_at(base + span // 2 & ~15, Q)],
                        "SHM-RING-005"),
    }


@pytest.mark.req("SHM-RING-001", "SHM-RING-005", "SHM-REGION-007", "VIRTIO-STATUS-004",
                 "RING-SPLIT-084")
@pytest.mark.parametrize("case", ["in guest RAM", "across the region's end", "not packed",
                                  "overlapping"])
def test_a_queue_outside_its_place_breaks_the_device_not_the_machine(case: str) -> None:
    s, t, v = negotiated()
    base, length = t.structures.shm[0]
    layouts, req = placements(base, length)[case]
    for index, layout in enumerate(layouts):
        run(t.setup_queue(index, layout, 1 + index), s.driver.mem)
    region = s.function.window.snapshot()
    ram = s.machine.ram.read_bytes(0x20_0000, 0x1000)
    run(v.go_live(), s.driver.mem)
    assert s.function.status & DRIVER_OK
    broken(s, req)
    refused = len(layouts) - 1  # an overlap refuses the second queue only
    assert s.function.queues[refused].ring is None
    assert s.machine.ram.read_bytes(0x20_0000, 0x1000) == ram
    if refused == 0:
        assert s.function.window.snapshot() == region  # no memory touched for it
    recovers(s)


@pytest.mark.req("SHM-RING-002", "SHM-RING-007", "SHM-SIGNAL-001", "VIRTIO-STATUS-004")
@pytest.mark.parametrize(("field", "value", "req"), [
    ("used.idx", 5, "SHM-RING-002"),
    ("used ring", 0xDEAD, "SHM-RING-002"),
    ("avail_event", 1, "SHM-RING-002"),
    ("kick.enabled", 1, "SHM-SIGNAL-001"),
    ("call.pending", 1, "SHM-SIGNAL-001"),
])
def test_a_driver_store_to_what_the_device_owns_changes_nothing(field: str, value: int,
                                                                req: str) -> None:
    s = up()
    lay = s.driver.rings[0].shm_layout
    addr, size = {"used.idx": (lay.ring.used_idx, 2), "used ring": (lay.ring.used_ring(3), 4),
                  "avail_event": (lay.ring.avail_event, 2),
                  "kick.enabled": (lay.region.base + lay.kick.enabled, 4),
                  "call.pending": (lay.region.base + lay.call.pending, 4)}[field]
    before = s.function.window.snapshot()
    s.machine.mem_write(addr, size, value)  # a raw MMIO store, past every driver-side check
    assert s.function.window.snapshot() == before
    assert s.counters.shm.driver_refused == 1 and s.counters.shm.refused[req] == 1
    broken(s, req)
    recovers(s)


@pytest.mark.req("SHM-REGION-007", "SHM-RING-001")
def test_a_ring_access_outside_the_region_is_refused_before_it_is_made() -> None:
    s = up()
    ring = s.driver.rings[1]
    region = ring.shm_layout.region
    before = s.function.window.snapshot()
    writes = s.counters.pci.bar_writes.copy()
    op = checked(store(region.end - 2, 4, 0xDEAD_BEEF), ring.shm_layout, "driver",
                 s.counters.shm)
    with pytest.raises(RegionOutOfBounds) as err:
        run(op, s.driver.mem)
    assert err.value.req == "SHM-REGION-007"
    assert s.counters.pci.bar_writes == writes  # nothing reached the bus
    assert s.function.window.snapshot() == before
    # the device's own accesses are checked the same way
    with pytest.raises(RegionOutOfBounds):
        s.function.device_memory.write(region.end - 4, 8, 0xDEAD_BEEF)
    assert s.function.window.snapshot() == before
    assert s.counters.shm.refused["SHM-REGION-007"] == 2
    assert not s.function.status & DEVICE_NEEDS_RESET  # refused on each side, device fine
    assert run_traffic(s, 20, 100).ok


@pytest.mark.req("RING-SPLIT-082", "RING-SPLIT-084", "SHM-RING-001", "VIRTIO-STATUS-004",
                 "NET-062")
def test_a_buffer_in_the_region_is_not_guest_memory() -> None:
    s = up()
    ring = s.driver.rings[1]  # transmitq1
    device_ring = s.function.queues[1].ring
    assert isinstance(device_ring, DeviceRing)
    target = ring.shm_layout.region.base + ring.shm_layout.offset  # its own descriptor table
    run(ring.add([(target, 64)], [], "hostile"), s.driver.mem)
    before = s.function.window.snapshot()[ring.shm_layout.offset:][:64]
    used = device_ring.used_idx
    assert run(ring.kick_prepare(), s.driver.mem)
    if run(ring.kick.inject(), s.driver.mem):
        assert s.driver.virtio is not None
        run(s.driver.virtio.notify(1, s.driver.notify_at[1]), s.driver.mem)
    s.pump()
    broken(s, "RING-SPLIT-082")
    assert device_ring.used_idx == used  # the chain was not used
    assert s.function.window.snapshot()[ring.shm_layout.offset:][:64] == before
    assert s.wire == []
    recovers(s)
