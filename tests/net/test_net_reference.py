"""The reference device and driver together, in one process (reference/net/pair.py)."""

from __future__ import annotations

import pytest
from virtiospec.reference.net import ctrl as C
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.config import OFF_QUEUE_CLASSES, OFF_STATUS, NetConfig
from virtiospec.reference.net.errors import NetError
from virtiospec.reference.net.pair import NetPair

PEER = b"\x02\x00\x00\x00\x00\x99"


def to_driver(p: NetPair, payload: bytes, pcp: int | None = None, dst: bytes | None = None,
              sport: int = 7) -> bytes:
    return FR.udp_frame(PEER, dst or p.driver.mac, "10.0.0.9", "10.0.0.1", sport, 9, payload,
                        pcp)


def from_driver(p: NetPair, payload: bytes, pcp: int | None = None, dport: int = 7) -> bytes:
    return FR.udp_frame(p.driver.mac, PEER, "10.0.0.1", "10.0.0.9", 9, dport, payload, pcp)


@pytest.mark.req("NET-001", "NET-060")
def test_frames_pass_both_ways_in_order() -> None:
    p = NetPair()
    sent = [from_driver(p, f"tx {i}".encode()) for i in range(40)]
    for f in sent:
        p.driver.send(f)
    assert [f for _, f in p.device.transmitted] == sent
    got = [to_driver(p, f"rx {i}".encode()) for i in range(40)]
    for f in got:
        assert p.inject(f)
    assert [r.frame for r in p.driver.inbox] == got
    assert all(r.hdr.num_buffers == 1 and r.hdr.flags == 0 for r in p.driver.inbox)


@pytest.mark.req("NET-011", "NET-014")
@pytest.mark.parametrize("size", [12, 13, 64, 100, 1526])
def test_mergeable_buffers_reassemble(size: int) -> None:
    p = NetPair(rx_buf_size=size, queue_size=256)
    frames = [to_driver(p, bytes([n % 256]) * n) for n in (0, 1, 50, 500, 1472)]
    for f in frames:
        p.inject(f)
    got = p.driver.inbox
    assert [r.frame for r in got] == frames
    for r in got:
        assert r.buffers == r.hdr.num_buffers == -(-(12 + len(r.frame)) // size)


@pytest.mark.req("NET-010", "NET-013")
def test_without_mrg_one_buffer_per_frame() -> None:
    p = NetPair(wanted=~F.bit(F.MRG_RXBUF))
    assert not F.has(p.features, F.MRG_RXBUF)
    p.inject(to_driver(p, b"y" * 1472))
    (r,) = p.driver.inbox
    assert r.buffers == 1 and r.hdr.num_buffers == 1
    with pytest.raises(ValueError, match="NET-013"):
        NetPair(wanted=~F.bit(F.MRG_RXBUF), rx_buf_size=1000)


@pytest.mark.req("NET-017")
def test_device_waits_for_buffers_instead_of_dropping() -> None:
    p = NetPair(queue_size=4, auto=False)
    frames = [to_driver(p, bytes([i])) for i in range(10)]
    for f in frames:
        assert p.device.receive(f)
    got: list[bytes] = []
    while len(got) < 10:
        n = p.device.deliver(0)
        assert n <= 4  # only as many as the driver has buffers for
        got += [r.frame for r in p.driver.receive(0)]  # receive() reposts the buffers
    assert got == frames
    assert p.device.waiting == 0


@pytest.mark.req("NET-009", "NET-004")
def test_checksum_offload_end_to_end() -> None:
    p = NetPair()
    frame = from_driver(p, b"checksum me")
    p.driver.send(frame, csum=True)
    ((_, wire),) = p.device.transmitted
    assert wire == frame and FR.checksum_ok(wire)
    p2 = NetPair(wanted=~F.bit(F.CSUM))
    with pytest.raises(NetError) as err:
        p2.driver.send(frame, csum=True)
    assert err.value.req == "NET-003"


@pytest.mark.req("NET-021", "NET-023", "NET-026")
def test_link_flap_is_announced_and_holds_frames() -> None:
    p = NetPair()
    assert p.driver.link_up
    p.config.set_link(False)
    assert p.config_notifications == 1 and p.driver.stats.config_changes == 1
    assert not p.driver.link_up
    assert p.config.read(OFF_STATUS, 2) & 1 == 0
    p.driver.send(from_driver(p, b"while down"))
    p.inject(to_driver(p, b"while down"))
    assert p.device.transmitted == [] and p.driver.inbox == []
    p.config.set_link(True)
    p.device.poll()
    p.pump()
    assert [f for _, f in p.device.transmitted] == [from_driver(p, b"while down")]
    assert [r.frame for r in p.driver.inbox] == [to_driver(p, b"while down")]


@pytest.mark.req("NET-032", "NET-034", "NET-035", "NET-036")
def test_receive_filter_follows_control_commands() -> None:
    p = NetPair()
    other = b"\x02\x00\x00\x00\x00\x42"
    mcast = b"\x01\x00\x5e\x00\x00\x01"
    assert not p.inject(to_driver(p, b"1", dst=other))
    assert p.inject(to_driver(p, b"2", dst=FR.BROADCAST))
    assert p.driver.set_mac_table([other], [mcast]) == C.OK
    assert p.inject(to_driver(p, b"3", dst=other))
    assert p.inject(to_driver(p, b"4", dst=mcast))
    assert not p.inject(to_driver(p, b"5", dst=b"\x01\x00\x5e\x00\x00\x02"))
    assert p.driver.set_allmulti(True) == C.OK
    assert p.inject(to_driver(p, b"6", dst=b"\x01\x00\x5e\x00\x00\x02"))
    assert p.driver.set_mac_table([], []) == C.OK
    assert not p.inject(to_driver(p, b"7", dst=other))
    assert p.driver.set_promisc(True) == C.OK
    assert p.inject(to_driver(p, b"8", dst=other))
    new = b"\x02\x00\x00\x00\x00\x77"
    assert p.driver.set_mac(new) == C.OK
    assert p.config.mac == new and p.driver.mac == new
    assert [r.frame[-1:] for r in p.driver.inbox] == [b"2", b"3", b"4", b"6", b"8"]
    p.reset()  # NET-034: the table is empty again, promiscuous mode off
    assert not p.device.filter.promisc and p.device.filter.unicast == []


@pytest.mark.req("NET-031", "NET-030")
@pytest.mark.parametrize("command", [
    b"", b"\x00", bytes([C.CLASS_RX, C.RX_PROMISC]), bytes([C.CLASS_RX, C.RX_PROMISC, 2]),
    bytes([C.CLASS_RX, C.RX_NOBCAST, 1]), bytes([C.CLASS_MAC, C.MAC_TABLE_SET]),
    bytes([C.CLASS_MAC, C.MAC_TABLE_SET]) + b"\xff\xff\xff\xff",
    C.mac_table([], []) + b"\0", C.mac_table([b"\x01" * 6], []),
    bytes([C.CLASS_MAC, C.MAC_ADDR_SET]) + b"\x01" * 6, bytes([C.CLASS_MQ, 0, 1, 0]),
    bytes([9, 9]), bytes([C.CLASS_VLAN, 0, 1, 0]),
])
def test_bad_commands_answered_err_and_change_nothing(command: bytes) -> None:
    p = NetPair()
    before = (p.device.filter, p.config.mac)
    assert p.driver.command(command) == C.ERR
    assert (p.device.filter, p.config.mac) == before
    assert p.device.faults and getattr(p.device.faults[-1], "req", "").startswith("NET-03")
    assert p.driver.set_promisc(True) == C.OK  # and the device goes on


@pytest.mark.req("NET-033", "NET-037")
def test_driver_does_not_send_commands_it_may_not() -> None:
    p = NetPair(wanted=~F.bit(F.CTRL_RX))
    with pytest.raises(NetError) as err:
        p.driver.set_promisc(True)
    assert err.value.req == "NET-033"
    q = NetPair(NetConfig(max_pairs=2))
    for n in (0, 3):
        with pytest.raises(NetError) as err:
            q.driver.set_pairs(n)
        assert err.value.req == "NET-037"


@pytest.mark.req("NET-038", "NET-039", "NET-040")
def test_multiqueue_steering_follows_transmit_queue() -> None:
    p = NetPair(NetConfig(max_pairs=4), wanted=~F.bit(F.VIRTIOSPEC_NET_F_QUEUE_CLASSES))
    flows = [(7, 1000 + i) for i in range(12)]
    for _, port in flows:  # before VQ_PAIRS_SET: everything on pair 0
        p.inject(to_driver(p, b"early", sport=port))
    assert {r.pair for r in p.driver.inbox} == {0}
    with pytest.raises(NetError):
        p.driver.send(from_driver(p, b"x"), pair=1)
    assert p.driver.set_pairs(4) == C.OK
    chosen = {port: p.driver.send(from_driver(p, b"out", dport=port)) for _, port in flows}
    assert len(set(chosen.values())) > 1
    assert {q for q, _ in p.device.transmitted} == set(chosen.values())
    p.driver.inbox.clear()
    for _, port in flows:
        p.inject(to_driver(p, b"back", sport=port))
    assert [r.pair for r in p.driver.inbox] == [chosen[port] for _, port in flows]
    assert p.driver.set_pairs(1) == C.OK
    p.driver.inbox.clear()
    for _, port in flows:
        p.inject(to_driver(p, b"after", sport=port))
    assert {r.pair for r in p.driver.inbox} == {0}


@pytest.mark.req("NET-050", "NET-051", "NET-052", "NET-053", "NET-021")
def test_per_queue_priority() -> None:
    classes = [0b00000011, 0b00001100, 0b00110000, 0b11000000]
    p = NetPair(NetConfig(max_pairs=4, queue_classes=classes))
    assert F.has(p.features, F.VIRTIOSPEC_NET_F_QUEUE_CLASSES)
    assert [p.config.read(OFF_QUEUE_CLASSES + k, 1) for k in range(4)] == classes
    assert p.driver.queue_classes == classes
    assert p.driver.set_pairs(4) == C.OK
    for pcp in range(8):
        p.inject(to_driver(p, bytes([pcp]), pcp=pcp))
    assert [(r.pair, r.frame[-1]) for r in p.driver.inbox] == [(pcp // 2, pcp)
                                                               for pcp in range(8)]
    # transmit: the driver picks the queue of the class; the device drains the highest first
    p.auto = False
    for pcp in (0, 1, 2, 3, 4, 5, 6, 7, 0, 7):
        assert p.driver.send(from_driver(p, bytes([pcp]), pcp=pcp)) == pcp // 2
    p.device.process_tx()
    assert [f[-1] for _, f in p.device.transmitted] == [6, 7, 7, 4, 5, 2, 3, 0, 1, 0]
    # the host changes the classes: the driver hears of it and follows
    p.auto = True
    p.config.set_queue_classes([0b11000000, 0b00110000, 0b00001100, 0b00000011])
    assert p.driver.queue_classes == [0b11000000, 0b00110000, 0b00001100, 0b00000011]
    assert p.driver.send(from_driver(p, b"x", pcp=7)) == 0
    with pytest.raises(ValueError, match="NET-050"):
        p.config.set_queue_classes([1, 1, 0, 0])


@pytest.mark.req("NET-061", "NET-062", "NET-063", "NET-060")
def test_reset_in_flight_loses_and_duplicates_nothing() -> None:
    p = NetPair(queue_size=8, auto=False)
    tx = [from_driver(p, f"t{i}".encode()) for i in range(20)]
    for f in tx:
        p.driver.send(f)
    assert p.driver.tx_waiting == 12  # 8 in the ring, 12 pending
    p.device.tx_take(0)
    p.device.tx_take(0)
    p.device.tx_complete(0)
    p.device.tx_take(0)  # staged, not sent: forgotten at the reset
    rx = [to_driver(p, f"r{i}".encode()) for i in range(12)]
    for f in rx:
        p.device.receive(f)
    p.device.deliver(0)  # 8 delivered into buffers, the driver has not looked yet
    p.reset()
    assert p.driver.rx_pool.in_use == 8 and p.driver.tx_pool.in_use == 8  # all reposted
    p.auto = True
    p.device.poll()
    p.pump()
    while p.driver.tx_waiting or p.device.waiting:
        p.device.poll()
        for pair in range(1):
            p.driver.reap_tx(pair)
            p.driver.inbox += p.driver.receive(pair)
    assert [f for _, f in p.device.transmitted] == tx
    # the 8 frames pushed before the reset are read from the used ring at the recovery; the
    # other 4 waited on the wire (NET-063)
    assert [r.frame for r in p.driver.inbox] == rx
