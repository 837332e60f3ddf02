"""The idempotent table's seqlock, proved for executions of any length under SC and x86-TSO.

One slot of two value words (the clock's shape: a 64-bit time as two 32-bit words, which is
what a reader without the protocol tears). The two programs are the access sequences of
``TableWriter.update`` and ``TableReader.read`` (reference/shm/table.py), one action per
access, with explicit program counters::

    writer (shadow seq s, even)                reader
      0  store seq := s + 1                      0  s1 := load seq   odd -> 0 (retry)
      1  wmb                                     1  rmb
      2  store w0 := s + 2                       2  a := load w0
      3  store w1 := s + 2                       3  b := load w1
      4  wmb                                     4  rmb
      5  store seq := s + 2; s += 2 -> 0         5  s2 := load seq   s2 != s1 -> 0 (retry)
      6  stopped (from 0, buffer drained)        6  return (s1, a, b); last := s1 -> 0

The writer stores the new version as the value (both words): the protocol never branches on
the value words, so this loses no generality and makes "the value belongs to the version"
checkable (``a == b == s1``). The writer stops only between updates with its buffer drained:
its last update is done and its signal sent (the notification drains the buffer,
SHM-SIGNAL-008).

Ghosts: ``gap``, the number of ``seq`` stores that reached memory since the reader's load of
``s1``, and ``age``, since the store of the version it last returned; both saturate at 2^31,
and the claims hold for attempts that span fewer than 2^31 updates (SHM-TABLE-011: a 32-bit
counter cannot do better). ``fresh``: the attempt started after the writer stopped.

Proved by an explicit inductive invariant (``z3util.check_inductive``). Its core is the
*closed form* of the writer's side: with ``pos`` the stores of the current update issued
and ``n`` the stores still buffered, the buffer holds exactly the writer's last ``n`` stores
and memory is the result of the first ``pos - n`` (counting back into the previous update).
Under TSO the writer's buffer is bounded to four entries; the reader only ever sees memory,
and every sequence of memory states of an unbounded buffer is one of a buffer of one (issue
each store just before it drains), so the bound hides nothing from the reader.

Mutants (``shm.mutant.table.*``) are refuted by bounded model checking: an interleaving
that breaks a claim, made locally minimal (no single step can be left out). The writer's
barriers are invisible under TSO (x86 never reorders stores), so those two are shown under
the PSO model of models/memory/z3mem.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import z3
from virtiospec.models import registry
from virtiospec.models.memory.z3mem import Mode, Z3Memory, merge
from virtiospec.models.shm.z3_evidence import proved, refuted
from virtiospec.models.z3util import (
    Action,
    Named,
    Pred,
    State,
    System,
    Values,
)

BITS = 32
CELLS = ("seq", "w0", "w1")
CAPACITY = 4
STOPPED = 6
POS = {0: 0, 1: 1, 2: 1, 3: 2, 4: 3, 5: 3, STOPPED: 0}  # writer's stores issued, by pc


@dataclass(frozen=True)
class Variant:
    """The protocol as written (all True) or with one step missing (a mutant)."""

    wmb_before_data: bool = True  # writer 1
    wmb_after_data: bool = True  # writer 4
    retry_odd: bool = True  # reader 0
    recheck: bool = True  # reader 5


def _sat(x: z3.BitVecRef) -> int:
    """Where the ghost counters saturate: 2^31 for 32-bit words."""
    width: int = x.size()
    return 1 << (width - 1)


def _sat_inc(x: z3.BitVecRef) -> z3.BitVecRef:
    return z3.If(x == _sat(x), x, x + 1)


def _unsat(x: z3.BitVecRef) -> z3.BoolRef:
    return z3.ULT(x, _sat(x))


def _pc(v: int) -> z3.BitVecRef:
    return z3.BitVecVal(v, 8)


def build(mode: Mode, v: Variant = Variant(), bits: int = BITS) -> tuple[System, Z3Memory]:
    """The two programs over ``bits``-bit words (32 as in the reference; the mutants' runs
    use 16, which is quicker to search and shows the same interleavings)."""
    def on_write(s: State, addr: z3.BitVecRef, val: z3.BitVecRef) -> dict[str, z3.ExprRef]:
        is_seq = addr == mem.code("seq")
        return {"g.gap": z3.If(is_seq, _sat_inc(s["g.gap"]), s["g.gap"]),
                "g.age": z3.If(is_seq, _sat_inc(s["g.age"]), s["g.age"])}

    mem = Z3Memory(CELLS, bits, mode, {"device": CAPACITY}, on_write)
    bv, pc = z3.BitVecSort(bits), z3.BitVecSort(8)
    variables: dict[str, z3.SortRef] = {
        "w.pc": pc, "w.s": bv, "r.pc": pc, "r.s1": bv, "r.a": bv, "r.b": bv, "r.last": bv,
        "g.gap": bv, "g.age": bv, "g.fresh": z3.BoolSort(), **mem.variables()}

    def init(s: State) -> z3.BoolRef:
        return z3.And(s["w.pc"] == 0, s["w.s"] == 0, s["r.pc"] == 0, s["r.last"] == 0,
                      s["g.gap"] == 0, s["g.age"] == 0, z3.Not(s["g.fresh"]),
                      mem.init(s, {}))

    actions: list[Action] = []

    def writer(at: int, name: str, then: int,
               effect: Callable[[State], tuple[z3.BoolRef, dict[str, z3.ExprRef]]],
               text: Callable[[Values, Values], str]) -> None:
        def eff(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard, out = effect(s)
            return z3.And(s["w.pc"] == at, guard), merge(out, {"w.pc": z3.BitVecVal(then, 8)})

        actions.append(Action(f"writer {at}: {name}", "device", eff, text))

    def wstore(cell: str, value: Callable[[State], z3.BitVecRef]) -> Callable[
            [State], tuple[z3.BoolRef, dict[str, z3.ExprRef]]]:
        return lambda s: mem.store(s, "device", cell, value(s))

    buffered = "" if mode == "sc" else " (buffered)"
    writer(0, "seq := s+1", 1, wstore("seq", lambda s: s["w.s"] + 1),
           lambda p, q: f"store seq := {p['w.s'] + 1}{buffered}")
    writer(1, "wmb", 2, lambda s: (z3.BoolVal(True),
                                   mem.wmb(s, "device") if v.wmb_before_data else {}),
           lambda p, q: "wmb" if v.wmb_before_data else "(wmb missing)")
    writer(2, "w0 := s+2", 3, wstore("w0", lambda s: s["w.s"] + 2),
           lambda p, q: f"store w0 := {p['w.s'] + 2}{buffered}")
    writer(3, "w1 := s+2", 4, wstore("w1", lambda s: s["w.s"] + 2),
           lambda p, q: f"store w1 := {p['w.s'] + 2}{buffered}")
    writer(4, "wmb", 5, lambda s: (z3.BoolVal(True),
                                   mem.wmb(s, "device") if v.wmb_after_data else {}),
           lambda p, q: "wmb" if v.wmb_after_data else "(wmb missing)")

    def last_store(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        guard, out = mem.store(s, "device", "seq", s["w.s"] + 2)
        return guard, merge(out, {"w.s": s["w.s"] + 2})

    writer(5, "seq := s+2", 0, last_store,
           lambda p, q: f"store seq := {p['w.s'] + 2}{buffered}")
    writer(0, "stop", STOPPED, lambda s: (mem.empty(s, "device"), {}),
           lambda p, q: "last update done and signalled (buffer drained)")

    def reader(at: int, name: str,
               effect: Callable[[State], tuple[z3.BoolRef, dict[str, z3.ExprRef]]],
               text: Callable[[Values, Values], str]) -> None:
        def eff(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard, out = effect(s)
            return z3.And(s["r.pc"] == at, guard), out

        actions.append(Action(f"reader {at}: {name}", "driver", eff, text))

    def first_load(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        s1 = s[mem.mem("seq")]
        odd = z3.Extract(0, 0, s1) == 1
        nxt = z3.If(odd, _pc(0), _pc(1)) if v.retry_odd else _pc(1)
        return z3.BoolVal(True), {"r.s1": s1, "r.pc": nxt, "g.gap": z3.BitVecVal(0, bits),
                                  "g.fresh": s["w.pc"] == STOPPED}

    reader(0, "s1 := seq", first_load,
           lambda p, q: f"load seq -> {q['r.s1']}" + (" (odd: retry)" if q["r.pc"] == 0 else ""))
    reader(1, "rmb", lambda s: (z3.BoolVal(True), {"r.pc": z3.BitVecVal(2, 8)}),
           lambda p, q: "rmb")
    reader(2, "a := w0", lambda s: (z3.BoolVal(True), {"r.a": s[mem.mem("w0")],
                                                      "r.pc": z3.BitVecVal(3, 8)}),
           lambda p, q: f"load w0 -> {q['r.a']}")
    reader(3, "b := w1", lambda s: (z3.BoolVal(True), {"r.b": s[mem.mem("w1")],
                                                      "r.pc": z3.BitVecVal(4, 8)}),
           lambda p, q: f"load w1 -> {q['r.b']}")
    reader(4, "rmb", lambda s: (z3.BoolVal(True), {"r.pc": z3.BitVecVal(5, 8)}),
           lambda p, q: "rmb")

    def second_load(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        same = s[mem.mem("seq")] == s["r.s1"]
        nxt = z3.If(same, _pc(6), _pc(0)) if v.recheck else _pc(6)
        return z3.BoolVal(True), {"r.pc": nxt}

    reader(5, "s2 := seq", second_load,
           lambda p, q: f"load seq -> {p['m.seq']}"
           + (" (changed: retry)" if q["r.pc"] == 0 else "")
           + ("" if v.recheck else " (not compared)"))
    reader(6, "return", lambda s: (z3.BoolVal(True), {
        "r.pc": z3.BitVecVal(0, 8), "r.last": s["r.s1"], "g.age": s["g.gap"]}),
        lambda p, q: f"returns version {p['r.s1']}: ({p['r.a']}, {p['r.b']})")

    actions += mem.drains()

    def show(val: Values) -> dict[str, object]:
        out: dict[str, object] = {"writer": f"pc {val['w.pc']} s {val['w.s']}",
                                  "reader": f"pc {val['r.pc']} s1 {val['r.s1']}"}
        out.update(mem.show(val, ("device",)))
        return out

    system = System(variables, {}, lambda s: z3.BoolVal(True), init, actions, show)
    return system, mem


# -- the invariant -------------------------------------------------------------------------

def _store_at(s: State, mem: Z3Memory, t: int) -> tuple[z3.BitVecRef, z3.BitVecRef]:
    """The writer's store number ``t`` relative to the current update (negative: the
    previous one): its word's code and value."""
    base = s["w.s"] if t >= 0 else s["w.s"] - 2
    k = t % 4
    cell = ("seq", "w0", "w1", "seq")[k]
    value = base + (1 if k == 0 else 2)
    return mem.code(cell), value


def _memory_after(s: State, t0: int) -> tuple[z3.BitVecRef, ...]:
    """(seq, w0, w1) once the writer's stores before relative number ``t0`` reached memory."""
    base = s["w.s"] if t0 >= 0 else s["w.s"] - 2
    r = t0 % 4
    return ((base, base, base), (base + 1, base, base), (base + 1, base + 2, base),
            (base + 1, base + 2, base + 2))[r]


def writer_closed_form(mem: Z3Memory) -> Pred:
    def pred(s: State) -> z3.BoolRef:
        cases = []
        cap = mem.cap("device")
        for pc, pos in POS.items():
            for n in range(cap + 1 if pc != STOPPED else 1):
                conj = [s["w.pc"] == pc]
                if cap:
                    conj.append(s["device.n"] == n)
                    for j in range(n):
                        a, val = mem.entry(s, "device", j)
                        code, want = _store_at(s, mem, pos - n + j)
                        conj += [a == code, val == want]
                seq, w0, w1 = _memory_after(s, pos - n)
                conj += [s["m.seq"] == seq, s["m.w0"] == w0, s["m.w1"] == w1]
                cases.append(z3.And(*conj))
        return z3.Or(*cases)

    return pred


def _in(pc: z3.ExprRef, lo: int, hi: int) -> z3.BoolRef:
    return z3.And(z3.UGE(pc, lo), z3.ULE(pc, hi))


def _even(x: z3.BitVecRef) -> z3.BoolRef:
    return z3.Extract(0, 0, x) == 0


def invariant(mem: Z3Memory) -> Named:
    def reading(s: State) -> z3.BoolRef:
        return _in(s["r.pc"], 1, 6)

    return [
        ("writer: buffer and memory are a prefix of its stores", writer_closed_form(mem)),
        ("writer: s is even", lambda s: _even(s["w.s"])),
        ("ghosts saturate", lambda s: z3.And(z3.ULE(s["g.gap"], _sat(s["g.gap"])),
                                               z3.ULE(s["g.age"], _sat(s["g.age"])))),
        ("reader: s1 even", lambda s: z3.Implies(reading(s), _even(s["r.s1"]))),
        ("gap: seq moved gap times since s1", lambda s: z3.Implies(
            z3.And(reading(s), _unsat(s["g.gap"])), s["m.seq"] == s["r.s1"] + s["g.gap"])),
        ("age: seq moved age times since last", lambda s: z3.Implies(
            _unsat(s["g.age"]), s["m.seq"] == s["r.last"] + s["g.age"])),
        ("s1 is not older than last", lambda s: z3.Implies(
            reading(s), z3.ULE(s["g.gap"], s["g.age"]))),
        ("a read while seq stayed s1", lambda s: z3.Implies(
            z3.And(_in(s["r.pc"], 3, 5), s["g.gap"] == 0), s["r.a"] == s["r.s1"])),
        ("b read while seq stayed s1", lambda s: z3.Implies(
            z3.And(_in(s["r.pc"], 4, 5), s["g.gap"] == 0), s["r.b"] == s["r.s1"])),
        *SAFETY[:1],
        ("fresh: only after the writer stopped", lambda s: z3.Implies(
            s["g.fresh"], s["w.pc"] == STOPPED)),
        ("fresh: s1 is the last version", lambda s: z3.Implies(
            z3.And(s["g.fresh"], reading(s)), z3.And(s["r.s1"] == s["w.s"], s["g.gap"] == 0))),
    ]


SAFETY: list[tuple[str, Pred]] = [
    ("SHM-TABLE-007 no torn read: the value returned is the one of version s1",
     lambda s: z3.Implies(z3.And(s["r.pc"] == 6, _unsat(s["g.gap"])),
                          z3.And(s["r.a"] == s["r.s1"], s["r.b"] == s["r.s1"]))),
    ("SHM-TABLE-008 monotonic: the version returned is not older than the last",
     lambda s: z3.Implies(s["r.pc"] == 6, z3.ULE(s["g.gap"], s["g.age"]))),
    ("SHM-TABLE-009 a different version is a newer write, the same version the same write",
     lambda s: z3.Implies(z3.And(s["r.pc"] == 6, _unsat(s["g.age"])),
                          (s["r.s1"] == s["r.last"]) == (s["g.gap"] == s["g.age"]))),
    ("SHM-TABLE-010 after the last update and its signal: its value, at the first attempt",
     lambda s: z3.And(
         z3.Implies(z3.And(s["g.fresh"], s["r.pc"] == 5), s["m.seq"] == s["r.s1"]),
         z3.Implies(z3.And(s["g.fresh"], s["r.pc"] == 6),
                    z3.And(s["r.s1"] == s["w.s"], s["r.a"] == s["w.s"],
                           s["r.b"] == s["w.s"])))),
]


UPDATE = ["writer 0: seq := s+1", "writer 1: wmb", "writer 2: w0 := s+2",
          "writer 3: w1 := s+2", "writer 4: wmb", "writer 5: seq := s+2"]
READ = ["reader 0: s1 := seq", "reader 1: rmb", "reader 2: a := w0", "reader 3: b := w1",
        "reader 4: rmb", "reader 5: s2 := seq"]
WITNESSES: list[tuple[str, Pred, list[str]]] = [
    ("a read returns a new version",
     lambda s: z3.And(s["r.pc"] == 6, s["r.s1"] != s["r.last"]), UPDATE + READ),
    ("a read returns after the writer stopped",
     lambda s: z3.And(s["r.pc"] == 6, s["g.fresh"], s["w.s"] != 0),
     [*UPDATE, "writer 0: stop", *READ]),
]


def prove(mode: Mode) -> registry.Evidence:
    """The invariant is inductive and implies SAFETY; and the claims are not vacuous: a read
    returning a new version, and one after the writer stopped, are reachable (by SC runs,
    which are runs of every store-buffer model too)."""
    system, mem = build(mode)
    return proved(system, invariant(mem), SAFETY, build("sc")[0], WITNESSES)


REQS = ("SHM-TABLE-003", "SHM-TABLE-004", "SHM-TABLE-005", "SHM-TABLE-006", "SHM-TABLE-007",
        "SHM-TABLE-008", "SHM-TABLE-009", "SHM-TABLE-010")


@registry.proof("shm.table.sc", REQS, "seqlock slot under SC: no torn read, monotonic, "
                "no stale version, last value at the first attempt; any length")
def prove_sc() -> registry.Evidence:
    return prove("sc")


@registry.proof("shm.table.tso", REQS, "seqlock slot under x86-TSO store buffers: no torn "
                "read, monotonic, no stale version, last value at the first attempt")
def prove_tso() -> registry.Evidence:
    return prove("tso")


# -- bounded space -------------------------------------------------------------------------

@registry.proof("shm.table.space", ("SHM-TABLE-001", "SHM-TABLE-002"),
                "slot i, word k at offset + i·4(1+W) + 4k: inside slot i and the table, "
                "no two alike, for every N, W, offset")
def prove_space() -> registry.Evidence:
    """For every table (``N`` slots of ``W`` words at ``offset`` of a region of ``length``
    bytes; unbounded integers) word ``k`` (0 is ``seq``) of slot ``i`` lies inside slot ``i``
    and inside the table, and two different (slot, word) pairs never share an address: an
    update of slot ``i`` stores only inside slot ``i``, and ``4·N·(1+W)`` bytes is the whole
    footprint, whatever the rate of updates. (Nonlinear integer arithmetic: the bit-vector
    form of the same query is far slower.)"""
    n, w, off, length, i, k, j, m = z3.Ints("N W offset length i k j m")
    size = 4 * (1 + w)

    def addr(slot: z3.ArithRef, word: z3.ArithRef) -> z3.ArithRef:
        return off + slot * size + 4 * word

    sane = [n >= 1, w >= 1, off >= 0, off + n * size <= length,
            i >= 0, i < n, k >= 0, k <= w, j >= 0, j < n, m >= 0, m <= w]
    claims = {
        "inside its slot and the table": z3.And(
            off + i * size <= addr(i, k), addr(i, k) + 4 <= off + (i + 1) * size,
            off <= addr(i, k), addr(i, k) + 4 <= off + n * size, addr(i, k) + 4 <= length),
        "distinct": z3.Implies(z3.Or(i != j, k != m), addr(i, k) != addr(j, m)),
    }
    for name, claim in claims.items():
        solver = z3.Solver()
        solver.add(*sane, z3.Not(claim))
        result = solver.check()
        if result != z3.unsat:
            cex = solver.model() if result == z3.sat else solver.reason_unknown()
            return registry.Evidence(False, f"{name}: {result} {cex}")
    return registry.Evidence(True, "every word inside its slot and the table; no two alike",
                             stats={"queries": float(len(claims))})


# -- mutants -------------------------------------------------------------------------------

def refute(mode: Mode, v: Variant, claim: int, depth: int) -> registry.Evidence:
    """A run of at most ``depth`` steps of the variant that breaks SAFETY[claim]."""
    system, _ = build(mode, v, bits=16)
    return refuted(system, SAFETY[claim], depth, mode)


@registry.mutant("shm.mutant.table.no_recheck.z3",
                 "reader returns without re-reading seq after the value words",
                 ("SHM-TABLE-005", "SHM-TABLE-007"), "z3")
def mutant_no_recheck() -> registry.Evidence:
    return refute("sc", Variant(recheck=False), 0, 12)


@registry.mutant("shm.mutant.table.odd_accepted.z3",
                 "reader uses a value read while seq was odd (update in progress)",
                 ("SHM-TABLE-005", "SHM-TABLE-007"), "z3")
def mutant_odd_accepted() -> registry.Evidence:
    return refute("sc", Variant(retry_odd=False), 0, 12)


@registry.mutant("shm.mutant.table.no_wmb_after_data.z3",
                 "writer without wmb between the value words and the even seq (PSO)",
                 ("SHM-TABLE-004", "SHM-TABLE-007"), "z3")
def mutant_no_wmb_after_data() -> registry.Evidence:
    return refute("pso", Variant(wmb_after_data=False), 0, 14)


@registry.mutant("shm.mutant.table.no_wmb_before_data.z3",
                 "writer without wmb between the odd seq and the value words (PSO)",
                 ("SHM-TABLE-004", "SHM-TABLE-007"), "z3")
def mutant_no_wmb_before_data() -> registry.Evidence:
    return refute("pso", Variant(wmb_before_data=False), 0, 14)
