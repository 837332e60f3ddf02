"""Hostile driver against our packed-ring devices in process:
``hostile.driver.packed.{cold,warm,event-idx}.*``.

Beside hostile_driver_packed.py (over vhost-user), these cases hand each bad list straight to
the target's ``ring_packed_device`` (the Python reference and ring_packed.c), one table per
field a driver writes (the length of a list, the marks of its later descriptors, INDIRECT and
its table, a buffer's address and length, the order of readable and writable parts), crossed
with where the lie lands (the first position of a fresh ring, mid-ring after honest traffic,
with event suppression on). The device must refuse the list naming the requirement
(RING-PACKED-080, RING-PACKED-081, RING-PACKED-082, RING-PACKED-083, RING-PACKED-084), write
nothing to the ring, and stop: the judgement of ring_packed_device.py's own hostile cases.
(INDIRECT inside a packed table is no error: the device ignores every flag but WRITE there,
RING-PACKED-042.)
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.conformance.cases import Result, case
from virtiospec.conformance.suites.ring.packed.device import MEM_END, TABLE, _reject
from virtiospec.conformance.suites.ring.packed.peer import (
    PackedHandDriver,
    buf,
    make_packed_setup,
)
from virtiospec.reference.ring.packed.layout import (
    MARKS,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_USED,
)

R, W = False, True
Write = Callable[[PackedHandDriver], None]
IND, NEXT = VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT


def _list(elems: list[tuple[int, int, bool]], **kw: object) -> Write:
    return lambda d: d.publish(1, elems, **kw)  # type: ignore[arg-type]


def _indirect_at(addr: int, length: int) -> Write:
    return _list([(addr, length, R)], extra={0: IND})


TABLE_OF_LIES: list[tuple[str, str, str, Write, bool]] = [
    ("next-past-q", "RING-PACKED-080", "NEXT through all Q descriptors and on",
     _list([(*buf(k), R) for k in range(8)], extra={7: NEXT}), False),
    ("next-past-q-zero-length", "RING-PACKED-080", "NEXT through all Q zero-length "
     "descriptors and on", _list([(buf(k)[0], 0, R) for k in range(8)], extra={7: NEXT}),
     False),
    ("table-of-q-plus-one", "RING-PACKED-080", "an indirect table of Q + 1 entries",
     _list([(*buf(0), R)] * 9, table=TABLE), True),
    ("table-of-4q", "RING-PACKED-080", "an indirect table of 4Q entries",
     _list([(*buf(0), R)] * 32, table=TABLE), True),
    ("second-used-marks", "RING-PACKED-081", "the second descriptor carries used marks",
     _list([(*buf(0), R), (*buf(1), W)], marks={1: MARKS}), False),
    ("second-last-lap", "RING-PACKED-081", "the second descriptor carries the last lap's "
     "marks", _list([(*buf(0), R), (*buf(1), W)], marks={1: VIRTQ_DESC_F_USED}), False),
    ("second-no-marks", "RING-PACKED-081", "the second descriptor carries no marks",
     _list([(*buf(0), R), (*buf(1), W)], marks={1: 0}), False),
    ("third-used-marks", "RING-PACKED-081", "the third of three descriptors carries used "
     "marks", _list([(*buf(0), R), (*buf(1), W), (*buf(2), W)], marks={2: MARKS}), False),
    ("indirect-without-feature", "RING-PACKED-082", "INDIRECT without the feature",
     _list([(*buf(0), R)], table=TABLE), False),
    ("indirect-with-next", "RING-PACKED-082", "INDIRECT with NEXT",
     _list([(*buf(0), R)], table=TABLE, ring_flags=NEXT), True),
    ("indirect-second-in-list", "RING-PACKED-082", "INDIRECT as the second descriptor",
     _list([(*buf(0), R), (TABLE, 32, R)], extra={1: IND}), True),
    ("indirect-empty", "RING-PACKED-082", "a table of 0 bytes", _indirect_at(TABLE, 0), True),
    ("indirect-8-bytes", "RING-PACKED-082", "a table of 8 bytes", _indirect_at(TABLE, 8),
     True),
    ("indirect-17-bytes", "RING-PACKED-082", "a table of 17 bytes", _indirect_at(TABLE, 17),
     True),
    ("indirect-24-bytes", "RING-PACKED-082", "a table of 24 bytes", _indirect_at(TABLE, 24),
     True),
    ("buffer-past-end", "RING-PACKED-083", "a buffer running past guest memory",
     _list([(MEM_END - 8, 64, W)]), False),
    ("buffer-at-end", "RING-PACKED-083", "a 1-byte buffer just past guest memory",
     _list([(MEM_END, 1, W)]), False),
    ("buffer-far", "RING-PACKED-083", "a buffer at 2^40", _list([(1 << 40, 64, R)]), False),
    ("buffer-wraps", "RING-PACKED-083", "addr + len wraps 64 bits",
     _list([((1 << 64) - 16, 64, W)]), False),
    ("buffer-ends-at-2-64", "RING-PACKED-083", "addr + len is exactly 2^64",
     _list([((1 << 64) - 1, 1, W)]), False),
    ("second-buffer-outside", "RING-PACKED-083", "the second buffer past guest memory",
     _list([(*buf(0), R), (MEM_END - 4, 64, W)]), False),
    ("table-past-end", "RING-PACKED-083", "a table past guest memory",
     _indirect_at(MEM_END - 16, 32), True),
    ("table-wraps", "RING-PACKED-083", "a table whose end wraps 64 bits",
     _indirect_at((1 << 64) - 16, 32), True),
    ("readable-after-writable", "RING-PACKED-084", "readable after writable",
     _list([(*buf(0), W), (*buf(1), R)]), False),
    ("readable-after-two-writable", "RING-PACKED-084", "readable after two writable",
     _list([(*buf(0), W), (*buf(1), W), (*buf(2), R)]), False),
    ("readable-after-writable-in-table", "RING-PACKED-084", "readable after writable in a "
     "table", _list([(*buf(0), W), (*buf(1), R)], table=TABLE), True),
]
CONFIGS: list[tuple[str, bool, bool]] = [("cold", False, False), ("warm", True, False),
                                         ("event-idx", True, True)]


def _register(cfg: str, warm: bool, event_idx: bool, name: str, req: str, summary: str,
              write: Write, indirect: bool) -> None:
    def run(target: object) -> Result:
        setup = make_packed_setup(event_idx=event_idx, indirect=indirect)
        return _reject(target, setup, write, {req}, summary, warm)

    reqs = tuple(dict.fromkeys((req, "RING-PACKED-085")))
    case(f"hostile.driver.packed.{cfg}.{name}", reqs, "device", "hostile",
         f"{summary} ({cfg})")(run)


for _cfg, _warm, _ev in CONFIGS:
    for _name, _req, _summary, _write, _ind in TABLE_OF_LIES:
        _register(_cfg, _warm, _ev, _name, _req, _summary, _write, _ind)
