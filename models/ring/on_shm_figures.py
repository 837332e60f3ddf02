"""Counterexamples at the seam of ring and signal, drawn as sequence diagrams with one lane per
layer of each side (ring, signal), the transport between them and memory in the middle.

``python -m virtiospec.models.ring.on_shm_figures [DIR]`` (default ``docs/figures/ring_on_shm``)
writes one SVG per known-bad variant of models/ring/on_shm_mutants.py: the shortest run of the
Z3 model that breaks a claim, one row per step. A step's lane comes from its layer: the
model's actions say ``ring:``, ``signal:`` or ``transport:``; a barrier belongs to the layer of
its side's step before it; a store reaching memory is drawn in the memory lane.
"""

from __future__ import annotations

import sys
from html import escape
from pathlib import Path

from virtiospec.models.figure import lane_mark, svg_text
from virtiospec.models.registry import Step

LANES = ("driver.ring", "driver.signal", "memory", "transport", "device.signal",
         "device.ring")
X = {"driver.ring": 60, "driver.signal": 250, "memory": 450, "transport": 620,
     "device.signal": 800, "device.ring": 990}
TITLES = {"driver.ring": "driver · ring", "driver.signal": "driver · signal",
          "memory": "memory", "transport": "transport", "device.signal": "device · signal",
          "device.ring": "device · ring"}
COLOURS = {"driver": "#1f5fa8", "device": "#a8361f", "memory": "#555555",
           "transport": "#2e7d32", "env": "#6a3fa0"}
WIDTH, ROW, TOP = 1060, 24, 64
SIGNAL_WORDS = (".enabled", ".pending", "signal:", "acknowledge", "inject")
TRANSPORT_WORDS = ("transport:", " -> driver", " -> device", "woken by", "sleep until",
                   "take pending", "already pending")


def layer_of(step: Step, previous: dict[str, str]) -> str:
    """The lane of ``step``; ``previous`` remembers each side's last layer (for barriers)."""
    side, text = step.side, step.action
    if side not in ("driver", "device"):
        return "memory"
    if any(w in text for w in TRANSPORT_WORDS):
        return "transport"
    if text.startswith("ring:"):
        layer = "ring"
    elif any(w in text for w in SIGNAL_WORDS):
        layer = "signal"
    elif text.strip() in ("mb", "wmb", "rmb") or text.startswith("(no mb"):
        layer = previous.get(side, "ring")
    else:
        layer = "ring"
    previous[side] = layer
    return f"{side}.{layer}"



def layered_svg(trace: list[Step], title: str) -> str:
    """A standalone SVG of ``trace``, one lane per layer."""
    height = TOP + ROW * (len(trace) + 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           'font-family="monospace" font-size="11" role="img">',
           f"<title>{escape(title)}</title>",
           svg_text(WIDTH // 2, 18, title, "#000000", bold=True)]
    for lane in LANES:
        side = lane.split(".")[0]
        colour = COLOURS.get(side, COLOURS["memory"] if lane == "memory"
                             else COLOURS["transport"])
        out.append(svg_text(X[lane], 44, TITLES[lane], colour, bold=True))
        out.append(f'<line x1="{X[lane]}" y1="50" x2="{X[lane]}" y2="{height - 6}" '
                   'stroke="#cccccc" stroke-dasharray="4 3"/>')
    previous: dict[str, str] = {}
    for n, step in enumerate(trace):
        y = TOP + ROW * n + 10
        lane = layer_of(step, previous)
        side = step.side if step.side in COLOURS else "env"
        colour = COLOURS["transport"] if lane == "transport" else COLOURS[side]
        out.append(svg_text(6, y, str(n + 1), "#999999", "start"))
        text = step.action
        if lane == "transport" and step.side in ("driver", "device") and (
                "->" in text and ("notif" in text or "MSI" in text or "notify" in text
                                  or text.startswith("transport:"))):
            src = X[f"{step.side}.signal"]
            dst = X["device.signal" if step.side == "driver" else "driver.signal"]
            head = 7 if dst > src else -7
            out.append(f'<line x1="{src}" y1="{y - 4}" x2="{dst - head}" y2="{y - 4}" '
                       f'stroke="{colour}" stroke-width="1.5"/>')
            out.append(f'<polygon points="{dst},{y - 4} {dst - head},{y - 8} '
                       f'{dst - head},{y}" fill="{colour}"/>')
            out.append(svg_text(X["transport"], y - 7, text.removeprefix("transport: "), colour))
            continue
        shown = text.removeprefix("ring: ").removeprefix("signal: ")
        if lane == "memory":
            shown = shown.replace(" reaches memory", "")
        out += lane_mark(lane, X[lane], y, shown, colour)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_seam_figures(directory: Path) -> list[Path]:
    """One SVG per seam variant's shortest Z3 counterexample; returns the files written."""
    from virtiospec.models.ring.on_shm_mutants import BUGS, refute_z3

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for bug in BUGS:
        ev = refute_z3(bug)
        if not ev.ok:
            raise RuntimeError(f"{bug.name}: {ev.detail}")
        path = directory / f"{bug.name}.svg"
        trace = [*ev.trace, Step("env", f"broken: {ev.detail}")]
        path.write_text(layered_svg(trace, f"{bug.name}: {bug.bug}"), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else Path("docs/figures/ring_on_shm")
    for path in write_seam_figures(directory):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
