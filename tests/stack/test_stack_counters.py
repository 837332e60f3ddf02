"""The per-layer counters of the full stack (reference/stack): each layer counts on its own,
and the counts agree across layers; a masked MSI-X vector shows that the comparison is not a
tautology."""

from __future__ import annotations

import copy

import pytest
from virtiospec.reference.stack.checks import cross_layer
from virtiospec.reference.stack.net_stack import Stack, StackOptions
from virtiospec.reference.stack.traffic import RX, frame, run_traffic
from virtiospec.reference.virtio_pci.device import MSIX_BAR, SHM_BAR, STRUCT_BAR


def up(**options: object) -> Stack:
    stack = Stack(StackOptions(**options))  # type: ignore[arg-type]
    stack.bring_up()
    return stack


@pytest.mark.req("SHM-RING-003", "SHM-RING-006", "VIRTIO-PCI-030", "VIRTIO-PCI-042",
                 "NET-061", "NET-060", "PCI-CFG-011", "SHM-SIGNAL-011")
@pytest.mark.parametrize(("pairs", "event_idx"), [(1, True), (2, False), (3, True)])
def test_counters_agree_across_layers(pairs: int, event_idx: bool) -> None:
    s = up(pairs=pairs, queue_size=16, event_idx=event_idx)
    result = run_traffic(s, 150, 100, flap=True)
    assert result.ok
    failed = [c for c in cross_layer(s) if not c.ok]
    assert not failed, failed
    c = s.counters
    ctrl = s.net.ctrl_q
    tx = [q for i, q in c.queues.items() if i != ctrl and i % 2]
    rx = [q for i, q in c.queues.items() if i != ctrl and not i % 2]
    # ring buffers used == net frames, both ways
    assert sum(q.used for q in tx) == sum(p.tx_frames for p in c.pairs.values()) == 150
    assert sum(q.used for q in rx) == sum(p.rx_frames for p in c.pairs.values()) == 150
    # MSI-X messages == interrupts the rings did not suppress (through the call signals)
    sent = s.function.msix_table.sent  # type: ignore[union-attr]
    call = c.shm.signals("call")
    assert len(sent) == call["delivered"] + c.virtio_pci.config_interrupts
    assert call["injected"] == sum(q.interrupts for q in c.queues.values())
    # notify writes == kicks the rings decided on, less those the kick signals coalesced
    kick = c.shm.signals("kick")
    assert c.virtio_pci.notify_writes == kick["delivered"]
    assert kick["injected"] == sum(q.kicks for q in c.queues.values())
    assert kick["delivered"] + kick["coalesced"] + kick["receiver_disabled"] == kick["injected"]
    if not event_idx:
        assert kick["coalesced"] > 0  # the device had not acknowledged the previous kick yet
    assert c.virtio_pci.config_interrupts == 2  # link down, link up
    assert c.pci.bar_reads[SHM_BAR] == c.shm.driver_loads > 0


@pytest.mark.req("PCI-CFG-001", "VIRTIO-PCI-030", "SHM-REGION-004", "SHM-RING-006")
def test_the_data_path_touches_only_notify_registers_and_the_region() -> None:
    s = up(pairs=2, queue_size=16)
    before = copy.deepcopy(s.counters)
    run_traffic(s, 100, 100)
    after = s.counters
    assert after.pci.config_reads == before.pci.config_reads  # enumeration only
    assert after.pci.config_writes == before.pci.config_writes
    assert after.pci.bar_writes[MSIX_BAR] == before.pci.bar_writes[MSIX_BAR]  # bring-up only
    assert after.pci.bar_reads[STRUCT_BAR] == before.pci.bar_reads[STRUCT_BAR]
    notifies = after.virtio_pci.notify_writes - before.virtio_pci.notify_writes
    assert after.pci.bar_writes[STRUCT_BAR] - before.pci.bar_writes[STRUCT_BAR] == notifies > 0
    assert after.pci.bar_reads[SHM_BAR] - before.pci.bar_reads[SHM_BAR] == \
        after.shm.driver_loads - before.shm.driver_loads > 0
    assert after.pci.bar_writes[SHM_BAR] - before.pci.bar_writes[SHM_BAR] == \
        after.shm.driver_stores - before.shm.driver_stores > 0
    assert after.virtio_pci.status_writes == before.virtio_pci.status_writes


@pytest.mark.req("PCI-CFG-011", "VIRTIO-PCI-042")
def test_a_masked_vector_holds_its_message_and_the_check_sees_it() -> None:
    s = up(queue_size=16)
    t = s.driver.transport
    assert t is not None
    t.msix_control(enable=True, function_mask=True)
    s.inject(frame(0, 100, RX, s.net.mac))
    s.pump()
    assert s.received() == []  # the device delivered, the driver was not told
    bad = {c.name for c in cross_layer(s) if not c.ok}
    assert bad == {"queue interrupts = MSI-X queue messages",
                   "frames delivered by the device = frames received by the driver",
                   "rx buffers used = rx buffers taken back"}
    t.msix_control(enable=True)  # unmasked: the pending message is sent, never dropped
    s.pump()
    assert [f.frame for f in s.received()] == [frame(0, 100, RX, s.net.mac)]
    assert all(c.ok for c in cross_layer(s))


@pytest.mark.req("VIRTIO-STATUS-008", "VIRTIO-STATUS-005")
def test_bring_up_and_reset_are_counted_as_status_transitions() -> None:
    s = up(queue_size=8)
    vp = s.counters.virtio_pci
    # reset (0 -> 0 is no transition), ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK
    assert (vp.resets, vp.status_writes, vp.status_transitions) == (1, 5, 4)
    s.reset()
    assert (vp.resets, vp.status_transitions) == (3, 9)  # the reset, then bring-up's own
