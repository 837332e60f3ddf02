"""The C reference of the split ring (reference/ring.c): its ABI, its builds, its targets,
and that it behaves access for access like the Python reference."""

from __future__ import annotations

import gc
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from c_helpers import (
    CC,
    TESTS,
    cc,
    check_compiles_cleanly,
    check_missing_compiler_is_named,
    check_sanitized_workload,
    interleave,
    lockstep,
    lockstep_shared_op,
    needs_cc,
    twin_sides,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.target_stepped import SteppedTarget
from virtiospec.reference import c_build
from virtiospec.reference.access import GuestMemory, Load, Op, run
from virtiospec.reference.ring import SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.ring.c.build import (
    ABI_HEADER,
    MUTANTS,
    PACKED_ABI_HEADER,
    STRICT,
    MissingCompiler,
    build_lib,
    find_compiler,
)
from virtiospec.reference.ring.c.errors import ERRORS, Aborted, error
from virtiospec.reference.ring.c.stepped import (
    MAX_SUSPENDED,
    CSplitDevice,
    CSplitDriver,
    abort_all,
    live_operations,
)
from virtiospec.reference.ring.errors import RingError

RING = [c for c in cases.discover().values() if c.layer == "ring"]
INCLUDE = c_build.C_DIRS


# -- the ABI -------------------------------------------------------------------------------

def test_abi_version() -> None:
    import virtiospec.reference.ring.c._ring as _ring

    header = ABI_HEADER.read_text()
    declared = re.search(r"#define VIRTIOSPEC_RING_ABI_VERSION (\d+)", header)
    assert declared is not None
    assert _ring.lib.virtiospec_ring_abi_version() == int(declared[1]) == 2
    assert _ring.lib.VIRTIOSPEC_RING_ABI_VERSION == 2


def test_error_table_matches_the_header() -> None:
    """Every code of virtiospec_ring.h (and ring.h) maps to the class and requirement the
    Python reference raises for the same violation."""
    header = ABI_HEADER.read_text()
    rows = re.findall(r"VIRTIOSPEC_RING_E_(\w+) = (\d+),?\s*/\* (RING-SPLIT-\d{3}|-)", header)
    assert len(rows) == len(ERRORS) == 18
    internal = (c_build.src("ring.h")).read_text()
    for name, code, req in rows:
        cls, want_req, _ = ERRORS[int(code)]
        assert (want_req or "-") == req, name
        assert re.search(rf"VS_E_{name} = {code}\b", internal), name
        err = error(int(code), "x")
        assert isinstance(err, cls)
        if isinstance(err, RingError):
            assert err.req == req


@pytest.mark.req("RING-SPLIT-080", "RING-SPLIT-081", "RING-SPLIT-082", "RING-SPLIT-083",
                 "RING-SPLIT-084", "RING-SPLIT-085")
def test_error_codes_become_the_reference_errors() -> None:
    from virtiospec.reference.ring import errors as e

    assert type(error(6)) is e.DescriptorLoop and error(6).req == "RING-SPLIT-080"  # type: ignore[attr-defined]
    assert type(error(12)) is e.BadDescriptorIndex and error(12).req == "RING-SPLIT-092"  # type: ignore[attr-defined]
    assert type(error(15)) is e.QueueFull
    assert type(error(16)) is ValueError


# -- the targets ---------------------------------------------------------------------------

def _outcomes(target: Any) -> dict[str, cases.Result]:
    return {c.id: runner.run_case(c, target) for c in RING}


@pytest.fixture(scope="module")
def reference_outcomes() -> dict[str, Outcome]:
    return {k: r.outcome for k, r in _outcomes(targets.make("reference")).items()}


def _same_as_reference(got: dict[str, cases.Result], want: dict[str, Outcome],
                       abi_runs: bool = True) -> None:
    assert len(got) == len(RING) >= 43
    bad = {k: (r.outcome, r.detail) for k, r in got.items() if r.outcome is not want[k]
           and not (want[k] is Outcome.SKIP and k.startswith("ring.split.abi."))
           and not (r.outcome is Outcome.SKIP and k.startswith("ring.split.stepped."))
           # a lib: target does not claim VIRTIO_F_IN_ORDER (suites/ring/in_order.py)
           and not (r.outcome is Outcome.SKIP and k.startswith("ring.split.driver.in-order-"))}
    assert not bad
    abi = [k for k in got if k.startswith("ring.split.abi.")]  # the ABI's own cases
    # run where the target is a library behind the ABI; a build stepped through its access
    # macros exposes no ABI, and says so rather than pass or fail them
    want_abi = Outcome.PASS if abi_runs else Outcome.SKIP
    assert abi and all(got[k].outcome is want_abi for k in abi), {
        k: (got[k].outcome, got[k].detail) for k in abi if got[k].outcome is not want_abi}


def test_c_target_conforms_like_the_reference(reference_outcomes: dict[str, Outcome]) -> None:
    _same_as_reference(_outcomes(targets.make("c")), reference_outcomes)


@pytest.fixture(scope="module")
def libring(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if CC is None:
        pytest.skip("no C compiler")
    return build_lib(tmp_path_factory.mktemp("lib") / "libvirtiospec_ring.so")


def test_lib_exports_only_the_abi(libring: Path) -> None:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("no nm")
    out = subprocess.run([nm, "-D", "--defined-only", str(libring)], capture_output=True,
                         text=True, check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if " T " in line}
    declared = set(re.findall(r"\b(virtiospec_ring_\w+)\(", ABI_HEADER.read_text()
                              + PACKED_ABI_HEADER.read_text()))
    assert names == declared and len(names) == 22 + 22  # the split and the packed ABI


def test_lib_target_conforms_like_the_reference(
        libring: Path, reference_outcomes: dict[str, Outcome]) -> None:
    _same_as_reference(_outcomes(targets.make(f"lib:{libring}")), reference_outcomes)


@pytest.fixture(scope="module")
def lib_outcomes(libring: Path) -> dict[str, Outcome]:
    return {k: r.outcome for k, r in _outcomes(targets.make(f"lib:{libring}")).items()}


@pytest.mark.parametrize("side", ["driver", "device"])
def test_lib_target_restricted_to_one_side(libring: Path, side: str,
                                          lib_outcomes: dict[str, Outcome]) -> None:
    """Restricting the library to one side changes nothing on that side, and every case of
    the other side SKIPs, saying so (unless it already SKIPs on the whole library)."""
    got = _outcomes(targets.make(f"lib:{libring}:{side}"))
    for c in RING:
        res = got[c.id]
        if c.side == side:
            assert res.outcome is lib_outcomes[c.id], (c.id, res.detail)
        elif lib_outcomes[c.id] is not Outcome.SKIP:
            assert res.outcome is Outcome.SKIP and f"restricted to the {side} side" in \
                res.detail, (c.id, res.detail)
        else:
            assert res.outcome is Outcome.SKIP, (c.id, res.detail)


def test_lib_target_refuses_a_missing_library(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such library"):
        targets.make(f"lib:{tmp_path / 'nope.so'}")


def test_stepped_build_conforms_like_the_reference(
        reference_outcomes: dict[str, Outcome]) -> None:
    _same_as_reference(_outcomes(SteppedTarget()), reference_outcomes, abi_runs=False)


# -- builds --------------------------------------------------------------------------------

@needs_cc
@pytest.mark.parametrize("variant", ["reference", "stepped", *MUTANTS])
def test_ring_c_compiles_cleanly(tmp_path: Path, variant: str) -> None:
    """C11, -Wall -Wextra -Werror -pedantic, for the reference, the stepped build and every
    mutant (stepped or not); and ring_abi.c."""
    check_compiles_cleanly(tmp_path, c_build.src("ring.c"), variant, MUTANTS, "VS_MUTANT=VS_M_{}",
                           include=INCLUDE)
    done = cc(*STRICT, "-pedantic", "-c", str(c_build.src("ring_abi.c")), out=tmp_path / "abi.o",
              include=INCLUDE)
    assert done.returncode == 0, done.stderr


@needs_cc
def test_workload_is_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    check_sanitized_workload(tmp_path, str(c_build.src("ring.c")), str(c_build.src("ring_abi.c")),
                             str(TESTS / "ring_c_workload.c"), name="ring_c_workload",
                             include=INCLUDE)


def test_missing_compiler_is_named() -> None:
    check_missing_compiler_is_named(find_compiler, MissingCompiler, "split ring")


def test_install_built_the_extension() -> None:
    import virtiospec.reference.ring.c._ring as _ring

    assert _ring.lib.virtiospec_ring_driver_state_size(8) > 0
    assert _ring.lib.virtiospec_ring_driver_state_size(6) == 0


# -- C and Python, access for access --------------------------------------------------------

Q_AT = 0x100
IND_AT = 0x2000
DATA_AT = 0x4000
MEM = 0x8000
LENS = st.sampled_from([0, 1, 8, 16, 100, (1 << 32) - 1, 1 << 32])
OPS = st.one_of(
    st.tuples(st.just("add"), st.lists(LENS, max_size=4), st.lists(LENS, max_size=4)),
    st.sampled_from([("kick",), ("get_used",), ("disable_cb",), ("enable_cb",),
                     ("enable_cb_delayed",), ("detach",), ("pop",), ("should_notify",),
                     ("enable_notify",), ("disable_notify",)]),
    st.tuples(st.just("push"), st.lists(st.tuples(st.integers(0, 9), st.integers(0, 120)),
                                        max_size=3)),
    st.tuples(st.just("used"), st.integers(0, 9), st.integers(0, 120)),  # hand device
    st.tuples(st.just("poke"), st.integers(0, 0x200), st.sampled_from([2, 4, 8]),
              st.integers(0, (1 << 64) - 1)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(q=st.sampled_from([1, 2, 4, 8]), start=st.sampled_from([0, 65534, 65535, 300]),
       event_idx=st.booleans(), indirect=st.booleans(), ops=st.lists(OPS, max_size=40))
def test_c_yields_the_same_accesses_as_python(q: int, start: int, event_idx: bool,
                                              indirect: bool, ops: list[tuple[Any, ...]]
                                              ) -> None:
    """The C driver and device, stepped, make the same loads, stores and fences as the
    Python reference, return the same results and raise the same errors -- also when the
    other side writes garbage into the rings."""
    lay = SplitLayout.packed_at(Q_AT, q)
    mems, drivers, devices = twin_sides(lay, (SplitDriver, CSplitDriver, SplitDevice,
                                              CSplitDevice), event_idx,
                                        IND_AT if indirect else None, MEM)

    def both(f: Callable[[Any], Op[Any]], pair: tuple[Any, Any]) -> tuple[str, object]:
        return lockstep(f(pair[0]), f(pair[1]), *mems)

    both(lambda d: d.init(), drivers)
    both(lambda d: d.init(), devices)
    for k in range(2):  # the free-running indices start at `start`, as in ring_machine
        drivers[k].avail_idx = drivers[k].last_used = start
        devices[k].last_avail = devices[k].used_idx = start
        for addr in (lay.avail_idx, lay.used_idx):
            mems[k].write(addr, 2, start)
    used_idx = start
    token = 0
    for op in ops:
        kind = op[0]
        shared = lockstep_shared_op(op, both, drivers, devices, token, DATA_AT)
        if shared is not None:
            token = shared
        elif kind == "push":
            heads = sorted(devices[0].in_flight)
            batch = list({heads[i % len(heads)]: n for i, n in op[1]}.items()) if heads else []
            both(lambda d, b=batch: d.push(b), devices)  # type: ignore[misc]
        elif kind == "used":  # the suite as the device, maybe lying
            at = lay.used_ring(lay.slot(used_idx))
            used_idx = (used_idx + 1) & 0xFFFF
            for mem in mems:
                mem.write(at, 4, op[1])
                mem.write(at + 4, 4, op[2])
                mem.write(lay.used_idx, 2, used_idx)
        else:  # garbage anywhere in the rings
            for mem in mems:
                mem.write(Q_AT + op[1], op[2], op[3] & ((1 << (8 * op[2])) - 1))
        assert mems[0].buf == mems[1].buf
        assert drivers[0].num_free == drivers[1].num_free
        assert drivers[0].free == drivers[1].free
        assert devices[0].in_flight == devices[1].in_flight
        assert devices[0].needs_reset == devices[1].needs_reset
    assert live_operations() == 0


# -- mixed pairs ---------------------------------------------------------------------------

@pytest.mark.req("RING-SPLIT-092", "RING-SPLIT-110", "RING-SPLIT-111")
@pytest.mark.parametrize("mix", ["c-driver", "c-device"])
@pytest.mark.parametrize("event_idx", [False, True])
@pytest.mark.parametrize("indirect", [False, True])
def test_mixed_pair_over_one_memory(mix: str, event_idx: bool, indirect: bool) -> None:
    """A C driver with the Python device (and the reverse) over the same guest memory, their
    accesses interleaved: every buffer goes out and comes back with its data."""
    q, mem = 4, GuestMemory(MEM)
    lay = SplitLayout.packed_at(Q_AT, q)
    area = IND_AT if indirect else None
    drv_cls, dev_cls = ((CSplitDriver, SplitDevice) if mix == "c-driver"
                        else (SplitDriver, CSplitDevice))
    drv = drv_cls(lay, event_idx=event_idx, indirect_area=area, indirect_max=4)
    dev = dev_cls(lay, MEM, event_idx=event_idx, indirect=indirect)
    run(drv.init(), mem)
    run(dev.init(), mem)
    back: list[tuple[object, int]] = []
    for n in range(24):
        pattern = [1 + n % 3, 1 + (n // 3) % 4]
        mem.write_bytes(DATA_AT + 0x100 * (n % q), bytes([n]) * 8)
        out, in_ = [(DATA_AT + 0x100 * (n % q), 8)], [(DATA_AT + 0x800 + 0x100 * (n % q), 32)]
        head, chain = interleave(mem, drv.add(out, in_, n), dev.pop(), pattern)
        kick, pending = interleave(mem, drv.kick_prepare(), dev.enable_notify(), pattern)
        if chain is None:  # popped before the driver published: the re-check saw it
            assert pending or kick  # no lost wakeup (RING-SPLIT-110)
            chain = run(dev.pop(), mem)
        assert chain is not None and chain.head == head
        assert run(dev.read_chain(chain), mem) == bytes([n]) * 8
        written = run(dev.write_chain(chain, bytes([n + 100]) * (n % 33)), mem)
        run(dev.disable_notify(), mem)
        run(dev.push([(chain.head, written)]), mem)
        got, _ = interleave(mem, drv.get_used(), dev.should_notify(), pattern)
        if got is None:
            got = run(drv.get_used(), mem)
        if n % 5 == 0:
            run(drv.disable_cb(), mem)
            assert run(drv.enable_cb(), mem) is False
        back.append(got)
        assert mem.read_bytes(in_[0][0], written) == bytes([n + 100]) * written
    assert back == [(n, n % 33) for n in range(24)]
    assert drv.num_free == q and run(drv.get_used(), mem) is None


# -- abandoned operations ------------------------------------------------------------------

def _suspended(drv: CSplitDriver) -> Op[Any]:
    op = drv.get_used()
    assert isinstance(next(op), Load)  # the C call waits in its thread for this load
    return op


def test_abandoned_operations_do_not_leak_threads() -> None:
    lay = SplitLayout.packed_at(Q_AT, 8)
    base = threading.active_count()
    for _ in range(300):
        drv = CSplitDriver(lay)
        _suspended(drv)  # dropped at once: closing the generator aborts the C call
    assert live_operations() == 0 and threading.active_count() <= base + 1

    class Cycle:
        op: object = None

    for _ in range(300):  # garbage in reference cycles: collected once too many pile up
        c = Cycle()
        c.op, c.self = _suspended(CSplitDriver(lay)), c  # type: ignore[attr-defined]
        del c
        assert live_operations() <= MAX_SUSPENDED + 1
    gc.collect()
    abort_all()
    assert live_operations() == 0 and threading.active_count() <= base + 1


def test_a_new_operation_aborts_the_suspended_one() -> None:
    mem = GuestMemory(MEM)
    drv = CSplitDriver(SplitLayout.packed_at(Q_AT, 8))
    run(drv.init(), mem)
    stale = _suspended(drv)
    assert run(drv.enable_cb(), mem) is False
    with pytest.raises(Aborted):
        stale.send(0)
    assert live_operations() == 0


# -- models --------------------------------------------------------------------------------

def test_every_c_mutant_is_caught() -> None:
    from virtiospec.models import registry

    registry.discover()
    mutants = registry.select(registry.MUTANTS, ["ring.c.mutant"])
    assert {m.name.rsplit(".", 1)[1].replace("-", "_").upper() for m in mutants} == set(MUTANTS)
    outcomes = {m.name: m.run() for m in mutants}
    assert all(ev.ok for ev in outcomes.values()), {n: ev.detail for n, ev in outcomes.items()
                                                    if not ev.ok}
    assert live_operations() == 0


@pytest.mark.parametrize("name", ["ring.c.tso.event_idx", "ring.mixed.c_driver.tso.flags",
                                  "ring.mixed.c_device.tso.event_idx",
                                  "ring.c.litmus.kick.flags", "ring.c.litmus.interrupt.event_idx"])
def test_c_sides_hold_in_the_machines(name: str) -> None:
    from virtiospec.models import registry

    registry.discover()
    ev = registry.CHECKS[name].run(15)
    assert ev.ok, ev.detail
    assert live_operations() == 0
