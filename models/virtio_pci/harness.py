"""Running the pci Hypothesis harnesses as registry checks and mutant refutations.

A harness signals a broken requirement by raising :class:`PciViolation` (naming the
requirement ID). A mutant counts as caught only when the check fails with a violation, never
when the harness itself crashes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, Verbosity, settings
from virtiospec.models.registry import Evidence, Step


class PciViolation(AssertionError):
    def __init__(self, req: str, message: str) -> None:
        super().__init__(f"{req}: {message}")
        self.req = req


def violated(cond: bool, req: str, message: str) -> None:
    """Raise :class:`PciViolation` unless ``cond`` holds."""
    if not cond:
        raise PciViolation(req, message)


@dataclass
class Log:
    """The steps of the example being run, and counters across examples."""

    trace: list[Step] = field(default_factory=list)
    examples: int = 0
    steps: int = 0

    def start(self) -> None:
        self.trace = []
        self.examples += 1

    def step(self, side: str, action: str, **state: object) -> None:
        self.steps += 1
        self.trace.append(Step(side, action, dict(state)))


def pci_settings(max_examples: int, steps: int = 30) -> settings:
    return settings(max_examples=max_examples, deadline=None, database=None,
                    stateful_step_count=steps, suppress_health_check=list(HealthCheck),
                    verbosity=Verbosity.quiet, phases=[Phase.generate, Phase.shrink],
                    report_multiple_bugs=False, print_blob=False, derandomize=True)


def evidence(test: Callable[[], None], log: Log) -> Evidence:
    """Run ``test``; ok iff it passes. A failure keeps the minimal example's trace."""
    try:
        test()
    except PciViolation as err:
        return Evidence(False, f"violation: {err}", list(log.trace),
                        stats={"examples": log.examples, "steps": log.steps, "violation": 1})
    except Exception as err:  # the harness broke: never counts as catching a mutant
        return Evidence(False, f"harness error {type(err).__name__}: {err}", list(log.trace),
                        stats={"examples": log.examples, "steps": log.steps, "violation": 0})
    return Evidence(True, f"{log.examples} runs, {log.steps} steps",
                    stats={"examples": log.examples, "steps": log.steps})


def caught(ev: Evidence) -> Evidence:
    """A mutant's Evidence: ok iff the check failed with a requirement violation."""
    if not ev.ok and ev.stats.get("violation") == 1:
        return Evidence(True, ev.detail, ev.trace, stats=ev.stats)
    if ev.ok:
        return Evidence(False, f"survived: {ev.detail}", stats=ev.stats)
    return Evidence(False, f"not caught by a requirement: {ev.detail}", ev.trace, stats=ev.stats)
