"""The vhost-user back-end end to end in one process: a Python front-end (the reference
driver behind QEMU's side of the protocol) talks to it over a real Unix socket, with a memfd
and eventfds (VHOST-USER-001, VHOST-USER-002, VHOST-USER-003, VHOST-USER-004, VHOST-USER-005). Every
test runs with both builds of the device: the Python
reference and its C fast path (``$VIRTIOSPEC_VHOST_DEVICE``, read by ``Options``)."""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.ring import SplitLayout
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.fast import FastNetDevice
from virtiospec.reference.vhost_user.frontend import FrontEnd
from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import DEVICE_ENV, Options, Session

PEER = b"\x02\x00\x00\x00\x00\x99"


@pytest.fixture(autouse=True, params=["python", "c"])
def device(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(DEVICE_ENV, request.param)
    return str(request.param)


def echo(session: Session, pair: int, frame: bytes) -> None:
    """The wire answers every frame with itself, source and destination swapped."""
    session.inject(frame[6:12] + frame[0:6] + frame[12:])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[VhostUserServer]:
    with VhostUserServer(tmp_path / "vu.sock", Options(pairs=2), echo) as srv:
        yield srv
    assert not srv.errors, srv.errors


def collect(fe: FrontEnd, want: int, timeout: float = 10.0) -> list[bytes]:
    assert fe.driver is not None
    got: list[bytes] = []
    end = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < end:
        fe.wait_call(0, 0.05)
        got += [r.frame for r in fe.driver.receive(0)]
        fe.driver.reap_tx(0)
    return got


@pytest.mark.req("VHOST-USER-002", "VHOST-USER-003", "VHOST-USER-004", "VHOST-USER-005")
def test_frames_both_ways_through_the_backend(server: VhostUserServer, device: str) -> None:
    with FrontEnd(server.path) as fe:
        drv = fe.start()
        assert F.has(fe.features, F.MRG_RXBUF) and F.has(fe.features, M.F_PROTOCOL_FEATURES)
        sent = [FR.udp_frame(drv.mac, PEER, "10.0.0.1", "10.0.0.2", 1, 2, bytes([i]) * i)
                for i in range(1, 100)]
        for f in sent:
            drv.send(f)
            drv.reap_tx(0)
        got = collect(fe, len(sent))
        assert got == [f[6:12] + f[0:6] + f[12:] for f in sent]
        session = server.session
        assert session is not None and session.device is not None
        assert isinstance(session.device, FastNetDevice) == (device == "c")
        assert session.device.stats.tx_frames == len(sent)
        assert session.vrings[0].calls > 0 and session.vrings[1].kicks > 0
        # GET_VRING_BASE stops the rings and reports how far the back-end got
        assert fe.get_vring_base(1) == len(sent) & 0xFFFF
        assert fe.get_vring_base(0) == session.vrings[0].base
        assert not session.vrings[0].started and not session.vrings[1].started


@pytest.mark.req("NET-009", "VHOST-USER-003")
def test_checksum_offload_and_mergeable_buffers(server: VhostUserServer) -> None:
    with FrontEnd(server.path) as fe:
        drv = fe.start(rx_buf_size=256)
        frame = FR.udp_frame(drv.mac, PEER, "10.0.0.1", "10.0.0.2", 1, 2, b"z" * 1000)
        drv.send(frame, csum=True)
        (back,) = collect(fe, 1)
        assert FR.checksum_ok(back)
        assert back == frame[6:12] + frame[0:6] + frame[12:]
        assert drv.stats.rx_frames == 1 and drv.rx_buf_size == 256


@pytest.mark.req("VHOST-USER-004")
def test_disabled_ring_discards_transmissions(server: VhostUserServer) -> None:
    with FrontEnd(server.path) as fe:
        drv = fe.start()
        fe.request(M.Req.SET_VRING_ENABLE, M.STATE.pack(1, 0))
        drv.send(FR.udp_frame(drv.mac, PEER, "10.0.0.1", "10.0.0.2", 1, 2, b"lost"))
        session = server.session
        assert session is not None
        assert server.wait_for(lambda: session.device is not None
                               and session.device.stats.tx_discarded == 1, 5.0)
        assert session.device is not None and session.device.stats.tx_frames == 0


@pytest.mark.req("VHOST-USER-002")
def test_replies_and_reply_ack(server: VhostUserServer) -> None:
    with FrontEnd(server.path) as fe:
        assert fe.get_u64(M.Req.GET_QUEUE_NUM) == 2
        proto = fe.get_u64(M.Req.GET_PROTOCOL_FEATURES)
        assert proto >> M.PROTOCOL_F_REPLY_ACK & 1 and proto & 1
        fe.request(M.Req.SET_PROTOCOL_FEATURES, M.U64.pack(proto))
        ok = fe.request(M.Req.SET_OWNER, need_reply=True)
        assert ok == M.U64.pack(0)
        bad = fe.request(M.Req.SET_VRING_NUM, M.STATE.pack(9, 64), need_reply=True)
        assert bad == M.U64.pack(1)  # vring 9 does not exist: refused, connection kept
        assert fe.set_mem_table() == M.U64.pack(0)


@pytest.mark.req("VHOST-USER-001")
@pytest.mark.parametrize("raw", [
    struct.pack("=III", M.Req.GET_FEATURES, 0x2, 0),  # version 2
    struct.pack("=III", M.Req.SET_FEATURES, 0x1, 4) + b"\0" * 4,  # short payload
    struct.pack("=III", M.Req.SET_VRING_KICK, 0x1, 8) + struct.pack("=Q", 0),  # no fd
    struct.pack("=III", 77, 0x1, 0),  # unknown request
])
def test_malformed_messages_close_the_connection(tmp_path: Path, raw: bytes) -> None:
    with VhostUserServer(tmp_path / "vu.sock") as srv:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(srv.path)
        s.sendall(raw)
        assert s.recv(64) == b""  # closed by the back-end
        s.close()
        assert srv.wait_for(lambda: bool(srv.session and srv.session.log.errors), 5)
        assert "VHOST-USER-001" in srv.session.log.errors[0]  # type: ignore[union-attr]
        with FrontEnd(srv.path) as fe:  # and the next front-end is served
            assert fe.get_u64(M.Req.GET_QUEUE_NUM) == 1
        assert not srv.errors


@pytest.mark.req("VHOST-USER-003", "RING-SPLIT-082")
def test_ring_outside_memory_not_started(server: VhostUserServer) -> None:
    with FrontEnd(server.path) as fe:
        fe.negotiate(~0)
        fe.set_mem_table()
        # the descriptor table runs 0x200 bytes past the end of the only region
        fe.setup_vring(0, SplitLayout(64, fe.mem.size - 0x200, 0x2000, 0x3000))
        session = server.session
        assert session is not None
        assert server.wait_for(lambda: bool(session.log.errors), 5)
        assert "not started" in session.log.errors[0]
        assert not session.vrings[0].started


@pytest.mark.req("VHOST-USER-004", "NET-060", "NET-061")
def test_rings_stopped_and_restarted_mid_traffic(tmp_path: Path) -> None:
    """GET_VRING_BASE in the middle of traffic, then the rings set up again from the bases it
    returned (what QEMU does around a stop): no frame lost, none twice, order kept."""
    wire: list[bytes] = []

    def record(session: Session, pair: int, frame: bytes) -> None:
        wire.append(frame)

    with VhostUserServer(tmp_path / "vu.sock", Options(), record) as server, \
            FrontEnd(server.path, queue_size=16) as fe:
        drv = fe.start(rx_buf_size=200)  # frames of 300 bytes take two buffers each
        to_drv = [FR.udp_frame(PEER, drv.mac, "10.0.0.2", "10.0.0.1", 2, 1, bytes([i]) * 300)
                  for i in range(40)]
        from_drv = [FR.udp_frame(drv.mac, PEER, "10.0.0.1", "10.0.0.2", 1, 2, bytes([i]) * 20)
                    for i in range(40)]
        got: list[bytes] = []
        for i in range(20):
            server.inject(to_drv[i])
            drv.send(from_drv[i])
        assert server.wait_for(lambda: len(wire) >= 16, 5)  # the transmit ring holds 16
        session = server.session
        assert session is not None and session.device is not None
        assert server.wait_for(lambda: session.device is not None
                               and session.device.stats.rx_frames >= 8, 5)
        bases = {i: fe.get_vring_base(i) for i in (0, 1)}
        assert not session.vrings[0].started and not session.vrings[1].started
        got += [r.frame for r in drv.receive(0)]  # what was delivered before the stop
        drv.reap_tx(0)
        for index in (0, 1):
            for fds in (fe.kicks, fe.calls):
                os.close(fds.pop(index))
            fe.setup_vring(index, fe.layouts[index], bases[index])
        for i in range(20, 40):
            server.inject(to_drv[i])
            drv.send(from_drv[i])
        end = time.monotonic() + 10
        while (len(got) < 40 or len(wire) < 40) and time.monotonic() < end:
            fe.wait_call(0, 0.05)
            got += [r.frame for r in drv.receive(0)]
            drv.reap_tx(0)
        assert got == to_drv
        assert wire == from_drv
        assert session.device is not None and session.device.stats.rx_too_big == 0
    assert not server.errors
