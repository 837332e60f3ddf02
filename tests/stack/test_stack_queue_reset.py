"""One queue reset with frames in flight in the whole stack (issue 16, item 2: queue enable
and disable racing traffic; reference/stack, models/stack/net.py): the stack's driver resets
rx0 or tx0 alone (VIRTIO_F_RING_RESET), takes its buffers back, enables it again, and the
traffic goes on; the two known-bad variants of it are caught by the stack machine."""

from __future__ import annotations

import pytest
from stack_rounds import reach
from virtiospec.models import registry
from virtiospec.models.machine_base import bind
from virtiospec.models.stack import net_layers as nl
from virtiospec.models.stack import net_resets as nr
from virtiospec.reference.access import run
from virtiospec.reference.net.driver import NetDriverLines
from virtiospec.reference.shm.c.stepped import CSignalReceiver, CSignalSender
from virtiospec.reference.shm.signal import SignalReceiver
from virtiospec.reference.stack.net_backend import NetBackendLines
from virtiospec.reference.stack.net_stack import Stack, StackOptions
from virtiospec.reference.stack.rings import DeviceRing
from virtiospec.reference.stack.traffic import RX, TX, Tally, frame

SIZE = 64


def _stack() -> Stack:
    stack = Stack(StackOptions(pairs=2, queue_size=4, ring_reset=True))
    stack.bring_up()
    return stack


def test_a_queue_reset_with_frames_in_flight_loses_and_repeats_nothing() -> None:
    stack = _stack()
    mac = stack.net.mac
    wire, got = Tally(TX, SIZE, mac), Tally(RX, SIZE, mac)
    for k in range(3):  # in the rings, not yet served
        stack.send(frame(8 * k, SIZE, TX, mac))
        stack.inject(frame(8 * k, SIZE, RX, mac))
    tx_out = stack.net.queues[1].outstanding
    assert tx_out == 3
    stack.driver.reset_queue(1)  # tx0, its three frames in flight
    assert stack.net.stats.tx_requeued == 3
    stack.driver.reset_queue(0)  # rx0, its buffers posted and unused
    stack.pump()
    for k in range(3, 9):
        stack.send(frame(8 * k, SIZE, TX, mac))
        stack.inject(frame(8 * k, SIZE, RX, mac))
    stack.pump()
    for pair, data in stack.wire:
        wire.record(pair, data)
    for rx in stack.received():
        got.record(rx.pair, rx.frame)
    for tally in (wire, got):
        assert tally.intact == 9 and not tally.corrupted and not tally.duplicated()
        assert not tally.out_of_order
    net = stack.net
    assert net.tx_pool.count - len(net.tx_pool.free) == net.queues[1].outstanding == 0
    assert net.rx_pool.count - len(net.rx_pool.free) == sum(
        net.queues[i].outstanding for i in (0, 2))
    assert stack.counters.virtio_pci.queue_resets == 2
    assert stack.function.live and not stack.driver.faults


def test_the_reset_queue_reads_as_the_spec_says_and_is_placed_again() -> None:
    stack = _stack()
    t = stack.driver.transport
    assert t is not None
    stack.send(frame(0, SIZE, TX, stack.net.mac))
    run(t.reset_queue(1), stack.driver.mem)  # VIRTIO-PCI-102: both read 0 once done
    assert run(t.read("queue_reset"), stack.driver.mem) == 0
    assert run(t.read("queue_enable"), stack.driver.mem) == 0
    assert 1 not in stack.function.layouts  # its place in the region is free again
    assert stack.backend.net is not None and 1 not in stack.backend.net.queues
    stack.net.take_back_queue(1)
    ring = stack.driver.rings.pop(1)
    assert ring.outstanding == 1  # the driver's old ring: forgotten, its buffer taken back
    assert stack.net.pending[0].frames and stack.net.tx_pool.count == len(stack.net.tx_pool.free)


def test_the_switches_are_the_protocol() -> None:
    assert NetBackendLines().forget_ring_at_queue_reset
    assert not nl.BackendKeepsOldRing.lines.forget_ring_at_queue_reset
    assert NetDriverLines().take_back_at_reset


@pytest.mark.parametrize("mode", ["sc", "tso"])
def test_the_stack_with_queue_resets_passes(mode: str) -> None:
    keys = ["queue resets", "queue resets with buffers in flight", "frames sent",
            "frames to the driver"]
    seen = reach(lambda: nr.run_stack_net(
        nl.StackNetConfig(mode=mode, queue_resets=1), 15), keys)  # type: ignore[arg-type]
    for key in keys:
        assert seen[key] > 0, key


def test_the_registered_checks_reset_queues() -> None:
    registry.discover()
    for mode in ("sc", "tso"):
        assert "VIRTIO-VQRESET-002" in registry.CHECKS[f"stack.net.{mode}"].reqs


@pytest.mark.parametrize("name", ["stack.net.mutant.virtio_pci.queue_reset_keeps_old_ring",
                                  "stack.net.mutant.net.driver_forgets_reset_queue"])
def test_the_queue_reset_variants_are_caught(name: str) -> None:
    registry.discover()
    ev = registry.MUTANTS[name].run()
    assert ev.ok, ev.detail
    assert ev.detail.startswith("violation: ")


# -- the device's signals in C (shm.c), the driver's in Python ---------------------------------

def test_the_device_signals_are_shm_c_after_a_queue_reset_too() -> None:
    cls = bind("CShmByHand", (nr.StackNetQueueResetMachine,),
               nl.StackNetConfig(mode="sc", c_shm=True, queue_resets=1))
    m = cls()
    m.setup(q=2)
    try:
        def c_signals() -> list[bool]:
            return [isinstance(q.ring.kick, CSignalReceiver)
                    and isinstance(q.ring.call, CSignalSender)
                    for q in m.stack.function.queues if isinstance(q.ring, DeviceRing)]
        assert c_signals() and all(c_signals())
        assert all(type(r.call) is SignalReceiver for r in m.stack.driver.rings.values())
        m.driver_queue_reset(nl.TX0, "finish")
        m.accounting()
        assert all(c_signals())
        m.driver_send("finish")
        m._finale()
        assert m.wire.intact == 1
        assert m.stack.counters.shm.signals("kick")["acknowledged"] > 0
    finally:
        m.teardown()


@pytest.mark.parametrize("mode", ["sc", "tso"])
def test_the_stack_with_the_device_signals_in_c_passes(mode: str) -> None:
    ev = nr.run_stack_net(nl.StackNetConfig(mode=mode, c_shm=True, queue_resets=1),  # type: ignore[arg-type]
                          10, derandomize=True)
    assert ev.ok, ev.detail
    assert ev.stats.get("frames sent", 0) > 0 and ev.stats.get("frames to the driver", 0) > 0


@pytest.mark.parametrize("name", ["stack.net.mutant.shm.c_receiver_no_recheck"])
def test_the_c_shm_variants_are_caught(name: str) -> None:
    registry.discover()
    assert {"stack.net.c_shm.sc", "stack.net.c_shm.tso"} <= set(registry.CHECKS)
    ev = registry.MUTANTS[name].run()
    assert ev.ok, ev.detail
    assert ev.detail.startswith("violation: SHM-RING-004")
