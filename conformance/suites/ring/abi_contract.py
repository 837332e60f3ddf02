"""The split ring's C ABI (conformance/ring/virtiospec_ring.h, version 2), call by call.

These cases call the library's functions directly and compare return codes exactly with
what the header says each call returns in each state: create's refusals (queue size,
placement, caller errors), the STOPPED state after an error of the other side (the code
that stopped it, then -NEEDS_RESET from every call, num_free included, while
detach_unused still works), pop's max_segs, and the caller errors FULL, NO_SPACE and
INVALID. They SKIP on a target without the C ABI (reference, qemu, ...).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from virtiospec.conformance.cases import CaseSkipped, Side, case, require
from virtiospec.conformance.ring.api import RingSetup
from virtiospec.conformance.ring.peer import MEMORY_SIZE, HandDevice, HandDriver, buf, make_setup
from virtiospec.reference.ring.layout import SplitLayout

P = "virtiospec_ring_"
E = {"QUEUE_SIZE": 1, "PLACEMENT": 2, "CHAIN_BYTES": 3, "CHAIN_DESCS": 4, "INDEX": 5,
     "USED": 13, "NEEDS_RESET": 14, "FULL": 15, "INVALID": 16, "NO_SPACE": 17}


def _abi(target: object, side: str) -> Any:
    abi = getattr(target, "abi", None)
    if abi is None or not hasattr(abi, "lib"):
        raise CaseSkipped(f"target {getattr(target, 'name', target)} has no C ABI "
                          "(virtiospec_ring.h): these cases call it directly")
    if side not in getattr(target, "sides", (side,)):
        raise CaseSkipped(f"target {getattr(target, 'name', target)} is restricted to the "
                          f"{' and '.join(getattr(target, 'sides', ()))} side; this case "
                          f"needs the {side}")
    return abi


def _expect(rc: int, want: int | str, what: str) -> None:
    code = -E[want] if isinstance(want, str) else want
    name = f"-{want}" if isinstance(want, str) else str(want)
    require(rc == code, what, f"{name} ({code})", str(rc))


def _layout(q: int, desc: int, avail: int, used: int) -> SplitLayout:
    lay = object.__new__(SplitLayout)  # unchecked: the library is what must refuse it
    object.__setattr__(lay, "size", q)
    object.__setattr__(lay, "desc", desc)
    object.__setattr__(lay, "avail", avail)
    object.__setattr__(lay, "used", used)
    return lay


def _create(abi: Any, side: str, setup: RingSetup, state_q: int = 8,
            short: int = 0) -> int:
    size = getattr(abi.lib, f"{P}{side}_state_size")(state_q)
    mem = abi.ffi.from_buffer(setup.memory.buf)
    state = abi.state(size)
    cfg = abi.config(setup, driver=side == "driver")
    return int(getattr(abi.lib, f"{P}{side}_create")(state, size - short, mem, setup.memory.size,
                                                       cfg))


def create_queue_size(target: object, side: str) -> None:
    abi = _abi(target, side)
    for q in (0, 3, 12, 65536):
        size = getattr(abi.lib, f"{P}{side}_state_size")(q)
        require(size == 0, f"{side}_state_size({q})", "0", str(size))
        setup = make_setup()
        setup.layout = _layout(q, 0x1000, 0x2000, 0x3000)
        _expect(_create(abi, side, setup), "QUEUE_SIZE", f"{side}_create with Q = {q}")
    _expect(_create(abi, side, make_setup(), short=8), "INVALID",
            f"{side}_create with a state block 8 bytes short")


def create_placement(target: object, side: str) -> None:
    bad = {"desc on 8": (0x1008, 0x2000, 0x3000), "avail on 1": (0x1000, 0x2001, 0x3000),
           "used on 2": (0x1000, 0x2000, 0x3002),
           "used past the end": (0x1000, 0x2000, MEMORY_SIZE - 16),
           "desc past the end": (MEMORY_SIZE - 64, 0x2000, 0x3000)}
    abi = _abi(target, side)
    for what, (desc, avail, used) in bad.items():
        setup = make_setup()
        setup.layout = _layout(8, desc, avail, used)
        _expect(_create(abi, side, setup), "PLACEMENT", f"{side}_create with {what}")
    if side == "device":
        return
    for what, area in (("not aligned on 16", 0x20008), ("past the end", MEMORY_SIZE - 64)):
        setup = make_setup(indirect=True)
        setup.indirect_area = area
        _expect(_create(abi, "driver", setup), "PLACEMENT", f"driver_create, indirect area {what}")


# side, its create-queue-size case, its create-placement case
_CREATE: tuple[tuple[Side, str, str], ...] = (
    ("driver", "ring.split.abi.driver.create-queue-size",
     "ring.split.abi.driver.create-placement"),
    ("device", "ring.split.abi.device.create-queue-size",
     "ring.split.abi.device.create-placement"),
)
for _side, _size_id, _placement_id in _CREATE:
    case(_size_id, ("RING-SPLIT-005", "RING-SPLIT-001"),
         _side, "ring",
         f"{_side}_create refuses a queue size not a power of 2 in [1, 32768]; state_size "
         "is 0")(partial(create_queue_size, side=_side))
    case(_placement_id, ("RING-SPLIT-002",), _side, "ring",
         f"{_side}_create refuses a misaligned part, one outside guest memory"
         + (", or a bad indirect area" if _side == "driver" else ""))(
        partial(create_placement, side=_side))


class _Raw:
    """One side of the library on a fresh queue, called without the wrapper's checks."""

    def __init__(self, abi: Any, side: str, setup: RingSetup) -> None:
        self.abi, self.side, self.ffi = abi, side, abi.ffi
        self.mem = abi.ffi.from_buffer(setup.memory.buf)
        size = getattr(abi.lib, f"{P}{side}_state_size")(setup.layout.size)
        self.state = abi.state(size)
        _expect(getattr(abi.lib, f"{P}{side}_create")(
            self.state, size, self.mem, setup.memory.size, abi.config(setup, driver=side ==
                                                                    "driver")), 0, "create")
        _expect(self.call("init"), 0, "init")

    def call(self, fn: str, *args: Any) -> int:
        return int(getattr(self.abi.lib, f"{P}{self.side}_{fn}")(self.state, *args))

    def segs(self, *segs: tuple[int, int]) -> Any:
        arr = self.ffi.new("struct virtiospec_ring_segment[]", max(len(segs), 1))
        for k, (addr, length) in enumerate(segs):
            arr[k].addr, arr[k].len = addr, length
        return arr


@case("ring.split.abi.driver.stopped", ("RING-SPLIT-085", "RING-SPLIT-084"), "driver", "ring",
      "after -USED: needs_reset, -NEEDS_RESET from every call (num_free too), detach works")
def driver_stopped(target: object) -> None:
    abi = _abi(target, "driver")
    setup = make_setup()
    d = _Raw(abi, "driver", setup)
    dev = HandDevice(setup)
    ffi = abi.ffi
    token, length = ffi.new("uint64_t *"), ffi.new("uint32_t *")
    for n in range(2):
        require(d.call("add", d.segs(buf(n)), 1, d.segs(buf(n + 2, 16)), 1, 30 + n) >= 0, "add")
    _expect(d.call("num_free"), 4, "num_free, healthy, two chains of two out (Q = 8)")
    _expect(d.call("needs_reset"), 0, "driver_needs_reset while healthy")
    dev.pop_heads()
    dev.used((7, 0))
    _expect(d.call("get_used", token, length), "USED", "get_used of used id 7")
    _expect(d.call("needs_reset"), -E["USED"], "driver_needs_reset after -USED")
    calls = {"get_used": (token, length), "add": (d.segs(buf(5)), 1, d.segs(), 0, 9),
             "kick_prepare": (), "disable_cb": (), "enable_cb": (), "enable_cb_delayed": (),
             "num_free": ()}
    for fn, args in calls.items():
        _expect(d.call(fn, *args), "NEEDS_RESET", f"{fn} when STOPPED")
    tokens = ffi.new("uint64_t[]", 8)
    _expect(d.call("detach_unused", tokens, 1), "NO_SPACE", "detach_unused with room for 1 of 2")
    _expect(d.call("detach_unused", tokens, 8), 2, "detach_unused when STOPPED")
    got = sorted(int(tokens[k]) for k in range(2))
    require(got == [30, 31], "the tokens of both chains (nothing was taken back)", "[30, 31]",
            str(got))
    _expect(d.call("num_free"), "NEEDS_RESET", "num_free after detach_unused: still STOPPED")


@case("ring.split.abi.device.stopped", ("RING-SPLIT-084",), "device", "ring",
      "after an error of the driver: needs_reset is its code, -NEEDS_RESET from every call")
def device_stopped(target: object) -> None:
    abi = _abi(target, "device")
    setup = make_setup()
    v = _Raw(abi, "device", setup)
    drv = HandDriver(setup)
    ffi = abi.ffi
    head, segs, counts = ffi.new("uint16_t *"), v.segs(*[(0, 0)] * 8), ffi.new("uint32_t[2]")
    _expect(v.call("needs_reset"), 0, "device_needs_reset while healthy")
    drv.publish(8)
    _expect(v.call("pop", head, segs, 8, counts, counts + 1), "INDEX", "pop of head 8 (Q = 8)")
    _expect(v.call("needs_reset"), -E["INDEX"], "device_needs_reset after -INDEX")
    used = ffi.new("struct virtiospec_ring_used_elem[]", 1)
    for fn, args in {"pop": (head, segs, 8, counts, counts + 1), "push": (used, 0),
                     "should_notify": (), "enable_notify": (), "disable_notify": ()}.items():
        _expect(v.call(fn, *args), "NEEDS_RESET", f"{fn} when STOPPED")


@case("ring.split.abi.device.pop-max-segs", ("RING-SPLIT-092",), "device", "ring",
      "pop refuses a chain longer than max_segs with -NO_SPACE and consumes nothing")
def pop_max_segs(target: object) -> None:
    abi = _abi(target, "device")
    setup = make_setup()
    v = _Raw(abi, "device", setup)
    drv = HandDriver(setup)
    drv.chain(0, [(*buf(0), False), (*buf(1), False), (*buf(2), True)])
    drv.publish(0)
    ffi = abi.ffi
    head, segs, counts = ffi.new("uint16_t *"), v.segs(*[(0, 0)] * 8), ffi.new("uint32_t[2]")
    _expect(v.call("pop", head, segs, 2, counts, counts + 1), "NO_SPACE",
            "pop of 3 buffers with max_segs = 2")
    _expect(v.call("needs_reset"), 0, "still healthy after -NO_SPACE")
    _expect(v.call("pop", head, segs, 3, counts, counts + 1), 1, "pop with max_segs = 3")
    got = (int(head[0]), int(counts[0]), int(counts[1]))
    require(got == (0, 2, 1), "the chain, not consumed by the refusal", "(0, 2, 1)", str(got))


@case("ring.split.abi.driver.caller-errors", ("RING-SPLIT-090", "RING-SPLIT-022",
      "RING-SPLIT-010"), "driver", "ring",
      "FULL, CHAIN_DESCS, CHAIN_BYTES, INVALID: exact codes, side stays healthy")
def caller_errors(target: object) -> None:
    abi = _abi(target, "driver")
    setup = make_setup(4)
    d = _Raw(abi, "driver", setup)
    _expect(d.call("add", d.segs(), 0, d.segs(), 0, 1), "INVALID", "add of no buffer")
    _expect(d.call("add", d.segs(*[buf(n) for n in range(5)]), 5, d.segs(), 0, 1), "CHAIN_DESCS",
            "add of 5 buffers, Q = 4")
    _expect(d.call("add", d.segs((buf(0)[0], 1 << 32)), 1, d.segs(), 0, 1), "CHAIN_BYTES",
            "add of a buffer of 2^32 bytes")
    _expect(d.call("add", d.segs(*[buf(n) for n in range(3)]), 3, d.segs(), 0, 1), 0,
            "add of 3 buffers (head 0)")
    _expect(d.call("add", d.segs(buf(4), buf(5)), 2, d.segs(), 0, 2), "FULL",
            "add of 2 buffers with 1 free")
    _expect(d.call("num_free"), 1, "num_free after the refusals")
    _expect(d.call("needs_reset"), 0, "driver healthy after caller errors")
    _expect(d.call("kick_prepare"), 1, "kick for the chain added")
    _expect(d.call("kick_prepare"), 0, "kick_prepare with nothing added since")


@case("ring.split.abi.device.push-not-popped", ("RING-SPLIT-092",), "device", "ring",
      "push of an id never popped returns -INVALID and the device stays healthy")
def push_not_popped(target: object) -> None:
    abi = _abi(target, "device")
    v = _Raw(abi, "device", make_setup(4))
    used = abi.ffi.new("struct virtiospec_ring_used_elem[]", 1)
    used[0].id = 2
    _expect(v.call("push", used, 1), "INVALID", "push of id 2, never popped")
    _expect(v.call("needs_reset"), 0, "device healthy after the refusal")
