"""Hostile driver: every driver MUST of spec/ring.md (and a few of vhost-user's messages and of
the net device) broken on purpose against a real back-end, over vhost-user.

The target provides ``vhost_user_peer`` (:class:`~virtiospec.conformance.vhost_user.peer.Peer`):
DPDK's net_vhost, QEMU's virtiofsd and qemu-storage-daemon's vhost-user-blk export (target
``vhost-user:...``), or virtiospec's own back-end (targets ``reference`` and ``c``). Each case
connects, negotiates, lays out a queue of 8 in shared memory, writes the bad input, notifies,
and takes the verdict of :mod:`~virtiospec.conformance.vhost_user.verdict`: REJECT, FAIL (used
it, or the peer died) or WEDGED (no answer, spinning, data path stopped).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from virtiospec.conformance.cases import CaseFailed, CaseSkipped, Result, case
from virtiospec.conformance.ring.peer import HandDriver
from virtiospec.conformance.vhost_user.link import (
    INDIRECT_AREA,
    MEMORY,
    HungUp,
    Link,
    NoAnswer,
    data,
)
from virtiospec.conformance.vhost_user.peer import Peer
from virtiospec.conformance.vhost_user.target import peer_of
from virtiospec.conformance.vhost_user.verdict import Seen, settle, verdict
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_INDIRECT as IND,
)
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_NEXT as NEXT,
)
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_WRITE as WRITE,
)

Q = 8
BUDGET = 45.0  # a poll-mode peer takes seconds to (re)start
Buf = Callable[..., tuple[int, int]]
Seg = tuple[int, int, bool]
Request = Callable[[int], list[Seg]]  # a valid request of the device split into n descriptors
Writer = Callable[[HandDriver, Buf, Request], None]


def open_link(target: object, *, indirect: bool = True, skip: int | None = None
              ) -> tuple[Peer, Link]:
    """The peer, started, and a connection with every vring of its device set up (but
    ``skip``)."""
    peer: Peer = peer_of(target)
    peer.ensure()
    link = Link(peer.socket, peer.spec.kind)
    try:
        link.negotiate(indirect=indirect)
        link.set_mem_table()
        for index in range(peer.spec.vrings):
            if index != skip:
                link.setup_vring(index, Q)
    except (NoAnswer, HungUp) as err:
        link.close()
        end = time.monotonic() + 1.0
        while peer.death() is None and time.monotonic() < end:
            time.sleep(0.02)
        death = peer.death()
        peer.kill()
        raise CaseFailed(f"honest set-up refused: {err}" + (
            f"; the peer died (after the previous case?): {death}" if death else ""),
            req="VHOST-USER-004") from None
    return peer, link


def _bufs(vring: int) -> Buf:
    def buf(n: int, size: int = 64) -> tuple[int, int]:
        return data(vring, n), size

    return buf


def request_of(link: Link, vring: int) -> Request:
    """A valid request of the peer's device type (64-byte readable buffers for an unknown
    type), split into n descriptors: a device that ignores the violation a case commits
    completes it, so that acceptance shows as a used element."""
    def split(n: int) -> list[Seg]:
        try:
            segs = link.good(vring, None, slot=2)
        except ValueError:
            return [(data(vring, 8 + k), 64, False) for k in range(n)]
        while len(segs) < n:
            k = max(range(len(segs)), key=lambda i: segs[i][1])
            addr, length, w = segs[k]
            if length < 2:
                break
            half = length // 2
            segs[k:k + 1] = [(addr, half, w), (addr + half, length - half, w)]
        return segs

    return split


RING_CASES: list[tuple[str, tuple[str, ...], str, Writer, bool]] = []  # for other transports
EDGE = ("buffer-outside", "indirect-table-outside")  # relative to this suite's one region


def ring_case(name: str, reqs: tuple[str, ...], summary: str, write: Writer, *,
              indirect: bool = True) -> None:
    RING_CASES.append((name, reqs, summary, write, indirect))

    def run(target: object) -> Result:
        peer, link = open_link(target, indirect=indirect)
        try:
            v = peer.spec.hostile
            write(link.drivers[v], _bufs(v), request_of(link, v))
            link.kick(v)
            seen = Seen()
            settle(peer, link, v, seen)
            return verdict(peer, link, summary, seen, req=reqs[0])
        finally:
            link.close()

    all_reqs = tuple(dict.fromkeys((*reqs, "RING-SPLIT-084")))
    case(f"hostile.driver.{name}", all_reqs, "device", "hostile", summary, BUDGET)(run)


# -- chains ---------------------------------------------------------------------------------

def _loop(length: int) -> Writer:
    def write(d: HandDriver, buf: Buf, req: Request) -> None:
        d.desc(0, *buf(0, length), NEXT, 1)
        d.desc(1, *buf(1, length), NEXT, 2)
        d.desc(2, *buf(2, length), NEXT, 0)
        d.publish(0)

    return write


def _self_loop(length: int) -> Writer:
    def write(d: HandDriver, buf: Buf, req: Request) -> None:
        d.desc(3, *buf(0, length), NEXT, 3)
        d.publish(3)

    return write


def _longer_mixed(d: HandDriver, buf: Buf, req: Request) -> None:
    """6 direct descriptors and a table of 4 in a queue of 8, one valid request in all."""
    segs = req(10)
    d.chain(0, segs[:6])
    addr, length, w = segs[5]
    d.desc(5, addr, length, NEXT | (WRITE if w else 0), 6)
    d.chain(0, segs[6:], table=INDIRECT_AREA)
    d.desc(6, INDIRECT_AREA, 16 * len(segs[6:]), IND)
    d.publish(0)


def _longer_indirect(d: HandDriver, buf: Buf, req: Request) -> None:
    """A table of Q + 1 chained entries, one valid request in all."""
    segs = req(Q + 1)
    d.chain(0, segs, table=INDIRECT_AREA)
    d.desc(0, INDIRECT_AREA, 16 * len(segs), IND)
    d.publish(0)


def _head(head: int) -> Writer:
    def write(d: HandDriver, buf: Buf, req: Request) -> None:
        d.publish(head)

    return write


def _next_beyond(d: HandDriver, buf: Buf, req: Request) -> None:
    d.desc(0, *buf(0), NEXT, Q)
    d.publish(0)


def _indirect(flags: int = IND, length: int | None = None, nxt: int | None = None) -> Writer:
    """A head pointing at a table that holds one valid request (``length``: the table's
    length as the head gives it; ``nxt``: entry 0's next index, with NEXT)."""
    def write(d: HandDriver, buf: Buf, req: Request) -> None:
        segs = req(2)
        d.chain(0, segs, table=INDIRECT_AREA)
        if nxt is not None:
            addr, size, w = segs[0]
            d.desc(0, addr, size, NEXT | (WRITE if w else 0), nxt, table=INDIRECT_AREA)
        d.desc(1, *buf(7), 0, 0)
        d.desc(0, INDIRECT_AREA, 16 * len(segs) if length is None else length, flags, 1)
        d.publish(0)

    return write


def _nested(d: HandDriver, buf: Buf, req: Request) -> None:
    """A table whose only entry is INDIRECT, pointing at a table with one valid request."""
    segs = req(2)
    inner = INDIRECT_AREA + 0x400
    d.chain(0, segs, table=inner)
    d.desc(0, inner, 16 * len(segs), IND, 0, table=INDIRECT_AREA)
    d.desc(0, INDIRECT_AREA, 16, IND)
    d.publish(0)


def _indirect_loop(d: HandDriver, buf: Buf, req: Request) -> None:
    d.desc(0, *buf(0), NEXT, 1, table=INDIRECT_AREA)
    d.desc(1, *buf(1), NEXT, 0, table=INDIRECT_AREA)
    d.desc(0, INDIRECT_AREA, 32, IND)
    d.publish(0)


def _buffer(addr: int, length: int, flags: int = 0) -> Writer:
    def write(d: HandDriver, buf: Buf, req: Request) -> None:
        d.desc(0, addr, length, flags)
        d.publish(0)

    return write


def _table_at(addr: int, length: int = 32) -> Writer:
    def write(d: HandDriver, buf: Buf, req: Request) -> None:
        d.desc(0, addr, length, IND)
        d.publish(0)

    return write


def _readable_after_writable(d: HandDriver, buf: Buf, req: Request) -> None:
    """A valid request with a readable descriptor after its writable ones (or, for a request
    without a writable part, a writable one before it)."""
    segs = req(2)
    writes = any(w for _, _, w in segs)
    d.chain(0, [*segs, (*buf(7), False)] if writes else [(*buf(7), True), *segs])
    d.publish(0)


TOP = 1 << 64
ring_case("loop", ("RING-SPLIT-080",), "chain 0 -> 1 -> 2 -> 0", _loop(64))
ring_case("loop-zero-length", ("RING-SPLIT-080",), "chain 0 -> 1 -> 2 -> 0 of 0-byte buffers",
          _loop(0))
ring_case("self-loop", ("RING-SPLIT-080",), "descriptor whose next is itself", _self_loop(64))
ring_case("self-loop-zero-length", ("RING-SPLIT-080",),
          "0-byte descriptor whose next is itself", _self_loop(0))
ring_case("chain-longer-than-q", ("RING-SPLIT-080", "RING-SPLIT-022"),
          "6 direct + 4 indirect descriptors in a queue of 8", _longer_mixed)
ring_case("indirect-longer-than-q", ("RING-SPLIT-080", "RING-SPLIT-022"),
          "an indirect table of 9 chained descriptors in a queue of 8", _longer_indirect)
ring_case("head-beyond-q", ("RING-SPLIT-080",), "head index Q in a queue of 8", _head(Q))
ring_case("head-ffff", ("RING-SPLIT-080",), "head index 65535", _head(0xFFFF))
ring_case("next-beyond-q", ("RING-SPLIT-080",), "next index Q", _next_beyond)
ring_case("indirect-with-next", ("RING-SPLIT-081", "RING-SPLIT-023"),
          "INDIRECT together with NEXT", _indirect(IND | NEXT))
ring_case("nested-indirect", ("RING-SPLIT-081", "RING-SPLIT-021"),
          "INDIRECT inside an indirect table", _nested)
ring_case("indirect-empty", ("RING-SPLIT-081",), "indirect table of 0 bytes",
          _indirect(length=0))
ring_case("indirect-ragged", ("RING-SPLIT-081",), "indirect table of 24 bytes",
          _indirect(length=24))
ring_case("indirect-without-feature", ("RING-SPLIT-081", "RING-SPLIT-020"),
          "INDIRECT without VIRTIO_F_INDIRECT_DESC negotiated", _indirect(), indirect=False)
ring_case("indirect-loop", ("RING-SPLIT-080",), "indirect table 0 -> 1 -> 0", _indirect_loop)
ring_case("indirect-next-beyond-table", ("RING-SPLIT-080",),
          "next index 5 in an indirect table of 2 or more", _indirect(nxt=5))
ring_case("buffer-outside", ("RING-SPLIT-082",), "buffer running past the only region",
          _buffer(MEMORY - 8, 64))
ring_case("buffer-far-outside", ("RING-SPLIT-082",), "buffer at 1 TiB, in no region",
          _buffer(1 << 40, 64))
ring_case("buffer-wraps", ("RING-SPLIT-082",), "addr + len wraps 64 bits",
          _buffer(TOP - 16, 64))
ring_case("writable-buffer-wraps", ("RING-SPLIT-082",),
          "device-writable buffer whose addr + len wraps 64 bits", _buffer(TOP - 16, 64, WRITE))
ring_case("indirect-table-outside", ("RING-SPLIT-082",), "indirect table past the only region",
          _table_at(MEMORY - 16))
ring_case("indirect-table-wraps", ("RING-SPLIT-082",), "indirect table whose addr + len wraps",
          _table_at(TOP - 16))
ring_case("readable-after-writable", ("RING-SPLIT-083", "RING-SPLIT-011"),
          "device-readable descriptor after a device-writable one", _readable_after_writable)


# -- indices --------------------------------------------------------------------------------

def _good_or_skip(link: Link, vring: int, head: int | None, slot: int = 0) -> list[Seg]:
    """A good request (:meth:`Link.good`), or SKIP for a device of unknown type."""
    try:
        return link.good(vring, head, slot)
    except ValueError as err:
        raise CaseSkipped(str(err)) from None


def _avail_jump(by: int, summary: str, name: str) -> None:
    def run(target: object) -> Result:
        peer, link = open_link(target)
        try:
            v = peer.spec.hostile
            d = link.drivers[v]
            _good_or_skip(link, v, 0)
            d.publish(0)
            d.avail_idx = (d.avail_idx + by - 1) & 0xFFFF
            d.publish()
            link.kick(v)
            seen = Seen()
            settle(peer, link, v, seen)
            return verdict(peer, link, summary, seen, req="RING-SPLIT-084")
        finally:
            link.close()

    case(f"hostile.driver.{name}", ("RING-SPLIT-084", "RING-SPLIT-090"), "device", "hostile",
         summary, BUDGET)(run)


_avail_jump(Q + 1, "avail.idx moved Q + 1 past the last index consumed", "avail-jump")
_avail_jump(0x8000, "avail.idx moved 32768 past the last index consumed", "avail-jump-far")


@case("hostile.driver.head-twice", ("RING-SPLIT-093", "RING-SPLIT-084"), "device", "hostile",
      "the same head published twice while outstanding: survived and nothing else touched",
      BUDGET)
def head_twice(target: object) -> Result:
    peer, link = open_link(target)
    try:
        v = peer.spec.hostile
        _good_or_skip(link, v, 0)
        link.drivers[v].publish(0, 0)
        link.kick(v)
        seen = Seen()
        settle(peer, link, v, seen)
        strange = [u for u in seen.used if u[0] != 0]
        if strange or len(seen.used) > 2:
            raise CaseFailed("head published twice: used elements beyond what was published",
                             expected="at most two used elements of id 0",
                             observed=str(seen.used), req="RING-SPLIT-084")
        return verdict(peer, link, "the same head published twice", seen,
                       req="RING-SPLIT-084", tolerated=True)
    finally:
        link.close()
