"""virtio-net, driver side, in the configurations a peer chooses: multiqueue
(VIRTIO_NET_F_MQ, e.g. ``--target dpdk,queues=2``, ``--target linux-guest,queues=2``) and
in-order use of buffers (VIRTIO_F_IN_ORDER, e.g. ``--target dpdk,in_order=1``).

Both read the observation of the session the other ``net.driver.*`` cases use: which pairs the
front-end started and enabled, what moved on each pair, and whether our device used every
buffer in the order the driver made it available (its own check, made on every push). A
session that did not negotiate the feature SKIPs, saying so.
"""

from __future__ import annotations

from virtiospec.conformance.cases import CaseSkipped, Outcome, Result, case, require
from virtiospec.conformance.suites.net.api import session_of
from virtiospec.reference.net import features as F

BUDGET = 180.0


@case("net.driver.multiqueue", ("NET-025", "NET-038", "NET-040", "VHOST-USER-010"), "driver",
      "net", "with VIRTIO_NET_F_MQ the front-end starts and enables every queue pair it asked "
      "for, frames move on each pair, and a received frame goes to its flow's pair",
      budget=BUDGET)
def multiqueue(target: object) -> Result:
    obs = session_of(target)
    if not F.has(obs.features, F.MQ):
        raise CaseSkipped("the driver did not negotiate VIRTIO_NET_F_MQ (DPDK: queues=N; a "
                          "Linux guest: queues=N), or the device offered one pair")
    want = obs.pairs_wanted
    require(want > 1, "the target asked for several pairs", "> 1", str(want))
    require(obs.pairs_enabled >= want, "queue pairs the front-end started and enabled",
            str(want), str(obs.pairs_enabled), req="VHOST-USER-010")
    require(obs.steered > 0, "received frames checked for their pair", "> 0", "0")
    require(not obs.misteered, "every received frame on the pair its flow was due on (the "
            "pair the driver last transmitted the flow on, else the flow's hash)",
            f"{obs.steered} on their pair", "; ".join(obs.misteered[:3]), req="NET-040")
    beyond = {p: n for p, n in obs.rx_pairs.items() if p >= obs.pairs_enabled}
    require(not beyond, "nothing placed on a receive queue beyond the pairs in use",
            "none", str(beyond), req="NET-038")
    if obs.mq_traffic_required:
        for what, counts in (("received", obs.rx_pairs), ("transmitted", obs.tx_pairs)):
            idle = [p for p in range(want) if not counts.get(p)]
            require(not idle, f"frames the driver {what} on every pair",
                    f"pairs 0..{want - 1}", f"none on pair(s) {idle}; per pair {dict(counts)}")
    return Result(Outcome.PASS, f"{obs.pairs_enabled} pairs enabled; received per pair "
                  f"{dict(sorted(obs.rx_pairs.items()))}, transmitted per pair "
                  f"{dict(sorted(obs.tx_pairs.items()))}; {obs.steered} received frames on "
                  "their flow's pair")


@case("net.driver.in-order", ("RING-SPLIT-094", "RING-PACKED-093", "NET-060"), "driver",
      "net", "with VIRTIO_F_IN_ORDER negotiated our device uses every buffer in the order the "
      "driver made it available, and the driver (which may rely on it) loses no frame",
      budget=BUDGET)
def in_order(target: object) -> Result:
    obs = session_of(target)
    if not F.has(obs.features, F.IN_ORDER):
        raise CaseSkipped("the driver did not negotiate VIRTIO_F_IN_ORDER (DPDK: in_order=1)")
    req = "RING-PACKED-093" if F.has(obs.features, F.RING_PACKED) else "RING-SPLIT-094"
    require(obs.in_order_checked > 0, "buffers checked for in-order use", "> 0", "0", req=req)
    require(not obs.out_of_order, "buffers used in the order made available", "none out of "
            "order", "; ".join(obs.out_of_order[:3]), req=req)
    short = {w: (want, got) for w, (want, got) in obs.round_trips.items() if got < want}
    require(bool(obs.tx_frames) and not short, "frames went both ways, none lost",
            str({w: want for w, (want, _) in obs.round_trips.items()}),
            str({w: got for w, (_, got) in obs.round_trips.items()}), req="NET-060")
    return Result(Outcome.PASS, f"{obs.in_order_checked} buffers used in order; "
                  f"{len(obs.tx_frames)} frames sent by the driver")
