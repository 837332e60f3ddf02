"""ring.c on two threads on two cores: the stress test, its mutants, and `bench ring`.

Speeds are not asserted (performance is measured by `virtiospec bench ring`, not by timed
tests); what is asserted is that nothing is lost, repeated or left asleep, that the known-bad
variants do lose a wakeup, and that the benchmark's report is well formed and its counts
are consistent.
"""

from __future__ import annotations

import os
import re

import pytest
from typer.testing import CliRunner
from virtiospec.reference.ring.c import bench as rb
from virtiospec.reference.ring.c.bench import StressConfig

from virtiospec.cli import app

pytestmark = [
    pytest.mark.req("RING-SPLIT-070", "RING-SPLIT-071", "RING-SPLIT-072", "RING-SPLIT-073",
                    "RING-SPLIT-110", "RING-SPLIT-111"),
    pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs"),
]

REFERENCE_SECONDS = 10.0


def test_reference_loses_nothing() -> None:
    out = rb.stress(None, StressConfig(seconds=REFERENCE_SECONDS))
    assert out.lost is None, out.lost.report if out.lost else None
    assert out.broken is None, out.broken.report if out.broken else None
    assert {r["mode"] for r in out.runs} == {"event_idx", "flags"}
    for r in out.runs:
        assert r.returncode == 0
        assert r.buffers > 0
        assert r["started"] == r["popped"] == r.buffers  # nothing lost, nothing twice
        assert r["error"] == "" and r["stall"] is False
        assert r.count("driver_sleeps") > 0 and r.count("device_sleeps") > 0
    assert sum(r.real("seconds") for r in out.runs) <= REFERENCE_SECONDS + 1


@pytest.mark.parametrize("mutant", rb.STRESS_MUTANTS)
def test_mutant_loses_a_wakeup(mutant: str) -> None:
    out = rb.stress(mutant, StressConfig(seconds=20.0))
    lost = out.lost
    assert lost is not None, f"{mutant}: no lost wakeup in {out.seconds:.1f} s"
    assert lost.returncode == 1
    side = "kick" if mutant in ("NO_MB_KICK", "NO_RECHECK_NOTIFY") else "interrupt"
    assert side in str(lost["lost"])
    assert lost.real("lost_asleep_ms") >= 200
    assert (out.time_to_detection() or 99) <= 20.5


def test_harness_counts_by_mode() -> None:
    exe = rb.harness()
    n = 4096
    none = rb.run(exe, mode="none", batch=1, buffers=n, count=True)
    assert none.returncode == 0 and none.buffers == n
    assert none["kicks"] == n and none["interrupts"] == n  # never suppressed
    assert none.counted == {"kick_writes": n + none.count("kick_fd_rescues"),
                            "call_writes": n + none.count("interrupt_fd_rescues")}
    poll = rb.run(exe, mode="poll", batch=16, buffers=n, count=True)
    assert poll.returncode == 0 and poll.buffers == n
    assert poll["kicks"] == poll["interrupts"] == 0
    for mode in ("event_idx", "flags"):
        for interleave, device_batch in ((False, 0), (True, 1), (True, rb.DEVICE_BATCH)):
            r = rb.run(exe, mode=mode, batch=16, buffers=n, verify=True, interleave=interleave,
                       device_batch=device_batch)
            assert r.returncode == 0 and r.buffers == n
            assert 0 < r.count("kicks") <= r.count("kick_checks") <= n
            assert r.count("interrupts") <= r.count("notify_checks") <= n
            if device_batch == 1:  # a decision after every push of one buffer
                assert r.count("notify_checks") == n


ROW = re.compile(r"^(event_idx|flags|none|poll)\s+(\d+)\s+"
                 r"(ring\.c(?: dev-batched)?|linux \S+ .+?)\s+"
                 r"(\d+\.\d+) \[(\d+\.\d+)-(\d+\.\d+)\]\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)$")
RATIO = re.compile(r"^ratio (event_idx|poll) batch (\d+): (ring\.c(?: dev-batched)?)/"
                   r"(virtio_ring_0_9|ring) = (\d+\.\d+) \[(\d+\.\d+)-(\d+\.\d+)\]  "
                   r"notifications/buffer \3 (\d+\.\d+) vs \4 (\d+\.\d+)"
                   r"(  target (met|missed))?$")


def test_bench_quick_report() -> None:
    from virtiospec.bench_ring import render

    cfg = rb.BenchConfig(buffers=19_200, samples=1)
    res = rb.bench(cfg)
    linux = rb.TARBALL.exists()
    assert (res.linux_error is None) == linux, res.linux_error
    text = render(res)
    rows = [m for line in text if (m := ROW.match(line))]
    ours = [m for m in rows if m[3] in (rb.OURS, rb.OURS_BATCHED)]
    per_mode = 2 * len(rb.BATCHES)  # ring.c and ring.c dev-batched at every batch
    assert len(ours) == len(rb.MODES) * per_mode
    for m in rows:
        median, low, high = float(m[4]), float(m[5]), float(m[6])
        assert 0 < low <= median <= high
        assert abs(float(m[7]) - float(m[8]) - float(m[9])) < 2e-5  # notif = kicks + intr
    ratios = [m for line in text if (m := RATIO.match(line))]
    if linux:
        assert len(rows) == len(ours) + 2 * 2 * len(rb.BATCHES)  # 2 programs x 2 modes
        assert len(ratios) == 2 * 2 * per_mode
        assert all((m[4] == "virtio_ring_0_9") == (m[10] is not None) for m in ratios)
    for s in res.samples:  # the counts behind the figures
        assert s.buffers == cfg.run_cycles() and s.wall > 0
        if s.mode == "poll":
            assert s.kicks == s.interrupts == 0
        elif s.mode == "none":  # never suppressed: a kick per batch, an interrupt per push
            assert s.buffers / s.batch <= s.kicks <= s.buffers
            if s.impl == rb.OURS:
                assert s.interrupts == s.buffers
        else:
            assert 0 < s.kicks + s.interrupts <= 2 * s.buffers
    js = rb.to_json(res)
    assert isinstance(js["rows"], list) and isinstance(js["ratios"], list)
    assert len(js["rows"]) == len(rows) and len(js["ratios"]) == len(ratios)


def test_bench_command_quick() -> None:
    result = CliRunner().invoke(app, ["bench", "ring", "--quick", "--mode", "event_idx",
                                      "--batch", "1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("virtiospec bench ring: Q=256, 19200 buffers per run")
               for line in lines)
    assert any(ROW.match(line) and " ring.c " in line for line in lines)
    if rb.TARBALL.exists():
        assert any(RATIO.match(line) for line in lines), result.output
