"""The whole network stack interleaved (issue 16, item 2; models/stack/net.py): the stack's
driver and device stepped access by access under SC and x86-TSO pass, a known-bad variant of
each layer is caught by that one machine, and the stepping itself (models/stack/stepping.py)
hands over every shared access and every barrier, and ends an abandoned call."""

from __future__ import annotations

import dataclasses
import inspect
import threading

import pytest
from virtiospec.models import registry
from virtiospec.models.machine_base import bind
from virtiospec.models.memory.tso import Mode
from virtiospec.models.stack import net as sn
from virtiospec.models.stack import net_layers as nl
from virtiospec.models.stack import net_machine as nm
from virtiospec.models.stack import net_resets as nr
from virtiospec.models.stack.stepping import SteppedCall, SteppedMemory
from virtiospec.models.variant_switch import switched
from virtiospec.reference.access import (
    Fence,
    GuestMemory,
    Load,
    Op,
    Store,
    fence,
    load,
    run,
    store,
)
from virtiospec.reference.stack.net_backend import NetBackendLines


def _drive(call: SteppedCall, values: dict[int, int]) -> list[object]:
    """Run a stepped call's program to its end, answering loads from ``values``."""
    seen: list[object] = []
    program = call.program()
    try:
        action = next(program)
        while True:
            seen.append(action)
            reply = values.get(action.addr, 0) if isinstance(action, Load) else None
            action = program.send(reply)
    except StopIteration as done:
        seen.append(("result", done.value))
    return seen


def test_stepping_hands_over_accesses_and_barriers() -> None:
    mem = GuestMemory(0x100)
    stepped = SteppedMemory(mem, lambda addr: addr < 0x80, tag=0x1000)

    def op() -> Op[int]:
        yield from store(0x10, 4, 7)
        yield from fence("wmb")
        got = yield from load(0x20, 2)
        yield from store(0x90, 1, 1)  # a register: a barrier, then at once
        return got

    seen = _drive(SteppedCall(lambda: run(op(), stepped), stepped), {0x1020: 5})
    assert seen == [Store(0x1010, 4, 7), Fence("wmb"), Load(0x1020, 2), Fence("mb"),
                    ("result", 5)]
    assert mem.read(0x10, 4) == 0  # the machine performs stores, not the worker
    assert mem.read(0x90, 1) == 1  # the register access was done in the worker


def test_an_abandoned_call_ends_its_worker() -> None:
    mem = GuestMemory(0x100)
    stepped = SteppedMemory(mem, lambda addr: True)
    call = SteppedCall(lambda: run(load(0, 4), stepped), stepped)
    program = call.program()
    assert next(program) == Load(0, 4)
    program.close()
    assert not call.thread.is_alive()
    assert call.thread not in threading.enumerate()


@pytest.mark.parametrize("mode", ["sc", "tso"])
def test_the_stack_passes(mode: Mode) -> None:
    ev = nr.run_stack_net(nl.StackNetConfig(mode=mode), 15, derandomize=True)
    assert ev.ok, ev.detail
    assert ev.stats["steps"] > 1000
    assert ev.stats.get("frames sent", 0) > 0 and ev.stats.get("frames to the driver", 0) > 0


def test_the_stack_with_the_device_rings_in_c_passes() -> None:
    cls = bind("CByHand", (nm.StackNetMachine,), nl.StackNetConfig(mode="sc", c_device=True))
    m = cls()
    m.setup(q=2)
    rings = [q.ring for q in m.stack.function.queues if q.ring is not None]
    assert rings and all(isinstance(r, nl.CDeviceOps) for r in rings)
    m.teardown()
    ev = nr.run_stack_net(nl.StackNetConfig(mode="tso", c_device=True, resets=0), 10,
                          derandomize=True)
    assert ev.ok, ev.detail
    assert ev.stats.get("frames sent", 0) > 0 and ev.stats.get("frames to the driver", 0) > 0


def test_the_checks_are_registered() -> None:
    registry.discover()
    for mode in ("sc", "tso"):
        assert f"stack.net.{mode}" in registry.CHECKS
    layers = {name.removeprefix("stack.net.mutant.").split(".")[0] for name, *_ in sn.PLANTED}
    assert layers == {"pci", "virtio_pci", "shm", "shm_ring", "ring", "c_ring", "net"}
    for mode in ("sc", "tso"):
        assert f"stack.net.c_device.{mode}" in registry.CHECKS
    for name, *_ in sn.PLANTED:
        assert name in registry.MUTANTS


@pytest.mark.parametrize("name", [p[0] for p in sn.PLANTED])
def test_each_layer_variant_is_caught(name: str) -> None:
    registry.discover()
    ev = registry.MUTANTS[name].run()
    assert ev.ok, ev.detail
    assert ev.detail.startswith("violation: ")


def test_a_torn_configuration_read_is_caught_by_hand() -> None:
    """A configuration change between the driver's read of the status and of the classes:
    the driver without the generation loop holds a pair the device never showed."""
    cls = bind("TornByHand", (nm.StackNetMachine,),
               nl.StackNetConfig(mode="sc", driver_bug=nl.TornConfigDriver))
    m = cls()
    m.setup(q=2)
    m.config_change(False, nl.CLASSES[1])
    with pytest.raises(Exception, match="VIRTIO-PCI-053"):
        m.config_flap_mid_read(8, nl.CLASSES[2])
        m.driver_finish()
        m.accounting()
    m.failed = True
    m.teardown()


def test_the_same_race_passes_with_the_generation_loop() -> None:
    cls = bind("LoopByHand", (nm.StackNetMachine,), nl.StackNetConfig(mode="sc"))
    m = cls()
    m.setup(q=2)
    m.config_change(False, nl.CLASSES[1])
    m.config_flap_mid_read(8, nl.CLASSES[2])
    m.driver_finish()
    m.accounting()
    assert m.stack.net.link_up and m.stack.net.queue_classes == list(nl.CLASSES[2])
    m.teardown()


def test_the_backend_switch_is_the_protocol() -> None:
    assert NetBackendLines().rerun_on_recheck
    assert not nl.BackendStopsAfterIdlePass.lines.rerun_on_recheck


@pytest.mark.parametrize("cls", [nl.TornConfigDriver, nl.BackendStopsAfterIdlePass],
                         ids=lambda c: c.__name__)
def test_the_new_variants_turn_one_switch_and_copy_no_method(cls: type) -> None:
    lines = vars(cls)["lines"]
    assert sum(not getattr(lines, f.name) for f in dataclasses.fields(lines)) == 1
    assert [m for m, v in vars(cls).items() if inspect.isfunction(v)] == []
    assert switched(cls).startswith(f"switch {type(lines).__name__}.")
