"""The stress test of ring.c on two threads on two cores (reference/ring/c/ring_threads.c).

:func:`stress` runs the harness of :mod:`virtiospec.reference.ring.c.bench` in the stress
configuration (tiny queue, batch 1, every buffer verified, waiters that spin briefly on the
notification word before sleeping in the kernel) for a bounded time, until a lost wakeup or
an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from virtiospec.reference.ring.c.bench import HarnessRun, harness, run


@dataclass
class StressConfig:
    """The stress configuration: everything that makes the race windows meet often."""

    seconds: float = 20.0                 # total bound
    segment: float = 5.0                  # one run; the feature modes alternate per run
    modes: tuple[str, ...] = ("event_idx", "flags")
    queue_size: int = 2                   # both sides go idle (and to sleep) every few buffers
    batch: int = 1
    spin: int = 1000                      # waiter polls of the futex word before sleeping
    lost_ms: int = 200


@dataclass
class StressOutcome:
    mutant: str | None
    runs: list[HarnessRun]
    seconds: float

    @property
    def lost(self) -> HarnessRun | None:
        return next((r for r in self.runs if r.lost_wakeup), None)

    @property
    def broken(self) -> HarnessRun | None:
        """A run that lost, duplicated or reordered a buffer, or stalled."""
        return next((r for r in self.runs if r.returncode in (2, 3)), None)

    @property
    def buffers(self) -> int:
        return sum(r.buffers for r in self.runs)

    @property
    def sleeps(self) -> int:
        return sum(r.count("driver_sleeps") + r.count("device_sleeps")
                   for r in self.runs)

    def time_to_detection(self) -> float | None:
        """Seconds from the start of the first run to the report of the lost wakeup."""
        total = 0.0
        for r in self.runs:
            if r.lost_wakeup:
                return total + r.real("lost_at")
            total += r.real("seconds")
        return None


def stress(mutant: str | None = None, cfg: StressConfig | None = None) -> StressOutcome:
    """Run the stress test on ring.c (or a mutant) until a lost wakeup, a broken run, or
    cfg.seconds of runs (each cfg.segment long, alternating cfg.modes)."""
    cfg = cfg or StressConfig()
    exe = harness(mutant)
    runs: list[HarnessRun] = []
    used = 0.0
    k = 0
    t = time.perf_counter()
    while used < cfg.seconds - 0.05:
        seg = min(cfg.segment, cfg.seconds - used)
        r = run(exe, mode=cfg.modes[k % len(cfg.modes)], queue_size=cfg.queue_size,
                batch=cfg.batch, buffers=0, max_seconds=seg, lost_ms=cfg.lost_ms,
                wake="futex", spin=cfg.spin, verify=True, timeout=seg + 30)
        runs.append(r)
        used += r.real("seconds")
        k += 1
        if r.returncode != 0:
            break
    return StressOutcome(mutant, runs, time.perf_counter() - t)

