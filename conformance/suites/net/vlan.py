"""virtio-net, device side: VLAN-tagged frames (VIRTIO 1.4 §5.1.9.5.3.1).

Without VIRTIO_NET_F_CTRL_VLAN the device has no VLAN filter, so it accepts every tagged
frame (NET-140): whatever the VLAN ID and the priority, a tagged frame addressed to the
driver reaches it like an untagged one, tag and all.
"""

from __future__ import annotations

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.net.api import net_of
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.pair import NetPair

PEER = b"\x02\x00\x00\x00\x00\x98"
TPID = b"\x81\x00"
# (priority, VLAN ID): the priority-tagged ID 0, the default VLAN 1, ordinary and edge IDs
TAGS = ((0, 0), (0, 1), (5, 100), (7, 2047), (3, 4094))


def tagged(dst: bytes, pcp: int, vid: int, payload: bytes) -> bytes:
    """An IPv4/UDP frame to ``dst`` with one 802.1Q tag carrying ``pcp`` and ``vid``."""
    frame = FR.udp_frame(PEER, dst, "10.0.0.9", "10.0.0.1", 7, 9, payload, pcp)
    if frame[12:14] != TPID:
        raise AssertionError("frames.udp_frame did not tag the frame")
    tci = (pcp << 13) | vid
    return frame[:14] + tci.to_bytes(2, "big") + frame[16:]


@case("net.device.rx-accepts-vlan-tagged", ("NET-140",), "device", "net",
      "without VIRTIO_NET_F_CTRL_VLAN, delivers tagged frames of every VLAN ID and priority")
def rx_accepts_vlan_tagged(target: object) -> None:
    p = NetPair(device_cls=net_of(target, "net_device"))
    if F.has(p.features, F.CTRL_VLAN):
        raise CaseSkipped("VIRTIO_NET_F_CTRL_VLAN was negotiated: a VLAN filter applies")
    sent = [FR.udp_frame(PEER, p.driver.mac, "10.0.0.9", "10.0.0.1", 7, 9, b"untagged")]
    sent += [tagged(p.driver.mac, pcp, vid, b"vlan %d" % vid) for pcp, vid in TAGS]
    refused = [f[14:16].hex() for f in sent if not p.inject(f)]
    require(not refused, "tagged frames accepted by the receive filter", "every frame",
            f"dropped TCI {', '.join(refused)}")
    got = [r.frame for r in p.driver.inbox]
    require(got == sent, "frames the driver received", f"the {len(sent)} frames, tags intact",
            f"{len(got)} frames" + ("" if len(got) != len(sent) else ", altered"))
