"""``--target vhost-user:PEER``: a vhost-user back-end behind our front-end, no guest.

PEER is ``net_vhost`` (DPDK's testpmd), ``virtiofsd`` (QEMU 7.2's), ``qsd-blk``
(qemu-storage-daemon's vhost-user-blk export), ``reference`` or ``c`` (virtiospec's own
back-end, Python device or C fast path), or ``KIND@COMMAND`` with ``{socket}`` in the command
(:mod:`.vhost_user_peer`). The peer runs as a process; the cases connect to its socket, share
memory by memfd, negotiate its features and protocol features, and set up vrings with kick and
call eventfds (:mod:`.vhost_user_link`). A peer that dies or spins is caught by the case and
started again for the next one.

The built-in targets ``reference`` and ``c`` run the same cases against our own back-end
(:func:`peer_of`).
"""

from __future__ import annotations

import atexit

from virtiospec.conformance.cases import CaseSkipped
from virtiospec.conformance.vhost_user.peer import PEERS, Peer, PeerSpec, parse

_own: dict[str, Peer] = {}


class VhostUserTarget:
    sides = ("device",)

    def __init__(self, spec: PeerSpec) -> None:
        self.name = f"vhost-user:{spec.name}"
        self.vhost_user_peer = Peer(spec)
        atexit.register(self.close)

    def close(self) -> None:
        self.vhost_user_peer.close()


def peer_of(target: object) -> Peer:
    """The vhost-user back-end of ``target``: the peer of a ``vhost-user`` target, our own
    back-end for ``reference`` (Python device) and ``c`` (the C fast path)."""
    peer = getattr(target, "vhost_user_peer", None)
    if isinstance(peer, Peer):
        return peer
    name = str(getattr(target, "name", ""))
    if name in ("reference", "c"):
        if name not in _own:
            _own[name] = Peer(PEERS[name])
            atexit.register(_own[name].close)
        return _own[name]
    raise CaseSkipped(f"target {name} has no vhost-user back-end")


def make(arg: str) -> VhostUserTarget:
    if not arg:
        raise ValueError("vhost-user needs a peer: vhost-user:net_vhost, vhost-user:virtiofsd, "
                         "vhost-user:qsd-blk, vhost-user:reference, vhost-user:c or "
                         "vhost-user:KIND@COMMAND with {socket}")
    return VhostUserTarget(parse(arg))
