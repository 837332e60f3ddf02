"""Packed virtqueue, driver side: the suite is the device, the target is the driver.

Honest cases check what the driver writes and decides; hostile cases write used descriptors
that break RING-PACKED-086 and expect a refusal that frees nothing. A target without
``ring_packed_driver`` SKIPs every case, saying so.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.conformance.cases import Result, case, expect_reject, require
from virtiospec.conformance.ring.api import PackedRingDriver, PackedRingSetup
from virtiospec.conformance.suites.ring.packed.peer import (
    PackedHandDevice,
    buf,
    make_packed_setup,
)
from virtiospec.conformance.suites.ring.suppression import require_event_word
from virtiospec.conformance.targets import need
from virtiospec.reference.ring.packed import layout as pl

LAYER = "ring-packed"


def _driver(target: object, setup: PackedRingSetup) -> tuple[PackedRingDriver,
                                                            PackedHandDevice]:
    factory = need(target, "ring_packed_driver")
    return factory(setup), PackedHandDevice(setup)


def _marks(wrap: int) -> int:
    return pl.VIRTQ_DESC_F_AVAIL if wrap else pl.VIRTQ_DESC_F_USED


@case("ring.packed.driver.init-zeroes", ("RING-PACKED-004",), "driver", LAYER,
      "the driver zeroes the ring and both event-suppression structures at set-up")
def init_zeroes(target: object) -> None:
    setup = make_packed_setup()
    lay, mem = setup.layout, setup.memory
    mem.write_bytes(lay.desc, b"\xff" * (lay.end - lay.desc))  # stale memory
    _driver(target, setup)
    left = mem.read_bytes(lay.desc, lay.end - lay.desc)
    require(left == bytes(len(left)), "ring and structures zeroed", "all zero",
            f"{sum(1 for b in left if b)} non-zero bytes")


@case("ring.packed.driver.add-writes-list", ("RING-PACKED-003", "RING-PACKED-013",
      "RING-PACKED-025", "RING-PACKED-031", "RING-PACKED-035"), "driver", LAYER,
      "add writes the list in consecutive descriptors, readable first, each with its marks and "
      "NEXT but the last, the buffer ID in the last")
def add_writes_list(target: object) -> None:
    setup = make_packed_setup()
    drv, dev = _driver(target, setup)
    buf_id = drv.add([buf(0), buf(1, 32)], [buf(2, 128)], 1)
    descs = [dev.read_desc(p) for p in range(3)]
    got = [(a, n, f & ~pl.MARKS, f & pl.MARKS) for a, n, _, f in descs]
    want = [(*buf(0), pl.VIRTQ_DESC_F_NEXT, pl.VIRTQ_DESC_F_AVAIL),
            (*buf(1, 32), pl.VIRTQ_DESC_F_NEXT, pl.VIRTQ_DESC_F_AVAIL),
            (*buf(2, 128), pl.VIRTQ_DESC_F_WRITE, pl.VIRTQ_DESC_F_AVAIL)]
    require(got == want, "descriptors (addr, len, flags, marks)", str(want), str(got))
    require(descs[2][2] == buf_id, "buffer ID in the last descriptor", str(buf_id),
            str(descs[2][2]))
    lists = dev.pop_all()
    require([x.id for x in lists] == [buf_id], "one list available", str([buf_id]),
            str([x.id for x in lists]))


@case("ring.packed.driver.no-indirect-without-feature", ("RING-PACKED-040",), "driver",
      LAYER, "without VIRTIO_F_INDIRECT_DESC the driver never sets INDIRECT")
def no_indirect(target: object) -> None:
    setup = make_packed_setup(indirect=False)
    drv, dev = _driver(target, setup)
    drv.add([buf(0), buf(1)], [buf(2), buf(3)], 1)
    flags = [dev.read_desc(p)[3] for p in range(setup.layout.size)]
    require(not any(f & pl.VIRTQ_DESC_F_INDIRECT for f in flags), "no INDIRECT")


@case("ring.packed.driver.indirect-table", ("RING-PACKED-040", "RING-PACKED-041"), "driver",
      LAYER, "an indirect table holds no flag but WRITE, and INDIRECT never comes with NEXT")
def indirect_table(target: object) -> None:
    setup = make_packed_setup(indirect=True)
    drv, dev = _driver(target, setup)
    drv.add([buf(0), buf(1)], [buf(2)], 1)
    addr, length, _, flags = dev.read_desc(0)
    if flags & pl.VIRTQ_DESC_F_INDIRECT:
        require(not flags & pl.VIRTQ_DESC_F_NEXT, "INDIRECT without NEXT")
        inner = [dev.read_desc(k, addr)[3] for k in range(length // 16)]
        require(all(f & ~pl.VIRTQ_DESC_F_WRITE == 0 for f in inner), "only WRITE in the table",
                "WRITE or 0", str([hex(f) for f in inner]))
    lists = dev.pop_all()
    require(len(lists) == 1 and [n for _, n, _ in lists[0].elems] == [64, 64, 64],
            "three elements reachable", "3", str(lists))


@case("ring.packed.driver.used-in-order", ("RING-PACKED-026", "RING-PACKED-027",
      "RING-PACKED-092"), "driver", LAYER,
      "get_used follows the used descriptors, skipping each list, with the device's len (0 "
      "without WRITE)")
def used_in_order(target: object) -> None:
    setup = make_packed_setup()
    drv, dev = _driver(target, setup)
    ids = [drv.add([buf(n)], [buf(n + 4, 100)] * (1 + n % 2), 10 + n) for n in range(3)]
    dev.pop_all()
    dev.used(ids[2], 5)
    dev.used(ids[0], 100)
    dev.used(ids[1], 0xFFFF, write=False)  # len is reserved without WRITE
    got = [drv.get_used() for _ in range(4)]
    want = [(12, 5), (10, 100), (11, 0), None]
    require(got == want, "tokens and lens", str(want), str(got))
    require(drv.num_free == setup.layout.size, "every descriptor free again",
            str(setup.layout.size), str(drv.num_free))


@case("ring.packed.driver.wraps", ("RING-PACKED-012", "RING-PACKED-013", "RING-PACKED-092"),
      "driver", LAYER, "many laps of a ring of 3 with lists of 1 and 2: the marks follow the "
      "Driver Ring Wrap Counter, nothing is lost or repeated")
def wraps(target: object) -> None:
    setup = make_packed_setup(3)
    drv, dev = _driver(target, setup)
    for n in range(20):
        at = (dev.last_avail, dev.avail_wrap)
        buf_id = drv.add([], [buf(k % 4) for k in range(1 + n % 2)], n)
        flags = dev.read_desc(at[0])[3]
        require(flags & pl.MARKS == _marks(at[1]), f"round {n}: marks of wrap bit {at[1]}",
                hex(_marks(at[1])), hex(flags & pl.MARKS), req="RING-PACKED-013")
        lists = dev.pop_all()
        require([x.id for x in lists] == [buf_id], f"round {n}: made available")
        dev.used(buf_id, 3)
        got = drv.get_used()
        require(got == (n, 3), f"round {n}: returned", str((n, 3)), str(got))


@case("ring.packed.driver.full-ring", ("RING-PACKED-023", "RING-PACKED-032",
      "RING-PACKED-090"), "driver", LAYER,
      "never more than Q descriptors outstanding, none changed before the device used it")
def full_ring(target: object) -> None:
    setup = make_packed_setup(4)
    drv, dev = _driver(target, setup)
    ids = [drv.add([buf(0)] * 2, [], 0), drv.add([buf(1)], [], 1)]
    require(drv.num_free == 1, "one descriptor left", "1", str(drv.num_free))
    descs = [dev.read_desc(p) for p in range(4)]
    try:
        drv.add([buf(2)] * 2, [], 2)
        accepted = True
    except Exception:
        accepted = False
    require(not accepted, "a list of 2 with 1 free is refused", "refusal", "accepted")
    require([dev.read_desc(p) for p in range(4)] == descs, "ring unchanged by the refusal")
    dev.pop_all()
    dev.used(ids[1], 0)  # written at position 0, over the first list's head
    require(drv.get_used() == (1, 0), "buffer 1 returned")
    require(drv.num_free == 2, "its one descriptor free again, not more", "2",
            str(drv.num_free))
    before = [dev.read_desc(p) for p in range(1, 3)]
    drv.add([buf(3)], [], 3)  # at position 3, then no more room
    require([dev.read_desc(p) for p in range(1, 3)] == before,
            "positions still outstanding (1 and 2) unchanged")


@case("ring.packed.driver.kick-flags", ("RING-PACKED-063",), "driver", LAYER,
      "without EVENT_IDX, kicks unless the device's flags say DISABLE (DESC counts as ENABLE)")
def kick_flags(target: object) -> None:
    setup = make_packed_setup()
    drv, dev = _driver(target, setup)
    for n, flags in enumerate((pl.RING_EVENT_FLAGS_ENABLE, pl.RING_EVENT_FLAGS_DISABLE,
                               pl.RING_EVENT_FLAGS_DESC)):
        dev.set_event("device", flags, 0x5555 & 0x7FFF, 1)
        drv.add([buf(n)], [], n)
        decision = drv.kick_prepare()
        if flags != pl.RING_EVENT_FLAGS_DISABLE:
            require(decision, f"kick with device flags {flags}", "True", "False")


@case("ring.packed.driver.kick-desc", ("RING-PACKED-063", "RING-PACKED-064"), "driver",
      LAYER, "with EVENT_IDX, kicks when it makes the device's off_wrap position available, "
      "across wraps")
def kick_desc(target: object) -> None:
    setup = make_packed_setup(3, event_idx=True)
    drv, dev = _driver(target, setup)
    for n in range(8):
        dev.set_event("device", pl.RING_EVENT_FLAGS_DESC, dev.last_avail, dev.avail_wrap)
        buf_id = drv.add([buf(n % 4)], [], n)
        require(drv.kick_prepare(), f"round {n}: kick at off_wrap ({dev.last_avail}, "
                f"{dev.avail_wrap})", "True", "False")
        dev.pop_all()
        dev.used(buf_id, 0)
        require(drv.get_used() == (n, 0), "buffer returned")


@case("ring.packed.driver.batch-kick", ("RING-PACKED-063", "RING-PACKED-064"), "driver",
      LAYER, "with EVENT_IDX, one decision covers every descriptor made available since the "
      "last one, and none is taken for an event ahead (SHOULD NOT)")
def batch_kick(target: object) -> None:
    setup = make_packed_setup(8, event_idx=True)
    drv, _ = _driver(target, setup)
    setup.memory.write(setup.layout.device_event, 4, pl.RING_EVENT_FLAGS_DESC << 16 | 1 << 15 | 3)
    drv.add([buf(0)], [], 0)
    require(not drv.kick_prepare(), "position 3 is not among [0, 1)", "False", "True")
    drv.add([buf(1)] * 2, [], 1)
    drv.add([buf(2)], [], 2)
    require(drv.kick_prepare(), "position 3 is among [1, 4)", "True", "False")


@case("ring.packed.driver.kick-data", ("RING-PACKED-024",), "driver", LAYER,
      "the notification data names the first descriptor not yet made available")
def kick_data(target: object) -> None:
    setup = make_packed_setup(3)
    drv, dev = _driver(target, setup)
    for n in range(4):
        buf_id = drv.add([buf(0)], [], n)
        dev.pop_all()
        dev.used(buf_id, 0)
        drv.get_used()
    data = drv.kick_data()
    require(data == 1, "next_off 1, next_wrap 0 after four descriptors in a ring of 3", "1",
            hex(data))


@case("ring.packed.driver.event-flags-word", ("RING-PACKED-060", "RING-PACKED-066"),
      "driver", LAYER, "disable_cb writes DISABLE; enable_cb writes ENABLE, or with EVENT_IDX "
      "DESC and off_wrap = its next used position")
def event_word(target: object) -> None:
    for event_idx in (False, True):
        setup = make_packed_setup(3, event_idx=event_idx)
        drv, dev = _driver(target, setup)
        for n in range(4):
            buf_id = drv.add([buf(0)], [], n)
            dev.pop_all()
            dev.used(buf_id, 0)
            drv.get_used()
        require_event_word(lambda d=dev: d.event("driver"), drv.disable_cb,  # type: ignore[misc]
                           drv.enable_cb, ("disable_cb", "enable_cb"), event_idx)


@case("ring.packed.driver.enable-rechecks", ("RING-PACKED-071", "RING-PACKED-111"), "driver",
      LAYER, "enable_cb reports a used buffer that arrived while callbacks were off")
def enable_rechecks(target: object) -> None:
    for event_idx in (False, True):
        setup = make_packed_setup(2, event_idx=event_idx)
        drv, dev = _driver(target, setup)
        for n in range(3):
            buf_id = drv.add([buf(0)], [], n)
            drv.disable_cb()
            dev.pop_all()
            dev.used(buf_id, 0)
            require(drv.enable_cb(), f"re-check after enable (EVENT_IDX={event_idx}, round "
                    f"{n})", "True: a used buffer is pending", "False: the driver would sleep")
            require(drv.get_used() == (n, 0), "the pending buffer")


# -- hostile device ---------------------------------------------------------------------

def _hostile(name: str, summary: str, lie: Callable[[PackedHandDevice, list[int]], None]) -> None:
    def run(target: object) -> Result:
        setup = make_packed_setup()
        drv, dev = _driver(target, setup)
        ids = [drv.add([buf(0)], [buf(n + 1, 16)], n) for n in range(2)]
        dev.pop_all()
        lie(dev, ids)
        free = drv.num_free
        result = expect_reject(drv.get_used, {"RING-PACKED-086"}, summary)
        require(drv.num_free == free, f"{summary}: no descriptor freed", str(free),
                str(drv.num_free))
        return result

    case(f"ring.packed.driver.rejects-{name}", ("RING-PACKED-086",), "driver", LAYER,
         summary)(run)


_hostile("unknown-id", "used ID 7 was never made available", lambda d, ids: d.used(7, 0))
_hostile("id-beyond-q", "used ID 4096 in a queue of 8", lambda d, ids: d.used(4096, 0))
_hostile("len-too-long", "used len 17 with WRITE for 16 writable bytes",
         lambda d, ids: d.used(ids[0], 17))


def _id_twice(target: object) -> Result:
    setup = make_packed_setup()
    drv, dev = _driver(target, setup)
    ids = [drv.add([buf(0)], [buf(n + 1, 16)], n) for n in range(2)]
    dev.pop_all()
    dev.used(ids[0], 0)
    require(drv.get_used() == (0, 0), "the first used descriptor is taken")
    dev.used(ids[0], 0)
    free = drv.num_free
    result = expect_reject(drv.get_used, {"RING-PACKED-086"}, "the same ID used twice")
    require(drv.num_free == free, "no descriptor freed", str(free), str(drv.num_free))
    return result


case("ring.packed.driver.rejects-id-twice", ("RING-PACKED-086",), "driver", LAYER,
     "a used descriptor naming an ID the driver already took back")(_id_twice)
