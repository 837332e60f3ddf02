"""Readable step-by-step interleavings of counterexample traces."""

from __future__ import annotations

from virtiospec.models.registry import Step


def render_trace(trace: list[Step]) -> str:
    """Two columns, driver on the left and device on the right, one line per step."""
    width = 46
    lines = [f"{'#':>3}  {'driver':<{width}}  {'device':<{width}}", "-" * (2 * width + 7)]
    for n, step in enumerate(trace, 1):
        text = step.action
        if step.side == "driver":
            lines.append(f"{n:>3}  {text:<{width}}")
        elif step.side == "device":
            lines.append(f"{n:>3}  {'':<{width}}  {text}")
        else:
            lines.append(f"{n:>3}  {('[' + step.side + '] ' + text):^{2 * width + 2}}")
    return "\n".join(lines)
