"""Reports of a conformance run: JUnit XML (for CI), JSON (for tools), HTML (for people).

The HTML report is one self-contained file: a row per case with its outcome, the
requirements it checks linked to their text (reproduced at the end of the page, from
spec/), expected versus observed, and any interleaving drawn as a sequence diagram.
"""

from __future__ import annotations

import json
import platform
import time
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

from virtiospec.conformance.cases import Case, Outcome, Result
from virtiospec.models.figure import sequence_svg
from virtiospec.spec import catalogue

Results = list[tuple[Case, Result]]
KINDS = ("junit", "json", "html")


def parse_spec(spec: str) -> tuple[str, Path]:
    """``junit:FILE`` -> ("junit", FILE); a clear error for anything else."""
    kind, sep, path = spec.partition(":")
    if not sep or kind not in KINDS or not path:
        kinds = ", ".join(k + ":FILE" for k in KINDS)
        raise ValueError(f"report {spec!r}: expected one of {kinds}")
    return kind, Path(path)


def write(spec: str, results: Results, target: str) -> Path:
    kind, path = parse_spec(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = {"junit": junit, "json": as_json, "html": html}[kind](results, target)
    path.write_text(text, encoding="utf-8")
    return path


def counts(results: Results) -> dict[str, int]:
    return {o.value: sum(1 for _, r in results if r.outcome is o) for o in Outcome}


def junit(results: Results, target: str) -> str:
    c = counts(results)
    suite = ET.Element("testsuite", name=f"virtiospec conformance ({target})",
                       tests=str(len(results)), failures=str(c["FAIL"]), errors=str(c["WEDGED"]),
                       skipped=str(c["SKIP"]),
                       time=f"{sum(r.seconds for _, r in results):.3f}")
    for case, res in results:
        el = ET.SubElement(suite, "testcase", classname=f"{case.layer}.{case.side}", name=case.id,
                           time=f"{res.seconds:.3f}")
        props = ET.SubElement(el, "properties")
        for rid in case.reqs:
            ET.SubElement(props, "property", name="requirement", value=rid)
        ET.SubElement(props, "property", name="outcome", value=res.outcome.value)
        message = res.detail
        if res.expected or res.observed:
            message += f" (expected: {res.expected}; observed: {res.observed})"
        if res.outcome is Outcome.FAIL:
            ET.SubElement(el, "failure", message=message, type=",".join(case.reqs)).text = message
        elif res.outcome is Outcome.WEDGED:
            ET.SubElement(el, "error", message=message, type="WEDGED").text = message
        elif res.outcome is Outcome.SKIP:
            ET.SubElement(el, "skipped", message=message)
        elif res.outcome is Outcome.REJECT:
            ET.SubElement(el, "system-out").text = f"REJECT: {message}"
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def as_json(results: Results, target: str) -> str:
    return json.dumps({
        "target": target,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "counts": counts(results),
        "cases": [{
            "id": case.id, "side": case.side, "layer": case.layer, "summary": case.summary,
            "reqs": list(case.reqs), "outcome": res.outcome.value, "detail": res.detail,
            "expected": res.expected, "observed": res.observed, "seconds": round(res.seconds, 4),
            "trace": [{"side": s.side, "action": s.action} for s in res.trace],
        } for case, res in results],
    }, indent=2) + "\n"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}.PASS,.REJECT{color:#1a7f37}.FAIL,.WEDGED{color:#c62828;
font-weight:bold}.SKIP{color:#9a6700}code{font-size:90%}dt{font-weight:bold;margin-top:1em}
.req{font-family:monospace}
"""


def html(results: Results, target: str, title: str = "virtiospec conformance") -> str:
    reqs = catalogue.load()
    c = counts(results)
    rows = []
    figures = []
    for n, (case, res) in enumerate(results):
        links = " ".join(f'<a class="req" href="#{rid}">{rid}</a>' for rid in case.reqs)
        detail = escape(res.detail)
        if res.expected or res.observed:
            detail += (f"<br>expected: <code>{escape(res.expected)}</code>"
                       f"<br>observed: <code>{escape(res.observed)}</code>")
        if res.trace:
            detail += f'<br><a href="#trace{n}">interleaving</a>'
            figures.append(f'<h3 id="trace{n}">{escape(case.id)}</h3>'
                           + sequence_svg(res.trace, case.id))
        rows.append(f'<tr><td class="{res.outcome.value}">{res.outcome.value}</td>'
                    f"<td><code>{escape(case.id)}</code><br>{escape(case.summary)}</td>"
                    f"<td>{case.side}</td><td>{links}</td><td>{detail}</td>"
                    f"<td>{res.seconds:.3f}</td></tr>")
    cited = sorted({rid for case, _ in results for rid in case.reqs})
    texts = "".join(
        f'<dt id="{rid}">{rid} · {reqs[rid].side} · {reqs[rid].level} · '
        f"{escape(reqs[rid].source)}</dt><dd>{escape(reqs[rid].text)}</dd>"
        for rid in cited if rid in reqs)
    summary = ", ".join(f"{v} {k.lower()}" for k, v in c.items())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f"<p>target <code>{escape(target)}</code>; {summary}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}</p>"
            "<table><tr><th>outcome</th><th>case</th><th>side</th><th>requirements</th>"
            f"<th>detail</th><th>s</th></tr>{''.join(rows)}</table>"
            f"{'<h2>Interleavings</h2>' + ''.join(figures) if figures else ''}"
            f"<h2>Requirements</h2><dl>{texts}</dl></body></html>\n")
