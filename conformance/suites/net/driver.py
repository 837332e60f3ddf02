"""virtio-net, driver side: the target's driver runs against our device behind vhost-user
(the Linux guest, DPDK's virtio-user, or the reference driver) and every case checks one
requirement of what the device saw, or what the driver reported seeing.

One session serves all cases (the target caches it); the first case to run pays for it,
hence the budgets.
"""

from __future__ import annotations

import dpkt
from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.net.api import DriverObservation, session_of
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.errors import NetError
from virtiospec.reference.net.header import (
    F_DATA_VALID,
    F_NEEDS_CSUM,
    F_RSC_INFO,
    GSO_NONE,
    HDR_LEN,
    MAX_FRAME,
    VLAN_HLEN,
)

BUDGET = 180.0


def _session(target: object) -> DriverObservation:
    obs = session_of(target)
    require(not [e for e in obs.errors if "not started" in e or "VHOST-USER" in e],
            "the front-end set the device up without protocol errors", "no errors",
            "; ".join(obs.errors[:3]))
    require(bool(obs.tx_headers) or bool(obs.injected), "the session exchanged frames",
            "frames both ways", f"{len(obs.tx_headers)} sent, {len(obs.injected)} received; "
            f"errors: {obs.errors[:2]}")
    return obs


@case("net.driver.features", ("NET-001", "NET-027"), "driver", "net",
      "negotiates VIRTIO_F_VERSION_1 (the 12-byte header) and a consistent feature set",
      budget=BUDGET)
def features(target: object) -> None:
    obs = _session(target)
    require(F.has(obs.features, F.VERSION_1), "VIRTIO_F_VERSION_1 negotiated",
            "VERSION_1", ", ".join(F.names(obs.features)))
    try:
        # the features the front-end gave our back-end: MQ comes without CTRL_VQ, whose
        # queue the front-end serves itself (VHOST-USER-010)
        F.check(obs.features, front_end_ctrl=True)
    except NetError as err:
        require(False, "feature dependencies hold", "NET-027", str(err))


@case("net.driver.rings-set-up", ("VHOST-USER-003", "VHOST-USER-004"), "driver", "net",
      "the front-end shares its memory and starts a receive and a transmit ring",
      budget=BUDGET)
def rings(target: object) -> None:
    obs = _session(target)
    names = [m.split("(")[0] for m in obs.messages]
    require("SET_MEM_TABLE" in names, "SET_MEM_TABLE sent", "SET_MEM_TABLE", str(names[:12]))
    require(obs.rings_started >= 2, "receive and transmit rings started",
            ">= 2 rings", str(obs.rings_started))


@case("net.driver.tx-num-buffers-zero", ("NET-002",), "driver", "net",
      "sets num_buffers to zero in the header of every transmitted frame", budget=BUDGET)
def tx_num_buffers(target: object) -> None:
    obs = _session(target)
    bad = [h.num_buffers for h in obs.tx_headers if h.num_buffers]
    require(not bad, "num_buffers of transmitted headers", "0 in every header",
            f"{len(bad)} of {len(obs.tx_headers)} headers with num_buffers "
            f"{sorted(set(bad))[:5]}")


@case("net.driver.tx-flags", ("NET-003", "NET-005"), "driver", "net",
      "sets no flags without VIRTIO_NET_F_CSUM, and never DATA_VALID or RSC_INFO",
      budget=BUDGET)
def tx_flags(target: object) -> None:
    obs = _session(target)
    reserved = [h.flags for h in obs.tx_headers if h.flags & (F_DATA_VALID | F_RSC_INFO)]
    require(not reserved, "no DATA_VALID or RSC_INFO on transmit", "none",
            f"{len(reserved)} headers, flags {sorted(set(reserved))}")
    if not F.has(obs.features, F.CSUM):
        flagged = [h.flags for h in obs.tx_headers if h.flags]
        require(not flagged, "flags 0 without VIRTIO_NET_F_CSUM", "0",
                f"{len(flagged)} headers with flags {sorted(set(flagged))}")


@case("net.driver.tx-gso-none", ("NET-006",), "driver", "net",
      "sets gso_type NONE when no HOST_TSO/UFO/USO feature was negotiated", budget=BUDGET)
def tx_gso(target: object) -> None:
    obs = _session(target)
    host_gso = any(F.has(obs.features, b) for b in (F.HOST_TSO4, F.HOST_TSO6, F.HOST_UFO,
                                                     F.HOST_USO))
    if host_gso:
        raise CaseSkipped("host segmentation offload was negotiated")
    bad = [h.gso_type for h in obs.tx_headers if h.gso_type != GSO_NONE]
    require(not bad, "gso_type of transmitted headers", "GSO_NONE",
            f"{len(bad)} headers with gso_type {sorted(set(bad))}")


@case("net.driver.tx-frames-valid", ("NET-008", "NET-024"), "driver", "net",
      "every transmitted buffer holds a header and a whole Ethernet frame of legal length",
      budget=BUDGET)
def tx_frames(target: object) -> None:
    obs = _session(target)
    refused = [r for r in obs.tx_refused if r.startswith("NET-")]
    require(not refused, "no transmitted buffer refused by the device", "none",
            f"{len(refused)} refused: {sorted(set(refused))}")
    require(bool(obs.tx_frames), "the driver transmitted frames", "> 0", "0")
    for frame in obs.tx_frames:
        require(14 <= len(frame) <= MAX_FRAME + VLAN_HLEN, "frame length",
                f"14..{MAX_FRAME + VLAN_HLEN}", str(len(frame)))
        try:
            FR.parse(frame)
        except (dpkt.UnpackError, dpkt.NeedData) as err:
            require(False, "frame parses as Ethernet", "a frame", f"{err}: {frame[:32].hex()}")


@case("net.driver.tx-checksum-offload", ("NET-004", "NET-009"), "driver", "net",
      "with NEEDS_CSUM, the checksum the device completes makes the frame correct",
      budget=BUDGET)
def tx_checksum(target: object) -> None:
    obs = _session(target)
    flagged = sum(1 for h in obs.tx_headers if h.flags & F_NEEDS_CSUM)
    if not flagged:
        raise CaseSkipped("the driver never asked for checksum offload")
    checked = [FR.checksum_ok(f) for f in obs.tx_frames]
    bad = checked.count(False)
    require(bad == 0, "TCP/UDP checksums of transmitted frames after completion",
            "all correct", f"{bad} of {len(checked)} wrong ({flagged} with NEEDS_CSUM)",
            req="NET-004")


@case("net.driver.rx-buffers", ("NET-013", "NET-014"), "driver", "net",
      "posts receive buffers that hold a header (MRG_RXBUF) or a header and a full frame",
      budget=BUDGET)
def rx_buffers(target: object) -> None:
    obs = _session(target)
    if obs.rx_buf_min is None:
        raise CaseSkipped("the device never needed a receive buffer")
    mrg = F.has(obs.features, F.MRG_RXBUF)
    least = HDR_LEN if mrg else HDR_LEN + MAX_FRAME
    require(obs.rx_buf_min >= least, "smallest receive buffer", f">= {least} bytes",
            f"{obs.rx_buf_min} bytes", req="NET-014" if mrg else "NET-013")


@case("net.driver.receives", ("NET-010", "NET-011", "NET-060"), "driver", "net",
      "receives every frame the device delivered, intact and in order", budget=BUDGET)
def receives(target: object) -> None:
    obs = _session(target)
    require(bool(obs.injected), "the device sent frames to the driver", "> 0", "0")
    require(obs.delivered >= len(obs.injected), "frames placed in receive buffers",
            f">= {len(obs.injected)}", str(obs.delivered))
    if obs.confirmed is not None and F.has(obs.features, F.MQ):
        # several pairs: the order holds per queue (NET-060), and a flow stays on one pair
        # (net.driver.multiqueue), so compare flow by flow
        got, want = _by_flow(obs.confirmed), _by_flow(obs.injected)
        bad = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
        require(not bad, "frames the driver received, byte for byte and in order within "
                "each flow", f"the {len(obs.injected)} frames sent in {len(want)} flows",
                f"{len(obs.confirmed)} frames; flows that differ: {bad[:3]}")
    elif obs.confirmed is not None:
        first = next((i for i, (a, b) in enumerate(zip(obs.confirmed, obs.injected,
                                                        strict=False)) if a != b), None)
        require(obs.confirmed == obs.injected, "frames the driver received, byte for byte "
                "and in order", f"the {len(obs.injected)} frames sent",
                f"{len(obs.confirmed)} frames, first difference at {first}")
    elif obs.confirmed_count is not None:
        require(obs.confirmed_count >= len(obs.injected), "frames the driver counted",
                f">= {len(obs.injected)}", str(obs.confirmed_count))
    else:
        raise CaseSkipped("the driver does not report what it received")


def _by_flow(frames: list[bytes]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for frame in frames:
        out.setdefault(repr(FR.flow_key(frame)), []).append(frame)
    return out


@case("net.driver.round-trips", ("NET-060", "NET-023", "NET-106"), "driver", "net",
      "exchanges of the target's own (ARP, ping, TCP, echo) completed as expected",
      budget=BUDGET)
def round_trips(target: object) -> None:
    obs = _session(target)
    if not obs.round_trips:
        raise CaseSkipped("the target reports no round trips of its own")
    short = {k: v for k, v in obs.round_trips.items() if v[1] < v[0]}
    require(not short, "round trips", ", ".join(f"{k}: {w}" for k, (w, _) in short.items()),
            ", ".join(f"{k}: {s}" for k, (_, s) in short.items()))
