"""Running Hypothesis machines and property tests as registry checks and mutant refutations.

A harness signals a broken requirement by raising :class:`Violation` (an ``AssertionError``
naming the requirement ID). :func:`run_hypothesis` runs a test with fixed settings and turns
the outcome into :class:`~registry.Evidence`; a mutant counts as caught only when the failure
is a :class:`Violation`, never when the harness itself crashes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from virtiospec.models.registry import Evidence, Step

DB_ENV = "VIRTIOSPEC_HYPOTHESIS_DB"
_entry: list[str] = [""]  # the registry entry running now (keys its examples in the database)


@contextmanager
def entry_scope(name: str) -> Iterator[None]:
    """While a registry entry runs: its name keys its examples in the shared database."""
    old, _entry[0] = _entry[0], name
    try:
        yield
    finally:
        _entry[0] = old


class EntryDatabase(ExampleDatabase):
    """Hypothesis' directory database with each key prefixed by the registry entry that runs,
    so two entries over the same machine class never replay (or delete) each other's
    examples."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.inner = DirectoryBasedExampleDatabase(path)

    def _key(self, key: bytes) -> bytes:
        return _entry[0].encode() + b"\0" + key

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(self._key(key), value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.inner.fetch(self._key(key))

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(self._key(key), value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(self._key(src), self._key(dest), value)


def shared_database() -> ExampleDatabase | None:
    """The example database named by $VIRTIOSPEC_HYPOTHESIS_DB (``--hypothesis-db``), or
    None. A directory shared by every machine of a run (NFS, a CI cache) makes a
    counterexample one machine found replay first on every other. Derandomized runs (every
    mutant refutation) draw the same examples everywhere and use no database."""
    path = os.environ.get(DB_ENV)
    return EntryDatabase(path) if path else None


class Violation(AssertionError):
    """A requirement of spec/ was broken; ``req`` is its ID."""

    def __init__(self, req: str, message: str) -> None:
        super().__init__(f"{req}: {message}")
        self.req = req
        self.at = -1  # where in its run it happened, when the harness knows


@dataclass
class RunRecord:
    """What a run leaves behind for its Evidence: the last example's trace and counters."""

    examples: int = 0
    steps: int = 0
    stats: dict[str, float] = field(default_factory=dict)
    trace: list[Step] = field(default_factory=list)

    def count(self, key: str, n: float = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n


def hypothesis_settings(max_examples: int, *, steps: int = 100, derandomize: bool = False,
                        shrink: bool = True) -> settings:
    database = None if derandomize else shared_database()
    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]
    if database is not None:  # replay what the database holds for this entry first
        phases.insert(0, Phase.reuse)
    return settings(max_examples=max_examples, deadline=None, database=database,
                    derandomize=derandomize, stateful_step_count=steps,
                    suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
                    report_multiple_bugs=False, phases=phases, print_blob=False)


@contextmanager
def shrink_budget(seconds: float | None) -> Iterator[None]:
    """Bound the time Hypothesis spends shrinking a failure (it stops at 300 s by itself;
    stateful runs of a few hundred steps can use all of it). Hypothesis has no setting for
    this, so the engine's constant is set for the duration, if this version has it."""
    from hypothesis.internal.conjecture import engine

    old = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if seconds is None or old is None:
        yield
        return
    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = old


def run_hypothesis(test: Callable[[], None], record: RunRecord, *,
                   shrink_seconds: float | None = None) -> Evidence:
    """Run a Hypothesis test; ok=True when it passes. On a failure the detail is the
    exception of the minimal failing example (shrunk for at most ``shrink_seconds``) and the
    trace is that example's log."""
    error: BaseException | None = None
    try:
        with shrink_budget(shrink_seconds):
            test()
    except Exception as exc:  # the shrunk failure, re-raised by Hypothesis
        error = exc
    stats = {"examples": float(record.examples), "steps": float(record.steps), **record.stats}
    if error is None:
        return Evidence(True, _summary(record), [], stats=stats)
    kind = "violation" if isinstance(error, Violation) else f"harness error {type(error).__name__}"
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    detail = f"{kind}: {first} (failing run: {len(record.trace)} trace lines)"
    stats["violation"] = 1.0 if isinstance(error, Violation) else 0.0
    return Evidence(False, detail, list(record.trace), stats=stats)


def _summary(record: RunRecord) -> str:
    keys = sorted(record.stats)
    return ", ".join(f"{k}: {int(record.stats[k])}" for k in keys)


def tail_trace(trace: list[Step], keep_last: int) -> list[Step]:
    """The first step (a run's configuration) and the last ``keep_last`` steps, which end in
    the violation, with a marker for what is left out."""
    if len(trace) <= keep_last + 2:
        return trace
    gap = Step("env", f"... {len(trace) - keep_last - 1} earlier steps left out ...")
    return [trace[0], gap, *trace[-keep_last:]]


def mutant_evidence(ev: Evidence, keep_last: int | None = None) -> Evidence:
    """Invert a check's Evidence for a mutant: caught (ok) iff the check failed with a
    Violation. ``keep_last``: keep only the end of the failing trace (:func:`tail_trace`)."""
    if not ev.ok and ev.stats.get("violation") == 1.0:
        trace = ev.trace if keep_last is None else tail_trace(ev.trace, keep_last)
        return Evidence(True, ev.detail, trace, stats=ev.stats)
    if ev.ok:
        return Evidence(False, f"survived {int(ev.stats.get('examples', 0))} runs",
                        stats=ev.stats)
    return Evidence(False, f"not caught by a requirement check: {ev.detail}", ev.trace,
                    stats=ev.stats)
