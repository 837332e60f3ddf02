"""The C reference of the table and shm-signal (reference/shm/c/shm.c): its builds, its error
codes, bounded reads, that it behaves access for access like the Python reference, and that
the machines pass on it and catch its known-bad variants."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from c_helpers import (
    TESTS,
    check_compiles_cleanly,
    check_missing_compiler_is_named,
    check_sanitized_workload,
    interleave,
    lockstep,
    needs_cc,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from virtiospec.models import registry
from virtiospec.models.shm.c_checks import RMO
from virtiospec.reference import c_build
from virtiospec.reference.access import Fence, GuestMemory, Load, Op, Store, run
from virtiospec.reference.shm import (
    BadLayout,
    ClockDriver,
    ClockLayout,
    Misaligned,
    Region,
    RegionOutOfBounds,
    ShmError,
    SignalLayout,
    SignalReceiver,
    SignalSender,
    Snapshot,
    TableBusy,
    TableLayout,
    TableReader,
    TableWriter,
)
from virtiospec.reference.shm.c.build import (
    HEADER,
    MUTANTS,
    MissingCompiler,
    find_compiler,
)
from virtiospec.reference.shm.c.errors import ERRORS, Aborted, NoSpace, error
from virtiospec.reference.shm.c.stepped import (
    CClockDriver,
    CSignalReceiver,
    CSignalSender,
    CTableReader,
    CTableWriter,
    native,
    stepped_build,
)

REGION = Region(0, 0x1000, 0x100)
MEM = 0x2000
TABLE = TableLayout(REGION, 0x20, 2, 3)
SIGNAL = SignalLayout(REGION, 0)
CLOCK = ClockLayout(REGION, 0x80)

registry.discover()


# -- error codes ---------------------------------------------------------------------------

def test_error_table_matches_the_header() -> None:
    """Every code of shm.h maps to the class and requirement the Python reference raises
    for the same violation."""
    rows = re.findall(r"VS_SHM_E_(\w+) = (\d+),?\s*/\* (SHM-[A-Z]+-\d{3}|-)\s+(\w+)",
                      HEADER.read_text())
    assert len(rows) == len(ERRORS) == 8
    for name, code, req, cls_name in rows:
        cls, want_req, _ = ERRORS[int(code)]
        assert (want_req or "-") == req, name
        err = error(int(code), "x")
        assert isinstance(err, cls) and type(err).__name__ == cls_name, name
        if isinstance(err, ShmError):
            assert err.req == req, name
    lib = native().lib
    assert {lib.VS_SHM_E_OUTSIDE, lib.VS_SHM_E_BUSY, lib.VS_SHM_E_ABORTED} == {1, 5, 8}


@pytest.mark.req("SHM-REGION-007", "SHM-REGION-008", "SHM-TABLE-001", "SHM-SIGNAL-001",
                 "SHM-TABLE-011")
def test_error_codes_become_the_reference_errors() -> None:
    assert type(error(1)) is RegionOutOfBounds and error(1).req == "SHM-REGION-007"  # type: ignore[attr-defined]
    assert type(error(2)) is Misaligned and error(2).req == "SHM-REGION-008"  # type: ignore[attr-defined]
    assert type(error(3)) is BadLayout and error(3).req == "SHM-TABLE-001"  # type: ignore[attr-defined]
    assert type(error(4)) is BadLayout and error(4).req == "SHM-SIGNAL-001"  # type: ignore[attr-defined]
    busy = error(5, "x", last=Snapshot(2, (1,)))
    assert type(busy) is TableBusy and busy.req == "SHM-TABLE-011"
    assert busy.last == Snapshot(2, (1,))
    assert type(error(6)) is ValueError and type(error(7)) is NoSpace
    assert type(error(99)) is RuntimeError


@pytest.mark.req("SHM-TABLE-001", "SHM-SIGNAL-001", "SHM-REGION-007")
@pytest.mark.parametrize(("kind", "offset", "slots", "words"), [
    ("table", 0x22, 1, 1), ("table", 0x20, 0, 1), ("table", 0x20, 1, 0),
    ("table", 0xFC, 1, 1), ("table", 4, 4, 15), ("table", 0x100, 1, 1),
    ("signal", 0x6, 0, 0), ("signal", 0xFC, 0, 0), ("signal", 0x100, 0, 0),
])
def test_layouts_refused_like_python(kind: str, offset: int, slots: int, words: int) -> None:
    """A table or signal that Python refuses, C refuses with the same class and req, in the
    normal build (over host memory) and in the stepped one."""
    with pytest.raises(ShmError) as py:
        if kind == "table":
            TableLayout(REGION, offset, slots, words)
        else:
            SignalLayout(REGION, offset)
    shm = native()
    region = shm.ffi.new("uint64_t[]", REGION.length // 8)
    mem = shm.ffi.cast("uint8_t *", region)
    for ffi, lib, base in ((shm.ffi, shm.lib, mem), (stepped_build().ffi, stepped_build().lib,
                                                     stepped_build().ffi.NULL)):
        if kind == "table":
            rc = lib.vs_shm_table_create(ffi.new("struct vs_shm_table *"), base, REGION.length,
                                         offset, slots, words)
        else:
            rc = lib.vs_shm_signal_create(ffi.new("struct vs_shm_signal *"), base,
                                          REGION.length, offset)
        err = error(-rc)
        assert type(err) is type(py.value) and err.req == py.value.req


# -- builds --------------------------------------------------------------------------------

@needs_cc
@pytest.mark.parametrize("variant", ["reference", "stepped", *MUTANTS])
def test_shm_c_compiles_cleanly(tmp_path: Path, variant: str) -> None:
    """C11, -Wall -Wextra -Werror -pedantic, for the reference, the stepped build and every
    mutant (stepped or not)."""
    check_compiles_cleanly(tmp_path, c_build.src("shm.c"), variant, MUTANTS,
                           "VS_SHM_MUTANT=VS_SHM_M_{}")


@needs_cc
@pytest.mark.req("SHM-TABLE-007", "SHM-TABLE-008", "SHM-TABLE-011", "SHM-SIGNAL-010",
                 "SHM-SIGNAL-011")
def test_workload_is_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    """The normal build, one thread and two: a writer and a reader, a sender and a receiver
    on their own threads over one region (see tests/shm_c_workload.c)."""
    check_sanitized_workload(tmp_path, "-pedantic", str(c_build.src("shm.c")),
                             str(TESTS / "shm_c_workload.c"), "-pthread", name="shm_c_workload")


def test_missing_compiler_is_named() -> None:
    check_missing_compiler_is_named(find_compiler, MissingCompiler, "shm-signal")


def test_install_built_the_extension() -> None:
    lib = native().lib
    assert lib.vs_shm_writer_state_size(2) > 0 and lib.vs_shm_reader_state_size(2, 3) > 0
    assert lib.vs_shm_reader_state_size(0xFFFFFFFF, 0xFFFFFFFF) == 0
    assert lib.VS_SHM_MAX_ATTEMPTS == 64 and lib.VS_SHM_SIGNAL_SIZE == 8


# -- bounded reads -------------------------------------------------------------------------

class Native:
    """One table of the normal build over a region of host memory, 8-aligned."""

    def __init__(self, slots: int = 2, words: int = 3, max_attempts: int = 64) -> None:
        shm = native()
        self.ffi, self.lib = ffi, lib = shm.ffi, shm.lib
        self.region = ffi.new("uint64_t[]", REGION.length // 8)
        self.words32 = ffi.cast("uint32_t *", self.region)
        self.t = ffi.new("struct vs_shm_table *")
        assert lib.vs_shm_table_create(self.t, ffi.cast("uint8_t *", self.region),
                                       REGION.length, 0x20, slots, words) == 0
        w_size = lib.vs_shm_writer_state_size(slots)
        r_size = lib.vs_shm_reader_state_size(slots, words)
        self.blocks = [ffi.new("uint64_t[]", (n + 7) // 8) for n in (w_size, r_size)]
        self.w = ffi.cast("struct vs_shm_writer *", self.blocks[0])
        self.rd = ffi.cast("struct vs_shm_reader *", self.blocks[1])
        assert lib.vs_shm_writer_create(self.w, w_size, self.t) == 0
        assert lib.vs_shm_reader_create(self.rd, r_size, self.t, max_attempts) == 0
        assert lib.vs_shm_writer_init(self.w) == 0
        self.version = ffi.new("uint32_t *")
        self.value = ffi.new("uint32_t[]", words)

    def update(self, slot: int, value: list[int]) -> int:
        return int(self.lib.vs_shm_writer_update(self.w, slot,
                                                 self.ffi.new("uint32_t[]", value), len(value)))

    def read(self, slot: int) -> tuple[int, Snapshot]:
        rc = self.lib.vs_shm_reader_read(self.rd, slot, self.version, self.value)
        return rc, Snapshot(self.version[0], tuple(self.value))


@pytest.mark.req("SHM-TABLE-010", "SHM-TABLE-011")
def test_native_read_is_bounded_and_keeps_the_last_good_value() -> None:
    """A writer that leaves ``seq`` odd makes a read fail after exactly the bound of
    attempts, with the last good value; once the writer is done, the first attempt
    succeeds."""
    t = Native()
    assert t.update(1, [7, 8, 9]) == 0
    assert t.read(1) == (0, Snapshot(2, (7, 8, 9)))
    seq1 = (0x20 + 16) // 4
    t.words32[seq1] = 3  # stalled in an update
    t.words32[seq1 + 1] = 0xBAD  # half-written
    assert t.read(1) == (-t.lib.VS_SHM_E_BUSY, Snapshot(2, (7, 8, 9)))
    assert t.rd.attempts == 64
    assert t.update(1, [1, 2, 3]) == 0  # the writer's own seq moves on from 2
    assert t.read(1) == (0, Snapshot(4, (1, 2, 3))) and t.rd.attempts == 1
    one = Native(max_attempts=1)
    one.words32[0x20 // 4] = 1
    assert one.read(0)[0] == -one.lib.VS_SHM_E_BUSY and one.rd.attempts == 1


class Hostile(GuestMemory):
    """Memory whose ``seq`` word of slot 0 changes at every load (an even value each time,
    or odd for ever)."""

    def __init__(self, seq_addr: int, odd: bool) -> None:
        super().__init__(MEM)
        self.seq_addr, self.odd, self.loads = seq_addr, odd, 0

    def read(self, addr: int, size: int) -> int:
        if addr == self.seq_addr:
            self.loads += 1
            return 2 * self.loads + (1 if self.odd else 0)
        return super().read(addr, size)


@pytest.mark.req("SHM-TABLE-011")
@pytest.mark.parametrize("odd", [False, True])
def test_hostile_writer_cannot_hang_either_reader(odd: bool) -> None:
    """Against a writer that changes ``seq`` during every attempt (or leaves it odd), the C
    and the Python reader make the same accesses and both give up after their 64
    attempts, keeping their last good value."""
    seq = REGION.base + TABLE.seq(0)
    got = lockstep(TableReader(TABLE).read(0), CTableReader(TABLE).read(0),
                    Hostile(seq, odd), Hostile(seq, odd))
    assert got == ("err", ("TableBusy", "SHM-TABLE-011"))
    py, c = TableReader(TABLE), CTableReader(TABLE)
    for reader in (py, c):
        mem = Hostile(seq, odd)
        with pytest.raises(TableBusy) as busy:
            run(reader.read(0), mem)
        assert busy.value.last == Snapshot(0, (0, 0, 0)) == reader.last[0]
        assert reader.attempts == 64 and mem.loads == (64 if odd else 128)


# -- C and Python, access for access ---------------------------------------------------------

WORD = st.integers(0, 0xFFFFFFFF)
FIELDS = st.sampled_from([TABLE.seq(0), TABLE.seq(1), TABLE.word(1, 2), SIGNAL.enabled,
                          SIGNAL.pending, CLOCK.signal.pending, CLOCK.table.seq(0)])
SLOT = st.integers(0, TABLE.slots)  # the last one is out of range
OPS = st.one_of(
    st.tuples(st.just("update"), SLOT, st.lists(WORD, min_size=3, max_size=3)),
    st.tuples(st.just("update"), SLOT, st.one_of(  # refused: wrong length, or not 32 bits
        st.lists(WORD, max_size=5).filter(lambda v: len(v) != 3),
        st.permutations([0, 0xFFFFFFFF, 1 << 32]))),
    st.tuples(st.sampled_from(["read", "poll", "attempt"]), SLOT),
    st.sampled_from([("inject",), ("disable",), ("acknowledge",), ("enable",), ("service",),
                     ("wait_prepare",), ("signal_init",), ("writer_init",)]),
    st.tuples(st.just("clock"), st.integers(0, 1 << 40)),  # the clock device publishes
    st.tuples(st.just("poke"), st.one_of(FIELDS, st.integers(0, REGION.length - 4)), WORD),
    st.tuples(st.just("stall"), st.sampled_from([TABLE.seq(0), TABLE.seq(1),
                                                  CLOCK.table.seq(0)])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(OPS, min_size=4, max_size=40))
def test_c_yields_the_same_accesses_as_python(ops: list[tuple[Any, ...]]) -> None:
    """The C writer, reader, sender, receiver and clock service, stepped, make the same
    loads, stores and fences as the Python reference, return the same results, raise the
    same errors and keep the same private state -- also when the other side stores garbage
    into the region, or leaves a slot odd (SHM-TABLE-011)."""
    mems = (GuestMemory(MEM), GuestMemory(MEM))
    writers = (TableWriter(TABLE), CTableWriter(TABLE))
    readers = (TableReader(TABLE, max_attempts=3), CTableReader(TABLE, max_attempts=3))
    senders = (SignalSender(SIGNAL), CSignalSender(SIGNAL))
    receivers = (SignalReceiver(SIGNAL), CSignalReceiver(SIGNAL))
    clocks = (ClockDriver(CLOCK, max_attempts=2), CClockDriver(CLOCK, max_attempts=2))
    clock_writers = (TableWriter(CLOCK.table), TableWriter(CLOCK.table))

    def both(f: Callable[[Any], Op[Any]], pair: tuple[Any, Any]) -> tuple[str, object]:
        return lockstep(f(pair[0]), f(pair[1]), *mems)

    both(lambda w: w.init(), writers)
    both(lambda s: s.init(), (SIGNAL, senders[1]))
    for k in range(2):
        run(clock_writers[k].init(), mems[k])
    for op in ops:
        kind = op[0]
        if kind == "update":
            both(lambda w, o=op: w.update(o[1], o[2]), writers)  # type: ignore[misc]
        elif kind in ("read", "poll", "attempt"):
            both(lambda r, o=op: getattr(r, o[0])(o[1]), readers)  # type: ignore[misc]
        elif kind == "inject":
            both(lambda s: s.inject(), senders)
        elif kind in ("disable", "acknowledge", "enable"):
            both(lambda r, k=kind: getattr(r, k)(), receivers)  # type: ignore[misc]
        elif kind in ("service", "wait_prepare"):
            both(lambda c, k=kind: getattr(c, k)(), clocks)  # type: ignore[misc]
        elif kind == "signal_init":
            both(lambda s: s.init(), (SIGNAL, senders[1]))
        elif kind == "writer_init":
            both(lambda w: w.init(), writers)
        elif kind == "clock":
            for k in range(2):
                run(clock_writers[k].update(0, (op[1] & 0xFFFFFFFF, op[1] >> 32)), mems[k])
        elif kind == "stall":  # a writer stalled mid-update: seq odd (SHM-TABLE-011)
            for mem in mems:
                mem.write(REGION.base + op[1], 4, mem.read(REGION.base + op[1], 4) | 1)
        else:  # the other side stores garbage
            for mem in mems:
                mem.write(REGION.base + (op[1] & ~3), 4, op[2])
        assert mems[0].buf == mems[1].buf
        assert writers[0].seqs == writers[1].seqs
        for a, b in (readers, (clocks[0].reader, clocks[1].reader)):
            assert (a.last, a.processed, a.attempts) == (b.last, b.processed, b.attempts)
        assert (senders[0].injections, senders[0].coalesced, senders[0].notifications) == \
            (senders[1].injections, senders[1].coalesced, senders[1].notifications)
        assert receivers[0].acknowledgements == receivers[1].acknowledgements
        assert clocks[0].signal.acknowledgements == clocks[1].signal.acknowledgements
        assert (clocks[0].now, clocks[0].actions) == (clocks[1].now, clocks[1].actions)


# -- mixed pairs ---------------------------------------------------------------------------

@pytest.mark.req("SHM-TABLE-007", "SHM-TABLE-008", "SHM-TABLE-010")
@pytest.mark.parametrize("mix", ["c-writer", "c-reader"])
def test_mixed_table_pair_over_one_memory(mix: str) -> None:
    """A C writer with the Python reader (and the reverse), their accesses interleaved: every
    value read is one that was written, whole, never older than the last, and the newest
    once the writer is quiet."""
    mem = GuestMemory(MEM)
    w_cls, r_cls = (CTableWriter, TableReader) if mix == "c-writer" else (TableWriter,
                                                                         CTableReader)
    writer, reader = w_cls(TABLE), r_cls(TABLE, max_attempts=2)
    run(writer.init(), mem)
    written = {(0, (0, 0, 0))}
    last = 0
    for n in range(1, 60):
        value = (n, n * 3, 0xFFFFFFFF - n)
        written.add((2 * n, value))
        got = interleave(mem, writer.update(0, value), reader.read(0),
                         [1 + n % 4, 1 + (n // 4) % 3], ends=(TableBusy,))[1]
        snap = got.last if isinstance(got, TableBusy) else got
        assert isinstance(snap, Snapshot)
        assert (snap.version, snap.value) in written
        assert snap.version >= last
        last = snap.version
        assert run(reader.read(0), mem) == Snapshot(2 * n, value) and reader.attempts == 1


@pytest.mark.req("SHM-SIGNAL-010", "SHM-SIGNAL-011")
@pytest.mark.parametrize("mix", ["c-sender", "c-receiver"])
def test_mixed_signal_pair_over_one_memory(mix: str) -> None:
    """A C sender with the Python receiver (and the reverse), interleaved: whenever the
    receiver would wait, it has seen the last announced counter or a notification is on
    its way; at most one notification per acknowledgement, plus one."""
    mem = GuestMemory(MEM)
    s_cls, r_cls = (CSignalSender, SignalReceiver) if mix == "c-sender" else (SignalSender,
                                                                             CSignalReceiver)
    sender, receiver = s_cls(SIGNAL), r_cls(SIGNAL)
    run(SIGNAL.init(), mem)
    data = REGION.base + 0x10
    notified = 0

    def announce(n: int) -> Op[bool]:
        yield Store(data, 4, n)
        return (yield from sender.inject())

    def serve() -> Op[tuple[int, bool]]:
        yield from receiver.disable()
        yield from receiver.acknowledge()
        seen = yield Load(data, 4)
        assert seen is not None
        return seen, (yield from receiver.enable())

    for n in range(1, 80):
        notify, (seen, pending) = interleave(mem, announce(n), serve(),
                                             [1 + n % 3, 1 + (n // 3) % 5])
        notified += notify
        if not pending and seen != n:
            assert notify  # the receiver would wait: a notification wakes it
    assert notified <= receiver.acknowledgements + 1


# -- stepping ------------------------------------------------------------------------------

def test_a_new_operation_abandons_the_suspended_one() -> None:
    mem = GuestMemory(MEM)
    reader = CTableReader(TABLE)
    stale = reader.read(0)
    assert isinstance(next(stale), Load)
    assert run(reader.poll(1), mem) is None
    with pytest.raises(Aborted):
        stale.send(0)


def test_a_closed_operation_leaves_the_state_of_its_last_access() -> None:
    """As a Python generator closed mid-way: the sender counted the injection, not the
    coalescing it did not reach."""
    for sender in (SignalSender(SIGNAL), CSignalSender(SIGNAL)):
        op = sender.inject()
        assert next(op) == Fence("mb")
        assert op.send(None) == Load(REGION.base + 4, 4)
        op.close()
        assert (sender.injections, sender.coalesced) == (1, 0)


def test_mutant_builds_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown C mutant"):
        stepped_build("NO_SUCH_THING")


# -- the machines --------------------------------------------------------------------------

C_CHECKS = sorted(n for n in registry.CHECKS if n.startswith("shm.c."))
C_MUTANTS = sorted(n for n in registry.MUTANTS if n.startswith("shm.c.mutant."))


def test_the_c_checks_and_mutants_are_registered() -> None:
    """Every switch of shm_mutants.h is registered; those of a missing ``rmb`` and the RMO
    checks only when models/memory/tso.py has the RMO model."""
    rmo = {"shm.c.table.rmo", "shm.c.signal.rmo", "shm.c.clock.c_driver.rmo"}
    assert {"shm.c.table.sc", "shm.c.table.tso", "shm.c.table.pso", "shm.c.signal.sc",
            "shm.c.signal.tso", "shm.c.table.c_writer.pso", "shm.c.table.c_reader.pso",
            "shm.c.signal.c_sender.tso", "shm.c.signal.c_receiver.tso",
            "shm.c.clock.c_driver.tso"} | (rmo if RMO else set()) == set(C_CHECKS)
    switches = {registry.MUTANTS[n].bug.rsplit("(", 1)[1].rstrip(")") for n in C_MUTANTS}
    rmb = {"NO_RMB_BEFORE_DATA", "NO_RMB_AFTER_DATA"}
    assert switches == (set(MUTANTS) if RMO else set(MUTANTS) - rmb)
    assert all(registry.MUTANTS[n].method == "hypothesis" for n in C_MUTANTS)


@pytest.mark.req("SHM-TABLE-007", "SHM-TABLE-010", "SHM-TABLE-011", "SHM-SIGNAL-010",
                 "SHM-SIGNAL-011", "SHM-CLOCK-003")
@pytest.mark.parametrize("name", C_CHECKS)
def test_c_sides_hold_in_the_machines(name: str) -> None:
    ev = registry.CHECKS[name].run(15)
    assert ev.ok, ev.detail
    assert ev.stats["steps"] > 0


@pytest.mark.req("SHM-TABLE-004", "SHM-TABLE-005", "SHM-TABLE-011", "SHM-SIGNAL-004",
                 "SHM-SIGNAL-005", "SHM-SIGNAL-006")
@pytest.mark.parametrize("name", C_MUTANTS)
def test_each_c_mutant_is_caught(name: str) -> None:
    ev = registry.MUTANTS[name].run()
    assert ev.ok, ev.detail
    assert ev.trace, "a catch comes with the interleaving that shows the bug"
    assert any(req in ev.detail for req in registry.MUTANTS[name].reqs), ev.detail
