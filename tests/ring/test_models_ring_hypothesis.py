"""The Hypothesis half of the split-ring models: the memory models (models/memory/tso.py), the
interleaving machine (models/ring/machine.py), the hostile-input machines
(models/ring/hostile.py) and the known-bad variants of the reference
(models/ring/ref_mutants.py)."""

from __future__ import annotations

import pytest
from virtiospec.models import registry
from virtiospec.models.memory.tso import Mode, Notify, Program, SharedMemory, Side, Wait
from virtiospec.models.render import render_trace
from virtiospec.models.ring.hostile import HostileConfig, run_hostile_device, run_hostile_driver
from virtiospec.models.ring.machine import RingConfig, RingMachine, machine_class, run_ring
from virtiospec.models.ring.names import ring_names
from virtiospec.models.ring.ref_mutants import DeviceNoRecheck, DriverNoMbKick
from virtiospec.reference.access import Fence, GuestMemory, Load, Store
from virtiospec.reference.ring import SplitLayout

registry.discover()


# -- the memory models ---------------------------------------------------------------------
def _side(mode: Mode, *actions: object) -> tuple[SharedMemory, Side, list[int | None]]:
    """A side of a fresh 64-byte memory running ``actions``; loaded values are collected."""
    mem = SharedMemory(GuestMemory(64), mode)
    side = mem.side("a")
    got: list[int | None] = []

    def program() -> Program[None]:
        for action in actions:
            got.append((yield action))  # type: ignore[misc]

    side.start(program())
    return mem, side, got


def _run(side: Side) -> None:
    while side.enabled():
        side.step()


def test_sc_stores_reach_memory_at_once() -> None:
    mem, side, _ = _side("sc", Store(0, 4, 0x11223344))
    side.step()
    assert not side.buffer and mem.read(0, 4) == 0x11223344


def test_tso_load_forwards_own_buffered_stores_byte_by_byte() -> None:
    mem, side, got = _side("tso", Store(0, 4, 0x11223344), Store(2, 1, 0xAA), Load(0, 8))
    mem.guest.write(0, 8, 0x8877665500000000)
    _run(side)
    assert got[-1] == 0x8877665511AA3344  # bytes 0..3 and 2 from the buffer, 4..7 memory
    assert mem.read(0, 8) == 0x8877665500000000  # nothing reached memory yet
    other = mem.side("b")
    value, _ = other.perform(Load(0, 4))
    assert value == 0  # the other side does not see the buffered stores


def test_tso_drains_in_fifo_order() -> None:
    mem, side, _ = _side("tso", Store(0, 2, 1), Store(8, 2, 2), Store(0, 2, 3))
    _run(side)
    assert side.drainable() == [0]
    side.drain_one(5)  # k is ignored under tso: always the oldest
    assert (mem.read(0, 2), mem.read(8, 2)) == (1, 0)
    side.drain_one()
    side.drain_one()
    assert (mem.read(0, 2), mem.read(8, 2)) == (3, 2)


def test_mb_blocks_until_the_buffer_is_drained_and_wmb_rmb_do_not() -> None:
    _, side, got = _side("tso", Store(0, 2, 1), Fence("wmb"), Fence("rmb"), Fence("mb"),
                         Load(0, 2))
    side.step()
    side.step()  # wmb: free on TSO
    side.step()  # rmb
    assert isinstance(side.next, Fence) and side.next.kind == "mb"
    assert not side.enabled()
    side.drain_one()
    assert side.enabled()
    _run(side)
    assert got[-1] == 1 and not side.busy


def test_pso_reorders_stores_only_where_no_wmb_separates_them() -> None:
    mem, side, _ = _side("pso", Store(0, 2, 1), Store(8, 2, 2), Fence("wmb"), Store(16, 2, 3))
    _run(side)
    assert side.drainable() == [0, 1]  # the two before the wmb, in either order
    side.drain_one(1)
    assert (mem.read(0, 2), mem.read(8, 2)) == (0, 2)
    assert side.drainable() == [0]  # the store after the wmb waits for the one before it
    side.drain_one()
    assert side.drainable() == [0]
    side.drain_one()
    assert mem.read(16, 2) == 3


def test_pso_keeps_the_order_of_stores_to_the_same_bytes() -> None:
    mem, side, _ = _side("pso", Store(0, 2, 1), Store(1, 2, 0xFFFF), Store(8, 2, 2))
    _run(side)
    assert side.drainable() == [0, 2]
    side.drain_one(1)
    side.drain_one(1)
    side.drain_one()
    assert mem.read(0, 4) == 0xFFFF01 and mem.read(8, 2) == 2


def test_tso_never_reorders_stores() -> None:
    _, side, _ = _side("tso", Store(0, 2, 1), Store(8, 2, 2))
    _run(side)
    assert side.drainable() == [0]


def test_notification_waits_for_the_senders_buffer_and_wakes_the_waiter() -> None:
    mem = SharedMemory(GuestMemory(64), "tso")
    a, b = mem.side("a"), mem.side("b")

    def sender() -> Program[None]:
        yield Store(0, 2, 7)
        yield Notify("b", "kick")

    def waiter() -> Program[int]:
        yield Wait("kick")
        value = yield Load(0, 2)
        assert value is not None
        return value

    b.start(waiter())
    assert b.asleep and not b.enabled()
    a.start(sender())
    a.step()
    assert not a.enabled()  # RING-SPLIT-074: the kick is ordered after the store
    a.drain_one()
    a.step()
    assert not b.asleep and b.enabled()
    _run(b)
    assert b.result == 7
    assert mem.stats["b woken by kick"] == 1


def test_a_pending_notification_is_consumed_without_sleeping() -> None:
    mem = SharedMemory(GuestMemory(8), "sc")
    side = mem.side("a")
    mem.post("a", "irq", "env")

    def program() -> Program[None]:
        yield Wait("irq")

    side.start(program())
    assert not side.asleep
    side.step()
    assert not side.busy and "already pending" in mem.log[-1].action


def test_trace_lines_name_the_ring_fields() -> None:
    lay = SplitLayout.packed_at(0, 4)
    mem = SharedMemory(GuestMemory(lay.end), "tso", ring_names(lay))
    side = mem.side("driver")

    def program() -> Program[None]:
        yield Store(lay.avail_idx, 2, 3)
        yield Load(lay.used_flags, 2)
        yield Store(lay.desc_addr(2) + 14, 2, 1)

    side.start(program())
    _run(side)
    side.drain_one()
    actions = [s.action for s in mem.log]
    assert actions == ["store avail.idx := 3 (buffered)", "load used.flags -> 0",
                       "store desc[2].next := 1 (buffered)", "drain avail.idx := 3 (driver)"]


# -- the registered checks -----------------------------------------------------------------
MINE = [n for n in registry.CHECKS
        if n.startswith("ring.") and n.split(".")[1] in ("sc", "tso", "pso", "hostile")]


def test_every_split_ring_check_is_registered() -> None:
    assert sorted(MINE) == sorted(
        [f"ring.{m}.{f}" for m in ("sc", "tso", "pso") for f in ("flags", "event_idx")]
        + ["ring.hostile.device", "ring.hostile.driver"])


@pytest.mark.parametrize("name", MINE)
def test_ring_check_passes(name: str) -> None:
    ev = registry.CHECKS[name].run(40)
    assert ev.ok, f"{ev.detail}\n{render_trace(ev.trace)}"
    assert ev.stats["steps"] > 0 and ev.stats["examples"] >= 40


# -- the machine is not vacuous -------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sc", "tso", "pso"])
@pytest.mark.parametrize("event_idx", [False, True])
def test_machine_reaches_the_interesting_states(mode: Mode, event_idx: bool) -> None:
    ev = run_ring(RingConfig(mode=mode, event_idx=event_idx), 100, derandomize=True)
    assert ev.ok, ev.detail
    s = ev.stats
    for key in ("queue full", "avail.idx wrapped", "used.idx wrapped", "both asleep",
                "device woken by kick", "driver woken by irq", "buffers returned"):
        assert s.get(key, 0) > 0, f"never: {key} ({ev.detail})"
    # (no load is forwarded from a store buffer: every ring field has one writer, which never
    # reads it back; forwarding is tested above)
    if mode == "pso":
        assert s.get("stores reordered", 0) > 0


def test_hostile_machines_reach_every_kind_of_error_and_valid_traffic() -> None:
    dev = run_hostile_device(HostileConfig(), 300, derandomize=True)
    assert dev.ok, dev.detail
    for req in ("080", "081", "082", "083", "084"):
        assert dev.stats.get(f"refused RING-SPLIT-{req}", 0) > 0, req
    assert dev.stats.get("chains accepted", 0) > 0
    drv = run_hostile_driver(HostileConfig(), 300, derandomize=True)
    assert drv.ok, drv.detail
    assert drv.stats.get("refused RING-SPLIT-085", 0) > 0
    assert drv.stats.get("buffers returned", 0) > 0


# -- the invariants catch a lost wakeup on a fixed schedule ----------------------------------
def _machine(cfg: RingConfig) -> RingMachine:
    m = machine_class(cfg)()
    m.build(2, 65534, False)
    return m


def _steps(m: RingMachine, side: Side, n: int) -> None:
    for _ in range(n):
        m._step(side)
        m.accounting()
        m.no_lost_wakeup()


def _kick_race(m: RingMachine) -> None:
    """The device re-enables kicks just as the driver publishes a buffer and decides whether
    to kick: the schedule of RING-SPLIT-072 (and, under TSO, RING-SPLIT-070)."""
    m.driver_add([(True, 8)], True, "finish")  # a first buffer, kicked
    m.shm.drain_all()
    m.device_serve(1, 4, True, "finish")  # serve it; kicks stay disabled (used.flags = 1)
    m.shm.drain_all()
    m.device_serve(1, 4, False, "to_load")  # pop finds nothing; preempted after the load
    m.driver_add([(True, 8)], True, "finish")  # publish, decide (no kick: flags = 1)
    m.shm.drain_all()
    m.device_finish()  # enable_notify, then sleep unless it re-checks
    m.shm.drain_all()
    m.accounting()
    m.no_lost_wakeup()


def test_reference_survives_the_kick_race() -> None:
    m = _machine(RingConfig(mode="sc"))
    _kick_race(m)
    assert not m.vside.asleep  # the re-check found the buffer


def test_device_without_recheck_loses_the_kick() -> None:
    m = _machine(RingConfig(mode="sc", device_cls=DeviceNoRecheck))
    with pytest.raises(AssertionError, match="RING-SPLIT-110"):
        _kick_race(m)


def _publish_with_kicks_disabled(m: RingMachine) -> None:
    m.driver_add([(True, 8)], True, "finish")
    m.shm.drain_all()
    m.driver_finish()
    m.device_serve(1, 4, True, "finish")  # served; kicks stay disabled
    m.shm.drain_all()
    m.device_finish()
    m.driver_add([(True, 8)], True, "finish")  # avail.idx stays in the store buffer


def test_reference_driver_drains_before_deciding_on_the_kick() -> None:
    m = _machine(RingConfig(mode="tso"))
    _publish_with_kicks_disabled(m)
    assert isinstance(m.dside.next, Fence) and m.dside.next.kind == "mb"  # RING-SPLIT-070
    assert not m.dside.enabled()


def test_driver_without_mb_loses_the_kick_under_tso() -> None:
    m = _machine(RingConfig(mode="tso", driver_cls=DriverNoMbKick))
    _publish_with_kicks_disabled(m)
    assert m.dside.buffer and not m.dside.busy  # decided (no kick) with avail.idx buffered
    with pytest.raises(AssertionError, match="RING-SPLIT-110"):
        m.device_serve(1, 4, False, "")
        while m.vside.busy and not m.vside.asleep:
            if m.vside.enabled():
                _steps(m, m.vside, 1)
            else:
                m.vside.drain_one()
        while m.dside.buffer:  # the buffer drains only after the device is asleep
            m.dside.drain_one()
            m.no_lost_wakeup()


# -- the known-bad variants ---------------------------------------------------------------
MUTANTS = [n for n in registry.MUTANTS if n.startswith("ring.ref.")]


def test_at_least_eight_variants() -> None:
    assert len(MUTANTS) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("name", MUTANTS)
def test_ring_ref_mutant_is_caught(name: str) -> None:
    ev = registry.MUTANTS[name].run()
    assert ev.ok, f"{name}: {ev.detail}"
    assert ev.trace, name
    assert ev.detail.startswith("violation: RING-SPLIT-"), ev.detail
