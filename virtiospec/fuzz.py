"""``virtiospec fuzz``: coverage-guided fuzzing of the C references with libFuzzer.

The harnesses and their build are in reference/fuzz/ (libfuzzer.py); docs/fuzzing.md says
what each one feeds and checks.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def fuzz(
    target: Annotated[list[str] | None, typer.Option(
        "--target", help="A target (repeatable); default: all. --list names them.")] = None,
    seconds: Annotated[int, typer.Option("--seconds", help="Fuzzing time per target.")] = 60,
    jobs: Annotated[int, typer.Option(
        "--jobs", help="Targets fuzzed at once (one libFuzzer process each).")] = 1,
    mutant: Annotated[str | None, typer.Option(
        "--mutant", help="Build the targets as this known-bad variant of their library "
        "(e.g. NO_HEAD_CHECK): the run should find it.")] = None,
    nice: Annotated[int, typer.Option("--nice", help="Niceness of the fuzzer processes.")] = 0,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="Start from the repo's seeds only (forget the work corpus).")] = False,
    list_targets: Annotated[bool, typer.Option("--list", help="List the targets.")] = False,
    coverage: Annotated[bool, typer.Option(
        "--coverage", help="Then the source coverage (lines, branches) of each library by "
        "the seeds and work corpora (clang source-based coverage, llvm-cov).")] = False,
) -> None:
    """Fuzz the C device and driver sides (ring.c, ring_packed.c, shm.c, ring_vhost.c) under
    ASan and UBSan; print executions, coverage and findings per target. Exit 1 on a finding
    (with the reproducer's path), 2 if the fuzzers cannot be built."""
    from virtiospec.reference.fuzz import libfuzzer as lf

    if list_targets:
        for t in lf.TARGETS.values():
            console.print(f"{t.name:<14} {t.library:<14} {t.about}", markup=False)
        return
    names = target or list(lf.TARGETS)
    try:
        for n in names:
            lf.target(n)
        if jobs < 1:
            raise lf.FuzzError("--jobs must be at least 1")
        if seconds < 1:
            raise lf.FuzzError("--seconds must be at least 1")
        for n in names:  # build first: a build error is reported once, before any run
            lf.build(n, mutant)
    except lf.FuzzError as err:
        console.print(f"error: {err}", markup=False)
        raise typer.Exit(2) from None

    def one(name: str) -> lf.FuzzResult:
        return lf.run(name, seconds, mutant=mutant, fresh=fresh, nice=nice)

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, names))
    except (lf.FuzzError, subprocess.TimeoutExpired) as err:
        console.print(f"error: {err}", markup=False)
        raise typer.Exit(2) from None
    table = Table(title=f"libFuzzer, {seconds} s per target" + (f", mutant {mutant}" if mutant
                                                             else ""))
    for col in ("target", "executions", "exec/s", "CPU s", "cov", "ft", "corpus", "findings"):
        table.add_column(col, justify="left" if col in ("target", "findings") else "right")
    for r in results:
        table.add_row(r.target, f"{r.executions:,}", f"{r.executions // max(r.seconds, 1):,}",
                      f"{r.cpu_seconds:.0f}", str(r.cov), str(r.ft), str(r.corpus),
                      "none" if r.ok else f"[red]{r.kind}[/red]")
    console.print(table)
    if coverage:
        _print_coverage(names)
    bad = [r for r in results if not r.ok]
    for r in bad:
        console.print(f"{r.target}: {r.kind}: {r.reason}", markup=False)
        if r.finding:
            console.print(f"  reproduce: {lf.build(r.target, mutant)} {r.finding}", markup=False)
    raise typer.Exit(1 if bad else 0)


def _print_coverage(names: list[str]) -> None:
    from virtiospec.reference.fuzz import libfuzzer as lf

    try:
        cov = lf.line_coverage(names)
    except (lf.FuzzError, subprocess.SubprocessError) as err:
        console.print(f"error: coverage: {err}", markup=False)
        raise typer.Exit(2) from None
    table = Table(title="source coverage by the corpora (" + ", ".join(names) + ")")
    for col in ("file", "lines", "branches", "functions"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for name, kinds in cov.items():
        cells = [f"{c}/{n} ({100 * c / max(n, 1):.1f}%)" for c, n in
                 (kinds["lines"], kinds["branches"], kinds["functions"])]
        table.add_row(name, *cells)
    console.print(table)


def register(parent: typer.Typer) -> None:
    """Add ``fuzz`` to the ``virtiospec`` command."""
    parent.command("fuzz")(fuzz)
