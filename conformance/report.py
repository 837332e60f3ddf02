"""Reports of a conformance run: JUnit XML (for CI), JSON (for tools), HTML (for people).

The HTML report is one self-contained file: a row per case with its outcome, the
requirements it checks linked to their text (reproduced at the end of the page, from
spec/), expected versus observed, and any interleaving drawn as a sequence diagram.

Every format carries the grade of each failure (FAIL: a VIRTIO MUST or MUST NOT; NON-STRICT:
a VIRTIO SHOULD; EXTENSION: a rule of virtiospec's) and why, XFAIL / XPASS with the known
deviation, and whether the run was ``--strict`` (NON-STRICT and EXTENSION count as failures).
"""

from __future__ import annotations

import json
import platform
import time
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

from virtiospec.conformance.cases import Case, Outcome, Result, unexpected
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


def write(spec: str, results: Results, target: str, strict: bool = False) -> Path:
    kind, path = parse_spec(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = {"junit": junit, "json": as_json, "html": html}[kind](results, target, strict)
    path.write_text(text, encoding="utf-8")
    return path


def counts(results: Results) -> dict[str, int]:
    return {o.value: sum(1 for _, r in results if r.outcome is o) for o in Outcome}


def failing(strict: bool) -> tuple[Outcome, ...]:
    """The outcomes that fail the run (JUnit ``failure``), besides WEDGED."""
    return (Outcome.FAIL, Outcome.XPASS) + ((Outcome.NON_STRICT, Outcome.EXTENSION)
                                            if strict else ())


def junit(results: Results, target: str, strict: bool = False) -> str:
    c = counts(results)
    bad = failing(strict)
    suite = ET.Element("testsuite", name=f"virtiospec conformance ({target})",
                       tests=str(len(results)), failures=str(sum(c[o.value] for o in bad)),
                       errors=str(c["WEDGED"]), skipped=str(c["SKIP"]),
                       time=f"{sum(r.seconds for _, r in results):.3f}")
    for case, res in results:
        el = ET.SubElement(suite, "testcase", classname=f"{case.layer}.{case.side}", name=case.id,
                           time=f"{res.seconds:.3f}")
        props = ET.SubElement(el, "properties")
        for rid in case.reqs:
            ET.SubElement(props, "property", name="requirement", value=rid)
        ET.SubElement(props, "property", name="outcome", value=res.outcome.value)
        if res.graded:
            ET.SubElement(props, "property", name="graded", value=res.graded)
        if res.deviation:
            ET.SubElement(props, "property", name="deviation", value=res.deviation)
        message = res.detail
        if res.expected or res.observed:
            message += f" (expected: {res.expected}; observed: {res.observed})"
        if res.outcome in bad:
            ET.SubElement(el, "failure", message=f"{res.outcome.value}: {message}",
                          type=res.req or ",".join(case.reqs)).text = (
                f"{res.outcome.value}: {message}\n{res.graded or res.deviation}")
        elif res.outcome is Outcome.WEDGED:
            ET.SubElement(el, "error", message=message, type="WEDGED").text = message
        elif res.outcome is Outcome.SKIP:
            ET.SubElement(el, "skipped", message=message)
        elif res.outcome is Outcome.REJECT:
            ET.SubElement(el, "system-out").text = f"REJECT: {message}"
        elif res.outcome is not Outcome.PASS:  # NON-STRICT, EXTENSION (not --strict), XFAIL
            ET.SubElement(el, "system-out").text = (
                f"{res.outcome.value}: {message}; {res.graded}"
                + (f"; known deviation: {res.deviation}" if res.deviation else ""))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def as_json(results: Results, target: str, strict: bool = False) -> str:
    return json.dumps({
        "target": target,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "strict": strict,
        "counts": counts(results),
        "unexpected": unexpected([r.outcome for _, r in results], strict),
        "cases": [{
            "id": case.id, "side": case.side, "layer": case.layer, "summary": case.summary,
            "reqs": list(case.reqs), "outcome": res.outcome.value, "req": res.req,
            "graded": res.graded, "deviation": res.deviation, "detail": res.detail,
            "expected": res.expected, "observed": res.observed, "seconds": round(res.seconds, 4),
            "trace": [{"side": s.side, "action": s.action} for s in res.trace],
        } for case, res in results],
    }, indent=2) + "\n"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}.PASS,.REJECT{color:#1a7f37}.FAIL,.WEDGED,.XPASS{color:#c62828;
font-weight:bold}.SKIP{color:#9a6700}.NON-STRICT{color:#8250df}.EXTENSION{color:#0969da}
.XFAIL{color:#57606a}code{font-size:90%}dt{font-weight:bold;margin-top:1em}
.req{font-family:monospace}
"""


GRADES = ("FAIL: a VIRTIO MUST or MUST NOT was broken. NON-STRICT: a VIRTIO SHOULD or SHOULD NOT "
          "was not followed. EXTENSION: a rule of virtiospec's own, beyond VIRTIO, was broken. "
          "XFAIL: a failure listed as a known deviation of the peer; XPASS: a listed case "
          "that passed. Without --strict only FAIL, WEDGED and XPASS fail the run.")


def html(results: Results, target: str, strict: bool = False,
         title: str = "virtiospec conformance") -> str:
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
        if res.graded:
            detail += f"<br>graded: {escape(res.graded)}"
        if res.deviation:
            detail += f"<br>known deviation: {escape(res.deviation)}"
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
            f"<p>target <code>{escape(target)}</code>{' (--strict)' if strict else ''}; "
            f"{summary}; {unexpected([r.outcome for _, r in results], strict)} unexpected; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}</p>"
            f"<p>{GRADES}</p><table><tr><th>outcome</th><th>case</th><th>side</th><th>requirements</th>"
            f"<th>detail</th><th>s</th></tr>{''.join(rows)}</table>"
            f"{'<h2>Interleavings</h2>' + ''.join(figures) if figures else ''}"
            f"<h2>Requirements</h2><dl>{texts}</dl></body></html>\n")
