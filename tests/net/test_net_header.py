"""The header, the checks each side makes of the other's, and checksum offload (NET-001,
NET-002, NET-003, NET-004, NET-005, NET-006, NET-007, NET-008, NET-009)."""

from __future__ import annotations

import pytest
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.errors import BadRxFrame, BadTxHeader
from virtiospec.reference.net.header import (
    F_DATA_VALID,
    F_NEEDS_CSUM,
    GSO_ECN,
    GSO_TCPV4,
    HDR_LEN,
    NetHdr,
    check_rx,
    check_tx,
    driver_faults,
    finish_checksum,
)

A, B = b"\x02\x00\x00\x00\x00\x0a", b"\x02\x00\x00\x00\x00\x0b"
CSUM = F.of(F.VERSION_1, F.CSUM)
PLAIN = F.of(F.VERSION_1)


def udp(payload: bytes = b"payload") -> bytes:
    return FR.udp_frame(A, B, "10.0.0.1", "10.0.0.2", 4000, 53, payload)


@pytest.mark.req("NET-001")
def test_header_is_12_bytes_little_endian() -> None:
    hdr = NetHdr(1, 0, 0x0102, 0x0304, 0x0506, 0x0708, 0x090A)
    raw = hdr.pack()
    assert len(raw) == HDR_LEN == 12
    assert raw == bytes([1, 0, 2, 1, 4, 3, 6, 5, 8, 7, 0x0A, 9])
    assert NetHdr.unpack(raw) == hdr


@pytest.mark.req("NET-004", "NET-009")
@pytest.mark.parametrize("payload", [b"", b"x", b"odd-length payload!", bytes(range(256)) * 5])
def test_partial_checksum_completed_by_device_is_correct(payload: bytes) -> None:
    frame = udp(payload)
    assert FR.checksum_ok(frame)
    partial, start, offset = FR.partial_checksum(frame)
    assert (start, offset) == (34, 6)
    assert partial != frame and FR.checksum_ok(partial) is False
    done = finish_checksum(partial, start, offset)
    assert FR.checksum_ok(done) is True
    assert done == frame  # the same checksum dpkt computed


@pytest.mark.req("NET-004", "NET-009")
def test_partial_checksum_with_vlan_tag() -> None:
    frame = FR.udp_frame(A, B, "10.1.1.1", "10.2.2.2", 1, 2, b"tagged", pcp=5)
    partial, start, offset = FR.partial_checksum(frame)
    assert start == 38
    assert finish_checksum(partial, start, offset) == frame


@pytest.mark.req("NET-008", "NET-003", "NET-004", "NET-006", "NET-024")
@pytest.mark.parametrize(("hdr", "frame", "features", "req"), [
    (NetHdr(), b"\0" * 13, PLAIN, "NET-008"),
    (NetHdr(flags=F_NEEDS_CSUM, csum_start=34, csum_offset=6), udp(), PLAIN, "NET-003"),
    (NetHdr(flags=F_NEEDS_CSUM, csum_start=34, csum_offset=16), udp(), CSUM, "NET-004"),
    (NetHdr(flags=F_NEEDS_CSUM, csum_start=0xFFFF, csum_offset=0xFFFF), udp(), CSUM, "NET-004"),
    (NetHdr(gso_type=GSO_TCPV4, gso_size=1000), udp(), CSUM, "NET-006"),
    (NetHdr(gso_type=GSO_ECN), udp(), CSUM, "NET-006"),
    (NetHdr(), udp(b"x" * 1500), PLAIN, "NET-024"),
])
def test_device_refuses_bad_tx_header(hdr: NetHdr, frame: bytes, features: int,
                                      req: str) -> None:
    with pytest.raises(BadTxHeader) as err:
        check_tx(hdr.pack() + frame, features)
    assert err.value.req == req


@pytest.mark.req("NET-007")
def test_device_tolerates_fields_it_never_uses() -> None:
    frame = udp()
    hdr, out = check_tx(NetHdr(flags=F_DATA_VALID | 0x80, num_buffers=7).pack() + frame, CSUM)
    assert out == frame
    assert driver_faults(hdr, CSUM) == ["NET-002", "NET-005"]
    assert driver_faults(NetHdr(), PLAIN) == []


@pytest.mark.req("NET-024")
def test_mtu_bounds_frames() -> None:
    mtu = F.of(F.VERSION_1, F.MTU)
    big = udp(b"x" * 2000)
    check_tx(NetHdr().pack() + big, mtu, mtu=9000)
    with pytest.raises(BadTxHeader):
        check_tx(NetHdr().pack() + big, mtu, mtu=1500)


@pytest.mark.req("NET-016", "NET-010", "NET-011")
def test_driver_checks_rx_header() -> None:
    mrg = F.of(F.VERSION_1, F.MRG_RXBUF)
    check_rx(NetHdr(num_buffers=1), PLAIN)
    check_rx(NetHdr(num_buffers=3), mrg)
    for hdr, features in ((NetHdr(num_buffers=0), mrg), (NetHdr(num_buffers=2), PLAIN)):
        with pytest.raises(BadRxFrame) as err:
            check_rx(hdr, features)
        assert err.value.req == "NET-016"


@pytest.mark.req("NET-027")
def test_feature_dependencies() -> None:
    F.check(F.of(F.CTRL_VQ, F.MQ, F.CTRL_RX))
    for bad in (F.of(F.MQ), F.of(F.CTRL_RX), F.of(F.GUEST_TSO4), F.of(F.HOST_TSO4)):
        with pytest.raises(Exception) as err:
            F.check(bad)
        assert getattr(err.value, "req", None) == "NET-027"
