"""``conformance run --target lib:X.so --stress SECONDS``: a native ring library on real threads.

The sequential suite runs whole operations one after the other, so an ordering bug (a
missing barrier) never shows there. Here reference/ring/c/ring_threads.c, built with
``-DVS_THREADS_ABI``, runs the two sides of one queue on two threads pinned to two cores,
each side from a library behind conformance/ring/virtiospec_ring.h: the library's driver against
ring.c's device, ring.c's driver against the library's device, then the library on both
sides. Each waiter sleeps until the other side's notification and nothing else wakes it; a
watchdog reports a lost wakeup when both sleep with work pending and no notification on the
way (200 ms of that). Every buffer carries its sequence number, so a lost, repeated or
reordered buffer is seen by the side that receives it.

Verdicts: a lost kick (available-buffer notification) or interrupt (used-buffer
notification) is WEDGED, naming it; a lost, repeated or reordered buffer, an error code from
a healthy peer, or a crash is FAIL; a call that never returns is WEDGED. Each run alternates
EVENT_IDX and flags in segments, Q = 2 and batch 1 (ring_bench.StressConfig: both sides go
idle and to sleep every few buffers).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from virtiospec.conformance.cases import Outcome, Result
from virtiospec.reference import c_build
from virtiospec.reference.c_build import STRICT
from virtiospec.reference.ring.c import bench as ring_bench
from virtiospec.reference.ring.c import build as ring_c_build

STRESS_ENV = "VIRTIOSPEC_STRESS_SECONDS"  # --stress, for the child process of a lib: target
NOTIFICATION = {"kick": "kick (available-buffer notification)",
                "interrupt": "interrupt (used-buffer notification)",
                "kick+interrupt": "kick and interrupt (both notifications)"}
SEGMENT = 2.5  # seconds per run; EVENT_IDX and flags alternate
MODES = ("event_idx", "flags")


def is_stress(case_id: str) -> bool:
    """A two-thread case (ring.split.stress.*, shm.*.stress-*): run only with --stress."""
    return any(part.startswith("stress") for part in case_id.split(".")[1:])


def harness() -> Path:
    """ring_threads.c over two ABI libraries (built once, cached like ring_bench's)."""
    cc = ring_c_build.find_compiler()
    flags = [*STRICT, *ring_bench.OPTIMIZE, "-pthread", "-DVS_THREADS_ABI"]
    sources = [c_build.src("ring_threads.c"), c_build.src("ring_threads_abi.h"),
               ring_c_build.ABI_HEADER, ring_c_build.PACKED_ABI_HEADER]
    key = ring_bench._digest(sources, *cc, *flags)
    return ring_bench._compile_once(f"ring_threads_abi_{key}", lambda out: [
        *cc, *flags, *c_build.include_flags(), str(c_build.src("ring_threads.c")), "-o", str(out),
        "-ldl"])


def reference_lib() -> Path:
    """ring.c and ring_packed.c behind both ABIs: the other side of the first two runs."""
    cc = ring_c_build.find_compiler()
    flags = [*STRICT, "-O2", "-fPIC", "-shared", "-fvisibility=hidden"]
    sources = [c_build.src(s) for s in ring_c_build.LIB_SOURCES]
    key = ring_bench._digest([*sources, c_build.src("ring.h"), c_build.src("ring_packed.h"),
                              ring_c_build.ABI_HEADER, ring_c_build.PACKED_ABI_HEADER],
                             *cc, *flags)
    return ring_bench._compile_once(f"libvirtiospec_ring_{key}.so", lambda out: [
        *cc, *flags, *c_build.include_flags(), *map(str, sources), "-o", str(out)])


@dataclass
class Verdict:
    result: Result
    runs: list[dict[str, object]] = field(default_factory=list)


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def _one(exe: Path, driver: Path, device: Path, mode: str, seconds: float,
         lost_ms: int, packed: bool) -> tuple[int, dict[str, object] | None, str]:
    cmd = [str(exe), "--driver-lib", str(driver), "--device-lib", str(device), "--mode", mode,
           *(["--packed"] if packed else []),
           "--queue-size", "2", "--batch", "1", "--buffers", "0", "--max-seconds",
           f"{seconds:.3f}", "--lost-ms", str(lost_ms), "--wake", "futex", "--spin", "1000",
           "--verify", *_cpus()]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 10)
    except subprocess.TimeoutExpired:
        return -1000, None, ""
    try:
        report: dict[str, object] | None = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        report = None
    return proc.returncode, report, proc.stderr.strip()


def _cpus() -> list[str]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return []
    return ["--driver-cpu", str(cpus[0]), "--device-cpu", str(cpus[1])]


def stress(driver: Path, device: Path, seconds: float, lost_ms: int = 200,
           packed: bool = False) -> Verdict:
    """Run the two sides for ``seconds`` in all (segments alternating the modes); stop at the
    first lost wakeup, broken run, crash or hang. ``packed``: the packed ring's ABI."""
    exe = harness()
    out = Verdict(Result(Outcome.PASS))
    used, k, buffers, sleeps = 0.0, 0, 0, 0
    t = time.perf_counter()
    while used < seconds - 0.05:
        seg = min(SEGMENT, max(seconds / 2, 0.5), seconds - used)  # both modes, always
        mode = MODES[k % len(MODES)]
        rc, rep, err = _one(exe, driver, device, mode, seg, lost_ms, packed)
        at = f"{time.perf_counter() - t:.2f} s into the stress ({mode})"
        if rep is not None:
            out.runs.append(rep)
            buffers += int(str(rep["buffers"]))
            sleeps += int(str(rep["driver_sleeps"])) + int(str(rep["device_sleeps"]))
        if rc == -1000:
            out.result = Result(Outcome.WEDGED, f"a call into the library never returned: no "
                                f"end of a {seg:.1f} s run within {seg + 10:.0f} s, {at}")
        elif rc < 0:
            named = [ln.removeprefix("ring_threads: ") for ln in err.splitlines()
                     if ln.startswith("ring_threads: SIG")]
            what = named[-1] if named else f"{_signal_name(rc)} on one of the two threads"
            out.result = Result(Outcome.FAIL, f"the library crashed: {what}, {at}")
        elif rc == 1 and rep is not None:
            lost = str(rep["lost"])
            out.result = Result(
                Outcome.WEDGED, f"lost {NOTIFICATION.get(lost, lost)} wakeup: both sides asleep "
                f"with work pending and no notification on the way for "
                f"{float(str(rep['lost_asleep_ms'])):.0f} ms, reported "
                f"{float(str(rep['lost_at'])):.3f} s into a run with {mode}, {at}",
                expected="every sleeping side woken by the other's notification",
                observed=f"no {lost} after {rep['buffers']} buffers")
        elif rc == 2:
            what = str(rep["error"]) if rep is not None else err
            out.result = Result(Outcome.FAIL, f"{what} ({at})",
                                expected="every buffer exactly once, in order",
                                observed=str(what))
        elif rc == 3:
            out.result = Result(Outcome.FAIL, f"a stall: both sides asleep and neither sees "
                                f"work in the rings although buffers are out (an index in "
                                f"memory is wrong), {at}")
        elif rc != 0:
            out.result = Result(Outcome.FAIL, f"the two-thread run could not start: "
                                f"{err or f'exit status {rc}'}")
        used += float(str(rep["seconds"])) if rep is not None else seg
        k += 1
        if rc != 0:
            break
    out.result.seconds = time.perf_counter() - t
    if out.result.outcome is Outcome.PASS:
        out.result.detail = (f"{buffers} buffers, {sleeps} sleeps in {len(out.runs)} runs "
                             f"({'/'.join(MODES)}): none lost, repeated or reordered, no lost "
                             "wakeup")
    return out


def pairs(lib: Path, sides: Sequence[str], packed: bool = False,
          ) -> list[tuple[str, Path, Path]]:
    """(name, driver library, device library) of the runs a library with ``sides`` gets."""
    ref = reference_lib()
    out = []
    peer = "ring_packed.c" if packed else "ring.c"
    if "driver" in sides:
        out.append((f"driver-vs-{peer}", lib, ref))
    if "device" in sides:
        out.append((f"device-vs-{peer}", ref, lib))
    if "driver" in sides and "device" in sides:
        out.append(("both-sides", lib, lib))
    return out
