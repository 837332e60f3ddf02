"""``virtiospec conformance``: list and run the suite against a target, write reports."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from virtiospec.conformance import cases as cases_mod
from virtiospec.conformance import report, runner, targets
from virtiospec.conformance.cases import Outcome

app = typer.Typer(no_args_is_help=True, add_completion=False)
console = Console(soft_wrap=True)

Target = Annotated[str, typer.Option(
    "--target", "-t", help="reference, c, lib:PATH.so[:driver|device], shm-lib:PATH.so, qemu, "
    "dpdk, linux-guest")]
SideOpt = Annotated[str | None, typer.Option("--side", help="Only cases of this side: driver or "
                                             "device.")]
OnlyOpt = Annotated[list[str] | None, typer.Option(
    "--only", help="Case ID, dotted prefix, or requirement ID (repeatable).")]
ReportOpt = Annotated[list[str] | None, typer.Option(
    "--report", help="junit:FILE, json:FILE or html:FILE (repeatable).")]

COLOURS = {Outcome.PASS: "green", Outcome.REJECT: "green", Outcome.FAIL: "red",
           Outcome.WEDGED: "red", Outcome.SKIP: "yellow"}


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
    """List the cases (stable IDs, side, requirements) without running them."""
    _list(select(side, only))


def _show(c: cases_mod.Case, r: cases_mod.Result) -> None:
    colour = COLOURS[r.outcome]
    console.print(f"[{colour}]{r.outcome.value:<6}[/{colour}] {c.id:<52} {r.seconds:6.3f}s "
                  f"[dim]{', '.join(c.reqs)}[/dim]")
    if r.outcome in (Outcome.FAIL, Outcome.WEDGED) and r.detail:
        console.print(f"       {r.detail}")
        if r.expected or r.observed:
            console.print(f"       expected: {r.expected}\n       observed: {r.observed}")


@app.command("run")
def run(target: Target = "reference", side: SideOpt = None, only: OnlyOpt = None,
        list_only: Annotated[bool, typer.Option("--list", help="List, do not run.")] = False,
        reports: ReportOpt = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only failures and the "
                                            "summary.")] = False) -> None:
    """Run the suite against TARGET; exit 1 on any FAIL or WEDGED, 2 if nothing ran."""
    chosen = select(side, only)
    if list_only:
        _list(chosen)
        return
    for spec in reports or []:
        report.parse_spec(spec)  # refuse a bad --report before running anything
    if not chosen:
        console.print("[red]no case selected[/red]")
        raise typer.Exit(2)
    tgt = targets.make(target)

    def show(c: cases_mod.Case, r: cases_mod.Result) -> None:
        if not quiet or r.outcome in (Outcome.FAIL, Outcome.WEDGED):
            _show(c, r)

    if console.is_terminal and not quiet:
        cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn())
        with Progress(*cols, console=console, transient=True) as progress:
            task = progress.add_task(f"target {target}", total=len(chosen))

            def live(c: cases_mod.Case, r: cases_mod.Result) -> None:
                show(c, r)
                progress.advance(task)

            results = runner.run(chosen, tgt, live)
    else:
        results = runner.run(chosen, tgt, show)
    counts = Counter(r.outcome for _, r in results)
    skipped = Counter(r.detail for _, r in results if r.outcome is Outcome.SKIP)
    for reason, n in skipped.items():
        console.print(f"[yellow]SKIP[/yellow] {n} cases: {reason}")
    not_run = len(chosen) - len(results)
    console.print(", ".join(f"{counts[o]} {o.value.lower()}" for o in Outcome)
                  + f" ({len(results)} of {len(chosen)} cases run, target {target})"
                  + (f"; [red]{not_run} not run after a WEDGED case[/red]" if not_run else ""))
    for spec in reports or []:
        console.print(f"report: {report.write(spec, results, target)}")
    bad = counts[Outcome.FAIL] + counts[Outcome.WEDGED] + not_run
    raise typer.Exit(1 if bad else 0)
