"""Build and run the libFuzzer harnesses of reference/fuzz/ (``virtiospec fuzz``).

Each target is one harness C file that includes the library it tests (ring.c, ring_packed.c,
shm.c, ring_vhost.c) and is compiled by Debian's clang with libFuzzer, ASan and UBSan
(``-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all``). A target can be built as
one of the library's known-bad variants (its mutant switch), which the tests use to show
that a planted bug is found.

A run fuzzes a target for a number of seconds starting from the seed corpus kept in the
repository (``reference/fuzz/corpus/<target>/``, read only) and a work corpus in the cache
(``$VIRTIOSPEC_CACHE`` or ``/tmp/virtiospec-fuzz-<uid>/<target>/corpus``, which grows from
run to run), and reports libFuzzer's executions, coverage (``cov``: edges, ``ft``:
features) and findings; a finding is saved under ``.../<target>/findings/`` and reproduced
by running the harness binary on that one file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from virtiospec.reference import c_build

HERE = Path(__file__).resolve().parent  # reference/fuzz/
CORPUS = HERE / "corpus"
SANITIZE = ("-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all")
CFLAGS = ("-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1", *SANITIZE)


@dataclass(frozen=True)
class Target:
    name: str
    source: str          # harness file in reference/fuzz/
    library: str         # what it fuzzes
    mutant_macro: str    # -D<macro>=<prefix><NAME> builds a known-bad variant
    mutant_prefix: str
    depends: tuple[str, ...]  # library files (in reference/) the build depends on
    about: str


_RING = ("ring.c", "ring.h", "ring_access.h", "ring_mutants.h", "vs_block.h")
_PACKED = ("ring_packed.c", "ring_packed.h", "ring.h", "ring_access.h", "ring_packed_mutants.h",
           "vs_block.h")
TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("split_device", "fuzz_split_device.c", "ring.c", "VS_MUTANT", "VS_M_", _RING,
           "split ring device side vs a hostile driver"),
    Target("split_driver", "fuzz_split_driver.c", "ring.c", "VS_MUTANT", "VS_M_", _RING,
           "split ring driver side vs a hostile device"),
    Target("packed_device", "fuzz_packed_device.c", "ring_packed.c", "VS_PACKED_MUTANT",
           "VS_PM_", _PACKED, "packed ring device side vs a hostile driver"),
    Target("packed_driver", "fuzz_packed_driver.c", "ring_packed.c", "VS_PACKED_MUTANT",
           "VS_PM_", _PACKED, "packed ring driver side vs a hostile device"),
    Target("shm", "fuzz_shm.c", "shm.c", "VS_SHM_MUTANT", "VS_SHM_M_",
           ("shm.c", "shm.h", "ring_access.h", "shm_mutants.h"),
           "seqlock table reader/writer and shm-signal vs a hostile peer"),
    Target("vhost", "fuzz_vhost.c", "ring_vhost.c", "VS_MUTANT", "VS_M_",
           ("ring_vhost.c", "ring_vhost.h", "ring_vhost_table.h", "ring_vhost_common.h",
            *_RING),
           "vhost-user fast path vs a hostile front-end's memory table and ring"),
)}


class FuzzError(RuntimeError):
    """A one-line reason the fuzzers cannot be built or run."""


@dataclass
class FuzzResult:
    target: str
    seconds: float
    executions: int = 0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    finding: Path | None = None   # the reproducer libFuzzer wrote
    kind: str = ""                # crash, timeout, leak, oom, ...
    reason: str = ""              # the harness's or sanitizer's one-line summary
    returncode: int = 0
    cpu_seconds: float = 0.0      # user + system time of the fuzzer process
    log: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.finding is None and self.returncode == 0


def find_clang() -> str:
    """clang with libFuzzer's runtime (Debian: clang, libfuzzer-14-dev), or FuzzError."""
    for name in (os.environ.get("VIRTIOSPEC_CLANG", ""), "clang", "clang-14"):
        if name and shutil.which(name):
            return name
    raise FuzzError("clang not found: install Debian's clang and libfuzzer-14-dev "
                    "(.ci/system-deps)")


def cache_root() -> Path:
    base = os.environ.get("VIRTIOSPEC_CACHE")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    root = Path(base) / "fuzz" if base else Path(f"/tmp/virtiospec-fuzz-{uid}")
    root.mkdir(parents=True, exist_ok=True)
    return root


def target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise FuzzError(f"unknown fuzz target {name!r}; targets: "
                        f"{', '.join(TARGETS)}") from None


def _defines(t: Target, mutant: str | None, defines: Sequence[str]) -> list[str]:
    out = [f"-D{d}" for d in defines]
    if mutant:
        out.append(f"-D{t.mutant_macro}={t.mutant_prefix}{mutant}")
    return out


def build(name: str, mutant: str | None = None, defines: Sequence[str] = ()) -> Path:
    """Compile a harness (once per source version and flags); returns the binary."""
    t = target(name)
    clang = find_clang()
    flags = [*CFLAGS, *_defines(t, mutant, defines), *c_build.include_flags()]
    digest = hashlib.sha256(" ".join([clang, *flags]).encode())
    for f in (HERE / t.source, *sorted(HERE.glob("fuzz_*.h")),
              *(c_build.src(d) for d in t.depends)):
        digest.update(f.read_bytes())
    tag = f"-{mutant}" if mutant else ""
    out = cache_root() / "bin" / f"{name}{tag}-{digest.hexdigest()[:12]}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    proc = subprocess.run([clang, *flags, str(HERE / t.source), "-o", str(tmp)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
        raise FuzzError(f"building {name} failed: {first}")
    os.replace(tmp, out)
    return out


_STATUS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_UNIT = re.compile(r"Test unit written to (\S+)")
_STAT = re.compile(r"stat::number_of_executed_units: (\d+)")
_DONE = re.compile(r"Done (\d+) runs")


def _reason(log: str) -> tuple[str, str]:
    """(kind, one-line reason) of a libFuzzer failure log."""
    for line in log.splitlines():
        if "virtiospec-fuzz: invariant broken" in line:
            return "crash", line.split("virtiospec-fuzz: ", 1)[1].strip()
    for line in log.splitlines():
        if "ERROR: AddressSanitizer" in line or "runtime error:" in line:
            return "crash", line.split("==")[-1].strip()
        if "ERROR: libFuzzer: timeout" in line:
            return "timeout", line.split("ERROR: ", 1)[1].strip()
        if "ERROR: libFuzzer: out-of-memory" in line or "ERROR: LeakSanitizer" in line:
            return "oom" if "memory" in line else "leak", line.split("ERROR: ", 1)[1].strip()
        if "ERROR: libFuzzer" in line:
            return "crash", line.split("ERROR: ", 1)[1].strip()
    return "crash", "the harness exited abnormally"


def parse_log(name: str, seconds: float, log: str, returncode: int) -> FuzzResult:
    res = FuzzResult(name, seconds, returncode=returncode, log=log)
    for m in _STATUS.finditer(log):
        res.executions = max(res.executions, int(m.group(1)))
        res.cov, res.ft, res.corpus = int(m.group(2)), int(m.group(3)), int(m.group(4))
    for rx in (_STAT, _DONE):
        for m in rx.finditer(log):
            res.executions = max(res.executions, int(m.group(1)))
    unit = _UNIT.search(log)
    if unit:
        res.finding = Path(unit.group(1))
    if unit or returncode != 0:
        res.kind, res.reason = _reason(log)
    return res


def work_dirs(name: str, mutant: str | None = None) -> tuple[Path, Path]:
    """(work corpus, findings) of a target (a mutant's are its own)."""
    base = cache_root() / (f"{name}-{mutant}" if mutant else name)
    corpus, findings = base / "corpus", base / "findings"
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    return corpus, findings


def run(name: str, seconds: int, mutant: str | None = None, defines: Sequence[str] = (),
        seeds: bool = True, fresh: bool = False, timeout: int = 10,
        nice: int = 0) -> FuzzResult:
    """Fuzz one target for `seconds` (from the repo's seeds and the work corpus)."""
    if seconds < 1:
        raise FuzzError("--seconds must be at least 1")
    binary = build(name, mutant, defines)
    corpus, findings = work_dirs(name, mutant)
    if fresh:
        shutil.rmtree(corpus)
        corpus.mkdir()
    dirs = [str(corpus)]
    if seeds and (CORPUS / name).is_dir():
        dirs.append(str(CORPUS / name))
    cmd = [str(binary), f"-max_total_time={seconds}", f"-timeout={timeout}",
           "-rss_limit_mb=2048", "-print_final_stats=1", f"-artifact_prefix={findings}/",
           *dirs]
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]  # nice execs the fuzzer: same pid
    code, log, cpu = _run_measured(cmd, seconds + 4 * timeout + 120)
    res = parse_log(name, seconds, log, code)
    res.cpu_seconds = cpu
    return res


def _run_measured(cmd: Sequence[str], limit: float) -> tuple[int, str, float]:
    """Run cmd (stderr captured); (exit code, stderr, CPU seconds of that process alone,
    from wait4's rusage: right even when several fuzzers run at once)."""
    import tempfile
    import threading

    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=err)
        timer = threading.Timer(limit, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        log = err.read().decode(errors="replace")
    return proc.returncode, log, usage.ru_utime + usage.ru_stime


def replay(name: str, inputs: Sequence[Path], mutant: str | None = None) -> FuzzResult:
    """Run a target once over the given inputs (files or corpus folders), no fuzzing."""
    binary = build(name, mutant)
    files: list[str] = []
    for p in inputs:
        files += [str(f) for f in sorted(p.iterdir())] if p.is_dir() else [str(p)]
    if not files:
        raise FuzzError(f"no inputs to replay for {name}")
    proc = subprocess.run([str(binary), "-runs=1", *files], capture_output=True, text=True,
                          errors="replace", timeout=600)
    res = parse_log(name, 0.0, proc.stderr, proc.returncode)
    res.executions = len(files)
    return res


def minimise(name: str, finding: Path, seconds: int = 30, mutant: str | None = None) -> Path:
    """Shrink a finding with libFuzzer's -minimize_crash; returns the smallest reproducer."""
    binary = build(name, mutant)
    out = finding.with_name(finding.name + ".min")
    subprocess.run([str(binary), "-minimize_crash=1", f"-max_total_time={seconds}",
                    f"-exact_artifact_path={out}", str(finding)],
                   capture_output=True, text=True, timeout=seconds + 120)
    return out if out.exists() else finding


def refresh_seeds(name: str, sources: Sequence[Path], keep: int = 48,
                  max_bytes: int = 200) -> int:
    """Replace the repo's seed corpus of a target by a small subset of `sources` (work
    corpora, the old seeds): libFuzzer's merge of their inputs under `max_bytes` (one per
    new feature), of which the `keep` largest. Returns the number of seeds kept."""
    import tempfile

    binary = build(name)
    dest = CORPUS / name
    with tempfile.TemporaryDirectory() as tmp:
        small, merged = Path(tmp) / "small", Path(tmp) / "merged"
        small.mkdir()
        merged.mkdir()
        for src in sources:
            for f in src.iterdir():
                if f.is_file() and f.stat().st_size <= max_bytes:
                    shutil.copy(f, small / f.name)
        subprocess.run([str(binary), "-merge=1", str(merged), str(small)],
                       capture_output=True, timeout=600)
        chosen = sorted(merged.iterdir(), key=lambda f: (-f.stat().st_size, f.name))[:keep]
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for f in chosen:
            shutil.copy(f, dest / f.name)
    return len(chosen)


def _llvm_tool(tool: str) -> str:
    for name in (tool, f"{tool}-14"):
        if shutil.which(name):
            return name
    raise FuzzError(f"{tool} not found: install Debian's llvm-14 (.ci/system-deps)")


def line_coverage(names: Sequence[str], inputs: dict[str, Sequence[Path]] | None = None
                  ) -> dict[str, dict[str, tuple[int, int]]]:
    """Source coverage of the libraries by the given targets' corpora: each harness built
    with clang's source-based coverage (no sanitizer), run once over its inputs (default:
    its repo seeds and work corpus), the profiles merged. Returns, for every library file,
    {"lines": (covered, total), "branches": (covered, total), "functions": ...}, over all
    the targets at once (ring.c is covered by split_device, split_driver and vhost)."""
    import json
    import tempfile

    clang, profdata, cov = find_clang(), _llvm_tool("llvm-profdata"), _llvm_tool("llvm-cov")
    files = sorted({str(c_build.src(target(n).library)) for n in names})
    with tempfile.TemporaryDirectory() as tmp:
        objects, raws = [], []
        for n in names:
            t = target(n)
            binary = Path(tmp) / n
            proc = subprocess.run([clang, "-std=c11", "-g", "-O0", "-fsanitize=fuzzer",
                                   "-fprofile-instr-generate", "-fcoverage-mapping",
                                   *c_build.include_flags(), str(HERE / t.source), "-o",
                                   str(binary)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise FuzzError(f"coverage build of {n} failed: {proc.stderr.strip()[:200]}")
            dirs = list(inputs[n]) if inputs and n in inputs else [
                d for d in (CORPUS / n, work_dirs(n)[0]) if d.is_dir() and any(d.iterdir())]
            # each input once; a folder of many inputs in several calls (argument limits)
            todo = [str(f) for d in dirs for f in sorted(d.iterdir())]
            for k in range(0, len(todo), 2000):
                raw = Path(tmp) / f"{n}-{k}.profraw"
                subprocess.run([str(binary), "-runs=1", *todo[k:k + 2000]],
                               env={**os.environ, "LLVM_PROFILE_FILE": str(raw)},
                               capture_output=True, timeout=1800)
                if raw.exists():
                    raws.append(str(raw))
            objects.append(str(binary))
        if not raws:
            raise FuzzError("no coverage profile was written")
        merged = Path(tmp) / "all.profdata"
        subprocess.run([profdata, "merge", "-sparse", *raws, "-o", str(merged)], check=True,
                       capture_output=True)
        obj_args = [objects[0]] + [a for o in objects[1:] for a in ("-object", o)]
        out = subprocess.run([cov, "export", "-summary-only", f"-instr-profile={merged}",
                              *obj_args, *files], capture_output=True, text=True, check=True)
    result: dict[str, dict[str, tuple[int, int]]] = {}
    for f in json.loads(out.stdout)["data"][0]["files"]:
        s = f["summary"]
        result[Path(f["filename"]).name] = {
            k: (int(s[k]["covered"]), int(s[k]["count"]))
            for k in ("lines", "branches", "functions")}
    return result
