"""ring.c on two threads on two cores: the stress test and the benchmark against Linux.

* :func:`harness` builds ``ring_threads.c`` with ring.c -- the real build, C11 atomics and
  fences, optionally one mutant of ring_mutants.h -- into a cached executable; :func:`run`
  runs it once and parses the JSON line it prints (see the comment at the top of
  ring_threads.c for the protocol both threads follow and how a lost wakeup is detected).
* :func:`stress` runs it in the stress configuration (tiny queue, batch 1, every buffer
  verified, waiters that spin briefly on the notification word before sleeping in the
  kernel) for a bounded time, until a lost wakeup or an error.
* :func:`ringtest` builds the peer: Linux's own ring benchmark, tools/virtio/ringtest
  (programs ``ring`` and ``virtio_ring_0_9``), extracted from Debian's linux-source-6.1
  tarball into the cache at run time (nothing of the kernel's code is in this repository),
  and built with its own Makefile. :func:`run_ringtest` runs one program.
* :func:`bench` runs both with matching parameters, several interleaved samples each, and
  :func:`summarize` reduces them to medians, spreads and paired ratios.

Both sides count notifications the same way: an LD_PRELOAD library
(``ring_notify_count.c``) counts the 8-byte writes to the kick and call eventfds, and both
are timed the same way: the wall time of the process.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from virtiospec.reference import c_build
from virtiospec.reference.ring.c.build import STRICT, cache_dir, find_compiler

HARNESS_SOURCES = ("ring.h", "ring_access.h", "ring_mutants.h", "vs_block.h", "ring.c",
                   "ring_threads.c")
COUNTER_SOURCE = "ring_notify_count.c"
OPTIMIZE = ("-O2", "-flto")  # ringtest's Makefile: -O2 -flto -fwhole-program
STRESS_MUTANTS = ("NO_MB_KICK", "NO_MB_NOTIFY", "NO_RECHECK_NOTIFY", "NO_RECHECK_CB")
MODES = ("event_idx", "flags", "none", "poll")
BATCHES = (1, 16, 64)
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
RINGTEST_PROGRAMS = ("virtio_ring_0_9", "ring")
# ring.c's two runs per configuration. The driver runs ringtest's guest loop (add one buffer,
# take back one used buffer, again while either succeeds; a kick decision after every
# `batch` buffers added: ringtest's --batch). The device completes and decides on one
# buffer at a time, as ringtest's host does (OURS), or pops up to DEVICE_BATCH available
# chains, pushes them at once and decides once (OURS_BATCHED: ring.c's batching on the
# device side, which ringtest's host lacks).
OURS = "ring.c"
OURS_BATCHED = "ring.c dev-batched"
REENABLE = ("delayed", "next")  # BenchConfig.reenable
DEVICE_BATCH = 64
# ringtest's main.h charges VMEXIT_CYCLES + VMENTRY_CYCLES (500 + 500 on x86) around every
# notification sent and every wait (do_exit is true by default); our harness charges the same.
EXIT_CYCLES = 500 if platform.machine() in ("x86_64", "AMD64", "i386", "i686") else 0
# ringtest's mode per our mode: its only suppression is the event index (with --sleep);
# without --sleep it sends no notification and both sides busy-poll.
RINGTEST_MODE: dict[str, list[str] | None] = {
    "event_idx": ["--sleep"], "poll": [], "flags": None, "none": None}


class BenchError(RuntimeError):
    """A run of the harness or of ringtest failed (not a finding: a broken run)."""


class RingtestUnavailable(RuntimeError):
    """Linux's ringtest cannot be built here; the message says why."""


# -- building ------------------------------------------------------------------------------


def _digest(paths: Iterable[Path], *extra: str) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()[:12]


def _compile_once(name: str, cmd_for: Callable[[Path], list[str]]) -> Path:
    """Run the compile command for a cached output named `name` unless it is there; the
    output is written under a temporary name and renamed, so concurrent runs are safe."""
    final = cache_dir() / name
    if final.exists():
        return final
    tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")
    try:
        proc = subprocess.run(cmd_for(tmp), capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchError(f"building {name} failed:\n{proc.stderr}")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def harness(mutant: str | None = None) -> Path:
    """The two-thread harness over ring.c (real build; one mutant switched on if given)."""
    if mutant is not None and mutant not in STRESS_MUTANTS:
        raise ValueError(f"unknown stress mutant {mutant!r}; known: {', '.join(STRESS_MUTANTS)}")
    cc = find_compiler()
    defines = [f"-DVS_MUTANT=VS_M_{mutant}"] if mutant else []
    flags = [*STRICT, *OPTIMIZE, "-pthread", *defines]
    key = _digest((c_build.src(s) for s in HARNESS_SOURCES), *cc, *flags)
    name = f"ring_threads_{(mutant or 'reference').lower()}_{key}"
    return _compile_once(name, lambda out: [
        *cc, *flags, *c_build.include_flags(), str(c_build.src("ring.c")),
        str(c_build.src("ring_threads.c")),
        "-o", str(out)])


def counter_lib() -> Path:
    """The LD_PRELOAD library counting eventfd notifications (ring_notify_count.c)."""
    cc = find_compiler()
    flags = [*STRICT, "-O2", "-fPIC", "-shared"]
    key = _digest([c_build.src(COUNTER_SOURCE)], *cc, *flags)
    return _compile_once(f"ring_notify_count_{key}.so", lambda out: [
        *cc, *flags, str(c_build.src(COUNTER_SOURCE)), "-o", str(out), "-ldl"])


def two_cpus() -> tuple[int, int]:
    """The first two CPUs this process may run on (driver, device)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise BenchError(f"two CPUs are needed (driver and device on separate cores); "
                         f"this process may use only {cpus}")
    return cpus[0], cpus[1]


# -- running the harness ---------------------------------------------------------------------


@dataclass
class HarnessRun:
    """One run of ring_threads: its JSON report, plus how it was timed and counted outside."""

    report: dict[str, object]
    wall: float                      # seconds, process start to exit
    returncode: int
    counted: dict[str, int] = field(default_factory=dict)  # the LD_PRELOAD counts, if any

    def __getitem__(self, key: str) -> object:
        return self.report[key]

    def count(self, key: str) -> int:
        """An integer field of the report."""
        value = self.report[key]
        assert isinstance(value, int) and not isinstance(value, bool), (key, value)
        return value

    def real(self, key: str) -> float:
        """A number field of the report."""
        value = self.report[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        return float(value)

    @property
    def buffers(self) -> int:
        return self.count("buffers")

    @property
    def lost_wakeup(self) -> bool:
        return bool(self.report["lost_wakeup"])


def _read_counts(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    line = path.read_text().strip().splitlines()[-1]
    return {k: int(v) for k, v in (w.split("=") for w in line.split())}


def _run_counted(cmd: Sequence[str], count: bool, timeout: float) -> tuple[
        subprocess.CompletedProcess[str], float, dict[str, int]]:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="vs-bench-") as tmp:
        out = Path(tmp) / "counts"
        if count:
            env["LD_PRELOAD"] = str(counter_lib())
            env["VS_NOTIFY_COUNT_OUT"] = str(out)
        t = time.perf_counter()
        try:
            proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise BenchError(f"{' '.join(cmd)}: no end after {timeout:.0f} s") from e
        wall = time.perf_counter() - t
        return proc, wall, _read_counts(out) if count else {}


def run(exe: Path, *, mode: str = "event_idx", queue_size: int = 256, batch: int = 1,
        device_batch: int = 0, buffers: int = 1_000_000, max_seconds: float = 0.0,
        lost_ms: int = 200, exit_cycles: int = 0, wake: str = "eventfd", spin: int = 0,
        verify: bool = False, delayed: bool = False, interleave: bool = False,
        cpus: tuple[int, int] | None = None, count: bool = False,
        timeout: float | None = None) -> HarnessRun:
    """Run the harness once. Exits 0 (done), 1 (lost wakeup), 2 (a lost, duplicated or
    reordered buffer, or a ring error) and 3 (both asleep with nothing pending: a harness
    bug) are results; anything else (bad usage, a crash, no report) is a BenchError."""
    driver_cpu, device_cpu = cpus or two_cpus()
    cmd = [str(exe), "--mode", mode, "--queue-size", str(queue_size), "--batch", str(batch),
           "--device-batch", str(device_batch), "--buffers", str(buffers), "--max-seconds",
           str(max_seconds), "--lost-ms", str(lost_ms), "--exit-cycles", str(exit_cycles),
           "--wake", wake, "--spin", str(spin), "--driver-cpu", str(driver_cpu),
           "--device-cpu", str(device_cpu)]
    if verify:
        cmd.append("--verify")
    if delayed:
        cmd.append("--delayed")
    if interleave:
        cmd.append("--interleave")
    limit = timeout if timeout is not None else (max_seconds or 600) + 60
    proc, wall, counted = _run_counted(cmd, count, limit)
    if proc.returncode not in (0, 1, 2, 3) or not proc.stdout.strip():
        raise BenchError(f"{' '.join(cmd)}: exit {proc.returncode}: "
                         f"{(proc.stderr or proc.stdout).strip()}")
    return HarnessRun(json.loads(proc.stdout), wall, proc.returncode, counted)


# -- the stress test ---------------------------------------------------------------------------


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


# -- Linux's ringtest --------------------------------------------------------------------------


def _tar_members(tarball: Path) -> tuple[str, list[str]]:
    top = tarball.name.removesuffix(".tar.xz")  # linux-source-6.1
    ring = f"{top}/tools/virtio/ringtest"
    members = [f"{ring}/{n}" for n in ("Makefile", "main.c", "main.h", *(
        f"{p}.c" for p in RINGTEST_PROGRAMS))]
    members += [f"{top}/include/uapi/linux/{n}" for n in ("virtio_ring.h", "virtio_types.h")]
    return top, members


def _extract(tarball: Path, dest: Path, members: list[str]) -> None:
    """Extract only `members` (the whole archive is still decompressed once: xz)."""
    tar = shutil.which("tar")
    if tar:
        proc = subprocess.run([tar, "-xJf", str(tarball), "-C", str(dest), *members],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RingtestUnavailable(f"tar -xJf {tarball} failed: {proc.stderr.strip()}")
        return
    want = set(members)
    with tarfile.open(tarball, "r|xz") as tf:
        for m in tf:
            if m.name in want:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
                    tf.extract(m, dest, filter="data")
                else:
                    tf.extract(m, dest)  # the names are ours, fixed above
                want.discard(m.name)
                if not want:
                    break
    if want:
        raise RingtestUnavailable(f"{tarball} lacks {sorted(want)}")


def ringtest(tarball: Path = TARBALL, log: Callable[[str], None] = lambda _m: None) -> dict[
        str, Path]:
    """Build Linux's ringtest programs (virtio_ring_0_9 and ring) from the linux-source
    tarball, once per tarball and compiler; returns {program: path}."""
    if not tarball.exists():
        raise RingtestUnavailable(
            f"{tarball} not found: install Debian's linux-source-6.1 (apt-get install "
            "linux-source-6.1, or `make system-deps`)")
    make = shutil.which("make")
    if make is None:
        raise RingtestUnavailable("`make` not found (apt-get install make)")
    cc = find_compiler()
    st = tarball.stat()
    key = hashlib.sha256(f"{tarball}|{st.st_size}|{st.st_mtime_ns}|{cc}".encode()).hexdigest()[:12]
    root = cache_dir() / f"linux-ringtest-{key}"
    progs = {p: root / "ringtest" / p for p in RINGTEST_PROGRAMS}
    if all(p.exists() for p in progs.values()):
        return progs
    log(f"extracting tools/virtio/ringtest from {tarball} (once; decompresses the whole "
        "archive) ...")
    top, members = _tar_members(tarball)
    work = Path(tempfile.mkdtemp(prefix="linux-ringtest-", dir=cache_dir()))
    try:
        _extract(tarball, work, members)
        build = work / "build"
        (build / "include" / "linux").mkdir(parents=True)
        shutil.copytree(work / top / "tools" / "virtio" / "ringtest", build / "ringtest")
        for h in ("virtio_ring.h", "virtio_types.h"):  # the 6.1 uapi headers it includes
            shutil.copy(work / top / "include" / "uapi" / "linux" / h,
                        build / "include" / "linux" / h)
        log("building ringtest (its own Makefile) ...")
        proc = subprocess.run([make, "-s", "-C", str(build / "ringtest"), f"CC={' '.join(cc)}",
                               f"CPPFLAGS=-I{build / 'include'}", *RINGTEST_PROGRAMS],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RingtestUnavailable(f"building ringtest failed:\n{proc.stderr}")
        try:
            os.replace(build, root)
        except OSError:  # another process built it first
            if not all(p.exists() for p in progs.values()):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return progs


@dataclass
class RingtestRun:
    program: str
    wall: float
    counted: dict[str, int]


def run_ringtest(exe: Path, *, sleep: bool, batch: int, ring_size: int, run_cycles: int,
                 cpus: tuple[int, int] | None = None, timeout: float = 600) -> RingtestRun:
    """One run of a ringtest program (guest = driver on the first CPU, host = device on the
    second), counted by the LD_PRELOAD library and timed from outside."""
    guest, host = cpus or two_cpus()
    cmd = [str(exe), "--guest-affinity", str(guest), "--host-affinity", str(host),
           "--ring-size", str(ring_size), "--run-cycles", str(run_cycles), "--batch",
           str(batch), *(["--sleep"] if sleep else [])]
    proc, wall, counted = _run_counted(cmd, True, timeout)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return RingtestRun(exe.name, wall, counted)


# -- the benchmark -------------------------------------------------------------------------------


@dataclass
class Sample:
    impl: str          # OURS, OURS_BATCHED, "virtio_ring_0_9", "ring"
    mode: str
    batch: int
    round: int
    buffers: int
    wall: float
    kicks: int
    interrupts: int

    @property
    def rate(self) -> float:
        return self.buffers / self.wall

    @property
    def per_buffer(self) -> float:
        return (self.kicks + self.interrupts) / self.buffers


@dataclass
class BenchConfig:
    batches: tuple[int, ...] = BATCHES
    modes: tuple[str, ...] = MODES
    buffers: int = 2_000_000
    samples: int = 5
    queue_size: int = 256
    exit_cycles: int = EXIT_CYCLES
    linux: bool = True
    tarball: Path = TARBALL
    device_batched: bool = True  # also run ring.c with the device batching (OURS_BATCHED)
    # how ring.c's driver re-enables interrupts before it sleeps (event_idx mode):
    # "delayed": enable_cb_delayed, used_event 3/4 of the outstanding buffers ahead;
    # "next": enable_cb, used_event at the next used entry (see docs/bench.md)
    reenable: str = "delayed"

    def run_cycles(self) -> int:
        """Buffers per run, rounded up to a multiple of every batch: ringtest never kicks a
        partial last batch, so its run would not end otherwise."""
        step = 1
        for b in self.batches:
            step = step * b // _gcd(step, b)
        return -(-self.buffers // step) * step


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


@dataclass
class BenchResult:
    config: BenchConfig
    cpus: tuple[int, int]
    samples: list[Sample]
    linux_error: str | None = None


def _ours(exe: Path, cfg: BenchConfig, impl: str, mode: str, batch: int, rnd: int,
          cpus: tuple[int, int]) -> Sample:
    n = cfg.run_cycles()
    device_batch = 1 if impl == OURS else DEVICE_BATCH
    r = run(exe, mode=mode, queue_size=cfg.queue_size, batch=batch, device_batch=device_batch,
            buffers=n, exit_cycles=cfg.exit_cycles, interleave=True, cpus=cpus, count=True,
            delayed=cfg.reenable == "delayed")
    if r.returncode != 0:
        raise BenchError(f"{impl} {mode} batch {batch}: "
                         + ("lost wakeup" if r.lost_wakeup else str(r["error"])))
    kicks, intr = r.count("kicks"), r.count("interrupts")
    # the outside count must agree with the harness's own (plus the end-of-run wakes)
    want = {"kick_writes": kicks + r.count("kick_fd_rescues"),
            "call_writes": intr + r.count("interrupt_fd_rescues")}
    if r.counted != want:
        raise BenchError(f"{impl} {mode} batch {batch}: eventfd writes {r.counted}, "
                         f"harness says {want}")
    return Sample(impl, mode, batch, rnd, r.buffers, r.wall, kicks, intr)


def bench(cfg: BenchConfig, progress: Callable[[str], None] = lambda _m: None) -> BenchResult:
    """Every (mode, batch) for ring.c and, where ringtest has the same mode, for its two
    programs: cfg.samples rounds, each round running every configuration once, back to
    back, so that the machine's speed changes fall on all of them alike."""
    cpus = two_cpus()
    exe = harness()
    counter_lib()
    peers: dict[str, Path] = {}
    linux_error = None
    if cfg.linux:
        try:
            peers = ringtest(cfg.tarball, log=progress)
        except RingtestUnavailable as e:
            linux_error = str(e)
    samples: list[Sample] = []
    n = cfg.run_cycles()
    for rnd in range(cfg.samples):
        progress(f"round {rnd + 1} of {cfg.samples}")
        for mode in cfg.modes:
            for batch in cfg.batches:
                samples.append(_ours(exe, cfg, OURS, mode, batch, rnd, cpus))
                if cfg.device_batched:
                    samples.append(_ours(exe, cfg, OURS_BATCHED, mode, batch, rnd, cpus))
                flags = RINGTEST_MODE[mode]
                if flags is None:
                    continue
                for prog, path in peers.items():
                    r = run_ringtest(path, sleep=bool(flags), batch=batch,
                                     ring_size=cfg.queue_size, run_cycles=n, cpus=cpus)
                    samples.append(Sample(prog, mode, batch, rnd, n, r.wall,
                                          r.counted.get("kick_writes", 0),
                                          r.counted.get("call_writes", 0)))
    return BenchResult(cfg, cpus, samples, linux_error)


# -- summary ---------------------------------------------------------------------------------------


@dataclass
class Figure:
    """Median and range of a quantity over the samples."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, xs: Sequence[float]) -> Figure:
        return cls(statistics.median(xs), min(xs), max(xs))

    @property
    def spread(self) -> float:
        """(max - min) / median."""
        return (self.high - self.low) / self.median if self.median else 0.0


@dataclass
class Row:
    mode: str
    batch: int
    impl: str
    rate: Figure             # buffers per second
    per_buffer: Figure       # notifications (kicks + interrupts) per buffer
    kicks: float             # median kicks per buffer
    interrupts: float        # median interrupts per buffer
    samples: int


@dataclass
class Ratio:
    mode: str
    batch: int
    ours: str                # OURS or OURS_BATCHED
    peer: str
    speed: Figure            # ours / peer buffers per second, paired per round
    ours_per_buffer: float   # median notifications per buffer
    peer_per_buffer: float


def summarize(res: BenchResult) -> tuple[list[Row], list[Ratio]]:
    rows: list[Row] = []
    ratios: list[Ratio] = []
    by: dict[tuple[str, int, str], list[Sample]] = {}
    for s in res.samples:
        by.setdefault((s.mode, s.batch, s.impl), []).append(s)
    for (mode, batch, impl), ss in by.items():
        rows.append(Row(mode, batch, impl, Figure.of([s.rate for s in ss]),
                        Figure.of([s.per_buffer for s in ss]),
                        statistics.median(s.kicks / s.buffers for s in ss),
                        statistics.median(s.interrupts / s.buffers for s in ss), len(ss)))
    for (mode, batch, impl), ss in by.items():
        if impl in (OURS, OURS_BATCHED):
            continue
        for ours_impl in (OURS, OURS_BATCHED):
            ours = {s.round: s for s in by.get((mode, batch, ours_impl), [])}
            paired = [ours[s.round].rate / s.rate for s in ss if s.round in ours]
            if not paired:
                continue
            ratios.append(Ratio(mode, batch, ours_impl, impl, Figure.of(paired),
                                statistics.median(o.per_buffer for o in ours.values()),
                                statistics.median(s.per_buffer for s in ss)))
    return rows, ratios


def to_json(res: BenchResult) -> dict[str, object]:
    rows, ratios = summarize(res)
    cfg = asdict(res.config)
    cfg["tarball"] = str(res.config.tarball)
    cfg["run_cycles"] = res.config.run_cycles()
    return {"config": cfg, "cpus": list(res.cpus), "linux_error": res.linux_error,
            "rows": [asdict(r) for r in rows], "ratios": [asdict(r) for r in ratios],
            "samples": [asdict(s) for s in res.samples]}
