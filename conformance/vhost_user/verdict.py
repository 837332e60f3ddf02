"""How a hostile-driver case against a vhost-user back-end ends: the verdict, from what the
peer did after the bad input and from a liveness probe.

* the peer process died (exit status or signal) -> FAIL, with its status and output tail;
* the peer used the offending chain (a used element appeared) -> FAIL;
* the peer does not answer a GET_FEATURES round trip, or spins (a thread always runnable,
  for a peer that is not poll-mode), or a poll-mode peer (DPDK) stopped serving a good
  request on another vring -> WEDGED; the peer is killed and the next case starts it again;
* otherwise -> REJECT: it refused (a non-zero REPLY_ACK, a hang-up, a broken device, a queue
  that stopped at the bad chain) and still answers.

The peer is always left for the next case: a dead or wedged one is restarted, a one-session
peer (virtiofsd) is stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from virtiospec.conformance.cases import CaseFailed, Outcome, Result
from virtiospec.conformance.vhost_user.link import HungUp, Link, NoAnswer
from virtiospec.conformance.vhost_user.peer import Peer

SETTLE = 0.4  # seconds the peer gets to act on the bad input
PROBE_WAIT = 2.0  # seconds a good request on the probe vring gets
HANG_UP_WAIT = 0.3  # seconds the peer is watched after the front-end hangs up


@dataclass
class Seen:
    """What the case saw before the verdict."""

    used: list[tuple[int, int]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # how the peer said no, if it did
    notes: list[str] = field(default_factory=list)


def settle(peer: Peer, link: Link, vring: int, seen: Seen, seconds: float = SETTLE) -> None:
    """Give the peer ``seconds`` to act; collect used elements of ``vring`` (split or packed:
    as (id, len))."""
    def used() -> list[tuple[int, int]]:
        if vring in link.packed:
            return [(i, n) for i, n, _ in link.packed[vring].take_used()]
        return link.used(vring)

    end = time.monotonic() + seconds
    while time.monotonic() < end and peer.death() is None:
        seen.used += used()
        time.sleep(0.02)
    seen.used += used()


def _wedged(peer: Peer, what: str, why: str) -> Result:
    tail = peer.tail(6)
    peer.kill()
    return Result(Outcome.WEDGED, f"{what}: {why} (peer killed; restarted for the next case)"
                  + (f"; its output ends:\n{tail}" if tail else ""), recovered=True)


def _alive(peer: Peer, link: Link) -> tuple[Link, str, bool]:
    """GET_FEATURES on the case's connection; after a hang-up, on a new one. Returns the link
    that answered, how, and whether the case's connection is still open."""
    try:
        link.probe()
        return link, "answers GET_FEATURES", True
    except HungUp:
        pass
    if peer.spec.one_session:
        return link, "closed the connection", False
    fresh = Link(peer.socket, peer.spec.kind, connect_timeout=3.0)
    try:
        fresh.probe()
    finally:
        fresh.close()
    return link, "closed the connection, answers a new one", False


def _data_probe(peer: Peer, link: Link) -> bool | None:
    """A good request on the probe vring; None when the peer has no probe vring."""
    index = peer.spec.probe
    if index is not None and index in link.packed:
        pdrv = link.packed[index]
        pdrv.publish(9, link.good(index, None, slot=1))
        link.kick(index)
        end = time.monotonic() + PROBE_WAIT
        while time.monotonic() < end:
            if pdrv.take_used():
                return True
            time.sleep(0.005)
        return False
    if index is None or index not in link.drivers:
        return None
    drv = link.drivers[index]
    head = drv.avail_idx % link.layouts[index].size
    link.good(index, head, slot=1)
    drv.publish(head)
    link.kick(index)
    return bool(link.wait_used(index, 1, PROBE_WAIT))


def verdict(peer: Peer, link: Link, what: str, seen: Seen, *, req: str,
            accepted: Callable[[Seen], str | None] | None = None,
            tolerated: bool = False, probe: bool = True,
            expected: str = "refusal: no used element, the queue stopped or the device broken"
            ) -> Result:
    """The verdict of a case whose bad input is in place and notified (see the module doc).
    ``accepted`` says, from what was seen, whether the peer went on with the bad input (a
    sentence) -- by default any used element on the attacked vring. With ``tolerated`` the
    bad input is one the device cannot be required to detect: a peer that survives it and
    still answers PASSes. Without ``probe`` no good request is sent on the probe vring (the
    case stopped the device on purpose)."""
    _died(peer, what, req)
    took = accepted(seen) if accepted else (
        f"used element(s) {seen.used[:4]} for the bad chain" if seen.used else None)
    if took and not tolerated:
        link.close()
        _died(peer, f"{what}: accepted ({took}), then, when the front-end hung up,", req,
              HANG_UP_WAIT)
        _finish(peer)
        raise CaseFailed(f"{what}: accepted: {took}", expected=expected, observed=took, req=req)
    try:
        link, how, connected = _alive(peer, link)
    except NoAnswer:
        return _wedged(peer, what, "no answer to GET_FEATURES")
    except HungUp as err:
        death = peer.death()
        if death is not None:
            peer.stop()
            raise CaseFailed(f"{what}: {death}", observed=f"status {death.status}",
                             req=req) from None
        return _wedged(peer, what, f"alive but not accepting connections: {err}")
    if peer.spinning():
        return _wedged(peer, what, "spinning (a thread always runnable with nothing to do)")
    notes = [how, *seen.refused, *seen.notes]
    if connected and probe:
        served = _data_probe(peer, link)
        if served is False and peer.spec.busy_polls:
            return _wedged(peer, what, f"the data path stopped: a good request on vring "
                           f"{peer.spec.probe} was not served within {PROBE_WAIT:.0f} s")
        if served is not None:
            notes.append(f"vring {peer.spec.probe} " + ("still served" if served
                                                        else "stopped (device broken)"))
    link.close()
    _died(peer, f"{what}: refused, but when the front-end hung up", req, HANG_UP_WAIT)
    _finish(peer)
    if tolerated and took:
        return Result(Outcome.PASS, f"{what}: survived ({took}); " + "; ".join(notes))
    return Result(Outcome.REJECT, f"{what}: " + "; ".join(notes))


def _died(peer: Peer, what: str, req: str, wait: float = 0.0) -> None:
    """FAIL if the peer died (watching it for ``wait`` seconds first)."""
    end = time.monotonic() + wait
    while peer.death() is None and time.monotonic() < end:
        time.sleep(0.02)
    death = peer.death()
    if death is None:
        return
    peer.stop()
    if wait and peer.spec.one_session and death.status == 0:
        return  # a one-session peer (virtiofsd) ends cleanly when the front-end hangs up
    raise CaseFailed(f"{what}: {death}", expected="refusal, the peer still answering",
                     observed=f"status {death.status}", req=req)


def _finish(peer: Peer) -> None:
    if peer.spec.one_session:
        peer.stop()
