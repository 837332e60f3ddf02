"""The full stack in one process (reference/stack): frames through PCI → virtio-pci →
virtio-shm → virtio-ring → virtio-net and back, with multiqueue priorities, a link flap and a
device reset with buffers in flight."""

from __future__ import annotations

import pytest
from virtiospec.reference.access import run
from virtiospec.reference.net import features as F
from virtiospec.reference.stack.checks import cross_layer
from virtiospec.reference.stack.net_stack import Stack, StackOptions
from virtiospec.reference.stack.traffic import RX, TX, frame, run_traffic, seq_of


def up(**options: object) -> Stack:
    stack = Stack(StackOptions(**options))  # type: ignore[arg-type]
    stack.bring_up()
    return stack


def seqs(frames: list[bytes]) -> list[int]:
    out = []
    for data in frames:
        got = seq_of(data)
        assert got is not None
        out.append(got[1])
    return out


@pytest.mark.req("NET-060", "SHM-RING-001", "SHM-RING-003", "SHM-RING-004", "VIRTIO-STATUS-008")
@pytest.mark.parametrize("event_idx", [True, False])
def test_frames_arrive_intact_and_in_order_both_ways(event_idx: bool) -> None:
    s = up(queue_size=16, event_idx=event_idx)
    mac = s.net.mac
    sent = [frame(n, 300, TX, mac) for n in range(100)]
    for n, data in enumerate(sent):
        s.send(data)
        if n % 7 == 6:
            s.pump()
    s.pump()
    assert [data for _, data in s.wire] == sent  # every byte, once, in order
    echoes = [frame(n, 300, RX, mac) for n in range(100)]
    for data in echoes:
        assert s.inject(data)
    s.pump()
    got = s.received()
    assert [f.frame for f in got] == echoes
    assert {f.pair for f in got} == {0}
    # the frames went through the rings on shm, one buffer each
    assert s.counters.queue(1).used == 100 and s.counters.queue(0).used == 100
    assert F.has(s.driver.virtio.features, F.RING_EVENT_IDX) == event_idx  # type: ignore[union-attr]


@pytest.mark.req("NET-050", "NET-051", "NET-052", "NET-053", "NET-039", "VIRTIO-FEAT-001")
def test_queue_classes_steer_and_prioritise_through_the_stack() -> None:
    s = up(pairs=2, queue_size=32)
    assert F.has(s.net.features, F.VIRTIOSPEC_NET_F_QUEUE_CLASSES)  # bit 95, select 2
    assert s.net.pairs_in_use == 2 and s.net.queue_classes == [0x0F, 0xF0]
    mac = s.net.mac
    low = [frame(n, 128, TX, mac) for n in range(0, 64, 8)]  # class 0: pair 0
    high = [frame(n, 128, TX, mac) for n in range(7, 64, 8)]  # class 7: pair 1
    for data in low + high:
        s.send(data)  # all available before the device runs
    s.pump()
    assert [pair for pair, _ in s.wire] == [1] * 8 + [0] * 8  # highest priority first
    assert [data for _, data in s.wire] == high + low
    for n in range(16):
        s.inject(frame(n, 128, RX, mac))
    s.pump()
    got = s.received()
    assert sorted(seqs([f.frame for f in got])) == list(range(16))
    assert all(f.pair == (1 if seq % 8 >= 4 else 0)
               for f, seq in zip(got, seqs([f.frame for f in got]), strict=True))


@pytest.mark.req("NET-026", "NET-021", "VIRTIO-PCI-042", "NET-060")
def test_link_flap_holds_frames_and_loses_none() -> None:
    s = up(queue_size=16)
    mac = s.net.mac
    s.link(False)
    s.pump()
    assert not s.net.link_up  # told through the configuration vector, read through generations
    assert s.counters.virtio_pci.config_interrupts == 1
    for n in range(10):
        s.send(frame(n, 100, TX, mac))
        s.inject(frame(n, 100, RX, mac))
    s.pump()
    assert s.wire == [] and s.received() == []
    s.link(True)
    s.pump()
    assert s.net.link_up
    assert seqs([data for _, data in s.wire]) == list(range(10))
    assert seqs([f.frame for f in s.received()]) == list(range(10))


@pytest.mark.req("NET-062", "NET-061", "NET-063", "VIRTIO-STATUS-005", "VIRTIO-STATUS-007")
def test_device_reset_mid_traffic_recovers_every_buffer() -> None:
    s = up(pairs=2, queue_size=16)
    mac = s.net.mac
    for n in range(10):
        s.send(frame(n, 200, TX, mac))
    for n in range(30):
        s.inject(frame(n, 200, RX, mac))
    s.backend.service()  # the device works; the driver has not yet handled its interrupts
    for n in range(10, 60):
        s.send(frame(n, 200, TX, mac))  # available, not consumed; the rest wait for room
    assert s.net.tx_pool.in_use and s.net.rx_pool.in_use and s.net.tx_waiting
    assert s.driver.virtio is not None
    run(s.driver.virtio.reset(), s.driver.mem)
    s.net.recover()
    # NET-062: every buffer back in the driver's hands before the queues are set up again
    assert (s.net.rx_pool.in_use, s.net.tx_pool.in_use, s.net.ctrl_pool.in_use) == (0, 0, 0)
    on_wire = seqs([data for _, data in s.wire])
    pending = seqs([data for p in s.net.pending for _, data, _ in p.frames])
    assert sorted(on_wire + pending) == list(range(60))  # each frame sent or waiting, once
    assert s.net.stats.tx_requeued > 0
    s.driver.bring_up()
    s.pump()
    s.set_pairs(2)
    s.pump()
    assert sorted(seqs([data for _, data in s.wire])) == list(range(60))  # NET-061
    assert sorted(seqs([f.frame for f in s.received()])) == list(range(30))  # NET-063
    assert s.net.tx_pool.in_use == 0
    assert all(c.ok for c in cross_layer(s)), [c for c in cross_layer(s) if not c.ok]


@pytest.mark.req("NET-060", "NET-026", "NET-062", "SHM-SIGNAL-011")
@pytest.mark.parametrize(("pairs", "event_idx"), [(1, False), (3, True)])
def test_traffic_with_flap_and_reset_is_exactly_once_in_order(pairs: int,
                                                              event_idx: bool) -> None:
    s = up(pairs=pairs, queue_size=16, event_idx=event_idx)
    result = run_traffic(s, 240, 150, flap=True, reset=True)
    assert result.ok, (result.tx, result.rx, result.flap)
    assert result.flap is not None and result.flap["sent_while_down"] > 0
    assert result.reset is not None
    for side in (result.tx, result.rx):
        assert side["intact"] == 240
    failed = [c for c in cross_layer(s) if not c.ok]
    assert not failed, failed
