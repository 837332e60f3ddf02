"""Hostile driver, packed ring: the hostile lists of :mod:`.ring_packed_device`
(RING-PACKED-080, RING-PACKED-081, RING-PACKED-082, RING-PACKED-083, RING-PACKED-084) written
into a packed vring of a vhost-user back-end that offers VIRTIO_F_RING_PACKED (DPDK's
net_vhost, our own back-end; QEMU 7.2's libvhost-user peers do not offer it: SKIP). Same
verdicts as :mod:`.hostile_driver`; the queue is 8 descriptors, the memory the same 512 KiB
region, so the lists' addresses (and the edge of memory) mean what they mean in process.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.conformance.cases import CaseFailed, CaseSkipped, Result, case
from virtiospec.conformance.suites.ring.packed.device import HOSTILE
from virtiospec.conformance.suites.ring.packed.peer import PackedHandDriver
from virtiospec.conformance.suites.vhost_user.hostile_driver import BUDGET, Q
from virtiospec.conformance.vhost_user.link import F_RING_PACKED, HungUp, Link, NoAnswer
from virtiospec.conformance.vhost_user.peer import Peer
from virtiospec.conformance.vhost_user.target import peer_of
from virtiospec.conformance.vhost_user.verdict import Seen, settle, verdict


def open_packed(target: object, indirect: bool) -> tuple[Peer, Link]:
    peer = peer_of(target)
    peer.ensure()
    link = Link(peer.socket, peer.spec.kind)
    try:
        link.negotiate(indirect=indirect, packed=True)
        if not link.features >> F_RING_PACKED & 1:
            raise CaseSkipped(f"{peer.spec.name} does not offer VIRTIO_F_RING_PACKED")
        link.set_mem_table()
        for index in range(peer.spec.vrings):
            link.setup_packed_vring(index, Q)
    except (NoAnswer, HungUp) as err:
        link.close()
        death = peer.death()
        peer.kill()
        raise CaseFailed(f"honest set-up refused: {err}" + (f"; {death}" if death else ""),
                         req="VHOST-USER-004") from None
    except CaseSkipped:
        link.close()
        if peer.spec.one_session:
            peer.stop()
        raise
    return peer, link


def packed_case(name: str, req: str, summary: str, write: Callable[[PackedHandDriver], None],
                indirect: bool) -> None:
    def run(target: object) -> Result:
        peer, link = open_packed(target, indirect)
        try:
            v = peer.spec.hostile
            write(link.packed[v])
            link.kick(v)
            seen = Seen()
            settle(peer, link, v, seen)
            return verdict(peer, link, summary, seen, req=req)
        finally:
            link.close()

    reqs = tuple(dict.fromkeys((req, "RING-PACKED-085")))
    case(f"hostile.driver.packed.{name}", reqs, "device", "hostile", summary, BUDGET)(run)


for _name, _req, _summary, _write, _indirect in HOSTILE:
    packed_case(_name, _req, _summary, _write, _indirect)


@case("hostile.driver.packed.good-list", ("RING-PACKED-085",), "device", "hostile",
      "baseline: a good request as a packed list is served (what makes the REJECTs mean "
      "something)", BUDGET)
def good_list(target: object) -> None:
    peer, link = open_packed(target, True)
    try:
        v = peer.spec.hostile
        try:
            segs = link.good(v, None)
        except ValueError as err:
            raise CaseSkipped(str(err)) from None
        link.packed[v].publish(3, segs)
        link.kick(v)
        seen = Seen()
        settle(peer, link, v, seen, 1.0)
        if [u[0] for u in seen.used] != [3]:
            raise CaseFailed("a good packed list is served", expected="[3]",
                             observed=str(seen.used), req="RING-PACKED-085")
    finally:
        link.close()
        if peer.spec.one_session:
            peer.stop()
