"""Known-bad variants at the seam of ring and shm-signal, each refuted twice: by the Z3 model
(models/ring/on_shm_z3.py, a shortest counterexample: ``ring_on_shm.mutant.<bug>.z3``) and by
the machine stepping the reference (models/ring/on_shm_machine.py,
``ring_on_shm.mutant.<bug>.ref``).

Each variant is one switch: a field of :class:`~virtiospec.models.ring.on_shm_z3.Seam` in the
model and of :class:`~virtiospec.reference.ring.on_shm.Seam` on the reference line it
breaks, except the injection without its barrier, which is the sender of
models/shm/ref_mutants.py (SHM-SIGNAL-004) placed in the ring. Machine runs are derandomized
and not shrunk (the Z3 twin gives the shortest run); a variant counts as caught only when a
run fails with a requirement violation. Four variants need a preemption at one
point that random draws meet only now and then: their machine evidence is a fixed schedule of
the machine's rules with the shape of their Z3 counterexamples (:data:`RACE`,
:data:`PREEMPT_AFTER_POP`, :data:`PREEMPT_AFTER_RECHECK`), which the correct reference passes.

Two lines of the composition are redundant, so they have no variant here: the injection's
barrier before its load of ``pending`` (SHM-SIGNAL-003) follows the ring decision's own
barrier (RING-SPLIT-070, RING-SPLIT-071) with no store between, and an acknowledgement after
consuming
but before the ring's re-check is covered by that re-check. The proof holds with the first
removed; tests/ring/test_ring_on_shm_models.py shows both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import Violation, mutant_evidence, tail_trace
from virtiospec.models.machine_base import bind
from virtiospec.models.ring.layer_bugs import RECEIVER_NO_RECHECK, USED_IDX_WRAP
from virtiospec.models.ring.on_shm_machine import (
    RingOnShmConfig,
    RingOnShmMachine,
    run_ring_on_shm,
)
from virtiospec.models.ring.on_shm_proof import counterexample, safety
from virtiospec.models.ring.on_shm_z3 import CALL, KICK, Roles, build, variant
from virtiospec.models.ring.on_shm_z3 import Mode as Feature
from virtiospec.models.ring.ref_mutants import DeviceNoMbNotify, DeviceUsedIdxWrap, DriverNoMbKick
from virtiospec.models.shm.ref_mutants import ReceiverNoRecheck, SenderNoMbBeforeEnabled
from virtiospec.models.z3util import literal_state
from virtiospec.reference.ring import SplitLayout
from virtiospec.reference.ring.on_shm import Seam

EXAMPLES = 400


@dataclass(frozen=True)
class SeamBug:
    name: str
    bug: str
    reqs: tuple[str, ...]
    z3_switches: dict[str, object]
    z3_at: tuple[Roles, Feature, bool]  # direction, feature, tso
    ref: RingOnShmConfig
    examples: int = EXAMPLES  # of the derandomized machine run
    schedule: list[tuple[str, dict[str, object]]] | None = None  # else Hypothesis draws


# The device finds nothing (its pop's load of avail.idx), is preempted, and the driver adds a
# chain and decides on its kick: the decision sees the ring still disabled, so no injection;
# only the ring's re-check can see the chain.
PREEMPT_AFTER_POP: list[tuple[str, dict[str, object]]] = [
    ("setup", {"q": 2, "start": 0}), ("device_serve", {"batch": 1, "run": "to_load"}),
    ("driver_add", {"kick": True, "run": "finish"}), ("device_finish", {}),
]
# The device also re-checks the ring (its second load of avail.idx) before it is preempted:
# the decision sees the ring enabled and injects, finding enabled 0 (the device disabled the
# signal in begin); only pending, left set for the signal's re-check, can tell the device.
PREEMPT_AFTER_RECHECK: list[tuple[str, dict[str, object]]] = [
    ("setup", {"q": 2, "start": 0}), ("device_serve", {"batch": 1, "run": "to_load"}),
    ("device_to_load", {}), ("driver_add", {"kick": True, "run": "finish"}),
    ("device_finish", {}),
]


# The race of two store buffers that an injection without its barrier loses (the shape of
# its Z3 counterexample), as rules of the machine: the driver blocks at the barrier after
# storing call.enabled := 1; the device pushes, decides, stores call.pending := 1 and loads
# call.enabled (still 0 in memory); the driver's store drains and it loads call.pending (the
# device's store still buffered) and sleeps. The correct sender loads enabled only after its
# barrier, finds 1 and notifies.
RACE: list[tuple[str, dict[str, object]]] = [
    ("setup", {"q": 1, "start": 0}),
    ("driver_add", {"kick": True, "run": "finish"}), ("complete_driver", {}),
    ("driver_reap", {"run": "finish"}), ("drain_driver_all", {}),
    ("driver_finish", {}), ("drain_driver_all", {}), ("driver_finish", {}),
    ("device_serve", {"batch": 1, "run": "finish"}), ("drain_device_all", {}),
    ("device_finish", {}), ("drain_device_all", {}), ("device_finish", {}),
    ("drain_driver_all", {}), ("driver_finish", {}),
    ("drain_device_all", {}), ("device_finish", {}),
]


BUGS = (
    SeamBug("ack_after_consuming",
            "receiver acknowledges its signal after consuming and after the ring's re-check, "
            "not before consuming", ("SHM-RING-004", "SHM-SIGNAL-005", "SHM-SIGNAL-010"),
            {"ack": "after_ring_recheck"}, (KICK, "flags", False),
            RingOnShmConfig(mode="sc", seam=Seam(ack_in_begin=False)),
            schedule=PREEMPT_AFTER_RECHECK),
    SeamBug("ring_not_reenabled",
            "receiver re-enables and re-checks the signal, but re-checks the ring without "
            "re-enabling its suppression", ("SHM-RING-004", "RING-SPLIT-072", "RING-SPLIT-073"),
            {"ring_enable": False}, (CALL, "flags", False),
            RingOnShmConfig(mode="sc", seam=Seam(ring_enable=False))),
    SeamBug("signal_not_reenabled",
            "receiver re-enables and re-checks the ring, but re-checks pending without "
            "re-enabling the signal", ("SHM-RING-004", "SHM-SIGNAL-006"),
            {"signal_enable": False}, (KICK, "flags", False),
            RingOnShmConfig(mode="sc", seam=Seam(signal_enable=False))),
    SeamBug("ring_not_rechecked",
            "receiver re-enables both, acts on the signal's re-check only",
            ("SHM-RING-004", "RING-SPLIT-072", "RING-SPLIT-073"),
            {"ring_recheck": False}, (CALL, "event_idx", False),
            RingOnShmConfig(mode="sc", seam=Seam(ring_recheck=False)),
            schedule=PREEMPT_AFTER_POP),
    SeamBug("signal_not_rechecked",
            "receiver re-enables both, acts on the ring's re-check only",
            ("SHM-RING-004", "SHM-SIGNAL-006"),
            {"signal_recheck": False}, (KICK, "event_idx", False),
            RingOnShmConfig(mode="sc", seam=Seam(signal_recheck=False)),
            schedule=PREEMPT_AFTER_RECHECK),
    SeamBug("inject_without_mb",
            "the ring's injection loads enabled without a full barrier after storing pending "
            "(x86-TSO)", ("SHM-SIGNAL-004", "SHM-RING-003", "SHM-RING-004"),
            {"enabled_mb": False}, (CALL, "flags", True),
            RingOnShmConfig(mode="tso", sender_cls=SenderNoMbBeforeEnabled),
            schedule=RACE),
    SeamBug("decision_skips_signal",
            "a ring decision to notify goes straight to the transport, skipping the signal",
            ("SHM-RING-003", "SHM-RING-006"), {"via_signal": False}, (KICK, "flags", False),
            RingOnShmConfig(mode="sc", seam=Seam(via_signal=False))),
    SeamBug("transport_disobeys",
            "the transport notifies on an injection that said not to (coalesced, or enabled "
            "read 0)", ("SHM-RING-003", "SHM-RING-006", "SHM-SIGNAL-011"),
            {"obey_injection": False}, (CALL, "flags", False),
            RingOnShmConfig(mode="sc", seam=Seam(obey_injection=False))),
)


def refute_z3(bug: SeamBug) -> registry.Evidence:
    roles, feature, tso = bug.z3_at
    seam = variant(**bug.z3_switches)
    path = counterexample(roles, feature, tso, seam)
    where = f"{roles.direction}, {feature}, {'x86-TSO' if tso else 'SC'}"
    if path is None:
        return registry.Evidence(False, f"no run of 40 steps breaks a claim ({where})")
    system = build(roles, feature, tso, seam)
    end = literal_state(system, path.final)
    broken = [name.split(" ")[0] for name, p in safety(seam)
              if not z3.is_true(z3.simplify(p(end)))]
    return registry.Evidence(True, f"{', '.join(broken)} broken in {path.length} steps "
                                   f"({where})", path.steps,
                             stats={"steps": float(path.length)})


def _z3(bug: SeamBug) -> Callable[[], registry.Evidence]:
    return lambda: refute_z3(bug)


def run_schedule(cfg: Any, schedule: list[tuple[str, dict[str, object]]],
                 base: type[RingOnShmMachine] = RingOnShmMachine) -> registry.Evidence:
    """Play ``schedule`` (rules of the machine ``base`` bound to ``cfg``, and
    ``complete_driver``: run the driver's operation to its end) with the invariants checked
    after each rule and the end of a run after the last; ok=True when nothing is violated."""
    machine = bind("RingOnShmSchedule", (base,), cfg)()
    try:
        for name, kwargs in schedule:
            if name == "complete_driver":
                while machine.dside.busy:
                    if machine.dside.buffer:
                        machine.drain_driver_all()
                    machine.driver_finish()
            else:
                getattr(machine, name)(**kwargs)
            for check in ("accounting", "no_lost_wakeup", "transport"):
                if hasattr(machine, check):
                    getattr(machine, check)()
        machine.teardown()
    except Violation as err:
        return registry.Evidence(False, f"violation: {err}", tail_trace(machine.shm.log, 60),
                                 stats={"steps": float(machine.shm.steps), "violation": 1.0})
    return registry.Evidence(True, f"the schedule of {len(schedule)} rules ran clean",
                             stats={"steps": float(machine.shm.steps)})


def refute_ref(bug: SeamBug) -> registry.Evidence:
    if bug.schedule:
        return mutant_evidence(run_schedule(bug.ref, bug.schedule))
    return mutant_evidence(run_ring_on_shm(bug.ref, bug.examples, derandomize=True,
                                           shrink=False), keep_last=60)


def _ref(bug: SeamBug) -> Callable[[], registry.Evidence]:
    return lambda: refute_ref(bug)


# each bug of BUGS twice: refuted by Z3 (name, first) and by the reference (second)
REGISTERED: tuple[tuple[str, str, str], ...] = (
    ("ring_on_shm.mutant.ack_after_consuming.z3",
     "ring_on_shm.mutant.ack_after_consuming.ref", "ack_after_consuming"),
    ("ring_on_shm.mutant.ring_not_reenabled.z3",
     "ring_on_shm.mutant.ring_not_reenabled.ref", "ring_not_reenabled"),
    ("ring_on_shm.mutant.signal_not_reenabled.z3",
     "ring_on_shm.mutant.signal_not_reenabled.ref", "signal_not_reenabled"),
    ("ring_on_shm.mutant.ring_not_rechecked.z3",
     "ring_on_shm.mutant.ring_not_rechecked.ref", "ring_not_rechecked"),
    ("ring_on_shm.mutant.signal_not_rechecked.z3",
     "ring_on_shm.mutant.signal_not_rechecked.ref", "signal_not_rechecked"),
    ("ring_on_shm.mutant.inject_without_mb.z3",
     "ring_on_shm.mutant.inject_without_mb.ref", "inject_without_mb"),
    ("ring_on_shm.mutant.decision_skips_signal.z3",
     "ring_on_shm.mutant.decision_skips_signal.ref", "decision_skips_signal"),
    ("ring_on_shm.mutant.transport_disobeys.z3",
     "ring_on_shm.mutant.transport_disobeys.ref", "transport_disobeys"),
)
if [row[2] for row in REGISTERED] != [b.name for b in BUGS]:
    raise ValueError("REGISTERED must name every bug of BUGS, in its order")
for (_z3_name, _ref_name, _), _bug in zip(REGISTERED, BUGS, strict=True):
    registry.mutant(_z3_name, _bug.bug, _bug.reqs, "z3")(_z3(_bug))
    registry.mutant(_ref_name, _bug.bug, _bug.reqs, "hypothesis")(_ref(_bug))


# -- known-bad variants of one layer, planted in the composition ------------------------------
# A bug of the ring alone (models/ring/ref_mutants.py) or of the signal alone
# (models/shm/ref_mutants.py), placed inside the ring on shm: the composed machine catches it
# too, through the properties of the whole (SHM-RING-004, RING-SPLIT-092).

@dataclass(frozen=True)
class UnreducedLayout(SplitLayout):
    """The device's view of the ring with a free-running index used as the slot."""

    def slot(self, index: int) -> int:
        return index  # BUG (RING-SPLIT-043): not reduced modulo Q


PLANTED: list[tuple[str, str, tuple[str, ...], RingOnShmConfig]] = [
    ("ring_on_shm.mutant.layer.ring.device_slot_not_reduced.ref",
     "ring layer: the device takes a free-running index as "
     "the ring slot (no mod Q), so its accesses leave the ring's parts and the region, and "
     "are refused as out of bounds", ("SHM-RING-001", "RING-SPLIT-043"),
     RingOnShmConfig(mode="sc", device_layout_cls=UnreducedLayout)),
    ("ring_on_shm.mutant.layer.ring.driver_no_mb_kick.ref",
     "ring layer: kick_prepare without the mb before loading "
     "used.flags, inside the ring on shm (x86-TSO)", ("RING-SPLIT-070", "SHM-RING-004"),
     RingOnShmConfig(mode="tso", driver_ring_cls=DriverNoMbKick)),
    ("ring_on_shm.mutant.layer.ring.device_no_mb_notify.ref",
     "ring layer: should_notify without the mb before loading "
     "avail.flags, inside the ring on shm (x86-TSO)", ("RING-SPLIT-071", "SHM-RING-004"),
     RingOnShmConfig(mode="tso", device_ring_cls=DeviceNoMbNotify)),
    USED_IDX_WRAP.planted("ring_on_shm.mutant.layer.ring.used_idx_wrap.ref",
                          "inside the ring on shm",
                          RingOnShmConfig(mode="sc", device_ring_cls=DeviceUsedIdxWrap)),
    RECEIVER_NO_RECHECK.planted("ring_on_shm.mutant.layer.signal.receiver_no_recheck.ref",
                                "inside the ring on shm",
                                RingOnShmConfig(mode="sc", receiver_cls=ReceiverNoRecheck)),
]


def _planted(cfg: RingOnShmConfig) -> Callable[[], registry.Evidence]:
    return lambda: mutant_evidence(run_ring_on_shm(cfg, EXAMPLES, derandomize=True,
                                                   shrink=False), keep_last=60)


for _name, _what, _reqs, _cfg in PLANTED:
    registry.mutant(_name, _what, _reqs,
                    "hypothesis")(_planted(_cfg))
