"""Honest baseline against a vhost-user back-end (the device of the ``vhost-user`` targets and
our own back-end for ``reference`` and ``c``): a good request is served, through an indirect
table too, across the 16-bit index wrap, with a call; a net device echoes a frame intact.

These are what make a REJECT of :mod:`.hostile_driver` mean something: the same vring, set up
the same way, serves a good request.
"""

from __future__ import annotations

import select

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.vhost_user.hostile_driver import Q, _good_or_skip, open_link
from virtiospec.conformance.vhost_user.link import (
    F_INDIRECT,
    INDIRECT_AREA,
    NET_HDR,
    Link,
    data,
)
from virtiospec.conformance.vhost_user.peer import Peer
from virtiospec.conformance.vhost_user.target import peer_of
from virtiospec.reference.ring.layout import VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_WRITE

BUDGET = 45.0


def _writable(segs: list[tuple[int, int, bool]]) -> int:
    return sum(n for _, n, w in segs if w)


@case("vhost-user.ring.good-request", ("RING-SPLIT-041", "RING-SPLIT-043", "VHOST-USER-005"),
      "device", "vhost-user", "a good request is served: one used element of its head, len within "
      "its writable part, used.idx 1, the call eventfd signalled", BUDGET)
def good_request(target: object) -> None:
    peer, link = open_link(target)
    try:
        v = peer.spec.hostile
        segs = _good_or_skip(link, v, 2)
        link.drivers[v].publish(2)
        link.kick(v)
        got = link.wait_used(v, 1, 3.0)
        require(len(got) == 1 and got[0][0] == 2, "one used element for head 2", "[(2, len)]",
                str(got))
        require(got[0][1] <= _writable(segs), "used len within the writable part",
                f"<= {_writable(segs)}", str(got[0][1]))
        require(link.used_idx(v) == 1, "used.idx", "1", str(link.used_idx(v)))
        called = select.select([link.calls[v]], [], [], 1.0)[0]
        require(bool(called), "the call eventfd was written", "readable", "not readable")
    finally:
        link.close()
        _done(peer)


@case("vhost-user.ring.indirect-request", ("RING-SPLIT-024", "RING-SPLIT-025"), "device",
      "vhost-user", "a good request in an indirect table (its WRITE flag set, to be ignored) is "
      "served", BUDGET)
def indirect_request(target: object) -> None:
    peer, link = open_link(target)
    try:
        if not link.features >> F_INDIRECT & 1:
            raise CaseSkipped(f"{peer.spec.name} does not offer VIRTIO_F_INDIRECT_DESC")
        v = peer.spec.hostile
        segs = _good_or_skip(link, v, None)
        d = link.drivers[v]
        d.chain(0, segs, table=INDIRECT_AREA)
        d.desc(4, INDIRECT_AREA, 16 * len(segs), VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE)
        d.publish(4)
        link.kick(v)
        got = link.wait_used(v, 1, 3.0)
        require([u[0] for u in got] == [4], "one used element for head 4", "[4]", str(got))
    finally:
        link.close()
        _done(peer)


@case("vhost-user.ring.index-wrap", ("RING-SPLIT-043", "VHOST-USER-004"), "device", "vhost-user",
      "started at base 65533 (SET_VRING_BASE), 5 requests across the 16-bit wrap are served in "
      "turn and used.idx wraps to 2", BUDGET)
def index_wrap(target: object) -> None:
    peer: Peer = peer_of(target)
    peer.ensure()
    link = Link(peer.socket, peer.spec.kind)
    try:
        link.negotiate()
        link.set_mem_table()
        for index in range(peer.spec.vrings):
            link.setup_vring(index, Q, base=65533)
        v = peer.spec.hostile
        for n in range(5):
            _good_or_skip(link, v, 0, n)
            link.drivers[v].publish(0)
            link.kick(v)
            got = link.wait_used(v, 1, 3.0)
            require([u[0] for u in got] == [0], f"round {n}: head 0 used", "[0]", str(got))
        require(link.used_idx(v) == 2, "used.idx wrapped", "2", str(link.used_idx(v)))
    finally:
        link.close()
        _done(peer)


@case("vhost-user.net.echo", ("NET-001", "NET-010"), "device", "vhost-user",
      "a frame transmitted on vring 1 comes back on vring 0 (testpmd io forwarding, our echo) "
      "with a 12-byte header and the same bytes", BUDGET)
def echo(target: object) -> None:
    peer: Peer = peer_of(target)
    if peer.spec.kind != "net":
        raise CaseSkipped(f"{peer.spec.name} is not a net device")
    peer, link = open_link(target)
    try:
        rx, tx = link.drivers[0], link.drivers[1]
        for n in range(4):
            rx.desc(n, data(0, 4 * n), 0x400, VIRTQ_DESC_F_WRITE)
        rx.publish(*range(4))
        link.kick(0)
        segs = _good_or_skip(link, 1, 0)
        frame = link.mem.read_bytes(segs[0][0] + NET_HDR, segs[0][1] - NET_HDR)
        tx.publish(0)
        link.kick(1)
        got = link.wait_used(0, 1, 5.0)
        require(len(got) >= 1, "the frame came back on vring 0", "a used element", "none")
        head, length = got[0]
        back = link.mem.read_bytes(data(0, 4 * head) + NET_HDR, length - NET_HDR)
        require(back == frame, "the frame came back intact", frame.hex(), back.hex())
    finally:
        link.close()
        _done(peer)


def _done(peer: Peer) -> None:
    if peer.spec.one_session:
        peer.stop()
