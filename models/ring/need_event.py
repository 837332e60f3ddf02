"""``vring_need_event`` (RING-SPLIT-100), proved over all 2^48 triples of 16-bit values.

    vring_need_event(event, new, old) = (u16)(new - event - 1) < (u16)(new - old)

A producer (the driver deciding a kick, RING-SPLIT-063; the device deciding an interrupt,
RING-SPLIT-053) that moved its index from ``old`` to ``new`` since its previous decision asks
whether the consumer's event index lies among the entries it just published. The proofs:

* ``window``: the formula is *exactly* "``event`` lies in the half-open window ``[old, new)``
  counted modulo 2^16", i.e. ``(u16)(event - old) < (u16)(new - old)``, for every 16-bit
  value of the three; no side condition is needed for that identity.
* ``empty``: it is false whenever ``new == old``. Modulo 2^16 this is also what the producer
  computes after exactly 2^16 additions between two decisions, and more generally after
  ``k + 2^16`` additions it sees only the last ``k``: distances are counted modulo 2^16.
  RING-SPLIT-090 (outstanding ≤ Q ≤ 32768) bounds what the consumer has not seen, *not* how
  many entries a producer may publish between two decisions while the consumer keeps up,
  so the producer itself must decide at least once every 2^16 - 1 additions (Linux forces
  a kick when ``num_added`` reaches 65535; vhost drops ``signalled_used_valid``).
* ``once``: for consecutive decisions ``old → mid → new`` whose total distance does not wrap,
  the two windows partition ``[old, new)``: the crossing of an event index triggers
  exactly one notification decision, never two and never none.
"""

from __future__ import annotations

import z3
from virtiospec.models import registry
from virtiospec.models.z3util import satisfiable, valid

U16 = 16


def vring_need_event(event: z3.BitVecRef, new: z3.BitVecRef, old: z3.BitVecRef) -> z3.BoolRef:
    """The formula of VIRTIO 1.4 §2.7.7.2, on 16-bit bit-vectors (u16 arithmetic wraps)."""
    return z3.ULT(new - event - 1, new - old)


def in_window(event: z3.BitVecRef, old: z3.BitVecRef, new: z3.BitVecRef) -> z3.BoolRef:
    """``event`` ∈ [old, new) modulo 2^16: its distance from ``old`` is below the window's."""
    return z3.ULT(event - old, new - old)


def _u16(name: str) -> z3.BitVecRef:
    return z3.BitVec(name, U16)


def _fail(what: str, model: z3.ModelRef, names: tuple[str, ...]) -> registry.Evidence:
    env = {n: model.eval(_u16(n), model_completion=True).as_long() for n in names}
    return registry.Evidence(False, f"{what}: counterexample {env}")


@registry.proof("ring.need_event.window", ("RING-SPLIT-100",),
                "vring_need_event(e,new,old) ⇔ e ∈ [old,new) mod 2^16, for all 16-bit values")
def prove_window() -> registry.Evidence:
    e, new, old = _u16("event"), _u16("new"), _u16("old")
    m = valid(vring_need_event(e, new, old) == in_window(e, old, new))
    if m is not None:
        return _fail("window", m, ("event", "new", "old"))
    return registry.Evidence(True, "identity holds for all 2^48 (event, new, old)",
                             stats={"queries": 1})


@registry.proof("ring.need_event.empty", ("RING-SPLIT-100", "RING-SPLIT-053", "RING-SPLIT-063"),
                "no notification when new == old (also after exactly 2^16 additions)")
def prove_empty() -> registry.Evidence:
    e, idx = _u16("event"), _u16("idx")
    m = valid(z3.Not(vring_need_event(e, idx, idx)))
    if m is not None:
        return _fail("empty", m, ("event", "idx"))
    return registry.Evidence(
        True, "need_event(e, i, i) is false for every e, i: a producer must decide at least "
              "once every 2^16 - 1 additions, which RING-SPLIT-090 does not by itself imply",
        stats={"queries": 1})


@registry.proof("ring.need_event.once", ("RING-SPLIT-100", "RING-SPLIT-053", "RING-SPLIT-063"),
                "decisions old→mid→new notify exactly once for an event in [old,new)")
def prove_once() -> registry.Evidence:
    e, old, mid, new = _u16("event"), _u16("old"), _u16("mid"), _u16("new")
    # the real number of additions old→mid→new is (mid-old)+(new-mid); it must stay < 2^16
    first, second = mid - old, new - mid
    no_wrap = z3.ULT(z3.ZeroExt(1, first) + z3.ZeroExt(1, second), 1 << U16)
    a, b = vring_need_event(e, mid, old), vring_need_event(e, new, mid)
    claim = z3.And(z3.Not(z3.And(a, b)), z3.Or(a, b) == vring_need_event(e, new, old))
    m = valid(claim, no_wrap)
    if m is not None:
        return _fail("once", m, ("event", "old", "mid", "new"))
    # the no-wrap hypothesis is needed: without it an event can be notified twice
    twice = satisfiable(a, b)
    if twice is None:
        return registry.Evidence(False, "the no-wrap hypothesis should be necessary")
    return registry.Evidence(
        True, "the windows [old,mid) and [mid,new) partition [old,new) whenever "
              "(mid-old)+(new-mid) < 2^16; without that bound an event can be notified twice",
        stats={"queries": 2})
