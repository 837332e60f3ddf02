"""The ring on shm-signal (issue 16): the composed proofs hold and are not vacuous, every
known-bad variant at the seam is caught by Z3 and by the machine stepping the reference, the
correct reference passes the machines, and the clock over the stack keeps its promises under
x86-TSO and PSO while a reader without its second sequence check is caught."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from virtiospec.models import registry
from virtiospec.models.memory.tso import Mode
from virtiospec.models.ring import on_shm_proof as proof
from virtiospec.models.ring import on_shm_z3 as z3model
from virtiospec.models.ring.on_shm_figures import layer_of, layered_svg
from virtiospec.models.ring.on_shm_machine import RingOnShmConfig, run_ring_on_shm
from virtiospec.models.ring.on_shm_mutants import (
    BUGS,
    PLANTED,
    PREEMPT_AFTER_POP,
    PREEMPT_AFTER_RECHECK,
    RACE,
    SeamBug,
    refute_ref,
    refute_z3,
    run_schedule,
)
from virtiospec.models.shm.ref_mutants import WriterNoWmbAfterData
from virtiospec.models.stack.clock import StackClockConfig, run_stack_clock
from virtiospec.models.stack.ring import PLANTED as STACK_PLANTED
from virtiospec.models.stack.ring import StackRingConfig, run_stack_ring
from virtiospec.models.z3util import check_inductive
from virtiospec.reference.ring.on_shm import Seam
from virtiospec.reference.stack.net_stack import Stack, StackOptions


@pytest.mark.parametrize("tso", [False, True])
@pytest.mark.parametrize("feature", ["flags", "event_idx"])
@pytest.mark.parametrize("roles", z3model.DIRECTIONS, ids=lambda r: r.direction)
def test_the_composed_protocol_is_inductive(roles: z3model.Roles, feature: z3model.Mode,
                                            tso: bool) -> None:
    res = proof.prove(roles, feature, tso)
    assert res.ok, res.failure


def test_the_claims_are_not_vacuous() -> None:
    for roles in z3model.DIRECTIONS:
        assert proof.witnesses(roles, "event_idx", True) == []


def test_the_invariant_is_needed() -> None:
    """Dropping the key conjunct (K1: waiting with nothing in flight) breaks induction."""
    system = z3model.build(z3model.KICK, "flags", True)
    inv = [c for c in proof.invariant("flags", True, z3model.KICK)
           if not c[0].startswith("waiting, nothing in flight")]
    assert not check_inductive(system, inv, proof.SAFETY).ok


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_each_seam_variant_is_refuted_by_z3(bug: SeamBug) -> None:
    ev = refute_z3(bug)
    assert ev.ok, ev.detail
    assert ev.trace and ev.stats["steps"] <= 30


def test_a_missing_barrier_after_pending_is_not_seen_under_sc() -> None:
    seam = z3model.variant(enabled_mb=False)
    assert proof.counterexample(z3model.CALL, "flags", False, seam, 30) is None
    assert proof.counterexample(z3model.CALL, "flags", True, seam, 30) is not None


def test_the_barrier_before_the_pending_load_is_redundant_in_the_ring() -> None:
    """SHM-SIGNAL-003's mb follows the ring decision's mb with no store between: the proof
    holds without it (x86-TSO, both directions)."""
    seam = z3model.variant(pending_mb=False)
    for roles in z3model.DIRECTIONS:
        assert proof.prove(roles, "event_idx", True, seam).ok


def test_acknowledging_before_the_ring_recheck_is_covered_by_it() -> None:
    """An acknowledgement after consuming but before the ring's re-check loses nothing within
    40 steps under SC; one after the re-check loses a wakeup."""
    late = z3model.variant(ack="after_consume")
    later = z3model.variant(ack="after_ring_recheck")
    for roles in z3model.DIRECTIONS:
        assert proof.counterexample(roles, "flags", False, late, 40) is None
        assert proof.counterexample(roles, "flags", False, later, 40) is not None


@pytest.mark.parametrize("mode", ["sc", "tso", "pso"])
@pytest.mark.parametrize("event_idx", [False, True])
def test_the_composed_reference_passes_the_machine(mode: Mode, event_idx: bool) -> None:
    ev = run_ring_on_shm(RingOnShmConfig(mode=mode, event_idx=event_idx), 12,
                         derandomize=True)
    assert ev.ok, ev.detail
    assert ev.stats["buffers returned"] > 0


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_each_seam_variant_is_caught_by_the_machine(bug: SeamBug) -> None:
    ev = refute_ref(bug)
    assert ev.ok, ev.detail
    assert any(r in ev.detail for r in bug.reqs)


def test_the_seam_switches_default_to_the_protocol() -> None:
    assert Seam() == Seam(ack_in_begin=True, ring_enable=True, ring_recheck=True,
                          signal_enable=True, signal_recheck=True, via_signal=True,
                          obey_injection=True)


def test_everything_is_registered() -> None:
    assert {f"ring_on_shm.{m}.{f}" for m in ("sc", "tso") for f in ("flags", "event_idx")} \
        <= set(registry.PROOFS)
    assert {f"ring_on_shm.{m}.{f}" for m in ("sc", "tso", "pso")
            for f in ("flags", "event_idx")} <= set(registry.CHECKS)
    for bug in BUGS:
        assert f"ring_on_shm.mutant.{bug.name}.z3" in registry.MUTANTS
        assert f"ring_on_shm.mutant.{bug.name}.ref" in registry.MUTANTS
    cited = {r for table in (registry.PROOFS, registry.CHECKS, registry.MUTANTS)
             for e in table.values() for r in e.reqs}
    caught = {r for e in registry.MUTANTS.values() for r in e.reqs}
    for rid in ("SHM-RING-001", "SHM-RING-002", "SHM-RING-003", "SHM-RING-004",
                "SHM-RING-006"):
        assert rid in cited
    for rid in ("SHM-RING-003", "SHM-RING-004", "SHM-RING-006"):
        assert rid in caught


# -- the clock over the stack (models/stack/clock.py) ---------------------------------------

@pytest.mark.parametrize("mode", ["tso", "pso"])
def test_the_clock_over_the_stack_keeps_its_promises(mode: Mode) -> None:
    ev = run_stack_clock(StackClockConfig(mode=mode), 10, derandomize=True)
    assert ev.ok, ev.detail
    assert ev.stats["times acted on"] > 0 and ev.stats["steps"] > 0


def test_a_reader_without_its_second_seq_load_tears_over_the_stack() -> None:
    ev = registry_mutant("stack.clock.mutant.reader_no_recheck.pso")
    assert ev.ok and "SHM-TABLE-007" in ev.detail, ev.detail


def test_a_writer_without_its_last_wmb_tears_under_pso_only() -> None:
    assert registry_mutant("stack.clock.mutant.writer_no_wmb_after_data.pso").ok
    ev = run_stack_clock(StackClockConfig(mode="tso", writer_cls=WriterNoWmbAfterData), 15,
                         derandomize=True, shrink=False)
    assert ev.ok, ev.detail


def registry_mutant(name: str) -> registry.Evidence:
    return registry.MUTANTS[name].run()  # registered by the modules imported above


def test_a_seam_counterexample_is_drawn_with_a_lane_per_layer() -> None:
    bug = next(b for b in BUGS if b.name == "transport_disobeys")
    trace = refute_z3(bug).trace
    previous: dict[str, str] = {}
    lanes = [layer_of(step, previous) for step in trace]
    assert {"device.ring", "device.signal", "transport"} <= set(lanes)
    svg = layered_svg(trace, bug.name)
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg")
    for title in ("driver · ring", "driver · signal", "transport", "device · signal"):
        assert title in svg


def test_the_correct_reference_survives_the_race_schedule() -> None:
    """The schedule that catches the injection without its barrier is one the protocol
    passes: the correct sender finds enabled set after its barrier and notifies."""
    ev = run_schedule(RingOnShmConfig(mode="tso"), RACE)
    assert ev.ok, ev.detail


@pytest.mark.parametrize("name", ["ring_on_shm.mutant.layer.ring.device_no_mb_notify.ref",
                                  "ring_on_shm.mutant.layer.ring.used_idx_wrap.ref",
                                  "ring_on_shm.mutant.layer.signal.receiver_no_recheck.ref"])
def test_a_layer_variant_planted_in_the_composition_is_caught(name: str) -> None:
    cfg = next(c for n, _, _, c in PLANTED if n == name)
    ev = run_ring_on_shm(cfg, 400, derandomize=True, shrink=False)
    assert not ev.ok and ev.stats.get("violation") == 1.0, ev.detail


# -- a queue of the network stack (models/stack/ring.py) --------------------------------------

@pytest.mark.parametrize("mode", ["sc", "tso"])
def test_a_queue_of_the_stack_passes_interleaved(mode: Mode) -> None:
    ev = run_stack_ring(StackRingConfig(mode=mode), 8, derandomize=True)
    assert ev.ok, ev.detail
    assert ev.stats["buffers returned"] > 0


def test_a_misprogrammed_msix_vector_is_caught_at_stack_level() -> None:
    cfg = next(c for n, _, _, c in STACK_PLANTED
               if n == "stack.ring.mutant.virtio_pci.tx_vector_of_rx")
    ev = run_stack_ring(cfg, 100, derandomize=True, shrink=False)
    assert not ev.ok and "SHM-RING-004" in ev.detail, ev.detail


@pytest.mark.parametrize("schedule", [PREEMPT_AFTER_POP, PREEMPT_AFTER_RECHECK],
                         ids=["after-pop", "after-recheck"])
def test_the_correct_reference_survives_the_preemptions(
        schedule: list[tuple[str, dict[str, object]]]) -> None:
    ev = run_schedule(RingOnShmConfig(mode="sc"), schedule)
    assert ev.ok, ev.detail


@pytest.mark.parametrize(("name", "req"), [
    ("signal.receiver_no_recheck", "SHM-RING-004"), ("signal.inject_without_mb", "SHM-RING-004"),
    ("ring.device_no_recheck", "SHM-RING-004"), ("driver.reinit_live_queue", "SHM-RING-007")])
def test_a_layer_variant_is_caught_in_the_stacks_queue(name: str, req: str) -> None:
    ev = registry_mutant(f"stack.ring.mutant.{name}")
    assert ev.ok and req in ev.detail, ev.detail


def test_an_unreduced_slot_is_refused_out_of_bounds() -> None:
    ev = registry_mutant("ring_on_shm.mutant.layer.ring.device_slot_not_reduced.ref")
    assert ev.ok and "SHM-RING-001" in ev.detail, ev.detail


def test_overlapping_queues_are_refused_at_go_live() -> None:
    ev = registry_mutant("stack.ring.mutant.driver.overlapping_queues")
    assert ev.ok and "SHM-RING-005" in ev.detail, ev.detail
    ok = Stack(StackOptions(queue_size=4))
    ok.bring_up()  # the placement is restored: the real driver's queues go live
    assert ok.function.error is None
