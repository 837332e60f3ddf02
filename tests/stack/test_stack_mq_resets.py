"""Two queue pairs and queue resets of any queue, any number of times, in the whole stepped
stack (issue 16: models/stack/net_resets.py), with the device's rings in Python and in ring.c
(every ring the device builds after a reset C from its creation); the planted variants that
only these runs reach are caught."""

from __future__ import annotations

import pytest
from stack_rounds import reach
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import Violation
from virtiospec.models.machine_base import bind
from virtiospec.models.memory.tso import Mode
from virtiospec.models.stack import net as sn
from virtiospec.models.stack import net_layers as nl
from virtiospec.models.stack import net_resets as nr
from virtiospec.reference.net.driver import RxFrame
from virtiospec.reference.net.header import NetHdr
from virtiospec.reference.stack.rings import DeviceRing
from virtiospec.reference.stack.traffic import RX, TX, frame

NEW_CHECKS = ("stack.net.mq.sc", "stack.net.mq.tso", "stack.net.c_device.reset.sc",
              "stack.net.c_device.reset.tso")
NEW_VARIANTS = ("stack.net.mutant.virtio_pci.queue_reset_of_pair0",
                "stack.net.mutant.net.driver_keeps_used_at_queue_reset",
                "stack.net.mutant.c_ring.queue_reset_keeps_indices",
                "stack.net.mutant.net.device_transmits_newest_first")


def _machine(**kw: object) -> nr.StackNetMQMachine:
    cls = bind("MQByHand", (nr.StackNetMQMachine,),
               nl.StackNetConfig(mode="sc", mq=True, queue_resets=nr.QUEUES[-1] + 20,
                                 **kw))  # type: ignore[arg-type]
    m = cls()
    m.setup(q=2)
    return m


def _device_rings(m: nr.StackNetMQMachine) -> dict[int, DeviceRing]:
    return {i: q.ring for i, q in enumerate(m.stack.function.queues)
            if isinstance(q.ring, DeviceRing)}


def test_the_new_checks_and_variants_are_registered() -> None:
    registry.discover()
    for name in NEW_CHECKS:
        assert name in registry.CHECKS
        assert {"NET-062", "VIRTIO-VQRESET-002", "NET-039"} <= set(registry.CHECKS[name].reqs)
    for name in NEW_VARIANTS:
        assert name in registry.MUTANTS
    assert {row[0] for row in sn.PLANTED} >= set(NEW_VARIANTS)


def test_each_queue_reset_three_times_with_frames_in_flight_both_pairs() -> None:
    m = _machine()
    try:
        for _ in range(3):
            for index in nr.QUEUES:
                m.driver_send("finish")
                m.wire_frame()
                m.driver_queue_reset(index, "finish")
                m.accounting()  # NET-062: every buffer free or in a live queue, after each
                m.device_service("finish")
                m.accounting()
        m._finale()
        assert m.qresets == 3 * len(nr.QUEUES)
        assert m.reset_seen == set(nr.QUEUES)
        assert m.wire.intact == m.sent == 15 and m.got.intact == m.accepted == 15
        assert set(m.wire.per_queue) == set(m.got.per_queue) == {0, 1}  # both pairs
        assert m.stack.counters.virtio_pci.queue_resets == 15
    finally:
        m.teardown()


def test_the_pairs_come_back_after_a_device_reset() -> None:
    m = _machine()
    try:
        m.driver_reset("finish")
        m.accounting()
        m.device_service("finish")
        m.accounting()
        assert m.stack.net.pairs_in_use == 1 and m._fewer_pairs()
        m.driver_set_pairs("finish")
        for _ in range(4):
            if m._device_may_serve():
                m.device_service("finish")
            while m.stack.machine.msi_messages:
                m.driver_interrupt("finish")
            m.accounting()
        assert m.stack.net.pairs_in_use == 2
        assert m.stack.backend.net is not None and m.stack.backend.net.pairs_in_use == 2
    finally:
        m.teardown()


def test_every_ring_the_c_device_builds_is_c_from_its_creation() -> None:
    m = _machine(c_device=True)
    try:
        assert all(isinstance(r, nl.CDeviceOps) for r in _device_rings(m).values())
        m.driver_send("finish")
        m.driver_queue_reset(nl.TX1, "finish")  # no accounting: nothing replanted since
        assert isinstance(_device_rings(m)[nl.TX1], nl.CDeviceOps)
        m.driver_reset("finish")
        rings = _device_rings(m)
        assert len(rings) == 5 and all(isinstance(r, nl.CDeviceOps) for r in rings.values())
        m.accounting()
        m._finale()
    finally:
        m.teardown()


@pytest.mark.parametrize("keeps", [False, True])
def test_the_c_ring_of_a_reset_queue_starts_at_zero_unless_planted(keeps: bool) -> None:
    m = _machine(c_device=True, c_keeps_indices=keeps)
    try:
        m.driver_send("finish")
        m.device_service("finish")
        m.accounting()
        old = _device_rings(m)[nl.TX0]
        assert isinstance(old, nl.CDeviceOps) and old.c.last_avail == 1
        m.driver_queue_reset(nl.TX0, "finish")
        new = _device_rings(m)[nl.TX0]
        assert isinstance(new, nl.CDeviceOps) and new is not old
        assert (new.c.last_avail, new.c.used_idx) == ((1, 1) if keeps else (0, 0))
        m.driver_send("finish")
        if keeps:  # the device takes the new frame at avail.idx 1 for the old one: stranded
            with pytest.raises(Violation, match="SHM-RING-004"):
                m._finale()
        else:
            m._finale()
            assert m.wire.intact == 2
    finally:
        m.teardown()


@pytest.mark.parametrize("mode", ["sc", "tso"])
def test_the_mq_stack_passes(mode: Mode) -> None:
    keys = ["frames on the wire from tx1", "frames received on rx1", "queue resets of tx1"]
    if mode == "sc":  # SC runs are longer: they reach every queue's reset, and one again
        keys += ["queue resets of rx1", "queue resets of ctrl",
                 "queues reset again in the same run"]
    seen = reach(lambda: nr.run_stack_net(
        nl.StackNetConfig(mode=mode, mq=True, queue_resets=60), 25), keys)
    for key in keys:
        assert seen[key] > 0, key


def test_the_c_device_stack_with_resets_passes() -> None:
    ev = nr.run_stack_net(nl.StackNetConfig(mode="tso", mq=True, c_device=True,
                                            queue_resets=60), 8, derandomize=True)
    assert ev.ok, ev.detail
    assert ev.stats.get("queue resets with buffers in flight", 0) > 0


@pytest.mark.parametrize("name", NEW_VARIANTS)
def test_the_new_variants_are_caught(name: str) -> None:
    registry.discover()
    ev = registry.MUTANTS[name].run()
    assert ev.ok, ev.detail
    assert ev.detail.startswith("violation: ")


def test_the_transmit_order_is_checked_per_queue_as_placed() -> None:
    m = _machine()
    try:
        m.placed[1] = [6, 12]  # as if the driver had placed 6, then 12, on tx1
        m._on_wire(1, frame(12, nl.SIZE, TX, m.mac))
        with pytest.raises(Violation, match=r"NET-060: order per queue: frame 12 .* before 6"):
            m.accounting()
    finally:
        m.failed = True
        m.teardown()


def test_the_receive_order_is_checked_per_queue_as_taken_from_the_wire() -> None:
    m = _machine()
    try:
        m.wire_frame()  # seq 4, class 4: steered to rx1
        m.wire_frame()  # seq 7, class 7: rx1 too
        assert m.steered == {0: [], 1: [4, 7]}
        m.stack.net.inbox.append(RxFrame(1, frame(7, nl.SIZE, RX, m.mac), NetHdr(), 1))
        with pytest.raises(Violation, match=r"NET-060: order per queue: frame 7 received on rx1"):
            m.accounting()
    finally:
        m.failed = True
        m.teardown()
