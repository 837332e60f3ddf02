"""``conformance run --target shm-lib:X.so --stress SECONDS``: the table and the shm-signal of
a native library on two real threads (reference/shm/c/shm_threads.c).

Each run puts the library's side against shm.c's other side, then the library on both:
``table`` runs the writer updating one slot as fast as it can against the reader checking
every value it gets (a torn or stale value is FAIL: a reader without its second seq check,
a writer that is never odd, a missing barrier); ``signal`` runs the clock protocol, the
device publishing bursts of values with an inject each and the driver serving with
virtiospec_shm_service (acknowledge, then poll) and sleeping only when enable says nothing
is pending. A lost signal (the driver asleep, a value not acted on, no notification on the
way for 200 ms) is WEDGED: a sender without its full barrier, a receiver without the
barrier or the re-check of enable, a service that reads before it acknowledges.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from virtiospec.conformance.cases import Outcome, Result
from virtiospec.conformance.ring.lib_stress import _cpus, _signal_name
from virtiospec.reference import c_build
from virtiospec.reference.c_build import STRICT
from virtiospec.reference.ring.c import bench as ring_bench
from virtiospec.reference.shm.c import build as shm_c_build

ABI_HEADER = shm_c_build.ABI_HEADER
# (run name, mode, roles of the library's side(s), library is the device, ... the driver)
RUNS = {
    "table.writer.stress-vs-shm.c": ("table", ("writer",), True, False),
    "table.reader.stress-vs-shm.c": ("table", ("reader",), False, True),
    "table.reader.stress-both-sides": ("table", ("writer", "reader"), True, True),
    "signal.sender.stress-vs-shm.c": ("signal", ("writer", "sender"), True, False),
    "signal.receiver.stress-vs-shm.c": ("signal", ("reader", "receiver"), False, True),
    "signal.receiver.stress-both-sides": ("signal", ("writer", "sender", "reader",
                                                     "receiver"), True, True),
}


def harness() -> Path:
    cc = shm_c_build.find_compiler()
    flags = [*STRICT, *ring_bench.OPTIMIZE, "-pthread"]
    key = ring_bench._digest([c_build.src("shm_threads.c"), ABI_HEADER], *cc, *flags)
    return ring_bench._compile_once(f"shm_threads_{key}", lambda out: [
        *cc, *flags, *c_build.include_flags(), str(c_build.src("shm_threads.c")), "-o", str(out),
        "-ldl"])


def reference_lib() -> Path:
    """shm.c behind the ABI: the other side of the runs against shm.c."""
    cc = shm_c_build.find_compiler()
    flags = [*STRICT, "-O2", "-fPIC", "-shared", "-fvisibility=hidden"]
    sources = [c_build.src(s) for s in shm_c_build.ABI_SOURCES]
    key = ring_bench._digest([*sources, c_build.src("shm.h"), ABI_HEADER], *cc, *flags)
    return ring_bench._compile_once(f"libvirtiospec_shm_{key}.so", lambda out: [
        *cc, *flags, *c_build.include_flags(), *map(str, sources), "-o",
        str(out)])


def stress(device: Path, driver: Path, mode: str, seconds: float,
           lost_ms: int = 200) -> Result:
    """One run of ``seconds``: PASS, FAIL (torn, stale or lost value, error code, crash) or
    WEDGED (a lost signal, or a call that never returns)."""
    cpus = _cpus()
    if cpus:
        cpus = ["--device-cpu", cpus[1], "--driver-cpu", cpus[3]]
    cmd = [str(harness()), "--device-lib", str(device), "--driver-lib", str(driver), "--mode",
           mode, "--max-seconds", f"{seconds:.3f}", "--lost-ms", str(lost_ms), *cpus]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 10)
    except subprocess.TimeoutExpired:
        return Result(Outcome.WEDGED, f"a call into the library never returned: no end of a "
                      f"{seconds:.1f} s run within {seconds + 10:.0f} s",
                      seconds=time.perf_counter() - t)
    took = time.perf_counter() - t
    try:
        rep = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        rep = None
    if proc.returncode < 0:
        return Result(Outcome.FAIL, f"the library crashed: {_signal_name(proc.returncode)} on "
                      "one of the two threads", seconds=took)
    if rep is None or proc.returncode == 4:
        return Result(Outcome.FAIL, "the two-thread run could not start: "
                      f"{proc.stderr.strip() or f'exit status {proc.returncode}'}", seconds=took)
    counts = f"{rep['updates']} updates, {rep['reads']} reads"
    if proc.returncode == 1:
        return Result(Outcome.WEDGED, f"lost notification of the shm-signal: a lost "
                      f"wakeup, reported {rep['lost_at']:.3f} s into the run: "
                      f"{rep['error']}", expected="the driver woken for every value published",
                      observed=f"asleep after {counts}", seconds=took)
    if proc.returncode == 2:
        return Result(Outcome.FAIL, f"{rep['error']} ({rep['seconds']:.3f} s into the run, "
                      f"{counts})", expected="every value read whole and never older",
                      observed=str(rep["error"]), seconds=took)
    what = (f"{rep['notifications']} notifications, {rep['sleeps']} sleeps"
            if mode == "signal" else f"{rep['busy']} busy reads")
    return Result(Outcome.PASS, f"{counts}, {what} in {rep['seconds']:.1f} s: nothing torn, "
                  "stale or lost", seconds=took)
