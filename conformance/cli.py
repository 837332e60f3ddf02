"""``virtiospec conformance``: list and run the suite against a target, write reports."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from virtiospec.conformance import cases as cases_mod
from virtiospec.conformance import deviation_files, report, runner, targets
from virtiospec.conformance.cases import Outcome, TargetError, unexpected
from virtiospec.conformance.ring.lib_stress import STRESS_ENV, is_stress

app = typer.Typer(no_args_is_help=True, add_completion=False)
console = Console(soft_wrap=True)

Target = Annotated[str, typer.Option(
    "--target", "-t", help="reference, c, lib:PATH.so[:driver|device], shm-lib:PATH.so, "
    "qemu[:BINARY][,PROP=VAL...] (virtio-net-pci properties), dpdk[,DEVARG=VAL...] "
    "(net_virtio_user devargs), linux-guest[,OPTION=VAL...]")]
SideOpt = Annotated[str | None, typer.Option("--side", help="Only cases of this side: driver or "
                                             "device.")]
OnlyOpt = Annotated[list[str] | None, typer.Option(
    "--only", help="Case ID, dotted prefix, or requirement ID (repeatable).")]
ReportOpt = Annotated[list[str] | None, typer.Option(
    "--report", help="junit:FILE, json:FILE or html:FILE (repeatable).")]

StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="NON-STRICT (a VIRTIO SHOULD) and EXTENSION (a rule of virtiospec's) "
    "count as failures, and no deviation file is used.")]
DeviationsOpt = Annotated[list[Path] | None, typer.Option(
    "--deviations", help="A TOML file of the peer's known deviations (repeatable); replaces "
    "the file shipped for the target (conformance/deviations/).")]

COLOURS = {Outcome.PASS: "green", Outcome.REJECT: "green", Outcome.FAIL: "red",
           Outcome.WEDGED: "red", Outcome.SKIP: "yellow", Outcome.NON_STRICT: "magenta",
           Outcome.EXTENSION: "cyan", Outcome.XFAIL: "blue", Outcome.XPASS: "red"}
SHOWN = (Outcome.FAIL, Outcome.WEDGED, Outcome.NON_STRICT, Outcome.EXTENSION, Outcome.XFAIL,
         Outcome.XPASS)


def nothing(side: str | None, only: list[str] | None) -> str:
    what = [f"--side {side}"] if side else []
    what += [f"--only {o}" for o in only or []]
    return f"no case matches {' '.join(what)}" if what else "no case"


def fail(message: str) -> typer.Exit:
    """One line on stderr; exit status 2 (an error of the run, no verdict)."""
    Console(stderr=True, soft_wrap=True, emoji=False, highlight=False).print(
        f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


def select(side: str | None, only: list[str] | None) -> list[cases_mod.Case]:
    if side not in (None, "driver", "device"):
        raise typer.BadParameter(f"--side {side!r}: driver or device")
    out = []
    for c in cases_mod.discover().values():
        if side and c.side != side:
            continue
        if only and not any(c.id == o or c.id.startswith(o + ".") or o in c.reqs for o in only):
            continue
        out.append(c)
    return out


def _list(chosen: list[cases_mod.Case]) -> None:
    for c in chosen:
        console.print(f"{c.id:<52} {c.side:<7} {', '.join(c.reqs)}  [dim]{c.summary}[/dim]")
    console.print(f"{len(chosen)} cases")


@app.command("list")
def list_(side: SideOpt = None, only: OnlyOpt = None) -> None:
    """List the cases (stable IDs, side, requirements) without running them; exit 2 if none
    matches."""
    chosen = select(side, only)
    if not chosen:
        raise fail(nothing(side, only))
    _list(chosen)


def _show(c: cases_mod.Case, r: cases_mod.Result) -> None:
    colour = COLOURS[r.outcome]
    console.print(f"[{colour}]{r.outcome.value:<10}[/{colour}] {c.id:<52} {r.seconds:6.3f}s "
                  f"[dim]{', '.join(c.reqs)}[/dim]")
    if r.outcome in SHOWN and r.detail:
        console.print(f"           {r.detail}")
        if r.expected or r.observed:
            console.print(f"           expected: {r.expected}\n"
                          f"           observed: {r.observed}")
    if r.graded and r.outcome in SHOWN:
        console.print(f"           [dim]graded: {r.graded}[/dim]")
    if r.deviation:
        console.print(f"           [dim]known deviation: {r.deviation}[/dim]")


def deviations_for(tgt: Any, files: list[Path] | None, strict: bool) -> Any:
    """The deviations in effect: none with --strict, the user's files, or the target's own."""
    if strict:
        return None
    if not files:
        shipped = getattr(tgt, "deviations", None)
        files = [shipped] if shipped else []
    if not files:
        return None
    return deviation_files.load(files, cases_mod.discover(), getattr(tgt, "options", None))


@app.command("run")
def run(target: Target = "reference", side: SideOpt = None, only: OnlyOpt = None,
        list_only: Annotated[bool, typer.Option("--list", help="List, do not run.")] = False,
        reports: ReportOpt = None, strict: StrictOpt = False,
        deviations: DeviationsOpt = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only failures and the "
                                            "summary.")] = False,
        stress: Annotated[float | None, typer.Option(
            "--stress", metavar="SECONDS", help="lib: / shm-lib: only: run the library on two "
            "real threads (each stress case about SECONDS) instead of the sequential "
            "suite.")] = None) -> None:
    """Run the suite against TARGET; exit 1 on any FAIL, WEDGED or XPASS (with --strict also
    NON-STRICT and EXTENSION), 2 on an error of the run: nothing selected, a bad target
    spec or option, a peer that cannot start."""
    chosen = select(side, only)
    if stress is not None and not stress > 0:
        raise fail(f"--stress {stress}: SECONDS must be more than 0")
    if stress is not None and target.partition(":")[0] not in ("lib", "shm-lib"):
        raise fail(f"--stress runs a native library on two threads: use --target "
                   f"lib:PATH.so or shm-lib:PATH.so (not {target})")
    chosen = [c for c in chosen if is_stress(c.id) == (stress is not None)]
    if stress is not None:  # lib: has the ring's stress cases, shm-lib: the shm's
        layer = "shm" if target.startswith("shm-lib") else "ring"
        chosen = [c for c in chosen if c.layer == layer]
    if not chosen:
        raise fail(nothing(side, only))
    if list_only:
        _list(chosen)
        return
    for spec in reports or []:
        try:
            report.parse_spec(spec)  # refuse a bad --report before running anything
        except ValueError as err:
            raise fail(str(err)) from None
    if stress is not None:
        os.environ[STRESS_ENV] = str(stress)  # the child process of a lib: target reads it
    try:
        tgt = targets.make(target)
        known = deviations_for(tgt, deviations, strict)
    except TargetError as err:
        raise fail(str(err)) from None
    if known is not None:
        console.print(f"known deviations: {len(known)} listed in {', '.join(known.files)} "
                      "(--strict ignores them)")
    try:
        results = _run(chosen, tgt, target, quiet, known)
    except TargetError as err:
        raise fail(f"--target {target}: {err}") from None
    counts = Counter(r.outcome for _, r in results)
    skipped = Counter(r.detail for _, r in results if r.outcome is Outcome.SKIP)
    for reason, n in skipped.items():
        console.print(f"[yellow]SKIP[/yellow] {n} cases: {reason}")
    not_run = len(chosen) - len(results)
    console.print(", ".join(f"{counts[o]} {o.value.lower()}" for o in Outcome)
                  + f" ({len(results)} of {len(chosen)} cases run, target {target}"
                  + (", strict" if strict else "") + ")"
                  + (f"; [red]{not_run} not run after a WEDGED case[/red]" if not_run else ""))
    lenient = counts[Outcome.NON_STRICT] + counts[Outcome.EXTENSION]
    if lenient and not strict:
        console.print(f"{lenient} NON-STRICT or EXTENSION: not failures of VIRTIO's MUSTs "
                      "(--strict counts them)")
    notes = getattr(tgt, "notes", None)
    for note in notes() if callable(notes) else []:
        console.print(f"[dim]note: {note}[/dim]")
    for spec in reports or []:
        console.print(f"report: {report.write(spec, results, target, strict)}")
    bad = unexpected([r.outcome for _, r in results], strict) + not_run
    raise typer.Exit(1 if bad else 0)


def _run(chosen: list[cases_mod.Case], tgt: Any, target: str, quiet: bool,
         known: Any) -> list[tuple[cases_mod.Case, cases_mod.Result]]:
    def show(c: cases_mod.Case, r: cases_mod.Result) -> None:
        if not quiet or r.outcome in SHOWN:
            _show(c, r)

    if console.is_terminal and not quiet:
        cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn())
        with Progress(*cols, console=console, transient=True) as progress:
            task = progress.add_task(f"target {target}", total=len(chosen))

            def live(c: cases_mod.Case, r: cases_mod.Result) -> None:
                show(c, r)
                progress.advance(task)

            return runner.run(chosen, tgt, live, known)
    return runner.run(chosen, tgt, show, known)


@app.command("matrix")
def matrix_(
    configurations: Annotated[Path | None, typer.Option(
        "--configurations", "-c", help="A file of target specs, one a line (# comments); "
        "default: the reference and every configuration of qemu, dpdk and linux-guest that "
        "docs/conformance.md names.")] = None,
    side: SideOpt = None, only: OnlyOpt = None, strict: StrictOpt = False,
    reports: Annotated[list[str] | None, typer.Option(
        "--report", help="html:FILE or json:FILE (repeatable).")] = None,
) -> None:
    """Run the suite against a set of configurations: one table, configurations as columns,
    cases as rows (those that ran somewhere), the outcome in each cell, totals below. Exit 1
    on any unexpected outcome, 2 if a configuration could not run."""
    from rich.table import Table
    from virtiospec.conformance import matrix

    chosen = select(side, only)
    if not chosen:
        raise fail(nothing(side, only))
    kinds = {"html": matrix.html, "json": matrix.as_json}
    parsed = []
    for spec in reports or []:
        kind, sep, where = spec.partition(":")
        if kind not in kinds or not sep or not where:
            raise fail(f"--report {spec!r}: expected html:FILE or json:FILE")
        parsed.append((kind, Path(where)))
    try:
        specs = matrix.read_set(configurations) if configurations else list(matrix.DEFAULT)
    except TargetError as err:
        raise fail(str(err)) from None

    def progress(col: matrix.Column) -> None:
        what = f"[red]error: {escape(col.error)}[/red]" if col.error else matrix.totals(col)
        console.print(f"{col.spec}: {what}")

    columns = matrix.run(specs, chosen, strict, progress)
    table = Table("case", *[c.spec for c in columns], title="conformance matrix"
                  + (" (--strict)" if strict else ""))
    for case in matrix.rows(columns, chosen):
        cells = []
        for col in columns:
            res = col.results.get(case.id)
            if res is None:
                cells.append("error" if col.error else "")
                continue
            colour = COLOURS[res.outcome]
            cells.append(f"[{colour}]{matrix.SHORT[res.outcome]}[/{colour}]")
        table.add_row(case.id, *cells)
    table.add_row("[b]unexpected[/b]", *[
        "error" if c.error else str(c.unexpected(strict)) for c in columns])
    console.print(table)
    for kind, path in parsed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(kinds[kind](columns, chosen, strict), encoding="utf-8")
        console.print(f"report: {path}")
    raise typer.Exit(matrix.exit_status(columns, strict))
