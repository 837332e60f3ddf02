"""The hostile front-end's malformed vhost-user messages (hostile.driver.protocol.*) against
our own back-end: every one refused, none crashes or hangs it, with either device build; a
back-end built with one message check skipped (VIRTIOSPEC_VHOST_PLANT) is caught by the case
that needs that check; refused messages change nothing on running rings; and the crashes the
cases found in real peers (virtiofsd, qemu-storage-daemon, DPDK's testpmd)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import FAILED, Outcome
from virtiospec.conformance.vhost_user.peer import PEERS, VIRTIOFSD, parse
from virtiospec.conformance.vhost_user.target import VhostUserTarget
from virtiospec.reference.net import frames as FR
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.frontend import USER_BASE, FrontEnd
from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import CHECKS, PLANT_ENV, Options, Session

PREFIX = "hostile.driver.protocol."


def protocol_cases() -> list[cases.Case]:
    return [c for i, c in sorted(cases.discover().items()) if i.startswith(PREFIX)]


def run(target: object, *ids: str) -> list[cases.Result]:
    every = cases.discover()
    return [r for _, r in runner.run([every[i] for i in ids], target)]


def test_the_cases_cover_the_protocol() -> None:
    ids = {c.id.removeprefix(PREFIX) for c in protocol_cases()}
    assert len(ids) >= 29
    for name in ("size-huge", "unknown-request", "mem-table-no-regions",
                 "mem-table-nine-regions", "mem-table-overlap", "mem-table-guest-wraps",
                 "mem-table-offset-beyond-fd", "mem-table-fewer-fds", "vring-num-zero",
                 "vring-num-not-power-of-two", "vring-num-too-big", "vring-addr-outside",
                 "vring-addr-misaligned", "vring-base-beyond-size", "vring-kick-no-fd",
                 "vring-call-out-of-range", "get-vring-base-never-started",
                 "protocol-features-never-offered", "need-reply-without-reply-ack",
                 "reply-flag-on-request", "truncated-payload"):
        assert name in ids
    for c in protocol_cases():  # each cites one of the protocol rules first
        assert c.reqs[0] in ("VHOST-USER-006", "VHOST-USER-007", "VHOST-USER-008",
                             "VHOST-USER-009"), c.id


@pytest.mark.req("VHOST-USER-006", "VHOST-USER-007", "VHOST-USER-008", "VHOST-USER-009")
@pytest.mark.parametrize("device", ["reference", "c"])
def test_our_back_end_refuses_every_malformed_message(device: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PLANT_ENV, raising=False)
    target = VhostUserTarget(parse(device))
    try:
        results = run(target, *(c.id for c in protocol_cases()))
        bad = [(r.outcome, r.detail) for r in results
               if r.outcome in FAILED or r.outcome is Outcome.WEDGED]
        assert bad == []
        assert all(r.outcome is Outcome.REJECT for r in results), \
            [(r.outcome, r.detail) for r in results if r.outcome is not Outcome.REJECT]
        assert target.vhost_user_peer.alive() and target.vhost_user_peer.starts == 1
    finally:
        target.close()


PLANTED = [
    ("vring-num", "vring-num-not-power-of-two", "accepted: SET_VRING_NUM 7 acked 0"),
    ("mem-overlap", "mem-table-overlap", "accepted: SET_MEM_TABLE (two regions overlapping"),
    ("reply-flag", "reply-flag-on-request", "accepted: SET_VRING_NUM flagged as a reply"),
    ("vring-addr", "vring-addr-misaligned", "accepted: SET_VRING_ADDR misaligned"),
    ("vring-base", "vring-base-beyond-16-bits", "accepted: SET_VRING_BASE 0x10003"),
    # without the check our loop polls the memfd, always readable, and spins: WEDGED
    ("eventfd", "vring-kick-not-eventfd", "with a memfd acked 0: spinning on it"),
]


@pytest.mark.parametrize(("plant", "name", "said"), PLANTED, ids=[p[0] for p in PLANTED])
def test_a_skipped_check_is_caught(plant: str, name: str, said: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A back-end built without one check accepts the message that check refuses: the case
    FAILs (or, for the kick descriptor, the back-end spins on it: WEDGED); a case that needs
    another check still REJECTs on the same build."""
    monkeypatch.setenv(PLANT_ENV, plant)  # the back-end process inherits it
    other = "vring-call-out-of-range"
    target = VhostUserTarget(parse("c"))
    try:
        planted, control = run(target, PREFIX + name, PREFIX + other)
        expected = (Outcome.WEDGED,) if plant == "eventfd" else FAILED
        assert planted.outcome in expected, planted.detail
        assert said in planted.detail, planted.detail
        assert control.outcome is Outcome.REJECT, control.detail
    finally:
        target.close()


def test_plants_are_named() -> None:
    assert set(CHECKS) == {p[0] for p in PLANTED}
    with pytest.raises(ValueError, match="plant"):
        Options(plant="no-such-check")


FOUND = [
    ("virtiofsd", "truncated-payload", "SIGABRT", "rc == vmsg->size"),
    ("virtiofsd", "get-vring-base-never-started", "SIGABRT", "qidx < vud->nqueues"),
    ("virtiofsd", "mem-table-offset-beyond-fd", "SIGBUS", ""),
    ("qsd-blk", "mem-table-offset-beyond-fd", "SIGBUS", ""),
    ("net_vhost", "mem-table-offset-beyond-fd", "SIGBUS", ""),
]


@pytest.mark.parametrize(("peer", "name", "signal", "said"), FOUND,
                         ids=[f"{p}-{n}" for p, n, _, _ in FOUND])
def test_what_the_cases_found_in_qemu_peers(peer: str, name: str, signal: str,
                                            said: str) -> None:
    """QEMU 7.2's libvhost-user peers: virtiofsd aborts on half a SET_VRING_ADDR and a hang-up
    (an assertion on the bytes read) and on GET_VRING_BASE of a vring it never started; they
    and DPDK 22.11 map a region past the end of its file and die of SIGBUS at its first
    access."""
    exe = {"virtiofsd": VIRTIOFSD, "qsd-blk": "qemu-storage-daemon",
           "net_vhost": "dpdk-testpmd"}[peer]
    if not (os.access(exe, os.X_OK) or shutil.which(exe)):
        pytest.skip(f"{exe} missing: apt-get install {PEERS[peer].package}")
    target = VhostUserTarget(parse(peer))
    try:
        (res,) = run(target, PREFIX + name)
        assert res.outcome in FAILED, res.detail
        assert f"killed by signal {signal}" in res.detail and said in res.detail, res.detail
    finally:
        target.close()


def _echo(session: Session, pair: int, frame: bytes) -> None:
    session.inject(frame[6:12] + frame[0:6] + frame[12:])


def _traffic(fe: FrontEnd, n: int, tag: int) -> list[bytes]:
    """``n`` frames out and back; returns what came back."""
    drv = fe.driver
    assert drv is not None
    sent = [FR.udp_frame(drv.mac, b"\x02\0\0\0\0\x99", "10.0.0.1", "10.0.0.2", 1, 2,
                         bytes([tag, i]) * 20) for i in range(n)]
    for f in sent:
        drv.send(f)
        drv.reap_tx(0)
    got: list[bytes] = []
    end = time.monotonic() + 10.0
    while len(got) < n and time.monotonic() < end:
        fe.wait_call(0, 0.05)
        got += [r.frame for r in drv.receive(0)]
        drv.reap_tx(0)
    assert got == [f[6:12] + f[0:6] + f[12:] for f in sent]
    return got


@pytest.mark.req("VHOST-USER-006", "VHOST-USER-008", "VHOST-USER-009")
@pytest.mark.parametrize("device", ["python", "c"])
def test_refused_messages_change_nothing_on_running_rings(tmp_path: Path, device: str,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Every bad message aimed at rings that are running traffic is refused with status 1,
    the connection kept, and the traffic goes on as before: sizes, addresses, bases, fds and
    the memory table unchanged."""
    monkeypatch.delenv(PLANT_ENV, raising=False)
    with VhostUserServer(tmp_path / "vu.sock", Options(pairs=1, device=device), _echo) as srv, \
            FrontEnd(srv.path) as fe:
        fe.start()
        _traffic(fe, 8, 1)
        lay = fe.layouts[1]
        memfd = os.memfd_create("not-an-eventfd")
        half = fe.mem.size // 2
        overlap = (2).to_bytes(4, "little") + bytes(4) + M.REGION.pack(
            0, fe.mem.size, USER_BASE, 0) + M.REGION.pack(half, half, USER_BASE + 4 * half, 0)
        bad: list[tuple[int, bytes, list[int]]] = [
            (M.Req.SET_VRING_NUM, M.STATE.pack(1, 7), []),
            (M.Req.SET_VRING_NUM, M.STATE.pack(0, 0), []),
            (M.Req.SET_VRING_NUM, M.STATE.pack(1, 65536), []),
            (M.Req.SET_VRING_BASE, M.STATE.pack(1, 0x1_0003), []),
            (M.Req.SET_VRING_ADDR, M.ADDR.pack(1, 0, USER_BASE + lay.desc + 8,
                                               USER_BASE + lay.used, USER_BASE + lay.avail,
                                               0), []),
            (M.Req.SET_VRING_ADDR, M.ADDR.pack(1, 0, USER_BASE + (1 << 30),
                                               USER_BASE + lay.used, USER_BASE + lay.avail,
                                               0), []),
            (M.Req.SET_MEM_TABLE, overlap, [fe.mem.fd, fe.mem.fd]),
            (M.Req.SET_MEM_TABLE, bytes(8), []),
            (M.Req.SET_VRING_KICK, M.U64.pack(1), [memfd]),
            (M.Req.SET_VRING_CALL, M.U64.pack(0), [memfd]),
            (M.Req.SET_VRING_CALL, M.U64.pack(200), [fe.calls[0]]),
            (0x7A5A, b"", []),
        ]
        try:
            for req, payload, fds in bad:
                assert fe.request(req, payload, fds or None, need_reply=True) == M.U64.pack(1), \
                    M.name(req)
        finally:
            os.close(memfd)
        session = srv.session
        assert session is not None
        assert [v.num for v in session.vrings] == [64, 64]
        assert all(v.started for v in session.vrings)
        assert len(session.mem.regions) == 1
        assert len(session.log.errors) == len(bad)
        _traffic(fe, 8, 2)  # the same rings serve on, nothing lost or doubled
        assert not srv.errors
