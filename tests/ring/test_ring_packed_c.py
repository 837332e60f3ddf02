"""The C reference of the packed ring (reference/ring/c/ring_packed.c): its builds, its target
sessions, that it behaves access for access like the Python reference, and that the
machines step it and catch its known-bad variants."""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from c_helpers import (
    TESTS,
    check_compiles_cleanly,
    check_missing_compiler_is_named,
    check_sanitized_workload,
    lockstep,
    lockstep_shared_op,
    needs_cc,
    twin_sides,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.models import registry
from virtiospec.reference import c_build
from virtiospec.reference.access import GuestMemory, Load, Op, run
from virtiospec.reference.ring import PackedDevice, PackedDriver, PackedLayout
from virtiospec.reference.ring.c.errors import Aborted
from virtiospec.reference.ring.c.packed_build import (
    MUTANTS,
    MissingCompiler,
    find_compiler,
)
from virtiospec.reference.ring.c.packed_errors import ERRORS, error
from virtiospec.reference.ring.c.packed_stepped import CPackedDevice, CPackedDriver
from virtiospec.reference.ring.c.stepped import abort_all, live_operations
from virtiospec.reference.ring.errors import RingError
from virtiospec.reference.ring.packed.layout import (
    MARKS,
    VIRTQ_DESC_F_AVAIL,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_USED,
    VIRTQ_DESC_F_WRITE,
    packed_need_event,
)

PACKED = [c for c in cases.discover().values() if c.layer == "ring-packed"]


def _packed_module() -> Any:
    return importlib.import_module("virtiospec.reference.ring.c._ring_packed")


# -- the error table and the window ------------------------------------------------------

def test_error_table_matches_the_header() -> None:
    """Every code of ring_packed.h maps to the class and requirement the Python reference
    raises for the same violation."""
    header = (c_build.src("ring_packed.h")).read_text()
    rows = re.findall(r"VS_PE_(\w+) = (\d+),?\s*/\* (RING-PACKED-\d{3}|\w)", header)
    assert len(rows) == len(ERRORS) == 16
    for name, code, req in rows:
        cls, want_req, _ = ERRORS[int(code)]
        err = error(int(code), "x")
        assert isinstance(err, cls), name
        if isinstance(err, RingError):
            assert err.req == want_req == req, name
    assert _packed_module().lib.VS_PE_ABORTED == 16


def test_need_event_is_the_python_window() -> None:
    """vs_packed_need_event against packed_need_event: every off_wrap (offsets past Q too),
    every lap index and window length up to past 2Q, for Q in 1..8."""
    lib = _packed_module().lib
    for q in range(1, 9):
        for off in range(2 * q):
            for wrap in (0, 1):
                event = off | wrap << 15
                for new in range(2 * q):
                    for passed in range(2 * q + 2):
                        assert lib.vs_packed_need_event(q, event, new, passed) == \
                            packed_need_event(q, event, new, passed), (q, event, new, passed)


def test_install_built_the_extension() -> None:
    lib = _packed_module().lib
    assert lib.vs_packed_driver_state_size(3) > 0 and lib.vs_packed_device_state_size(3) > 0
    assert lib.vs_packed_driver_state_size(0) == lib.vs_packed_driver_state_size(32769) == 0


# -- the target --------------------------------------------------------------------------

def test_c_target_conforms_like_the_reference() -> None:
    """``--target c`` runs the 49 packed cases with the reference's outcomes."""
    want = {c.id: runner.run_case(c, targets.make("reference")).outcome for c in PACKED}
    got = {c.id: runner.run_case(c, targets.make("c")) for c in PACKED}
    assert len(got) == 49
    assert {k: (r.outcome, r.detail) for k, r in got.items() if r.outcome is not want[k]} == {}
    outcomes = [r.outcome for r in got.values()]
    assert (outcomes.count(Outcome.PASS), outcomes.count(Outcome.REJECT)) == (28, 21)


# -- builds ------------------------------------------------------------------------------

@needs_cc
@pytest.mark.parametrize("variant", ["reference", "stepped", *MUTANTS])
def test_ring_packed_c_compiles_cleanly(tmp_path: Path, variant: str) -> None:
    """C11, -Wall -Wextra -Werror -pedantic, for the reference, the stepped build and every
    mutant (stepped or not)."""
    check_compiles_cleanly(tmp_path, c_build.src("ring_packed.c"), variant, MUTANTS,
                           "VS_PACKED_MUTANT=VS_PM_{}")


@needs_cc
@pytest.mark.req("RING-PACKED-050", "RING-PACKED-052", "RING-PACKED-054", "RING-PACKED-055",
                 "RING-PACKED-092")
def test_workload_is_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    """One thread across many wraps and hostile inputs, then two threads on real atomics."""
    check_sanitized_workload(tmp_path, "-pthread", str(c_build.src("ring_packed.c")),
                             str(TESTS / "ring_packed_c_workload.c"),
                             name="ring_packed_c_workload")


def test_missing_compiler_is_named() -> None:
    check_missing_compiler_is_named(find_compiler, MissingCompiler, "packed ring")


# -- C and Python, access for access --------------------------------------------------------

Q_AT = 0x100
IND_AT = 0x2000
DATA_AT = 0x4000
MEM = 0x8000
LENS = st.sampled_from([1, 8, 16, 24, 100, 1, 8, 16, 4, 0, 1, 8, 16, (1 << 32) - 1, 1 << 32])
MARK_KINDS = ("avail", "used", "last-lap", "zero")
ADDRS = (DATA_AT, DATA_AT + 0x100, IND_AT, MEM - 8, MEM, (1 << 64) - 16)
ADD = st.tuples(st.just("add"), st.lists(LENS, max_size=3), st.lists(LENS, max_size=3))
SERVE = st.tuples(st.just("serve"), st.integers(0, 20))  # pop, then push what it popped
OPS = st.one_of(
    ADD, ADD, ADD, SERVE, SERVE, st.just(("get_used",)), st.just(("get_used",)),
    st.sampled_from([("kick",), ("get_used",), ("get_used",), ("disable_cb",), ("enable_cb",),
                     ("enable_cb_delayed",), ("detach",), ("pop",), ("should_notify",),
                     ("enable_notify",), ("disable_notify",)]),
    st.tuples(st.just("push"), st.lists(st.tuples(st.integers(0, 9), st.integers(0, 20)),
                                        max_size=3)),
    # the suite as the device, maybe lying: a used descriptor at the driver's used position
    st.tuples(st.just("used"), st.sampled_from(["held", "held", 0, 1, 7, 4096]),
              st.integers(0, 120), st.booleans(), st.sampled_from(("used", "used", *MARK_KINDS))),
    # the suite as the driver, maybe lying: a descriptor at or after the device's read position
    st.tuples(st.just("desc"), st.integers(0, 3), st.sampled_from(("avail", *MARK_KINDS)),
              st.sampled_from([0, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT,
                               VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT]),
              st.sampled_from(ADDRS), st.sampled_from([0, 8, 16, 32, 48, 100]),
              st.integers(0, 9)),
    st.tuples(st.just("table"), st.integers(0, 3), st.sampled_from(ADDRS),
              st.sampled_from([0, 8, 16]), st.sampled_from([0, VIRTQ_DESC_F_WRITE])),
    st.tuples(st.just("poke"), st.integers(0, 0x90), st.sampled_from([2, 4, 8]),
              st.integers(0, (1 << 64) - 1)),
)


def _marks(kind: str, wrap: int) -> int:
    return {"avail": VIRTQ_DESC_F_AVAIL if wrap else VIRTQ_DESC_F_USED,
            "used": MARKS if wrap else 0,
            "last-lap": VIRTQ_DESC_F_USED if wrap else VIRTQ_DESC_F_AVAIL, "zero": 0}[kind]


def _driver_state(d: Any) -> tuple[Any, ...]:
    broken = d.broken
    return (d.next_avail, d.avail_wrap, d.last_used, d.used_wrap, d.free_descs, d.num_free,
            d.outstanding, list(d.free_ids), d.ids, d.num_added, d.cb_disabled,
            None if broken is None else (type(broken), broken.req), d.kick_data())


def _device_state(v: Any) -> tuple[Any, ...]:
    broken = v.broken
    return (v.last_avail, v.avail_wrap, v.used_pos, v.used_wrap, v.held, v.in_flight,
            v.num_pushed, v.notify_disabled, v.needs_reset,
            None if broken is None else (type(broken), broken.req))


@pytest.mark.req("RING-PACKED-080", "RING-PACKED-081", "RING-PACKED-082", "RING-PACKED-083",
                 "RING-PACKED-084", "RING-PACKED-085", "RING-PACKED-086")
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(q=st.sampled_from([1, 2, 3, 4, 5, 8]), event_idx=st.booleans(), indirect=st.booleans(),
       ops=st.lists(OPS, min_size=10, max_size=60))
def test_c_yields_the_same_accesses_as_python(q: int, event_idx: bool, indirect: bool,
                                              ops: list[tuple[Any, ...]]) -> None:
    """The C driver and device, stepped, make the same loads, stores and fences as the
    Python reference, return the same results, raise the same errors (class and
    requirement) and keep the same state -- also when the other side lies."""
    lay = PackedLayout.packed_at(Q_AT, q)
    mems, drivers, devices = twin_sides(lay, (PackedDriver, CPackedDriver, PackedDevice,
                                              CPackedDevice), event_idx,
                                        IND_AT if indirect else None, MEM)

    def both(f: Callable[[Any], Op[Any]], pair: tuple[Any, Any]) -> tuple[str, object]:
        got = lockstep(f(pair[0]), f(pair[1]), *mems)
        if got[0] == "err":
            event(f"{op[0]}: {got[1]}")
        elif op[0] in ("pop", "serve", "get_used", "add"):
            event(f"{op[0]}: {'none' if got[1] is None else 'one'}")
        return got

    op: tuple[Any, ...] = ("init",)
    both(lambda d: d.init(), drivers)
    both(lambda d: d.init(), devices)
    token = 0
    for op in ops:
        kind = op[0]
        py_drv, py_dev = drivers[0], devices[0]
        shared = lockstep_shared_op(op, both, drivers, devices, token, DATA_AT)
        if shared is not None:
            token = shared
        elif kind == "serve":
            got = both(lambda d: d.pop(), devices)
            if got[0] == "ok" and got[1] is not None:
                chain: Any = got[1]
                used = [(chain.head, min(op[1], chain.writable_len))]
                both(lambda d, u=used: d.push(u), devices)  # type: ignore[misc]
        elif kind == "push":
            held = sorted(py_dev.in_flight)
            batch = ([(held[i % len(held)], n) for i, n in op[1]] if held
                     else [(i, n) for i, n in op[1]])  # repeats, lens too long, IDs not held
            both(lambda d, b=batch: d.push(b), devices)  # type: ignore[misc]
        elif kind == "used":
            _, which, length, write, marks = op
            ids = sorted(py_drv.ids)
            buf_id = (ids[0] if ids else 0) if which == "held" else which
            at = lay.desc_addr(py_drv.last_used)
            for mem in mems:
                mem.write(at + 8, 4, length)
                mem.write(at + 12, 2, buf_id)
                mem.write(at + 14, 2, _marks(marks, py_drv.used_wrap)
                          | (VIRTQ_DESC_F_WRITE if write else 0))
        elif kind == "desc":
            _, k, marks, bits, addr, length, buf_id = op
            pos, wrap = py_dev.last_avail, py_dev.avail_wrap
            for _ in range(k % q):
                pos, wrap = (0, wrap ^ 1) if pos + 1 == q else (pos + 1, wrap)
            at = lay.desc_addr(pos)
            for mem in mems:
                mem.write(at, 8, addr)
                mem.write(at + 8, 4, length)
                mem.write(at + 12, 2, buf_id)
                mem.write(at + 14, 2, _marks(marks, wrap) | bits)
        elif kind == "table":
            _, k, addr, length, flags = op
            at = IND_AT + 16 * k
            for mem in mems:
                mem.write(at, 8, addr)
                mem.write(at + 8, 4, length)
                mem.write(at + 14, 2, flags)
        else:  # garbage anywhere in the ring and the structures
            for mem in mems:
                mem.write(Q_AT + op[1], op[2], op[3] & ((1 << (8 * op[2])) - 1))
        assert mems[0].buf == mems[1].buf
        assert _driver_state(drivers[0]) == _driver_state(drivers[1])
        assert _device_state(devices[0]) == _device_state(devices[1])
    assert live_operations() == 0


# -- abandoned operations ------------------------------------------------------------------

def test_abandoned_operations_are_aborted() -> None:
    lay = PackedLayout.packed_at(Q_AT, 4)
    mem = GuestMemory(MEM)
    base = threading.active_count()
    drv = CPackedDriver(lay)
    run(drv.init(), mem)
    for _ in range(50):
        op = drv.get_used()
        assert isinstance(next(op), Load)  # the C call waits in its thread for this load
    stale = drv.get_used()
    next(stale)
    assert run(drv.enable_cb(), mem) is False  # a new operation aborts the suspended one
    with pytest.raises(Aborted):
        stale.send(0)
    abort_all()
    assert live_operations() == 0 and threading.active_count() <= base + 1


# -- models --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ring.packed.c.sc", "ring.packed.c.tso", "ring.packed.c.rmo",
                                  "ring.packed.mixed.c_driver.rmo",
                                  "ring.packed.mixed.c_device.rmo",
                                  "ring.packed.c.hostile.device", "ring.packed.c.hostile.driver"])
def test_c_sides_hold_in_the_machines(name: str) -> None:
    registry.discover()
    ev = registry.CHECKS[name].run(15)
    assert ev.ok, ev.detail
    assert ev.stats["steps"] > 0
    assert live_operations() == 0


def test_every_c_mutant_is_registered() -> None:
    registry.discover()
    names = {m.name for m in registry.select(registry.MUTANTS, ["ring.packed.c"])}
    assert names == {f"ring.packed.c.mutant.{m.lower().replace('_', '-')}" for m in MUTANTS}


# The variants the test suite runs (each caught in a few seconds); `virtiospec prove --mutants
# --only ring.packed.c` runs all 13.
CAUGHT_HERE = ("driver-no-wmb", "device-no-rmb", "driver-no-mb-kick", "driver-no-wrap-flip",
               "event-off-by-one", "device-no-recheck")


@pytest.mark.parametrize("name", CAUGHT_HERE)
def test_c_mutant_is_caught(name: str) -> None:
    registry.discover()
    ev = registry.MUTANTS[f"ring.packed.c.mutant.{name}"].run()
    assert ev.ok, ev.detail
    assert "violation: RING-PACKED-" in ev.detail
    assert live_operations() == 0
