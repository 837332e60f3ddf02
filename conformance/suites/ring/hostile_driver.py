"""Hostile driver against our split-ring devices in process: ``hostile.driver.split.*``.

Beside hostile_driver.py (which reaches a back-end over vhost-user), these cases hand the bad
ring straight to the target's ``ring_device`` (the Python reference and ring.c), one table per
field of what a driver writes (the head, next, a loop, a buffer's address and length, an
indirect table, the order of readable and writable parts, avail.idx), crossed with queue
configurations (event suppression, indices about to wrap). The device must refuse the chain
naming the requirement (RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082, RING-SPLIT-083,
RING-SPLIT-084), write nothing to the used ring, and stop (DEVICE_NEEDS_RESET) rather than go
on: the judgement of ring_device.py's own hostile cases.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.conformance.cases import Result, case
from virtiospec.conformance.ring.peer import MEMORY_SIZE, HandDriver, buf, make_setup
from virtiospec.conformance.suites.ring.device import _reject
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_INDIRECT as IND,
)
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_NEXT as NEXT,
)
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_WRITE as WRITE,
)

Q = 8
TABLE = 0x20000
Write = Callable[[HandDriver], None]


def _head(h: int) -> Write:
    def write(d: HandDriver) -> None:
        d.desc(0, *buf(0), WRITE)
        d.publish(h)

    return write


def _next(n: int) -> Write:
    def write(d: HandDriver) -> None:
        d.desc(0, *buf(0), NEXT, n)
        d.publish(0)

    return write


def _cycle(n: int, length: int = 64) -> Write:
    """Descriptors 0 -> 1 -> ... -> n-1 -> 0."""
    def write(d: HandDriver) -> None:
        for k in range(n):
            d.desc(k, buf(k)[0], length, NEXT, (k + 1) % n)
        d.publish(0)

    return write


def _buffer(addr: int, length: int, flags: int = WRITE) -> Write:
    def write(d: HandDriver) -> None:
        d.desc(0, addr, length, flags)
        d.publish(0)

    return write


def _second_buffer(addr: int, length: int) -> Write:
    def write(d: HandDriver) -> None:
        d.desc(0, *buf(0), NEXT, 1)
        d.desc(1, addr, length, WRITE)
        d.publish(0)

    return write


def _indirect(flags: int = IND, length: int = 32, inner: int = 0, table: int = TABLE
              ) -> Write:
    def write(d: HandDriver) -> None:
        if table + 32 <= MEMORY_SIZE:
            d.desc(0, *buf(0), inner, 0, table=table)
            d.desc(1, *buf(1), 0, 0, table=table)
        d.desc(0, table, length, flags, 1)
        d.publish(0)

    return write


def _readable_after_writable(n_writable: int) -> Write:
    def write(d: HandDriver) -> None:
        d.chain(0, [(*buf(k), True) for k in range(n_writable)] + [(*buf(7), False)])
        d.publish(0)

    return write


def _avail_jump(delta: int) -> Write:
    def write(d: HandDriver) -> None:
        d.chain(0, [(*buf(0), True)])
        d.publish(0)
        d.avail_idx = (d.avail_idx - 1 + delta) & 0xFFFF
        d.publish()

    return write


# (name, requirement, summary, writer, needs VIRTIO_F_INDIRECT_DESC)
TABLE_OF_LIES: list[tuple[str, str, str, Write, bool]] = [
    ("head-q", "RING-SPLIT-080", "head Q", _head(Q), False),
    ("head-q-plus-one", "RING-SPLIT-080", "head Q + 1", _head(Q + 1), False),
    ("head-7fff", "RING-SPLIT-080", "head 0x7fff", _head(0x7FFF), False),
    ("head-ffff", "RING-SPLIT-080", "head 0xffff", _head(0xFFFF), False),
    ("next-q", "RING-SPLIT-080", "next Q", _next(Q), False),
    ("next-q-plus-five", "RING-SPLIT-080", "next Q + 5", _next(Q + 5), False),
    ("next-ffff", "RING-SPLIT-080", "next 0xffff", _next(0xFFFF), False),
    ("self-loop", "RING-SPLIT-080", "next is itself", _cycle(1), False),
    ("self-loop-zero-length", "RING-SPLIT-080", "next is itself, len 0", _cycle(1, 0), False),
    ("loop-of-two", "RING-SPLIT-080", "0 -> 1 -> 0", _cycle(2), False),
    ("loop-of-three-zero-length", "RING-SPLIT-080", "0 -> 1 -> 2 -> 0, len 0", _cycle(3, 0),
     False),
    ("loop-of-q", "RING-SPLIT-080", "every descriptor, back to 0", _cycle(Q), False),
    ("buffer-past-end", "RING-SPLIT-082", "a buffer running 56 bytes past guest memory",
     _buffer(MEMORY_SIZE - 8, 64), False),
    ("buffer-at-end", "RING-SPLIT-082", "a 1-byte buffer just past guest memory",
     _buffer(MEMORY_SIZE, 1), False),
    ("buffer-far", "RING-SPLIT-082", "a buffer at 2^40", _buffer(1 << 40, 64), False),
    ("buffer-wraps", "RING-SPLIT-082", "addr + len wraps 64 bits",
     _buffer((1 << 64) - 16, 64), False),
    ("buffer-ends-at-2-64", "RING-SPLIT-082", "addr + len is exactly 2^64",
     _buffer((1 << 64) - 1, 1), False),
    ("readable-buffer-wraps", "RING-SPLIT-082", "a readable buffer whose end wraps",
     _buffer((1 << 64) - 8, 0xFFFFFFFF, 0), False),
    ("second-buffer-outside", "RING-SPLIT-082", "the second buffer of a chain past memory",
     _second_buffer(MEMORY_SIZE - 4, 64), False),
    ("indirect-without-feature", "RING-SPLIT-081", "INDIRECT without the feature",
     _indirect(), False),
    ("indirect-with-next", "RING-SPLIT-081", "INDIRECT with NEXT", _indirect(IND | NEXT), True),
    ("nested-indirect", "RING-SPLIT-081", "INDIRECT inside a table", _indirect(inner=IND),
     True),
    ("indirect-empty", "RING-SPLIT-081", "a table of 0 bytes", _indirect(length=0), True),
    ("indirect-8-bytes", "RING-SPLIT-081", "a table of 8 bytes", _indirect(length=8), True),
    ("indirect-17-bytes", "RING-SPLIT-081", "a table of 17 bytes", _indirect(length=17), True),
    ("indirect-24-bytes", "RING-SPLIT-081", "a table of 24 bytes", _indirect(length=24), True),
    ("indirect-table-outside", "RING-SPLIT-082", "a table past guest memory",
     _indirect(table=MEMORY_SIZE - 16), True),
    ("indirect-table-wraps", "RING-SPLIT-082", "a table whose end wraps 64 bits",
     _indirect(table=(1 << 64) - 16), True),
    ("readable-after-writable", "RING-SPLIT-083", "readable after one writable",
     _readable_after_writable(1), False),
    ("readable-after-two-writable", "RING-SPLIT-083", "readable after two writable",
     _readable_after_writable(2), False),
    ("avail-jump-q-plus-one", "RING-SPLIT-084", "avail.idx Q + 1 ahead", _avail_jump(Q + 1),
     False),
    ("avail-jump-half", "RING-SPLIT-084", "avail.idx 0x8000 ahead", _avail_jump(0x8000),
     False),
    ("avail-backwards", "RING-SPLIT-084", "avail.idx one behind the device",
     _avail_jump(0xFFFF), False),
]
CONFIGS: list[tuple[str, dict[str, object]]] = [
    ("", {}), ("event-idx", {"event_idx": True}), ("wrap", {"start": 65533})]


def _register(cfg: str, args: dict[str, object], name: str, req: str, summary: str,
              write: Write, indirect: bool) -> None:
    setup_args = {**args, "indirect": indirect}

    def run(target: object) -> Result:
        return _reject(target, make_setup(**setup_args),  # type: ignore[arg-type]
                       write, {req}, summary)

    cid = ".".join(p for p in ("hostile.driver.split", cfg, name) if p)
    reqs = tuple(dict.fromkeys((req, "RING-SPLIT-084")))
    case(cid, reqs, "device", "hostile", summary + (f" ({cfg})" if cfg else ""))(run)


for _cfg, _args in CONFIGS:
    for _name, _req, _summary, _write, _ind in TABLE_OF_LIES:
        _register(_cfg, _args, _name, _req, _summary, _write, _ind)
