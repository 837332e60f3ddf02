"""``virtiospec conformance``: list and run the suite against a target."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from virtiospec.conformance import cases as cases_mod
from virtiospec.conformance import runner, targets
from virtiospec.conformance.cases import Outcome

app = typer.Typer(no_args_is_help=True, add_completion=False)
console = Console(soft_wrap=True)

Target = Annotated[str, typer.Option("--target", "-t", help="reference, c, lib:PATH.so, qemu, ...")]
SideOpt = Annotated[str | None, typer.Option("--side", help="driver or device")]
OnlyOpt = Annotated[list[str] | None, typer.Option("--only", help="Case ID, prefix or req ID")]

COLOURS = {Outcome.PASS: "green", Outcome.REJECT: "green", Outcome.FAIL: "red",
           Outcome.WEDGED: "red", Outcome.SKIP: "yellow"}


def _select(side: str | None, only: list[str] | None) -> list[cases_mod.Case]:
    out = []
    for c in cases_mod.discover().values():
        if side and c.side != side:
            continue
        if only and not any(
            c.id == o or c.id.startswith(o + ".") or o in c.reqs for o in only
        ):
            continue
        out.append(c)
    return out


@app.command("list")
def list_(side: SideOpt = None, only: OnlyOpt = None) -> None:
    """List the cases (stable IDs, side, requirements) without running them."""
    for c in _select(side, only):
        console.print(f"{c.id:<52} {c.side:<7} {', '.join(c.reqs)}  [dim]{c.summary}[/dim]")


@app.command("run")
def run(target: Target = "reference", side: SideOpt = None, only: OnlyOpt = None) -> None:
    """Run the suite against TARGET; exit non-zero on any FAIL or WEDGED."""
    tgt = targets.make(target)
    selected = _select(side, only)

    def show(c: cases_mod.Case, r: cases_mod.Result) -> None:
        colour = COLOURS[r.outcome]
        console.print(f"[{colour}]{r.outcome.value:<6}[/{colour}] {c.id:<52} {r.seconds:6.3f}s "
                      f"[dim]{', '.join(c.reqs)}[/dim]")
        if r.outcome in (Outcome.FAIL, Outcome.WEDGED, Outcome.SKIP) and r.detail:
            console.print(f"       {r.detail}")
            if r.expected or r.observed:
                console.print(f"       expected: {r.expected}\n       observed: {r.observed}")

    results = runner.run(selected, tgt, show)
    counts = {o: sum(1 for _, r in results if r.outcome is o) for o in Outcome}
    console.print(", ".join(f"{n} {o.value.lower()}" for o, n in counts.items())
                  + f" ({len(results)} of {len(selected)} cases run, target {target})")
    if not selected:
        console.print("[red]no case selected[/red]")
        raise typer.Exit(2)
    bad = counts[Outcome.FAIL] + counts[Outcome.WEDGED] + (len(selected) - len(results))
    raise typer.Exit(1 if bad else 0)
