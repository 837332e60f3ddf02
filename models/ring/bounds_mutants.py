"""Known-bad variants of the descriptor walk's bounds, refuted and replayed.

Each variant switches one check off in the Z3 step of models/ring/bounds_z3.py: the 64-bit
overflow check of ``addr + len`` (RING-SPLIT-082, RING-PACKED-083), the region's end (an
off-by-one that takes it as inclusive), the indirect table's length (RING-SPLIT-081,
RING-PACKED-082) and the Q bounds of the walk (RING-SPLIT-080, RING-PACKED-080). A variant
is refuted three ways:

1. the inductive proof fails (the obligation it breaks is named);
2. a bounded search from the walk's initial state, over one memory array (the same address
   reads the same descriptor), finds a shortest table content breaking an obligation, in a
   form the Python reference can run: one region at guest address 0 of at most 64 KiB, the
   ring at 0, Q <= 8, descriptors 16-aligned and away from the ring's other parts;
3. that table is written into a :class:`GuestMemory` and popped by the Python reference, by
   the C reference (ring.c / ring_packed.c, stepped access by access through the same
   memory) and by the Python variant (:func:`without`: the reference device with the switch
   of that one check turned off in its ``lines``, reference/ring/device.py ``DeviceLines``,
   reference/ring/packed/device.py ``PackedDeviceLines``): both references must refuse it
   with a RingError, the
   variant must not (it accepts a buffer that using touches memory outside the region, reads
   outside it, or walks past its bound).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import z3
from virtiospec.models import registry
from virtiospec.models.ring.bounds_z3 import (
    PackedState,
    SplitState,
    Step,
    Variant,
    World,
    packed_initial,
    packed_invariant,
    packed_step,
    prove_walk,
    split_initial,
    split_invariant,
    split_step,
)
from virtiospec.models.variant_switch import switched
from virtiospec.reference.access import GuestMemory, Load, MemoryError_, Op, Store, run, store
from virtiospec.reference.ring.c.errors import NoSpace
from virtiospec.reference.ring.c.packed_stepped import CPackedDevice
from virtiospec.reference.ring.c.stepped import CSplitDevice
from virtiospec.reference.ring.device import DeviceLines, SplitDevice
from virtiospec.reference.ring.errors import RingError
from virtiospec.reference.ring.layout import SplitLayout
from virtiospec.reference.ring.packed.device import PackedDevice, PackedDeviceLines
from virtiospec.reference.ring.packed.layout import PackedLayout

MAX_DEPTH = 5
RESERVED = 4096  # the ring's parts lie below; hostile tables are placed above


@dataclass
class Counterexample:
    depth: int
    q: int
    mem_size: int
    start: int  # split: head; packed: read position
    wrap: int
    held: int
    descs: list[tuple[int, int, int, int, int]]  # at, addr, len, flags, next/id
    broken: str
    steps: list[registry.Step]


def _flags(m: z3.ModelRef, st: Step, packed: bool) -> int:
    d = st.desc
    bits = [(d.f_next, 1), (d.f_write, 2), (d.f_indirect, 4)]
    if packed:
        bits += [(d.f_avail, 1 << 7), (d.f_used, 1 << 15)]
    return sum(v for b, v in bits if z3.is_true(m.eval(b, model_completion=True)))


def search(kind: str, v: Variant) -> Counterexample | None:
    """The shortest replayable table content that breaks an obligation of ``v``'s walk."""
    packed = kind == "packed"
    for depth in range(1, MAX_DEPTH + 1):
        w = World.fresh()
        mem_size = z3.Int("mem_size")
        hyp = [w.assumptions(), w.n == 1, w.ring_region == 0, w.g[0] == 0, w.size[0] == mem_size,
               mem_size >= 2 * RESERVED, mem_size <= 1 << 16, w.desc == 0, w.indirect,
               z3.Or(*(w.q == x for x in (1, 2, 4, 8)))]
        start, wrap0 = z3.Int("start"), z3.Bool("wrap0")
        if packed:
            p0, pre = packed_initial(w, start, wrap0)
            state: SplitState | PackedState = p0
            # a fresh queue, so that the C reference (whose state is not settable) replays it
            hyp += [pre, packed_invariant(w, p0), start == 0, wrap0, w.held == 0]
        else:
            s0, pre = split_initial(w, start)
            state = s0
            hyp += [pre, split_invariant(w, s0), w.held == 0]
        steps: list[Step] = []
        before = state
        for j in range(depth):
            before = state
            st = (packed_step(w, v, state, f"_{j}") if isinstance(state, PackedState)
                  else split_step(w, v, state, f"_{j}"))
            hyp += [st.facts, z3.Implies(state.alive, z3.And(
                st.at % 16 == 0, z3.Or(st.at < 16 * w.q, st.at >= RESERVED)))]
            steps.append(st)
            state = st.state
        last = steps[-1]
        broken = [(ob.name, z3.Not(ob.holds)) for st in steps for ob in st.obligations]
        s = z3.Solver()
        s.add(*hyp)
        s.add(z3.Or(*(b for _, b in broken)))
        if v.bounded or packed:  # a whole walk, so that the Python walk stops where this
            # one does (a split walk without bounds may loop for ever: the replay's budget)
            # ended by accepting its last buffer, or by reading outside the regions
            ended = [last.accept, z3.Not(last.obligations[0].holds)]
            if isinstance(before, PackedState):  # the end of an indirect table
                ended.append(z3.And(before.alive, before.in_table, before.k >= before.entries))
            s.add(z3.Not(last.state.alive), z3.Or(*ended))
        if s.check() != z3.sat:
            continue
        m = s.model()

        def val(e: z3.ArithRef, m: z3.ModelRef = m) -> int:
            return int(m.eval(e, model_completion=True).as_long())

        name = next(n for n, b in broken if z3.is_true(m.eval(b, model_completion=True)))
        descs, trace = [], []
        cur: SplitState | PackedState = p0 if packed else s0
        for j, st in enumerate(steps):
            if not z3.is_true(m.eval(cur.alive, model_completion=True)):
                break
            if isinstance(cur, PackedState) and z3.is_true(m.eval(
                    z3.And(cur.in_table, cur.k >= cur.entries), model_completion=True)):
                trace.append(registry.Step("device", f"step {j + 1}: end of the indirect table"))
                break
            d = st.desc
            row = (val(st.at), val(d.addr), val(d.len), _flags(m, st, packed), val(d.next))
            descs.append(row)
            trace.append(registry.Step("device", f"step {j + 1}: read descriptor at "
                                       f"{row[0]:#x}: addr {row[1]:#x} len {row[2]:#x} flags "
                                       f"{row[3]:#06x} {'id' if packed else 'next'} {row[4]}"))
            cur = st.state
        trace.append(registry.Step("device", f"broken: {name}"))
        return Counterexample(depth, val(w.q), val(mem_size), val(start),
                              int(z3.is_true(m.eval(wrap0, model_completion=True))),
                              val(w.held), descs, name, trace)
    return None


class _Budget(Exception):
    pass


def _run_bounded(op: Op[object], mem: GuestMemory, loads: int) -> object:
    """Run ``op``; more than ``loads`` loads means the walk went past its bound."""
    value: int | None = None
    n = 0
    try:
        while True:
            access = op.send(value)
            value = None
            if isinstance(access, Load):
                n += 1
                if n > loads:
                    raise _Budget()
                value = mem.read(access.addr, access.size)
            elif isinstance(access, Store):
                mem.write(access.addr, access.size, access.value)
    except StopIteration as done:
        return done.value


def replay(kind: str, cex: Counterexample, device: Callable[..., Any]) -> str:
    """What the device class does with the counterexample's table: 'rejected: <error>',
    or what went wrong when it did not reject."""
    mem = GuestMemory(cex.mem_size)
    packed = kind == "packed"
    for at, addr, ln, flags, nxt in cex.descs:
        if at + 16 > cex.mem_size:
            continue  # a read outside memory: only a device without the check gets there
        mem.write(at, 8, addr)
        mem.write(at + 8, 4, ln)
        mem.write(at + (14 if packed else 12), 2, flags)
        mem.write(at + (12 if packed else 14), 2, nxt)
    if packed:
        play = PackedLayout.packed_at(0, cex.q)
        dev = device(play, cex.mem_size, indirect=True)
        run(dev.init(), mem)
    else:
        lay = SplitLayout.packed_at(0, cex.q)
        dev = device(lay, cex.mem_size, indirect=True)
        run(dev.init(), mem)
        run(store(lay.avail_ring(0), 2, cex.start), mem)
        run(store(lay.avail_idx, 2, 1), mem)
    try:
        chain = _run_bounded(dev.pop(), mem, 8 * (2 * cex.q + 2))
    except RingError as err:
        return f"rejected: {type(err).__name__}"
    except MemoryError_ as err:
        return f"read outside memory: {err}"
    except _Budget:
        return f"walked past {2 * cex.q + 2} descriptors"
    except NoSpace:  # the C walk without bounds, stopped by the caller's array of Q segments
        return "not refused: the walk ran until the caller's array of Q segments was full"
    if chain is None:
        return "nothing popped"
    if packed and dev.held > cex.q:
        return f"accepted: the device now holds {dev.held} descriptors in a queue of {cex.q}"
    segs = chain.readable + chain.writable  # type: ignore[attr-defined]
    if len(segs) > cex.q:
        return f"accepted {len(segs)} buffers in one chain of a queue of {cex.q}"
    for addr, ln in segs:
        try:
            mem.check(addr, ln)
        except MemoryError_ as err:
            return f"accepted a buffer whose use touches outside memory: {err}"
    return "accepted"


def refute(kind: str, v: Variant, variant_cls: type,
           c_mutant: str | None = None) -> registry.Evidence:
    holds, failing = prove_walk(kind, v)
    if holds:
        return registry.Evidence(False, "the induction still holds for this variant")
    cex = search(kind, v)
    if cex is None:
        return registry.Evidence(False, f"induction fails ({failing}) but no counterexample "
                                 f"within {MAX_DEPTH} steps")
    packed = kind == "packed"
    ref = replay(kind, cex, PackedDevice if packed else SplitDevice)
    c_ref = replay(kind, cex, CPackedDevice if packed else CSplitDevice)
    bad = replay(kind, cex, variant_cls)
    replayed = (ref.startswith("rejected") and c_ref.startswith("rejected")
                and not bad.startswith("rejected"))
    detail = (f"induction breaks '{failing}'; shortest counterexample {cex.depth} step(s) "
              f"(Q={cex.q}, memory {cex.mem_size:#x}): {cex.broken}. Replayed: Python "
              f"reference {ref}; C reference ({'ring_packed.c' if packed else 'ring.c'}) "
              f"{c_ref}; variant {bad}")
    if c_mutant is not None:  # ring.c's own build of the same bug (reference/ring/c/ring_mutants.h)
        c_bad = replay(kind, cex, partial(CSplitDevice, mutant=c_mutant))
        replayed = replayed and not c_bad.startswith("rejected")
        detail += f"; C variant VS_M_{c_mutant} {c_bad}"
    return registry.Evidence(replayed, detail, trace=cex.steps,
                             stats={"steps": float(cex.depth)})


SWITCHES = ("region_exact", "region_end", "table_len_check", "bounded")


def without(kind: str, switch: str) -> type[SplitDevice] | type[PackedDevice]:
    """The known-bad variant: the reference device of ``kind`` with the one line ``switch``
    of the walk's bounds turned off (each of SWITCHES is a field of both ``DeviceLines`` and
    ``PackedDeviceLines``)."""
    if switch not in SWITCHES:
        raise ValueError(f"unknown switch {switch!r}; one of {', '.join(SWITCHES)}")
    off = {switch: False}
    if kind == "packed":
        return type(f"PackedWithout_{switch}", (PackedDevice,),
                    {"lines": PackedDeviceLines(**off)})
    return type(f"SplitWithout_{switch}", (SplitDevice,), {"lines": DeviceLines(**off)})


# short name: (switch of the reference's lines, Z3 step variant, bug, requirements)
BUGS: dict[str, tuple[str, Variant, str, tuple[str, ...]]] = {
    "no-overflow-check": ("region_exact", Variant(region="wrap"),
                          "region check computes addr + len (and g + size) in 64 bits, so a "
                          "buffer wrapping past 2^64 passes", ("RING-SPLIT-082",
                                                              "RING-PACKED-083")),
    "off-by-one-end": ("region_end", Variant(region="off_by_one"),
                       "region check takes the region's end as inclusive: a buffer one byte "
                       "past it passes", ("RING-SPLIT-082", "RING-PACKED-083")),
    "no-indirect-len-check": ("table_len_check", Variant(indirect_len=False),
                              "an indirect table's len is not checked to be a non-zero "
                              "multiple of 16", ("RING-SPLIT-081", "RING-PACKED-082")),
    "no-loop-bound": ("bounded", Variant(bounded=False),
                      "the walk has no Q bound (and no revisit check)",
                      ("RING-SPLIT-080", "RING-PACKED-080")),
}


def _register(name: str, kind: str, short: str) -> None:
    switch, v, bug, reqs = BUGS[short]
    cls = without(kind, switch)
    req = tuple(r for r in reqs if r.startswith("RING-PACKED" if kind == "packed" else
                                                "RING-SPLIT"))

    c_mutant = "UNBOUNDED_WALK" if (kind, short) == ("split", "no-loop-bound") else None

    def run_it() -> registry.Evidence:
        return refute(kind, v, cls, c_mutant)

    fn: Callable[[], registry.Evidence] = run_it
    registry.mutant(name, f"{kind} walk: {bug}; {switched(cls)}", req, "z3")(fn)


# name, walk, key of BUGS
REGISTERED: tuple[tuple[str, str, str], ...] = (
    ("ring.bounds.split.no-overflow-check", "split", "no-overflow-check"),
    ("ring.bounds.split.off-by-one-end", "split", "off-by-one-end"),
    ("ring.bounds.split.no-indirect-len-check", "split", "no-indirect-len-check"),
    ("ring.bounds.split.no-loop-bound", "split", "no-loop-bound"),
    ("ring.bounds.packed.no-overflow-check", "packed", "no-overflow-check"),
    ("ring.bounds.packed.off-by-one-end", "packed", "off-by-one-end"),
    ("ring.bounds.packed.no-indirect-len-check", "packed", "no-indirect-len-check"),
    ("ring.bounds.packed.no-loop-bound", "packed", "no-loop-bound"),
)
if [short for _, kind, short in REGISTERED if kind == "split"] != list(BUGS) or \
        [short for _, kind, short in REGISTERED if kind == "packed"] != list(BUGS):
    raise ValueError("REGISTERED must name every bug of BUGS for both walks, in its order")
for _name, _kind, _short in REGISTERED:
    _register(_name, _kind, _short)
