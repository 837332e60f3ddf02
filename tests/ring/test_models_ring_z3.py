"""The Z3 models of the split virtqueue: every proof holds, every known-bad variant is refuted
with a counterexample, and the proofs are not vacuous (the states they talk about are
reachable, and weakening the invariant or the protocol breaks them)."""

from __future__ import annotations

import pytest
import z3
from virtiospec.models import registry
from virtiospec.models.ring import index as ring_index
from virtiospec.models.ring import wakeup as ring_wakeup
from virtiospec.models.ring.wakeup import (
    AVAIL,
    C_SLEEP,
    CORRECT,
    DIRECTIONS,
    P_IDLE,
    USED,
    WAKEUP,
    Mode,
    Variant,
    build,
    find_lost_wakeup,
    invariant,
    prove_wakeup,
    reach,
    safety,
)
from virtiospec.models.z3util import State, bmc, replay
from wakeup_helpers import (
    MODES,
    assert_admitted_asleep,
    assert_every_conjunct_is_needed,
    assert_refuted_with_a_counterexample,
    assert_tso_only,
    bmc_agrees_with_the_search,
    mutants,
    proofs,
    reach_sleep_and_notification,
)


def _proofs() -> list[registry.Proof]:
    return proofs("ring.need_event.", "ring.index.", "ring.wakeup.")


def _mutants() -> list[registry.Mutant]:
    return mutants("ring.mutant.")


def test_the_expected_entries_are_registered() -> None:
    names = {p.name for p in _proofs()}
    assert {"ring.need_event.window", "ring.index.slot", "ring.index.outstanding",
            "ring.index.no_overwrite", "ring.index.exactly_once", "ring.wakeup.sc.flags",
            "ring.wakeup.sc.event_idx", "ring.wakeup.tso.flags",
            "ring.wakeup.tso.event_idx"} <= names
    assert {m.name for m in _mutants()} >= {
        f"ring.mutant.{n}" for n in ("driver-no-mb", "device-no-mb-enable", "device-no-recheck",
                                     "driver-no-recheck", "need-event-off-by-one",
                                     "device-no-mb-push", "event-stale")}


@pytest.mark.req("RING-SPLIT-001", "RING-SPLIT-090", "RING-SPLIT-091", "RING-SPLIT-092",
                 "RING-SPLIT-100", "RING-SPLIT-110", "RING-SPLIT-111")
@pytest.mark.parametrize("proof", _proofs(), ids=lambda p: p.name)
def test_proof_holds(proof: registry.Proof) -> None:
    ev = proof.run()
    assert ev.ok, ev.detail


@pytest.mark.req("RING-SPLIT-070", "RING-SPLIT-071", "RING-SPLIT-072", "RING-SPLIT-073",
                 "RING-SPLIT-100", "RING-SPLIT-110", "RING-SPLIT-111")
@pytest.mark.parametrize("mutant", _mutants(), ids=lambda m: m.name)
def test_mutant_is_refuted_with_a_counterexample(mutant: registry.Mutant) -> None:
    assert_refuted_with_a_counterexample(mutant)


@pytest.mark.req("RING-SPLIT-070", "RING-SPLIT-071", "RING-SPLIT-110", "RING-SPLIT-111")
def test_missing_producer_mb_is_a_tso_only_bug() -> None:
    for roles in DIRECTIONS:
        bug = Variant(producer_mb=False)
        for mode in MODES:
            assert_tso_only(WAKEUP, roles, mode, bug)
            assert find_lost_wakeup(roles, mode, True, bug) is not None


@pytest.mark.req("RING-SPLIT-072", "RING-SPLIT-073")
@pytest.mark.parametrize("bug", [Variant(consumer_mb=False), Variant(consumer_recheck=False),
                                 Variant(need_event="off_by_one"),
                                 Variant(event_write="last_seen_minus_one"),
                                 Variant(event_write="none")], ids=repr)
def test_every_variant_breaks_the_tso_proof(bug: Variant) -> None:
    for roles in DIRECTIONS:
        assert not prove_wakeup(roles, "event_idx", tso=True, variant=bug).ok


# -- not vacuous ------------------------------------------------------------------------------
@pytest.mark.parametrize("tso", [False, True], ids=["sc", "tso"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("roles", DIRECTIONS, ids=lambda r: r.direction)
def test_sleep_and_notification_are_reachable(roles: ring_wakeup.Roles, mode: Mode,
                                              tso: bool) -> None:
    # the consumer goes to sleep after consuming an entry, is notified of a later one...
    reach_sleep_and_notification(WAKEUP, roles, mode, tso, lambda s: s["P"] != s["L"])
    # ... and wakes up to take it
    woken = reach(roles, mode, tso, lambda s: z3.And(s["L"] == 2, s["P"] == 2),
                  max_depth=40)
    assert woken is not None
    # the invariant admits the states the safety property is about: a consumer asleep with
    # nothing pending while the producer has published five entries and not yet decided,
    # and one asleep with an idle producer that has published nothing new
    assert_admitted_asleep(WAKEUP, roles, mode, tso, [
        lambda s: z3.And(s["ppc"] != P_IDLE, s["P"] == s["L"] + 5),
        lambda s: z3.And(s["ppc"] == P_IDLE, s["P"] == s["L"])])


@pytest.mark.parametrize("tso", [False, True], ids=["sc", "tso"])
@pytest.mark.parametrize("mode", MODES)
def test_the_correct_protocol_has_no_short_counterexample(mode: Mode, tso: bool) -> None:
    """A bounded cross-check of the inductive proofs."""
    for roles in DIRECTIONS:
        assert find_lost_wakeup(roles, mode, tso, CORRECT, max_depth=20) is None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("roles", DIRECTIONS, ids=lambda r: r.direction)
def test_every_invariant_conjunct_is_needed(roles: ring_wakeup.Roles, mode: Mode) -> None:
    """Under x86-TSO, dropping any one conjunct leaves an invariant that is not inductive."""
    assert_every_conjunct_is_needed(build(roles, mode, tso=True), invariant(mode, tso=True),
                                    safety(True))


@pytest.mark.parametrize(("roles", "mode", "tso", "bug"), [
    (AVAIL, "event_idx", False, Variant(need_event="off_by_one")),
    (AVAIL, "flags", False, Variant(consumer_recheck=False)),
    (USED, "flags", True, Variant(producer_mb=False)),
    (USED, "event_idx", False, Variant(event_write="last_seen_minus_one")),
], ids=["off-by-one", "no-recheck", "no-mb-push", "event-stale"])
def test_symbolic_bmc_agrees_with_the_search(roles: ring_wakeup.Roles, mode: Mode, tso: bool,
                                             bug: Variant) -> None:
    """Symbolic BMC (any queue size) finds counterexamples of the same shortest length as
    the explicit-state search (queue of 256); both paths were replayed step by step with Z3's
    evaluator on the way out, and both end in a lost wakeup."""
    for path in bmc_agrees_with_the_search(WAKEUP, roles, mode, tso, bug, 20):
        end = path.final
        assert end["cpc"] == C_SLEEP and end["ppc"] == P_IDLE and not end["pend"]
        assert end["P"] != end["L"]


def test_replay_follows_the_guards() -> None:
    """The concrete replay (which confirms every path the search returns) refuses a step
    whose guard is false and follows the protocol otherwise."""
    system = build(AVAIL, "flags", tso=False)
    act = {a.name: a for a in system.actions}

    def pending(s: State) -> z3.BoolRef:
        return s["pend"]

    # nothing was published: the driver cannot kick
    assert replay(system, _first_state(), [act["producer notifies"]], pending) is None
    publish = [act["producer stores a ring entry; wmb"], act["producer stores idx"],
               act["producer mb; loads the suppression field"], act["producer notifies"]]
    states = replay(system, _first_state(), publish, pending)
    assert states is not None and len(states) == 5
    assert states[-1]["M"] == 1 and states[-1]["ppc"] == P_IDLE


def _first_state() -> dict[str, int | bool]:
    return {"ppc": P_IDLE, "P": 0, "bold": 0, "bM": 0, "rd": False, "cpc": C_SLEEP, "bL": 0,
            "dis": False, "S": 0, "cn": 0, "cb0": 0, "cb1": 0, "pend": False,
            "Q": 256, "B": 0xFFFF}


@pytest.mark.req("RING-SPLIT-090")
def test_index_model_reaches_a_full_queue() -> None:
    """Non-vacuity of the index proofs: the driver can fill a queue of 4, the device can
    pop, push and the driver take back, with the indices wrapping past 65535 if started
    near it (induction covers every start; here the concrete run starts at 0)."""
    system = ring_index.build()
    full = bmc(system, lambda s: z3.And(s["oA"] == s["Q"], s["Q"] == 4), 8)
    assert full is not None and full.length == 4
    cycle = bmc(system, lambda s: z3.And(s["Ld"] == 1, s["Q"] == 1), 8)
    assert cycle is not None and cycle.length == 6  # add, publish, pop, push, publish, get
