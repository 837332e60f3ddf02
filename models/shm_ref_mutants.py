"""Known-bad variants of the Python virtio-shm reference, each caught by a machine of
models/shm_machine.py.

Every variant subclasses a reference class and overrides one method with a copy of the
reference's body broken at one place (marked ``BUG``, naming the requirement it breaks). It is
registered as ``shm.mutant.<bug>.ref``, next to the Z3 refutation of the same bug
(``shm.mutant.<bug>.z3``, models/shm_table_z3.py and models/shm_signal_z3.py), and run under
the memory model that exposes it. Runs are derandomized, so the outcome is reproducible; a
variant counts as caught only when a run fails with a requirement violation. The runs do
not shrink (shrinking costs ten times the search); the Z3 twin of each bug gives the shortest
interleaving, and this one the evidence that the reference code itself is caught.

One bug has no variant here: a sender without the full barrier before its load of
``pending`` (SHM-SIGNAL-003) needs a 19-step interleaving under TSO that the signal machine
finds only by luck within a few hundred runs; ``shm.mutant.signal.coalesce_without_mb.z3``
refutes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Unpack

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.shm_machine import (
    ClockMachine,
    ShmClasses,
    ShmConfig,
    ShmMachine,
    SignalMachine,
    TableMachine,
    run_machine,
)
from virtiospec.models.tso import Mode
from virtiospec.reference.access import Op, fence
from virtiospec.reference.shm import ClockDriver, SignalReceiver, SignalSender, Snapshot
from virtiospec.reference.shm.clock import join_ns
from virtiospec.reference.shm.table import WORD, TableReader, TableWriter

EXAMPLES = 400


class ReaderNoRecheck(TableReader):
    def attempt(self, slot: int) -> Op[Snapshot | None]:
        lay = self.layout
        s1 = yield from lay.region.load(lay.seq(slot), WORD)
        if s1 & 1:
            return None
        yield from fence("rmb")
        words: list[int] = []
        for k in range(lay.words):
            words.append((yield from lay.region.load(lay.word(slot, k), WORD)))
        # BUG (SHM-TABLE-005): seq is not loaded again, so an overlapping update goes unseen
        return Snapshot(s1, tuple(words))


class ReaderNoRmbBeforeData(TableReader):
    def attempt(self, slot: int) -> Op[Snapshot | None]:
        lay = self.layout
        s1 = yield from lay.region.load(lay.seq(slot), WORD)
        if s1 & 1:
            return None
        # BUG (SHM-TABLE-006): no rmb between the first load of seq and the value loads
        words: list[int] = []
        for k in range(lay.words):
            words.append((yield from lay.region.load(lay.word(slot, k), WORD)))
        yield from fence("rmb")
        s2 = yield from lay.region.load(lay.seq(slot), WORD)
        if s2 != s1:
            return None
        return Snapshot(s1, tuple(words))


class ReaderNoRmbAfterData(TableReader):
    def attempt(self, slot: int) -> Op[Snapshot | None]:
        lay = self.layout
        s1 = yield from lay.region.load(lay.seq(slot), WORD)
        if s1 & 1:
            return None
        yield from fence("rmb")
        words: list[int] = []
        for k in range(lay.words):
            words.append((yield from lay.region.load(lay.word(slot, k), WORD)))
        # BUG (SHM-TABLE-006): no rmb between the value loads and the second load of seq
        s2 = yield from lay.region.load(lay.seq(slot), WORD)
        if s2 != s1:
            return None
        return Snapshot(s1, tuple(words))


class WriterNoWmbAfterData(TableWriter):
    def update(self, slot: int, value: Sequence[int]) -> Op[None]:
        lay = self.layout
        s = self.seqs[slot]
        yield from lay.region.store(lay.seq(slot), WORD, s + 1)
        yield from fence("wmb")
        for k, v in enumerate(value):
            yield from lay.region.store(lay.word(slot, k), WORD, v)
        # BUG (SHM-TABLE-004): no wmb between the value words and the even seq
        self.seqs[slot] = s + 2
        yield from lay.region.store(lay.seq(slot), WORD, self.seqs[slot])


class ReceiverNoRecheck(SignalReceiver):
    def enable(self) -> Op[bool]:
        yield from self.layout.region.store(self.layout.enabled, 4, 1)
        yield from fence("mb")
        # BUG (SHM-SIGNAL-006): pending is not re-read; the receiver always waits
        return False


class SenderNoMbBeforeEnabled(SignalSender):
    def inject(self) -> Op[bool]:
        lay = self.layout
        self.injections += 1
        yield from fence("mb")
        if (yield from lay.region.load(lay.pending, 4)):
            self.coalesced += 1
            return False
        yield from lay.region.store(lay.pending, 4, 1)
        # BUG (SHM-SIGNAL-004): no mb between the store of pending and the load of enabled
        enabled = yield from lay.region.load(lay.enabled, 4)
        self.notifications += enabled != 0
        return enabled != 0


class ClockDriverAckAfter(ClockDriver):
    def service(self) -> Op[int | None]:
        yield from self.signal.disable()
        snap = yield from self.reader.poll(0)
        # BUG (SHM-SIGNAL-005): pending is cleared after the clock was read, not before
        yield from self.signal.acknowledge()
        if snap is None:
            return None
        self.now = join_ns(snap.value)
        self.actions += 1
        return self.now


def _caught(base: type[ShmMachine], cfg: ShmConfig) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        return mutant_evidence(run_machine(base, cfg, EXAMPLES, derandomize=True,
                                           shrink=False))

    return run


def _cfg(mode: Mode, **classes: Unpack[ShmClasses]) -> ShmConfig:
    return ShmConfig(mode=mode, **classes)


MUTANTS: list[tuple[str, str, tuple[str, ...], Callable[[], registry.Evidence]]] = [
    ("table.no_recheck", "reader returns without re-reading seq after the value words",
     ("SHM-TABLE-005", "SHM-TABLE-007"),
     _caught(TableMachine, _cfg("sc", reader_cls=ReaderNoRecheck))),
    ("table.no_wmb_after_data",
     "writer without wmb between the value words and the even seq (PSO)",
     ("SHM-TABLE-004", "SHM-TABLE-007"),
     _caught(TableMachine, _cfg("pso", writer_cls=WriterNoWmbAfterData))),
    ("table.no_rmb_before_data",
     "reader without rmb between the first load of seq and the value words (RMO; not "
     "caught under x86-TSO, which never reorders loads)", ("SHM-TABLE-006", "SHM-TABLE-007"),
     _caught(TableMachine, _cfg("rmo", reader_cls=ReaderNoRmbBeforeData))),
    ("table.no_rmb_after_data",
     "reader without rmb between the value words and the second load of seq (RMO; not "
     "caught under x86-TSO, which never reorders loads)", ("SHM-TABLE-006", "SHM-TABLE-007"),
     _caught(TableMachine, _cfg("rmo", reader_cls=ReaderNoRmbAfterData))),
    ("signal.ack_after_processing",
     "clock driver clears pending after reading the clock instead of before",
     ("SHM-SIGNAL-005", "SHM-SIGNAL-010"),
     _caught(ClockMachine, _cfg("sc", clock_driver_cls=ClockDriverAckAfter))),
    ("signal.enable_without_recheck", "receiver enables and waits without re-reading pending",
     ("SHM-SIGNAL-006", "SHM-SIGNAL-010"),
     _caught(SignalMachine, _cfg("sc", receiver_cls=ReceiverNoRecheck))),
    ("signal.inject_without_mb",
     "sender loads enabled without a full barrier after setting pending (TSO)",
     ("SHM-SIGNAL-004", "SHM-SIGNAL-010"),
     _caught(SignalMachine, _cfg("tso", sender_cls=SenderNoMbBeforeEnabled))),
]

for _name, _bug, _reqs, _run in MUTANTS:
    registry.mutant(f"shm.mutant.{_name}.ref", _bug, _reqs, "hypothesis")(_run)
