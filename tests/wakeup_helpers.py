"""What the tests of the split and the packed lost-wakeup models check alike
(tests/ring/test_models_ring_z3.py, test_models_ring_packed_z3.py): the registered proofs
hold, the known-bad variants are refuted with a readable counterexample, every invariant
conjunct is needed, the states the safety property talks about are reachable and admitted,
a missing barrier is a bug of x86-TSO only, and symbolic BMC agrees with the search."""

from __future__ import annotations

from typing import Any

import z3
from virtiospec.models import registry
from virtiospec.models.ring.wakeup_base import C_SLEEP, Mode, Named, Wakeup
from virtiospec.models.z3util import Path, Pred, State, System, bmc, check_inductive

MODES: tuple[Mode, ...] = ("flags", "event_idx")

AnyWakeup = Wakeup[Any, Any]


def proofs(*prefixes: str) -> list[registry.Proof]:
    registry.discover()
    return [p for n, p in registry.PROOFS.items() if n.startswith(prefixes)]


def mutants(prefix: str, method: str = "z3") -> list[registry.Mutant]:
    registry.discover()
    return [m for n, m in registry.MUTANTS.items()
            if n.startswith(prefix) and m.method == method]


def assert_refuted_with_a_counterexample(mutant: registry.Mutant) -> None:
    """The variant is caught, and its trace runs from the initial state to a consumer asleep
    and a producer idle, each step taken by a side or by memory."""
    ev = mutant.run()
    assert ev.ok, ev.detail
    assert len(ev.trace) >= 2 and ev.stats["steps"] == len(ev.trace) - 1
    last = ev.trace[-1].state
    assert "asleep" in last.values() and "idle" in last.values(), last
    assert all(step.side in ("driver", "device", "memory", "env") for step in ev.trace)


def assert_every_conjunct_is_needed(system: System, full: Named, safety: Named) -> None:
    """Dropping any one conjunct leaves an invariant that is not inductive: the proof's
    strength comes from the invariant, not from a degenerate model."""
    assert check_inductive(system, full, safety).ok
    for name, _ in full:
        weaker = [(n, p) for n, p in full if n != name]
        assert not check_inductive(system, weaker, safety).ok, name


def reach_sleep_and_notification(model: AnyWakeup, roles: Any, mode: Mode, tso: bool,
                                 unseen: Pred) -> None:
    """The consumer goes to sleep after taking an entry, and a sleeping consumer with an
    ``unseen`` entry is notified (the producer's last step is the notification)."""
    asleep = model.reach(roles, mode, tso, lambda s: z3.And(s["cpc"] == C_SLEEP, s["L"] == 1))
    assert asleep is not None
    notified = model.reach(roles, mode, tso,
                           lambda s: z3.And(s["pend"], s["cpc"] == C_SLEEP, unseen(s)))
    assert notified is not None and notified.steps[-1].action == roles.notification


def assert_admitted_asleep(model: AnyWakeup, roles: Any, mode: Mode, tso: bool,
                           extras: list[Pred]) -> None:
    """The invariant admits a consumer asleep with nothing pending in each of ``extras``."""
    for extra in extras:
        def asleep(s: State, e: Pred = extra) -> z3.BoolRef:
            return z3.And(s["cpc"] == C_SLEEP, z3.Not(s["pend"]), e(s))

        assert model.invariant_allows(roles, mode, tso, asleep)


def assert_tso_only(model: AnyWakeup, roles: Any, mode: Mode, bug: Any) -> None:
    """``bug`` is proved safe under SC, its TSO proof fails, and no short SC run loses a
    wakeup."""
    assert model.prove_wakeup(roles, mode, tso=False, variant=bug).ok
    assert not model.prove_wakeup(roles, mode, tso=True, variant=bug).ok
    assert model.find_lost_wakeup(roles, mode, False, bug, max_depth=20) is None


def bmc_agrees_with_the_search(model: AnyWakeup, roles: Any, mode: Mode, tso: bool,
                               bug: Any, depth: int) -> tuple[Path, Path]:
    """Symbolic BMC (any parameter values) and the explicit-state search (the model's search
    values) find lost wakeups of the same shortest length; both paths are returned."""
    symbolic = bmc(model.build(roles, mode, tso, bug), model.lost_wakeup, depth)
    explicit = model.find_lost_wakeup(roles, mode, tso, bug)
    assert symbolic is not None and explicit is not None
    assert symbolic.length == explicit.length
    return symbolic, explicit
