"""The RMO memory model (models/memory/tso.py, mode ``rmo``: loads satisfied early), its litmus
tests (models/memory/rmo_litmus.py), the machines run under it, the variants without an ``rmb``
that only it catches, and RING-SPLIT-101's forced notification (ring.alias.event_idx)."""

from __future__ import annotations

import pytest
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.memory.rmo_litmus import CORR, MP, MP_RMB, SB, SB_MB, outcomes
from virtiospec.models.memory.tso import (
    ALL_MODES,
    MODES,
    Program,
    SharedMemory,
    Side,
    Wait,
)
from virtiospec.models.ring.alias import ALIAS_SCENARIOS, AliasScenario, check_alias
from virtiospec.models.ring.machine import (
    RingConfig,
    RmoRingMachine,
    machine_class,
    run_ring,
)
from virtiospec.models.ring.ref_mutants import (
    DeviceNoForcedNotify,
    DeviceNoRmbPop,
    DriverNoForcedKick,
    DriverNoRmbUsed,
)
from virtiospec.models.shm.machine import ShmConfig, TableMachine, run_machine
from virtiospec.models.shm.ref_mutants import ReaderNoRmbAfterData, ReaderNoRmbBeforeData
from virtiospec.reference.access import Access, Fence, GuestMemory, Load, Store
from virtiospec.reference.ring import SplitDevice, SplitDriver

registry.discover()

MP_STALE = ((), (1, 0))  # the reader saw the flag set and the data it guards old


# -- the litmus tests ----------------------------------------------------------------------
@pytest.mark.req("RING-SPLIT-075", "RING-SPLIT-076", "SHM-TABLE-006")
def test_message_passing_without_rmb_is_stale_only_under_rmo() -> None:
    for mode in MODES:
        assert MP_STALE not in outcomes(mode, MP), mode  # loads are never reordered
    got = outcomes("rmo", MP)
    assert MP_STALE in got
    assert got == {((), (0, 0)), ((), (0, 1)), ((), (1, 1)), MP_STALE}


@pytest.mark.req("RING-SPLIT-075", "RING-SPLIT-076", "SHM-TABLE-006")
def test_message_passing_with_rmb_is_never_stale() -> None:
    for mode in ALL_MODES:
        got = outcomes(mode, MP_RMB)
        assert MP_STALE not in got, mode
        assert got == {((), (0, 0)), ((), (0, 1)), ((), (1, 1))}, mode


@pytest.mark.req("RING-SPLIT-070", "RING-SPLIT-071")
def test_store_buffering_is_as_under_tso() -> None:
    both_old = ((0,), (0,))
    assert both_old not in outcomes("sc", SB)
    assert outcomes("rmo", SB) == outcomes("tso", SB)
    assert both_old in outcomes("rmo", SB)
    for mode in ALL_MODES:
        assert both_old not in outcomes(mode, SB_MB), mode


def test_two_loads_of_one_location_never_go_back() -> None:
    got = outcomes("rmo", CORR)
    assert got == outcomes("sc", CORR)
    assert all(r1 <= r2 for (_, (r1, r2)) in got)


# -- the model, step by step ---------------------------------------------------------------
def _sides(*programs: list[Access]) -> tuple[SharedMemory, list[Side], list[list[int]]]:
    mem = SharedMemory(GuestMemory(64), "rmo")
    sides, got = [], []
    for k, actions in enumerate(programs):
        side = mem.side(f"s{k}")
        values: list[int] = []

        def program(actions: list[Access] = actions, values: list[int] = values
                    ) -> Program[None]:
            for a in actions:
                v = yield a
                if isinstance(a, Load):
                    assert v is not None
                    values.append(v)

        side.start(program())
        sides.append(side)
        got.append(values)
    return mem, sides, got


def _publish(writer: Side) -> None:
    while writer.enabled():
        writer.step()
    while writer.buffer:
        writer.drain_one()


def test_modes_are_backward_compatible() -> None:
    assert MODES == ("sc", "tso", "pso")
    assert ALL_MODES == ("sc", "tso", "pso", "rmo")
    with pytest.raises(ValueError):
        SharedMemory(GuestMemory(8), "arm")  # type: ignore[arg-type]


def test_a_load_is_newest_by_default_and_early_on_request() -> None:
    mem, (w, r), (_, got) = _sides([Store(0, 4, 7), Store(0, 4, 9)],
                                   [Load(0, 4), Load(0, 4), Load(0, 4)])
    _publish(w)
    assert r.early_choices() == 3  # 0 (initial), 7, 9
    r.step(1)
    assert got == [7] and "satisfied early" in mem.log[-1].action
    assert r.early_choices() == 2  # coherence: never older than 7 again
    r.step(5)  # clamped to the oldest it may
    r.step()
    assert got == [7, 7, 9]
    assert mem.stats["loads satisfied early"] == 2  # the one clamped to 7 is early too


def test_other_modes_ignore_early() -> None:
    for mode in MODES:
        mem = SharedMemory(GuestMemory(8), mode)
        w, r = mem.side("w"), mem.side("r")
        w.perform(Store(0, 4, 5))
        while w.buffer:
            w.drain_one()
        value, text = r.perform(Load(0, 4), 3)
        assert value == 5 and "early" not in text, mode


@pytest.mark.parametrize(("barrier", "stale"), [(None, True), ("rmb", False), ("mb", False),
                                                ("wmb", True)])
def test_which_barriers_order_loads(barrier: str | None, stale: bool) -> None:
    reader: list[Access] = [Load(8, 4)]
    if barrier:
        reader.append(Fence(barrier))  # type: ignore[arg-type]
    reader.append(Load(0, 4))
    _, (w, r), (_, got) = _sides([Store(0, 4, 1), Fence("wmb"), Store(8, 4, 1)], reader)
    _publish(w)
    r.step()  # the flag: newest
    while r.enabled():
        r.step(99)  # the data: the oldest value it may return
    assert (got == [1, 0]) == stale


def test_own_stores_are_seen_and_never_lost() -> None:
    _, (a,), (got,) = _sides([Store(0, 4, 3), Load(0, 4), Load(0, 4)])
    a.step()
    assert a.early_choices() == 1  # forwarded from the own buffer
    a.step(9)
    a.drain_one()
    assert a.early_choices() == 1  # its own store is the oldest it may read
    a.step(9)
    assert got == [3, 3]


def test_taking_a_notification_is_an_acquire() -> None:
    mem = SharedMemory(GuestMemory(16), "rmo")
    w, r = mem.side("w"), mem.side("r")

    def reader() -> Program[None]:
        yield Wait("go")
        yield Load(0, 4)

    r.start(reader())
    w.perform(Store(0, 4, 1))
    w.drain_one()
    mem.post("r", "go", "w")
    r.step()
    assert r.early_choices() == 1  # the store drained before the notification
    r.floor = 0
    assert r.early_choices() == 2
    r.acquire("go")
    assert r.early_choices() == 1


# -- the machines under RMO ----------------------------------------------------------------
def test_the_rmo_checks_are_registered() -> None:
    assert {"ring.rmo.flags", "ring.rmo.event_idx", "ring.alias.event_idx", "shm.table.rmo",
            "shm.signal.rmo", "shm.clock.rmo"} <= set(registry.CHECKS)
    assert "RING-SPLIT-075" in registry.CHECKS["ring.rmo.flags"].reqs
    assert "SHM-TABLE-006" in registry.CHECKS["shm.table.rmo"].reqs
    assert "RING-SPLIT-101" in registry.CHECKS["ring.alias.event_idx"].reqs
    assert issubclass(machine_class(RingConfig(mode="rmo")), RmoRingMachine)
    assert not issubclass(machine_class(RingConfig(mode="tso")), RmoRingMachine)


@pytest.mark.req("RING-SPLIT-075", "RING-SPLIT-076", "SHM-TABLE-006")
@pytest.mark.parametrize("name", ["ring.rmo.flags", "ring.rmo.event_idx", "shm.table.rmo"])
def test_the_reference_passes_under_rmo(name: str) -> None:
    ev = registry.CHECKS[name].run(60)
    assert ev.ok, ev.detail
    assert ev.stats["examples"] >= 60


def test_loads_are_satisfied_early_in_the_machines() -> None:
    ev = run_machine(TableMachine, ShmConfig(mode="rmo"), 60, derandomize=True)
    assert ev.ok, ev.detail
    assert ev.stats.get("loads satisfied early", 0) > 0


@pytest.mark.req("RING-SPLIT-101")
def test_the_reference_forces_its_notifications() -> None:
    ev = registry.CHECKS["ring.alias.event_idx"].run(2)  # one scenario per direction
    assert ev.ok, ev.detail
    assert ev.stats["examples"] == 2


# -- the variants ---------------------------------------------------------------------------
NEW_MUTANTS = {
    "ring.ref.device-no-rmb": ("RING-SPLIT-075",),
    "ring.ref.driver-no-rmb": ("RING-SPLIT-076",),
    "shm.mutant.table.no_rmb_before_data.ref": ("SHM-TABLE-006",),
    "shm.mutant.table.no_rmb_after_data.ref": ("SHM-TABLE-006",),
    "ring.ref.driver-no-forced-kick": ("RING-SPLIT-101", "RING-SPLIT-110"),
    "ring.ref.device-no-forced-notify": ("RING-SPLIT-101", "RING-SPLIT-111"),
}


@pytest.mark.parametrize("name", NEW_MUTANTS)
def test_each_new_mutant_is_caught(name: str) -> None:
    m = registry.MUTANTS[name]
    assert set(NEW_MUTANTS[name]) <= set(m.reqs)
    if "rmb" in name:
        assert "not caught under x86-TSO" in m.bug
    ev = m.run()
    assert ev.ok, f"{name}: {ev.detail}"
    assert ev.trace and ev.detail.startswith("violation: "), ev.detail


# Under x86-TSO an rmb is a no-op, so a variant without one runs exactly as the reference:
# no budget catches it. These runs use a fraction of the mutants' budget (the full budget
# survives too: see the report of `virtiospec prove --mutants`).
@pytest.mark.req("RING-SPLIT-075", "RING-SPLIT-076")
@pytest.mark.parametrize("cfg", [RingConfig(mode="tso", steps=200, device_cls=DeviceNoRmbPop),
                                 RingConfig(mode="tso", steps=200, driver_cls=DriverNoRmbUsed)],
                         ids=["device-no-rmb", "driver-no-rmb"])
def test_ring_rmb_variants_are_not_caught_under_tso(cfg: RingConfig) -> None:
    ev = mutant_evidence(run_ring(cfg, 60, derandomize=True))
    assert not ev.ok and ev.detail.startswith("survived"), ev.detail


@pytest.mark.req("SHM-TABLE-006")
@pytest.mark.parametrize("reader", [ReaderNoRmbBeforeData, ReaderNoRmbAfterData])
def test_seqlock_rmb_variants_are_not_caught_under_tso(reader: type) -> None:
    for mode in ("tso", "pso"):
        ev = mutant_evidence(run_machine(TableMachine, ShmConfig(mode=mode, reader_cls=reader),
                                         150, derandomize=True, shrink=False))
        assert not ev.ok and ev.detail.startswith("survived"), (mode, ev.detail)


@pytest.mark.req("RING-SPLIT-101")
def test_the_window_aliases_only_at_two_to_the_sixteen() -> None:
    """Without the forced notification 2^16 - 1 publications still notify (the window
    [old, new) misses only ``new`` itself); at 2^16 it is empty."""
    assert ALIAS_SCENARIOS[0] == AliasScenario("avail", 1 << 16)  # caught: see above
    ev = check_alias((AliasScenario("avail", (1 << 16) - 1),), driver_cls=DriverNoForcedKick,
                     device_cls=DeviceNoForcedNotify)
    assert ev.ok, ev.detail


def test_alias_scenarios_are_checked() -> None:
    with pytest.raises(ValueError):
        check_alias((AliasScenario("used", 3, tail=4),), driver_cls=SplitDriver,
                    device_cls=SplitDevice)
