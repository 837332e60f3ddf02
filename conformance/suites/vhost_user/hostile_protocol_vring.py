"""Hostile front-end, the vring messages (the second half of :mod:`.hostile_protocol`, whose
text says how each case runs and is judged): sizes, bases and addresses a ring cannot have,
kick and call messages without their file descriptor or with one that is not an eventfd, a
vring index out of range, GET_VRING_BASE of a vring never started."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from virtiospec.conformance.cases import CaseFailed, CaseSkipped, Result, case
from virtiospec.conformance.suites.vhost_user.hostile_driver import BUDGET, Q
from virtiospec.conformance.suites.vhost_user.hostile_protocol import (
    PREFIX,
    REFUSAL,
    _restore_vring,
    acked,
    protocol_case,
)
from virtiospec.conformance.vhost_user.link import (
    F_RING_PACKED,
    PACKED_START,
    HungUp,
    Link,
    NoAnswer,
)
from virtiospec.conformance.vhost_user.peer import Peer
from virtiospec.conformance.vhost_user.target import peer_of
from virtiospec.conformance.vhost_user.verdict import Seen, _finish, _wedged, verdict
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.frontend import USER_BASE


def _vring_case(name: str, reqs: tuple[str, ...], summary: str,
                send: Callable[[Peer, Link, Seen], str | None]) -> None:
    def attack(peer: Peer, link: Link, seen: Seen) -> str | None:
        took = send(peer, link, seen)
        if took is None:
            _restore_vring(link, peer.spec.hostile, seen)
        return took

    protocol_case(name, reqs, summary, "vrings", attack)


def _num(value: int) -> Callable[[Peer, Link, Seen], str | None]:
    return lambda peer, link, seen: acked(
        link, seen, M.Req.SET_VRING_NUM, M.STATE.pack(peer.spec.hostile, value),
        what=f"SET_VRING_NUM {value}")


_vring_case("vring-num-zero", ("VHOST-USER-009", "RING-SPLIT-005"),
            "SET_VRING_NUM 0", _num(0))
_vring_case("vring-num-not-power-of-two", ("VHOST-USER-009", "RING-SPLIT-005"),
            "SET_VRING_NUM 7 on a split ring", _num(7))
_vring_case("vring-num-too-big", ("VHOST-USER-009", "RING-SPLIT-005"),
            "SET_VRING_NUM 65536 (the largest queue is 32768)", _num(65536))


def _addr(what: str, shift: Callable[[int, int, int], tuple[int, int, int]]
          ) -> Callable[[Peer, Link, Seen], str | None]:
    def send(peer: Peer, link: Link, seen: Seen) -> str | None:
        v = peer.spec.hostile
        link.send(M.Req.SET_VRING_NUM, M.STATE.pack(v, Q))
        lay = link.layout(v, Q)
        desc, used, avail = shift(USER_BASE + lay.desc, USER_BASE + lay.used,
                                  USER_BASE + lay.avail)
        return acked(link, seen, M.Req.SET_VRING_ADDR, M.ADDR.pack(v, 0, desc, used, avail, 0),
                     what=f"SET_VRING_ADDR {what} (desc {desc:#x}, used {used:#x}, avail "
                     f"{avail:#x})")

    return send


_vring_case("vring-addr-outside", ("VHOST-USER-009", "VHOST-USER-003"),
            "SET_VRING_ADDR whose rings are in no region (1 GiB past the only one)",
            _addr("in no region", lambda d, u, a: (d + (1 << 30), u + (1 << 30), a + (1 << 30))))
_vring_case("vring-addr-misaligned", ("VHOST-USER-009", "RING-SPLIT-002"),
            "SET_VRING_ADDR with the descriptor table 8 bytes off its 16-byte alignment, the "
            "available ring at an odd address, the used ring 2 bytes off",
            _addr("misaligned", lambda d, u, a: (d + 8, u + 2, a + 1)))


def _base_split(peer: Peer, link: Link, seen: Seen) -> str | None:
    v = peer.spec.hostile
    link.send(M.Req.SET_VRING_NUM, M.STATE.pack(v, Q))
    return acked(link, seen, M.Req.SET_VRING_BASE, M.STATE.pack(v, 0x1_0003),
                 what="SET_VRING_BASE 0x10003 on a split ring")


_vring_case("vring-base-beyond-16-bits", ("VHOST-USER-009", "VHOST-USER-004"),
            "SET_VRING_BASE 0x10003 on a split ring (its indices are 16-bit)", _base_split)


@case(PREFIX + "vring-base-beyond-size", ("VHOST-USER-009", "VHOST-USER-004"), "device",
      "hostile", "SET_VRING_BASE of a packed ring of 8 at position 9", BUDGET)
def base_packed(target: object) -> Result:
    peer: Peer = peer_of(target)
    peer.ensure()
    link = Link(peer.socket, peer.spec.kind)
    what = "SET_VRING_BASE at position 9 of a packed ring of 8"
    try:
        try:
            link.negotiate(packed=True)
            if not link.features >> F_RING_PACKED & 1 or \
                    not link.protocols >> M.PROTOCOL_F_REPLY_ACK & 1:
                link.close()
                _finish(peer)
                raise CaseSkipped(f"{peer.spec.name} does not offer VIRTIO_F_RING_PACKED "
                                  "and REPLY_ACK")
            link.set_mem_table()
            v = peer.spec.hostile
            for index in range(peer.spec.vrings):
                if index != v:
                    link.setup_packed_vring(index, Q)
            link.send(M.Req.SET_VRING_NUM, M.STATE.pack(v, Q))
            seen = Seen()
            took = acked(link, seen, M.Req.SET_VRING_BASE,
                         M.STATE.pack(v, 9 | PACKED_START), what=what)
            if took is None and not link.closed:
                with contextlib.suppress(HungUp):
                    link.setup_packed_vring(v, Q)
        except NoAnswer as err:
            return _wedged(peer, what, str(err))
        except HungUp as err:
            seen = Seen(refused=[str(err)])
            took = None
        return verdict(peer, link, what, seen, req="VHOST-USER-009", accepted=lambda s: took,
                       expected=REFUSAL)
    finally:
        link.close()


def _fd_less(req: int) -> Callable[[Peer, Link, Seen], str | None]:
    return lambda peer, link, seen: acked(
        link, seen, req, M.U64.pack(peer.spec.hostile),
        what=f"{M.name(req)} {peer.spec.hostile} without a file descriptor or VRING_NOFD")


_vring_case("vring-kick-no-fd", ("VHOST-USER-009", "VHOST-USER-001"),
            "SET_VRING_KICK without its file descriptor (and without VRING_NOFD)",
            _fd_less(M.Req.SET_VRING_KICK))
_vring_case("vring-call-no-fd", ("VHOST-USER-009", "VHOST-USER-001"),
            "SET_VRING_CALL without its file descriptor (and without VRING_NOFD)",
            _fd_less(M.Req.SET_VRING_CALL))


def _call_out_of_range(peer: Peer, link: Link, seen: Seen) -> str | None:
    fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    try:
        return acked(link, seen, M.Req.SET_VRING_CALL, M.U64.pack(200), [fd],
                     what="SET_VRING_CALL for vring 200")
    finally:
        os.close(fd)


_vring_case("vring-call-out-of-range", ("VHOST-USER-009", "VHOST-USER-005"),
            "SET_VRING_CALL for vring 200", _call_out_of_range)


def _kick_not_eventfd(peer: Peer, link: Link, seen: Seen) -> str | None:
    """The ring set up honestly but for its kick descriptor: a memfd, always readable."""
    v = peer.spec.hostile
    lay = link.layout(v, Q)
    link.mem.view[lay.desc:lay.end] = bytes(lay.end - lay.desc)
    link.send(M.Req.SET_VRING_NUM, M.STATE.pack(v, Q))
    link.send(M.Req.SET_VRING_BASE, M.STATE.pack(v, 0))
    link.send(M.Req.SET_VRING_ADDR, M.ADDR.pack(v, 0, USER_BASE + lay.desc,
                                                USER_BASE + lay.used, USER_BASE + lay.avail, 0))
    link.set_eventfd(M.Req.SET_VRING_CALL, v, link.calls)
    fd = os.memfd_create("virtiospec-not-an-eventfd", os.MFD_CLOEXEC)
    os.write(fd, bytes(8))
    try:
        took = acked(link, seen, M.Req.SET_VRING_KICK, M.U64.pack(v), [fd],
                     what=f"SET_VRING_KICK {v} with a memfd")
    finally:
        os.close(fd)
    if took is not None:
        with contextlib.suppress(HungUp):
            link.send(M.Req.SET_VRING_ENABLE, M.STATE.pack(v, 1))
        time.sleep(0.3)
        if peer.death() is None and peer.spinning():
            raise NoAnswer(f"{took}: spinning on it (a thread always runnable)")
    return took


_vring_case("vring-kick-not-eventfd", ("VHOST-USER-009", "VHOST-USER-005"),
            "SET_VRING_KICK whose descriptor is a memfd (always readable), not an eventfd",
            _kick_not_eventfd)


def _base_never_started(peer: Peer, link: Link, seen: Seen) -> str | None:
    v = peer.spec.hostile
    index, num = M.STATE.unpack(link.get(M.Req.GET_VRING_BASE, M.STATE.pack(v, 0))[:8])
    if index != v or num not in (0, PACKED_START):
        raise CaseFailed(f"GET_VRING_BASE of vring {v}, never started: answered ({index}, "
                         f"{num})", expected=f"({v}, 0)", observed=f"({index}, {num})",
                         req="VHOST-USER-009")
    seen.notes.append(f"answered ({index}, {num})")
    _restore_vring(link, v, seen)
    return None


protocol_case("get-vring-base-never-started", ("VHOST-USER-009", "VHOST-USER-004"),
              "GET_VRING_BASE of a vring never set up: base 0, nothing else changed", "vrings",
              _base_never_started)
