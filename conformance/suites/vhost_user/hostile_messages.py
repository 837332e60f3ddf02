"""Hostile driver, beyond the descriptor walk: notifications for vrings never set up or out of
range, features never offered, a kick of a stopped ring, a reset in the middle of traffic, and
the net device's own buffers (a short transmit header, receive buffers in no memory or in a
loop). Same peers and verdicts as :mod:`.hostile_driver`."""

from __future__ import annotations

from virtiospec.conformance.cases import CaseFailed, CaseSkipped, Outcome, Result, case
from virtiospec.conformance.suites.vhost_user.hostile_driver import (
    BUDGET,
    Q,
    _good_or_skip,
    open_link,
)
from virtiospec.conformance.vhost_user.link import MEMORY, HungUp, Link, NoAnswer, data
from virtiospec.conformance.vhost_user.peer import Peer
from virtiospec.conformance.vhost_user.target import peer_of
from virtiospec.conformance.vhost_user.verdict import Seen, _wedged, settle, verdict
from virtiospec.reference.ring.layout import VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE
from virtiospec.reference.vhost_user import messages as M


def _served_after(peer: Peer, link: Link, seen: Seen) -> None:
    """A good request on the attacked vring after the bad message: served (the bad message
    was ignored) or not (the device stopped: a refusal)."""
    v = peer.spec.hostile
    if v not in link.drivers or peer.death() is not None:
        return
    d = link.drivers[v]
    _good_or_skip(link, v, 0)  # nothing else is outstanding on the vring
    d.publish(0)
    link.kick(v)
    settle(peer, link, v, seen, 1.0)
    if not seen.used:
        seen.refused.append(f"vring {v} stopped serving")


def _bad_kick(index_of: str, summary: str, name: str, reqs: tuple[str, ...]) -> None:
    def run(target: object) -> Result:
        peer: Peer = peer_of(target)
        idle = None
        if index_of == "never-set-up":
            idle = peer.spec.probe if peer.spec.probe is not None else (
                0 if peer.spec.hostile else 1)
        peer, link = open_link(target, skip=idle)
        try:
            seen = Seen()
            index = idle if idle is not None else 200
            try:
                status = link.set_eventfd(M.Req.SET_VRING_KICK, index, link.kicks)
                if status:
                    seen.refused.append(f"SET_VRING_KICK {index} acked {status}")
                link.kick(index)
            except HungUp as err:
                seen.refused.append(str(err))
            except NoAnswer:
                return _wedged(peer, summary, f"no answer to SET_VRING_KICK {index}")
            if not seen.refused:
                _served_after(peer, link, seen)
            took = "ignored; the attacked vring still served" if seen.used else None
            return verdict(peer, link, summary, seen, req=reqs[0],
                           accepted=lambda s: took, tolerated=True)
        finally:
            link.close()

    case(f"hostile.driver.{name}", reqs, "device", "hostile", summary, BUDGET)(run)


_bad_kick("never-set-up", "a kick for a vring that was never set up", "kick-never-set-up",
          ("VIRTIO-STATUS-010", "VHOST-USER-004"))
_bad_kick("out-of-range", "SET_VRING_KICK and a kick for vring 200", "kick-out-of-range",
          ("VHOST-USER-001", "VHOST-USER-004"))


@case("hostile.driver.features-never-offered", ("VIRTIO-FEAT-002", "VHOST-USER-002"), "device",
      "hostile", "SET_FEATURES with a bit the back-end never offered", BUDGET)
def features_never_offered(target: object) -> Result:
    peer: Peer = peer_of(target)
    peer.ensure()
    link = Link(peer.socket, peer.spec.kind)
    what = "SET_FEATURES with a bit never offered"
    try:
        offered = link.get_u64(M.Req.GET_FEATURES)
        bit = next(b for b in range(63, 0, -1) if not offered >> b & 1)
        seen = Seen()
        try:
            status = link.negotiate(offered | 1 << bit)
            if status:
                seen.refused.append(f"acked {status}")
            elif link.protocols >> M.PROTOCOL_F_REPLY_ACK & 1 == 0:
                raise CaseSkipped("no REPLY_ACK: the back-end cannot say no to SET_FEATURES")
            else:
                link.probe()  # a hang-up after the ack is a refusal too
        except HungUp as err:
            seen.refused.append(str(err))
        except NoAnswer:
            return _wedged(peer, what, "no answer to SET_FEATURES")
        took = None if seen.refused else f"acked 0 for feature bit {bit} (offered {offered:#x})"
        return verdict(peer, link, f"{what} ({bit})", seen, req="VHOST-USER-002",
                       accepted=lambda s: took)
    finally:
        link.close()


@case("hostile.driver.kick-stopped-ring", ("VHOST-USER-004", "RING-SPLIT-084"), "device", "hostile",
      "a request published and kicked after GET_VRING_BASE stopped the ring", BUDGET)
def kick_stopped(target: object) -> Result:
    peer, link = open_link(target)
    try:
        v = peer.spec.hostile
        try:
            link.get(M.Req.GET_VRING_BASE, M.STATE.pack(v, 0))
        except NoAnswer:
            return _wedged(peer, "kick of a stopped ring", "no answer to GET_VRING_BASE")
        _good_or_skip(link, v, 0)
        link.drivers[v].publish(0)
        link.kick(v)
        seen = Seen()
        settle(peer, link, v, seen)
        return verdict(peer, link, "kick of a stopped ring", seen, req="VHOST-USER-004",
                       probe=False)
    finally:
        link.close()


@case("hostile.driver.reset-mid-traffic", ("VHOST-USER-004", "RING-SPLIT-090"), "device",
      "hostile", "every ring stopped while requests are in flight, then set up afresh: the base "
      "returned covers what was used, and a good request is served after", BUDGET)
def reset_mid_traffic(target: object) -> Result | None:
    peer, link = open_link(target)
    what = "reset in the middle of traffic"
    try:
        v = peer.spec.hostile
        d = link.drivers[v]
        try:
            width = len(link.good(v, None))
        except ValueError as err:
            raise CaseSkipped(str(err)) from None
        heads = list(range(0, Q - width + 1, width))[:6]
        for k, head in enumerate(heads):
            link.good(v, head, k)
        d.publish(*heads)
        link.kick(v)
        n = len(heads)
        first = link.wait_used(v, 1, 1.0)  # traffic is moving: now the reset
        try:
            bases = {i: M.STATE.unpack(link.get(M.Req.GET_VRING_BASE, M.STATE.pack(i, 0)))[1]
                     for i in sorted(link.drivers)}
            used = first + link.used(v)
            if not len(used) <= bases[v] <= n:
                raise CaseFailed(f"{what}: GET_VRING_BASE {bases[v]} with {len(used)} used of "
                                 f"{n}", expected=f"used <= base <= {n}",
                                 observed=str(bases[v]), req="VHOST-USER-004")
            for i in sorted(link.drivers):
                link.setup_vring(i, Q)
            _good_or_skip(link, v, 0)
            link.drivers[v].publish(0)
            link.kick(v)
            got = link.wait_used(v, 1, 3.0)
        except NoAnswer as err:
            return _wedged(peer, what, str(err))
        except HungUp as err:
            death = peer.death()
            peer.kill()
            raise CaseFailed(f"{what}: {err}" + (f"; {death}" if death else ""),
                             req="VHOST-USER-004") from None
        if not got:
            death = peer.death()
            peer.kill()
            raise CaseFailed(f"{what}: no good request served after the restart"
                             + (f"; {death}" if death else ""), req="VHOST-USER-004")
        if peer.spec.one_session:
            peer.stop()
        return Result(Outcome.PASS, f"{what}: base {bases[v]} after {len(used)} used of {n}; "
                      "served after the restart")
    finally:
        link.close()


# -- the net device's buffers ---------------------------------------------------------------

def _net(target: object) -> None:
    peer: Peer = peer_of(target)
    if peer.spec.kind != "net":
        raise CaseSkipped(f"{peer.spec.name} is not a net device")


def _rx_case(name: str, summary: str, reqs: tuple[str, ...], loop: bool) -> None:
    def run(target: object) -> Result:
        _net(target)
        peer, link = open_link(target)
        try:
            rx = link.drivers[0]
            if loop:
                rx.desc(0, data(0), 0x100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1)
                rx.desc(1, data(0, 1), 0x100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0)
            else:
                rx.desc(0, MEMORY - 0x40, 0x800, VIRTQ_DESC_F_WRITE)
            rx.publish(0)
            link.kick(0)
            tx = link.drivers[1]
            link.good(1, 0)
            tx.publish(0)
            link.kick(1)
            seen = Seen()
            settle(peer, link, 0, seen)
            seen.notes.append(f"the frame's transmit buffer used: {bool(link.used(1))}")
            return verdict(peer, link, summary, seen, req=reqs[0])
        finally:
            link.close()

    case(f"hostile.driver.net.{name}", reqs, "device", "hostile", summary, BUDGET)(run)


_rx_case("rx-buffer-outside", "a receive buffer running past the only region, then a frame",
         ("RING-SPLIT-082", "RING-SPLIT-084"), False)
_rx_case("rx-loop", "a receive chain 0 -> 1 -> 0, then a frame", ("RING-SPLIT-080",
         "RING-SPLIT-084"), True)


@case("hostile.driver.net.tx-short-header", ("NET-008", "NET-001"), "device", "hostile",
      "a transmit buffer of 4 bytes (shorter than the 12-byte header): not sent on", BUDGET)
def tx_short(target: object) -> Result:
    _net(target)
    peer, link = open_link(target)
    try:
        rx, tx = link.drivers[0], link.drivers[1]
        for n in range(4):
            rx.desc(n, data(0, 4 * n), 0x400, VIRTQ_DESC_F_WRITE)
        rx.publish(*range(4))
        link.kick(0)
        link.mem.write_bytes(data(1), b"\x01\x02\x03\x04")
        tx.desc(0, data(1), 4, 0)
        tx.publish(0)
        link.kick(1)
        seen = Seen()
        settle(peer, link, 0, seen)
        txu = link.used(1)
        seen.notes.append(f"transmit buffer used as {txu}" if txu else
                          "transmit queue stopped at the buffer")
        return verdict(peer, link, "a 4-byte transmit buffer", seen, req="NET-008",
                       accepted=lambda s: f"a frame reached the wire and came back: {s.used}"
                       if s.used else None)
    finally:
        link.close()


@case("hostile.driver.net.tx-oversized", ("NET-008", "NET-024"), "device", "hostile",
      "a transmitted frame of 9000 bytes without VIRTIO_NET_F_MTU (more than 1514 + a tag): "
      "not sent on", BUDGET)
def tx_oversized(target: object) -> Result:
    _net(target)
    peer, link = open_link(target)
    try:
        rx, tx = link.drivers[0], link.drivers[1]
        rx.desc(0, data(0), 0x4000, VIRTQ_DESC_F_WRITE)  # room for the frame if it comes back
        rx.publish(0)
        link.kick(0)
        frame = bytes(12) + bytes.fromhex("02aabbccddee525400123456") + b"\x88\xb5" + \
            bytes(9000 - 14)
        link.mem.write_bytes(data(1), frame)
        tx.desc(0, data(1), len(frame), 0)
        tx.publish(0)
        link.kick(1)
        seen = Seen()
        settle(peer, link, 0, seen)
        txu = link.used(1)
        seen.notes.append(f"transmit buffer used as {txu}" if txu else
                          "transmit queue stopped at the buffer")
        return verdict(peer, link, "a 9000-byte transmitted frame", seen, req="NET-008",
                       accepted=lambda s: f"the frame reached the wire and came back: {s.used}"
                       if s.used else None)
    finally:
        link.close()
