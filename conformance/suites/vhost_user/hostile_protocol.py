"""Hostile front-end: the vhost-user protocol itself broken on purpose (malformed headers,
unknown requests, bad memory tables, bad vring messages, reply flags where none belong, a
message cut short by a hang-up), against every vhost-user back-end.

Each case connects, sets up as much as it needs honestly, sends the one malformed message
with NEED_REPLY (REPLY_ACK negotiated) and reads how the back-end took it: a non-zero status
or a closed connection is a refusal, a status of 0 is acceptance (our rules VHOST-USER-006,
VHOST-USER-007, VHOST-USER-008, VHOST-USER-009 say the message is refused). After a refusal
the case sets the part it attacked up again honestly, so that a peer whose data path depends on
it (DPDK) can serve the probe request. The verdict is :func:`~virtiospec.conformance.
hostile_verdict.verdict`'s: REJECT, FAIL (accepted, or the peer died: its status and output)
or WEDGED (no answer, spinning, data path stopped).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable

from virtiospec.conformance.cases import CaseFailed, CaseSkipped, Outcome, Result, case
from virtiospec.conformance.suites.vhost_user.hostile_driver import BUDGET, Q, open_link
from virtiospec.conformance.vhost_user.link import (
    MEMORY,
    HungUp,
    Link,
    NoAnswer,
)
from virtiospec.conformance.vhost_user.peer import Peer
from virtiospec.conformance.vhost_user.target import peer_of
from virtiospec.conformance.vhost_user.verdict import Seen, _died, _finish, _wedged, verdict
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.frontend import USER_BASE

PREFIX = "hostile.driver.protocol."
Attack = Callable[[Peer, Link, Seen], "str | None"]  # None: refused; else what it accepted
ACK = M.VERSION | M.FLAG_NEED_REPLY
REFUSAL = "refusal: a non-zero REPLY_ACK status or the connection closed, nothing changed"


# -- raw messages -----------------------------------------------------------------------------

def raw(link: Link, req: int, payload: bytes = b"", fds: list[int] | None = None, *,
        flags: int = ACK, size: int | None = None) -> None:
    """Send a message exactly as given: any flags, any size field."""
    data = M.HEADER.pack(req, flags, len(payload) if size is None else size) + payload
    try:
        if fds:
            socket.send_fds(link.sock, [data], fds)
        else:
            link.sock.sendall(data)
    except (BrokenPipeError, ConnectionError):
        raise HungUp(f"the back-end closed the connection before {M.name(req)}") from None


def next_reply(link: Link, after: str) -> tuple[int, int, bytes]:
    """The next message the back-end sends, whatever it answers: (request, flags, payload)."""
    try:
        req, flags, size = M.HEADER.unpack(M._recv_exact(link.sock, M.HEADER.size))
        return req, flags, M._recv_exact(link.sock, size) if size else b""
    except TimeoutError:
        raise NoAnswer(f"no answer after {after} within {link.timeout:.0f} s") from None
    except (EOFError, ConnectionError):
        raise HungUp(f"the back-end closed the connection after {after}") from None


def acked(link: Link, seen: Seen, req: int, payload: bytes = b"",
          fds: list[int] | None = None, *, flags: int = ACK, size: int | None = None,
          what: str = "") -> str | None:
    """Send the bad message with NEED_REPLY and read its status: None if refused (a non-zero
    status, or the connection closed at once), else a sentence saying it was acked 0."""
    what = what or M.name(req)
    try:
        raw(link, req, payload, fds, flags=flags, size=size)
        got, rflags, body = next_reply(link, what)
    except HungUp as err:
        seen.refused.append(str(err))
        return None
    if got != req or not rflags & M.FLAG_REPLY or len(body) < 8:
        return f"{what}: answered with {M.name(got)} flags {rflags:#x} ({len(body)} bytes)"
    status = int(M.U64.unpack_from(body)[0])
    if status:
        seen.refused.append(f"{what} refused with status {status}")
        return None
    try:
        link.probe()  # a hang-up right after an ack of 0 is a refusal too
    except HungUp as err:
        seen.refused.append(f"{what} acked 0, then {err}")
        return None
    return f"{what} acked 0"


def _restore_vring(link: Link, index: int, seen: Seen) -> None:
    """After a refusal: set the attacked vring up honestly (a peer whose data path waits for
    every vring, DPDK, serves the probe request only then)."""
    if link.closed:
        return
    with contextlib.suppress(HungUp):
        status = link.setup_vring(index, Q)
        if status:
            seen.notes.append(f"vring {index} set up again: status {status}")


def _restore_memory(link: Link, peer: Peer, seen: Seen) -> None:
    with contextlib.suppress(HungUp):
        status = link.set_mem_table()
        if status:
            seen.notes.append(f"an honest SET_MEM_TABLE after it: status {status}")
            return
        for index in range(peer.spec.vrings):
            link.setup_vring(index, Q)


def _use_table(link: Link, peer: Peer) -> None:
    """After a bad table was accepted: the vrings set up in it and one kicked, as a front-end
    would go on (a back-end that mapped past its file dies of SIGBUS here: the verdict reports
    the death, with its signal, before the acceptance)."""
    try:
        for index in range(peer.spec.vrings):
            link.setup_vring(index, Q)
        link.kick(peer.spec.hostile)
    except (HungUp, NoAnswer):
        pass
    end = time.monotonic() + 0.3
    while peer.death() is None and time.monotonic() < end:
        time.sleep(0.02)


def _link(peer: Peer, level: str, skip: int | None, target: object) -> Link:
    if level == "vrings":
        return open_link(target, skip=skip)[1]
    peer.ensure()
    link = Link(peer.socket, peer.spec.kind)
    try:
        if level in ("negotiated", "memory"):
            link.negotiate(indirect=True)
        if level == "memory":
            link.set_mem_table()
    except (NoAnswer, HungUp) as err:
        link.close()
        peer.kill()
        raise CaseFailed(f"honest set-up refused: {err}", req="VHOST-USER-004") from None
    return link


def protocol_case(name: str, reqs: tuple[str, ...], summary: str, level: str,
                  attack: Attack, *, needs_ack: bool = True) -> None:
    """A case: ``level`` is how far the honest set-up goes first (``connected``,
    ``negotiated``, ``memory``, or ``vrings``: every vring but the attacked one)."""
    def run(target: object) -> Result:
        peer: Peer = peer_of(target)
        v = peer.spec.hostile
        link = _link(peer, level, v, target)
        try:
            if needs_ack and level != "connected" and \
                    not link.protocols >> M.PROTOCOL_F_REPLY_ACK & 1:
                raise CaseSkipped("no REPLY_ACK: the back-end cannot refuse a message")
            seen = Seen()
            try:
                took = attack(peer, link, seen)
            except CaseSkipped:
                link.close()
                _finish(peer)
                raise
            except NoAnswer as err:
                return _wedged(peer, summary, str(err))
            except HungUp as err:
                seen.refused.append(str(err))
                took = None
            return verdict(peer, link, summary, seen, req=reqs[0], accepted=lambda s: took,
                           expected=REFUSAL)
        finally:
            link.close()

    case(PREFIX + name, reqs, "device", "hostile", summary, BUDGET)(run)


# -- headers ----------------------------------------------------------------------------------

def _size_huge(peer: Peer, link: Link, seen: Seen) -> str | None:
    """A size field of 256 MiB on SET_FEATURES (the largest payload is a few hundred bytes),
    and the 8 bytes of the real payload."""
    try:
        return acked(link, seen, M.Req.SET_FEATURES, M.U64.pack(link.features),
                     size=0x1000_0000, what="SET_FEATURES with a size field of 256 MiB")
    except NoAnswer:
        return "no refusal within 3 s: it reads on, waiting for a payload of 256 MiB"


protocol_case("size-huge", ("VHOST-USER-006", "VHOST-USER-001"),
              "a header whose size field (256 MiB) exceeds the largest payload and the bytes "
              "sent", "negotiated", _size_huge)


def _size_over(peer: Peer, link: Link, seen: Seen) -> str | None:
    return acked(link, seen, M.Req.SET_VRING_NUM, M.STATE.pack(peer.spec.hostile, Q) + bytes(8),
                 what="SET_VRING_NUM with a payload of 16 bytes (8 defined)")


protocol_case("size-over-request", ("VHOST-USER-006", "VHOST-USER-001"),
              "SET_VRING_NUM whose size field and payload are 16 bytes (the request's is 8)",
              "negotiated", _size_over)


def _size_under(peer: Peer, link: Link, seen: Seen) -> str | None:
    return acked(link, seen, M.Req.SET_VRING_ADDR, M.STATE.pack(peer.spec.hostile, 0),
                 what="SET_VRING_ADDR with a payload of 8 bytes (40 defined)")


protocol_case("size-under-request", ("VHOST-USER-006", "VHOST-USER-001"),
              "SET_VRING_ADDR whose size field and payload are 8 bytes (the request's is 40): "
              "the addresses are missing", "memory", _size_under)


def _bad_version(peer: Peer, link: Link, seen: Seen) -> str | None:
    return acked(link, seen, M.Req.SET_VRING_NUM, M.STATE.pack(peer.spec.hostile, Q),
                 flags=2 | M.FLAG_NEED_REPLY, what="SET_VRING_NUM of version 2")


protocol_case("bad-version", ("VHOST-USER-006", "VHOST-USER-001"),
              "a message whose flags carry version 2", "negotiated", _bad_version)


def _unknown(peer: Peer, link: Link, seen: Seen) -> str | None:
    try:
        return acked(link, seen, 0x7A5A, M.U64.pack(0), what="request 31322")
    except NoAnswer:
        link.probe()  # alive but silent: the front-end would wait for the ack forever
        return "no answer to NEED_REPLY on request 31322 (REPLY_ACK negotiated); " \
            "the message was ignored silently"


protocol_case("unknown-request", ("VHOST-USER-006", "VHOST-USER-002"),
              "request code 31322, known to no version of the protocol, with NEED_REPLY",
              "negotiated", _unknown)


def _reply_flag(peer: Peer, link: Link, seen: Seen) -> str | None:
    return acked(link, seen, M.Req.SET_VRING_NUM, M.STATE.pack(peer.spec.hostile, Q),
                 flags=ACK | M.FLAG_REPLY, what="SET_VRING_NUM flagged as a reply")


protocol_case("reply-flag-on-request", ("VHOST-USER-006", "VHOST-USER-001"),
              "a front-end request carrying the REPLY flag (bit 2)", "negotiated", _reply_flag)


def _need_reply_on_get(peer: Peer, link: Link, seen: Seen) -> str | None:
    raw(link, M.Req.GET_FEATURES)
    raw(link, M.Req.GET_QUEUE_NUM, flags=M.VERSION)
    got = [next_reply(link, "GET_FEATURES with NEED_REPLY")[0]]
    got.append(next_reply(link, "GET_QUEUE_NUM")[0])
    if got != [M.Req.GET_FEATURES, M.Req.GET_QUEUE_NUM]:
        return f"answered {[M.name(r) for r in got]}: a second reply to GET_FEATURES puts " \
            "every later reply one message behind"
    seen.refused.append("one reply to GET_FEATURES, NEED_REPLY ignored")
    return None


protocol_case("need-reply-on-get", ("VHOST-USER-007", "VHOST-USER-002"),
              "GET_FEATURES with NEED_REPLY (a request that has its own reply), then "
              "GET_QUEUE_NUM: exactly one reply each, in order", "negotiated", _need_reply_on_get)


def _need_reply_no_ack(peer: Peer, link: Link, seen: Seen) -> str | None:
    offered = link.get_u64(M.Req.GET_FEATURES)
    if offered >> M.F_PROTOCOL_FEATURES & 1:
        proto = link.get_u64(M.Req.GET_PROTOCOL_FEATURES) & (1 << M.PROTOCOL_F_MQ)
        M.send(link.sock, M.Req.SET_PROTOCOL_FEATURES, M.U64.pack(proto))
    raw(link, M.Req.SET_OWNER)  # NEED_REPLY, REPLY_ACK not negotiated
    raw(link, M.Req.GET_FEATURES, flags=M.VERSION)
    req, _, _ = next_reply(link, "SET_OWNER with NEED_REPLY, then GET_FEATURES")
    if req != M.Req.GET_FEATURES:
        return f"replied to {M.name(req)} without REPLY_ACK negotiated: every later reply is " \
            "one message behind"
    seen.refused.append("NEED_REPLY ignored without REPLY_ACK (no reply)")
    return None


protocol_case("need-reply-without-reply-ack", ("VHOST-USER-007", "VHOST-USER-002"),
              "SET_OWNER with NEED_REPLY when REPLY_ACK was not negotiated, then GET_FEATURES: "
              "the first reply is GET_FEATURES'", "connected", _need_reply_no_ack,
              needs_ack=False)


def _protocol_never_offered(peer: Peer, link: Link, seen: Seen) -> str | None:
    offered = link.get_u64(M.Req.GET_FEATURES)
    if not offered >> M.F_PROTOCOL_FEATURES & 1:
        raise CaseSkipped("no VHOST_USER_F_PROTOCOL_FEATURES offered")
    have = link.get_u64(M.Req.GET_PROTOCOL_FEATURES)
    if not have >> M.PROTOCOL_F_REPLY_ACK & 1:
        raise CaseSkipped("no REPLY_ACK: the back-end cannot refuse a message")
    bit = next(b for b in range(63, 0, -1) if not have >> b & 1)
    value = have & (1 << M.PROTOCOL_F_MQ | 1 << M.PROTOCOL_F_REPLY_ACK) | 1 << bit
    what = f"SET_PROTOCOL_FEATURES with bit {bit}, never offered ({have:#x})"
    raw(link, M.Req.SET_PROTOCOL_FEATURES, M.U64.pack(value))
    got = replies_until(link, M.Req.GET_QUEUE_NUM, what)
    if M.Req.SET_PROTOCOL_FEATURES in got:
        status = int(M.U64.unpack_from(got[M.Req.SET_PROTOCOL_FEATURES])[0])
        if status:
            seen.refused.append(f"refused with status {status}")
            return None
        return f"{what} acked 0"
    # no ack: did it take the value (REPLY_ACK now in effect) or drop the message?
    raw(link, M.Req.SET_VRING_NUM, M.STATE.pack(peer.spec.hostile, Q))
    got = replies_until(link, M.Req.GET_QUEUE_NUM, "SET_VRING_NUM with NEED_REPLY")
    if M.Req.SET_VRING_NUM in got:
        return f"{what}: taken silently (REPLY_ACK is in effect after it)"
    seen.refused.append("dropped the message (REPLY_ACK not in effect)")
    return None


def replies_until(link: Link, last: int, after: str) -> dict[int, bytes]:
    """Send ``last`` (a request with a reply) and read every reply up to its own."""
    raw(link, last, flags=M.VERSION)
    got: dict[int, bytes] = {}
    for _ in range(4):
        req, _, body = next_reply(link, after)
        got[req] = body
        if req == last:
            return got
    raise NoAnswer(f"no reply to {M.name(last)} after {after} among 4 messages")


protocol_case("protocol-features-never-offered", ("VHOST-USER-007", "VHOST-USER-002"),
              "SET_PROTOCOL_FEATURES with a bit GET_PROTOCOL_FEATURES never offered",
              "connected", _protocol_never_offered, needs_ack=False)


# -- a message cut short by a hang-up ---------------------------------------------------------

def _cut_short(name: str, summary: str, head: Callable[[Link], bytes]) -> None:
    def run(target: object) -> Result:
        peer: Peer = peer_of(target)
        peer.ensure()
        link = Link(peer.socket, peer.spec.kind)
        try:
            link.negotiate()
            link.sock.sendall(head(link))
            time.sleep(0.2)
        except (NoAnswer, HungUp) as err:
            link.close()
            raise CaseFailed(f"honest set-up refused: {err}", req="VHOST-USER-006") from None
        finally:
            link.close()
        _died(peer, f"{summary}: when the front-end hung up", "VHOST-USER-006", 0.5)
        if peer.spec.one_session:
            peer.stop()
            return Result(Outcome.REJECT, f"{summary}: ended its only session cleanly")
        fresh = Link(peer.socket, peer.spec.kind, connect_timeout=3.0)
        try:
            fresh.probe()
        except (NoAnswer, HungUp) as err:
            death = peer.death()
            if death is not None:
                peer.stop()
                raise CaseFailed(f"{summary}: {death}", req="VHOST-USER-006") from None
            return _wedged(peer, summary, f"a new front-end gets no answer: {err}")
        finally:
            fresh.close()
        if peer.spinning():
            return _wedged(peer, summary, "spinning after the hang-up")
        return Result(Outcome.REJECT, f"{summary}: dropped the connection, answers a new one")

    case(PREFIX + name, ("VHOST-USER-006", "VHOST-USER-001"), "device", "hostile", summary,
         BUDGET)(run)


_cut_short("truncated-payload", "half of SET_VRING_ADDR's payload (20 of 40 bytes), then a "
           "hang-up", lambda link: M.HEADER.pack(M.Req.SET_VRING_ADDR, ACK, M.ADDR.size)
           + bytes(20))
_cut_short("truncated-header", "6 of a header's 12 bytes, then a hang-up",
           lambda link: M.HEADER.pack(M.Req.SET_VRING_NUM, ACK, 8)[:6])


# -- the memory table -------------------------------------------------------------------------

def _table(regions: list[tuple[int, int, int, int]]) -> bytes:
    return len(regions).to_bytes(4, "little") + bytes(4) + b"".join(
        M.REGION.pack(*r) for r in regions)


def _mem_case(name: str, summary: str, regions: Callable[[Link], list[tuple[int, int, int, int]]],
              nfds: Callable[[int], int] = lambda n: n) -> None:
    def attack(peer: Peer, link: Link, seen: Seen) -> str | None:
        table = regions(link)
        fds = [os.dup(link.mem.fd) for _ in range(nfds(len(table)))]
        try:
            took = acked(link, seen, M.Req.SET_MEM_TABLE, _table(table), fds,
                         what=f"SET_MEM_TABLE ({summary})")
        finally:
            for fd in fds:
                os.close(fd)
        if took is None:
            _restore_memory(link, peer, seen)
        else:
            _use_table(link, peer)
        return took

    protocol_case(name, ("VHOST-USER-008", "VHOST-USER-003"),
                  f"SET_MEM_TABLE with {summary}", "negotiated", attack)


HALF = MEMORY // 2
_mem_case("mem-table-no-regions", "0 regions", lambda link: [])
_mem_case("mem-table-nine-regions", "9 regions (the maximum is 8), 9 file descriptors",
          lambda link: [(i * 0x8000, 0x8000, USER_BASE + i * 0x8000, i * 0x8000)
                        for i in range(9)])
_mem_case("mem-table-overlap", "two regions overlapping in guest addresses",
          lambda link: [(0, MEMORY, USER_BASE, 0),
                        (HALF, HALF, USER_BASE + 4 * MEMORY, 0)])
_mem_case("mem-table-guest-wraps", "a region whose guest address + size wraps 64 bits",
          lambda link: [(2**64 - 0x1000, MEMORY, USER_BASE, 0)])
_mem_case("mem-table-offset-beyond-fd", "a region whose mmap_offset (1 GiB) lies beyond its file "
          "(512 KiB)", lambda link: [(0, MEMORY, USER_BASE, 1 << 30)])
_mem_case("mem-table-fewer-fds", "2 regions and 1 file descriptor",
          lambda link: [(0, HALF, USER_BASE, 0), (HALF, HALF, USER_BASE + HALF, HALF)],
          lambda n: n - 1)
