"""The shm suite against broken targets (see test_shm_conformance.py for the suite on honest
ones): every case FAILs (or is WEDGED) against a target broken the way it looks for: the
known-bad variants of shm.c and of the Python reference, and hand-written ones below."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from c_helpers import needs_cc
from shm_suite import BAD, IDS, STEPPED_ONLY, explain, honest, outcomes
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.shm.api import SignalSetup, TableSetup
from virtiospec.conformance.shm.target_reference import (
    OpSignalReceiver,
    OpSignalSender,
    OpTableReader,
    OpTableWriter,
    ReferenceShmSides,
)
from virtiospec.conformance.shm.target_stepped import SteppedShmTarget
from virtiospec.models.shm.ref_mutants import (
    ClockDriverAckAfter,
    ReaderNoRecheck,
    ReaderNoRmbAfterData,
    ReaderNoRmbBeforeData,
    ReceiverNoRecheck,
    SenderNoMbBeforeEnabled,
    WriterNoWmbAfterData,
)
from virtiospec.reference.access import Op
from virtiospec.reference.shm import (
    Region,
    SignalLayout,
    SignalReceiver,
    SignalSender,
    Snapshot,
    TableBusy,
    TableLayout,
    TableReader,
    TableWriter,
)
from virtiospec.reference.shm.c.build import MUTANTS, build_lib
from virtiospec.reference.shm.signal import SignalLines
from virtiospec.reference.shm.table import WORD, TableLines

# -- broken targets ---------------------------------------------------------------------------

C_CAUGHT: dict[str, dict[str, Outcome]] = {
    "NO_SEQ_RECHECK": {c: Outcome.FAIL for c in (
        "shm.table.reader.reads-latest", "shm.table.reader.never-torn",
        "shm.table.reader.rejects-changing-seq", "shm.table.reader.never-backwards",
        "shm.table.reader.read-barriers")},
    "NO_WMB_BEFORE_DATA": {"shm.table.writer.write-barriers": Outcome.FAIL},
    "NO_WMB_AFTER_DATA": {"shm.table.writer.write-barriers": Outcome.FAIL},
    "UNBOUNDED_READ": {c: Outcome.WEDGED for c in (
        "shm.table.reader.rejects-odd-seq", "shm.table.reader.rejects-changing-seq",
        "shm.table.reader.never-backwards")},
    "NO_MB_INJECT": {"shm.signal.sender.full-barriers": Outcome.FAIL},
    "NO_MB_ENABLE": {"shm.signal.receiver.full-barriers": Outcome.FAIL},
    "NO_MB_ACK": {"shm.signal.receiver.full-barriers": Outcome.FAIL},
    "ACK_AFTER_READ": {"shm.signal.receiver.acknowledges-before-reading": Outcome.FAIL},
    "NO_RECHECK_ENABLE": {c: Outcome.FAIL for c in (
        "shm.signal.receiver.enable-rechecks", "shm.signal.receiver.full-barriers",
        "shm.signal.receiver.garbage-pending",
        "shm.signal.receiver.acknowledges-before-reading")},
    "NO_RMB_BEFORE_DATA": {"shm.table.reader.read-barriers": Outcome.FAIL},
    "NO_RMB_AFTER_DATA": {"shm.table.reader.read-barriers": Outcome.FAIL},
}


@pytest.mark.parametrize("mutant", MUTANTS)
def test_c_mutants_are_caught(mutant: str) -> None:
    """Each switch of shm_mutants.h, stepped: exactly these cases FAIL (or WEDGE), naming a
    requirement; every other case passes."""
    got = outcomes(SteppedShmTarget(mutant))
    caught = {c: r.outcome for c, r in got.items() if r.outcome in BAD}
    assert caught == C_CAUGHT[mutant], {c: explain(got[c]) for c in caught}
    for case_id, res in got.items():
        if res.outcome is Outcome.FAIL:
            assert re.search(r"SHM-[A-Z]+-\d{3}", res.detail), explain(res)
        elif res.outcome is Outcome.WEDGED:
            assert "without returning" in res.detail, explain(res)
        else:
            honest(case_id, res)


@needs_cc
def test_native_mutants_are_caught_through_the_abi(tmp_path: Path) -> None:
    """A library built from a known-bad shm.c runs whole operations: the missing re-check
    FAILs, and a reader that never gives up is WEDGED (in a process of its own: its thread
    spins until the process exits)."""
    recheck = build_lib(tmp_path / "recheck.so", mutant="NO_RECHECK_ENABLE")
    got = outcomes(targets.make(f"shm-lib:{recheck}"))
    assert got["shm.signal.receiver.enable-rechecks"].outcome is Outcome.FAIL
    unbounded = build_lib(tmp_path / "unbounded.so", mutant="UNBOUNDED_READ")
    done = subprocess.run([sys.executable, "-m", "virtiospec", "conformance", "run",
                           "--target", f"shm-lib:{unbounded}",
                           "--only", "shm.table.reader.rejects-odd-seq"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert re.search(r"WEDGED\s+shm\.table\.reader\.rejects-odd-seq", done.stdout), done.stdout


# Hand-written broken sides, each wrong in one way (marked BUG with the requirement).

class _NoSeqStride(TableLayout):
    @property
    def slot_size(self) -> int:
        return WORD * self.words  # BUG (SHM-TABLE-001): the seq word is not in the stride


class WriterWrongStride(TableWriter):
    def __init__(self, layout: TableLayout) -> None:
        super().__init__(_NoSeqStride(layout.region, layout.offset, layout.slots, layout.words))


class WriterNoOdd(TableWriter):
    lines = TableLines(writer_odd_first=False)  # BUG (SHM-TABLE-003): no odd seq first


class WriterLoadsSeq(TableWriter):
    def update(self, slot: int, value: Sequence[int]) -> Op[None]:
        lay = self.layout
        self.seqs[slot] = yield from lay.region.load(lay.seq(slot), WORD)  # BUG (SHM-TABLE-003)
        yield from super().update(slot, value)


class WriterJournal(TableWriter):
    n = 0

    def update(self, slot: int, value: Sequence[int]) -> Op[None]:
        lay = self.layout
        log = lay.offset + lay.size + WORD * (self.n % 8)  # BUG (SHM-TABLE-002): a history
        yield from lay.region.store(log, WORD, value[0])
        self.n += 1
        yield from super().update(slot, value)


class WriterNoSlotCheck(TableWriter):
    lines = TableLines(slot_check=False)  # BUG (SHM-TABLE-001): slot not checked


class ReaderWrongSlot(TableReader):
    def read(self, slot: int) -> Op[Snapshot]:
        return (yield from super().read(0))  # BUG (SHM-TABLE-001): always slot 0


class ReaderOneAttempt(TableReader):
    def __init__(self, layout: TableLayout, max_attempts: int = 64) -> None:
        super().__init__(layout, 1)  # BUG (SHM-TABLE-011): gives up before its bound


class ReaderOddAccepted(TableReader):
    lines = TableLines(reader_odd_check=False)  # BUG (SHM-TABLE-005): odd is OK


class ReaderUnbounded(TableReader):
    lines = TableLines(reader_bounded=False)  # BUG (SHM-TABLE-011): no bound


class ReaderFirstOnBusy(TableReader):
    first: dict[int, Snapshot]

    def read(self, slot: int) -> Op[Snapshot]:
        first = self.__dict__.setdefault("first", {})
        try:
            snap = yield from super().read(slot)
        except TableBusy as err:  # BUG (SHM-TABLE-008, SHM-TABLE-011): an older value than the last
        # one
            raise TableBusy(str(err), first.get(slot, err.last)) from None
        first.setdefault(slot, snap)
        return snap


class ReaderOrdersVersions(TableReader):
    lines = TableLines(poll_version_equal=False)  # BUG (SHM-TABLE-009): order, not ==


class ReaderPollAlwaysNew(TableReader):
    lines = TableLines(poll_version_check=False)  # BUG (SHM-TABLE-009): no version check


class ReaderNoSlotCheck(TableReader):
    lines = TableLines(slot_check=False)  # BUG (SHM-TABLE-001): slot not checked


class SenderNeverNotifies(SignalSender):
    def inject(self) -> Op[bool]:
        yield from super().inject()
        return False  # BUG (SHM-SIGNAL-002)


class SenderNoCoalesce(SignalSender):
    lines = SignalLines(sender_coalesce=False)  # BUG (SHM-SIGNAL-002): pending unread


class SenderPendingIsOne(SignalSender):
    lines = SignalLines(nonzero_is_set=False)  # BUG (SHM-SIGNAL-001): == 1


class ReceiverEnableStoresTwo(SignalReceiver):
    lines = SignalLines(receiver_enables_one=False)  # BUG (SHM-SIGNAL-001): stores 2


class ReceiverAckNoMb(SignalReceiver):
    lines = SignalLines(receiver_ack_mb=False)  # BUG (SHM-SIGNAL-005)


class ReceiverPendingIsOne(SignalReceiver):
    lines = SignalLines(nonzero_is_set=False)  # BUG (SHM-SIGNAL-001): == 1


class Broken(ReferenceShmSides):
    """The reference with some of its classes replaced."""

    def __init__(self, name: str, **classes: Callable[..., Any]) -> None:
        self.name = name
        for attr, cls in classes.items():
            setattr(self, attr, cls)


def _unchecked(cls: type[Any], **fields: Any) -> Any:
    """A frozen layout built without its checks (SHM-REGION-007, SHM-REGION-008, SHM-TABLE-001,
    SHM-SIGNAL-001)."""
    obj = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(obj, name, value)
    return obj


class UncheckedLayouts(ReferenceShmSides):
    """Builds every side on whatever layout it is given (BUG: SHM-REGION-007, SHM-REGION-008)."""

    name = "unchecked-layouts"

    @staticmethod
    def _region(setup: TableSetup | SignalSetup) -> Region:
        return _unchecked(Region, shmid=0, base=setup.base, length=setup.length)  # type: ignore[no-any-return]

    def _table(self, setup: TableSetup) -> TableLayout:
        return _unchecked(TableLayout, region=self._region(setup), offset=setup.offset,  # type: ignore[no-any-return]
                          slots=setup.slots, words=setup.words)

    def _signal(self, setup: SignalSetup) -> SignalLayout:
        return _unchecked(SignalLayout, region=self._region(setup), offset=setup.offset)  # type: ignore[no-any-return]

    def shm_table_writer(self, setup: TableSetup) -> OpTableWriter:
        return OpTableWriter(TableWriter(self._table(setup)), setup)

    def shm_table_reader(self, setup: TableSetup) -> OpTableReader:
        return OpTableReader(TableReader(self._table(setup), setup.max_attempts), setup)

    def shm_signal_sender(self, setup: SignalSetup) -> OpSignalSender:
        return OpSignalSender(SignalSender(self._signal(setup)), setup)

    def shm_signal_receiver(self, setup: SignalSetup) -> OpSignalReceiver:
        return OpSignalReceiver(SignalReceiver(self._signal(setup)), setup)


def _b(name: str, **classes: Callable[..., Any]) -> Callable[[], Any]:
    return lambda: Broken(name, **classes)


F, W = Outcome.FAIL, Outcome.WEDGED
# (the broken target, the cases it is caught by, with what outcome): every case is here at
# least once
BY_TARGET: list[tuple[Callable[[], Any], tuple[str, ...], Outcome]] = [
    (_b("wrong-stride", table_writer_cls=WriterWrongStride), ("shm.table.writer.layout",), F),
    (_b("no-odd", table_writer_cls=WriterNoOdd), ("shm.table.writer.seq-odd-during-update",
                                                   "shm.table.writer.never-torn"), F),
    (_b("loads-seq", table_writer_cls=WriterLoadsSeq),
     ("shm.table.writer.seq-kept-privately",), F),
    (_b("no-wmb-after-data", table_writer_cls=WriterNoWmbAfterData),
     ("shm.table.writer.write-barriers",), F),
    (_b("journal", table_writer_cls=WriterJournal), ("shm.table.writer.overwrite-latest",), F),
    (_b("no-slot-check", table_writer_cls=WriterNoSlotCheck),
     ("shm.table.writer.rejects-slot-out-of-range",), F),
    (_b("wrong-slot", table_reader_cls=ReaderWrongSlot), ("shm.table.reader.reads-latest",), F),
    (_b("no-recheck", table_reader_cls=ReaderNoRecheck),
     ("shm.table.reader.never-torn", "shm.table.reader.rejects-changing-seq"), F),
    (_b("one-attempt", table_reader_cls=ReaderOneAttempt),
     ("shm.table.reader.retries-within-bound",), F),
    (_b("odd-accepted", table_reader_cls=ReaderOddAccepted),
     ("shm.table.reader.rejects-odd-seq",), F),
    (_b("unbounded", table_reader_cls=ReaderUnbounded),
     ("shm.table.reader.rejects-odd-seq", "shm.table.reader.rejects-changing-seq"), W),
    (_b("first-on-busy", table_reader_cls=ReaderFirstOnBusy),
     ("shm.table.reader.never-backwards",), F),
    (_b("orders-versions", table_reader_cls=ReaderOrdersVersions),
     ("shm.table.reader.seq-wraps",), F),
    (_b("poll-always-new", table_reader_cls=ReaderPollAlwaysNew),
     ("shm.table.reader.poll-new-only",), F),
    (_b("no-rmb-before", table_reader_cls=ReaderNoRmbBeforeData),
     ("shm.table.reader.read-barriers",), F),
    (_b("no-rmb-after", table_reader_cls=ReaderNoRmbAfterData),
     ("shm.table.reader.read-barriers",), F),
    (_b("no-slot-check", table_reader_cls=ReaderNoSlotCheck),
     ("shm.table.reader.rejects-slot-out-of-range",), F),
    (_b("never-notifies", signal_sender_cls=SenderNeverNotifies),
     ("shm.signal.sender.notifies-when-enabled",), F),
    (_b("no-coalesce", signal_sender_cls=SenderNoCoalesce), ("shm.signal.sender.coalesces",), F),
    (_b("no-mb-inject", signal_sender_cls=SenderNoMbBeforeEnabled),
     ("shm.signal.sender.full-barriers",), F),
    (_b("pending-is-one", signal_sender_cls=SenderPendingIsOne),
     ("shm.signal.sender.garbage-words",), F),
    (_b("enable-stores-two", signal_receiver_cls=ReceiverEnableStoresTwo),
     ("shm.signal.receiver.enable-disable-acknowledge",), F),
    (_b("no-recheck", signal_receiver_cls=ReceiverNoRecheck),
     ("shm.signal.receiver.enable-rechecks",), F),
    (_b("ack-no-mb", signal_receiver_cls=ReceiverAckNoMb),
     ("shm.signal.receiver.full-barriers",), F),
    (_b("pending-is-one", signal_receiver_cls=ReceiverPendingIsOne),
     ("shm.signal.receiver.garbage-pending",), F),
    (_b("ack-after-read", clock_driver_cls=ClockDriverAckAfter),
     ("shm.signal.receiver.acknowledges-before-reading",), F),
    (UncheckedLayouts, tuple(f"shm.{side}.rejects-{what}" for side in (
        "table.writer", "table.reader", "signal.sender", "signal.receiver")
        for what in ("outside-region", "misaligned")), F),
]
# (case, the broken target, the outcome)
BROKEN = [(case_id, make, want) for make, case_ids, want in BY_TARGET for case_id in case_ids]


def test_every_case_has_a_broken_target() -> None:
    assert {case_id for case_id, _, _ in BROKEN} == set(IDS)


@pytest.mark.parametrize(("case_id", "make", "want"), BROKEN,
                         ids=[f"{c}-{m().name}" for c, m, _ in BROKEN])
def test_case_catches_its_bug(case_id: str, make: Callable[[], Any], want: Outcome) -> None:
    target = make()
    res = runner.run_case(cases.discover()[case_id], target)
    assert res.outcome is want, explain(res)
    if want is Outcome.FAIL:
        assert re.search(r"SHM-[A-Z]+-\d{3}|accepted|refused", res.detail), explain(res)


class _Whole:
    """A side with its ``*_op`` methods hidden: whole operations only."""

    def __init__(self, side: Any) -> None:
        self._side = side

    def __getattr__(self, attr: str) -> Any:
        if attr.endswith("_op") or attr == "_side":
            raise AttributeError(attr)
        return getattr(self._side, attr)


class WholeOnly:
    """A target whose sides do not speak the access protocol, as a library behind the ABI:
    the cases order whole operations."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self.name = f"{target.name} (whole operations)"

    def __getattr__(self, attr: str) -> Any:
        if attr == "_target":
            raise AttributeError(attr)
        make = getattr(self._target, attr)
        if not attr.startswith("shm_"):
            return make
        return lambda setup: _Whole(make(setup))


# the broken sides whose bug a whole-operation ordering exposes (the others need stepping)
WHOLE_CAUGHT = {"wrong-stride", "loads-seq", "journal", "no-slot-check", "unchecked-layouts",
                "wrong-slot", "odd-accepted", "first-on-busy", "orders-versions",
                "poll-always-new", "never-notifies", "no-coalesce", "pending-is-one",
                "enable-stores-two", "no-recheck"}
WHOLE = [(c, m, w) for c, m, w in BROKEN
         if m().name in WHOLE_CAUGHT and c not in STEPPED_ONLY
         and c != "shm.table.reader.never-torn"]


def test_whole_operations_are_checked() -> None:
    """A correct target without the access protocol: the stepped cases SKIP, the others
    pass (the whole-operation branch of each case, which ``c`` and ``shm-lib:`` take)."""
    for case_id, res in outcomes(WholeOnly(targets.make("reference"))).items():
        if case_id in STEPPED_ONLY:
            assert res.outcome is Outcome.SKIP, explain(res)
        else:
            honest(case_id, res)


@pytest.mark.parametrize(("case_id", "make", "want"), WHOLE,
                         ids=[f"{c}-{m().name}" for c, m, _ in WHOLE])
def test_whole_operations_catch_the_bug(case_id: str, make: Callable[[], Any],
                                        want: Outcome) -> None:
    res = runner.run_case(cases.discover()[case_id], WholeOnly(make()))
    assert res.outcome is want, explain(res)
