"""Running Hypothesis machines and property tests as registry checks and mutant refutations.

A harness signals a broken requirement by raising :class:`Violation` (an ``AssertionError``
naming the requirement ID). :func:`run_hypothesis` runs a test with fixed settings and turns
the outcome into :class:`~registry.Evidence`; a mutant counts as caught only when the failure
is a :class:`Violation`, never when the harness itself crashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, Verbosity, settings
from virtiospec.models.registry import Evidence, Step


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
    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]
    return settings(max_examples=max_examples, deadline=None, database=None,
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
