"""The ``virtiospec`` command: prove, check, spec coverage, conformance."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from virtiospec.bench_net import app as bench_app
from virtiospec.bench_ring import ring as bench_ring
from virtiospec.demo import register as register_demo
from virtiospec.fuzz import register as register_fuzz
from virtiospec.models import registry
from virtiospec.models.render import render_trace

if TYPE_CHECKING:
    from virtiospec.coverage import SectionRow

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _conformance_app() -> typer.Typer:
    from virtiospec.conformance.cli import app as conformance_app

    return conformance_app


app.add_typer(_conformance_app(), name="conformance", help="Run the conformance suite.")
app.add_typer(bench_app, name="bench", help="Benchmarks against real peers.")
bench_app.command("ring")(bench_ring)
register_demo(app)
register_fuzz(app)

Only = Annotated[list[str] | None, typer.Option("--only", help="Name or dotted prefix.")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Jobs = Annotated[int | None, typer.Option(
    "--jobs", "-j", help="Worker processes (default: every core this process may use).")]
HypothesisDb = Annotated[str | None, typer.Option(
    "--hypothesis-db", envvar="VIRTIOSPEC_HYPOTHESIS_DB",
    help="Hypothesis example database directory shared by every machine of a run: a "
    "counterexample found on one replays first on all.")]


def _jobs(jobs: int | None, hypothesis_db: str | None) -> int:
    from virtiospec.models.hypothesis_run import DB_ENV
    from virtiospec.parallel import default_jobs

    if hypothesis_db:
        os.environ[DB_ENV] = hypothesis_db  # read by the runs here and in every worker
    if jobs is None:
        return default_jobs()
    if jobs < 1:
        Console(stderr=True).print(f"[red]error:[/red] -j {jobs}: must be at least 1")
        raise typer.Exit(2)
    return jobs


def _evidence_json(kind: str, entry: object, ev: registry.Evidence) -> dict[str, object]:
    return {
        "kind": kind,
        "name": entry.name,  # type: ignore[attr-defined]
        "reqs": list(entry.reqs),  # type: ignore[attr-defined]
        "ok": ev.ok,
        "seconds": round(ev.seconds, 3),
        "detail": ev.detail,
        "stats": ev.stats,
        "trace": [{"side": s.side, "action": s.action, "state": s.state} for s in ev.trace],
    }


@app.command()
def prove(
    only: Only = None,
    mutants: Annotated[bool, typer.Option("--mutants", help="Refute known-bad variants.")] = False,
    as_json: AsJson = False,
    trace: Annotated[bool, typer.Option("--trace", help="Print each counterexample.")] = False,
    report: Annotated[str | None, typer.Option(
        "--report", help="html:FILE: every result, counterexamples drawn as sequence diagrams."
    )] = None,
    jobs: Jobs = None,
    hypothesis_db: HypothesisDb = None,
) -> None:
    """Run every proof (--mutants: refute every known-bad variant). Exit 0 only if all hold."""
    from virtiospec.parallel import run_entries

    workers = _jobs(jobs, hypothesis_db)
    registry.discover()
    table = registry.MUTANTS if mutants else registry.PROOFS
    entries = registry.select(table, only)
    if not entries:
        Console(stderr=True).print("[red]error:[/red] nothing matches --only "
                                   f"{' '.join(only or [])}")
        raise typer.Exit(2)
    results = []
    start = time.perf_counter()
    for entry, ev in run_entries("mutant" if mutants else "proof", entries, workers):
        results.append((entry, ev))
        if not as_json:
            _print_line(entry, ev, mutants)
            if trace and ev.trace:
                console.print(render_trace(ev.trace))
    failed = [e.name for e, ev in results if not ev.ok]
    total = sum(ev.seconds for _, ev in results)
    wall = time.perf_counter() - start
    if report:
        _write_report(report, results, mutants)
    if as_json:
        kind = "mutant" if mutants else "proof"
        out = {"results": [_evidence_json(kind, e, ev) for e, ev in results],
               "failed": failed, "seconds": round(total, 3), "jobs": workers,
               "wall_seconds": round(wall, 3)}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        word = "refuted" if mutants else "hold"
        console.print(
            f"{len(results) - len(failed)} of {len(results)} {word}, {total:.1f} s"
            f" ({wall:.1f} s wall, -j {workers})"
            + (f"; [red]not: {', '.join(failed)}[/red]" if failed else "")
        )
    raise typer.Exit(1 if failed else 0)


def _write_report(spec: str, results: list, mutants: bool) -> None:  # type: ignore[type-arg]
    from virtiospec.models.figure import evidence_html

    kind, _, path = spec.partition(":")
    if kind != "html" or not path:
        raise typer.BadParameter(f"--report {spec!r}: expected html:FILE")
    rows = [(e.name, e.bug if mutants else e.summary, ev.ok, ev.detail, ev.seconds, ev.trace)
            for e, ev in results]
    title = "virtiospec known-bad variants" if mutants else "virtiospec proofs"
    Path(path).write_text(evidence_html(title, rows), encoding="utf-8")
    console.print(f"report: {path}")


def _print_line(entry: object, ev: registry.Evidence, mutant: bool) -> None:
    if mutant:
        status = "[green]REFUTED[/green]" if ev.ok else "[red]SURVIVED[/red]"
        what = f"{entry.bug}  [dim]breaks {', '.join(entry.reqs)} ({entry.method})[/dim]"  # type: ignore[attr-defined]
    else:
        status = "[green]HOLDS[/green]" if ev.ok else "[red]FAILS[/red]"
        what = f"{entry.summary}  [dim]{', '.join(entry.reqs)}[/dim]"  # type: ignore[attr-defined]
    console.print(f"{status:>24} {entry.name:<44} {ev.seconds:7.2f}s  {what}")  # type: ignore[attr-defined]
    if ev.detail and (not ev.ok or mutant):
        console.print(f"{'':>10}[dim]{ev.detail}[/dim]")


@app.command()
def check(
    examples: Annotated[int, typer.Option("--examples", "-n", help="Examples per machine.")] = 200,
    only: Only = None,
    as_json: AsJson = False,
    jobs: Jobs = None,
    hypothesis_db: HypothesisDb = None,
) -> None:
    """Run the Hypothesis state machines against the references; report interleavings per second."""
    from virtiospec.parallel import run_entries

    workers = _jobs(jobs, hypothesis_db)
    registry.discover()
    entries = registry.select(registry.CHECKS, only)
    if not entries:
        Console(stderr=True).print("[red]error:[/red] no state machine matches --only "
                                   f"{' '.join(only or [])}")
        raise typer.Exit(2)
    results = []
    for entry, ev in run_entries("check", entries, workers, examples):
        results.append((entry, ev))
        if not as_json:
            status = "[green]PASS[/green]" if ev.ok else "[red]FAIL[/red]"
            if "steps" in ev.stats or "sleeps" not in ev.stats:
                steps = ev.stats.get("steps", 0)
                rate = steps / ev.seconds if ev.seconds else 0.0
                work = f"{int(steps):9d} steps {rate:9.0f} steps/s"
            else:  # a real-threads run (ring.c.stress): its work is sleeps, not steps
                work = f"{int(ev.stats['sleeps']):9d} sleeps {'(real threads)':>16}"
            console.print(
                f"{status:>20} {entry.name:<44} {ev.seconds:7.2f}s "
                f"{int(ev.stats.get('examples', 0)):6d} runs {work}  "
                f"[dim]{', '.join(entry.reqs)}[/dim]"
            )
            if not ev.ok:
                console.print(ev.detail)
                if ev.trace:
                    console.print(render_trace(ev.trace))
    failed = [e.name for e, ev in results if not ev.ok]
    if as_json:
        out = {"results": [_evidence_json("check", e, ev) for e, ev in results], "failed": failed}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        stepped = [ev for _, ev in results if "steps" in ev.stats]  # interleaving machines
        steps = sum(ev.stats["steps"] for ev in stepped)
        secs = sum(ev.seconds for ev in stepped)
        console.print(
            f"{len(results) - len(failed)} of {len(results)} passed; the interleaving machines: "
            f"{int(steps)} steps in {secs:.1f} s = {steps / secs if secs else 0:.0f} steps/s"
        )
    raise typer.Exit(1 if failed else 0)


@app.command("coverage")
def coverage(
    as_json: AsJson = False,
    layer: Annotated[str | None, typer.Option(help="Only IDs starting with this prefix.")] = None,
    spec: Annotated[bool, typer.Option(
        "--spec", help="Per normative block of VIRTIO 1.4 chapters 2, 3, 4.1 and 5.1: its "
        "statements, how many the catalogue accounts for, checked, out of scope; exit 1 if "
        "any statement is unaccounted for.")] = False,
    tests: Annotated[Path | None, typer.Option(
        help="A checkout's tests/ folder: list the tests citing each ID (not counted).")] = None,
) -> None:
    """The requirement coverage matrix: what proves, implements and checks each ID."""
    from virtiospec.coverage import STATUSES, compute, spec_rows
    from virtiospec.spec.catalogue import CatalogueError

    try:
        cov = compute(tests)
        if spec:
            _coverage_spec(spec_rows(cov), as_json)
    except CatalogueError as err:
        console.print(f"error: {err}", markup=False)
        raise typer.Exit(2) from None
    rows = [c for rid, c in cov.items() if not layer or rid.startswith(layer)]
    if not rows:
        Console(stderr=True).print(f"[red]error:[/red] no requirement ID starts with {layer!r}")
        raise typer.Exit(2)
    if as_json:
        sys.stdout.write(json.dumps([{
            "id": c.req.id, "side": c.req.side, "level": c.req.level, "source": c.req.source,
            "status": c.status, "models": c.models, "mutants": c.mutants,
            "reference": c.reference, "cases": c.cases, "tests": c.tests} for c in rows],
            indent=2) + "\n")
        return
    t = Table("ID", "side", "level", "source", "models", "mutants", "reference", "cases",
              "tests", "status")
    for c in rows:
        t.add_row(c.req.id, c.req.side, c.req.level, c.req.source, str(len(c.models)),
                  str(len(c.mutants)), str(len(c.reference)), str(len(c.cases)),
                  str(len(c.tests)) if tests else "-", c.status)
    console.print(t)
    counts = {s: sum(1 for c in rows if c.status == s) for s in STATUSES}
    console.print(", ".join(f"{v} {k}" for k, v in counts.items()))


def _coverage_spec(rows: list[SectionRow], as_json: bool) -> None:
    from virtiospec.coverage import must_summary, unaccounted

    bad = unaccounted(rows)
    if as_json:
        sys.stdout.write(json.dumps({"sections": [{
            "section": r.section, "title": r.title, "side": r.side, "spec": r.total(),
            "catalogued": r.catalogued, "checked": r.total("checked"),
            "implemented": r.total("implemented"), "out_of_scope": r.total("out of scope"),
            "not_yet": r.total("not yet"), "ids": r.ids} for r in rows],
            "unaccounted": bad}, indent=2) + "\n")
        raise typer.Exit(1 if bad else 0)
    t = Table("§", "block", "spec", "catalogued", "checked", "implemented", "out of scope",
              "not yet")
    for r in rows:
        t.add_row(r.section, r.title, str(r.total()), str(r.catalogued), str(r.total("checked")),
                  str(r.total("implemented")), str(r.total("out of scope")),
                  str(r.total("not yet")))
    console.print(t)
    tot = {k: sum(r.catalogued if k == "catalogued" else r.total(None if k == "spec" else k)
                  for r in rows)
           for k in ("spec", "catalogued", "checked", "implemented", "out of scope", "not yet")}
    console.print("all blocks: " + ", ".join(f"{v} {k}" for k, v in tot.items()))
    for prefix, name in (("2.6.1", "virtqueue reset"), ("2.7", "split ring"),
                         ("2.8", "packed ring"), ("4.1", "PCI"), ("5.1", "net")):
        m = must_summary(rows, prefix)
        console.print(f"MUST/MUST NOT of §{prefix} ({name}): {m['spec']} in the spec, "
                      f"{m['checked']} checked, {m['implemented']} implemented only, "
                      f"{m['out of scope']} out of scope, {m['not yet']} not yet")
    for line in bad:
        console.print(f"unaccounted: {line}", markup=False)
    raise typer.Exit(1 if bad else 0)


@app.command("docs")
def docs(
    out: Annotated[Path, typer.Option(help="Where the requirement pages go.")] = Path(
        "docs/requirements"),
) -> None:
    """Generate the requirement pages of the documentation site from spec/."""
    from virtiospec.docs import generate

    pages = generate(out)
    console.print(f"{len(pages)} pages in {out}")


def main() -> None:
    app()
