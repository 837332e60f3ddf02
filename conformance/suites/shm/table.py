"""The idempotent table (spec/shm.md, SHM-TABLE-*): the target writes and the suite reads
(``shm.table.writer.*``, here), or the suite writes and the target reads
(``shm.table.reader.*``, in table_reader.py, with the helpers of this module).

The suite's side is the Python reference (``TableReader``, ``TableWriter``), or, for hostile
cases, stores of its own: a writer that leaves ``seq`` odd for ever, one that changes it during
every attempt, a torn-looking slot. Where a case needs an interleaving it steps the target
access by access (a target that speaks the access protocol); otherwise it orders whole
operations. Every case checks that nothing outside the table changed.
"""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.cases import CaseFailed, Outcome, Result, require
from virtiospec.conformance.shm.api import (
    SteppedTableWriter,
    Stepper,
    TableSetup,
)
from virtiospec.conformance.suites.shm.common import (
    WHOLE,
    check_untouched,
    refused,
    refuses_layouts,
    shm_case,
    side,
    snap,
    snapshot,
    stepped,
    val,
)
from virtiospec.reference.access import Fence, Load, Store, run
from virtiospec.reference.shm import Snapshot, TableReader, TableWriter

U64 = (1 << 64) - 1


def _writer(target: Any, setup: TableSetup) -> Any:
    return side(target, "shm_table_writer", setup)


def _reader(target: Any, setup: TableSetup) -> Any:
    return side(target, "shm_table_reader", setup)


def _our_reader(setup: TableSetup) -> TableReader:
    return TableReader(setup.layout(), setup.max_attempts)


def _our_writer(setup: TableSetup) -> TableWriter:
    return TableWriter(setup.layout())


def _read_first_attempt(setup: TableSetup, slot: int, want: Snapshot, what: str) -> None:
    """The suite reads ``slot``: ``want``, at its first attempt (SHM-TABLE-010)."""
    rd = _our_reader(setup)
    got = run(rd.read(slot), setup.memory)
    require(got == want, f"SHM-TABLE-007: {what}: the reader gets the value written",
            str(want), str(got))
    require(rd.attempts == 1, f"SHM-TABLE-010: {what}: read at the first attempt", "1 attempt",
            f"{rd.attempts} attempts")


def _stores(accesses: list[Any]) -> list[Store]:
    return [a for a in accesses if isinstance(a, Store)]


def _fence_between(accesses: list[Any], lo: int, hi: int, kinds: tuple[str, ...]) -> bool:
    return any(isinstance(a, Fence) and a.kind in kinds for a in accesses[lo + 1 : hi])


# -- the target writes ------------------------------------------------------------------------

@shm_case("shm.table.writer.layout", ("SHM-TABLE-001", "SHM-TABLE-002", "SHM-TABLE-003"),
          "writer", "init zeroes exactly the table; slot i is seq then its words at "
          "offset + i*4*(1+W); an update stores only to its slot")
def writer_layout(target: Any) -> None:
    setup = TableSetup()
    w = _writer(target, setup)
    offset, size = setup.span()
    setup.memory.fill(setup.addr(offset), setup.addr(offset + size), 0x77)  # stale content
    before = snapshot(setup)
    w.init()
    require(setup.memory.read_bytes(setup.addr(offset), size) == bytes(size),
            "SHM-TABLE-001: init stores 0 to every seq and word", "all zero",
            setup.memory.read_bytes(setup.addr(offset), size).hex())
    check_untouched(setup, before, "init", (offset, size), "SHM-TABLE-002")
    for n, slot in enumerate((1, 0, 2), start=1):
        before = snapshot(setup)
        w.update(slot, val(n, setup.words))
        slot_span = (offset + slot * setup.slot_size, setup.slot_size)
        check_untouched(setup, before, f"the update of slot {slot}", slot_span, "SHM-TABLE-002")
        require(snap(setup, slot) == Snapshot(2, val(n, setup.words)),
                f"SHM-TABLE-001: slot {slot} at offset {slot_span[0]:#x}: seq 2, then the words",
                str(Snapshot(2, val(n, setup.words))), str(snap(setup, slot)))
        _read_first_attempt(setup, slot, Snapshot(2, val(n, setup.words)), f"slot {slot}")


@shm_case("shm.table.writer.seq-odd-during-update", ("SHM-TABLE-003",), "writer",
          "seq is odd while the words are stored and even, 2 more, after each update")
def writer_seq_odd(target: Any) -> Result | None:
    setup = TableSetup()
    w = _writer(target, setup)
    for n in (1, 2, 3):
        w.update(2, val(n, setup.words))
        require(setup.seq(2) == 2 * n, f"SHM-TABLE-003: seq after update {n}", str(2 * n),
                str(setup.seq(2)))
    if not isinstance(w, SteppedTableWriter):
        return Result(Outcome.PASS, WHOLE)
    st = Stepper(w.update_op(2, val(4, setup.words)), setup, what="update of slot 2")
    seq_addr = setup.seq_addr(2)
    words = {setup.word_addr(2, k) for k in range(setup.words)}
    seq_stores: list[int] = []
    while (access := st.step()) is not None:
        if not isinstance(access, Store):
            continue
        if access.addr == seq_addr:
            seq_stores.append(access.value)
        elif access.addr in words:
            require(setup.seq(2) % 2 == 1, "SHM-TABLE-003: seq is odd while a word is stored",
                    "odd seq", f"seq {setup.seq(2)} at the store of {access}")
        else:
            raise CaseFailed("SHM-TABLE-002: an update of slot 2 stores outside slot 2",
                             expected="stores to slot 2 only", observed=str(access))
    require(seq_stores == [7, 8], "SHM-TABLE-003: the update stores s + 1, then s + 2, to seq",
            "[7, 8]", str(seq_stores))
    return None


@shm_case("shm.table.writer.seq-kept-privately", ("SHM-TABLE-003",), "writer",
          "the writer counts seq privately: a seq changed under it does not change what it "
          "stores, and it never loads seq")
def writer_seq_private(target: Any) -> None:
    setup = TableSetup()
    w = _writer(target, setup)
    w.update(0, val(1, setup.words))
    setup.memory.write(setup.seq_addr(0), 4, 0x1235)  # a hostile reader stores garbage
    if isinstance(w, SteppedTableWriter):
        st = Stepper(w.update_op(0, val(2, setup.words)), setup, what="update of slot 0")
        st.finish()
        loads = [a for a in st.accesses if isinstance(a, Load) and a.addr == setup.seq_addr(0)]
        require(not loads, "SHM-TABLE-003: the writer never loads seq", "no load of seq",
                str(loads))
    else:
        w.update(0, val(2, setup.words))
    require(snap(setup, 0) == Snapshot(4, val(2, setup.words)),
            "SHM-TABLE-003: seq is the writer's own count, s + 2", "seq 4 (from 2)",
            f"seq {setup.seq(0):#x}")


@shm_case("shm.table.writer.write-barriers", ("SHM-TABLE-004",), "writer",
          "a wmb between the odd seq and the first word, and between the last word and the "
          "even seq")
def writer_barriers(target: Any) -> None:
    setup = TableSetup()
    w = stepped(target, _writer(target, setup), SteppedTableWriter, "writer")
    st = Stepper(w.update_op(1, val(1, setup.words)), setup, what="update of slot 1")
    st.finish()
    acc = st.accesses
    seq_at = [i for i, a in enumerate(acc) if isinstance(a, Store) and a.addr == setup.seq_addr(1)]
    words = {setup.word_addr(1, k) for k in range(setup.words)}
    word_at = [i for i, a in enumerate(acc) if isinstance(a, Store) and a.addr in words]
    require(len(seq_at) == 2 and bool(word_at) and seq_at[0] < word_at[0]
            and word_at[-1] < seq_at[1], "SHM-TABLE-003: odd seq, the words, even seq",
            "store seq, store the words, store seq", str(acc))
    require(_fence_between(acc, seq_at[0], word_at[0], ("wmb", "mb")),
            "SHM-TABLE-004: a wmb between the odd seq and the first word", "Fence(wmb)",
            str(acc[seq_at[0] : word_at[0] + 1]))
    require(_fence_between(acc, word_at[-1], seq_at[1], ("wmb", "mb")),
            "SHM-TABLE-004: a wmb between the last word and the even seq", "Fence(wmb)",
            str(acc[word_at[-1] : seq_at[1] + 1]))


@shm_case("shm.table.writer.never-torn", ("SHM-TABLE-003", "SHM-TABLE-007"), "writer",
          "a reader overlapping an update at any point takes the old value or the new one "
          "whole, never a mix")
def writer_never_torn(target: Any) -> Result | None:
    setup = TableSetup()
    w = _writer(target, setup)
    old, new = val(1, setup.words), val(2, setup.words)
    w.update(0, old)
    _read_first_attempt(setup, 0, Snapshot(2, old), "after the first update")
    if not isinstance(w, SteppedTableWriter):
        for n in range(2, 6):
            w.update(0, val(n, setup.words))
            _read_first_attempt(setup, 0, Snapshot(2 * n, val(n, setup.words)), f"update {n}")
        return Result(Outcome.PASS, WHOLE)
    # the slot as a reader could see it after each access of the update
    states = [snap(setup, 0)]
    st = Stepper(w.update_op(0, new), setup, what="update of slot 0")
    while st.step() is not None:
        states.append(snap(setup, 0))
    written = {2: old, 4: new}
    for i, first in enumerate(states):
        for last in states[i:]:
            for m in range(setup.words + 1):
                # an attempt: seq at state i, words 0..m-1 at i, the rest and seq at j
                if first.version % 2 or first.version != last.version:
                    continue  # the attempt fails: nothing is taken
                got = first.value[:m] + last.value[m:]
                require(written.get(first.version) == got,
                        "SHM-TABLE-007: an attempt that saw the same even seq twice took "
                        "one update's words", str(written.get(first.version)),
                        f"{got} under version {first.version}")
    return None


@shm_case("shm.table.writer.overwrite-latest", ("SHM-TABLE-002", "SHM-TABLE-010"), "writer",
          "200 updates of one slot, never read: only that slot changes, and a read gets the "
          "newest at its first attempt")
def writer_overwrite(target: Any) -> None:
    setup = TableSetup()
    w = _writer(target, setup)
    before = snapshot(setup)
    for n in range(1, 201):
        w.update(1, val(n, setup.words))
    slot = (setup.offset + setup.slot_size, setup.slot_size)
    check_untouched(setup, before, "200 updates of slot 1", slot, "SHM-TABLE-002")
    _read_first_attempt(setup, 1, Snapshot(400, val(200, setup.words)), "after 200 updates")


@shm_case("shm.table.writer.rejects-slot-out-of-range", ("SHM-TABLE-001", "SHM-REGION-007"),
          "writer", "an update of slot N (of N) is refused and stores nothing")
def writer_bad_slot(target: Any) -> Result:
    setup = TableSetup()
    w = _writer(target, setup)
    before = snapshot(setup)
    said = refused(lambda: w.update(setup.slots, val(1, setup.words)),
                   {"SHM-TABLE-001", "SHM-REGION-007"}, f"update of slot {setup.slots}")
    check_untouched(setup, before, f"the refused update of slot {setup.slots}")
    w.update(setup.slots - 1, val(2, setup.words))  # still usable
    _read_first_attempt(setup, setup.slots - 1, Snapshot(2, val(2, setup.words)),
                        "after the refusal")
    return Result(Outcome.REJECT, said)


def _outside() -> list[tuple[Any, set[str], str]]:
    return [(TableSetup(offset=0xF0), {"SHM-REGION-007"},
             "a table of 48 bytes at offset 0xf0 of a 0x100-byte region"),
            (TableSetup(offset=U64 - 15), {"SHM-REGION-007"},
             "a table at offset 2^64 - 16 (offset + size overflows)")]


def _misaligned() -> list[tuple[Any, set[str], str]]:
    return [(TableSetup(offset=0x22), {"SHM-TABLE-001", "SHM-REGION-008"},
             "a table at offset 0x22"),
            (TableSetup(base=0x104), {"SHM-REGION-008"}, "a region based at 0x104")]


@shm_case("shm.table.writer.rejects-outside-region", ("SHM-REGION-007",), "writer",
          "a table that does not fit its region, or whose end overflows, is refused untouched")
def writer_outside(target: Any) -> Result:
    return refuses_layouts(target, "shm_table_writer", _outside())


@shm_case("shm.table.writer.rejects-misaligned", ("SHM-TABLE-001", "SHM-REGION-008"), "writer",
          "a table at an offset that is not 4-aligned, or a region not 8-aligned, is refused")
def writer_misaligned(target: Any) -> Result:
    return refuses_layouts(target, "shm_table_writer", _misaligned())
