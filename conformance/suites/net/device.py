"""virtio-net, device side: the suite is the driver (the reference driver for honest traffic,
hand-written buffers and commands for hostile input), the target is the device.

A hostile case passes with REJECT when the device refuses the input naming one of the
expected requirements and then still transmits a good frame (it never fails on a driver's
header or command).
"""

from __future__ import annotations

from virtiospec.conformance.cases import Outcome, Result, case, require
from virtiospec.conformance.suites.net.api import net_of
from virtiospec.reference.net import ctrl as C
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.buffers import run_op
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.driver import RxToken, TxToken
from virtiospec.reference.net.header import F_NEEDS_CSUM, GSO_TCPV4, NetHdr
from virtiospec.reference.net.pair import NetPair

PEER = b"\x02\x00\x00\x00\x00\x99"


def _pair(target: object, config: NetConfig | None = None, **kw: object) -> NetPair:
    factory = net_of(target, "net_device")
    return NetPair(config, device_cls=factory, **kw)  # type: ignore[arg-type]


def _good(p: NetPair, tag: bytes = b"good") -> bytes:
    return FR.udp_frame(p.driver.mac, PEER, "10.0.0.1", "10.0.0.9", 9, 7, tag)


def _for_driver(p: NetPair, tag: bytes, pcp: int | None = None, sport: int = 7) -> bytes:
    return FR.udp_frame(PEER, p.driver.mac, "10.0.0.9", "10.0.0.1", sport, 9, tag, pcp)


def _raw_tx(p: NetPair, data: bytes) -> None:
    addr = p.driver.tx_pool.alloc()
    require(addr is not None, "a free transmit buffer")
    assert addr is not None
    p.mem.write_bytes(addr, data)
    run_op(p.driver.queues[1].add([(addr, max(len(data), 1))], [],
                                  TxToken(0, 0, b"", addr, False)), p.mem)


def _refused(p: NetPair, reqs: set[str], what: str) -> Result:
    """The device refused the last input naming one of ``reqs`` and still transmits."""
    fault = p.device.faults[-1] if p.device.faults else None
    req = getattr(fault, "req", None)
    require(req in reqs, f"{what}: refused naming the requirement",
            " or ".join(sorted(reqs)), f"{req}: {fault}" if fault else "accepted")
    before = len(p.device.transmitted)
    p.driver.send(_good(p, b"after"))
    p.device.poll()
    require(len(p.device.transmitted) == before + 1, f"{what}: the device goes on",
            "the next good frame transmitted", "nothing transmitted")
    return Result(Outcome.REJECT, f"{what}: {fault}")


@case("net.device.tx-transmits", ("NET-001", "NET-060"), "device", "net",
      "transmits the frames of a transmit queue, intact and in order")
def tx_transmits(target: object) -> None:
    p = _pair(target)
    sent = [_good(p, b"%d" % i) for i in range(20)]
    for f in sent:
        p.driver.send(f)
    require([f for _, f in p.device.transmitted] == sent, "frames on the wire",
            "the 20 frames in order", f"{len(p.device.transmitted)} frames")


@case("net.device.tx-rejects-short-buffer", ("NET-008",), "device", "net",
      "refuses a transmit buffer shorter than the header and an Ethernet header")
def tx_short(target: object) -> Result:
    p = _pair(target, auto=False)
    _raw_tx(p, NetHdr().pack() + b"\0" * 5)
    p.device.poll()
    return _refused(p, {"NET-008"}, "17-byte transmit buffer")


@case("net.device.tx-rejects-csum-without-feature", ("NET-003",), "device", "net",
      "refuses NEEDS_CSUM when VIRTIO_NET_F_CSUM was not negotiated")
def tx_csum_feature(target: object) -> Result:
    p = _pair(target, wanted=~F.bit(F.CSUM), auto=False)
    frame, start, off = FR.partial_checksum(_good(p))
    _raw_tx(p, NetHdr(flags=F_NEEDS_CSUM, csum_start=start, csum_offset=off).pack() + frame)
    p.device.poll()
    return _refused(p, {"NET-003"}, "NEEDS_CSUM without the feature")


@case("net.device.tx-rejects-csum-range", ("NET-004",), "device", "net",
      "refuses a checksum position beyond the end of the frame")
def tx_csum_range(target: object) -> Result:
    p = _pair(target, auto=False)
    frame = _good(p)
    _raw_tx(p, NetHdr(flags=F_NEEDS_CSUM, csum_start=len(frame) - 1, csum_offset=6).pack()
            + frame)
    p.device.poll()
    return _refused(p, {"NET-004"}, "checksum beyond the frame")


@case("net.device.tx-rejects-gso", ("NET-006",), "device", "net",
      "refuses a segmentation request that was not negotiated")
def tx_gso(target: object) -> Result:
    p = _pair(target, auto=False)
    _raw_tx(p, NetHdr(flags=F_NEEDS_CSUM, gso_type=GSO_TCPV4, gso_size=536, csum_start=34,
                      csum_offset=16).pack() + _good(p) + b"\0" * 20)
    p.device.poll()
    return _refused(p, {"NET-006"}, "GSO_TCPV4 without HOST_TSO4")


@case("net.device.tx-completes-checksum", ("NET-009", "NET-007"), "device", "net",
      "completes a partial checksum, and ignores csum fields without NEEDS_CSUM")
def tx_checksum(target: object) -> None:
    p = _pair(target, auto=False)
    frame = _good(p, b"partial checksum")
    partial, start, off = FR.partial_checksum(frame)
    _raw_tx(p, NetHdr(flags=F_NEEDS_CSUM, csum_start=start, csum_offset=off).pack() + partial)
    _raw_tx(p, NetHdr(csum_start=0xFFFF, csum_offset=0xFFFF).pack() + frame)
    p.device.poll()
    got = [f for _, f in p.device.transmitted]
    require(got == [frame, frame], "frames on the wire", "the fully checksummed frame twice",
            f"{len(got)} frames, checksums {[FR.checksum_ok(f) for f in got]}")


@case("net.device.rx-single-buffer", ("NET-010", "NET-012"), "device", "net",
      "without MRG_RXBUF puts each frame in one buffer with num_buffers 1 and flags 0")
def rx_single(target: object) -> None:
    p = _pair(target, wanted=~F.bit(F.MRG_RXBUF))
    frame = _for_driver(p, b"x" * 1400)
    p.inject(frame)
    require(len(p.driver.inbox) == 1, "one frame received", "1", str(len(p.driver.inbox)))
    r = p.driver.inbox[0]
    require((r.frame, r.buffers, r.hdr.num_buffers, r.hdr.flags, r.hdr.gso_type)
            == (frame, 1, 1, 0, 0), "frame and header", "frame, 1 buffer, num_buffers 1, 0, 0",
            f"{len(r.frame)} bytes, {r.buffers}, {r.hdr}")


@case("net.device.rx-mergeable", ("NET-011", "NET-018"), "device", "net",
      "with MRG_RXBUF spreads a frame over buffers, all but the last full, num_buffers right")
def rx_mergeable(target: object) -> None:
    p = _pair(target, rx_buf_size=100, queue_size=64)
    frames = [_for_driver(p, bytes([n % 256]) * n) for n in (0, 30, 88, 300, 1400)]
    for f in frames:
        p.inject(f)
    got = p.driver.inbox
    seen = [r.frame for r in got]
    # the same frames in another order break our ordering rule; frames cut or glued wrong
    # break NET-011 (num_buffers and the filling of the buffers)
    require(seen == frames, "frames reassembled in order", "5 frames", f"{len(got)} frames",
            req="NET-018" if sorted(seen) == sorted(frames) else "NET-011")
    for r in got:
        need = -(-(12 + len(r.frame)) // 100)
        require(r.hdr.num_buffers == r.buffers == need, "num_buffers",
                str(need), f"{r.hdr.num_buffers} ({r.buffers} used)", req="NET-011")


@case("net.device.rx-waits-for-buffers", ("NET-017",), "device", "net",
      "keeps received frames while the driver has no buffers, and delivers them later")
def rx_waits(target: object) -> None:
    p = _pair(target, queue_size=4, auto=False)
    frames = [_for_driver(p, b"%d" % i) for i in range(12)]
    for f in frames:
        p.device.receive(f)
    got: list[bytes] = []
    for _ in range(10):
        p.device.deliver(0)
        got += [r.frame for r in p.driver.receive(0)]
    require(got == frames, "every frame delivered once buffers came", "12 frames in order",
            f"{len(got)} frames")


@case("net.device.ctrl-rejects-malformed", ("NET-031", "NET-035"), "device", "net",
      "answers a malformed MAC table with VIRTIO_NET_ERR and changes nothing")
def ctrl_malformed(target: object) -> Result:
    p = _pair(target)
    ack = p.driver.command(bytes([C.CLASS_MAC, C.MAC_TABLE_SET]) + b"\x05\0\0\0" + b"\x02" * 6)
    require(ack == C.ERR, "ack of a table claiming 5 entries with 1", "VIRTIO_NET_ERR",
            str(ack))
    require(p.device.filter.unicast == [], "MAC table unchanged", "[]",
            str(p.device.filter.unicast))
    return _refused(p, {"NET-031", "NET-035"}, "truncated MAC table")


@case("net.device.ctrl-mac-filter", ("NET-032", "NET-034", "NET-036"), "device", "net",
      "filters received frames by MAC address, table and promiscuous mode")
def ctrl_filter(target: object) -> None:
    p = _pair(target)
    other = b"\x02\x00\x00\x00\x00\x42"

    def to(dst: bytes) -> bool:
        return p.inject(FR.udp_frame(PEER, dst, "10.0.0.9", "10.0.0.1", 7, 9, b"f"))

    require(not to(other), "a frame for another address", "dropped", "accepted")
    require(p.driver.set_mac_table([other], []) == C.OK, "TABLE_SET", "OK", "ERR")
    require(to(other), "a frame for an address of the table", "accepted", "dropped")
    require(p.driver.set_mac_table([], []) == C.OK and not to(other), "table emptied",
            "dropped", "accepted")
    require(p.driver.set_promisc(True) == C.OK and to(other), "promiscuous", "accepted",
            "dropped")


@case("net.device.mq-steering", ("NET-038", "NET-040"), "device", "net",
      "receives on receiveq1 only until VQ_PAIRS_SET, then steers a flow to its transmit queue")
def mq_steering(target: object) -> None:
    p = _pair(target, NetConfig(max_pairs=2), wanted=~F.bit(F.VIRTIOSPEC_NET_F_QUEUE_CLASSES))
    for port in (1, 2, 3, 4):
        p.inject(_for_driver(p, b"early", sport=port))
    require({r.pair for r in p.driver.inbox} == {0}, "before VQ_PAIRS_SET", "receiveq1 only",
            str({r.pair for r in p.driver.inbox}))
    require(p.driver.set_pairs(2) == C.OK, "VQ_PAIRS_SET 2", "OK", "ERR")
    p.driver.inbox.clear()
    for port in (1, 2, 3, 4):
        p.driver.send(FR.udp_frame(p.driver.mac, PEER, "10.0.0.1", "10.0.0.9", 9, port, b"o"),
                      pair=port % 2)
        p.inject(_for_driver(p, b"back", sport=port))
    require([r.pair for r in p.driver.inbox] == [1, 0, 1, 0], "replies on the pair of "
            "their flow", "[1, 0, 1, 0]", str([r.pair for r in p.driver.inbox]))


@case("net.device.queue-classes", ("NET-050", "NET-051", "NET-052"), "device", "net",
      "steers 802.1p classes to their receive queues and serves transmit queues by priority")
def queue_classes(target: object) -> None:
    p = _pair(target, NetConfig(max_pairs=2, queue_classes=[0b00001111, 0b11110000]))
    require(F.has(p.features, F.VIRTIOSPEC_NET_F_QUEUE_CLASSES), "the feature is offered",
            "VIRTIOSPEC_NET_F_QUEUE_CLASSES", ", ".join(F.names(p.features)))
    require(p.driver.set_pairs(2) == C.OK, "VQ_PAIRS_SET 2", "OK", "ERR")
    for pcp in (0, 7, 3, 4):
        p.inject(_for_driver(p, bytes([pcp]), pcp=pcp))
    require([r.pair for r in p.driver.inbox] == [0, 1, 0, 1], "receive queue per class",
            "[0, 1, 0, 1]", str([r.pair for r in p.driver.inbox]))
    p.auto = False
    for pcp in (1, 6, 2, 7):
        p.driver.send(FR.udp_frame(p.driver.mac, PEER, "10.0.0.1", "10.0.0.9", 9, 7,
                                   bytes([pcp]), pcp))
    p.device.process_tx()
    order = [f[-1] for _, f in p.device.transmitted]
    require(order == [6, 7, 1, 2], "the high-priority queue drains first", "[6, 7, 1, 2]",
            str(order))


@case("net.device.link-down-holds", ("NET-026", "NET-021"), "device", "net",
      "announces a link change, and neither transmits nor delivers while the link is down")
def link_down(target: object) -> None:
    p = _pair(target)
    p.config.set_link(False)
    require(p.config_notifications == 1, "configuration change notification", "1",
            str(p.config_notifications))
    p.driver.send(_good(p))
    p.inject(_for_driver(p, b"in"))
    require(not p.device.transmitted and not p.driver.inbox, "nothing moves while down",
            "nothing", f"{len(p.device.transmitted)} out, {len(p.driver.inbox)} in")
    p.config.set_link(True)
    p.device.poll()
    p.pump()
    require(len(p.device.transmitted) == 1 and len(p.driver.inbox) == 1, "both move once up",
            "1 out, 1 in", f"{len(p.device.transmitted)} out, {len(p.driver.inbox)} in")


@case("net.device.reset-keeps-wire", ("NET-061", "NET-063", "NET-034"), "device", "net",
      "a reset forgets filters and staged frames but not the frames waiting on the wire")
def reset_keeps_wire(target: object) -> None:
    p = _pair(target, auto=False, queue_size=2)
    p.driver.set_promisc(True)
    p.device.process_ctrl()
    frames = [_for_driver(p, b"%d" % i) for i in range(5)]
    for f in frames:
        p.device.receive(f)
    p.driver.send(_good(p))
    p.device.tx_take(0)
    p.reset()
    require(not p.device.filter.promisc, "filters after the reset", "empty", "promiscuous")
    p.auto = True
    p.device.poll()
    p.pump()
    for _ in range(5):
        p.device.poll()
        p.driver.inbox += p.driver.receive(0)
    require([r.frame for r in p.driver.inbox] == frames, "waiting frames delivered after "
            "the reset", "5 frames in order", f"{len(p.driver.inbox)}")
    require([f for _, f in p.device.transmitted] == [_good(p)], "the staged frame is sent "
            "once, after the reset", "1 frame", f"{len(p.device.transmitted)}")


@case("net.device.rx-refuses-tiny-buffer", ("NET-014",), "device", "net",
      "returns a receive buffer too small for the header, and uses the next one")
def rx_tiny(target: object) -> Result:
    p = _pair(target, auto=False, start=False)
    tiny = p.driver.rx_pool.alloc()
    assert tiny is not None
    run_op(p.driver.queues[0].add([], [(tiny, 4)], RxToken(tiny)), p.mem)
    p.driver.post_rx(0)
    frame = _for_driver(p, b"after the tiny one")
    p.device.receive(frame)
    p.device.deliver(0)
    got = [r.frame for r in p.driver.receive(0)]
    require(got == [frame], "the frame in the next buffer", "1 frame", f"{len(got)}")
    fault = p.device.faults[-1] if p.device.faults else None
    require(getattr(fault, "req", None) == "NET-014", "refusal named", "NET-014", str(fault))
    return Result(Outcome.REJECT, str(fault))
