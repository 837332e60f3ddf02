"""virtio-net, driver side, from one session behind vhost-user (conformance/suites/net/api.py:
the Linux guest, DPDK's virtio-user, or the reference driver): two driver MUSTs of VIRTIO
1.4 §5.1.9.2.1 that what reached our device shows.

* NET-112: the header in front of a transmitted frame is as long as the one in front of a
  received frame; a driver that wrote a shorter one would have its frame read from the
  wrong offset, so the frames on the wire would not begin with an Ethernet header that
  parses (known EtherType, an IPv4 header whose length fits the frame).
* NET-113: a header asks for segmentation (``gso_type``) only of a kind whose HOST_* feature
  was negotiated; our device refuses any other (NET-006), so a refusal for that reason is the
  driver's breach.
"""

from __future__ import annotations

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.net.api import session_of
from virtiospec.reference.net import features as F
from virtiospec.reference.net.header import GSO_ECN, GSO_TCPV4, GSO_TCPV6, GSO_UDP, GSO_UDP_L4

BUDGET = 180.0
VLAN_TPIDS = (0x8100, 0x88A8)
KNOWN_TYPES = {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP", 0x88CC: "LLDP",
               0x88B5: "local experimental", 0x88B6: "local experimental"}
GSO_FEATURE = {GSO_TCPV4: F.HOST_TSO4, GSO_TCPV6: F.HOST_TSO6, GSO_UDP: F.HOST_UFO,
               GSO_UDP_L4: F.HOST_USO}


def frame_starts_right(frame: bytes) -> str | None:
    """None if ``frame`` begins with an Ethernet header that parses, else why not."""
    off = 12
    while len(frame) >= off + 2 and int.from_bytes(frame[off:off + 2], "big") in VLAN_TPIDS:
        off += 4
    if len(frame) < off + 2:
        return f"{len(frame)} bytes: no EtherType"
    eth_type = int.from_bytes(frame[off:off + 2], "big")
    if eth_type < 0x0600:
        return None if eth_type <= len(frame) - off - 2 else \
            f"802.3 length {eth_type} beyond the frame's {len(frame)} bytes"
    if eth_type not in KNOWN_TYPES:
        return f"EtherType {eth_type:#06x} at offset {off}"
    if eth_type == 0x0800:
        l3 = off + 2
        if len(frame) < l3 + 20 or frame[l3] >> 4 != 4:
            return "an IPv4 EtherType without an IPv4 header"
        total = int.from_bytes(frame[l3 + 2:l3 + 4], "big")
        if not (frame[l3] & 0x0F) * 4 <= total <= len(frame) - l3:
            return f"IPv4 total length {total} does not fit the frame's {len(frame) - l3} bytes"
    return None


@case("net.driver.tx-header-size", ("NET-112",), "driver", "net",
      "every transmitted frame begins right after a header of the receive header's size: "
      "it parses as Ethernet at the offset the device reads it from", budget=BUDGET)
def tx_header_size(target: object) -> None:
    obs = session_of(target)
    if not obs.tx_frames:
        raise CaseSkipped("the driver transmitted no frame")
    bad = [(i, why) for i, f in enumerate(obs.tx_frames) if (why := frame_starts_right(f))]
    require(not bad, "transmitted frames read after the 12-byte header",
            f"all {len(obs.tx_frames)} parse", f"{len(bad)} do not; first: frame {bad[0][0]}: "
            f"{bad[0][1]}" if bad else "", req="NET-112")


@case("net.driver.tx-gso-negotiated", ("NET-113",), "driver", "net",
      "a transmitted header asks only for the segmentation whose HOST_* feature was "
      "negotiated", budget=BUDGET)
def tx_gso_negotiated(target: object) -> None:
    obs = session_of(target)
    if not obs.tx_headers and not obs.tx_refused:
        raise CaseSkipped("the driver transmitted nothing")
    bad = sorted({h.gso_type for h in obs.tx_headers
                  if (g := h.gso_type & ~GSO_ECN) and not (
                      g in GSO_FEATURE and F.has(obs.features, GSO_FEATURE[g]))})
    require(not bad, "gso_type of transmitted headers", "only negotiated kinds",
            f"gso_type {[hex(b) for b in bad]} with {', '.join(F.names(obs.features))}",
            req="NET-113")
    refused = obs.tx_refused.count("NET-006")
    require(not refused, "headers the device refused for a segmentation kind not negotiated",
            "none", f"{refused}", req="NET-113")
