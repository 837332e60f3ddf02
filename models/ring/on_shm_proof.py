"""The proofs of the ring on shm-signal (models/ring/on_shm_z3.py has the transition system and
cites SHM-RING-003, SHM-RING-004 and SHM-RING-006 in full): the claims, the inductive
invariant that establishes them for every queue size, every batch and runs of any length,
its non-vacuity witnesses, and the shortest counterexample of a known-bad :class:`Seam`.

The invariant, besides bookkeeping (program counters, what each store buffer holds at each
step, which words are in memory when), says three things. After the consumer's ring re-check
found nothing, an entry decided on since is announced: the producer is about to inject, or
``pending`` is set (the ring's decision after the re-check saw the ring enabled). While the
consumer waits with nothing in flight, the producer's last decision is not past
``last_seen``, or its injection will find ``pending`` clear and ``enabled`` set. And while it
waits with ``pending`` set, a notification is in flight or about to be sent. Hence no lost
wakeup: an idle producer has decided on its index, which the waiting consumer has consumed.
"""

from __future__ import annotations

import z3
from virtiospec.models import registry
from virtiospec.models.ring.on_shm_z3 import (
    CAP,
    CORRECT,
    DIRECTIONS,
    E_CELL,
    P_CELL,
    P_IDLE,
    P_IDX,
    P_INJ,
    P_KICK,
    P_LOADE,
    P_MB,
    P_SETP,
    RECEIVER,
    S_CELL,
    WAIT,
    Memory,
    Mode,
    Roles,
    Seam,
    _in,
    behind,
    build,
    lost_wakeup,
    pattern_empty,
    receiver_program,
)
from virtiospec.models.z3util import Induction, Path, Pred, State, check_inductive, search

# -- claims ----------------------------------------------------------------------------------

def exactly_once(s: State) -> z3.BoolRef:
    """last_seen ≤ idx in memory ≤ producer's idx ≤ last_seen + Q."""
    return z3.And(z3.ULE(behind(s, "M"), behind(s, "L")), z3.ULE(behind(s, "L"), s["Q"]))


def asked_for(s: State) -> z3.BoolRef:
    return z3.And(z3.Not(s["g.unasked"]), z3.ULE(s["g.notes"], 1), z3.ULE(s["g.sets"], 1))


def safety(seam: Seam = CORRECT) -> list[tuple[str, Pred]]:
    """The claims, for the receiver program of ``seam``."""
    wait = receiver_program(seam).index("wait")
    return [(SAFETY[0][0], lambda s: z3.Not(lost_wakeup(s, wait))), *SAFETY[1:]]


SAFETY: list[tuple[str, Pred]] = [
    ("SHM-RING-004 no lost wakeup: waiting, nothing in flight, producer idle => all consumed",
     lambda s: z3.Not(lost_wakeup(s))),
    ("SHM-RING-002 every entry exactly once: last_seen <= idx in memory <= idx <= last_seen + Q",
     exactly_once),
    ("SHM-RING-006 every transport notification asked for by an injection; one per pending "
     "store, one pending store per acknowledgement (SHM-SIGNAL-011)", asked_for),
]


def room(s: State) -> z3.BoolRef:
    """No consumer store finds its three-entry buffer full: the bound is exact."""
    stores = [i for i, st in enumerate(RECEIVER)
              if st in ("ring_disable", "sig_disable", "ack", "ring_enable", "sig_enable")]
    return z3.Implies(_in(s["cpc"], *stores), z3.ULT(s["cn"], CAP))


def invariant(mode: Mode, tso: bool, roles: Roles) -> list[tuple[str, Pred]]:
    """The inductive strengthening of SAFETY for the correct protocol (see the module doc)."""
    pc = {name: i for i, name in enumerate(RECEIVER)}
    ack_mb = 3
    en_mb, sen_mb = RECEIVER.index("ring_recheck") - 1, RECEIVER.index("sig_recheck") - 1

    def en(s: State) -> z3.ExprRef:
        return z3.BitVecVal(0, 16) if mode == "flags" else s["L"]

    def pset(s: State) -> z3.BoolRef:
        return z3.Or(s["Pm"] != 0, s["pP"])

    def entry(s: State, j: int, code: int, value: z3.ExprRef | None) -> z3.BoolRef:
        ok = s[f"ca{j}"] == code
        return ok if value is None else z3.And(ok, s[f"cv{j}"] == value)

    def contents(s: State, items: list[tuple[int, z3.ExprRef | None]]) -> z3.BoolRef:
        """The consumer's buffer holds a suffix of ``items`` (oldest drain first)."""
        cases = []
        for k in range(len(items) + 1):
            tail = items[k:]
            cases.append(z3.And(s["cn"] == len(tail),
                                *(entry(s, j, c, v) for j, (c, v) in enumerate(tail))))
        return z3.Or(*cases)

    def c_buffer(s: State) -> z3.BoolRef:
        dis: list[tuple[int, z3.ExprRef | None]] = []
        if mode == "flags" or roles.event_disable_stores:
            dis = [(S_CELL, None)]
        by_pc = {
            pc["sig_disable"]: dis,
            pc["ack"]: [*dis, (E_CELL, z3.BitVecVal(0, 16))],
            ack_mb: [*dis, (E_CELL, z3.BitVecVal(0, 16)), (P_CELL, z3.BitVecVal(0, 16))],
            en_mb: [(S_CELL, en(s))],
            sen_mb: [(E_CELL, z3.BitVecVal(1, 16))],
        }
        conj = [z3.Implies(s["cpc"] == at, contents(s, items)) for at, items in by_pc.items()]
        empty = [i for i in range(len(RECEIVER)) if i not in by_pc]
        conj.append(z3.Implies(_in(s["cpc"], *empty), s["cn"] == 0))
        return z3.And(*conj)

    inv: list[tuple[str, Pred]] = [
        ("program counters in range", lambda s: z3.And(z3.ULE(s["ppc"], P_KICK),
                                                       z3.ULT(s["cpc"], len(RECEIVER)))),
        ("last_seen ≤ M ≤ idx ≤ last_seen + Q", exactly_once),
        ("old ≤ M, idx - old ≤ B", lambda s: z3.And(z3.ULE(behind(s, "M"), behind(s, "old")),
                                                  z3.ULE(behind(s, "old"), s["B"]))),
        ("between ring entry and idx the producer has room", lambda s: z3.Implies(
            s["ppc"] == P_IDX, z3.And(z3.ULT(behind(s, "L"), s["Q"]),
                                      z3.ULT(behind(s, "old"), s["B"])))),
        ("after a decision: decided on idx, ring stores in memory", lambda s: z3.Implies(
            _in(s["ppc"], P_IDLE, P_INJ, P_SETP, P_LOADE, P_KICK),
            z3.And(s["old"] == s["P"], pattern_empty(s)))),
        ("pending := 1 buffered only before enabled is loaded", lambda s: z3.Implies(
            s["pP"], s["ppc"] == P_LOADE)),
        ("asked exactly when notifying", lambda s: s["asked"] == (s["ppc"] == P_KICK)),
        ("no notification unasked", lambda s: z3.Not(s["g.unasked"])),
        ("consumer buffer by pc", c_buffer),
        ("ring suppression disabled while running", lambda s: z3.And(
            z3.Implies(_in(s["cpc"], *range(pc["sig_disable"], pc["ring_enable"] + 1)),
                       s["dis"]),
            z3.Implies(z3.Not(_in(s["cpc"], *range(pc["sig_disable"], pc["ring_enable"] + 1))),
                       z3.Not(s["dis"])))),
        ("ring enabled in memory from its mb on", lambda s: z3.Implies(
            z3.UGT(s["cpc"], en_mb), s["S"] == en(s))),
        ("at the ring's mb the newest S enables", lambda s: z3.Implies(
            s["cpc"] == en_mb, z3.Or(s["cn"] != 0, s["S"] == en(s)))),
        ("signal enabled in memory from its mb on", lambda s: z3.And(
            z3.Implies(z3.UGT(s["cpc"], sen_mb), s["E"] == 1),
            z3.Implies(s["cpc"] == sen_mb, z3.Or(s["cn"] != 0, s["E"] == 1)))),
        ("not more before the ring's re-check", lambda s: z3.Implies(
            z3.ULE(s["cpc"], pc["ring_recheck"]), z3.Not(s["more"]))),
        # K3: after the ring's re-check found nothing, an entry decided since is announced
        ("re-checked: a newer decision injects, or pending is set", lambda s: z3.Implies(
            z3.And(_in(s["cpc"], pc["sig_enable"], sen_mb, pc["sig_recheck"]),
                   z3.Not(s["more"]), z3.UGT(behind(s, "L"), behind(s, "old"))),
            z3.Or(_in(s["ppc"], P_INJ, P_SETP), pset(s)))),
        # K1: the key
        ("waiting, nothing in flight: old ≤ last_seen, or an injection will notify",
         lambda s: z3.Implies(
             z3.And(s["cpc"] == WAIT, z3.Not(s["notif"]), z3.Not(s["more"]),
                    _in(s["ppc"], P_IDLE, P_IDX, P_MB, P_INJ)),
             z3.Or(z3.ULE(behind(s, "L"), behind(s, "old")),
                   z3.And(s["ppc"] == P_INJ, s["Pm"] == 0)))),
        # K2
        ("waiting with pending set: a notification is or will be in flight",
         lambda s: z3.Implies(z3.And(s["cpc"] == WAIT, z3.Not(s["more"]), s["Pm"] != 0),
                              z3.Or(s["notif"], _in(s["ppc"], P_LOADE, P_KICK)))),
        ("sets: pending is set in memory or in the producer's buffer", lambda s: z3.And(
            z3.ULE(s["g.sets"], 1), z3.Implies(s["g.sets"] != 0, pset(s)),
            z3.Implies(s["ppc"] == P_SETP, s["g.sets"] == 0))),
        ("notes: none yet for the current pending store", lambda s: z3.And(
            z3.ULE(s["g.notes"], 1), z3.Implies(_in(s["ppc"], P_LOADE, P_KICK),
                                                s["g.notes"] == 0))),
        ("pending cleared only by the acknowledgement", lambda s: z3.Implies(
            z3.UGT(s["cpc"], ack_mb), z3.Or(s["g.sets"] == 0, s["Pm"] != 0, s["pP"]))),
    ]
    if not tso:
        inv.append(("SC: stores are in memory at once", lambda s: z3.And(
            s["cn"] == 0, z3.Not(s["pP"]), s["M"] == s["P"], s["rd"] == (s["ppc"] == P_IDX))))
    return inv


def prove(roles: Roles, mode: Mode, tso: bool, seam: Seam = CORRECT) -> Induction:
    """The invariant is written for the receiver program of :data:`CORRECT`; ``seam`` may
    change the producer's lines only."""
    if receiver_program(seam) != RECEIVER:
        raise ValueError("the invariant is for the correct receiver")
    system = build(roles, mode, tso, seam)
    safety = [*SAFETY, ("room: no consumer store finds its buffer full", room)] if tso \
        else SAFETY
    return check_inductive(system, invariant(mode, tso, roles), safety)


WITNESSES: list[tuple[str, Pred]] = [
    ("the consumer waits having consumed entries", lambda s: z3.And(
        s["cpc"] == WAIT, z3.Not(s["more"]), s["L"] != 0, s["P"] == s["L"],
        s["ppc"] == P_IDLE)),
    ("an injection finds pending set (coalesced)", lambda s: z3.And(s["ppc"] == P_INJ,
                                                                   s["Pm"] != 0)),
    ("a notification wakes the waiting consumer", lambda s: z3.And(s["cpc"] == WAIT,
                                                                  s["notif"])),
]


def witnesses(roles: Roles, mode: Mode, tso: bool) -> list[str]:
    """Non-vacuity: the names of the witnesses no run reaches (empty: all reached)."""
    system = build(roles, mode, tso)
    return [name for name, target in WITNESSES
            if search(system, target, 30, SEARCH_PARAMS) is None]


def _evidence(mode: Mode, tso: bool) -> registry.Evidence:
    parts, queries = [], 0
    for roles in DIRECTIONS:
        res = prove(roles, mode, tso)
        queries += res.queries
        if not res.ok:
            shown = build(roles, mode, tso).show(res.cti) if res.cti else {}
            return registry.Evidence(False, f"{roles.direction}: {res.failure}; state {shown}",
                                     stats={"queries": float(queries)})
        missing = witnesses(roles, mode, tso)
        if missing:
            return registry.Evidence(False, f"{roles.direction}: vacuous, no run reaches "
                                            f"{missing}", stats={"queries": float(queries)})
        parts.append(f"{roles.direction} ({roles.req}): {res.queries} obligations, "
                     f"{len(WITNESSES)} witnesses reached")
    return registry.Evidence(
        True, f"{'x86-TSO' if tso else 'SC'}, {mode}: inductive invariant holds for every Q, "
              f"every batch and runs of any length; " + "; ".join(parts),
        stats={"queries": float(queries)})


# Counterexamples: a queue of 4, a decision at least every 65535 entries (any values do)
SEARCH_PARAMS = {"Q": 4, "B": 0xFFFF}


def bad(seam: Seam) -> Pred:
    claims = safety(seam)
    return lambda s: z3.Not(z3.And(*(p(s) for _, p in claims)))


def counterexample(roles: Roles, mode: Mode, tso: bool, seam: Seam,
                   max_depth: int = 40) -> Path | None:
    """A shortest run of ``seam`` breaking a SAFETY claim, or None within ``max_depth``."""
    return search(build(roles, mode, tso, seam), bad(seam), max_depth, SEARCH_PARAMS)


REQS = ("SHM-RING-003", "SHM-RING-004", "SHM-RING-006", "SHM-RING-002", "SHM-SIGNAL-010",
        "SHM-SIGNAL-011", "RING-SPLIT-110", "RING-SPLIT-111", "RING-SPLIT-072",
        "RING-SPLIT-073")
_FLAGS = ("RING-SPLIT-052", "RING-SPLIT-062")
_EVENT = ("RING-SPLIT-053", "RING-SPLIT-063")
_TSO = ("SHM-SIGNAL-004", "SHM-SIGNAL-008", "RING-SPLIT-070", "RING-SPLIT-071")


def _register(name: str, memory: Memory, mode: Mode) -> None:
    tso = memory == "tso"
    reqs = REQS + (_FLAGS if mode == "flags" else _EVENT) + (_TSO if tso else ())

    @registry.proof(name, reqs,
                    f"ring on shm-signal, both suppressions, kick and interrupt, "
                    f"{'x86-TSO' if tso else 'SC'}, {mode}: no lost wakeup, exactly once, "
                    "every notification asked for; inductive, Q and batches symbolic")
    def run() -> registry.Evidence:
        return _evidence(mode, tso)


_register("ring_on_shm.sc.flags", "sc", "flags")
_register("ring_on_shm.sc.event_idx", "sc", "event_idx")
_register("ring_on_shm.tso.flags", "tso", "flags")
_register("ring_on_shm.tso.event_idx", "tso", "event_idx")
