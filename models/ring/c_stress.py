"""The real two-thread stress test of ring.c: lost wakeups on real hardware.

ring.c in its real build (C11 atomics and fences, no stepped callbacks), the driver and the
device on two threads pinned to two cores, each waiter sleeping until the other side's
notification and woken by nothing else (reference/ring/c/ring_threads.c). A lost wakeup shows as
both sides asleep, work pending, no notification on the way; the harness's watchdog
reports it after 200 ms of that.

* ``ring.c.stress.<name>`` (mutants): ring.c with one barrier or re-check removed
  (reference/ring/c/ring_mutants.h) must lose a wakeup within the time bound. ok=True when the
  lost wakeup was observed; the detail says when and which notification was lost.
* ``ring.c.stress.reference`` (check): the real ring.c over the same configuration loses
  no wakeup and no buffer.

The configuration that makes the races show up (reference/ring/c/bench.py, StressConfig):
Q = 2 and batch 1, so both sides go idle, re-enable notifications and sleep every few
buffers; waiters poll the futex word of their channel briefly before sleeping in the
kernel, so a round trip costs microseconds rather than a vCPU wake-up; flags and
EVENT_IDX alternate in 5 s runs. What the no-barrier variants lose to is the reordering
the missing mb allows: on x86, a store still in the store buffer when the later load of the
other side's suppression field executes (x86-TSO).
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.models import registry
from virtiospec.reference.ring.c import bench as ring_bench
from virtiospec.reference.ring.c.bench import StressConfig, StressOutcome

MUTANT_SECONDS = 20.0
REFERENCE_SECONDS = 16.0

MUTANTS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("ring.c.stress.no-mb-kick",
     "NO_MB_KICK", "driver kick_prepare without the mb before the suppression "
     "load", ("RING-SPLIT-070", "RING-SPLIT-110")),
    ("ring.c.stress.no-mb-notify", "NO_MB_NOTIFY", "device should_notify without the mb before the "
     "suppression load", ("RING-SPLIT-071", "RING-SPLIT-111")),
    ("ring.c.stress.no-recheck-notify",
     "NO_RECHECK_NOTIFY", "device enable_notify without the re-check of "
     "avail.idx", ("RING-SPLIT-072", "RING-SPLIT-110")),
    ("ring.c.stress.no-recheck-cb",
     "NO_RECHECK_CB", "driver enable_cb without the re-check of used.idx",
     ("RING-SPLIT-073", "RING-SPLIT-111")),
]

REFERENCE_REQS = ("RING-SPLIT-070", "RING-SPLIT-071", "RING-SPLIT-072", "RING-SPLIT-073",
                  "RING-SPLIT-110", "RING-SPLIT-111")


def _stats(out: StressOutcome) -> dict[str, float]:
    return {"runs": float(len(out.runs)), "buffers": float(out.buffers),
            "sleeps": float(out.sleeps), "seconds": round(out.seconds, 3)}


def _describe(out: StressOutcome) -> str:
    modes = "/".join(dict.fromkeys(str(r["mode"]) for r in out.runs))
    return (f"{out.buffers} buffers, {out.sleeps} sleeps in {len(out.runs)} run(s) "
            f"({modes}), {out.seconds:.1f} s")


def stress_mutant(switch: str, seconds: float = MUTANT_SECONDS) -> Callable[
        [], registry.Evidence]:
    def run() -> registry.Evidence:
        out = ring_bench.stress(switch, StressConfig(seconds=seconds))
        lost = out.lost
        if lost is not None:
            at = out.time_to_detection() or 0.0
            asleep = lost.real("lost_asleep_ms") / 1000
            return registry.Evidence(
                True, f"lost {lost['lost']} wakeup ({lost['mode']}): both sides asleep with "
                f"work pending from {at - asleep:.3f} s, reported at {at:.3f} s; "
                + _describe(out), stats={**_stats(out), "detected after": round(at, 3)})
        broken = out.broken
        if broken is not None:
            return registry.Evidence(False, f"run broke instead: {broken['error'] or 'stall'}"
                                     f"; {_describe(out)}", stats=_stats(out))
        return registry.Evidence(False, f"no lost wakeup within {seconds:.0f} s: "
                                 + _describe(out), stats=_stats(out))

    return run


for _name, _switch, _bug, _reqs in MUTANTS:
    registry.mutant(_name, f"{_bug} ({_switch}), two threads on two cores",
                    _reqs, "stress")(stress_mutant(_switch))


def reference_evidence(seconds: float = REFERENCE_SECONDS) -> registry.Evidence:
    """The real ring.c in the stress configuration: nothing lost, nothing twice, no lost
    wakeup, for `seconds` in all."""
    out = ring_bench.stress(None, StressConfig(seconds=seconds))
    bad = out.lost or out.broken
    if bad is not None:
        what = (f"lost {bad['lost']} wakeup at {bad.real('lost_at'):.3f} s"
                if bad.lost_wakeup else str(bad["error"] or "stall"))
        return registry.Evidence(False, f"{what} ({bad['mode']}); {_describe(out)}",
                                 stats=_stats(out))
    return registry.Evidence(True, "no lost wakeup, no lost or repeated buffer: "
                             + _describe(out), stats={**_stats(out),
                                                      "examples": float(len(out.runs))})


@registry.check("ring.c.stress.reference", REFERENCE_REQS,
                "ring.c (real atomics) on two cores, sleeping waiters woken only by "
                "notifications, Q=2: no lost wakeup, no lost or repeated buffer")
def check(n: int) -> registry.Evidence:
    del n  # bounded by time, not by examples
    return reference_evidence()
