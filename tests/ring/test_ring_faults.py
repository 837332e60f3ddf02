"""The fault machine (models/ring/faults.py) and its known-bad recoveries
(models/ring/faults_mutants.py)."""

from __future__ import annotations

import pytest
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import Violation
from virtiospec.models.ring.faults import FaultConfig, FaultMachine, run_faults
from virtiospec.models.ring.faults_mutants import MUTANTS, PACKED_MUTANTS


def _machine(cfg: FaultConfig) -> FaultMachine:
    cls: type[FaultMachine] = type("Scripted", (FaultMachine,), {"cfg": cfg})
    return cls()


def test_reset_mid_traffic_hands_everything_back_once() -> None:
    m = _machine(FaultConfig())
    for _ in range(3):
        m.add([(0, 1)])
    m.add([(1, 1)])  # two more descriptors than the 4 of the queue: QueueFull, t3 stays out
    assert 3 not in m.made_available
    m.device_pops(2)  # two popped, one still available
    m.device_pushes(1)  # one used, not taken back; one held by the device
    m.reset()
    assert m.returned == {0: "used", 1: "detached", 2: "detached"}
    assert m.device_used == {0: 8}
    m.add([(0, 1)])  # the queue works again after the recovery
    m.deliver_kick()
    m.deliver_irq()
    assert m.returned[4] == "used"
    m.teardown()


@pytest.mark.parametrize(("packed", "k", "expect"), [
    (False, 5, {0: "detached", 1: "detached"}),  # used.idx not yet stored
    (False, 6, {0: "used", 1: "used"}),  # used.idx stored: both published
    (True, 3, {0: "detached", 1: "detached"}),  # the first's flags not yet stored
    (True, 4, {0: "used", 1: "detached"}),  # the first published, the second not
])
def test_reset_in_the_middle_of_a_push(packed: bool, k: int, expect: dict[int, str]) -> None:
    m = _machine(FaultConfig(packed=packed))
    m.add([(0, 1), (0, 1)])
    m.device_pops(2)
    m.reset_mid_push(k)
    assert m.returned == expect
    m.teardown()


def test_reset_in_the_middle_of_an_add() -> None:
    m = _machine(FaultConfig())
    m.add([(0, 1)])
    m.reset_mid_add(3, 1)  # t1's descriptor half written, never published
    assert m.returned == {0: "detached"} and 1 not in m.made_available
    m.teardown()


def test_forgotten_detached_buffers_are_caught() -> None:
    m = _machine(FaultConfig(recovery="forget-detached"))
    m.add([(1, 0)])
    m.reset()
    with pytest.raises(Violation, match="never handed back: t0"):
        m._finale()


def test_doubled_kick_is_harmless_for_the_reference() -> None:
    m = _machine(FaultConfig())
    m.add([(1, 1)])
    m.kick_fault(double=True)
    m.deliver_kick()
    m.deliver_kick()
    m.deliver_irq()
    assert m.returned == {0: "used"}


def test_dropped_kick_is_recovered_by_the_timer() -> None:
    m = _machine(FaultConfig())
    m.add([(1, 1)])
    m.kick_fault(double=False)
    assert m.kicks == 0
    m.watchdog()
    m.deliver_kick()
    m.deliver_irq()
    assert m.returned == {0: "used"}


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("event_idx", [False, True])
def test_reference_survives_faults(packed: bool, event_idx: bool) -> None:
    ev = run_faults(FaultConfig(event_idx=event_idx, packed=packed), 40, derandomize=True)
    assert ev.ok, ev.detail
    for key in ("reset", "kick dropped", "kick doubled", "stall", "handed back detached",
                "handed back used"):
        assert ev.stats.get(key, 0) > 0, key


@pytest.mark.parametrize("packed", [False, True])
def test_c_references_survive_faults(packed: bool) -> None:
    from virtiospec.models.ring.faults import _c_sides

    drv, dev = _c_sides(packed)
    ev = run_faults(FaultConfig(packed=packed, driver_cls=drv, device_cls=dev), 20,
                    derandomize=True)
    assert ev.ok, ev.detail
    assert ev.stats.get("reset", 0) > 0 and ev.stats.get("handed back used", 0) > 0


def test_packed_reset_mid_traffic() -> None:
    m = _machine(FaultConfig(packed=True))
    m.add([(0, 1), (1, 1)])
    m.device_pops(2)
    m.device_pushes(1)
    m.reset()
    assert m.returned == {0: "used", 1: "detached"}
    m.add([(0, 1)])
    m.deliver_kick()
    m.deliver_irq()
    assert m.returned[2] == "used"


@pytest.mark.parametrize("name", [f"split.{n}" for n in sorted(MUTANTS)]
                         + [f"packed.{n}" for n in sorted(PACKED_MUTANTS)])
def test_mutant_refuted(name: str) -> None:
    ev = registry.MUTANTS[f"ring.faults.{name}"].run()
    assert ev.ok, ev.detail
    assert ev.detail.startswith("violation")


# -- the stack demo's notification faults (reference/stack/notify_faults.py) ---------------


def _stack_run(mode: str, timer: bool = True) -> tuple[bool, bool, dict[str, int | str]]:
    from virtiospec.reference.stack.checks import cross_layer
    from virtiospec.reference.stack.net_stack import Stack, StackOptions
    from virtiospec.reference.stack.notify_faults import NotifyFaults
    from virtiospec.reference.stack.traffic import run_traffic

    stack = Stack(StackOptions(pairs=2, queue_size=16))
    stack.bring_up()
    stack.faults = NotifyFaults(mode, timer=timer)
    result = run_traffic(stack, 200, 128, reset=True)
    return result.ok, all(c.ok for c in cross_layer(stack)), stack.faults.summary()


@pytest.mark.parametrize("mode", ["drop", "double"])
def test_stack_survives_notification_faults(mode: str) -> None:
    ok, checks_ok, summary = _stack_run(mode)
    assert ok and checks_ok, summary
    faulted = (summary["kicks_dropped"], summary["irqs_dropped"]) if mode == "drop" else (
        summary["kicks_doubled"], summary["irqs_doubled"])
    assert all(isinstance(n, int) and n > 0 for n in faulted), summary


def test_stack_without_timers_loses_frames_to_dropped_notifications() -> None:
    ok, checks_ok, summary = _stack_run("drop", timer=False)
    assert not ok and not checks_ok, summary


def test_stack_fault_mode_is_checked() -> None:
    from virtiospec.reference.stack.notify_faults import NotifyFaults

    with pytest.raises(ValueError, match="one of drop, double"):
        NotifyFaults("lose")
