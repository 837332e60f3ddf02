"""shm-signal, proved for executions of any length under SC and x86-TSO: no lost wakeup and
the coalescing bound.

The programs are the access sequences of reference/shm/signal.py, one action per access, as
the clock and the interrupt table use them (the device sends, the driver receives)::

    device (sender), a round                 driver (receiver), a round
      0  store D := d + 1 (the announced        0  disable:     store E := 0
         state; d += 1)                         1  acknowledge: store P := 0
      1  mb                SHM-SIGNAL-003       2               mb
      2  p := load P; p != 0 -> 0 (coalesced)   3  process:     seen := load D
      3  store P := 1                           4  enable:      store E := 1
      4  mb                SHM-SIGNAL-004       5               mb
      5  e := load E; e != 0 -> notify; -> 0    6  re-check:    p := load P; p != 0 -> 0
                                                7  wait for a notification -> 0

``D`` stands for whatever the signal announces (a table slot, a ring index): one word that
the sender increments, so "the receiver has read the latest state" is ``seen == d``. The
driver starts running (round 0 of its loop) with notifications disabled.

Claims (SHM-SIGNAL-010, SHM-SIGNAL-011):

* no lost wakeup: the driver waiting, no notification in flight and the device between
  rounds (so done announcing) imply ``seen == d``;
* coalescing: ghost ``sets`` counts the device's stores of 1 to ``P`` since a store of 0
  last reached memory, and stays ≤ 1; ghost ``notes`` counts notifications since the last
  such store of 1, and stays ≤ 1. Hence notifications ≤ acknowledgements + 1.

Proved by an explicit inductive invariant; the mutants, each the protocol with one step
missing or moved, are refuted by an interleaving that loses a wakeup, found by bounded model
checking and made locally minimal (no single step can be left out). Three of them need
x86-TSO's store buffers: under SC they lose no wakeup (tests/shm/test_shm_models.py).
"""

from __future__ import annotations

from collections.abc import Callable

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

BITS = 16
CELLS = ("D", "P", "E")
CAPACITY = 2
SENDER = ("data", "mb", "check_pending", "set_pending", "mb", "check_enabled")
RECEIVER = ("disable", "ack", "mb", "process", "enable", "mb", "recheck", "wait")
Effect = Callable[[State], tuple[z3.BoolRef, dict[str, z3.ExprRef]]]


def _pc(v: int) -> z3.BitVecRef:
    return z3.BitVecVal(v, 8)


def build(mode: Mode, sender: tuple[str, ...] = SENDER,
          receiver: tuple[str, ...] = RECEIVER) -> tuple[System, Z3Memory]:
    """The two programs, given as lists of steps (a mutant drops or moves one)."""

    def on_write(s: State, addr: z3.BitVecRef, val: z3.BitVecRef) -> dict[str, z3.ExprRef]:
        cleared = z3.And(addr == mem.code("P"), val == 0)
        return {"g.sets": z3.If(cleared, z3.BitVecVal(0, 8), s["g.sets"])}

    mem = Z3Memory(CELLS, BITS, mode, {"device": CAPACITY, "driver": CAPACITY}, on_write)
    bv, b8 = z3.BitVecSort(BITS), z3.BitVecSort(8)
    variables: dict[str, z3.SortRef] = {
        "dev.pc": b8, "dev.d": bv, "drv.pc": b8, "drv.seen": bv, "notif": z3.BoolSort(),
        "g.sets": b8, "g.notes": b8, **mem.variables()}

    def init(s: State) -> z3.BoolRef:
        return z3.And(s["dev.pc"] == 0, s["dev.d"] == 0, s["drv.pc"] == 0, s["drv.seen"] == 0,
                      z3.Not(s["notif"]), s["g.sets"] == 0, s["g.notes"] == 0,
                      mem.init(s, {}))

    buffered = "" if mode == "sc" else " (buffered)"
    actions: list[Action] = []

    def add(side: str, program: tuple[str, ...], at: int, effect: Effect,
            text: Callable[[Values, Values], str]) -> None:
        pc = "dev.pc" if side == "device" else "drv.pc"
        nxt = (at + 1) % len(program)

        def eff(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard, out = effect(s)
            out = dict(out)
            out.setdefault(pc, _pc(nxt))
            return z3.And(s[pc] == at, guard), out

        actions.append(Action(f"{side} {at}: {program[at]}", side, eff, text))

    for at, step in enumerate(sender):
        eff, text = _sender_step(mem, step, buffered, sender)
        add("device", sender, at, eff, text)
    for at, step in enumerate(receiver):
        eff, text = _receiver_step(mem, step, buffered, receiver)
        add("driver", receiver, at, eff, text)
    actions += mem.drains()

    def show(v: Values) -> dict[str, object]:
        out: dict[str, object] = {
            "device": f"{sender[int(v['dev.pc'])]} d={v['dev.d']}",
            "driver": f"{receiver[int(v['drv.pc'])]} seen={v['drv.seen']}",
            "notification in flight": v["notif"]}
        out.update(mem.show(v, ("device", "driver")))
        return out

    return System(variables, {}, lambda s: z3.BoolVal(True), init, actions, show), mem


def _mb(mem: Z3Memory, side: str) -> tuple[Effect, Callable[[Values, Values], str]]:
    return (lambda s: (mem.empty(s, side), {})), (lambda p, q: "mb")


def _sender_step(mem: Z3Memory, step: str, buffered: str,
                 program: tuple[str, ...]) -> tuple[Effect, Callable[[Values, Values], str]]:
    if step == "mb":
        return _mb(mem, "device")
    if step == "data":
        def data(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard, out = mem.store(s, "device", "D", s["dev.d"] + 1)
            return guard, merge(out, {"dev.d": s["dev.d"] + 1})

        return data, lambda p, q: f"store D := {q['dev.d']}{buffered} (announced state)"
    if step == "check_pending":
        return (lambda s: (z3.BoolVal(True), {"dev.pc": z3.If(
            mem.load(s, "device", "P") != 0, _pc(0), _pc(program.index("set_pending")))})), \
            lambda p, q: ("load P -> 1: coalesced" if q["dev.pc"] == 0 else "load P -> 0")
    if step == "set_pending":
        def set_pending(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard, out = mem.store(s, "device", "P", 1)
            # under SC the store reaches memory now and its ghost hook (a store of 1: no
            # clear) assigns g.sets unchanged; the count of sets overrides it
            return guard, {**out, "g.sets": s["g.sets"] + 1, "g.notes": z3.BitVecVal(0, 8)}

        return set_pending, lambda p, q: f"store P := 1{buffered}"
    if step == "check_enabled":
        def check_enabled(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            on = mem.load(s, "device", "E") != 0
            return z3.BoolVal(True), {"notif": z3.Or(s["notif"], on), "dev.pc": _pc(0),
                                      "g.notes": z3.If(on, s["g.notes"] + 1, s["g.notes"])}

        return check_enabled, lambda p, q: ("load E -> 1: notify the driver"
                                            if q["g.notes"] != p["g.notes"]
                                            else "load E -> 0: no notification")
    raise ValueError(step)


def _receiver_step(mem: Z3Memory, step: str, buffered: str,
                   program: tuple[str, ...]) -> tuple[Effect, Callable[[Values, Values], str]]:
    if step == "mb":
        return _mb(mem, "driver")
    stores = {"disable": ("E", 0), "ack": ("P", 0), "enable": ("E", 1)}
    if step in stores:
        cell, value = stores[step]
        return (lambda s: mem.store(s, "driver", cell, value)), \
            lambda p, q: f"{step}: store {cell} := {value}{buffered}"
    if step == "process":
        return (lambda s: (z3.BoolVal(True), {"drv.seen": mem.load(s, "driver", "D")})), \
            lambda p, q: f"process: load D -> {q['drv.seen']}"
    if step == "recheck":
        def recheck(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            nxt = program.index("wait")
            return z3.BoolVal(True), {"drv.pc": z3.If(mem.load(s, "driver", "P") != 0,
                                                      _pc(0), _pc(nxt))}

        return recheck, lambda p, q: ("re-check: load P -> 1: process again"
                                      if q["drv.pc"] == 0 else "re-check: load P -> 0")
    if step == "wait":
        return (lambda s: (s["notif"], {"notif": z3.BoolVal(False)})), \
            lambda p, q: "woken by the notification"
    raise ValueError(step)


# -- claims and the invariant --------------------------------------------------------------

def _is(s: State, pc: str, *values: int) -> z3.BoolRef:
    return z3.Or(*(s[pc] == v for v in values))


WAIT = RECEIVER.index("wait")


def no_lost_wakeup(receiver: tuple[str, ...] = RECEIVER) -> Pred:
    wait = receiver.index("wait")
    return lambda s: z3.Implies(z3.And(s["drv.pc"] == wait, z3.Not(s["notif"]),
                                       s["dev.pc"] == 0), s["drv.seen"] == s["dev.d"])


SAFETY: list[tuple[str, Pred]] = [
    ("SHM-SIGNAL-010 no lost wakeup: waiting, nothing in flight, sender done => all seen",
     no_lost_wakeup()),
    ("SHM-SIGNAL-011 coalescing: one store of pending := 1 per acknowledgement, one "
     "notification per such store",
     lambda s: z3.And(z3.ULE(s["g.sets"], 1), z3.ULE(s["g.notes"], 1))),
]


def invariant(mem: Z3Memory) -> Named:
    code = mem.code

    def entry_is(s: State, side: str, j: int, cell: str, value: int | None) -> z3.BoolRef:
        a, v = mem.entry(s, side, j)
        return a == code(cell) if value is None else z3.And(a == code(cell), v == value)

    def buffer(side: str, pcs: dict[int, list[list[tuple[str, int | None]]]],
               empty: tuple[int, ...]) -> Pred:
        """``pcs``: for a pc, the possible buffer contents (oldest first), one per count."""
        pc = "dev.pc" if side == "device" else "drv.pc"

        def pred(s: State) -> z3.BoolRef:
            if mem.cap(side) == 0:
                return z3.BoolVal(True)
            n = s[f"{side}.n"]
            conj = [z3.Implies(_is(s, pc, *empty), n == 0)]
            for at, contents in pcs.items():
                cases = [z3.And(n == len(c), *(entry_is(s, side, j, cell, val)
                                               for j, (cell, val) in enumerate(c)))
                         for c in contents]
                conj.append(z3.Implies(s[pc] == at, z3.Or(*cases)))
            return z3.And(*conj)

        return pred

    d_buf = buffer("device", {1: [[], [("D", None)]], 4: [[], [("P", 1)]]}, (0, 2, 3, 5))
    r_buf = buffer("driver", {1: [[], [("E", 0)]], 2: [[], [("P", 0)], [("E", 0), ("P", 0)]],
                              5: [[], [("E", 1)]]}, (0, 3, 4, 6, 7))

    def data_entry(s: State) -> z3.BoolRef:
        """The buffered store of D holds d (entry_is above cannot name d)."""
        if mem.cap("device") == 0:
            return z3.BoolVal(True)
        return z3.Implies(z3.And(s["dev.pc"] == 1, s["device.n"] == 1),
                          z3.And(mem.entry(s, "device", 0)[1] == s["dev.d"],
                                 s["m.D"] == s["dev.d"] - 1))

    def count(s: State, side: str) -> z3.ExprRef | int:
        return mem.count(s, side)

    return [
        ("program counters in range", lambda s: z3.And(z3.ULT(s["dev.pc"], len(SENDER)),
                                                       z3.ULT(s["drv.pc"], len(RECEIVER)))),
        ("device buffer by pc", lambda s: z3.And(d_buf(s), data_entry(s))),
        ("driver buffer by pc", r_buf),
        ("D in memory is d unless its store is buffered", lambda s: z3.Implies(
            z3.Or(s["dev.pc"] != 1, count(s, "device") == 0), s["m.D"] == s["dev.d"])),
        ("E is 1 in memory once enabled and drained", lambda s: z3.And(
            z3.Implies(z3.And(s["drv.pc"] == 5, count(s, "driver") == 0), s["m.E"] == 1),
            z3.Implies(_is(s, "drv.pc", 6, 7), s["m.E"] == 1))),
        ("unseen state: the driver will process it or P is set", lambda s: z3.Implies(
            z3.And(z3.Or(s["dev.pc"] == 0,
                         z3.And(_is(s, "dev.pc", 4, 5), count(s, "device") == 0)),
                   s["drv.seen"] != s["dev.d"]),
            z3.Or(z3.ULE(s["drv.pc"], 3), s["m.P"] != 0))),
        ("P set while the driver waits: a notification is or will be in flight",
         lambda s: z3.Implies(z3.And(s["drv.pc"] == WAIT, s["m.P"] != 0),
                              z3.Or(s["notif"], _is(s, "dev.pc", 4, 5)))),
        ("sets: P is set in memory or in the device's buffer", lambda s: z3.And(
            z3.ULE(s["g.sets"], 1),
            z3.Implies(s["g.sets"] != 0, z3.Or(
                s["m.P"] != 0, z3.And(s["dev.pc"] == 4, count(s, "device") == 1))),
            z3.Implies(s["dev.pc"] == 3, s["g.sets"] == 0))),
        ("notes: none yet for the current store of P", lambda s: z3.And(
            z3.ULE(s["g.notes"], 1), z3.Implies(_is(s, "dev.pc", 4, 5), s["g.notes"] == 0))),
    ]


ROUND = [f"device {i}: {step}" for i, step in enumerate(SENDER)]
SERVE = [f"driver {i}: {step}" for i, step in enumerate(RECEIVER[:-1])]
WITNESSES: list[tuple[str, Pred, list[str]]] = [
    ("the driver waits having seen a change", lambda s: z3.And(
        s["drv.pc"] == WAIT, s["dev.d"] != 0, s["drv.seen"] == s["dev.d"], s["dev.pc"] == 0),
     ROUND + SERVE),
    ("an injection is coalesced", lambda s: z3.And(s["dev.pc"] == 0, s["m.P"] != 0,
                                                   s["dev.d"] == 2),
     ROUND + ROUND[:3]),
    ("a notification wakes the driver", lambda s: z3.And(s["drv.pc"] == WAIT, s["notif"]),
     SERVE + ROUND),
]


def room(mem: Z3Memory) -> Pred:
    """Every store is issued with room in its buffer: the bound of two entries is never what
    holds a side back, so the bounded model has every behaviour of unbounded buffers."""
    stores = {"device": ("dev.pc", [i for i, st in enumerate(SENDER) if st in ("data",
                                                                             "set_pending")]),
              "driver": ("drv.pc", [i for i, st in enumerate(RECEIVER) if st in ("disable",
                                                                               "ack", "enable")])}

    def pred(s: State) -> z3.BoolRef:
        return z3.And(*(z3.Implies(_is(s, pc, *at), z3.ULT(mem.count(s, side), CAPACITY))
                        for side, (pc, at) in stores.items() if mem.cap(side)))

    return pred


def prove(mode: Mode) -> registry.Evidence:
    """Inductive invariant ⇒ SAFETY and room in the buffers; the witnesses (SC runs, which
    are runs of every store-buffer model) show that the claims are not vacuous."""
    system, mem = build(mode)
    return proved(system, invariant(mem),
                  [*SAFETY, ("store buffers never full at a store", room(mem))],
                  build("sc")[0], WITNESSES)


REQS = ("SHM-SIGNAL-002", "SHM-SIGNAL-003", "SHM-SIGNAL-004", "SHM-SIGNAL-005",
        "SHM-SIGNAL-006", "SHM-SIGNAL-010", "SHM-SIGNAL-011")


@registry.proof("shm.signal.sc", REQS, "shm-signal under SC: no lost wakeup, one pending "
                "store per acknowledgement, one notification per store; any length")
def prove_sc() -> registry.Evidence:
    return prove("sc")


@registry.proof("shm.signal.tso", REQS, "shm-signal under x86-TSO store buffers: no lost "
                "wakeup, coalescing bound; any length")
def prove_tso() -> registry.Evidence:
    return prove("tso")


# -- mutants -------------------------------------------------------------------------------

def refute(mode: Mode, depth: int, *, sender: tuple[str, ...] = SENDER,
           receiver: tuple[str, ...] = RECEIVER) -> registry.Evidence:
    system, _ = build(mode, sender, receiver)
    return refuted(system, (SAFETY[0][0], no_lost_wakeup(receiver)), depth, mode,
                   "wakeup lost")


def _without(program: tuple[str, ...], at: int) -> tuple[str, ...]:
    return program[:at] + program[at + 1 :]


@registry.mutant("shm.mutant.signal.ack_after_processing.z3",
                 "receiver clears pending after reading the state instead of before",
                 ("SHM-SIGNAL-005", "SHM-SIGNAL-010"), "z3")
def mutant_ack_after() -> registry.Evidence:
    return refute("sc", 16, receiver=("disable", "process", "ack", "mb", "enable", "mb",
                                      "recheck", "wait"))


@registry.mutant("shm.mutant.signal.enable_without_recheck.z3",
                 "receiver enables and waits without re-reading pending",
                 ("SHM-SIGNAL-006", "SHM-SIGNAL-010"), "z3")
def mutant_no_recheck() -> registry.Evidence:
    return refute("sc", 16, receiver=_without(RECEIVER, RECEIVER.index("recheck")))


@registry.mutant("shm.mutant.signal.enable_without_mb.z3",
                 "receiver re-reads pending without a full barrier after enabling (TSO)",
                 ("SHM-SIGNAL-006", "SHM-SIGNAL-010"), "z3")
def mutant_enable_no_mb() -> registry.Evidence:
    return refute("tso", 18, receiver=_without(RECEIVER, 5))


@registry.mutant("shm.mutant.signal.inject_without_mb.z3",
                 "sender loads enabled without a full barrier after setting pending (TSO)",
                 ("SHM-SIGNAL-004", "SHM-SIGNAL-010"), "z3")
def mutant_inject_no_mb() -> registry.Evidence:
    return refute("tso", 18, sender=_without(SENDER, 4))


@registry.mutant("shm.mutant.signal.coalesce_without_mb.z3",
                 "sender loads pending without a full barrier after the announced stores (TSO)",
                 ("SHM-SIGNAL-003", "SHM-SIGNAL-010"), "z3")
def mutant_coalesce_no_mb() -> registry.Evidence:
    return refute("tso", 22, sender=_without(SENDER, 1))
