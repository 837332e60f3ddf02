"""virtio-net, driver side, in process: the target's driver class (the reference's
:class:`~virtiospec.reference.net.driver.NetDriver`, or a target's ``net_driver_cls``) over a
:class:`~virtiospec.reference.net.pair.NetPair` whose device watches it
(reference/net/driver_watch.py), for the driver MUSTs of VIRTIO 1.4 §5.1.9.5.1.2,
§5.1.9.5.6.1 and §5.1.9.4.2 that a session behind vhost-user cannot see (the control queue
stays with the front-end there) or cannot provoke (a received frame with a wrong checksum).

A target without an in-process driver class gets these cases skipped; QEMU and DPDK are
devices or vhost-user front-ends here, not Python driver classes.
"""

from __future__ import annotations

from typing import Any, cast

import dpkt
from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.reference.net import ctrl as C
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.driver import NetDriver
from virtiospec.reference.net.driver_watch import DriverWatch
from virtiospec.reference.net.errors import NetError
from virtiospec.reference.net.header import ETH_HLEN, HDR_LEN, MAX_FRAME, VLAN_HLEN
from virtiospec.reference.net.pair import NetPair

PEER = b"\x02\x00\x00\x00\x00\x42"
MAX_PAIRS = 4


def driver_cls_of(target: Any) -> type[NetDriver]:
    """The target's in-process network driver class (the reference's for the reference
    target), or SKIP."""
    cls = getattr(target, "net_driver_cls", None)
    if cls is None and getattr(target, "name", None) == "reference":
        cls = NetDriver
    if cls is None:
        raise CaseSkipped(f"target {getattr(target, 'name', target)} provides no in-process "
                          "network driver class")
    return cast(type[NetDriver], cls)


def watched(target: Any, *, max_pairs: int = 1, wanted: int | None = None,
            auto: bool = True) -> tuple[NetPair, DriverWatch]:
    pair = NetPair(NetConfig(max_pairs=max_pairs), wanted=wanted, auto=auto,
                   device_cls=DriverWatch, driver_cls=driver_cls_of(target))
    assert isinstance(pair.device, DriverWatch)
    return pair, pair.device


def no_violations(dev: DriverWatch, what: str) -> None:
    for req, seen in dev.violations:
        require(False, what, "no violation", seen, req=req)


def _refused(action: Any) -> bool:
    try:
        action()
    except NetError:
        return True
    return False


@case("net.driver.ctrl-rx-needs-feature", ("NET-033", "NET-138"), "driver", "net",
      "no RX or MAC command without VIRTIO_NET_F_CTRL_RX, and none of ALLUNI, NOMULTI, NOUNI, "
      "NOBCAST without VIRTIO_NET_F_CTRL_RX_EXTRA: the driver refuses the request itself")
def ctrl_rx_needs_feature(target: object) -> None:
    without_rx = NetDevice.offered(NetConfig()) & ~F.bit(F.CTRL_RX)
    pair, dev = watched(target, wanted=without_rx)
    drv = pair.driver
    for name, action in (("PROMISC", lambda: drv.set_promisc(True)),
                         ("ALLMULTI", lambda: drv.set_allmulti(True)),
                         ("MAC_TABLE_SET", lambda: drv.set_mac_table([], [])),
                         ("MAC_ADDR_SET", lambda: drv.set_mac(PEER))):
        refused = _refused(action)
        no_violations(dev, f"{name} asked for without VIRTIO_NET_F_CTRL_RX")
        require(refused, f"the driver refuses {name} without VIRTIO_NET_F_CTRL_RX",
                "NetError (NET-033)", "the command was sent and answered", req="NET-033")
    pair, dev = watched(target)  # CTRL_RX offered and taken, CTRL_RX_EXTRA not offered
    require(F.has(pair.features, F.CTRL_RX) and not F.has(pair.features, F.CTRL_RX_EXTRA),
            "the device offers CTRL_RX without CTRL_RX_EXTRA", "CTRL_RX only",
            ", ".join(F.names(pair.features)))
    require(pair.driver.set_promisc(True) == C.OK, "PROMISC with VIRTIO_NET_F_CTRL_RX",
            "VIRTIO_NET_OK", "error", req="NET-033")
    for cmd in (C.RX_ALLUNI, C.RX_NOMULTI, C.RX_NOUNI, C.RX_NOBCAST):
        refused = _refused(lambda c=cmd: pair.driver.set_rx_extra(c, True))
        no_violations(dev, f"RX command {cmd} asked for without VIRTIO_NET_F_CTRL_RX_EXTRA")
        require(refused, f"the driver refuses RX command {cmd} without CTRL_RX_EXTRA",
                "NetError (NET-138)", "sent", req="NET-138")


def _flows(n: int) -> list[bytes]:
    return [FR.udp_frame(PEER, PEER, "10.1.0.1", "10.1.0.2", 1000 + i, 2000, b"mq%03d" % i)
            for i in range(n)]


def _settle(pair: NetPair) -> None:
    """Without ``auto``: let the device work, then the driver take back what was used."""
    pair.device.poll()
    drv = pair.driver
    drv.ctrl_poll()
    for p in range(drv.n_pairs):
        drv.reap_tx(p)
    for p in range(drv.pairs_in_use):  # receive() posts buffers again: only on pairs in use
        drv.receive(p)


@case("net.driver.mq-pairs", ("NET-037", "NET-039", "NET-144"), "driver", "net",
      "VQ_PAIRS_SET: never 0 or above max_virtqueue_pairs; receive buffers on every pair "
      "before it is enabled; transmit only on transmitq1 until the device carried the "
      "command out, and on no pair beyond those in use after lowering it")
def mq_pairs(target: object) -> None:
    pair, dev = watched(target, max_pairs=MAX_PAIRS, auto=False)
    drv = pair.driver
    require(F.has(pair.features, F.MQ), "the device offers VIRTIO_NET_F_MQ", "MQ",
            ", ".join(F.names(pair.features)))
    _settle(pair)
    for bad in (0, MAX_PAIRS + 1):
        refused = _refused(lambda n=bad: drv.set_pairs(n))
        _settle(pair)
        no_violations(dev, f"VQ_PAIRS_SET {bad} asked for")
        require(refused, f"the driver refuses VQ_PAIRS_SET {bad}", "NetError (NET-037)",
                "sent", req="NET-037")
    drv.set_pairs(3)  # placed, not yet carried out: the device has not polled
    for f in _flows(24):
        drv.send(f)
    _settle(pair)  # the device sees the command and the frames, then carries them out
    no_violations(dev, "raising the pairs in use to 3")
    for f in _flows(24):
        drv.send(f)
    _settle(pair)
    used = {p for p, _ in dev.transmitted}
    require(bool(used - {0}), "frames of many flows use more than transmitq1 once 3 pairs are in "
            "use", "transmitq2 or transmitq3", f"transmitq{sorted(used)}", req="NET-039")
    drv.set_pairs(1)
    for f in _flows(24):
        drv.send(f)
    _settle(pair)
    no_violations(dev, "lowering the pairs in use to 1")
    require(dev.pairs_in_use == 1, "the device carried out VQ_PAIRS_SET 1", "1",
            str(dev.pairs_in_use), req="NET-037")


@case("net.driver.rx-checksum-unchecked", ("NET-135",), "driver", "net",
      "a received frame without DATA_VALID is not taken as checksummed: the driver checks a "
      "wrong TCP/UDP checksum and reports it wrong")
def rx_checksum_unchecked(target: object) -> None:
    pair, _ = watched(target)
    drv = pair.driver
    good = FR.udp_frame(PEER, drv.mac, "10.2.0.1", "10.2.0.2", 7, 9, b"right checksum")
    l4 = 14 + 20
    bad = good[:l4 + 6] + bytes([good[l4 + 6] ^ 0x5A, good[l4 + 7]]) + good[l4 + 8:]
    require(FR.checksum_ok(bad) is False, "the case's frame has a wrong checksum", "wrong",
            "right")
    for f in (good, bad):
        pair.inject(f)
    got = {r.frame: r for r in drv.inbox}
    require(good in got and bad in got, "both frames reach the driver", "2 frames",
            f"{len(got)}")
    require(not got[bad].hdr.flags, "the device set no flag on the frames", "flags 0",
            str(got[bad].hdr.flags))
    require(got[good].checksum == "ok", "the right checksum, checked by the driver", "ok",
            got[good].checksum, req="NET-135")
    require(got[bad].checksum == "bad", "the wrong checksum without DATA_VALID",
            "reported bad", f"reported {got[bad].checksum}", req="NET-135")


def _tcp_frame(src: bytes, dst: bytes, payload: bytes) -> bytes:
    tcp = dpkt.tcp.TCP(sport=4000, dport=80, seq=1, flags=dpkt.tcp.TH_ACK, data=payload)
    ip = dpkt.ip.IP(src=FR.ip_bytes("10.3.0.1"), dst=FR.ip_bytes("10.3.0.2"),
                    p=dpkt.ip.IP_PROTO_TCP, data=tcp)
    ip.len = 20 + len(bytes(tcp))
    return FR.ethernet(src, dst, dpkt.ethernet.ETH_TYPE_IP, ip)


@case("net.driver.tx-header", ("NET-112", "NET-113"), "driver", "net",
      "the header before a transmitted frame has the receive header's size (the device finds "
      "the frame where it begins), and no segmentation is asked for without its HOST_* "
      "feature")
def tx_header(target: object) -> None:
    pair, dev = watched(target)
    drv = pair.driver
    sent = [FR.udp_frame(drv.mac, PEER, "10.3.0.1", "10.3.0.2", 5, 6, b"plain"),
            FR.udp_frame(drv.mac, PEER, "10.3.0.1", "10.3.0.2", 5, 6, b"offloaded")]
    drv.send(sent[0])
    drv.send(sent[1], csum=F.has(pair.features, F.CSUM))
    require(not dev.faults, "the device refused no transmitted buffer", "none",
            "; ".join(f"{getattr(f, 'req', '?')}: {f}" for f in dev.faults[:2]), req="NET-112")
    wire = [f for _, f in dev.transmitted]
    require(wire == sent, "the frames on the wire, byte for byte, after a "
            f"{HDR_LEN}-byte header", "the frames sent",
            f"{len(wire)} frames, first {wire[0][:16].hex() if wire else 'none'}", req="NET-112")
    big = _tcp_frame(drv.mac, PEER, bytes(range(256)) * 3)
    for needed in (F.HOST_TSO4, F.HOST_USO):
        require(not F.has(pair.features, needed), f"the device offers no {F.NAMES[needed]}",
                "not offered", "offered")
    refused = _refused(lambda: drv.send(big, gso_size=256))
    gso_faults = [f for f in dev.faults if getattr(f, "req", "") == "NET-006"]
    require(not gso_faults, "no header with a gso_type whose HOST_* feature was not "
            "negotiated", "none", str(gso_faults[:1]), req="NET-113")
    require(refused, "the driver refuses TCP segmentation without VIRTIO_NET_F_HOST_TSO4",
            "NetError (NET-113)", "accepted", req="NET-113")


MTU = 1280


@case("net.driver.mtu", ("NET-108",), "driver", "net",
      "with VIRTIO_NET_F_MTU, receive buffers hold a header and a frame of mtu + 14, and no "
      "transmitted frame is longer than mtu + 14 (+ an 802.1Q tag)")
def mtu(target: object) -> None:
    wanted = NetDevice.offered(NetConfig()) & ~F.bit(F.MRG_RXBUF)
    pair = NetPair(NetConfig(mtu=MTU), wanted=wanted, device_cls=DriverWatch,
                   driver_cls=driver_cls_of(target))
    dev, drv = pair.device, pair.driver
    require(F.has(pair.features, F.MTU), "VIRTIO_NET_F_MTU negotiated", "MTU",
            ", ".join(F.names(pair.features)))
    pair.inject(FR.udp_frame(PEER, drv.mac, "10.4.0.1", "10.4.0.2", 1, 2, b"x" * 100))
    least = HDR_LEN + MTU + ETH_HLEN
    st = dev.stats
    require(st.rx_buf_min is not None and st.rx_buf_min >= least,
            "receive buffers with an mtu of 1280", f">= {least} bytes", str(st.rx_buf_min),
            req="NET-108")
    longest = MTU + ETH_HLEN + VLAN_HLEN
    ok = FR.raw_frame(drv.mac, PEER, b"m" * (longest - ETH_HLEN))
    drv.send(ok)
    too_long = FR.raw_frame(drv.mac, PEER, b"m" * (longest + 1 - ETH_HLEN))
    refused = _refused(lambda: drv.send(too_long))
    long_faults = [f for f in dev.faults if getattr(f, "req", "") == "NET-024"]
    require(not long_faults, "no transmitted frame longer than mtu + 14 (+ a tag)", "none",
            str(long_faults[:1]), req="NET-108")
    require(refused, f"the driver refuses a {longest + 1}-byte frame with an mtu of {MTU}",
            "NetError", "accepted", req="NET-108")
    require([f for _, f in dev.transmitted] == [ok], f"the {longest}-byte frame passes",
            "sent", f"{len(dev.transmitted)} frames")


@case("net.driver.rx-buffer-header", ("NET-124",), "driver", "net",
      "without MRG_RXBUF, asked for receive buffers of a bare 1514-byte frame, the driver "
      "refuses or counts the 12-byte header: no buffer the device sees is shorter than "
      "header and frame")
def rx_buffer_header(target: object) -> None:
    wanted = NetDevice.offered(NetConfig()) & ~F.bit(F.MRG_RXBUF)
    try:
        pair = NetPair(NetConfig(), wanted=wanted, rx_buf_size=MAX_FRAME,
                       device_cls=DriverWatch, driver_cls=driver_cls_of(target))
    except ValueError:
        return None  # refused: sizing is the caller's to fix
    pair.inject(FR.udp_frame(PEER, pair.driver.mac, "10.5.0.1", "10.5.0.2", 1, 2, b"y"))
    st = pair.device.stats
    least = HDR_LEN + MAX_FRAME
    require(st.rx_buf_min is not None and st.rx_buf_min >= least,
            "receive buffers without MRG_RXBUF", f">= {least} bytes (header and frame)",
            str(st.rx_buf_min), req="NET-124")
    return None


class WrongHdrLen(DriverWatch):
    """A device that puts a wrong ``hdr_len`` (7) in every received header."""

    rx_hdr_len = 7


@case("net.driver.rx-hdr-len-unused", ("NET-134",), "driver", "net",
      "a received header's hdr_len is not counted on: with a wrong one, the driver still "
      "finds the frame's headers (where the UDP payload begins) by itself")
def rx_hdr_len_unused(target: object) -> None:
    pair = NetPair(NetConfig(), device_cls=WrongHdrLen, driver_cls=driver_cls_of(target))
    drv = pair.driver
    sent = FR.udp_frame(PEER, drv.mac, "10.6.0.1", "10.6.0.2", 3, 4, b"payload")
    pair.inject(sent)
    got = [r for r in drv.inbox if r.frame == sent]
    require(len(got) == 1, "the frame reaches the driver whole", "1 frame",
            f"{len(drv.inbox)} frames, none equal", req="NET-134")
    require(got[0].hdr.hdr_len == WrongHdrLen.rx_hdr_len, "the device's hdr_len as written",
            str(WrongHdrLen.rx_hdr_len), str(got[0].hdr.hdr_len))
    at = ETH_HLEN + 20 + 8
    require(got[0].payload_at == at and sent[at:] == b"payload",
            "where the driver finds the payload", f"offset {at}",
            f"offset {got[0].payload_at}", req="NET-134")
