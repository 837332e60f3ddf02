"""The packed ring's models: the interleaving machine (models/ring/packed/machine.py) under
SC, x86-TSO, PSO and RMO, the hostile-input checks (models/ring/packed/hostile.py) and the
known-bad variants (models/ring/packed/mutants.py)."""

from __future__ import annotations

import pytest
from virtiospec.models import registry
from virtiospec.models.memory.tso import Mode, Side
from virtiospec.models.render import render_trace
from virtiospec.models.ring.packed.hostile import (
    HostileConfig,
    run_hostile_device,
    run_hostile_driver,
)
from virtiospec.models.ring.packed.machine import (
    PackedConfig,
    PackedMachine,
    RmoPackedMachine,
    machine_class,
    run_packed,
)
from virtiospec.models.ring.packed.mutants import (
    DeviceAvailOnly,
    DeviceNoRecheck,
    DriverNoMbKick,
    DriverNoWmb,
)
from virtiospec.reference.access import Fence

registry.discover()

CHECKS = ["ring.packed.sc", "ring.packed.tso", "ring.packed.pso", "ring.packed.rmo",
          "ring.packed.hostile.device", "ring.packed.hostile.driver"]


def test_the_checks_are_registered() -> None:
    python = [c for c in registry.select(registry.CHECKS, ["ring.packed"])
              if not c.name.startswith(("ring.packed.c.", "ring.packed.mixed."))]
    assert sorted(python, key=lambda c: c.name) == sorted((registry.CHECKS[n] for n in CHECKS),
                                                  key=lambda c: c.name)
    assert "RING-PACKED-054" in registry.CHECKS["ring.packed.rmo"].reqs
    assert "RING-PACKED-050" in registry.CHECKS["ring.packed.pso"].reqs
    assert "RING-PACKED-054" not in registry.CHECKS["ring.packed.tso"].reqs
    assert issubclass(machine_class(PackedConfig(mode="rmo")), RmoPackedMachine)
    assert not issubclass(machine_class(PackedConfig(mode="tso")), RmoPackedMachine)


@pytest.mark.req("RING-PACKED-020", "RING-PACKED-022", "RING-PACKED-023", "RING-PACKED-033",
                 "RING-PACKED-090", "RING-PACKED-092", "RING-PACKED-110", "RING-PACKED-111")
@pytest.mark.parametrize("name", CHECKS)
def test_check_passes(name: str) -> None:
    ev = registry.CHECKS[name].run(40)
    assert ev.ok, f"{ev.detail}\n{render_trace(ev.trace)}"
    assert ev.stats["examples"] >= 40


# -- the machine is not vacuous -------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sc", "tso", "pso", "rmo"])
def test_machine_reaches_the_interesting_states(mode: Mode) -> None:
    ev = run_packed(PackedConfig(mode=mode), 150, derandomize=True)
    assert ev.ok, ev.detail
    s = ev.stats
    for key in ("queue full", "driver wrapped", "both asleep", "device woken by kick",
                "driver woken by irq", "buffers returned"):
        assert s.get(key, 0) > 0, f"never: {key} ({ev.detail})"
    if mode in ("sc", "rmo"):
        assert s.get("out of order", 0) > 0, ev.detail
    if mode in ("pso", "rmo"):
        assert s.get("stores reordered", 0) > 0
    # (loads satisfied early are rare in 150 runs: a flags load has an older value to return
    # only when the other side's store drains after this side's last barrier; the rmb
    # variants, caught under RMO alone, show that the machine reaches them)


def test_hostile_checks_reach_every_kind_of_error_and_valid_traffic() -> None:
    dev = run_hostile_device(HostileConfig(), 300, derandomize=True)
    assert dev.ok, dev.detail
    for req in ("080", "081", "082", "083", "084", "085"):
        assert dev.stats.get(f"refused RING-PACKED-{req}", 0) > 0, req
    assert dev.stats.get("lists accepted", 0) > 0 and dev.stats.get("used written", 0) > 0
    drv = run_hostile_driver(HostileConfig(), 300, derandomize=True)
    assert drv.ok, drv.detail
    assert drv.stats.get("refused RING-PACKED-086", 0) > 0
    assert drv.stats.get("buffers returned", 0) > 0


# -- the invariants catch a lost wakeup on a fixed schedule ----------------------------------
def _machine(cfg: PackedConfig, q: int = 2, event_idx: bool = False) -> PackedMachine:
    m = machine_class(cfg)()
    m.build(q, event_idx, False)
    return m


def _kick_race(m: PackedMachine) -> None:
    """The device re-enables kicks just as the driver makes a list available and decides
    whether to kick: the schedule of RING-PACKED-070 (and, under TSO, RING-PACKED-051)."""
    m.driver_add([(True, 8)], True, "finish")  # a first list, kicked
    m.shm.drain_all()
    m.device_serve(1, 4, True, 0, 0, "finish")  # serve it; kicks stay disabled
    m.shm.drain_all()
    m.device_serve(1, 4, False, 0, 0, "to_load")  # pop finds nothing; preempted after the load
    m.driver_add([(True, 8)], True, "finish")  # available, decided (no kick: DISABLE)
    m.shm.drain_all()
    m.device_finish()  # enable_notify, then sleep unless it re-checks
    m.shm.drain_all()
    m.accounting()
    m.no_lost_wakeup()


@pytest.mark.req("RING-PACKED-070", "RING-PACKED-110")
@pytest.mark.parametrize("event_idx", [False, True])
def test_reference_survives_the_kick_race(event_idx: bool) -> None:
    m = _machine(PackedConfig(mode="sc"), event_idx=event_idx)
    _kick_race(m)
    assert not m.vside.asleep  # the re-check found the list


@pytest.mark.parametrize("event_idx", [False, True])
def test_device_without_recheck_loses_the_kick(event_idx: bool) -> None:
    m = _machine(PackedConfig(mode="sc", device_cls=DeviceNoRecheck), event_idx=event_idx)
    with pytest.raises(AssertionError, match="RING-PACKED-110"):
        _kick_race(m)


def _complete(m: PackedMachine, side: Side) -> None:
    """Run ``side``'s operation to its end or its sleep, draining only its own stores."""
    while side.busy and not side.asleep:
        if side.enabled():
            m._step(side)
        else:
            side.drain_one()
        m.accounting()
        m.no_lost_wakeup()


def _add_while_the_device_rechecks(m: PackedMachine) -> None:
    """A list served with kicks disabled; the device then finds nothing and is preempted just
    before it re-enables kicks, while the driver makes a list available and decides."""
    m.driver_add([(True, 8)], True, "")
    _complete(m, m.dside)
    m.device_serve(1, 4, True, 0, 0, "")  # serve it; kicks stay disabled
    _complete(m, m.vside)
    m.driver_get("")
    _complete(m, m.dside)
    m.device_serve(1, 0, False, 0, 0, "to_load")  # pop finds nothing; preempted after it
    m.driver_add([(True, 8)], True, "finish")  # the flags store stays in the store buffer


@pytest.mark.req("RING-PACKED-051")
def test_reference_driver_drains_before_deciding_on_the_kick() -> None:
    m = _machine(PackedConfig(mode="tso"))
    _add_while_the_device_rechecks(m)
    assert isinstance(m.dside.next, Fence) and m.dside.next.kind == "mb"
    assert not m.dside.enabled()


def test_driver_without_mb_loses_the_kick_under_tso() -> None:
    m = _machine(PackedConfig(mode="tso", driver_cls=DriverNoMbKick))
    _add_while_the_device_rechecks(m)
    assert m.dside.buffer and not m.dside.busy  # decided (no kick) with its stores buffered
    _complete(m, m.vside)  # enable_notify, mb, re-check: nothing visible yet, so it sleeps
    assert m.vside.asleep
    with pytest.raises(AssertionError, match="RING-PACKED-110"):
        while m.dside.buffer:  # the list reaches memory only after the device is asleep
            m.dside.drain_one()
            m.no_lost_wakeup()


# -- the known-bad variants ---------------------------------------------------------------
# the Python reference's variants (the C ones are run by tests/ring/test_ring_packed_c.py and by
# `virtiospec prove --mutants`)
MUTANTS = [n for n in registry.MUTANTS if n.startswith("ring.packed.ref.")]


def test_the_variants_are_registered() -> None:
    assert len(MUTANTS) >= 13
    bugs = {n.removeprefix("ring.packed.ref."): registry.MUTANTS[n] for n in MUTANTS}
    assert {"driver-no-wmb", "device-no-wmb", "device-no-rmb", "driver-no-rmb",
            "driver-no-mb-kick", "device-no-mb-notify", "driver-no-wrap-flip",
            "device-avail-only", "event-off-by-one", "device-no-recheck",
            "driver-no-recheck"} <= set(bugs)
    assert all(any(r.startswith("RING-PACKED-") for r in m.reqs) for m in bugs.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", MUTANTS)
def test_ring_packed_mutant_is_caught(name: str) -> None:
    ev = registry.MUTANTS[name].run()
    assert ev.ok, f"{name}: {ev.detail}"
    assert ev.trace, name
    assert ev.detail.startswith("violation: RING-PACKED-"), ev.detail


# A missing wmb is invisible under x86-TSO (stores drain in order), a missing rmb under
# everything but RMO, and reading AVAIL alone is invisible against an honest driver. These
# runs use a fraction of the mutants' budget: they show the models, not the budget, decide.
@pytest.mark.slow
@pytest.mark.parametrize(("mode", "cfg"), [
    ("tso", {"driver_cls": DriverNoWmb}),
    ("sc", {"device_cls": DeviceAvailOnly}),
])
def test_variants_that_need_a_weaker_model_or_a_hostile_peer_survive_here(
        mode: Mode, cfg: dict[str, type]) -> None:
    ev = run_packed(PackedConfig(mode=mode, **cfg), 100, derandomize=True)  # type: ignore[arg-type]
    assert ev.ok, ev.detail
