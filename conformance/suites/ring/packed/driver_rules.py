"""Packed virtqueue, driver side: two driver MUSTs of VIRTIO 1.4 §2.8.17 (Scatter-Gather
Support) and §2.8.19 (Indirect Descriptors) about how long a list may be and when it may be
made available. The suite is the device (the hand-written peer of ring_packed_peer.py); the
target's ``ring_packed_driver`` is the driver, as in ring_packed_driver.py.
"""

from __future__ import annotations

from dataclasses import replace

from virtiospec.conformance.cases import CaseFailed, Result, case, expect_reject, require
from virtiospec.conformance.ring.api import PackedRingSetup
from virtiospec.conformance.suites.ring.packed.driver import LAYER, _driver
from virtiospec.conformance.suites.ring.packed.peer import buf, make_packed_setup
from virtiospec.conformance.targets import need
from virtiospec.reference.ring.packed.layout import VIRTQ_DESC_F_INDIRECT, PackedLayout

Q = 4
# VIRTIO 1.4 §2.8.19 bounds a packed list by what the device allows, without a generic way
# for a driver to learn it; that the bound is the queue size is virtiospec's reading (the
# split ring's rule, §2.7.5.3.1, says so; the reference device refuses longer tables,
# RING-PACKED-080): a longer table is graded EXTENSION, not FAIL.
QUEUE_SIZE_READING = ("the queue size as the device's bound on an indirect table is "
                      "virtiospec's reading of 'allowed by the device' (VIRTIO 1.4 §2.8.19)")


@case("ring.packed.driver.indirect-within-queue", ("RING-PACKED-043",), "driver", LAYER,
      "an indirect table never holds more descriptors than the queue size the device "
      "accepts in one list, even when the driver's table area has room for more")
def indirect_within_queue(target: object) -> None:
    setup = replace(make_packed_setup(Q, indirect=True), indirect_max=4 * Q)
    drv, dev = _driver(target, setup)
    first = drv.add([buf(0)] * Q, [], 1)  # Q descriptors: as many as a list may hold
    lists = dev.pop_all()
    require([x.id for x in lists] == [first] and len(lists[0].elems) == Q,
            f"a list of {Q} is made available whole", f"1 list of {Q}", str(lists))
    try:
        drv.add([buf(1)] * (Q + 1), [], 2)
    except Exception:  # any refusal keeps the rule
        return
    addr, length, _, flags = dev.read_desc(1)
    n = length // 16 if flags & VIRTQ_DESC_F_INDIRECT else 1
    require(not flags & VIRTQ_DESC_F_INDIRECT or n <= Q, "descriptors in one indirect table",
            f"<= {Q} (the queue size)", f"{n} (table at {addr:#x})", req="RING-PACKED-043",
            extension=QUEUE_SIZE_READING)


@case("ring.packed.driver.no-partial-list", ("RING-PACKED-037",), "driver", LAYER,
      "a request whose list does not fit the free descriptors is refused whole: no part of "
      "it is written or made available in the hope that the device frees room")
def no_partial_list(target: object) -> None:
    setup = make_packed_setup(Q, indirect=False)
    drv, dev = _driver(target, setup)
    held = drv.add([buf(0)], [buf(1, 32)] * (Q - 2), 1)  # Q - 1 descriptors, never used
    ring = [dev.read_desc(p) for p in range(Q)]
    lists = dev.pop_all()
    require([x.id for x in lists] == [held], "the first request is made available",
            str([held]), str([x.id for x in lists]))
    try:
        drv.add([buf(2)], [buf(3, 64)], 2)  # 2 descriptors, 1 free
        accepted = True
    except Exception:
        accepted = False
    now = [dev.read_desc(p) for p in range(Q)]
    changed = [p for p in range(Q) if now[p] != ring[p] and p != Q - 1]
    require(not changed, "descriptors the device still holds are left alone",
            "positions 0..2 unchanged", f"changed: {changed}", req="RING-PACKED-037")
    more = dev.pop_all()
    require(not accepted and not more, "the request that does not fit is refused whole",
            "refused, nothing more available",
            f"{'accepted' if accepted else 'refused'}, {len(more)} more lists",
            req="RING-PACKED-037")
    dev.used(held, 32)
    require(drv.get_used() == (1, 32), "the held request comes back", "(1, 32)")
    drv.add([buf(2)], [buf(3, 64)], 2)
    require([x.id for x in dev.pop_all()] != [], "once room is back the request fits",
            "1 list", "none")


def misplaced(desc: int, driver_event: int, device_event: int) -> PackedLayout:
    """A layout with the given addresses, built without PackedLayout's own checks (the way
    a caller of a C library passes three plain addresses)."""
    lay = object.__new__(PackedLayout)
    for name, value in (("size", Q), ("desc", desc), ("driver_event", driver_event),
                        ("device_event", device_event)):
        object.__setattr__(lay, name, value)
    return lay


@case("ring.packed.driver.rejects-misplaced", ("RING-PACKED-001",), "driver", LAYER,
      "the driver does not drive a ring whose descriptor ring is not 16-byte aligned or whose "
      "event-suppression structures are not 4-byte aligned: it refuses the set-up")
def rejects_misplaced(target: object) -> Result:
    factory = need(target, "ring_packed_driver")
    good = make_packed_setup(Q)
    factory(good)  # an aligned ring is driven (and a target that cannot SKIPs here)
    base = good.layout.desc
    events = base + 16 * Q
    last: Result | None = None
    for what, parts in (("descriptor ring on 8 bytes", (base + 8, events + 8, events + 12)),
                        ("driver structure on 2 bytes", (base, events + 2, events + 8)),
                        ("device structure on 2 bytes", (base, events, events + 6))):
        setup = replace(good, layout=misplaced(*parts))

        def start(s: PackedRingSetup = setup) -> object:
            return factory(s)

        try:
            last = expect_reject(start, {"RING-PACKED-001"}, f"a driver on a ring with its {what}")
        except CaseFailed as err:
            raise CaseFailed(err.detail, err.expected, err.observed,
                             req="RING-PACKED-001") from None
    assert last is not None
    return last
