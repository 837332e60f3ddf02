"""Foreign C stepped through virtiospec's own TSan hooks (conformance/ring/tsan_step/)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from virtiospec.conformance import cases, runner
from virtiospec.conformance.ring.target_stepped import SteppedTarget
from virtiospec.conformance.ring.tsan_step import recipes
from virtiospec.conformance.ring.tsan_step.sides import TsanDevice, TsanDriver, tsan_build
from virtiospec.conformance.ring.tsan_step.target import _make as make
from virtiospec.models import registry
from virtiospec.models.ring.c_litmus import LitmusConfig, run_litmus
from virtiospec.models.ring.machine import RingConfig
from virtiospec.models.ring.tsan_checks import machine_check
from virtiospec.reference import c_build
from virtiospec.reference.access import Access, Fence, GuestMemory, Load, Store
from virtiospec.reference.c_stepping import abort_all
from virtiospec.reference.ring.c.stepped import CSplitDevice, CSplitDriver
from virtiospec.reference.ring.layout import SplitLayout

MEM = 4096


def trace(op: Generator[Access, Any, Any], mem: GuestMemory,
          log: list[tuple[str, int, int, int | str]]) -> Any:
    """Run ``op`` on ``mem``, logging every access (kind, address, size, value)."""
    value: Any = None
    try:
        while True:
            a = op.send(value)
            if isinstance(a, Load):
                value = mem.read(a.addr, a.size)
                log.append(("load", a.addr, a.size, value))
            elif isinstance(a, Store):
                mem.write(a.addr, a.size, a.value)
                log.append(("store", a.addr, a.size, a.value))
                value = None
            else:
                assert isinstance(a, Fence)
                log.append(("fence", 0, 0, a.kind))
                value = None
    except StopIteration as done:
        return done.value


def scenario(drv: Any, dev: Any) -> tuple[list[Any], list[Any]]:
    """Two buffers through the ring, every access logged, on one memory."""
    mem = GuestMemory(MEM)
    log: list[Any] = []
    results: list[Any] = []
    def do(op: Generator[Access, Any, Any]) -> Any:
        results.append(trace(op, mem, log))
        return results[-1]

    do(drv.init())
    do(dev.init())
    heads = [do(drv.add([(1024, 8)], [(1100, 16)], "a")),
             do(drv.add([(1200, 8), (1300, 4)], [], "b"))]
    for op in (drv.kick_prepare(), dev.pop(), dev.pop(), dev.pop(), dev.push([(heads[0], 5)]),
               dev.should_notify(), drv.get_used(), drv.enable_cb(), dev.enable_notify(),
               dev.push([(heads[1], 0)]), dev.should_notify(), drv.get_used(), drv.get_used()):
        do(op)
    return log, results


@pytest.mark.parametrize("event_idx", [False, True])
def test_hooks_see_exactly_the_accesses_of_the_access_macros(event_idx: bool) -> None:
    """ring.c through the TSan hooks makes the same loads, stores and barriers, in the same
    order, with the same results, as ring.c through its own access macros."""
    lay = SplitLayout.packed_at(0, 4)
    macro = scenario(CSplitDriver(lay, event_idx=event_idx),
                     CSplitDevice(lay, MEM, event_idx=event_idx))
    key = recipes.ring_c_key()
    tsan = scenario(TsanDriver(lay, event_idx=event_idx, mutant=key),
                    TsanDevice(lay, MEM, event_idx=event_idx, mutant=key))
    assert len(macro[0]) > 40
    assert tsan[0] == macro[0]
    assert tsan[1] == macro[1]


def test_a_mutant_changes_the_accesses() -> None:
    """The comparison above can fail: NO_MB_KICK drops the mb of kick_prepare."""
    lay = SplitLayout.packed_at(0, 4)
    ref = scenario(TsanDriver(lay, mutant=recipes.ring_c_key()),
                   TsanDevice(lay, MEM, mutant=recipes.ring_c_key()))[0]
    bad = scenario(TsanDriver(lay, mutant=recipes.ring_c_key("NO_MB_KICK")),
                   TsanDevice(lay, MEM, mutant=recipes.ring_c_key()))[0]
    assert ref.count(("fence", 0, 0, "mb")) == bad.count(("fence", 0, 0, "mb")) + 1


@pytest.mark.parametrize("mode", ["sc", "tso"])
def test_ring_machine_passes_ring_c_through_the_hooks(mode: str) -> None:
    ev = machine_check(recipes.ring_c_key(), recipes.ring_c_key(), mode,  # type: ignore[arg-type]
                       True)(15)
    assert ev.ok, ev.detail
    assert ev.stats["steps"] > 500


def test_missing_kick_barrier_is_a_lost_wakeup_through_the_hooks() -> None:
    bad = recipes.ring_c_key("NO_MB_KICK")
    ref = recipes.ring_c_key()
    from virtiospec.conformance.ring.tsan_step.sides import device_class, driver_class
    try:
        ev = run_litmus("kick", LitmusConfig(driver_class(bad), device_class(ref), False), 200,
                        derandomize=True)
        good = run_litmus("kick", LitmusConfig(driver_class(ref), device_class(ref), False),
                          100, derandomize=True)
    finally:
        abort_all()
    assert not ev.ok and "RING-SPLIT-110" in ev.detail
    assert good.ok, good.detail


def _outcomes(target: Any) -> dict[str, str]:
    ring = [c for c in cases.discover().values() if c.layer == "ring"
            and not c.id.startswith("hostile.") and ".abi." not in c.id
            and ".stepped." not in c.id]
    return {c.id: runner.run_case(c, target).outcome.value for c in ring}


@pytest.mark.parametrize("mutant", [None, "NEED_EVENT_OFF_BY_ONE"])
def test_suite_verdicts_equal_the_macro_build(mutant: str | None) -> None:
    macro = _outcomes(SteppedTarget(mutant))
    tsan = _outcomes(make(f"ring.c:{mutant}" if mutant else "ring.c"))
    differ = {k for k in macro if macro[k] != tsan[k]}
    # the macro-stepped target has no detach_unused; ours calls the ABI's
    assert differ <= {"ring.split.driver.detach-unused"}, differ
    if mutant:
        assert any(v not in ("PASS", "REJECT", "SKIP") for v in tsan.values())


def test_src_target_builds_any_abi_implementation(tmp_path: Any) -> None:
    target = make(f"{c_build.src('ring.c')},{c_build.src('ring_abi.c')}")
    assert tsan_build(target.key).version >= 1
    out = _outcomes(target)
    assert out["ring.split.driver.add-writes-chain"] == "PASS"


def test_src_target_bad_input_is_one_line(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="no such file"):
        make(str(tmp_path / "nope.c"))
    bad = tmp_path / "bad.c"
    bad.write_text("int x = ;\n")
    from virtiospec.conformance.ring.tsan_step.build import BuildError
    with pytest.raises(BuildError, match="does not compile"):
        make(str(bad))


def test_registered() -> None:
    registry.discover()
    assert "ring.tsan.ring_c.tso.event_idx" in registry.CHECKS
    assert "ring.tsan.ring_c.mutant.no-mb-kick" in registry.MUTANTS
    _ = RingConfig


# -- Linux's ring code through the hooks -------------------------------------------------

def test_linux_stepped_has_the_verdicts_of_linux_native() -> None:
    """Stepping changes nothing a sequential case can see: every ring case grades Linux
    through the hooks as it grades the native build of the same glue (linux_vring)."""
    from virtiospec.conformance.ring.linux_vring import build as linux_build
    from virtiospec.conformance.ring.tsan_step import linux
    from virtiospec.conformance.ring.tsan_step.target import TsanTarget
    from virtiospec.conformance.targets import make as make_target

    native = make_target(f"lib:{linux_build.build_library()}")
    native.isolation = None  # in-process, like the stepped target
    stepped = _outcomes(TsanTarget(linux.linux_key(), "linux-stepped"))
    assert stepped == _outcomes(native)
    assert stepped["ring.split.driver.add-writes-chain"] == "PASS"


@pytest.mark.parametrize("variant", ["NO_MB_KICK_PREPARE", "NO_MB_NEED_NOTIFY",
                                     "NO_RMB_GET_BUF", "NO_WMB_ADD"])  # one per race
def test_each_linux_barrier_bug_is_caught_and_linux_is_not(variant: str) -> None:
    from virtiospec.conformance.ring.tsan_step import linux
    from virtiospec.conformance.ring.tsan_step.sides import device_class, driver_class
    from virtiospec.models.ring.tsan_checks import litmus_caught, run_race
    from virtiospec.models.ring.tsan_linux import RACE_OF

    ref, bad = linux.linux_key(), linux.linux_key(variant=variant)
    v = linux.VARIANTS[variant]
    drv, dev = (bad, ref) if v.side == "driver" else (ref, bad)
    race = RACE_OF[variant]
    caught = litmus_caught(race, drv, dev, 60)
    assert caught.ok, caught.detail
    assert any(r in caught.detail for r in v.reqs)
    assert 0 < len(caught.trace) <= 100  # the shrunk schedule, drawn by models/render.py
    try:
        good = run_race(race, LitmusConfig(driver_class(ref), device_class(ref), True), 40,
                        derandomize=True)
    finally:
        abort_all()
    assert good.ok, good.detail


def test_a_patch_that_does_not_apply_says_so(tmp_path: Any) -> None:
    from virtiospec.conformance.ring.tsan_step.linux import VARIANTS, PatchError

    v = VARIANTS["NO_MB_KICK_PREPARE"]
    with pytest.raises(PatchError, match="occurs 0 times"):
        v.apply("int main(void) { return 0; }\n", "x.c")
    patched = v.apply("a\n" + v.context + "b\n", "x.c")
    assert v.line not in patched and "event. */" in patched


def test_linux_under_tso_in_the_ring_machine() -> None:
    from virtiospec.conformance.ring.tsan_step import linux

    key = linux.linux_key()
    ev = machine_check(key, key, "tso", False)(8)
    assert ev.ok, ev.detail


def test_src_linux_vring_target_options() -> None:
    from virtiospec.conformance.targets import make as make_target

    target = make_target("src:linux-vring,variant=NO_RMB_GET_BUF")
    assert target.key == "linux:NO_RMB_GET_BUF"
    with pytest.raises(Exception, match="unknown Linux variant 'BOGUS'"):
        make_target("src:linux-vring,variant=BOGUS")
    with pytest.raises(Exception, match="unknown option"):
        make_target("src:linux-vring,colour=red")


@pytest.mark.parametrize(("race", "driver", "device"), [
    ("used", "DriverNoRmbUsed", None), ("used", None, "DeviceNoWmb"),
    ("avail", None, "DeviceNoRmbPop"), ("avail", "DriverNoWmb", None), ("used", None, None),
    ("avail", None, None)])
def test_mp_races_catch_exactly_the_missing_barriers(race: str, driver: str | None,
                                                      device: str | None) -> None:
    """The RMO message-passing races on the Python reference: each barrier mutant of
    models/ring/ref_mutants.py is caught by its race, the reference passes both."""
    from virtiospec.models.ring import ref_mutants as ring_ref_mutants
    from virtiospec.models.ring.mp_litmus import run_mp_race
    from virtiospec.reference.ring import SplitDevice, SplitDriver

    drv = getattr(ring_ref_mutants, driver) if driver else SplitDriver
    dev = getattr(ring_ref_mutants, device) if device else SplitDevice
    ev = run_mp_race(race, LitmusConfig(drv, dev, False), 60, derandomize=True)
    assert ev.ok == (driver is None and device is None), ev.detail
    if not ev.ok:
        assert "RING-SPLIT-07" in ev.detail


def test_stepped_cases_fail_a_barrier_bug_and_pass_the_reference() -> None:
    """``conformance run --target src:...`` reports a missing barrier as FAIL."""
    ring = cases.discover()
    race = ring["ring.split.stepped.driver.kick-race"]
    assert runner.run_case(race, make("ring.c")).outcome.value == "PASS"
    bad = runner.run_case(race, make("ring.c:NO_MB_KICK"))
    assert bad.outcome.value == "FAIL" and "RING-SPLIT-110" in bad.detail
    assert "kick" in bad.observed  # the counterexample, drawn
    assert runner.run_case(race, SteppedTarget()).outcome.value == "PASS"  # macro-stepped
    from virtiospec.conformance.targets import make as make_target

    assert runner.run_case(race, make_target("c")).outcome.value == "SKIP"  # runs whole ops


@pytest.mark.parametrize(("barrier", "failing"), [
    ("VS_WMB(d); /* RING-SPLIT-032", "ring.split.stepped.driver.avail-race"),
    ("VS_MB(v); /* RING-SPLIT-072", "ring.split.stepped.device.kick-race")])
def test_src_target_fails_a_foreign_copy_missing_one_barrier(
        tmp_path: Any, barrier: str, failing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's copy of ring.c with one barrier deleted, given as src:: its race FAILs, the
    seven others pass (the worst-case schedule comes first: few examples suffice)."""
    from virtiospec.conformance.suites.ring import stepped as ring_stepped

    monkeypatch.setattr(ring_stepped, "EXAMPLES", 10)
    for name in ("ring.c", "ring_abi.c", "ring.h", "ring_access.h", "ring_mutants.h",
                 "vs_block.h", "vs_abi.h"):
        text = c_build.src(name).read_text()
        if name == "ring.c":
            assert text.count(barrier) == 1
            text = text.replace(barrier, "/* " + barrier.split("(")[0] + " deleted; ", 1)
        (tmp_path / name).write_text(text)
    target = make(f"{tmp_path / 'ring.c'},{tmp_path / 'ring_abi.c'}")
    races = [c for i, c in cases.discover().items() if ".stepped." in i]
    got = {c.id: runner.run_case(c, target) for c in races}
    bad = {i for i, r in got.items() if r.outcome.value not in ("PASS", "REJECT")}
    assert bad == {failing}, {i: got[i].detail for i in bad}


def test_linux_packed_driver_in_the_packed_machine() -> None:
    from virtiospec.conformance.ring.tsan_step import linux
    from virtiospec.conformance.ring.tsan_step.packed import packed_driver_class
    from virtiospec.models.ring.packed.machine import PackedConfig, run_packed

    cfg = PackedConfig(mode="tso", driver_cls=packed_driver_class(linux.linux_key()))  # type: ignore[arg-type]
    try:
        ev = run_packed(cfg, 8)
    finally:
        abort_all()
    assert ev.ok, ev.detail
    assert ev.stats["steps"] > 100


def test_each_hook_steps_as_documented() -> None:
    """tests/ring/tsan_hooks_probe.c makes one access of every kind the hooks handle: plain,
    volatile, acquire/release/seq_cst atomics, exchange, fetch_add, compare-exchange, memcpy,
    memset, acq_rel and full fences, and private accesses (which must not be steps)."""
    from pathlib import Path

    probe = Path(__file__).parent / "tsan_hooks_probe.c"
    key = recipes.src_key(str(probe))
    lay = SplitLayout.packed_at(0, 4)
    dev = TsanDevice(lay, MEM, mutant=key)
    mem = GuestMemory(MEM)
    for addr, size, value in ((0x100, 2, 0x1234), (0x108, 4, 0x55), (0x114, 4, 3),
                              (0x118, 4, 10), (0x11C, 4, 5), (0x140, 8, 0x11),
                              (0x148, 8, 0x22)):
        mem.write(addr, size, value)
    log: list[Any] = []
    chain = trace(dev.pop(), mem, log)
    assert chain.head == 0x33  # the memcpy'd bytes, as the checker answered them
    mb, wmb, rmb = (("fence", 0, 0, k) for k in ("mb", "wmb", "rmb"))
    assert log == [
        ("load", 0x100, 2, 0x1234),
        ("store", 0x104, 4, 0x1235),  # volatile: handed over at the next hook
        ("load", 0x108, 4, 0x55), rmb,  # acquire load
        wmb, ("store", 0x10C, 4, 0x55),  # release store
        wmb, ("store", 0x110, 4, 7), mb,  # seq_cst store (a release too)
        mb, ("load", 0x114, 4, 3), ("store", 0x114, 4, 9), mb,  # exchange
        mb, ("load", 0x118, 4, 10), ("store", 0x118, 4, 13), mb,  # fetch_add
        mb, ("load", 0x11C, 4, 5), ("store", 0x11C, 4, 6), mb,  # compare-exchange, success
        ("load", 0x140, 8, 0x11), ("load", 0x148, 8, 0x22),  # memcpy of 16 bytes
        ("store", 0x160, 8, 0xABABABABABABABAB),  # memset of 8
        wmb, rmb,  # acq_rel fence
        mb,  # __sync_synchronize
    ]
