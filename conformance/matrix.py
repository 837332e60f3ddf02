"""``virtiospec conformance matrix``: the suite against a set of target configurations, one
table with configurations as columns, cases as rows and the outcome in each cell.

The default set is every configuration of the real peers that docs/conformance.md names
(QEMU's properties, DPDK's devargs, the Linux guest's options) beside the reference; a file of
the user's own lists one target spec per line (``#`` starts a comment). A configuration that
cannot run (a bad spec, a peer that is missing or does not start) gets an error column and
makes the exit status 2; otherwise the exit status is 1 if any configuration has an unexpected
outcome (FAIL, WEDGED, XPASS; with ``--strict`` also NON-STRICT and EXTENSION), else 0. Each
configuration uses its target's known deviations unless ``--strict``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from virtiospec.conformance import deviation_files, runner, targets
from virtiospec.conformance.cases import (
    Case,
    Outcome,
    Result,
    TargetError,
    discover,
    unexpected,
)

DEFAULT = (
    "reference",
    "qemu", "qemu,packed=on", "qemu,event_idx=off", "qemu,indirect_desc=off",
    "qemu,mrg_rxbuf=off", "qemu,mq=on,vectors=8", "qemu,ctrl_vq=off", "qemu,vectors=2",
    "dpdk", "dpdk,packed_vq=1", "dpdk,in_order=1", "dpdk,mrg_rxbuf=0",
    "dpdk,packed_vq=1,in_order=1", "dpdk,queues=2",
    "linux-guest", "linux-guest,packed=on", "linux-guest,queues=2",
)
SHORT = {Outcome.PASS: "pass", Outcome.REJECT: "reject", Outcome.FAIL: "FAIL",
         Outcome.WEDGED: "WEDGED", Outcome.SKIP: "-", Outcome.NON_STRICT: "non-strict",
         Outcome.EXTENSION: "ext", Outcome.XFAIL: "xfail", Outcome.XPASS: "XPASS"}


def read_set(path: Path) -> list[str]:
    """Target specs, one a line; blank lines and ``#`` comments ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TargetError(f"configurations {path}: {err.strerror or err}") from None
    specs = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    specs = [s for s in specs if s]
    if not specs:
        raise TargetError(f"configurations {path}: no target spec in it")
    return specs


@dataclass
class Column:
    spec: str
    results: dict[str, Result] = field(default_factory=dict)
    error: str = ""  # the configuration could not run

    def counts(self) -> Counter[Outcome]:
        return Counter(r.outcome for r in self.results.values())

    def unexpected(self, strict: bool) -> int:
        return unexpected([r.outcome for r in self.results.values()], strict)


def run_one(spec: str, chosen: list[Case], strict: bool) -> Column:
    col = Column(spec)
    try:
        tgt = targets.make(spec)
        known = None
        shipped = None if strict else getattr(tgt, "deviations", None)
        if shipped:
            known = deviation_files.load([shipped], discover(), getattr(tgt, "options", None))
        for case, res in runner.run(chosen, tgt, deviations=known):
            col.results[case.id] = res
    except TargetError as err:
        col.error = str(err)
    return col


def run(specs: list[str], chosen: list[Case], strict: bool,
        progress: Callable[[Column], None] | None = None) -> list[Column]:
    out = []
    for spec in specs:
        col = run_one(spec, chosen, strict)
        out.append(col)
        if progress:
            progress(col)
    return out


def rows(columns: list[Column], chosen: list[Case]) -> list[Case]:
    """The cases that ran somewhere (not SKIP in every column), in suite order."""
    return [c for c in chosen if any(
        c.id in col.results and col.results[c.id].outcome is not Outcome.SKIP
        for col in columns)]


def exit_status(columns: list[Column], strict: bool) -> int:
    if any(col.error for col in columns):
        return 2
    return 1 if any(col.unexpected(strict) for col in columns) else 0


def totals(col: Column) -> str:
    if col.error:
        return "error"
    c = col.counts()
    shown = [f"{c[o]} {SHORT[o] if o is not Outcome.SKIP else 'skip'}" for o in Outcome if c[o]]
    return ", ".join(shown)


def as_json(columns: list[Column], chosen: list[Case], strict: bool) -> str:
    return json.dumps({
        "strict": strict,
        "configurations": [{
            "target": col.spec, "error": col.error,
            "counts": {o.value: col.counts()[o] for o in Outcome},
            "unexpected": col.unexpected(strict),
            "outcomes": {cid: r.outcome.value for cid, r in col.results.items()},
        } for col in columns],
        "cases": [c.id for c in rows(columns, chosen)],
    }, indent=2) + "\n"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:2px 6px;font-size:90%}th{writing-mode:vertical-rl}
.PASS,.REJECT{background:#dafbe1}.FAIL,.WEDGED,.XPASS{background:#ffcecb;font-weight:bold}
.NON-STRICT{background:#fbefff}.EXTENSION{background:#ddf4ff}.XFAIL{background:#eaeef2}
.SKIP{color:#8c959f}.error{background:#ffcecb}
"""


def html(columns: list[Column], chosen: list[Case], strict: bool) -> str:
    head = "".join(f"<th>{escape(col.spec)}</th>" for col in columns)
    body = []
    for case in rows(columns, chosen):
        cells = []
        for col in columns:
            res = col.results.get(case.id)
            if res is None:
                cells.append('<td class="error">error</td>' if col.error else "<td></td>")
                continue
            tip = escape(f"{res.detail} {res.graded} {res.deviation}".strip())
            cells.append(f'<td class="{res.outcome.value}" title="{tip}">'
                         f"{SHORT[res.outcome]}</td>")
        body.append(f"<tr><td><code>{escape(case.id)}</code></td>{''.join(cells)}</tr>")
    total = "".join(f"<td>{escape(totals(col))}</td>" for col in columns)
    errors = "".join(f"<li><code>{escape(col.spec)}</code>: {escape(col.error)}</li>"
                     for col in columns if col.error)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>virtiospec conformance "
            f"matrix</title><style>{STYLE}</style></head><body><h1>virtiospec conformance "
            f"matrix{' (--strict)' if strict else ''}</h1>"
            f"{'<ul>' + errors + '</ul>' if errors else ''}"
            f"<table><tr><th>case</th>{head}</tr>{''.join(body)}"
            f"<tr><td><b>totals</b></td>{total}</tr></table></body></html>\n")
