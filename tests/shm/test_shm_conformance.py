"""The shm suite (conformance/suites/shm/table.py, table_reader.py, signal.py): it passes
against the Python reference, the C reference (installed build through the ABI, and
stepped), and a shared library behind conformance/shm/virtiospec_shm.h with the same
outcomes as ``--target c``; and every case FAILs (or is WEDGED) against a target broken the
way it looks for: the known-bad variants of shm.c and of the Python reference, and
hand-written ones below."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from c_helpers import CC, REFERENCE, check_compiles_cleanly, needs_cc
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome, Result
from virtiospec.conformance.ring.lib_stress import is_stress
from virtiospec.conformance.shm.api import SignalSetup, TableSetup
from virtiospec.conformance.shm.target_abi import ROLES, ShmAbiLibrary, ShmAbiSides
from virtiospec.conformance.shm.target_lib import parse
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
from virtiospec.reference import c_build
from virtiospec.reference.access import Op, fence
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
from virtiospec.reference.shm.c.build import ABI_HEADER, MUTANTS, build_lib
from virtiospec.reference.shm.c.errors import ERRORS
from virtiospec.reference.shm.table import U32, WORD

# the C ABI's own case (one whole call of virtiospec_shm_service) and the two-thread stress
# (--stress, tests/shm/test_shm_lib_stress.py) run on native targets only: checked apart below
NATIVE = {c.id for c in cases.discover().values() if c.layer == "shm" and ".abi-" in c.id}
SHM = [c for c in cases.discover().values()
       if c.layer == "shm" and c.id not in NATIVE and not is_stress(c.id)]
IDS = [c.id for c in SHM]
PREFIXES = ("shm.table.writer.", "shm.table.reader.", "shm.signal.sender.",
            "shm.signal.receiver.")
# cases that step a side access by access: they SKIP on a target of whole operations
STEPPED_ONLY = {"shm.table.writer.write-barriers", "shm.table.reader.retries-within-bound",
                "shm.table.reader.rejects-changing-seq", "shm.table.reader.read-barriers",
                "shm.signal.sender.full-barriers", "shm.signal.receiver.full-barriers",
                "shm.signal.receiver.acknowledges-before-reading"}
BAD = (Outcome.FAIL, Outcome.WEDGED)


def outcomes(target: Any, chosen: Sequence[cases.Case] = SHM) -> dict[str, Result]:
    return {c.id: runner.run_case(c, target) for c in chosen}


def explain(res: Result) -> str:
    return f"{res.outcome.value}: {res.detail} / {res.expected} / {res.observed}"


def honest(case_id: str, res: Result) -> None:
    """PASS, or REJECT for a hostile case (``.rejects-``)."""
    want = Outcome.REJECT if ".rejects-" in case_id else Outcome.PASS
    assert res.outcome is want, explain(res)


# -- the suite itself ------------------------------------------------------------------------

def test_cases_are_named_and_cite_shm_requirements() -> None:
    assert len(SHM) >= 30
    for c in SHM:
        assert c.id.startswith(PREFIXES), c.id
        assert c.reqs and all(r.startswith(("SHM-TABLE-", "SHM-SIGNAL-", "SHM-REGION-"))
                              for r in c.reqs), c.id
        role = c.id.split(".")[2]
        assert c.side == {"writer": "device", "reader": "driver", "sender": "device",
                          "receiver": "driver"}[role], c.id
    cited = {r for c in SHM for r in c.reqs}
    for rid in ("SHM-TABLE-003", "SHM-TABLE-004", "SHM-TABLE-006", "SHM-TABLE-007",
                "SHM-TABLE-008", "SHM-TABLE-009", "SHM-TABLE-011", "SHM-SIGNAL-002",
                "SHM-SIGNAL-003", "SHM-SIGNAL-004", "SHM-SIGNAL-006", "SHM-SIGNAL-010",
                "SHM-SIGNAL-011", "SHM-REGION-007", "SHM-REGION-008"):
        assert rid in cited, rid


def test_the_cases_of_the_abi_pass_on_c_and_skip_elsewhere() -> None:
    assert len(NATIVE) == 5  # the signalled reader, the caller errors of the four roles
    for case_id in NATIVE:
        case = cases.discover()[case_id]
        assert runner.run_case(case, targets.make("c")).outcome is Outcome.PASS
        assert runner.run_case(case, targets.make("reference")).outcome is Outcome.SKIP


@pytest.mark.parametrize("case", SHM, ids=IDS)
def test_reference_conforms(case: cases.Case) -> None:
    honest(case.id, runner.run_case(case, targets.make("reference")))


def test_stepped_c_conforms() -> None:
    for case_id, res in outcomes(SteppedShmTarget()).items():
        honest(case_id, res)


def test_c_conforms_through_the_abi() -> None:
    for case_id, res in outcomes(targets.make("c")).items():
        if case_id in STEPPED_ONLY:
            assert res.outcome is Outcome.SKIP, explain(res)
            assert "whole operations only" in res.detail or "signalled reader" in res.detail
        else:
            honest(case_id, res)


@pytest.fixture(scope="module")
def libshm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``make libshm`` builds: shm.c and shm_abi.c as a shared library."""
    if CC is None:
        pytest.skip("no C compiler")
    return build_lib(tmp_path_factory.mktemp("lib") / "libvirtiospec_shm.so")


def test_lib_target_matches_c(libshm: Path, tmp_path: Path) -> None:
    """``make libshm``'s library through ``--target shm-lib:``, from the command line: the
    same outcome for every case as ``--target c``."""
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "virtiospec", "conformance", "run",
                           "--target", f"shm-lib:{libshm}", "--only", "shm", "-q",
                           "--report", f"json:{report}"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    got = {c["id"]: c["outcome"] for c in json.loads(report.read_text())["cases"]}
    chosen = [c for c in cases.discover().values() if c.layer == "shm" and not is_stress(c.id)]
    want = {case_id: res.outcome.value
            for case_id, res in outcomes(targets.make("c"), chosen).items()}
    assert got == want and all(got[c] == "PASS" for c in NATIVE)
    assert "0 fail" in done.stdout and "0 wedged" in done.stdout, done.stdout


def test_lib_exports_only_the_abi(libshm: Path) -> None:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("no nm")
    out = subprocess.run([nm, "-D", "--defined-only", str(libshm)], capture_output=True,
                         text=True, check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if " T " in line}
    declared = set(re.findall(r"\b(virtiospec_shm_\w+)\(", ABI_HEADER.read_text()))
    assert names == declared and len(names) == 19


def test_make_libshm_builds_the_example() -> None:
    makefile = (REFERENCE.parent / "Makefile").read_text()
    assert re.search(r"^libshm: setup\n\t.*shm\.c\.build lib build/libvirtiospec_shm\.so$",
                     makefile, re.M)


# -- the ABI ----------------------------------------------------------------------------------

def test_abi_error_codes_name_the_reference_requirements() -> None:
    """Each code of virtiospec_shm.h is the code of shm.h with the same requirement (the C
    adapter static_asserts the numbers; here the requirement column)."""
    rows = re.findall(r"VIRTIOSPEC_SHM_E_(\w+) = (\d+),?\s*/\* (SHM-[A-Z]+-\d{3}|-)",
                      ABI_HEADER.read_text())
    assert len(rows) == 7
    for name, code, req in rows:
        assert (ERRORS[int(code)][1] or "-") == req, name


@needs_cc
@pytest.mark.parametrize("variant", ["reference", "UNBOUNDED_READ", "NO_RECHECK_ENABLE"])
def test_abi_adapter_compiles_cleanly(tmp_path: Path, variant: str) -> None:
    """C11, -Wall -Wextra -Werror -pedantic: the adapter, and shm.c as the library builds it
    with a mutant switched on."""
    include = c_build.C_DIRS
    check_compiles_cleanly(tmp_path, c_build.src("shm_abi.c"), "reference", (), "",
                           include=include)
    check_compiles_cleanly(tmp_path, c_build.src("shm.c"), variant, (),
                           "VS_SHM_MUTANT=VS_SHM_M_{}", include=include)


def test_lib_target_parses_roles() -> None:
    assert parse("./x.so") == ("./x.so", tuple(ROLES))
    assert parse("./x.so:reader,receiver") == ("./x.so", ("reader", "receiver"))
    assert parse("/a:b/x.so") == ("/a:b/x.so", tuple(ROLES))
    with pytest.raises(ValueError, match="usage"):
        parse("")
    with pytest.raises(ValueError, match="no such library"):
        targets.make("shm-lib:/nonexistent/x.so")


class _OnlyVersion:
    """A library that exports nothing but the version."""

    @staticmethod
    def virtiospec_shm_abi_version() -> int:
        return 2


def test_roles_skip_when_restricted_or_missing() -> None:
    native = targets.make("c")
    restricted = ShmAbiSides(native.shm_abi, "lib:x", ("reader",))
    res = outcomes(restricted, [cases.discover()["shm.table.writer.layout"]])
    assert res["shm.table.writer.layout"].outcome is Outcome.SKIP
    assert "restricted to the reader" in res["shm.table.writer.layout"].detail
    bare = ShmAbiSides(ShmAbiLibrary(None, _OnlyVersion(), "bare"), "lib:bare")
    res = outcomes(bare, [cases.discover()["shm.signal.sender.coalesces"]])
    assert "does not export virtiospec_shm_sender_state_size" in \
        res["shm.signal.sender.coalesces"].detail
    with pytest.raises(RuntimeError, match="ABI version 1"):
        ShmAbiLibrary(None, type("V1", (), {"virtiospec_shm_abi_version": lambda: 1}), "v1")


def test_targets_without_shm_skip_its_cases() -> None:
    from virtiospec.conformance.ring import target_c

    for res in outcomes(target_c.make("")).values():  # the ring's ABI target alone
        assert res.outcome is Outcome.SKIP and "does not provide shm_" in res.detail
    for res in outcomes(ShmAbiSides(None, "c", unavailable="rebuild it")).values():
        assert res.outcome is Outcome.SKIP and "rebuild it" in res.detail, res.detail


def test_shm_lib_skips_the_other_layers(libshm: Path) -> None:
    lib = targets.make(f"shm-lib:{libshm}")
    # the hostile peers of the shm layer (hostile.device.shm.*) are shm cases too
    others = [c for c in cases.discover().values()
              if c.layer != "shm" and ".shm." not in c.id]
    for case_id, res in outcomes(lib, others).items():
        assert res.outcome is Outcome.SKIP, (case_id, explain(res))


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
    def update(self, slot: int, value: Sequence[int]) -> Op[None]:
        lay = self.layout
        for k, v in enumerate(value):  # BUG (SHM-TABLE-003): no odd seq before the words
            yield from lay.region.store(lay.word(slot, k), WORD, v)
        yield from fence("wmb")
        self.seqs[slot] = (self.seqs[slot] + 2) & U32
        yield from lay.region.store(lay.seq(slot), WORD, self.seqs[slot])


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
    def update(self, slot: int, value: Sequence[int]) -> Op[None]:
        lay = self.layout
        at = lay.offset + slot * lay.slot_size  # BUG (SHM-TABLE-001): slot not checked
        yield from lay.region.store(at, WORD, 1)
        yield from fence("wmb")
        for k, v in enumerate(value):
            yield from lay.region.store(at + WORD * (1 + k), WORD, v)
        yield from fence("wmb")
        yield from lay.region.store(at, WORD, 2)


class ReaderWrongSlot(TableReader):
    def read(self, slot: int) -> Op[Snapshot]:
        return (yield from super().read(0))  # BUG (SHM-TABLE-001): always slot 0


class ReaderOneAttempt(TableReader):
    def __init__(self, layout: TableLayout, max_attempts: int = 64) -> None:
        super().__init__(layout, 1)  # BUG (SHM-TABLE-011): gives up before its bound


class ReaderOddAccepted(TableReader):
    def attempt(self, slot: int) -> Op[Snapshot | None]:
        lay = self.layout
        s1 = yield from lay.region.load(lay.seq(slot), WORD)  # BUG (SHM-TABLE-005): odd is OK
        yield from fence("rmb")
        words: list[int] = []
        for k in range(lay.words):
            words.append((yield from lay.region.load(lay.word(slot, k), WORD)))
        yield from fence("rmb")
        s2 = yield from lay.region.load(lay.seq(slot), WORD)
        return Snapshot(s1, tuple(words)) if s2 == s1 else None


class ReaderUnbounded(TableReader):
    def read(self, slot: int) -> Op[Snapshot]:
        while True:  # BUG (SHM-TABLE-011): no bound
            snap = yield from self.attempt(slot)
            if snap is not None:
                self.last[slot] = snap
                return snap


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
    def poll(self, slot: int) -> Op[Snapshot | None]:
        snap = yield from self.read(slot)
        if snap.version <= self.processed[slot].version:  # BUG (SHM-TABLE-009): order, not ==
            return None
        self.processed[slot] = snap
        return snap


class ReaderPollAlwaysNew(TableReader):
    def poll(self, slot: int) -> Op[Snapshot | None]:
        snap = yield from self.read(slot)  # BUG (SHM-TABLE-009): no version check
        self.processed[slot] = snap
        return snap


class ReaderNoSlotCheck(TableReader):
    def read(self, slot: int) -> Op[Snapshot]:
        lay = self.layout
        at = lay.offset + slot * lay.slot_size  # BUG (SHM-TABLE-001): slot not checked
        s1 = yield from lay.region.load(at, WORD)
        words: list[int] = []
        for k in range(lay.words):
            words.append((yield from lay.region.load(at + WORD * (1 + k), WORD)))
        return Snapshot(s1, tuple(words))


class SenderNeverNotifies(SignalSender):
    def inject(self) -> Op[bool]:
        yield from super().inject()
        return False  # BUG (SHM-SIGNAL-002)


class SenderNoCoalesce(SignalSender):
    def inject(self) -> Op[bool]:
        lay = self.layout
        yield from fence("mb")
        yield from lay.region.store(lay.pending, 4, 1)  # BUG (SHM-SIGNAL-002): pending unread
        yield from fence("mb")
        return (yield from lay.region.load(lay.enabled, 4)) != 0


class SenderPendingIsOne(SignalSender):
    def inject(self) -> Op[bool]:
        lay = self.layout
        yield from fence("mb")
        if (yield from lay.region.load(lay.pending, 4)) == 1:  # BUG (SHM-SIGNAL-001): == 1
            return False
        yield from lay.region.store(lay.pending, 4, 1)
        yield from fence("mb")
        return (yield from lay.region.load(lay.enabled, 4)) != 0


class ReceiverEnableStoresTwo(SignalReceiver):
    def enable(self) -> Op[bool]:
        yield from self.layout.region.store(self.layout.enabled, 4, 2)  # BUG (SHM-SIGNAL-001)
        yield from fence("mb")
        return (yield from self.layout.region.load(self.layout.pending, 4)) != 0


class ReceiverAckNoMb(SignalReceiver):
    def acknowledge(self) -> Op[None]:
        yield from self.layout.region.store(self.layout.pending, 4, 0)  # BUG (SHM-SIGNAL-005)
        self.acknowledgements += 1


class ReceiverPendingIsOne(SignalReceiver):
    def enable(self) -> Op[bool]:
        yield from self.layout.region.store(self.layout.enabled, 4, 1)
        yield from fence("mb")
        return (yield from self.layout.region.load(self.layout.pending, 4)) == 1  # BUG


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


# (case, the broken target, the outcome): every case is here at least once
BROKEN: list[tuple[str, Callable[[], Any], Outcome]] = [
    ("shm.table.writer.layout", _b("wrong-stride", table_writer_cls=WriterWrongStride),
     Outcome.FAIL),
    ("shm.table.writer.seq-odd-during-update", _b("no-odd", table_writer_cls=WriterNoOdd),
     Outcome.FAIL),
    ("shm.table.writer.seq-kept-privately", _b("loads-seq", table_writer_cls=WriterLoadsSeq),
     Outcome.FAIL),
    ("shm.table.writer.write-barriers",
     _b("no-wmb-after-data", table_writer_cls=WriterNoWmbAfterData), Outcome.FAIL),
    ("shm.table.writer.never-torn", _b("no-odd", table_writer_cls=WriterNoOdd), Outcome.FAIL),
    ("shm.table.writer.overwrite-latest", _b("journal", table_writer_cls=WriterJournal),
     Outcome.FAIL),
    ("shm.table.writer.rejects-slot-out-of-range",
     _b("no-slot-check", table_writer_cls=WriterNoSlotCheck), Outcome.FAIL),
    ("shm.table.writer.rejects-outside-region", UncheckedLayouts, Outcome.FAIL),
    ("shm.table.writer.rejects-misaligned", UncheckedLayouts, Outcome.FAIL),
    ("shm.table.reader.reads-latest", _b("wrong-slot", table_reader_cls=ReaderWrongSlot),
     Outcome.FAIL),
    ("shm.table.reader.never-torn", _b("no-recheck", table_reader_cls=ReaderNoRecheck),
     Outcome.FAIL),
    ("shm.table.reader.retries-within-bound",
     _b("one-attempt", table_reader_cls=ReaderOneAttempt), Outcome.FAIL),
    ("shm.table.reader.rejects-odd-seq", _b("odd-accepted", table_reader_cls=ReaderOddAccepted),
     Outcome.FAIL),
    ("shm.table.reader.rejects-odd-seq", _b("unbounded", table_reader_cls=ReaderUnbounded),
     Outcome.WEDGED),
    ("shm.table.reader.rejects-changing-seq",
     _b("no-recheck", table_reader_cls=ReaderNoRecheck), Outcome.FAIL),
    ("shm.table.reader.rejects-changing-seq",
     _b("unbounded", table_reader_cls=ReaderUnbounded), Outcome.WEDGED),
    ("shm.table.reader.never-backwards",
     _b("first-on-busy", table_reader_cls=ReaderFirstOnBusy), Outcome.FAIL),
    ("shm.table.reader.seq-wraps", _b("orders-versions", table_reader_cls=ReaderOrdersVersions),
     Outcome.FAIL),
    ("shm.table.reader.poll-new-only",
     _b("poll-always-new", table_reader_cls=ReaderPollAlwaysNew), Outcome.FAIL),
    ("shm.table.reader.read-barriers",
     _b("no-rmb-before", table_reader_cls=ReaderNoRmbBeforeData), Outcome.FAIL),
    ("shm.table.reader.read-barriers",
     _b("no-rmb-after", table_reader_cls=ReaderNoRmbAfterData), Outcome.FAIL),
    ("shm.table.reader.rejects-slot-out-of-range",
     _b("no-slot-check", table_reader_cls=ReaderNoSlotCheck), Outcome.FAIL),
    ("shm.table.reader.rejects-outside-region", UncheckedLayouts, Outcome.FAIL),
    ("shm.table.reader.rejects-misaligned", UncheckedLayouts, Outcome.FAIL),
    ("shm.signal.sender.notifies-when-enabled",
     _b("never-notifies", signal_sender_cls=SenderNeverNotifies), Outcome.FAIL),
    ("shm.signal.sender.coalesces", _b("no-coalesce", signal_sender_cls=SenderNoCoalesce),
     Outcome.FAIL),
    ("shm.signal.sender.full-barriers",
     _b("no-mb-inject", signal_sender_cls=SenderNoMbBeforeEnabled), Outcome.FAIL),
    ("shm.signal.sender.garbage-words",
     _b("pending-is-one", signal_sender_cls=SenderPendingIsOne), Outcome.FAIL),
    ("shm.signal.sender.rejects-outside-region", UncheckedLayouts, Outcome.FAIL),
    ("shm.signal.sender.rejects-misaligned", UncheckedLayouts, Outcome.FAIL),
    ("shm.signal.receiver.enable-disable-acknowledge",
     _b("enable-stores-two", signal_receiver_cls=ReceiverEnableStoresTwo), Outcome.FAIL),
    ("shm.signal.receiver.enable-rechecks",
     _b("no-recheck", signal_receiver_cls=ReceiverNoRecheck), Outcome.FAIL),
    ("shm.signal.receiver.full-barriers",
     _b("ack-no-mb", signal_receiver_cls=ReceiverAckNoMb), Outcome.FAIL),
    ("shm.signal.receiver.garbage-pending",
     _b("pending-is-one", signal_receiver_cls=ReceiverPendingIsOne), Outcome.FAIL),
    ("shm.signal.receiver.acknowledges-before-reading",
     _b("ack-after-read", clock_driver_cls=ClockDriverAckAfter), Outcome.FAIL),
    ("shm.signal.receiver.rejects-outside-region", UncheckedLayouts, Outcome.FAIL),
    ("shm.signal.receiver.rejects-misaligned", UncheckedLayouts, Outcome.FAIL),
]


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
