"""The configuration space (NET-020, NET-021, NET-022, NET-023, NET-024, NET-025, NET-050)
and how the driver reads it."""

from __future__ import annotations

import pytest
from virtiospec.reference.net import config as cfg
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.buffers import run_op
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.driver import NetDriver
from virtiospec.reference.net.header import F_DATA_VALID, NetHdr
from virtiospec.reference.net.pair import NetPair


@pytest.mark.req("NET-020", "NET-050")
def test_layout() -> None:
    c = NetConfig(mac=bytes.fromhex("020000abcdef"), max_pairs=3, mtu=9000,
                  queue_classes=[1, 2, 0xFC])
    raw = c.layout()
    assert raw[0:6] == bytes.fromhex("020000abcdef")
    assert int.from_bytes(raw[6:8], "little") == cfg.STATUS_LINK_UP
    assert int.from_bytes(raw[8:10], "little") == 3
    assert int.from_bytes(raw[10:12], "little") == 9000
    assert raw[32:35] == bytes([1, 2, 0xFC]) and len(raw) == 35
    assert c.read(cfg.OFF_MTU, 2) == 9000
    with pytest.raises(ValueError):
        c.read(34, 2)


@pytest.mark.req("NET-024", "NET-025", "NET-050")
@pytest.mark.parametrize("kwargs", [{"max_pairs": 0}, {"max_pairs": 0x8001}, {"mtu": 67},
                                    {"mtu": 65536}, {"queue_classes": [1, 2]},
                                    {"max_pairs": 2, "queue_classes": [3, 1]}])
def test_bounds(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="NET-0"):
        NetConfig(**kwargs)  # type: ignore[arg-type]


class ReadOnly:
    """A configuration space that lets the driver read and fails on anything else."""

    def __init__(self, c: NetConfig) -> None:
        self._c = c
        self.reads = 0

    def read(self, offset: int, size: int) -> int:
        self.reads += 1
        return self._c.read(offset, size)

    def generation(self) -> int:
        return self._c.generation()

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"NET-022: the driver used config.{name}")


@pytest.mark.req("NET-022", "NET-023", "NET-106")
def test_driver_only_reads_config() -> None:
    c = NetConfig(mac=bytes.fromhex("02000000aa01"), max_pairs=2, queue_classes=[1, 2])
    space = ReadOnly(c)
    features = F.of(F.VERSION_1, F.MAC, F.STATUS, F.CTRL_VQ, F.MQ, F.MTU,
                    F.VIRTIOSPEC_NET_F_QUEUE_CLASSES)
    drv = NetDriver(features, space, None, (0, 1 << 20), 8)  # type: ignore[arg-type]
    assert drv.mac == bytes.fromhex("02000000aa01") and drv.link_up
    assert drv.queue_classes == [1, 2] and drv.max_pairs == 2
    c.status = 0
    drv.config_changed()
    assert not drv.link_up and space.reads > 0


@pytest.mark.req("NET-015")
def test_driver_ignores_unknown_flags_and_csum_fields() -> None:
    p = NetPair(auto=False)
    frame = FR.udp_frame(b"\x02\0\0\0\0\x99", p.driver.mac, "10.0.0.9", "10.0.0.1", 7, 9, b"x")
    dev = p.device.queues[0]
    chain = run_op(dev.pop(), p.mem)
    assert chain is not None
    hdr = NetHdr(flags=F_DATA_VALID | 0x40, csum_start=3, csum_offset=0xFFFF, num_buffers=1)
    data = hdr.pack() + frame
    p.mem.write_bytes(chain.writable[0][0], data)
    run_op(dev.push([(chain.head, len(data))]), p.mem)
    (got,) = p.driver.receive(0)
    assert got.frame == frame and got.hdr == hdr
