"""Counterexamples as pictures: an SVG sequence diagram of the two sides.

Each :class:`~virtiospec.models.registry.Step` becomes one row: the driver's lane on the left,
the device's on the right, memory (store-buffer drains) and the environment in the middle.
A notification is drawn as an arrow from the sender's lane to the receiver's.
"""

from __future__ import annotations

from html import escape

from virtiospec.models.registry import Step

LANES = {"driver": 40, "memory": 450, "env": 450, "device": 860}
ROW = 26
TOP = 60
WIDTH = 900
COLOURS = {"driver": "#1f5fa8", "device": "#a8361f", "memory": "#555555", "env": "#6a3fa0"}


def _arrow(side: str, action: str) -> tuple[int, int] | None:
    words = action.lower()
    if side == "driver" and ("kick" in words or "notify" in words):
        return LANES["driver"], LANES["device"]
    if side == "device" and ("interrupt" in words or "notify" in words or "signal" in words):
        return LANES["device"], LANES["driver"]
    return None


def sequence_svg(trace: list[Step], title: str = "") -> str:
    """A standalone SVG (UTF-8 text) of ``trace``."""
    height = TOP + ROW * (len(trace) + 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="monospace" font-size="12" role="img">',
        f"<title>{escape(title or 'interleaving')}</title>",
        f'<text x="{WIDTH // 2}" y="18" text-anchor="middle" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    for name in ("driver", "memory", "device"):
        x = LANES[name]
        out.append(f'<text x="{x}" y="42" text-anchor="middle" font-weight="bold" '
                   f'fill="{COLOURS[name]}">{name}</text>')
        out.append(f'<line x1="{x}" y1="48" x2="{x}" y2="{height - 8}" stroke="#bbbbbb" '
                   'stroke-dasharray="4 3"/>')
    for n, step in enumerate(trace):
        y = TOP + ROW * n + 12
        side = step.side if step.side in LANES else "env"
        colour = COLOURS.get(side, "#000000")
        out.append(f'<text x="8" y="{y}" fill="#888888">{n + 1}</text>')
        arrow = _arrow(side, step.action)
        if arrow:
            x1, x2 = arrow
            head = -8 if x2 < x1 else 8
            out.append(f'<line x1="{x1}" y1="{y - 4}" x2="{x2 - head}" y2="{y - 4}" '
                       f'stroke="{colour}" stroke-width="1.5"/>')
            out.append(f'<polygon points="{x2},{y - 4} {x2 - head},{y - 8} {x2 - head},{y}" '
                       f'fill="{colour}"/>')
            out.append(f'<text x="{(x1 + x2) // 2}" y="{y - 8}" text-anchor="middle" '
                       f'fill="{colour}">{escape(step.action)}</text>')
            continue
        x = LANES[side]
        out.append(f'<circle cx="{x}" cy="{y - 4}" r="3" fill="{colour}"/>')
        # one step per row, so the driver's text runs right and the device's left
        anchor, dx = {"driver": ("start", 8), "device": ("end", -8)}.get(side, ("middle", 0))
        out.append(f'<text x="{x + dx}" y="{y}" text-anchor="{anchor}" fill="{colour}">'
                   f"{escape(step.action)}</text>")
    out.append("</svg>")
    return "\n".join(out)


def evidence_html(title: str, rows: list[tuple[str, str, bool, str, float, list[Step]]]) -> str:
    """A page of proofs or mutants: (name, what, ok, detail, seconds, trace), each trace drawn."""
    body = []
    for name, what, ok, detail, seconds, trace in rows:
        colour = "#1a7f37" if ok else "#c62828"
        body.append(f'<h3 id="{escape(name)}" style="color:{colour}">{escape(name)} '
                    f"({seconds:.2f} s)</h3><p>{escape(what)}</p><p><code>{escape(detail)}"
                    "</code></p>")
        if trace:
            body.append(sequence_svg(trace, name))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            "</head><body style='font-family:system-ui,sans-serif;margin:2em'>"
            f"<h1>{escape(title)}</h1>{''.join(body)}</body></html>\n")


def svg_text(x: int, y: int, s: str, colour: str, anchor: str = "middle",
             bold: bool = False) -> str:
    """A ``<text>`` element of a figure (``s`` escaped)."""
    weight = ' font-weight="bold"' if bold else ""
    return (f'<text x="{x}" y="{y}" text-anchor="{anchor}" fill="{colour}"{weight}>'
            f"{escape(s)}</text>")


def lane_mark(lane: str, x: int, y: int, text: str, colour: str) -> list[str]:
    """A step drawn on its lane of a layered diagram: a dot at ``x``, its text running
    right on a driver's lane, left on a device's, centred on a lane between them."""
    if lane.startswith("driver"):
        anchor, dx = "start", 7
    elif lane.startswith("device"):
        anchor, dx = "end", -7
    else:
        anchor, dx = "middle", 0
    return [f'<circle cx="{x}" cy="{y - 4}" r="3" fill="{colour}"/>',
            svg_text(x + dx, y, text, colour, anchor)]


def svg_arrow(x1: int, x2: int, y: int, colour: str) -> list[str]:
    """A horizontal arrow from ``x1`` to ``x2`` just above the baseline ``y``."""
    head = 7 if x2 > x1 else -7
    return [f'<line x1="{x1}" y1="{y - 4}" x2="{x2 - head}" y2="{y - 4}" stroke="{colour}" '
            'stroke-width="1.5"/>',
            f'<polygon points="{x2},{y - 4} {x2 - head},{y - 8} {x2 - head},{y}" '
            f'fill="{colour}"/>']
