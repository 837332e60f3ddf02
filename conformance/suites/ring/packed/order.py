"""Packed virtqueue, device side: the order in which the device takes lists (VIRTIO 1.4
§2.8.12). The device MUST start processing the lists the driver made available in the
order they sit in the ring (RING-PACKED-010): several lists made available at once, of
different lengths and with buffer IDs out of numeric order, are popped in ring order.
"""

from __future__ import annotations

from virtiospec.conformance.cases import case, require
from virtiospec.conformance.suites.ring.packed.peer import (
    PackedHandDriver,
    buf,
    make_packed_setup,
)
from virtiospec.conformance.targets import need

W = True
LISTS = ((7, 1), (2, 2), (5, 1), (0, 3))  # (buffer ID, descriptors)


@case("ring.packed.device.pops-in-ring-order", ("RING-PACKED-010",), "device", "ring-packed",
      "lists made available together are popped in the order they sit in the ring")
def pops_in_ring_order(target: object) -> None:
    for laps in (0, 1):  # from the start, and after the wrap counters flipped once
        setup = make_packed_setup(8)
        dev = need(target, "ring_packed_device")(setup)
        drv = PackedHandDriver(setup)
        for n in range(8 * laps):  # one lap of single lists, popped and used at once
            drv.publish(n % 8, [(*buf(n % 8), W)])
            chain = dev.pop()
            require(chain is not None, f"warm-up list {n}", "popped", "None")
            dev.push([(chain.head, 0)])
            drv.take_used()
        for buf_id, count in LISTS:
            drv.publish(buf_id, [(*buf(buf_id * 3 + k), W) for k in range(count)])
        got = []
        for _ in LISTS:
            chain = dev.pop()
            got.append(None if chain is None else chain.head)
        want = [buf_id for buf_id, _ in LISTS]
        require(got == want, f"buffer IDs in pop order (after {laps} lap(s))", str(want),
                str(got), req="RING-PACKED-010")
