"""Free-running indices and slots of the split virtqueue, for every queue size at once.

The queue size ``Q`` is a symbolic 16-bit power of two (so 1 ≤ Q ≤ 32768, RING-SPLIT-001):
one query covers all sixteen sizes. Entry number ``n`` of a ring lives in slot
``n mod Q``; the rings are addressed through 16-bit free-running indices that wrap.

``ring.index.slot`` -- slot arithmetic (RING-SPLIT-001, RING-SPLIT-031, RING-SPLIT-043):
``idx & (Q-1) == idx mod Q``, and consecutive indices land in consecutive slots *across the
16-bit wrap* (65535 → 0), so by induction on ``n`` the slot of index ``n mod 2^16`` is
``n mod Q`` for every ``n``. Both need ``Q`` to divide 2^16, i.e. to be a power of two; for
other sizes the wrap breaks the sequence (the proof exhibits such a size).

The other three proofs share one transition system over the four indices the two sides
keep, plus the two published copies in memory:

    A   driver.avail_idx   (avail.idx as the driver wrote it)    Am  avail.idx in memory
    La  device.last_avail  (next available entry to pop)
    U   device.used_idx    (used.idx as the device wrote it)      Um  used.idx in memory
    Ld  driver.last_used   (next used entry to take back)

    driver add      if A - Ld < Q (a free descriptor): write avail.ring[A & (Q-1)], A += 1
    device pop      if La != Am: read avail.ring[La & (Q-1)], La += 1
    device push     if U != La: write used.ring[U & (Q-1)], U += 1
    driver get_used if Ld != Um: read used.ring[Ld & (Q-1)], Ld += 1
    publish         Am += 1 if Am != A; Um += 1 if Um != U (a buffered index store reaches
                    memory: each store is one increment, and stores drain in order)

The memory copies lag their writers by any amount, which covers SC and x86-TSO alike.
Measured from ``Ld`` the six indices stay ordered (all distances mod 2^16):

    0 ≤ Um - Ld ≤ U - Ld ≤ La - Ld ≤ Am - Ld ≤ A - Ld ≤ Q            (the chain)

The chain is inductive. Since every distance is ≤ Q ≤ 32768 < 2^16, positions modulo 2^16
are unambiguous, and the chain gives:

* ``ring.index.outstanding`` (RING-SPLIT-090): ``A - Ld ≤ Q``, and in memory
  ``avail.idx - used.idx ≤ Q``; the device's check of RING-SPLIT-084 (``avail.idx`` at most
  Q past ``last_avail``) and the driver's of RING-SPLIT-085 never fire on a correct peer.
* ``ring.index.no_overwrite`` (RING-SPLIT-091): the avail slot the driver writes differs from
  the slot of every entry in ``[La, A)`` (made available, not yet popped); the used slot the
  device writes differs from every entry in ``[Ld, U)`` (used, not yet taken back).
* ``ring.index.exactly_once`` (RING-SPLIT-092): each action moves one index by one and no
  index passes the next one in the chain: the device pops only entries made available and
  not yet popped (``La`` strictly inside ``[La, Am)``), pushes only entries it popped and has
  not pushed, and the driver takes back only used entries, in order. Entry ``n`` is popped by
  the single step that moves ``La`` from ``n`` to ``n + 1``; it is pushed and taken back once
  the same way.
"""

from __future__ import annotations

import itertools

import z3
from virtiospec.models import registry
from virtiospec.models.z3util import (
    Action,
    Induction,
    Pred,
    State,
    System,
    Values,
    check_inductive,
    satisfiable,
    valid,
)

W = 16
U16 = z3.BitVecSort(W)
INDICES = ("A", "Am", "La", "U", "Um", "Ld")
NAMES = {"A": "driver.avail_idx", "Am": "avail.idx", "La": "device.last_avail",
         "U": "device.used_idx", "Um": "used.idx", "Ld": "driver.last_used"}


def power_of_two(q: z3.BitVecRef) -> z3.BoolRef:
    """A 16-bit power of two: 1, 2, 4, ..., 32768 (RING-SPLIT-001)."""
    return z3.And(q != 0, q & (q - 1) == 0)


def slot(idx: z3.BitVecRef, q: z3.BitVecRef) -> z3.BitVecRef:
    return idx & (q - 1)


def dist(a: z3.BitVecRef, b: z3.BitVecRef) -> z3.BitVecRef:
    """How far ``b`` is ahead of ``a``, modulo 2^16."""
    return b - a


@registry.proof("ring.index.slot", ("RING-SPLIT-001", "RING-SPLIT-031", "RING-SPLIT-043"),
                "slot = idx & (Q-1) = idx mod Q, consecutive across the 16-bit wrap, every Q")
def prove_slot() -> registry.Evidence:
    q, i = z3.BitVec("Q", W), z3.BitVec("i", W)
    pow2 = power_of_two(q)
    if (m := valid(slot(i, q) == z3.URem(i, q), pow2)) is not None:
        return registry.Evidence(False, f"idx & (Q-1) != idx mod Q at {m}")
    step = slot(i + 1, q) == slot(slot(i, q) + 1, q)
    if (m := valid(step, pow2)) is not None:
        return registry.Evidence(False, f"slots not consecutive at {m}")
    # the wrap needs Q | 2^16: for any other size, mod-Q slots break at 65535 -> 0
    other = satisfiable(z3.Not(pow2), q != 0, z3.ULE(q, 32768),
                        z3.URem(i + 1, q) != z3.URem(z3.URem(i, q) + 1, q))
    if other is None:
        return registry.Evidence(False, "expected a non-power-of-two size to break the wrap")
    bad_q, bad_i = other.eval(q).as_long(), other.eval(i).as_long()
    return registry.Evidence(
        True, f"for every power of two Q ≤ 32768 and every index; not for other sizes: e.g. "
              f"Q={bad_q} puts index {bad_i} in slot {bad_i % bad_q} and index "
              f"{(bad_i + 1) % 65536} in slot {((bad_i + 1) % 65536) % bad_q}",
        stats={"queries": 3})


# -- the index transition system ------------------------------------------------------------
# The state holds driver.last_used ``Ld`` and, for each other index, how far it is ahead of
# ``Ld`` (mod 2^16); the indices themselves are ``Ld + offset``. This is only a change of
# variables (each index is still a free 16-bit value), but it keeps the queries small:
# get_used moves the base of every distance, and stated on raw indices that one query
# costs the solver tens of seconds.
AHEAD = ("Um", "U", "La", "Am", "A")  # in chain order: each at or ahead of the one before


def _derive(s: State) -> State:
    return {n: s["Ld"] + s["o" + n] for n in AHEAD}


def build() -> System:
    def add(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        return z3.ULT(s["oA"], s["Q"]), {"oA": s["oA"] + 1}

    def pop(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        return s["La"] != s["Am"], {"oLa": s["oLa"] + 1}

    def push(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        return s["U"] != s["La"], {"oU": s["oU"] + 1}

    def get_used(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        moved = {"o" + n: s["o" + n] - 1 for n in AHEAD}
        return s["Ld"] != s["Um"], {"Ld": s["Ld"] + 1, **moved}

    def publish_avail(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        return s["Am"] != s["A"], {"oAm": s["oAm"] + 1}

    def publish_used(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        return s["Um"] != s["U"], {"oUm": s["oUm"] + 1}

    actions = [
        Action("driver add", "driver", add, lambda p, q: f"add entry {p['A']}"),
        Action("device pop", "device", pop, lambda p, q: f"pop entry {p['La']}"),
        Action("device push", "device", push, lambda p, q: f"push entry {p['U']}"),
        Action("driver get_used", "driver", get_used, lambda p, q: f"get_used {p['Ld']}"),
        Action("avail.idx reaches memory", "memory", publish_avail,
               lambda p, q: f"avail.idx := {q['Am']}"),
        Action("used.idx reaches memory", "memory", publish_used,
               lambda p, q: f"used.idx := {q['Um']}"),
    ]
    return System(
        variables={"Ld": U16} | {"o" + n: U16 for n in AHEAD},
        params={"Q": U16},
        assume=lambda s: power_of_two(s["Q"]),
        init=lambda s: z3.And(s["Ld"] == 0, *(s["o" + n] == 0 for n in AHEAD)),
        actions=actions,
        show=_show,
        derive=_derive,
    )


def _show(v: Values) -> dict[str, object]:
    shown: dict[str, object] = {NAMES[n]: v[n] for n in INDICES}
    shown["Q"] = v["Q"]
    return shown


def _le(lo: str, hi: str) -> Pred:
    """``lo`` is not further ahead of ``Ld`` than ``hi``."""
    return lambda t: z3.ULE(dist(t["Ld"], t[lo]), dist(t["Ld"], t[hi]))


def _chain() -> list[tuple[str, Pred]]:
    """The chain of the module docstring, one link per pair of neighbours."""
    order = ("Ld", *AHEAD)
    out: list[tuple[str, Pred]] = []
    for lo, hi in itertools.pairwise(order):
        out.append((f"{lo} ≤ {hi}", _le(lo, hi)))
    out.append(("A - Ld ≤ Q", lambda t: z3.ULE(dist(t["Ld"], t["A"]), t["Q"])))
    return out


INVARIANT = _chain()


def _with_chain(claims: list[tuple[str, Pred]]) -> Induction:
    return check_inductive(build(), INVARIANT, claims)


def _evidence(result: Induction, what: str) -> registry.Evidence:
    if not result.ok:
        return registry.Evidence(False, f"{result.failure}; state {result.cti}")
    return registry.Evidence(True, f"{what} ({result.queries} queries)",
                             stats={"queries": result.queries})


def _action_claim(action_name: str, claim: Pred) -> Pred:
    """A property of the states where ``action_name`` is enabled."""
    system = build()
    action = next(a for a in system.actions if a.name == action_name)

    def pred(s: State) -> z3.BoolRef:
        guard, _ = action.effect(s)
        return z3.Implies(guard, claim(s))

    return pred


@registry.proof("ring.index.outstanding", ("RING-SPLIT-090", "RING-SPLIT-084", "RING-SPLIT-085"),
                "outstanding ≤ Q, and avail.idx - used.idx ≤ Q in memory, for every Q")
def prove_outstanding() -> registry.Evidence:
    claims: list[tuple[str, Pred]] = [
        ("driver.avail_idx - driver.last_used ≤ Q",
         lambda s: z3.ULE(dist(s["Ld"], s["A"]), s["Q"])),
        ("avail.idx - used.idx ≤ Q in memory",
         lambda s: z3.ULE(dist(s["Um"], s["Am"]), s["Q"])),
        ("avail.idx - device.last_avail ≤ Q (RING-SPLIT-084 never fires)",
         lambda s: z3.ULE(dist(s["La"], s["Am"]), s["Q"])),
        ("used.idx - driver.last_used ≤ outstanding (RING-SPLIT-085 never fires)",
         lambda s: z3.ULE(dist(s["Ld"], s["Um"]), dist(s["Ld"], s["A"]))),
    ]
    return _evidence(_with_chain(claims), "inductive chain of the six indices")


def _distinct_slots(writer: str, lo: str, k: z3.BitVecRef) -> Pred:
    """Slot of the entry ``writer`` is about to write differs from every entry lo + k,
    0 ≤ k < writer - lo (``k`` is free, so validity means: for all k)."""
    def pred(s: State) -> z3.BoolRef:
        pending = z3.ULT(k, dist(s[lo], s[writer]))
        return z3.Implies(pending, slot(s[lo] + k, s["Q"]) != slot(s[writer], s["Q"]))

    return pred


@registry.proof("ring.index.no_overwrite", ("RING-SPLIT-091", "RING-SPLIT-013"),
                "no avail/used slot is rewritten while it holds an unconsumed entry, every Q")
def prove_no_overwrite() -> registry.Evidence:
    k = z3.BitVec("k", W)
    claims: list[tuple[str, Pred]] = [
        ("driver add writes no slot of [last_avail, avail_idx)",
         _action_claim("driver add", _distinct_slots("A", "La", k))),
        ("device push writes no slot of [last_used, used_idx)",
         _action_claim("device push", _distinct_slots("U", "Ld", k))),
    ]
    return _evidence(_with_chain(claims),
                     "for every pending entry, by the chain and Q | 2^16")


@registry.proof("ring.index.exactly_once", ("RING-SPLIT-092",),
                "every entry made available is popped, pushed and taken back exactly once")
def prove_exactly_once() -> registry.Evidence:
    def below(lo: str, hi: str) -> Pred:
        # entry ``lo`` is strictly before ``hi``, positions measured back from the newest
        # index A (all within Q < 2^16 of it): it exists -- the previous stage produced it
        # -- and moving ``lo`` by one cannot overtake ``hi``
        return lambda s: z3.UGT(dist(s[lo], s["A"]), dist(s[hi], s["A"]))

    claims: list[tuple[str, Pred]] = [
        ("pop takes an entry made available (in memory) and not yet popped",
         _action_claim("device pop", below("La", "Am"))),
        ("push returns an entry popped and not yet pushed",
         _action_claim("device push", below("U", "La"))),
        ("get_used takes an entry used (in memory) and not yet taken back",
         _action_claim("driver get_used", below("Ld", "Um"))),
        ("no window exceeds Q < 2^16 (positions are unambiguous)",
         lambda s: z3.ULE(dist(s["Ld"], s["A"]), s["Q"])),
    ]
    # sanity: the chain is not vacuous -- a state with a full queue and every stage busy
    t = build().state("witness")
    busy = z3.And(z3.And(*(p(t) for _, p in INVARIANT)), power_of_two(t["Q"]),
                  dist(t["Ld"], t["A"]) == t["Q"], t["Ld"] != t["Um"], t["La"] != t["Am"])
    if satisfiable(busy) is None:
        return registry.Evidence(False, "the chain admits no busy state: vacuous")
    return _evidence(_with_chain(claims),
                     "each step moves one index by one, never past the next in the chain")
