"""The idempotent table (spec/shm.md, SHM-TABLE-*), the target reads: the suite writes, with
the Python reference's ``TableWriter`` or with stores of its own (a writer that leaves ``seq``
odd for ever, one that changes it during every attempt, a torn-looking slot), and the target
reads (``shm.table.reader.*``). The target as writer, and the helpers both use, are in
table.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from virtiospec.conformance.cases import CaseFailed, Outcome, Result, require
from virtiospec.conformance.shm.api import (
    SteppedTableReader,
    Stepper,
    TableSetup,
)
from virtiospec.conformance.suites.shm.common import (
    WHOLE,
    busy,
    check_untouched,
    refused,
    refuses_layouts,
    shm_case,
    snap,
    snapshot,
    stepped,
    val,
)
from virtiospec.conformance.suites.shm.table import (
    _fence_between,
    _misaligned,
    _our_writer,
    _outside,
    _reader,
    _stores,
)
from virtiospec.reference.access import Load, run
from virtiospec.reference.shm import Snapshot


def _seq_loads(setup: TableSetup, slot: int, accesses: list[Any]) -> int:
    return sum(1 for a in accesses if isinstance(a, Load) and a.addr == setup.seq_addr(slot))


def _no_stores(accesses: list[Any], what: str) -> None:
    stores = _stores(accesses)
    require(not stores, f"SHM-TABLE-001: the reader only loads from the table ({what})",
            "no store", str(stores))


@shm_case("shm.table.reader.reads-latest", ("SHM-TABLE-001", "SHM-TABLE-005", "SHM-TABLE-010"),
          "reader", "reads each slot's value and version where the layout puts it, at the first "
          "attempt, without storing")
def reader_latest(target: Any) -> None:
    setup = TableSetup()
    rd = _reader(target, setup)
    w = _our_writer(setup)
    for slot in range(setup.slots):
        run(w.update(slot, val(slot + 1, setup.words)), setup.memory)
    run(w.update(1, val(9, setup.words)), setup.memory)
    want = {0: Snapshot(2, val(1, setup.words)), 1: Snapshot(4, val(9, setup.words)),
            2: Snapshot(2, val(3, setup.words))}
    before = snapshot(setup)
    for slot in range(setup.slots):
        if isinstance(rd, SteppedTableReader):
            st = Stepper(rd.read_op(slot), setup, setup.read_budget(), f"read of slot {slot}")
            got = st.finish()
        else:
            got = rd.read(slot)
        require(got == want[slot], f"SHM-TABLE-005: slot {slot}", str(want[slot]), str(got))
        if isinstance(rd, SteppedTableReader):
            _no_stores(st.accesses, f"read of slot {slot}")
            loads = _seq_loads(setup, slot, st.accesses)
            require(loads == 2, "SHM-TABLE-005, SHM-TABLE-010: one attempt of a stable slot: "
                    "seq loaded before and after the words", "2 loads of seq", str(loads))
    check_untouched(setup, before, "the reads", inside_req="SHM-TABLE-001")


def _schedules(n_reader: int, n_writer: int) -> Iterator[tuple[int, int, int]]:
    """(p1, k, p2): the writer makes its first ``k`` accesses after the reader's first
    ``p1``, and the rest after its first ``p2``."""
    for p in range(n_reader + 1):
        yield p, n_writer, p
    for p1 in range(n_reader + 1):
        for p2 in range(p1 + 1, n_reader + 1):
            for k in range(1, n_writer):
                yield p1, k, p2


@shm_case("shm.table.reader.never-torn", ("SHM-TABLE-005", "SHM-TABLE-007", "SHM-TABLE-010"),
          "reader", "an update overlapping a read at any point, in one or two parts: the read "
          "returns the old value or the new one whole")
def reader_never_torn(target: Any) -> Result | None:
    setup = TableSetup()
    rd = _reader(target, setup)
    old, new = Snapshot(2, val(1, setup.words)), Snapshot(4, val(2, setup.words))
    w = _our_writer(setup)
    run(w.update(0, old.value), setup.memory)
    if not isinstance(rd, SteppedTableReader):
        require(rd.read(0) == old, "SHM-TABLE-005: read of a stable slot", str(old),
                str(rd.read(0)))
        # the writer stalled half-way: odd seq, the first word new
        setup.memory.write(setup.seq_addr(0), 4, 3)
        setup.memory.write(setup.word_addr(0, 0), 4, new.value[0])
        busy(lambda: rd.read(0), old, "read during an update")
        setup.memory.write(setup.seq_addr(0), 4, 4)
        for k in range(1, setup.words):
            setup.memory.write(setup.word_addr(0, k), 4, new.value[k])
        require(rd.read(0) == new, "SHM-TABLE-010: read after the update", str(new),
                str(rd.read(0)))
        return Result(Outcome.PASS, WHOLE)
    probe = Stepper(rd.read_op(0), setup, setup.read_budget(), "read of slot 0")
    require(probe.finish() == old, "SHM-TABLE-005: read of a stable slot", str(old),
            str(probe.result))
    n_reader = len(probe.accesses)
    n_writer = len(list(_our_writer(setup).update(0, new.value)))
    for p1, k, p2 in _schedules(n_reader, n_writer):
        fresh = TableSetup()
        rd = _reader(target, fresh)
        w = _our_writer(fresh)
        run(w.update(0, old.value), fresh.memory)
        r = Stepper(rd.read_op(0), fresh, fresh.read_budget(), "read of slot 0")
        wr = Stepper(w.update(0, new.value), fresh)
        r.steps(p1)
        wr.steps(k)
        r.steps(p2 - p1)
        wr.finish()
        got = r.finish()
        how = (f"the update's first {k} of {n_writer} accesses after the reader's first {p1}, "
               f"the rest after its first {p2}")
        _no_stores(r.accesses, how)
        require(got in (old, new), f"SHM-TABLE-007: no torn read ({how})", f"{old} or {new}",
                str(got))
        if p1 == 0 and k == n_writer:
            require(got == new, f"SHM-TABLE-010: the update completed before the read ({how})",
                    str(new), str(got))
    return None


@shm_case("shm.table.reader.retries-within-bound", ("SHM-TABLE-005", "SHM-TABLE-011"),
          "reader", "a writer in the middle of an update for all but the last of the reader's "
          "attempts: the read retries and returns the new value")
def reader_retries(target: Any) -> None:
    setup = TableSetup(max_attempts=8)
    rd = stepped(target, _reader(target, setup), SteppedTableReader, "reader")
    w = _our_writer(setup)
    run(w.update(0, val(1, setup.words)), setup.memory)
    wr = Stepper(w.update(0, val(2, setup.words)), setup)
    wr.step()  # the odd seq: the writer is in the middle of the update
    r = Stepper(rd.read_op(0), setup, setup.read_budget(), "read of slot 0")
    try:
        while _seq_loads(setup, 0, r.accesses) < setup.max_attempts - 1:
            if r.step() is None:
                break
        wr.finish()
        got = r.finish()
    except CaseFailed:
        raise
    except Exception as err:
        raise CaseFailed("SHM-TABLE-011: the reader gave up before its bound",
                         expected=f"the update completed during attempt {setup.max_attempts} "
                         f"of {setup.max_attempts} is read",
                         observed=f"{type(err).__name__} after "
                         f"{_seq_loads(setup, 0, r.accesses)} loads of seq: {err}") from None
    want = Snapshot(4, val(2, setup.words))
    require(got == want, "SHM-TABLE-005: the read retried until seq was even and stable",
            str(want), str(got))
    loads = _seq_loads(setup, 0, r.accesses)
    require(loads <= setup.max_attempts + 1, "SHM-TABLE-011: attempts within the bound",
            f"at most {setup.max_attempts + 1} loads of seq", str(loads))


def _torn_looking(setup: TableSetup, old: Snapshot, new: tuple[int, ...]) -> None:
    """A writer stalled in the middle of an update: seq odd, half the words new."""
    setup.memory.write(setup.seq_addr(0), 4, old.version + 1)
    for k in range((setup.words + 1) // 2):
        setup.memory.write(setup.word_addr(0, k), 4, new[k])


@shm_case("shm.table.reader.rejects-odd-seq", ("SHM-TABLE-005", "SHM-TABLE-007",
          "SHM-TABLE-011"), "reader", "a writer that leaves seq odd, half its words stored: the "
          "read gives up after its bound with the last good value, never hangs, never returns "
          "the half-written one", budget=3.0)
def reader_odd_forever(target: Any) -> Result:
    setup = TableSetup(max_attempts=8)
    rd = _reader(target, setup)
    w = _our_writer(setup)
    run(w.update(0, val(1, setup.words)), setup.memory)
    good = rd.read(0)
    require(good == Snapshot(2, val(1, setup.words)), "SHM-TABLE-005: read of a stable slot",
            str(Snapshot(2, val(1, setup.words))), str(good))
    new = val(2, setup.words)
    _torn_looking(setup, good, new)
    before = snapshot(setup)
    if isinstance(rd, SteppedTableReader):
        st = Stepper(rd.read_op(0), setup, setup.read_budget(), "read of slot 0 (seq odd)")
        err = busy(st.finish, good, "read of slot 0 with seq odd for ever")
        attempts = _seq_loads(setup, 0, st.accesses)
        require(attempts <= setup.max_attempts, "SHM-TABLE-011: at most max_attempts attempts",
                f"<= {setup.max_attempts}", str(attempts))
    else:
        err = busy(lambda: rd.read(0), good, "read of slot 0 with seq odd for ever")
    try:
        polled = rd.poll(0)
    except Exception as perr:
        require(getattr(perr, "req", None) == "SHM-TABLE-011",
                "SHM-TABLE-011: a poll of the busy slot fails as busy", "SHM-TABLE-011",
                f"{type(perr).__name__}: {perr}")
    else:
        require(polled is None or polled == good, "SHM-TABLE-007: a poll of the busy slot "
                "hands out nothing half-written", f"busy, None or {good}", str(polled))
    check_untouched(setup, before, "the busy reads", inside_req="SHM-TABLE-001")
    for k in range(setup.words):  # the writer completes the update
        setup.memory.write(setup.word_addr(0, k), 4, new[k])
    setup.memory.write(setup.seq_addr(0), 4, good.version + 2)
    got = rd.read(0)
    require(got == Snapshot(good.version + 2, new), "SHM-TABLE-011: the reader reads again once "
            "the writer completes", str(Snapshot(good.version + 2, new)), str(got))
    return Result(Outcome.REJECT, f"busy, last good value kept: {err}")


@shm_case("shm.table.reader.rejects-changing-seq", ("SHM-TABLE-005", "SHM-TABLE-011"),
          "reader", "a writer that changes seq during every attempt: the read gives up after "
          "its bound with the last good value and returns nothing it loaded", budget=3.0)
def reader_seq_changing(target: Any) -> Result:
    setup = TableSetup(max_attempts=8)
    rd = stepped(target, _reader(target, setup), SteppedTableReader, "reader")
    w = _our_writer(setup)
    run(w.update(0, val(1, setup.words)), setup.memory)
    good = rd.read(0)
    st = Stepper(rd.read_op(0), setup, setup.read_budget(), "read of slot 0 (seq changing)")
    n = 2

    def hostile() -> object:
        nonlocal n
        while (access := st.step()) is not None:
            if isinstance(access, Load) and access.addr == setup.seq_addr(0):
                run(w.update(0, val(n, setup.words)), setup.memory)  # seq moves on by 2
                n += 1
        return st.result

    err = busy(hostile, good, "read of slot 0 while seq changes during every attempt")
    loads = _seq_loads(setup, 0, st.accesses)
    require(loads <= 2 * setup.max_attempts, "SHM-TABLE-011: at most max_attempts attempts",
            f"<= {2 * setup.max_attempts} loads of seq", str(loads))
    _no_stores(st.accesses, "busy read")
    return Result(Outcome.REJECT, f"busy after {loads} loads of seq: {err}")


@shm_case("shm.table.reader.never-backwards", ("SHM-TABLE-008", "SHM-TABLE-011"), "reader",
          "successive reads return values in the writer's order, through updates overlapping "
          "them and a busy slot")
def reader_never_backwards(target: Any) -> Result | None:
    setup = TableSetup()
    rd = _reader(target, setup)
    w = _our_writer(setup)
    order: list[Snapshot] = [Snapshot(0, (0,) * setup.words)]
    last = 0

    def update(n: int) -> None:
        run(w.update(0, val(n, setup.words)), setup.memory)
        order.append(snap(setup, 0))

    def check(got: Snapshot, what: str) -> None:
        nonlocal last
        require(got in order, f"SHM-TABLE-007: {what}: a value the writer wrote",
                "one of " + ", ".join(map(str, order)), str(got))
        at = order.index(got)
        require(at >= last, f"SHM-TABLE-008: {what}: not older than the last value read",
                f"{order[last]} or newer", str(got))
        last = at

    update(1)
    check(rd.read(0), "read 1")
    update(2)
    check(rd.read(0), "read 2")
    _torn_looking(setup, order[-1], val(3, setup.words))
    busy(lambda: rd.read(0), order[-1], "read while the writer is stalled")
    w.seqs[0] = order[-1].version + 2  # the writer resumes and completes update 3
    for k in range(setup.words):
        setup.memory.write(setup.word_addr(0, k), 4, val(3, setup.words)[k])
    setup.memory.write(setup.seq_addr(0), 4, w.seqs[0])
    order.append(snap(setup, 0))
    check(rd.read(0), "read after the stall")
    update(4)
    update(5)
    got = rd.read(0)
    check(got, "read after two updates")
    require(got == order[-1], "SHM-TABLE-010: the newest", str(order[-1]), str(got))
    if not isinstance(rd, SteppedTableReader):
        return Result(Outcome.PASS, WHOLE)
    probe = Stepper(rd.read_op(0), setup, setup.read_budget())
    probe.finish()
    for r in range(1, 3 * len(probe.accesses)):
        st = Stepper(rd.read_op(0), setup, setup.read_budget(), f"read {r}")
        st.steps(r % (len(probe.accesses) + 1))
        update(10 + r)
        check(st.finish(), f"read with an update after its access {r % (len(probe.accesses) + 1)}")
    return None


@shm_case("shm.table.reader.seq-wraps", ("SHM-TABLE-003", "SHM-TABLE-008", "SHM-TABLE-009"),
          "reader", "a version that wraps from 0xfffffffe to 0 is new: versions compare for "
          "equality, not order")
def reader_seq_wraps(target: Any) -> None:
    setup = TableSetup()
    rd = _reader(target, setup)
    w = _our_writer(setup)
    w.seqs[1] = 0xFFFFFFFC  # the writer has updated slot 1 2^31 - 2 times
    setup.memory.write(setup.seq_addr(1), 4, 0xFFFFFFFC)
    a, b, c = (val(n, setup.words) for n in (1, 2, 3))
    run(w.update(1, a), setup.memory)
    got = rd.poll(1)
    require(got == Snapshot(0xFFFFFFFE, a), "SHM-TABLE-009: a new version is handed out",
            str(Snapshot(0xFFFFFFFE, a)), str(got))
    run(w.update(1, b), setup.memory)  # seq wraps to 0
    got = rd.poll(1)
    require(got == Snapshot(0, b), "SHM-TABLE-009: version 0 after 0xfffffffe is new",
            str(Snapshot(0, b)), str(got))
    require(rd.poll(1) is None, "SHM-TABLE-009: the same version is not handed out twice",
            "None", "handed out again")
    run(w.update(1, c), setup.memory)
    got = rd.poll(1)
    require(got == Snapshot(2, c), "SHM-TABLE-008: the value after the wrap", str(Snapshot(2, c)),
            str(got))


@shm_case("shm.table.reader.poll-new-only", ("SHM-TABLE-002", "SHM-TABLE-009"), "reader",
          "values superseded before a poll are never handed out, and a version is handed out "
          "once")
def reader_poll(target: Any) -> None:
    setup = TableSetup()
    rd = _reader(target, setup)
    w = _our_writer(setup)
    for n in (1, 2, 3):
        run(w.update(2, val(n, setup.words)), setup.memory)
    want = Snapshot(6, val(3, setup.words))
    got = rd.poll(2)
    require(got == want, "SHM-TABLE-009: only the newest of three updates is handed out",
            str(want), str(got))
    require(rd.poll(2) is None, "SHM-TABLE-009: not handed out twice", "None", "handed out")
    require(rd.read(2) == want, "SHM-TABLE-005: read", str(want), str(rd.read(2)))
    require(rd.poll(2) is None, "SHM-TABLE-009: a read does not make the value new again",
            "None", "handed out")
    run(w.update(2, val(4, setup.words)), setup.memory)
    want = Snapshot(8, val(4, setup.words))
    require(rd.poll(2) == want, "SHM-TABLE-009: the next update is new", str(want), "other")
    require(rd.poll(2) is None, "SHM-TABLE-009: once", "None", "handed out")


@shm_case("shm.table.reader.read-barriers", ("SHM-TABLE-005", "SHM-TABLE-006"), "reader",
          "an attempt loads seq, rmb, the words, rmb, seq again")
def reader_barriers(target: Any) -> None:
    setup = TableSetup()
    rd = stepped(target, _reader(target, setup), SteppedTableReader, "reader")
    run(_our_writer(setup).update(1, val(1, setup.words)), setup.memory)
    st = Stepper(rd.read_op(1), setup, setup.read_budget(), "read of slot 1")
    st.finish()
    acc = st.accesses
    seq_at = [i for i, a in enumerate(acc) if isinstance(a, Load) and a.addr == setup.seq_addr(1)]
    words = {setup.word_addr(1, k) for k in range(setup.words)}
    word_at = [i for i, a in enumerate(acc) if isinstance(a, Load) and a.addr in words]
    require(len(seq_at) >= 2 and bool(word_at) and seq_at[0] < word_at[0]
            and word_at[-1] < seq_at[1], "SHM-TABLE-005: load seq, the words, seq again",
            "load seq, load the words, load seq", str(acc))
    require(_fence_between(acc, seq_at[0], word_at[0], ("rmb", "mb")),
            "SHM-TABLE-006: an rmb between the first load of seq and the words", "Fence(rmb)",
            str(acc[seq_at[0] : word_at[0] + 1]))
    require(_fence_between(acc, word_at[-1], seq_at[1], ("rmb", "mb")),
            "SHM-TABLE-006: an rmb between the words and the second load of seq", "Fence(rmb)",
            str(acc[word_at[-1] : seq_at[1] + 1]))


@shm_case("shm.table.reader.rejects-slot-out-of-range", ("SHM-TABLE-001", "SHM-REGION-007"),
          "reader", "a read of slot N (of N) is refused and loads nothing it uses")
def reader_bad_slot(target: Any) -> Result:
    setup = TableSetup()
    rd = _reader(target, setup)
    run(_our_writer(setup).update(2, val(1, setup.words)), setup.memory)
    before = snapshot(setup)
    said = refused(lambda: rd.read(setup.slots), {"SHM-TABLE-001", "SHM-REGION-007"},
                   f"read of slot {setup.slots}")
    check_untouched(setup, before, f"the refused read of slot {setup.slots}")
    got = rd.read(2)
    require(got == Snapshot(2, val(1, setup.words)), "SHM-TABLE-005: still reads",
            str(Snapshot(2, val(1, setup.words))), str(got))
    return Result(Outcome.REJECT, said)


@shm_case("shm.table.reader.rejects-outside-region", ("SHM-REGION-007",), "reader",
          "a table that does not fit its region, or whose end overflows, is refused untouched")
def reader_outside(target: Any) -> Result:
    return refuses_layouts(target, "shm_table_reader", _outside())


@shm_case("shm.table.reader.rejects-misaligned", ("SHM-TABLE-001", "SHM-REGION-008"), "reader",
          "a table at an offset that is not 4-aligned, or a region not 8-aligned, is refused")
def reader_misaligned(target: Any) -> Result:
    return refuses_layouts(target, "shm_table_reader", _misaligned())
