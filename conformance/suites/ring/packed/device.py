"""Packed virtqueue, device side: the suite is the driver, the target is the device.

Honest cases check what the device takes, writes and decides; hostile cases make lists
available that break RING-PACKED-080, RING-PACKED-081, RING-PACKED-082, RING-PACKED-083,
RING-PACKED-084, RING-PACKED-085 and expect a refusal that leaves the ring as it
was. A target without ``ring_packed_device`` SKIPs every case, saying so.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.conformance.cases import Result, case, expect_device_stops, expect_reject, require
from virtiospec.conformance.ring.api import PackedRingDevice, PackedRingSetup
from virtiospec.conformance.suites.ring.packed.peer import (
    PackedHandDriver,
    buf,
    make_packed_setup,
)
from virtiospec.conformance.suites.ring.suppression import require_event_word
from virtiospec.conformance.targets import need
from virtiospec.reference.ring.packed import layout as pl

R, W = False, True
MEM_END = 0x80000
TABLE = 0x20000
LAYER = "ring-packed"


def _device(target: object, setup: PackedRingSetup) -> tuple[PackedRingDevice, PackedHandDriver]:
    factory = need(target, "ring_packed_device")
    return factory(setup), PackedHandDriver(setup)


def _pop(dev: PackedRingDevice, what: str = "a list made available is popped") -> object:
    chain = dev.pop()
    require(chain is not None, what, "a list", "None")
    return chain


def _round(dev: PackedRingDevice, drv: PackedHandDriver, buf_id: int) -> bool:
    """One list made available, popped, used; returns the notification decision."""
    drv.publish(buf_id, [(*buf(buf_id % 8), W)])
    dev.push([(_pop(dev).head, 1)])  # type: ignore[attr-defined]
    decision = dev.should_notify()
    drv.take_used()
    return decision


@case("ring.packed.device.pop-list", ("RING-PACKED-003", "RING-PACKED-013", "RING-PACKED-015",
      "RING-PACKED-025", "RING-PACKED-034"), "device", LAYER,
      "pops a NEXT-chained list, readable then writable, named by its last descriptor's ID")
def pop_list(target: object) -> None:
    setup = make_packed_setup()
    dev, drv = _device(target, setup)
    drv.publish(5, [(*buf(0), R), (*buf(1, 32), R), (*buf(2, 128), W)])
    drv.write_desc(0, *buf(0), 99, drv.read_desc(0)[3])  # IDs before the last are ignored
    chain = dev.pop()
    require(chain is not None, "list popped", "ID 5", "None")
    assert chain is not None
    require(chain.head == 5, "buffer ID from the last descriptor", "5", str(chain.head))
    require(chain.readable == [buf(0), buf(1, 32)], "readable elements in list order",
            str([buf(0), buf(1, 32)]), str(chain.readable))
    require(chain.writable == [buf(2, 128)], "writable elements", str([buf(2, 128)]),
            str(chain.writable))
    require(dev.pop() is None, "nothing more is available", "None", "another list")


@case("ring.packed.device.pop-indirect", ("RING-PACKED-042",), "device", LAYER,
      "takes an indirect table's elements, ignoring every table flag but WRITE and the WRITE "
      "of the ring descriptor")
def pop_indirect(target: object) -> None:
    setup = make_packed_setup(indirect=True)
    dev, drv = _device(target, setup)
    drv.publish(3, [(*buf(0), R), (*buf(1, 100), W)], table=TABLE,
                ring_flags=pl.VIRTQ_DESC_F_WRITE)
    drv.write_desc(0, *buf(0), 42, pl.VIRTQ_DESC_F_NEXT | pl.VIRTQ_DESC_F_AVAIL, TABLE)  # ignored
    chain = dev.pop()
    require(chain is not None, "list popped", "ID 3", "None")
    assert chain is not None
    require((chain.head, chain.readable, chain.writable) == (3, [buf(0)], [buf(1, 100)]),
            "the table's elements", str((3, [buf(0)], [buf(1, 100)])),
            str((chain.head, chain.readable, chain.writable)))


@case("ring.packed.device.used-in-completion-order", ("RING-PACKED-011", "RING-PACKED-014",
      "RING-PACKED-026", "RING-PACKED-027"), "device", LAYER,
      "one used descriptor per list, in the order pushed, skipping each list's descriptors, "
      "WRITE exactly when bytes were written")
def used_order(target: object) -> None:
    setup = make_packed_setup()
    dev, drv = _device(target, setup)
    drv.publish(10, [(*buf(0), R), (*buf(1, 64), W)])
    drv.publish(11, [(*buf(2, 64), W)])
    drv.publish(12, [(*buf(3), R), (*buf(4), R), (*buf(5, 64), W)])
    ids = [_pop(dev).head for _ in range(3)]  # type: ignore[attr-defined]
    require(ids == [10, 11, 12], "pop order is ring order", "[10, 11, 12]", str(ids))
    dev.push([(12, 7), (10, 64)])
    dev.push([(11, 0)])
    got = [(i, n, f & pl.VIRTQ_DESC_F_WRITE) for i, n, f in drv.take_used()]
    want = [(12, 7, pl.VIRTQ_DESC_F_WRITE), (10, 64, pl.VIRTQ_DESC_F_WRITE), (11, 0, 0)]
    require(got == want, "used descriptors (id, len, WRITE)", str(want), str(got))
    where = [drv.read_desc(p)[2] for p in (0, 3, 5)]
    require(where == [12, 10, 11], "used descriptors at 0, then +3 (ID 12's list), then +2",
            "[12, 10, 11]", str(where))


@case("ring.packed.device.wraps", ("RING-PACKED-012", "RING-PACKED-014", "RING-PACKED-092"),
      "device", LAYER, "many laps of a ring of 3 with lists of 1 and 2: the marks follow the "
      "wrap counters, nothing is lost or repeated")
def wraps(target: object) -> None:
    setup = make_packed_setup(3)
    dev, drv = _device(target, setup)
    for n in range(20):
        size = 1 + n % 2
        drv.publish(n, [(*buf(k), W) for k in range(size)])
        chain = _pop(dev, f"round {n}: list popped")
        at = (drv.last_used, drv.used_wrap)
        dev.push([(chain.head, n)])  # type: ignore[attr-defined]
        flags = drv.read_desc(at[0])[3]
        require(flags & pl.MARKS == (pl.MARKS if at[1] else 0), f"round {n}: used marks of wrap "
                f"bit {at[1]}", hex(pl.MARKS if at[1] else 0), hex(flags & pl.MARKS))
        got = [(i, length) for i, length, _ in drv.take_used()]
        require(got == [(n, n)], f"round {n}: used descriptor", str([(n, n)]), str(got))


@case("ring.packed.device.driver-memory-untouched", ("RING-PACKED-020", "RING-PACKED-022",
      "RING-PACKED-060"), "device", LAYER,
      "popping and pushing leaves readable buffers, skipped descriptors and the driver's "
      "event-suppression structure as the driver wrote them")
def untouched(target: object) -> None:
    setup = make_packed_setup()
    dev, drv = _device(target, setup)
    mem, lay = setup.memory, setup.layout
    mem.write_bytes(buf(0)[0], bytes(range(64)))
    drv.publish(1, [(*buf(0), R), (*buf(1), W)])
    drv.publish(2, [(*buf(2), R), (*buf(3), R), (*buf(4), W)])
    drv.set_event("driver", pl.RING_EVENT_FLAGS_ENABLE, 0x1234 & 0x7FFF, 1)
    event = mem.read(lay.driver_event, 4)
    skipped = [drv.read_desc(p) for p in (1, 3, 4)]
    chains = [_pop(dev), _pop(dev)]
    dev.push([(c.head, 8) for c in chains])  # type: ignore[attr-defined]
    dev.should_notify()
    dev.enable_notify()
    require(mem.read_bytes(buf(0)[0], 64) == bytes(range(64)), "readable buffer unchanged")
    require([drv.read_desc(p) for p in (1, 3, 4)] == skipped,
            "descriptors skipped by the used descriptors unchanged")
    require(mem.read(lay.driver_event, 4) == event, "driver event suppression unchanged")


@case("ring.packed.device.waits-for-avail-marks", ("RING-PACKED-015", "RING-PACKED-021"),
      "device", LAYER, "a zeroed descriptor, used marks or the last lap's marks are not "
      "available")
def waits(target: object) -> None:
    setup = make_packed_setup(4)
    dev, drv = _device(target, setup)
    for marks in (0, pl.MARKS, pl.VIRTQ_DESC_F_USED):
        drv.write_desc(0, *buf(0), 1, marks | pl.VIRTQ_DESC_F_WRITE)
        require(dev.pop() is None, f"flags {marks:#06x} at wrap bit 1: nothing available",
                "None", "a list")
        require(not dev.needs_reset, "not an error: the device just waits")


@case("ring.packed.device.notify-flags", ("RING-PACKED-062",), "device", LAYER,
      "without EVENT_IDX, notifies after a push unless the driver's flags say DISABLE "
      "(DESC and the reserved 3 count as ENABLE)")
def notify_flags(target: object) -> None:
    setup = make_packed_setup()
    dev, drv = _device(target, setup)
    for n, flags in enumerate((pl.RING_EVENT_FLAGS_ENABLE, pl.RING_EVENT_FLAGS_DISABLE,
                               pl.RING_EVENT_FLAGS_DESC, 3)):
        drv.set_event("driver", flags, 0x7777 & 0x7FFF, 0)
        decision = _round(dev, drv, n)
        if flags != pl.RING_EVENT_FLAGS_DISABLE:  # DISABLE: SHOULD NOT, not checked
            require(decision, f"notify with driver flags {flags}", "True", "False")


@case("ring.packed.device.notify-desc", ("RING-PACKED-062", "RING-PACKED-064"), "device",
      LAYER, "with EVENT_IDX, notifies when a used descriptor passes the driver's off_wrap, "
      "across wraps")
def notify_desc(target: object) -> None:
    setup = make_packed_setup(3, event_idx=True)
    dev, drv = _device(target, setup)
    for n in range(8):
        drv.set_event("driver", pl.RING_EVENT_FLAGS_DESC, drv.last_used, drv.used_wrap)
        require(_round(dev, drv, n), f"round {n}: notify at off_wrap "
                f"({drv.last_used}, {drv.used_wrap})", "True", "False")


@case("ring.packed.device.desc-suppresses", ("RING-PACKED-062",), "device", LAYER,
      "with EVENT_IDX, does not notify while the driver's off_wrap lies ahead (SHOULD NOT)")
def desc_suppresses(target: object) -> None:
    setup = make_packed_setup(8, event_idx=True)
    dev, drv = _device(target, setup)
    drv.set_event("driver", pl.RING_EVENT_FLAGS_DESC, 6, 1)
    for n in range(4):
        require(not _round(dev, drv, n), f"no notification at used position {n + 1} while "
                "off_wrap is (6, 1)", "False", "True")


@case("ring.packed.device.forced-notify", ("RING-PACKED-064",), "device", LAYER,
      "with EVENT_IDX, notifies after passing 2Q positions since its last decision, "
      "whatever off_wrap says")
def forced(target: object) -> None:
    setup = make_packed_setup(2, event_idx=True)
    dev, drv = _device(target, setup)
    drv.set_event("driver", pl.RING_EVENT_FLAGS_DESC, 1, 0)  # a position the window aliases
    for n in range(4):
        drv.publish(n, [(*buf(n), W)])
        dev.push([(_pop(dev).head, 0)])  # type: ignore[attr-defined]
        drv.take_used()
    require(dev.should_notify(), "notify after 2Q = 4 positions without a decision",
            "True", "False")


@case("ring.packed.device.event-flags-word", ("RING-PACKED-061", "RING-PACKED-066"),
      "device", LAYER, "disable_notify writes DISABLE; enable_notify writes ENABLE, or with "
      "EVENT_IDX DESC and off_wrap = its read position")
def event_word(target: object) -> None:
    for event_idx in (False, True):
        setup = make_packed_setup(3, event_idx=event_idx)
        dev, drv = _device(target, setup)
        for n in range(4):  # move the read position across a wrap
            drv.publish(n, [(*buf(n), W)])
            dev.push([(_pop(dev).head, 0)])  # type: ignore[attr-defined]
        require_event_word(lambda d=drv: d.event("device"), dev.disable_notify,  # type: ignore[misc]
                           dev.enable_notify, ("disable_notify", "enable_notify"), event_idx)


@case("ring.packed.device.enable-rechecks", ("RING-PACKED-070", "RING-PACKED-110"), "device",
      LAYER, "enable_notify reports a list that arrived while notifications were off")
def enable_rechecks(target: object) -> None:
    for event_idx in (False, True):
        setup = make_packed_setup(2, event_idx=event_idx)
        dev, drv = _device(target, setup)
        for n in range(3):
            dev.disable_notify()
            drv.publish(n, [(*buf(n), W)])
            require(dev.enable_notify(), f"re-check after enable (EVENT_IDX={event_idx}, "
                    f"round {n})", "True: a list is pending", "False: the device would sleep")
            dev.push([(_pop(dev).head, 0)])  # type: ignore[attr-defined]
            drv.take_used()


# -- hostile driver ---------------------------------------------------------------------

def _reject(target: object, setup: PackedRingSetup, write: Callable[[PackedHandDriver], None],
            reqs: set[str], what: str, warm: bool) -> Result:
    """The hand driver makes a bad list available; the device must refuse it, write nothing
    to the ring, and not go on as if nothing happened (RING-PACKED-085)."""
    dev, drv = _device(target, setup)
    lay, mem = setup.layout, setup.memory
    if warm:  # some honest traffic first, so the lie lands mid-ring
        for n in range(3):
            drv.publish(100 + n, [(*buf(n), R)])
            dev.push([(_pop(dev).head, 0)])  # type: ignore[attr-defined]
            drv.take_used()
    write(drv)
    return expect_device_stops(dev, lambda: mem.read_bytes(lay.desc, lay.end - lay.desc), reqs,
                               what, "the ring", "went on")


HOSTILE: list[tuple[str, str, str, Callable[[PackedHandDriver], None], bool]] = []
"""Every hostile list below as (name, requirement, summary, writer, needs INDIRECT), for the
same cases over other transports (suites/virtio_pci/hostile_driver.py)."""


def _hostile(name: str, req: str, summary: str, write: Callable[[PackedHandDriver], None], *,
             warm: bool = True, **setup_args: object) -> None:
    HOSTILE.append((name, req, summary, write, bool(setup_args.get("indirect"))))
    def run(target: object) -> Result:
        return _reject(target, make_packed_setup(**setup_args),  # type: ignore[arg-type]
                       write, {req}, summary, warm)

    reqs = tuple(dict.fromkeys((req, "RING-PACKED-085")))
    case(f"ring.packed.device.rejects-{name}", reqs, "device", LAYER, summary)(run)


_hostile("longer-than-q", "RING-PACKED-080", "a NEXT chain through all 8 descriptors and on",
         lambda d: d.publish(1, [(*buf(k), R) for k in range(8)], extra={7: pl.VIRTQ_DESC_F_NEXT}))
_hostile("table-longer-than-q", "RING-PACKED-080", "an indirect table of 9 in a queue of 8",
         lambda d: d.publish(1, [(*buf(0), R)] * 9, table=TABLE), indirect=True)
_hostile("second-not-available", "RING-PACKED-081",
         "the second descriptor of a list carries used marks",
         lambda d: d.publish(1, [(*buf(0), R), (*buf(1), W)], marks={1: pl.MARKS}))
_hostile("second-from-last-lap", "RING-PACKED-081",
         "the second descriptor of a list carries the last lap's marks",
         lambda d: d.publish(1, [(*buf(0), R), (*buf(1), W)], marks={1: pl.VIRTQ_DESC_F_USED}))
_hostile("indirect-without-feature", "RING-PACKED-082", "INDIRECT without "
         "VIRTIO_F_INDIRECT_DESC", lambda d: d.publish(1, [(*buf(0), R)], table=TABLE))
_hostile("indirect-with-next", "RING-PACKED-082", "INDIRECT together with NEXT",
         lambda d: d.publish(1, [(*buf(0), R)], table=TABLE, ring_flags=pl.VIRTQ_DESC_F_NEXT),
         indirect=True)
_hostile("indirect-in-a-list", "RING-PACKED-082", "INDIRECT as the second descriptor of a list",
         lambda d: d.publish(1, [(*buf(0), R), (TABLE, 32, R)],
                             extra={1: pl.VIRTQ_DESC_F_INDIRECT}), indirect=True)
_hostile("indirect-empty", "RING-PACKED-082", "an indirect table of 0 bytes",
         lambda d: d.publish(1, [(TABLE, 0, R)], extra={0: pl.VIRTQ_DESC_F_INDIRECT}),
         indirect=True)
_hostile("indirect-ragged", "RING-PACKED-082", "an indirect table of 24 bytes",
         lambda d: d.publish(1, [(TABLE, 24, R)], extra={0: pl.VIRTQ_DESC_F_INDIRECT}),
         indirect=True)
_hostile("buffer-outside", "RING-PACKED-083", "a buffer that runs past guest memory",
         lambda d: d.publish(1, [(MEM_END - 8, 64, W)]))
_hostile("buffer-overflows", "RING-PACKED-083", "addr + len overflows 64 bits",
         lambda d: d.publish(1, [((1 << 64) - 16, 64, W)]))
_hostile("table-outside", "RING-PACKED-083", "an indirect table beyond guest memory",
         lambda d: d.publish(1, [(MEM_END - 16, 32, R)], extra={0: pl.VIRTQ_DESC_F_INDIRECT}),
         indirect=True)
_hostile("readable-after-writable", "RING-PACKED-084", "a readable descriptor after a writable",
         lambda d: d.publish(1, [(*buf(0), W), (*buf(1), R)]))
_hostile("readable-after-writable-in-table", "RING-PACKED-084",
         "a readable table entry after a writable one",
         lambda d: d.publish(1, [(*buf(0), W), (*buf(1), R)], table=TABLE), indirect=True)


def _more_than_q_held(target: object) -> Result:
    """The device holds a list of 3 in a ring of 4; a list of 2 more is more than Q."""
    setup = make_packed_setup(4)
    dev, drv = _device(target, setup)
    drv.publish(1, [(*buf(0), R)] * 3)
    _pop(dev)
    drv.publish(2, [(*buf(1), R)] * 2)
    lay, mem = setup.layout, setup.memory
    before = mem.read_bytes(lay.desc, lay.end - lay.desc)
    result = expect_reject(dev.pop, {"RING-PACKED-080"}, "2 more descriptors with 3 held of 4")
    require(mem.read_bytes(lay.desc, lay.end - lay.desc) == before, "the ring is untouched")
    return result


def _duplicate_id(target: object) -> Result:
    setup = make_packed_setup(4)
    dev, drv = _device(target, setup)
    drv.publish(7, [(*buf(0), R)])
    drv.publish(7, [(*buf(1), R)])
    _pop(dev)
    lay, mem = setup.layout, setup.memory
    before = mem.read_bytes(lay.desc, lay.end - lay.desc)
    result = expect_reject(dev.pop, {"RING-PACKED-085"}, "a second list with held ID 7")
    require(mem.read_bytes(lay.desc, lay.end - lay.desc) == before, "the ring is untouched")
    return result


case("ring.packed.device.rejects-more-than-q-held", ("RING-PACKED-080", "RING-PACKED-090"),
     "device", LAYER, "a list that would make the device hold more than Q descriptors"
     )(_more_than_q_held)
case("ring.packed.device.rejects-duplicate-id", ("RING-PACKED-085",), "device", LAYER,
     "a list whose buffer ID the device already holds")(_duplicate_id)
