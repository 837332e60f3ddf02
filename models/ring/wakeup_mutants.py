"""Known-bad variants of the notification protocol, refuted by bounded model checking.

Each mutant switches one thing off in the *same* transition system that ring_wakeup.py
proves correct (a :class:`~virtiospec.models.ring.wakeup.Variant`), and a bounded search of
that system finds a shortest execution from the initial state to a lost wakeup: the consumer
asleep, nothing pending, the producer idle, and an entry the consumer has not seen. The
search is explicit-state, breadth first, over guards and assignments compiled from the Z3
terms (z3util.search); each step of the counterexample is then re-checked by Z3's
evaluator, and the tests check that symbolic BMC (z3util.bmc) finds the same lengths. The
counterexample is returned as readable steps (``virtiospec prove --mutants --trace``).

For each mutant the variant is first run through the inductive proof under SC: when that
still holds, the bug needs x86-TSO store buffering to show, and the counterexample is
searched under TSO only; otherwise it is searched under SC first (the shorter story).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from virtiospec.models import registry
from virtiospec.models.ring.wakeup import (
    AVAIL,
    USED,
    Mode,
    Roles,
    Variant,
    find_lost_wakeup,
    prove_wakeup,
)
from virtiospec.models.z3util import Path

MAX_DEPTH = 40


@dataclass(frozen=True)
class Bug:
    roles: Roles  # the direction whose protocol the bug breaks
    variant: Variant
    modes: tuple[Mode, ...]  # feature sets in which the bug is refuted


def refute(bug: Bug) -> registry.Evidence:
    """ok=True iff a lost wakeup is found in every mode of ``bug``; the trace shown is the
    shortest counterexample of the first mode."""
    found: list[tuple[Mode, str, Path]] = []
    missing: list[str] = []
    sc_safe: list[Mode] = []
    for mode in bug.modes:
        if prove_wakeup(bug.roles, mode, tso=False, variant=bug.variant).ok:
            sc_safe.append(mode)
        models = (("x86-TSO", True),) if mode in sc_safe else (("SC", False), ("x86-TSO", True))
        for name, tso in models:
            path = find_lost_wakeup(bug.roles, mode, tso, bug.variant, MAX_DEPTH)
            if path is not None:
                found.append((mode, name, path))
                break
        else:
            missing.append(f"{mode}: no lost wakeup within {MAX_DEPTH} steps under SC or "
                           "x86-TSO")
    if missing:
        return registry.Evidence(False, "; ".join(missing))
    r = bug.roles
    _, _, shown = found[0]
    lengths = ", ".join(f"{mode}/{name} {p.length} steps" + (" (shown)" if k == 0 else "")
                        for k, (mode, name, p) in enumerate(found))
    detail = (f"lost {r.notification}: {r.consumer} asleep, {r.producer} idle with "
              f"{r.shadow} = {shown.final['P']}, {r.last_seen} = {shown.final['L']}, no "
              f"{r.notification} pending. Shortest counterexamples: {lengths}.")
    if sc_safe:
        detail += (f" Under SC the variant is proved safe ({', '.join(sc_safe)}, inductive "
                   "invariant): only x86-TSO store buffering exposes it.")
    return registry.Evidence(True, detail, trace=shown.steps,
                             stats={"steps": float(shown.length)})


BOTH: tuple[Mode, ...] = ("flags", "event_idx")
EVENT: tuple[Mode, ...] = ("event_idx",)

# name: the bug, the requirements it breaks, and the variant of the direction it breaks
MUTANTS: dict[str, tuple[str, tuple[str, ...], Bug]] = {
    "ring.mutant.driver-no-mb": (
        "driver omits the mb between storing avail.idx and loading used.flags / avail_event "
        "(kick_prepare)", ("RING-SPLIT-070", "RING-SPLIT-110"),
        Bug(AVAIL, Variant(producer_mb=False), BOTH)),
    "ring.mutant.device-no-mb-enable": (
        "device omits the mb between re-enabling kicks (used.flags := 0 / avail_event := "
        "last_avail) and re-reading avail.idx", ("RING-SPLIT-072", "RING-SPLIT-110"),
        Bug(AVAIL, Variant(consumer_mb=False), BOTH)),
    "ring.mutant.device-no-recheck": (
        "device sleeps right after re-enabling kicks, without re-reading avail.idx",
        ("RING-SPLIT-072", "RING-SPLIT-110"), Bug(AVAIL, Variant(consumer_recheck=False), BOTH)),
    "ring.mutant.driver-no-recheck": (
        "driver waits for an interrupt right after re-enabling interrupts, without re-reading "
        "used.idx", ("RING-SPLIT-073", "RING-SPLIT-111"),
        Bug(USED, Variant(consumer_recheck=False), BOTH)),
    "ring.mutant.need-event-off-by-one": (
        "driver decides to kick with (u16)(new - event) < (u16)(new - old), i.e. event in "
        "(old, new] instead of [old, new)", ("RING-SPLIT-100", "RING-SPLIT-063", "RING-SPLIT-110"),
        Bug(AVAIL, Variant(need_event="off_by_one"), EVENT)),
    "ring.mutant.device-no-mb-push": (
        "device omits the mb between storing used.idx and loading avail.flags / used_event "
        "(should_notify)", ("RING-SPLIT-071", "RING-SPLIT-111"),
        Bug(USED, Variant(producer_mb=False), BOTH)),
    "ring.mutant.event-stale": (
        "driver re-enables interrupts with used_event := last_used - 1 instead of last_used "
        "(asks to be told of an entry it has already seen)",
        ("RING-SPLIT-051", "RING-SPLIT-073", "RING-SPLIT-111"),
        Bug(USED, Variant(event_write="last_seen_minus_one"), EVENT)),
    "ring.mutant.event-not-written": (
        "driver re-enables interrupts without writing used_event (it keeps the value of an "
        "earlier store)", ("RING-SPLIT-051", "RING-SPLIT-073", "RING-SPLIT-111"),
        Bug(USED, Variant(event_write="none"), EVENT)),
}
for _name, (_bug, _reqs, _variant) in MUTANTS.items():
    registry.mutant(_name, _bug, _reqs, "z3")(partial(refute, _variant))
