"""virtio-net, driver side: what a driver asking for checksum offload must have done itself
(VIRTIO 1.4 §5.1.9.2.1). With NEEDS_CSUM the device completes one checksum, the one at
`csum_start + csum_offset`; every checksum before it is the driver's (NET-117), so for an
IPv4 frame the IP header checksum is already right when the frame reaches the device.

The case reads the observation of one driver session (conformance/suites/net/api.py): the
headers the driver wrote and the frames as they reached the wire.
"""

from __future__ import annotations

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.net.api import session_of
from virtiospec.reference.net.header import F_NEEDS_CSUM, ones_complement

ETH_P_IP = 0x0800
VLAN_TPIDS = (0x8100, 0x88A8)
BUDGET = 180.0


def ipv4_header(frame: bytes) -> bytes | None:
    """The IPv4 header of an Ethernet frame (after any 802.1Q/802.1ad tags), or None."""
    off = 12
    while len(frame) >= off + 2 and int.from_bytes(frame[off:off + 2], "big") in VLAN_TPIDS:
        off += 4
    if len(frame) < off + 2 + 20 or int.from_bytes(frame[off:off + 2], "big") != ETH_P_IP:
        return None
    l3 = off + 2
    ihl = (frame[l3] & 0x0F) * 4
    if frame[l3] >> 4 != 4 or ihl < 20 or len(frame) < l3 + ihl:
        return None
    return frame[l3:l3 + ihl]


def ip_header_ok(frame: bytes) -> bool | None:
    """Whether an IPv4 frame's header checksum is right (None: not an IPv4 frame)."""
    hdr = ipv4_header(frame)
    return None if hdr is None else ones_complement(hdr) == 0xFFFF


@case("net.driver.tx-needs-csum-ip-header", ("NET-117",), "driver", "net",
      "with NEEDS_CSUM, the checksums before the one the device completes (IPv4 header) are "
      "already right", budget=BUDGET)
def tx_needs_csum_ip_header(target: object) -> None:
    obs = session_of(target)
    needs = [bool(h.flags & F_NEEDS_CSUM) for h in obs.tx_headers]
    if not any(needs):
        raise CaseSkipped("the driver never asked for checksum offload")
    if not obs.tx_refused and len(needs) == len(obs.tx_frames):
        frames = [f for n, f in zip(needs, obs.tx_frames, strict=True) if n]
    elif all(needs):  # every header asked for it: no need to pair headers with frames
        frames = obs.tx_frames
    else:
        raise CaseSkipped("the device refused some transmit buffers and not every header had "
                          "NEEDS_CSUM: headers and frames do not pair up")
    flagged = [f for f in frames if ip_header_ok(f) is not None]
    if not flagged:
        raise CaseSkipped("the driver sent no IPv4 frame with NEEDS_CSUM")
    bad = [f for f in flagged if not ip_header_ok(f)]
    require(not bad, "IPv4 header checksums of frames sent with NEEDS_CSUM",
            f"all {len(flagged)} right", f"{len(bad)} wrong")
