"""The packed ring's positions, wrap bits and marks (spec/ring_packed.md), proved by
induction with Z3 over the arithmetic of models/ring/packed/wrap.py.

``ring.packed.wrap.outstanding``, ``ring.packed.wrap.marks`` and
``ring.packed.wrap.no_overwrite`` share one transition system over the
four positions the two sides keep, each with its wrap bit, as the reference keeps them:

    (pa, wa)  driver.next_avail, the Driver Ring Wrap Counter
    (pr, wr)  device.last_avail and its wrap bit
    (pu, wu)  device.used_pos, the Device Ring Wrap Counter
    (pd, wd)  driver.last_used and its wrap bit

    driver add      n ≤ free positions: write n descriptors with the available marks of
                    their lap (RING-PACKED-013); (pa, wa) := advance(pa, wa, n)
    device pop      the descriptor at pr is available: take a list of n ≤ what the driver
                    made available; (pr, wr) := advance(pr, wr, n)
    device push     a list of n it holds: write one used descriptor at pu with the used
                    marks of its lap (RING-PACKED-014); (pu, wu) := advance(pu, wu, n)
    driver get_used the descriptor at pd is used: skip the n positions of its list
                    (RING-PACKED-026); (pd, wd) := advance(pd, wd, n)

The lists are atomic here (the barriers that make them so, RING-PACKED-050, RING-PACKED-052,
RING-PACKED-054, RING-PACKED-055, are
checked by the state machines). ``n`` is a parameter ``N`` (1 ≤ N ≤ Q) that no invariant
mentions: the induction step is checked from every invariant state for every ``N``, so it
holds for runs that mix list sizes too. The flags of the descriptor at one arbitrary
position ``X`` (another parameter) are tracked, with a ghost bit ``H`` that says that
``X`` holds a used descriptor the driver has not taken back; as ``X`` is arbitrary, what is
proved of it holds of every position. The driver's skip lands on the next used descriptor
(both sides skip a list by its size, RING-PACKED-026): for the probe, get_used never skips
over ``X`` while ``H`` is set, and lands on ``X`` only if ``H`` is set or nothing is used
beyond.

Measured from the driver's used position ``D = lap(pd, wd)`` in lap indices modulo 2Q, the
positions are ordered (``dY`` is how far ``Y`` is ahead of ``D``):

    0 ≤ dU ≤ dR ≤ dA ≤ Q                                       (the chain)

and the probe, at relative count ``c = (X - pd) mod Q`` with wrap bit ``wx = wd ^ (X < pd)``,
carries the used marks of ``wx`` if ``H`` (and then ``c < dU``), the available marks of ``wx``
if ``c < dA`` otherwise, and an AVAIL bit equal to ``!wx`` (a previous lap; the zeroed ring
of RING-PACKED-004 is "used in the lap before the first", wrap bit 0) if ``c ≥ dA``.

* ``outstanding`` (RING-PACKED-090): ``dA ≤ Q`` and the device holds ``dR - dU ≤ Q``.
* ``marks`` (RING-PACKED-012, RING-PACKED-013, RING-PACKED-014, RING-PACKED-015, RING-PACKED-021):
the descriptor at the device's read position is
  available for its wrap bit iff ``dR < dA`` (the driver made it available in this lap);
  the one at the driver's used position is used for its wrap bit iff ``dU > 0``. A
  descriptor left from an earlier lap is neither.
* ``no_overwrite`` (RING-PACKED-022, RING-PACKED-023): add writes only positions that are not
  outstanding; push writes only a descriptor the device took and has not marked used, never
  one that holds a used descriptor the driver has not taken back.
"""

from __future__ import annotations

from collections.abc import Callable

import z3
from virtiospec.models import registry
from virtiospec.models.ring.packed.wrap import (
    INT,
    LOGIC,
    _position,
    advance,
    dist,
    is_avail,
    is_used,
    lap,
    rel,
    valid_size,
)
from virtiospec.models.z3util import (
    Action,
    Induction,
    Pred,
    State,
    System,
    Values,
    check_inductive,
)

POSITIONS = (("pa", "wa"), ("pr", "wr"), ("pu", "wu"), ("pd", "wd"))
NAMES = {"pa": "driver.next_avail", "wa": "driver.avail_wrap",
         "pr": "device.last_avail", "wr": "device.avail_wrap",
         "pu": "device.used_pos", "wu": "device.used_wrap",
         "pd": "driver.last_used", "wd": "driver.used_wrap"}


def _derive(s: State) -> State:
    q = s["Q"]
    d = lap(q, s["pd"], s["wd"])
    out: State = {"d" + p[1]: dist(q, d, lap(q, s[p], s[w])) for p, w in POSITIONS}
    out["c"] = rel(q, s["X"], s["pd"])  # the probe's step from the driver's used position
    out["wx"] = z3.Xor(s["wd"], s["X"] < s["pd"])  # and the wrap bit of that step
    return out


def build() -> System:
    def add(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        q, n = s["Q"], s["N"]
        pos, wrap, _ = advance(q, s["pa"], s["wa"], n)
        hit = rel(q, s["X"], s["pa"]) < n  # X is one of the n positions written
        mark = z3.Xor(s["wa"], s["X"] < s["pa"])  # the wrap bit of X's lap
        return s["da"] + n <= q, {
            "pa": pos, "wa": wrap,
            "fa": z3.If(hit, mark, s["fa"]), "fu": z3.If(hit, z3.Not(mark), s["fu"])}

    def pop(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        pos, wrap, _ = advance(s["Q"], s["pr"], s["wr"], s["N"])
        return s["dr"] + s["N"] <= s["da"], {"pr": pos, "wr": wrap}

    def push(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        pos, wrap, _ = advance(s["Q"], s["pu"], s["wu"], s["N"])
        hit = s["X"] == s["pu"]
        return s["du"] + s["N"] <= s["dr"], {
            "pu": pos, "wu": wrap, "fa": z3.If(hit, s["wu"], s["fa"]),
            "fu": z3.If(hit, s["wu"], s["fu"]), "h": z3.Or(s["h"], hit)}

    def get_used(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        n, c = s["N"], s["c"]
        pos, wrap, _ = advance(s["Q"], s["pd"], s["wd"], n)
        # RING-PACKED-026: the skip ends at the next used descriptor, if any
        lands = z3.And(z3.Not(z3.And(c > 0, c < n, s["h"])),
                       z3.Implies(z3.And(c == n, n < s["du"]), s["h"]))
        return z3.And(n <= s["du"], lands), {
            "pd": pos, "wd": wrap, "h": z3.And(s["h"], c >= n)}

    def text(verb: str, p: str) -> Callable[[Values, Values], str]:
        w = "w" + p[1]
        return lambda a, b: (f"{verb} {a['N']}: {NAMES[p]} {a[p]} (wrap {int(a[w])}) → "
                             f"{b[p]} (wrap {int(b[w])})")

    actions = [Action("driver add", "driver", add, text("add", "pa")),
               Action("device pop", "device", pop, text("pop", "pr")),
               Action("device push", "device", push, text("push", "pu")),
               Action("driver get_used", "driver", get_used, text("get_used", "pd"))]

    def init(s: State) -> z3.BoolRef:
        return z3.And(*(z3.And(s[p] == 0, s[w]) for p, w in POSITIONS),
                      z3.Not(s["fa"]), z3.Not(s["fu"]), z3.Not(s["h"]))

    variables: dict[str, z3.SortRef] = {p: INT for p, _ in POSITIONS}
    variables |= {w: z3.BoolSort() for _, w in POSITIONS}
    variables |= {"fa": z3.BoolSort(), "fu": z3.BoolSort(), "h": z3.BoolSort()}
    return System(
        variables=variables,
        params={"Q": INT, "X": INT, "N": INT},
        assume=lambda s: z3.And(valid_size(s["Q"]), _position(s["Q"], s["X"]),
                                s["N"] >= 1, s["N"] <= s["Q"]),
        init=init, actions=actions, show=_show, derive=_derive, logic=LOGIC)


def _show(v: Values) -> dict[str, object]:
    out: dict[str, object] = {NAMES[p]: f"{v[p]} (wrap {int(v[w])})" for p, w in POSITIONS}
    marks = ("AVAIL" if v["fa"] else "") + ("|USED" if v["fu"] else "")
    out[f"desc[{v['X']}].flags"] = marks.strip("|") or "0"
    out["Q"] = v["Q"]
    return out


INVARIANT: list[tuple[str, Pred]] = [
    ("positions in [0, Q)",
     lambda s: z3.And(*(_position(s["Q"], s[p]) for p, _ in POSITIONS))),
    ("dU ≤ dR ≤ dA ≤ Q (the chain)",
     lambda s: z3.And(s["du"] <= s["dr"], s["dr"] <= s["da"], s["da"] <= s["Q"])),
    ("H: X holds a used descriptor not taken back",
     lambda s: z3.Implies(s["h"], s["c"] < s["du"])),
    ("the driver's used position holds a used descriptor when there is one",
     lambda s: z3.Implies(z3.And(s["c"] == 0, s["du"] > 0), s["h"])),
    ("X used: the used marks of its lap",
     lambda s: z3.Implies(s["h"], z3.And(s["fa"] == s["wx"], s["fu"] == s["wx"]))),
    ("X outstanding, not used: the available marks of its lap",
     lambda s: z3.Implies(z3.And(s["c"] < s["da"], z3.Not(s["h"])),
                          z3.And(s["fa"] == s["wx"], s["fu"] != s["wx"]))),
    ("X free: AVAIL from the previous lap",
     lambda s: z3.Implies(s["c"] >= s["da"], s["fa"] != s["wx"])),
]


def _action_claim(name: str, claim: Pred) -> Pred:
    action = next(a for a in build().actions if a.name == name)

    def pred(s: State) -> z3.BoolRef:
        guard, _ = action.effect(s)
        return z3.Implies(guard, claim(s))

    return pred


def _evidence(result: Induction, what: str) -> registry.Evidence:
    if not result.ok:
        shown = _show(result.cti) if result.cti else {}
        return registry.Evidence(False, f"{result.failure}; state {shown}")
    return registry.Evidence(True, f"{what} ({result.queries} queries)",
                             stats={"queries": float(result.queries)})


def prove_ring(claims: list[tuple[str, Pred]]) -> Induction:
    return check_inductive(build(), INVARIANT, claims)


@registry.proof("ring.packed.wrap.outstanding", ("RING-PACKED-090", "RING-PACKED-012"),
                "outstanding ≤ Q and the device holds ≤ Q, positions and wrap bits in step, "
                "every Q ≤ 32768 and list sizes")
def prove_outstanding() -> registry.Evidence:
    claims: list[tuple[str, Pred]] = [
        ("outstanding descriptors ≤ Q", lambda s: s["da"] <= s["Q"]),
        ("descriptors the device holds ≤ Q", lambda s: s["dr"] - s["du"] <= s["Q"]),
    ]
    return _evidence(prove_ring(claims), "inductive chain of the four positions in lap "
                     "indices mod 2Q")


@registry.proof("ring.packed.wrap.marks",
                ("RING-PACKED-012", "RING-PACKED-013", "RING-PACKED-014", "RING-PACKED-015",
                 "RING-PACKED-021", "RING-PACKED-004"),
                "the device sees AVAIL == its wrap != USED exactly at descriptors made "
                "available; the driver sees used exactly at used ones; every Q ≤ 32768")
def prove_marks() -> registry.Evidence:
    claims: list[tuple[str, Pred]] = [
        ("device: available at its read position iff made available in this lap",
         lambda s: z3.Implies(s["X"] == s["pr"], is_avail(s["fa"], s["fu"], s["wr"])
                              == (s["dr"] < s["da"]))),
        ("driver: used at its used position iff the device marked it used",
         lambda s: z3.Implies(s["X"] == s["pd"], is_used(s["fa"], s["fu"], s["wd"])
                              == (s["du"] > 0))),
    ]
    return _evidence(prove_ring(claims), "for every position, by the probe")


@registry.proof("ring.packed.wrap.no_overwrite",
                ("RING-PACKED-022", "RING-PACKED-023", "RING-PACKED-032"),
                "add writes no outstanding descriptor; push writes only a descriptor the "
                "device took and has not marked used; every Q ≤ 32768")
def prove_no_overwrite() -> registry.Evidence:
    def add_writes_free(s: State) -> z3.BoolRef:
        written = rel(s["Q"], s["X"], s["pa"]) < s["N"]
        return z3.Implies(written, s["c"] >= s["da"])

    def push_writes_taken(s: State) -> z3.BoolRef:
        return z3.Implies(s["X"] == s["pu"], z3.And(s["du"] < s["dr"], z3.Not(s["h"])))

    claims: list[tuple[str, Pred]] = [
        ("driver add writes no outstanding descriptor", _action_claim("driver add",
                                                                      add_writes_free)),
        ("device push writes a descriptor it took, not one holding a used descriptor",
         _action_claim("device push", push_writes_taken)),
    ]
    return _evidence(prove_ring(claims), "for every position, by the probe")
