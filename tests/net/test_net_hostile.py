"""A hostile driver cannot make the device fail, nor a hostile device the driver: bad headers,
short buffers and bad commands are refused with a requirement ID and both sides go on."""

from __future__ import annotations

import pytest
from virtiospec.reference.access import MemoryError_
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.buffers import run_op
from virtiospec.reference.net.driver import RxToken, TxToken
from virtiospec.reference.net.errors import BadRxFrame
from virtiospec.reference.net.header import F_NEEDS_CSUM, NetHdr
from virtiospec.reference.net.pair import NetPair
from virtiospec.reference.ring.layout import VIRTQ_DESC_F_NEXT

PEER = b"\x02\x00\x00\x00\x00\x99"


def good(p: NetPair, tag: bytes) -> bytes:
    return FR.udp_frame(p.driver.mac, PEER, "10.0.0.1", "10.0.0.9", 9, 7, tag)


def raw_tx(p: NetPair, data: bytes) -> None:
    """Place ``data`` (header and all) in the transmit queue as the driver's ring code would."""
    addr = p.driver.tx_pool.alloc()
    assert addr is not None
    p.mem.write_bytes(addr, data)
    run_op(p.driver.queues[1].add([(addr, len(data))], [], TxToken(0, 0, b"", addr, False)),
           p.mem)


@pytest.mark.req("NET-008", "NET-003", "NET-004", "NET-006")
@pytest.mark.parametrize(("data", "req"), [
    (b"", "NET-008"),
    (b"\0" * 12, "NET-008"),
    (NetHdr(flags=F_NEEDS_CSUM, csum_start=30, csum_offset=6).pack() + b"\0" * 20, "NET-004"),
    (NetHdr(gso_type=1, gso_size=100).pack() + b"\0" * 60, "NET-006"),
])
def test_hostile_tx_header_refused_device_goes_on(data: bytes, req: str) -> None:
    p = NetPair(auto=False)
    if data:
        raw_tx(p, data)
    else:  # a zero-length buffer: the ring accepts it, the device refuses it as a frame
        addr = p.driver.tx_pool.alloc()
        assert addr is not None
        run_op(p.driver.queues[1].add([(addr, 0)], [], TxToken(0, 0, b"", addr, False)), p.mem)
    p.driver.send(good(p, b"after"))
    assert p.device.process_tx() == 1
    assert [f for _, f in p.device.transmitted] == [good(p, b"after")]
    assert p.device.stats.tx_refused == 1
    assert getattr(p.device.faults[-1], "req", None) == req
    assert p.driver.reap_tx(0) == 2  # the refused buffer came back too


@pytest.mark.req("NET-003")
def test_needs_csum_without_feature_refused() -> None:
    p = NetPair(auto=False, wanted=~F.bit(F.CSUM))
    frame, start, off = FR.partial_checksum(good(p, b"x"))
    raw_tx(p, NetHdr(flags=F_NEEDS_CSUM, csum_start=start, csum_offset=off).pack() + frame)
    p.device.process_tx()
    assert p.device.transmitted == [] and p.device.faults[-1].req == "NET-003"


@pytest.mark.req("NET-002", "NET-005", "NET-007")
def test_unused_fields_tolerated_but_counted() -> None:
    p = NetPair(auto=False)
    raw_tx(p, NetHdr(flags=2, num_buffers=5).pack() + good(p, b"sloppy"))
    p.device.process_tx()
    assert [f for _, f in p.device.transmitted] == [good(p, b"sloppy")]
    assert p.device.stats.driver_faults == {"NET-002": 1, "NET-005": 1}


@pytest.mark.req("RING-SPLIT-080", "RING-SPLIT-082", "RING-SPLIT-084")
def test_hostile_ring_stops_that_queue_only() -> None:
    p = NetPair(auto=False)
    lay = p.layouts[1]
    drv = p.driver.split_queue(1)
    # a descriptor loop on the transmit queue, written by hand and published
    p.mem.write(lay.desc_addr(0), 8, p.area[0])
    p.mem.write(lay.desc_addr(0) + 8, 4, 64)
    p.mem.write(lay.desc_addr(0) + 12, 2, VIRTQ_DESC_F_NEXT)
    p.mem.write(lay.desc_addr(0) + 14, 2, 0)
    p.mem.write(lay.avail_ring(0), 2, 0)
    p.mem.write(lay.avail_idx, 2, 1)
    drv.avail_idx = 1
    assert p.device.process_tx() == 0
    assert 1 in p.device.broken and p.device.broken[1].req == "RING-SPLIT-080"
    frame = FR.udp_frame(PEER, p.driver.mac, "10.0.0.9", "10.0.0.1", 7, 9, b"still")
    p.device.receive(frame)
    p.device.deliver(0)
    assert [r.frame for r in p.driver.receive(0)] == [frame]  # receiving still works
    p.driver.split_queue(1).chains.clear()
    p.reset()  # a reset brings the queue back
    p.driver.send(good(p, b"again"))
    p.device.process_tx()
    assert [f for _, f in p.device.transmitted] == [good(p, b"again")]


class Holey:
    """The device's view of guest memory with a hole: an access that touches [lo, hi) is
    refused, as between two vhost-user memory regions."""

    def __init__(self, inner: NetPair, lo: int, hi: int) -> None:
        self.inner, self.lo, self.hi = inner.mem, lo, hi

    def _check(self, addr: int, size: int) -> None:
        if addr < self.hi and self.lo < addr + size:
            raise MemoryError_(f"[{addr:#x}, +{size:#x}) is in no memory region")

    def read(self, addr: int, size: int) -> int:
        self._check(addr, size)
        return self.inner.read(addr, size)

    def write(self, addr: int, size: int, value: int) -> None:
        self._check(addr, size)
        self.inner.write(addr, size, value)

    def read_bytes(self, addr: int, size: int) -> bytes:
        self._check(addr, size)
        return self.inner.read_bytes(addr, size)

    def write_bytes(self, addr: int, data: bytes) -> None:
        self._check(addr, len(data))
        self.inner.write_bytes(addr, data)


@pytest.mark.req("RING-SPLIT-082", "RING-SPLIT-084", "NET-017")
def test_receive_buffer_in_a_hole_stops_that_queue_and_keeps_the_frame() -> None:
    p = NetPair(auto=False)
    pool = p.driver.rx_pool
    p.device.mem = Holey(p, pool.base, pool.end)  # every receive buffer lies in the hole
    frame = FR.udp_frame(PEER, p.driver.mac, "10.0.0.9", "10.0.0.1", 7, 9, b"lost?")
    assert p.device.receive(frame)
    assert p.device.deliver(0) == 0  # refused, not raised
    assert p.device.broken[0].req == "RING-SPLIT-082"
    assert p.device.waiting == 1  # the frame is not lost: it waits for a reset
    assert p.device.deliver(0) == 0  # a failed queue takes nothing more
    assert p.device.stats.rx_frames == 0 and p.driver.receive(0) == []
    p.driver.send(good(p, b"tx still works"))
    assert p.device.process_tx() == 1


@pytest.mark.req("NET-014", "NET-018")
def test_receive_buffer_too_small_for_header_returned() -> None:
    p = NetPair(auto=False, start=False)
    tiny = p.driver.rx_pool.alloc()
    assert tiny is not None
    run_op(p.driver.queues[0].add([], [(tiny, 4)], RxToken(tiny)), p.mem)
    p.driver.post_rx(0)
    frame = FR.udp_frame(PEER, p.driver.mac, "10.0.0.9", "10.0.0.1", 7, 9, b"fits later")
    p.device.receive(frame)
    assert p.device.deliver(0) == 1
    assert p.device.faults[-1].req == "NET-014"
    assert [r.frame for r in p.driver.receive(0)] == [frame]
    assert p.driver.faults[-1].req == "NET-016"  # the 4-byte buffer came back with len 0


def hostile_device_push(p: NetPair, payloads: list[tuple[bytes, int]]) -> None:
    """Pop receive buffers as the device and fill them with whatever the case wants."""
    dev = p.device.queues[0]
    used = []
    for data, length in payloads:
        chain = run_op(dev.pop(), p.mem)
        assert chain is not None
        p.mem.write_bytes(chain.writable[0][0], data)
        used.append((chain.head, length))
    run_op(dev.push(used), p.mem)


@pytest.mark.req("NET-016")
@pytest.mark.parametrize(("mrg", "payloads"), [
    (True, [(b"\0" * 11, 11)]),
    (True, [(NetHdr(num_buffers=0).pack() + b"\0" * 20, 32)]),
    (False, [(NetHdr(num_buffers=2).pack() + b"\0" * 20, 32),
             (b"\0" * 20, 20)]),
    (True, [(NetHdr(num_buffers=3).pack() + b"\0" * 20, 32)]),
    (True, [(NetHdr(num_buffers=1).pack() + b"\0" * 10, 22)]),
])
def test_hostile_device_header_refused_driver_goes_on(
        mrg: bool, payloads: list[tuple[bytes, int]]) -> None:
    p = NetPair(auto=False, wanted=None if mrg else ~F.bit(F.MRG_RXBUF))
    in_use = p.driver.rx_pool.in_use
    hostile_device_push(p, payloads)
    with pytest.raises(BadRxFrame) as err:
        p.driver.receive_one(0)
    assert err.value.req == "NET-016"
    p.driver.receive(0)  # anything left of the bad frame is refused too
    p.driver.post_rx(0)
    assert p.driver.rx_pool.in_use == in_use  # every buffer recycled and posted again
    frame = FR.udp_frame(PEER, p.driver.mac, "10.0.0.9", "10.0.0.1", 7, 9, b"good")
    p.device.receive(frame)
    p.device.deliver(0)
    assert [r.frame for r in p.driver.receive(0)] == [frame]


@pytest.mark.req("NET-030")
def test_command_without_ack_byte() -> None:
    p = NetPair(auto=False)
    ctrl = p.driver.ctrl_q
    assert ctrl is not None
    addr = p.driver.ctrl_pool.alloc()
    assert addr is not None
    p.mem.write_bytes(addr, bytes([0, 0, 1]))
    run_op(p.driver.queues[ctrl].add([(addr, 3)], [], "no-ack"), p.mem)
    assert p.device.process_ctrl() == 1
    assert p.device.faults[-1].req == "NET-030"
    assert not p.device.filter.promisc
