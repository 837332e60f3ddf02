"""The known-bad variants of the clock over the stack (``stack.clock.mutant.*``,
``stack.clock.c_mutant.*``), each drawn from its SHORTEST failing run, found by the bounded
exhaustive search of models/stack/shortest.py over the moves of
models/stack/clock_shortest.py.

``python -m virtiospec.models.stack.clock_figures [DIR] [NAME ...]`` (default
``docs/figures/stack_clock``) searches each variant (at most ``TICKS`` ticks of one period
and ``SERVICES`` services a run, ``MAX_DEPTH`` moves, ``STATES`` distinct states: a budget
of states, not of seconds, so what a figure claims does not depend on the machine's load)
and writes
``DIR/<variant>.svg`` (the name without ``stack.clock.``). The caption says how minimal the
run is: "shortest: N moves; no failing run of fewer moves exists within the bound" when the
search found one; when the budget ran out first, the run drawn is the one Hypothesis shrank
and the caption gives the lower bound the search did establish ("no failing run of at most
D moves"). A summary of every variant is written to ``DIR/minimality.txt``.

Lanes: the driver's clock (the service it starts, the time it acts on, its sleeps and
wake-ups), its accesses to the region through BAR4, memory (stores draining), the device's
accesses to its view of the region, and the device's clock (the tick, the MSI-X messages it
sends, drawn as arrows to the driver).
"""

from __future__ import annotations

import sys
from html import escape
from pathlib import Path

from virtiospec.models.figure import lane_mark, svg_arrow, svg_text
from virtiospec.models.hypothesis_run import Violation
from virtiospec.models.registry import Step
from virtiospec.models.stack.clock import MUTANTS, StackClockConfig, run_stack_clock
from virtiospec.models.stack.clock_c import C_MUTANTS, StackClockCConfig, run_stack_clock_c
from virtiospec.models.stack.clock_shortest import ClockSpace
from virtiospec.models.stack.shortest import Found, Move, shortest_failure

TICKS, SERVICES, MAX_DEPTH, STATES, SECONDS = 2, 2, 80, 800, 3600.0
LANES = ("driver.clock", "driver.shm", "memory", "device.shm", "device.clock")
X = {lane: 90 + 170 * n for n, lane in enumerate(LANES)}
TITLES = {"driver.clock": "driver · clock", "driver.shm": "driver · region (BAR4)",
          "memory": "memory", "device.shm": "device · region", "device.clock": "device · clock"}
COLOURS = {"driver": "#1f5fa8", "device": "#a8361f", "memory": "#555555", "env": "#6a3fa0"}
WIDTH, ROW, TOP = X["device.clock"] + 110, 20, 82


def variants() -> list[tuple[str, str, StackClockConfig]]:
    """(name, what it breaks, configuration) of every planted variant of the clock stack."""
    return ([(n, what, cfg) for n, what, _, cfg in MUTANTS]
            + [(n, what, cfg) for n, what, _, cfg, _ in C_MUTANTS])


def bound_text() -> str:
    return (f"moves: one access, one store draining, a tick of one period or a service "
            f"started; at most {TICKS} ticks and {SERVICES} services")


def lane_of(step: Step) -> str:
    text = step.action
    if step.side == "memory":
        return "memory"
    if step.side not in ("driver", "device"):
        return "memory"
    if text.startswith(("load ", "store ")) or text in ("mb", "wmb", "rmb"):
        return f"{step.side}.shm"
    return f"{step.side}.clock"


def clock_svg(trace: list[Step], title: str, caption: str) -> str:
    """A standalone SVG of ``trace``, one lane per layer of each side."""
    height = TOP + ROW * (len(trace) + 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           'font-family="monospace" font-size="11" role="img">',
           f"<title>{escape(title)} ({escape(caption)})</title>",
           svg_text(WIDTH // 2, 18, title[:140], "#000000", bold=True),
           svg_text(WIDTH // 2, 36, caption[:150], "#333333")]
    for lane in LANES:
        colour = COLOURS[lane.split(".")[0]]
        out.append(svg_text(X[lane], 62, TITLES[lane], colour, bold=True))
        out.append(f'<line x1="{X[lane]}" y1="68" x2="{X[lane]}" y2="{height - 6}" '
                   'stroke="#cccccc" stroke-dasharray="4 3"/>')
    for n, step in enumerate(trace):
        y = TOP + ROW * n + 10
        side = step.side if step.side in COLOURS else "env"
        colour = COLOURS[side]
        out.append(svg_text(6, y, str(n + 1), "#999999", "start"))
        if side == "device" and " -> driver" in step.action:  # an MSI-X message sent
            out += svg_arrow(X["device.clock"], X["driver.clock"], y, colour)
            out.append(svg_text(X["memory"], y - 7, step.action, colour))
            continue
        lane = lane_of(step)
        shown = step.action.removeprefix("drain ")
        out += lane_mark(lane, X[lane], y, shown, colour)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def shortest_trace(space: ClockSpace, path: tuple[Move, ...]) -> tuple[list[Step], str]:
    """The log of ``path`` played from a fresh machine (after its set-up), and the
    violation its last move raises."""
    m = space.fresh()
    start = len(m.shm.log)
    try:
        for move in path:
            space.play(m, move)
    except Violation as err:
        return m.shm.log[start:], str(err)
    raise RuntimeError("the shortest failing run did not fail when played again")


def search(cfg: StackClockConfig, seconds: float = SECONDS) -> Found[object]:
    space = ClockSpace(cfg, ticks=TICKS, services=SERVICES)
    return shortest_failure(space, MAX_DEPTH, max_states=STATES,  # type: ignore[arg-type]
                            max_seconds=seconds)


def figure(name: str, what: str, cfg: StackClockConfig,
           seconds: float = SECONDS) -> tuple[str, str]:
    """(the SVG, one line on how minimal its run is) for one variant."""
    found = search(cfg, seconds)
    short = name.removeprefix("stack.clock.")
    if found.path is not None:
        trace, broken = shortest_trace(ClockSpace(cfg, ticks=TICKS, services=SERVICES),
                                       found.path)
        caption = (f"shortest: {len(found.path)} moves; no failing run of fewer moves "
                   f"exists within the bound ({found.states} states searched)")
    else:
        runner = run_stack_clock_c if isinstance(cfg, StackClockCConfig) else run_stack_clock
        ev = runner(cfg, 300, derandomize=True, shrink=True)  # type: ignore[arg-type]
        if ev.ok or not ev.trace:
            raise RuntimeError(f"{name}: not caught ({ev.detail})")
        trace, broken = list(ev.trace), ev.detail
        caption = (f"NOT shown shortest: shrunk by Hypothesis; no failing run of at most "
                   f"{found.depth} moves exists within the bound (searched until "
                   f"{found.states} states)")
    trace = [*trace, Step("env", f"broken: {broken}")]
    line = f"{short}: {caption}; {bound_text()}"
    return clock_svg(trace, f"{short}: {what}", caption), line


def write_figures(directory: Path, only: list[str] | None = None,
                  seconds: float = SECONDS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written, lines = [], []
    for name, what, cfg in variants():
        short = name.removeprefix("stack.clock.")
        if only and short not in only and name not in only:
            continue
        svg, line = figure(name, what, cfg, seconds)
        path = directory / f"{short}.svg"
        path.write_text(svg, encoding="utf-8")
        written.append(path)
        lines.append(line)
        print(line, flush=True)
    if not only:
        (directory / "minimality.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else Path("docs/figures/stack_clock")
    for path in write_figures(directory, argv[1:] or None):
        print(path, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
