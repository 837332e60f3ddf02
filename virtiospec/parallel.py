"""Running registry entries (proofs, checks, mutants) on several cores.

``virtiospec prove [--mutants]`` and ``virtiospec check`` take ``-j N``: the selected entries
run in N worker processes (:class:`concurrent.futures.ProcessPoolExecutor`, forked on
Linux, see :func:`_context`). Every entry is independent: a Z3 proof, a Hypothesis run
or a known-bad variant builds all it uses itself. The results come back in registry order,
whatever order they finish in, so the output and the verdicts are those of ``-j 1``.

Entries that measure real concurrency (the two-thread stress runs of ring.c: ``stress`` as
a part of their name or as their method) pin two threads to two cores; they run after the
others, one at a time, so that no worker of ours takes a core from them.

Runs bigger than one machine share Hypothesis' example database
(:class:`hypothesis.database.DirectoryBasedExampleDatabase`): ``--hypothesis-db DIR`` or
``VIRTIOSPEC_HYPOTHESIS_DB=DIR`` (see :func:`virtiospec.models.hypothesis_run.shared_database`).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Literal

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import entry_scope

Kind = Literal["proof", "mutant", "check"]
Entry = registry.Proof | registry.Check | registry.Mutant


def default_jobs() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if count is not None:
        return max(1, count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def runs_alone(entry: Entry) -> bool:
    """A real-threads stress entry: it needs both cores to itself."""
    return "stress" in entry.name.split(".") or getattr(entry, "method", "") == "stress"


def run_one(entry: Entry, examples: int) -> registry.Evidence:
    with entry_scope(entry.name):
        if isinstance(entry, registry.Check):
            return entry.run(examples)
        return entry.run()


def _table(kind: Kind) -> dict[str, Entry]:
    tables: dict[str, dict[str, Entry]] = {
        "proof": registry.PROOFS, "mutant": registry.MUTANTS,  # type: ignore[dict-item]
        "check": registry.CHECKS}  # type: ignore[dict-item]
    return tables[kind]


def _worker(kind: Kind, name: str, examples: int) -> registry.Evidence:
    registry.discover()
    ev = run_one(_table(kind)[name], examples)
    try:
        pickle.dumps(ev)
    except Exception:  # a trace state holding something that does not pickle: keep its text
        ev.trace = [registry.Step(s.side, s.action, {k: repr(v) for k, v in s.state.items()})
                    for s in ev.trace]
    return ev


def _context() -> multiprocessing.context.BaseContext:
    """fork on Linux while this process has one thread (the workers start at once with every
    model already imported: 0.05 s against 2.7 s for a fork server and 5 s or more for spawn,
    which imports them again in every worker); otherwise a fork server that imported every
    model module once, or spawn where there is no fork."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if sys.platform == "linux":
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(sorted(m for m in sys.modules
                                          if m.startswith("virtiospec.models.")))
        return ctx
    return multiprocessing.get_context("spawn")


def run_entries(kind: Kind, entries: list[Entry], jobs: int, examples: int = 0,
                ) -> Iterator[tuple[Entry, registry.Evidence]]:
    """Yield (entry, evidence) in the order of ``entries`` while they run on ``jobs``
    processes (``jobs`` 1: here, one after the other, as always)."""
    if jobs <= 1 or len(entries) <= 1:
        for entry in entries:
            yield entry, run_one(entry, examples)
        return
    shared = [e for e in entries if not runs_alone(e)]
    workers = min(jobs, len(shared)) or 1
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        futures: dict[str, Future[registry.Evidence]] = {
            e.name: pool.submit(_worker, kind, e.name, examples) for e in shared}
        for entry in entries:
            if not runs_alone(entry):
                yield entry, futures[entry.name].result()
                continue
            # it runs alone: every shared entry finishes first, then this one runs here
            for fut in futures.values():
                fut.exception()  # waits; its result or error is raised when it is reached
            yield entry, run_one(entry, examples)
