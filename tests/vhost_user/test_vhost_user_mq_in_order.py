"""VIRTIO_F_IN_ORDER and VIRTIO_NET_F_MQ on our vhost-user device (issue 14).

* The in-order watch (reference/vhost_user/in_order.py) on hand-written split and packed
  rings: buffers used in the order made available pass; the known-bad variants -- two used
  elements swapped, a Buffer ID from a later list -- are caught with the ring and position
  (RING-SPLIT-094, RING-PACKED-093).
* Our device behind the Python front-end, both builds: IN_ORDER is offered and negotiated, the
  watch checks real traffic and finds nothing out of order.
* Steering (VHOST-USER-010, NET-040): a flow never transmitted goes to the pair its flow key
  hashes to, one transmitted goes to its transmit pair; the reference device without
  ``spread_flows`` keeps receiveq1.
* MQ without CTRL_VQ is accepted only as a back-end's feature set (NET-027 otherwise).
* DPDK's testpmd with ``queues=2`` (a real peer): both pairs enabled and carrying frames,
  every received frame on its flow's pair, every buffer used in order.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dpkt
import pytest
from virtiospec.conformance.suites.net.api import DriverObservation
from virtiospec.reference.access import GuestMemory
from virtiospec.reference.net import ctrl as C
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.errors import BadFeatures
from virtiospec.reference.vhost_user.frontend import FrontEnd, MappedMemory
from virtiospec.reference.vhost_user.in_order import F_AVAIL, F_NEXT, F_USED, InOrderWatch, RingView
from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import DEVICE_ENV, NET_FEATURES, Options, Session

PEER = b"\x02\x00\x00\x00\x00\x99"
Q = 8


# -- the watch on hand-written rings ----------------------------------------------------------
def _split(mem: MappedMemory, heads: list[int]) -> RingView:
    ring = RingView(0, Q, False, 0x0, 0x1000, 0x2000)
    for p, head in enumerate(heads):
        mem.write(ring.avail + 4 + 2 * (p % Q), 2, head)
    mem.write(ring.avail + 2, 2, len(heads))
    return ring


def _use_split(mem: MappedMemory, ring: RingView, ids: list[int]) -> None:
    for p, head in enumerate(ids):
        mem.write(ring.used + 4 + 8 * (p % Q), 4, head)


@pytest.mark.req("RING-SPLIT-094")
@pytest.mark.parametrize("bad", [False, True])
def test_split_watch_catches_buffers_used_out_of_order(bad: bool) -> None:
    mem = MappedMemory(0x4000)
    try:
        ring = _split(mem, [0, 2, 3, 6])  # chains of 2, 1, 3, 1 descriptors, in ring order
        watch = InOrderWatch(mem)
        watch.before(ring, last_avail=0, used=0)
        _use_split(mem, ring, [0, 3, 2, 6] if bad else [0, 2, 3, 6])
        watch.after(ring, used=4)
        assert watch.checked == 4
        if bad:  # the known-bad device: two used elements swapped
            assert len(watch.out_of_order) == 2
            assert "used element 1 names head 3" in watch.out_of_order[0]
        else:
            assert watch.out_of_order == []
    finally:
        mem.close()


def _packed_list(mem: MappedMemory, ring: RingView, pos: int, ndesc: int, buf_id: int) -> None:
    for k in range(ndesc):
        flags = F_AVAIL | (F_NEXT if k < ndesc - 1 else 0)  # wrap 1: AVAIL set, USED clear
        mem.write(ring.desc + 16 * (pos + k) + 12, 2, buf_id if k == ndesc - 1 else 0xEE)
        mem.write(ring.desc + 16 * (pos + k) + 14, 2, flags)


@pytest.mark.req("RING-PACKED-093")
@pytest.mark.parametrize("bad", [False, True])
def test_packed_watch_catches_lists_used_out_of_order(bad: bool) -> None:
    mem = MappedMemory(0x4000)
    try:
        ring = RingView(1, Q, True, 0x0, 0x1000, 0x1004)
        lists = [(0, 2, 7), (2, 1, 4), (3, 3, 9)]  # (position, descriptors, Buffer ID)
        for pos, n, buf_id in lists:
            _packed_list(mem, ring, pos, n, buf_id)
        watch = InOrderWatch(mem)
        watch.before(ring, last_avail=0 | 1 << 15, used=0 | 1 << 15)
        assert len(watch.notes[1].lists) == 3
        order = [7, 9, 4] if bad else [7, 4, 9]  # the bad device uses the third list second
        for (pos, _n, _id), used_id in zip(lists, order, strict=True):
            mem.write(ring.desc + 16 * pos + 12, 2, used_id)
            mem.write(ring.desc + 16 * pos + 14, 2, F_AVAIL | F_USED)
        watch.after(ring, used=6 | 1 << 15)
        assert watch.checked == 3
        if bad:
            assert len(watch.out_of_order) == 2
            assert "position 2 carries Buffer ID 9" in watch.out_of_order[0]
        else:
            assert watch.out_of_order == []
    finally:
        mem.close()


# -- our device behind the Python front-end ---------------------------------------------------
@pytest.fixture(params=["python", "c"])
def device(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(DEVICE_ENV, request.param)
    return str(request.param)


def _echo(session: Session, pair: int, frame: bytes) -> None:
    session.inject(frame[6:12] + frame[0:6] + frame[12:])


@pytest.fixture
def server(tmp_path: Path, device: str) -> Iterator[VhostUserServer]:
    with VhostUserServer(tmp_path / "vu.sock", Options(pairs=1, observe=True), _echo) as srv:
        yield srv
    assert not srv.errors, srv.errors


@pytest.mark.req("RING-SPLIT-094", "VHOST-USER-005")
def test_in_order_negotiated_and_kept_on_real_traffic(server: VhostUserServer) -> None:
    with FrontEnd(server.path, queue_size=16) as fe:
        drv = fe.start(rx_buf_size=256)  # small buffers: frames merged over several
        assert F.has(fe.features, F.IN_ORDER)
        sent = [FR.udp_frame(drv.mac, PEER, "10.0.0.1", "10.0.0.2", 1, 2, bytes([i]) * 7 * i)
                for i in range(1, 80)]
        got: list[bytes] = []
        for f in sent:
            drv.send(f)
            drv.reap_tx(0)
        end = time.monotonic() + 15
        while len(got) < len(sent) and time.monotonic() < end:
            fe.wait_call(0, 0.05)
            got += [r.frame for r in drv.receive(0)]
            drv.reap_tx(0)
        assert got == [f[6:12] + f[0:6] + f[12:] for f in sent]
        with server.lock:
            session = server.session
            assert session is not None and session.watch is not None
            assert session.watch.checked > 0
            assert session.watch.out_of_order == []


# -- steering and features --------------------------------------------------------------------
def _two_pairs(spread: bool) -> NetDevice:
    feats = F.of(F.VERSION_1, F.MQ)
    dev = NetDevice(NetConfig(max_pairs=2), feats, GuestMemory(16), filtering=False,
                    front_end_ctrl=True)
    dev.spread_flows = spread
    dev.set_pairs(2)
    return dev


@pytest.mark.req("VHOST-USER-010", "NET-040")
def test_unknown_flows_spread_by_hash_and_transmitted_flows_follow() -> None:
    dev = _two_pairs(spread=True)
    frames = [FR.udp_frame(PEER, b"\x02\0\0\0\0\x01", "10.0.0.2", "10.0.0.1", 5000 + i, 6000,
                           b"x") for i in range(16)]
    pairs = [dev.steer(f) for f in frames]
    assert set(pairs) == {0, 1}  # 16 flows over 2 pairs: both used
    assert pairs == [FR.flow_hash(FR.flow_key(f, reverse=True)) % 2 for f in frames]
    assert [dev.steer(f) for f in frames] == pairs  # a flow stays on its pair
    # the driver transmits the reverse of flow 0 on the other pair: its frames follow
    f0 = frames[0]
    reply = FR.udp_frame(b"\x02\0\0\0\0\x01", PEER, "10.0.0.1", "10.0.0.2", 6000, 5000, b"y")
    dev.flows[FR.flow_key(reply)] = 1 - pairs[0]  # as tx_take records it
    assert dev.steer(f0) == 1 - pairs[0]
    # one pair in use: everything on receiveq1 (NET-038)
    dev.set_pairs(1)
    assert {dev.steer(f) for f in frames} == {0}
    # the reference device without spread_flows keeps unknown flows on receiveq1
    assert {_two_pairs(spread=False).steer(f) for f in frames} == {0}


@pytest.mark.req("VHOST-USER-010", "NET-027")
def test_mq_without_ctrl_vq_only_from_a_front_end() -> None:
    feats = F.of(F.VERSION_1, F.MQ)
    F.check(feats, front_end_ctrl=True)
    with pytest.raises(BadFeatures):
        F.check(feats)
    with pytest.raises(BadFeatures):
        NetDevice(NetConfig(max_pairs=2), feats, GuestMemory(16))


def test_session_offers_mq_only_with_several_pairs() -> None:
    one = Session(Options(pairs=1, device="python"))
    two = Session(Options(pairs=2, device="python"))
    assert not F.has(one.offered, F.MQ) and F.has(two.offered, F.MQ)
    assert F.has(one.offered, F.IN_ORDER)
    assert len(two.vrings) == 4
    for s in (one, two):
        s.close()


# -- a real peer: DPDK's testpmd on two pairs --------------------------------------------------
@pytest.mark.req("VHOST-USER-010", "NET-038", "NET-040", "RING-SPLIT-094")
def test_dpdk_two_pairs_in_order() -> None:
    if shutil.which("dpdk-testpmd") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dpdk-testpmd missing in CI")
        pytest.skip("dpdk-testpmd missing: apt-get install dpdk")
    from virtiospec.conformance.net.target_dpdk import DpdkTarget

    obs = DpdkTarget({"queues": "2"}).net_driver_session()
    assert F.has(obs.features, F.MQ) and F.has(obs.features, F.IN_ORDER)
    assert obs.pairs_enabled == 2
    assert obs.rx_pairs[0] > 0 and obs.rx_pairs[1] > 0
    assert obs.tx_pairs[0] > 0 and obs.tx_pairs[1] > 0
    assert obs.steered > 0 and obs.misteered == []
    assert obs.in_order_checked > 0 and obs.out_of_order == []
    assert obs.confirmed is not None and len(obs.confirmed) == len(obs.injected)


@pytest.mark.req("VHOST-USER-010", "NET-038", "NET-040")
def test_linux_guest_brings_up_two_pairs() -> None:
    from virtiospec.conformance import cases, runner
    from virtiospec.conformance.net.guest import boot
    from virtiospec.conformance.net.target_linux_guest import LinuxGuestTarget

    try:
        boot.check_tools()
    except boot.GuestUnavailable as err:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(str(err))
    target = LinuxGuestTarget({"queues": "2"})
    obs = target.net_driver_session()
    assert F.has(obs.features, F.MQ) and obs.pairs_enabled == 2
    assert obs.steered > 0 and obs.misteered == []
    res = runner.run_case(cases.discover()["net.driver.multiqueue"], target)
    assert res.outcome is cases.Outcome.PASS, (res.detail, res.expected, res.observed)


def test_probe_frames_spread_over_flows() -> None:
    frames = [bytes(f) for f in
              __import__("virtiospec.conformance.suites.net.api", fromlist=["probe_frames"])
              .probe_frames(b"\x02" * 6, b"\x04" * 6, 8, flows=4)]
    ports = [struct.unpack_from("!H", f, 34)[0] for f in frames]
    assert ports == [5000, 5001, 5002, 5003] * 2


# -- the control vring: a front-end that passes VIRTIO_NET_F_CTRL_VQ on ----------------------
def _reply(frame: bytes) -> bytes:
    """The answer of a UDP peer: addresses and ports swapped (the reverse flow, NET-040)."""
    eth = dpkt.ethernet.Ethernet(frame)
    ip, udp = eth.data, eth.data.data
    return FR.udp_frame(bytes(eth.dst), bytes(eth.src), socket.inet_ntoa(ip.dst),
                        socket.inet_ntoa(ip.src), udp.dport, udp.sport, bytes(udp.data))


def _answer(session: Session, pair: int, frame: bytes) -> None:
    session.inject(_reply(frame))


@pytest.mark.req("VHOST-USER-010", "NET-037", "NET-038", "NET-040")
@pytest.mark.parametrize("bad", [False, True])
def test_control_vring_sets_the_pairs_and_frames_follow_their_flows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: bool) -> None:
    if bad:  # the known-bad device: every frame on receiveq1, whatever its flow
        monkeypatch.setattr(NetDevice, "steer", lambda self, frame: 0)
    opts = Options(pairs=2, features=NET_FEATURES | F.bit(F.CTRL_VQ), observe=True)
    with VhostUserServer(tmp_path / "vu.sock", opts, _answer) as server, \
            FrontEnd(server.path, queue_size=32) as fe:
        drv = fe.start(pairs=2, rx_buf_size=256)
        assert F.has(fe.features, F.MQ) and F.has(fe.features, F.CTRL_VQ)
        assert drv.ctrl_q == 4 and server.session is not None
        assert len(server.session.vrings) == 5

        def answer(before: int) -> int:
            """The ack of the next command (command() itself may have read it already)."""
            end = time.monotonic() + 10
            while len(drv.ctrl_results) == before and time.monotonic() < end:
                fe.wait_call(4, 0.05)
                drv.ctrl_poll()
            assert len(drv.ctrl_results) == before + 1, "no answer on the control vring"
            return drv.ctrl_results[-1][1]

        n = len(drv.ctrl_results)
        drv.command(C.vq_pairs(3))  # NET-037: beyond max_virtqueue_pairs (the driver's own
        assert answer(n) == C.ERR   # set_pairs refuses to send it): VIRTIO_NET_ERR
        drv.command(C.vq_pairs(0))
        assert answer(n + 1) == C.ERR
        drv.set_pairs(2)
        assert answer(n + 2) == C.OK and drv.pairs_in_use == 2
        with server.lock:
            assert server.session.device is not None
            assert server.session.device.pairs_in_use == 2
        sent = [FR.udp_frame(drv.mac, PEER, "10.0.0.1", "10.0.0.2", 7000 + i, 53, b"q" * i)
                for i in range(1, 41)]
        for f in sent:
            drv.send(f)
        got: dict[int, list[bytes]] = {0: [], 1: []}
        end = time.monotonic() + 15
        while sum(map(len, got.values())) < len(sent) and time.monotonic() < end:
            for pair in (0, 1):
                fe.wait_call(2 * pair, 0.02)
                got[pair] += [r.frame for r in drv.receive(pair)]
                drv.reap_tx(pair)
        back = {_reply(f): drv.choose_pair(f) for f in sent}
        assert set(back.values()) == {0, 1}
        assert sorted(got[0] + got[1]) == sorted(back)
        with server.lock:
            log = server.session.log
            assert log.tx_pairs[0] > 0 and log.tx_pairs[1] > 0
            assert log.steered == len(sent)
            if bad:  # the session's own record catches it
                assert not got[1] and len(log.misteered) == min(20, list(back.values()).count(1))
                return
            assert log.misteered == []
        for pair, frames in got.items():  # each reply on the pair its request went out on
            assert frames and all(back[f] == pair for f in frames)
        with server.lock:
            assert server.session.watch is not None and server.session.watch.out_of_order == []
    assert not server.errors, server.errors


# -- the cases against known-bad observations --------------------------------------------------
class _Observed:
    """A target whose driver session is a given observation."""

    name = "observed"

    def __init__(self, obs: DriverObservation) -> None:
        self.obs = obs

    def net_driver_session(self) -> DriverObservation:
        return self.obs


def _good(features: int) -> DriverObservation:
    obs = DriverObservation("hand-made", features=features, tx_frames=[b"x"],
                            round_trips={"frames": (10, 10)}, pairs_wanted=2, pairs_enabled=2,
                            steered=10, in_order_checked=10)
    obs.rx_pairs.update({0: 5, 1: 5})
    obs.tx_pairs.update({0: 5, 1: 5})
    obs.mq_traffic_required = True
    return obs


@pytest.mark.req("RING-SPLIT-094", "RING-PACKED-093", "VHOST-USER-010", "NET-040")
@pytest.mark.parametrize("bad", ["none", "out-of-order", "packed-out-of-order", "one-pair",
                                 "misteered", "idle-pair", "beyond"])
def test_cases_catch_known_bad_observations(bad: str) -> None:
    from virtiospec.conformance import cases, runner

    feats = F.of(F.VERSION_1, F.MQ, F.IN_ORDER) | (F.bit(F.RING_PACKED)
                                                   if bad == "packed-out-of-order" else 0)
    obs = _good(feats)
    if bad in ("out-of-order", "packed-out-of-order"):
        obs.out_of_order = ["vring 1: used element 3 names head 5, ..."]
    elif bad == "one-pair":
        obs.pairs_enabled = 1
    elif bad == "misteered":
        obs.misteered = ["a frame of 60 bytes due on pair 1 placed on pair 0"]
    elif bad == "idle-pair":
        obs.tx_pairs = Counter({0: 10})
    elif bad == "beyond":
        obs.rx_pairs[2] = 1
    target = _Observed(obs)
    got = {cid: runner.run_case(cases.discover()[cid], target)
           for cid in ("net.driver.in-order", "net.driver.multiqueue")}
    order, mq = got["net.driver.in-order"], got["net.driver.multiqueue"]
    if bad == "none":
        assert order.outcome is cases.Outcome.PASS and mq.outcome is cases.Outcome.PASS
    elif bad.endswith("out-of-order"):
        assert order.outcome is not cases.Outcome.PASS and mq.outcome is cases.Outcome.PASS
        assert order.req == ("RING-PACKED-093" if bad.startswith("packed") else
                             "RING-SPLIT-094"), order
    else:
        assert order.outcome is cases.Outcome.PASS and mq.outcome is not cases.Outcome.PASS
        want = {"one-pair": "VHOST-USER-010", "misteered": "NET-040", "beyond": "NET-038"}
        if bad in want:
            assert mq.req == want[bad], mq
