"""Hostile device against our ring drivers (split and packed): ``hostile.device.split.*`` and
``hostile.device.packed.*``.

The suite is the device and lies, one field at a time. Each table below is a generator of
hostile variants of one field of what a device writes (the used id, the used len, used.idx,
an element used twice; the packed ID, len, WRITE flag, wrap marks and position), crossed with
a few queue configurations (event suppression, indirect tables, indices about to wrap, a
large queue); every pair is one case with a stable ID.

What a driver must do (spec/ring.md RING-SPLIT-085, spec/ring_packed.md RING-PACKED-086):
refuse the element naming the requirement, write nothing while refusing, stay stopped (a
second ``get_used`` refuses too: the device is broken, it needs a reset), and give back
through ``detach_unused`` exactly the buffers still outstanding: never a token it did not
hand out, never one twice. A used descriptor that is not used in the driver's lap (wrong wrap
marks, wrong position) must be ignored: nothing taken, nothing refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from virtiospec.conformance.cases import CaseFailed, Outcome, Result, case, require
from virtiospec.conformance.ring.peer import HandDevice, buf, make_setup
from virtiospec.conformance.suites.ring.packed.peer import PackedHandDevice, make_packed_setup
from virtiospec.conformance.targets import need
from virtiospec.reference.ring.layout import U16
from virtiospec.reference.ring.packed.layout import (
    VIRTQ_DESC_F_AVAIL,
    VIRTQ_DESC_F_USED,
)

Expect = Literal["refuse", "ignore"]
TWO = 2  # chains outstanding in every case


@dataclass(frozen=True)
class Config:
    name: str  # "" for the default configuration (no part in the case ID)
    q: int = 8
    event_idx: bool = False
    indirect: bool = False
    start: int = 0  # split only: free-running indices start here


SPLIT_CONFIGS = (Config(""), Config("event-idx", event_idx=True),
                 Config("indirect", indirect=True), Config("wrap", start=65533),
                 Config("q256", q=256))
PACKED_CONFIGS = (Config(""), Config("event-idx", event_idx=True),
                  Config("indirect", indirect=True))


@dataclass
class Ctx:
    """One case under way: the driver under test, the hand device, the chains out."""

    drv: Any
    dev: Any
    q: int
    ids: list[int]  # heads (split) or buffer IDs (packed) of chains 0 and 1 (tokens 0, 1)
    readonly: int | None = None  # head / ID of a chain without writable part (token 2)
    honest: list[tuple[int, int]] = field(default_factory=list)  # may come before the refusal
    outstanding: set[int] = field(default_factory=lambda: {0, 1})


Lie = Callable[[Ctx], None]


def _take(ctx: Ctx, token: int, length: int) -> None:
    """The driver takes one honest element back before the lie."""
    got = ctx.drv.get_used()
    require(got == (token, length), "an honest used element before the lie",
            str((token, length)), str(got))
    ctx.outstanding.discard(token)


def _judge(ctx: Ctx, snap: Callable[[], bytes], summary: str, reqs: set[str],
           expect: Expect) -> Result:
    for _ in range(len(ctx.honest) + 1):
        before = snap()
        try:
            got = ctx.drv.get_used()
        except Exception as err:
            req = getattr(err, "req", None)
            if expect == "ignore":
                raise CaseFailed(f"{summary}: refused what is not a used element",
                                 expected="ignored (get_used returns nothing)",
                                 observed=f"{type(err).__name__}: {err}") from None
            require(req in reqs, f"{summary}: refused naming the requirement",
                    " or ".join(sorted(reqs)), f"{req}: {err}")
            require(snap() == before, f"{summary}: the refusal writes nothing the driver "
                    "owns (descriptors, avail ring, event suppression)")
            _stopped(ctx, summary)
            _detached(ctx, summary)
            return Result(Outcome.REJECT, f"{summary}: {err}")
        if expect == "ignore":
            require(got is None, f"{summary}: nothing taken", "None", str(got))
            _detached(ctx, summary)
            return Result(Outcome.REJECT, f"{summary}: ignored, nothing taken back")
        if got is None or not ctx.honest or got != ctx.honest[0]:
            raise CaseFailed(f"{summary}: accepted", expected="refusal naming "
                             + " or ".join(sorted(reqs)), observed=f"get_used returned {got!r}")
        ctx.honest.pop(0)
        ctx.outstanding.discard(got[0])
    raise CaseFailed(f"{summary}: never refused", expected="a refusal", observed="honest only")


def _stopped(ctx: Ctx, summary: str) -> None:
    """The device is broken: the driver must not go on taking elements."""
    try:
        got = ctx.drv.get_used()
    except Exception as err:
        require(getattr(err, "req", None) is not None, f"{summary}: the stopped driver's "
                "answer names a requirement", "an error with req", repr(err))
        return
    raise CaseFailed(f"{summary}: the driver goes on after refusing (no needs-reset)",
                     expected="get_used refused again until reset", observed=repr(got))


def _detached(ctx: Ctx, summary: str) -> None:
    detach = getattr(ctx.drv, "detach_unused", None)
    if detach is None:
        return
    tokens = list(detach())
    require(sorted(tokens) == sorted(ctx.outstanding), f"{summary}: detach_unused gives back "
            "every outstanding buffer once and nothing else", str(sorted(ctx.outstanding)),
            str(sorted(tokens)))


# -- split -----------------------------------------------------------------------------------

def _split_case(cfg: Config, field_: str, name: str, summary: str, lie: Lie,
                expect: Expect = "refuse") -> None:
    def run(target: object) -> Result:
        setup = make_setup(cfg.q, event_idx=cfg.event_idx, indirect=cfg.indirect,
                           start=cfg.start)
        drv = need(target, "ring_driver")(setup)
        setup.memory.write(setup.layout.used_idx, 2, cfg.start)  # the device's set-up
        dev = HandDevice(setup)
        ids = [drv.add([buf(0)], [buf(n + 1, 16)], n) for n in range(TWO)]
        ro = drv.add([buf(5)], [], 2)
        dev.pop_heads()
        ctx = Ctx(drv, dev, cfg.q, ids, ro, outstanding={0, 1, 2})
        lie(ctx)
        lay, mem = setup.layout, setup.memory
        return _judge(ctx, lambda: mem.read_bytes(lay.desc, lay.used - lay.desc), summary,
                      {"RING-SPLIT-085"}, expect)

    cid = ".".join(p for p in ("hostile.device.split", cfg.name, name) if p)
    where = f" ({cfg.name})" if cfg.name else ""
    case(cid, ("RING-SPLIT-085",), "driver", "hostile", f"{field_}: {summary}{where}")(run)


def _not_head(ctx: Ctx) -> int:
    """A descriptor index the driver did not hand out as a head: the second descriptor of
    chain 0 when it has one, else a free descriptor."""
    flags, nxt = ctx.dev.read_desc(ctx.ids[0])[2:]
    return nxt if flags & 1 else ctx.q - 1


def _free_desc(ctx: Ctx) -> int:
    """The highest descriptor index in no chain the driver made available."""
    taken: set[int] = set()
    for head in (*ctx.ids, ctx.readonly):
        index = head
        while index is not None and index not in taken and index < ctx.q:
            taken.add(index)
            flags, nxt = ctx.dev.read_desc(index)[2:]
            index = nxt if flags & 1 else None
    return next(i for i in range(ctx.q - 1, -1, -1) if i not in taken)


SPLIT_IDS: list[tuple[str, str, Callable[[Ctx], int]]] = [
    ("used-id-never-available", "a free descriptor never made available", _free_desc),
    ("used-id-not-a-head", "a descriptor inside chain 0, not its head", _not_head),
    ("used-id-beyond-q", "used id Q", lambda c: c.q),
    ("used-id-q-plus-one", "used id Q + 1", lambda c: c.q + 1),
    ("used-id-ffff", "used id 0xffff", lambda c: 0xFFFF),
    ("used-id-10000", "used id 0x10000 (beyond le16)", lambda c: 0x10000),
    ("used-id-max", "used id 0xffffffff", lambda c: 0xFFFFFFFF),
]
SPLIT_LENS: list[tuple[str, str, Callable[[Ctx], tuple[int, int]]]] = [
    ("used-len-one-past", "len 17 for 16 writable bytes", lambda c: (c.ids[0], 17)),
    ("used-len-page", "len 4096 for 16 writable bytes", lambda c: (c.ids[0], 4096)),
    ("used-len-64k", "len 0x10000", lambda c: (c.ids[1], 0x10000)),
    ("used-len-sign-bit", "len 0x80000000", lambda c: (c.ids[0], 0x80000000)),
    ("used-len-max", "len 0xffffffff", lambda c: (c.ids[1], 0xFFFFFFFF)),
    ("used-len-readonly-chain", "len 1 for a chain with no writable buffer",
     lambda c: (c.readonly if c.readonly is not None else 0, 1)),
]


def _idx(ctx: Ctx, delta: int) -> None:
    """used.idx moved by ``delta`` (mod 2^16) from where the driver stands, elements honest."""
    dev: HandDevice = ctx.dev
    for k, head in enumerate(ctx.ids):
        at = dev.lay.used_ring(dev.lay.slot(dev.used_idx + k))
        dev.mem.write(at, 4, head)
        dev.mem.write(at + 4, 4, 0)
    dev.mem.write(dev.lay.used_idx, 2, (dev.used_idx + delta) & U16)


def _backwards_after_use(ctx: Ctx) -> None:
    ctx.dev.used((ctx.ids[0], 0))
    _take(ctx, 0, 0)
    ctx.dev.mem.write(ctx.dev.lay.used_idx, 2, (ctx.dev.used_idx - 2) & U16)


def _twice_same_batch(ctx: Ctx) -> None:
    ctx.dev.used((ctx.ids[0], 0), (ctx.ids[0], 0))
    ctx.honest = [(0, 0)]
    ctx.outstanding = {0, 1, 2}


def _twice_after_return(ctx: Ctx) -> None:
    ctx.dev.used((ctx.ids[0], 3))
    _take(ctx, 0, 3)
    ctx.dev.used((ctx.ids[0], 3))


def _garbage_without_idx(ctx: Ctx) -> None:
    dev: HandDevice = ctx.dev
    for k in range(ctx.q):
        at = dev.lay.used_ring(k)
        dev.mem.write(at, 4, 0xDEAD0000 + k)
        dev.mem.write(at + 4, 4, 0xFFFFFFFF)


SPLIT_OTHER: list[tuple[str, str, str, Lie, Expect]] = [
    ("used.idx", "used-idx-ahead-one", "used.idx 4 ahead with 3 outstanding",
     lambda c: _idx(c, 4), "refuse"),
    ("used.idx", "used-idx-ahead-q", "used.idx Q + 1 ahead", lambda c: _idx(c, c.q + 1),
     "refuse"),
    ("used.idx", "used-idx-ahead-half", "used.idx 0x8000 ahead", lambda c: _idx(c, 0x8000),
     "refuse"),
    ("used.idx", "used-idx-backwards", "used.idx one behind the driver",
     lambda c: _idx(c, -1), "refuse"),
    ("used.idx", "used-idx-backwards-after-use", "used.idx moved back past an element taken",
     _backwards_after_use, "refuse"),
    ("used id", "used-twice-same-batch", "chain 0 used twice in one batch", _twice_same_batch,
     "refuse"),
    ("used id", "used-twice-after-return", "chain 0 used again after it was taken back",
     _twice_after_return, "refuse"),
    ("used ring", "elements-without-idx", "used ring full of garbage, used.idx unmoved "
     "(an interrupt with nothing used)", _garbage_without_idx, "ignore"),
]


def _used_id(pick: Callable[[Ctx], int]) -> Lie:
    return lambda c: c.dev.used((pick(c), 0))


def _used_len(pick: Callable[[Ctx], tuple[int, int]]) -> Lie:
    return lambda c: c.dev.used(pick(c))


for _cfg in SPLIT_CONFIGS:
    for _name, _summary, _pick in SPLIT_IDS:
        _split_case(_cfg, "used id", _name, _summary, _used_id(_pick))
    for _name, _summary, _pickl in SPLIT_LENS:
        _split_case(_cfg, "used len", _name, _summary, _used_len(_pickl))
    for _field, _name, _summary, _lie, _expect in SPLIT_OTHER:
        _split_case(_cfg, _field, _name, _summary, _lie, _expect)


# -- packed ----------------------------------------------------------------------------------

def _packed_case(cfg: Config, field_: str, name: str, summary: str, lie: Lie,
                 expect: Expect = "refuse") -> None:
    def run(target: object) -> Result:
        setup = make_packed_setup(cfg.q, event_idx=cfg.event_idx, indirect=cfg.indirect)
        drv = need(target, "ring_packed_driver")(setup)
        dev = PackedHandDevice(setup)
        ids = [drv.add([buf(0)], [buf(n + 1, 16)], n) for n in range(TWO)]
        ro = drv.add([buf(5)], [], 2)
        dev.pop_all()
        ctx = Ctx(drv, dev, cfg.q, ids, ro, outstanding={0, 1, 2})
        lie(ctx)
        lay, mem = setup.layout, setup.memory

        def snap() -> bytes:
            return (mem.read_bytes(lay.desc, 16 * lay.size)
                    + mem.read_bytes(lay.driver_event, 4))

        return _judge(ctx, snap, summary, {"RING-PACKED-086"}, expect)

    cid = ".".join(p for p in ("hostile.device.packed", cfg.name, name) if p)
    where = f" ({cfg.name})" if cfg.name else ""
    case(cid, ("RING-PACKED-086",), "driver", "hostile", f"{field_}: {summary}{where}")(run)


def _free_id(ctx: Ctx) -> int:
    given = {*ctx.ids, ctx.readonly}
    return next(i for i in range(ctx.q - 1, -1, -1) if i not in given)


PACKED_IDS: list[tuple[str, str, Callable[[Ctx], int]]] = [
    ("used-id-never-available", "a buffer ID never made available", _free_id),
    ("used-id-beyond-q", "buffer ID Q", lambda c: c.q),
    ("used-id-q-plus-one", "buffer ID Q + 1", lambda c: c.q + 1),
    ("used-id-7fff", "buffer ID 0x7fff", lambda c: 0x7FFF),
    ("used-id-ffff", "buffer ID 0xffff", lambda c: 0xFFFF),
]
PACKED_LENS: list[tuple[str, str, Callable[[Ctx], tuple[int, int]]]] = [
    ("used-len-one-past", "len 17 with WRITE for 16 writable bytes", lambda c: (c.ids[0], 17)),
    ("used-len-64k", "len 0x10000 with WRITE", lambda c: (c.ids[0], 0x10000)),
    ("used-len-max", "len 0xffffffff with WRITE", lambda c: (c.ids[0], 0xFFFFFFFF)),
]


def _marks(flags_of: Callable[[int], int]) -> Lie:
    """A used descriptor for list 0 whose AVAIL/USED marks are ``flags_of(used_wrap)``."""
    def lie(c: Ctx) -> None:
        c.dev.used(c.ids[0], 0, marks=flags_of(c.dev.used_wrap))

    return lie


def _packed_twice(which: int) -> Lie:
    def lie(c: Ctx) -> None:
        c.dev.used(c.ids[which], 2)
        _take(c, which, 2)
        c.dev.used(c.ids[which], 2)

    return lie


def _packed_readonly(c: Ctx) -> None:
    c.dev.used(c.readonly if c.readonly is not None else 0, 1, write=True)


def _packed_skip_position(c: Ctx) -> None:
    """The used descriptor written one position past the driver's next used position."""
    dev: PackedHandDevice = c.dev
    dev.used_pos += 1
    dev.used(c.ids[0], 0)


def _packed_short_skip(c: Ctx) -> None:
    """List 0 (two descriptors) used, then list 1's used descriptor at the position the device
    would reach had list 0 one descriptor: inside list 0, where the driver never looks."""
    dev: PackedHandDevice = c.dev
    dev.used(c.ids[0], 0, ndesc=1)
    _take(c, 0, 0)
    dev.used(c.ids[1], 0)


PACKED_OTHER: list[tuple[str, str, str, Lie, Expect]] = [
    ("used ID", "used-twice-after-return", "list 0 used again after it was taken back",
     _packed_twice(0), "refuse"),
    ("used ID", "used-twice-second-list", "list 1 used again after it was taken back",
     _packed_twice(1), "refuse"),
    ("WRITE/len", "used-len-readonly-list", "WRITE and len 1 for a list with no writable "
     "buffer", _packed_readonly, "refuse"),
    ("wrap marks", "marks-clear", "AVAIL and USED both clear (used in the other lap)",
     _marks(lambda w: 0 if w else VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED), "ignore"),
    ("wrap marks", "marks-avail-only", "AVAIL set, USED clear (still available)",
     _marks(lambda w: VIRTQ_DESC_F_AVAIL if w else VIRTQ_DESC_F_USED), "ignore"),
    ("wrap marks", "marks-used-only", "USED set, AVAIL clear (neither used nor available)",
     _marks(lambda w: VIRTQ_DESC_F_USED if w else VIRTQ_DESC_F_AVAIL), "ignore"),
    ("position", "used-at-wrong-position", "the used descriptor one position too far",
     _packed_skip_position, "ignore"),
    ("position", "used-inside-a-list", "list 1 used inside list 0's descriptors",
     _packed_short_skip, "ignore"),
]

for _cfg in PACKED_CONFIGS:
    for _name, _summary, _pick in PACKED_IDS:
        _packed_case(_cfg, "used ID", _name, _summary,
                     (lambda p: (lambda c: c.dev.used(p(c), 0)))(_pick))
    for _name, _summary, _pickl in PACKED_LENS:
        _packed_case(_cfg, "used len", _name, _summary,
                     (lambda p: (lambda c: c.dev.used(*p(c), write=True)))(_pickl))
    for _field, _name, _summary, _lie, _expect in PACKED_OTHER:
        if _cfg.indirect and _name == "used-inside-a-list":
            continue  # list 0 is one descriptor (its table): no inside to use
        _packed_case(_cfg, _field, _name, _summary, _lie, _expect)
