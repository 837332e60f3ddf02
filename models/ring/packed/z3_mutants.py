"""Known-bad variants of the packed ring's notification protocol, refuted by Z3's transition
system (models/ring/packed/wakeup.py) with a shortest counterexample.

Each mutant switches one thing off in the *same* system that ``ring.packed.wakeup.*`` proves
correct (a :class:`~virtiospec.models.ring.packed.wakeup.Variant`); the inductive proof then
fails, and a breadth-first search of the system, with the transitions compiled from the Z3
terms and every step of the result re-checked by Z3's evaluator (z3util.search), finds a
shortest execution from the initial state to a lost wakeup: the consumer asleep, nothing
pending, the producer idle, and a list the consumer has not taken. The search runs for a
queue of 3 (not a power of 2) and lists of one descriptor; the tests replay counterexamples
in the Python reference (the ``ring.packed.ref.*`` variants of models/ring/packed/mutants.py)
and find the same lost wakeup there.

As for the split ring, a variant whose inductive proof still holds under SC needs x86-TSO
store buffering to show, and its counterexample is searched under TSO only; otherwise under
SC first (the shorter story), and under TSO as well for the lengths reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtiospec.models import registry
from virtiospec.models.ring.packed import wakeup as packed
from virtiospec.models.ring.packed.wakeup import AVAIL, USED, Mode, Roles, Variant, show_off_wrap
from virtiospec.models.z3util import Path

MAX_DEPTH = 40
BOTH: tuple[Mode, ...] = ("flags", "event_idx")
DESC: tuple[Mode, ...] = ("event_idx",)


@dataclass(frozen=True)
class Bug:
    roles: Roles  # the direction whose protocol the bug breaks
    variant: Variant
    modes: tuple[Mode, ...]  # ENABLE/DISABLE, DESC: where the bug is refuted
    tso_only: bool  # expected: the SC proof still holds (the bug needs store buffers)


def refute(bug: Bug) -> registry.Evidence:
    """ok=True iff, in every mode of ``bug``, the inductive proof fails and a lost wakeup is
    found (under SC only if the SC proof fails); the trace is the shortest counterexample of
    the first mode."""
    found: list[tuple[Mode, str, Path]] = []
    problems: list[str] = []
    for mode in bug.modes:
        sc_holds = packed.prove_wakeup(bug.roles, mode, tso=False, variant=bug.variant).ok
        if packed.prove_wakeup(bug.roles, mode, tso=True, variant=bug.variant).ok:
            problems.append(f"{mode}: the x86-TSO proof still holds")
        if sc_holds != bug.tso_only:
            problems.append(f"{mode}: the SC proof {'holds' if sc_holds else 'fails'}")
        models = (("x86-TSO", True),) if sc_holds else (("SC", False), ("x86-TSO", True))
        for name, tso in models:
            path = packed.find_lost_wakeup(bug.roles, mode, tso, bug.variant, MAX_DEPTH)
            if path is None:
                problems.append(f"{mode}: no lost wakeup within {MAX_DEPTH} steps under {name}")
            else:
                found.append((mode, name, path))
    if problems or not found:
        return registry.Evidence(False, "; ".join(problems) or "nothing found")
    r = bug.roles
    _, _, shown = found[0]
    end = shown.final
    q = int(end["Q"])

    def at(lap_: int) -> str:
        return show_off_wrap(lap_ % q | (lap_ < q) << 15)

    lengths = ", ".join(f"{m}/{name} {p.length} steps" + (" (shown)" if k == 0 else "")
                        for k, (m, name, p) in enumerate(found))
    detail = (f"lost {r.notification}: {r.consumer} asleep, {r.producer} idle at "
              f"{r.shadow} = {at(int(end['P']))}, {r.last_seen} = {at(int(end['L']))}, no "
              f"{r.notification} pending (Q = {q}). Shortest counterexamples: {lengths}.")
    if bug.tso_only:
        detail += " Under SC the variant is proved safe (inductive invariant): only x86-TSO " \
                  "store buffering exposes it."
    return registry.Evidence(True, detail, trace=shown.steps,
                             stats={"steps": float(shown.length)})


BUGS: dict[str, tuple[str, tuple[str, ...], Bug]] = {
    "driver-no-mb-kick": (
        "kick_prepare loads the device's event suppression structure without the mb after "
        "the flags store", ("RING-PACKED-051", "RING-PACKED-110"),
        Bug(AVAIL, Variant(producer_mb=False), BOTH, tso_only=True)),
    "device-no-mb-notify": (
        "should_notify loads the driver's event suppression structure without the mb after "
        "the flags store", ("RING-PACKED-053", "RING-PACKED-111"),
        Bug(USED, Variant(producer_mb=False), BOTH, tso_only=True)),
    "device-no-mb-enable": (
        "enable_notify re-reads the flags at its read position without the mb after "
        "re-enabling", ("RING-PACKED-070", "RING-PACKED-110"),
        Bug(AVAIL, Variant(consumer_mb=False), BOTH, tso_only=True)),
    "driver-no-mb-enable": (
        "enable_cb re-reads the flags at its used position without the mb after re-enabling",
        ("RING-PACKED-071", "RING-PACKED-111"),
        Bug(USED, Variant(consumer_mb=False), BOTH, tso_only=True)),
    "device-no-recheck": (
        "enable_notify sleeps right after re-enabling, without the mb and the re-read of its "
        "read position",
        ("RING-PACKED-070", "RING-PACKED-110"),
        Bug(AVAIL, Variant(consumer_recheck=False), BOTH, tso_only=False)),
    "driver-no-recheck": (
        "enable_cb sleeps right after re-enabling, without the mb and the re-read of its used "
        "position",
        ("RING-PACKED-071", "RING-PACKED-111"),
        Bug(USED, Variant(consumer_recheck=False), BOTH, tso_only=False)),
    "event-off-by-one": (
        "should_notify takes the window as (old, new] instead of [old, new): the driver's "
        "off_wrap at old is missed", ("RING-PACKED-062", "RING-PACKED-064", "RING-PACKED-111"),
        Bug(USED, Variant(window="off_by_one"), DESC, tso_only=False)),
    "event-ignores-wrap": (
        "kick_prepare ignores the wrap bit of the device's off_wrap and takes the position in "
        "its own current lap", ("RING-PACKED-003", "RING-PACKED-063", "RING-PACKED-064",
                                "RING-PACKED-110"),
        Bug(AVAIL, Variant(window="ignores_wrap"), DESC, tso_only=False)),
}


def _register(name: str, bug: str, reqs: tuple[str, ...], spec: Bug) -> None:
    def run() -> registry.Evidence:
        return refute(spec)

    registry.mutant(name, bug, reqs, "z3")(run)


# name, key of BUGS
REGISTERED: tuple[tuple[str, str], ...] = (
    ("ring.packed.z3.driver-no-mb-kick", "driver-no-mb-kick"),
    ("ring.packed.z3.device-no-mb-notify", "device-no-mb-notify"),
    ("ring.packed.z3.device-no-mb-enable", "device-no-mb-enable"),
    ("ring.packed.z3.driver-no-mb-enable", "driver-no-mb-enable"),
    ("ring.packed.z3.device-no-recheck", "device-no-recheck"),
    ("ring.packed.z3.driver-no-recheck", "driver-no-recheck"),
    ("ring.packed.z3.event-off-by-one", "event-off-by-one"),
    ("ring.packed.z3.event-ignores-wrap", "event-ignores-wrap"),
)
if [key for _, key in REGISTERED] != list(BUGS):
    raise ValueError("REGISTERED must name every bug of BUGS, in its order")
for _name, _key in REGISTERED:
    _register(_name, *BUGS[_key])
