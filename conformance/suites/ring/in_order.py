"""Split virtqueue with VIRTIO_F_IN_ORDER, driver side: how the driver lays out its chains
(RING-SPLIT-016, VIRTIO 1.4 §2.7.5.2) and its indirect tables (RING-SPLIT-026, §2.7.5.3.1).

The suite is a device that uses every buffer in the order it was made available (what
IN_ORDER promises); the target's driver adds chains of varying length, around the descriptor
table more than once. A target whose driver can negotiate IN_ORDER says so with
``ring_in_order = True``; for any other the cases SKIP (a driver that never negotiates the
feature owes neither rule).
"""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.ring.api import RingDriver, RingSetup
from virtiospec.conformance.ring.peer import HandDevice, buf, make_setup
from virtiospec.conformance.targets import need
from virtiospec.reference.ring.layout import VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT

LENGTHS = (1, 3, 2, 4, 1, 2, 3, 1, 4, 2, 2, 3)  # 28 descriptors: three laps of a queue of 8


def _in_order_driver(target: Any, setup: RingSetup) -> tuple[RingDriver, HandDevice]:
    if not getattr(target, "ring_in_order", False):
        raise CaseSkipped(f"target {getattr(target, 'name', target)}'s driver does not "
                          "negotiate VIRTIO_F_IN_ORDER")
    factory = need(target, "ring_driver")
    return factory(setup), HandDevice(setup)


def _segments(n: int, first: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """``n`` buffers: the first half device-readable, the rest device-writable."""
    bufs = [buf((first + k) % 64) for k in range(n)]
    return bufs[: (n + 1) // 2], bufs[(n + 1) // 2:]


@case("ring.split.driver.in-order-chains", ("RING-SPLIT-016",), "driver", "ring",
      "with IN_ORDER and buffers used in order, a chain laid out at descriptor x links x to "
      "x + 1, and Q - 1 to 0")
def in_order_chains(target: object) -> None:
    setup = make_setup(8)
    q = setup.layout.size
    drv, dev = _in_order_driver(target, setup)
    expect = 0  # where the next chain must start: right after the previous one
    for n, length in enumerate(LENGTHS):
        out, in_ = _segments(length, n * 4)
        head = drv.add(out, in_, n)
        require(head == expect, f"chain {n} ({length} descriptors) starts where the last "
                "ended", str(expect), str(head), req="RING-SPLIT-016")
        index = head
        for k in range(length):
            _, _, flags, nxt = dev.read_desc(index)
            last = k == length - 1
            require(bool(flags & VIRTQ_DESC_F_NEXT) != last, f"chain {n}: NEXT on descriptor "
                    f"{index}", "set" if not last else "clear", f"flags {flags:#x}")
            if not last:
                require(nxt == (index + 1) % q, f"chain {n}: next of descriptor {index}",
                        str((index + 1) % q), str(nxt), req="RING-SPLIT-016")
                index = nxt
        expect = (head + length) % q
        require(dev.pop_heads() == [head], f"chain {n} made available", str([head]))
        dev.used((head, 0))  # in order, at once
        got = drv.get_used()
        require(got is not None and got[0] == n, f"chain {n} comes back", str(n), str(got))


@case("ring.split.driver.in-order-indirect", ("RING-SPLIT-026",), "driver", "ring",
      "with IN_ORDER and INDIRECT_DESC, every indirect table is laid out in order: the next "
      "of entry k is k + 1")
def in_order_indirect(target: object) -> None:
    setup = make_setup(8, indirect=True)
    drv, dev = _in_order_driver(target, setup)
    tables = 0
    for n, length in enumerate(LENGTHS):
        out, in_ = _segments(length, n * 4)
        head = drv.add(out, in_, n)
        addr, size, flags, _ = dev.read_desc(head)
        if flags & VIRTQ_DESC_F_INDIRECT:
            tables += 1
            entries = size // 16
            for k in range(entries - 1):
                _, _, inner, nxt = dev.read_desc(k, addr)
                require(bool(inner & VIRTQ_DESC_F_NEXT) and nxt == k + 1,
                        f"chain {n}: indirect entry {k}", f"NEXT, next {k + 1}",
                        f"flags {inner:#x}, next {nxt}", req="RING-SPLIT-026")
        chain = dev.walk(head)
        require(len(chain) == length, f"chain {n}: buffers reachable", str(length),
                str(len(chain)))
        dev.pop_heads()
        dev.used((head, 0))
        drv.get_used()
    if not tables:
        raise CaseSkipped("the driver built no indirect table: nothing to check")
