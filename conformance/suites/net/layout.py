"""virtio-net, device side: message framing (VIRTIO 1.4 §2.7.4.1).

The device MUST NOT assume a particular arrangement of descriptors (RING-SPLIT-015): the
same transmit request, the header and the frame in one descriptor, in two, or cut into many
small pieces (a header split across descriptors included), is the same frame on the wire.
"""

from __future__ import annotations

from virtiospec.conformance.cases import case, require
from virtiospec.conformance.suites.net.api import net_of
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.buffers import run_op
from virtiospec.reference.net.driver import TxToken
from virtiospec.reference.net.header import HDR_LEN, NetHdr
from virtiospec.reference.net.pair import NetPair

PEER = b"\x02\x00\x00\x00\x00\x97"


def layouts(total: int) -> dict[str, list[int]]:
    """Descriptor lengths that cut ``total`` bytes (header and frame) in different ways."""
    hdr = HDR_LEN
    return {
        "one descriptor": [total],
        "header, frame": [hdr, total - hdr],
        "header in two, frame in three": [5, hdr - 5, 20, 30, total - hdr - 50],
        "ten 1-byte pieces, then the rest": [1] * 10 + [total - 10],
    }


@case("net.device.tx-any-layout", ("RING-SPLIT-015",), "device", "net",
      "a transmit request is the same frame whatever its split into descriptors")
def tx_any_layout(target: object) -> None:
    p = NetPair(device_cls=net_of(target, "net_device"), auto=False)
    frame = FR.udp_frame(p.driver.mac, PEER, "10.0.0.1", "10.0.0.9", 9, 7, b"layout " * 12)
    data = NetHdr().pack() + frame
    for name, cuts in layouts(len(data)).items():
        addr = p.driver.tx_pool.alloc()
        require(addr is not None, "a free transmit buffer")
        assert addr is not None
        p.mem.write_bytes(addr, data)
        segs, at = [], addr
        for n in cuts:
            segs.append((at, n))
            at += n
        before = len(p.device.transmitted)
        run_op(p.driver.queues[1].add(segs, [], TxToken(0, 0, b"", addr, False)), p.mem)
        p.device.poll()
        p.driver.reap_tx(0)  # the driver takes the used buffer back, freeing its descriptors
        sent = [f for _, f in p.device.transmitted[before:]]
        require(sent == [frame], f"the frame sent as {name} ({len(cuts)} descriptors)",
                "the same frame on the wire", f"{len(sent)} frames" if len(sent) != 1 else
                "a different frame", req="RING-SPLIT-015")
