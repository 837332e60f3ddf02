"""The known-bad variants of the whole network stack (models/stack/net.py), each drawn as a
sequence diagram with one lane per layer of each side: net, ring, shm signal and virtio-pci
on the driver's side and on the device's, memory and the host between them.

``python -m virtiospec.models.stack.net_figures [DIR] [NAME ...]`` (default
``docs/figures/stack_net``) runs each planted variant's machine (derandomized, as its mutant
check does) with Hypothesis shrinking on, and writes the shrunk failing run, one row per
step, to ``DIR/<variant>.svg`` (the name without ``stack.net.mutant.``); a run longer than
``MAX_ROWS`` keeps its first step and its last ones, with a row that says how many are left
out.

A step's lane comes from what it touches: the call a side starts (``send frame 0``,
``service``, ``queue reset of rx0``) is the net layer; a register access is virtio-pci (its
address decoded into the common configuration field or the notification area, a
notification drawn as an arrow to the device, the driver's taking of an MSI-X message as an
arrow from it); a load or store of a ``kick`` or ``call`` word is the shm signal; any other
shared access (indices, flags, event words, descriptors) is the ring; a barrier belongs to
the register access that follows it, else to the side's layer before it.

How minimal each run is: shrunk, not shortest, and the figure says so under its title. The
bounded exhaustive search that draws the clock stack's variants from their shortest runs
(models/stack/shortest.py, models/stack/clock_figures.py) merges states by a key that must
hold everything a run's future depends on; for this machine (guest RAM, the net queues, the
frames on the wire, the accounting of every buffer) there is no such key yet, and without one
the search enumerates every sequence of moves, which stops far below the length of these
runs.
"""

from __future__ import annotations

import re
import sys
from html import escape
from pathlib import Path

from virtiospec.models.figure import lane_mark, svg_arrow, svg_text
from virtiospec.models.registry import Step
from virtiospec.reference.virtio_pci.regs import COMMON_FIELDS

SIDE_LAYERS = ("net", "ring", "shm", "virtio-pci")
LANES = ("driver.net", "driver.ring", "driver.shm", "driver.virtio-pci", "host",
         "device.virtio-pci", "device.shm", "device.ring", "device.net")
X = {lane: 70 + 150 * n for n, lane in enumerate(LANES)}
TITLES = {lane: lane.replace(".", " · ") for lane in LANES} | {"host": "memory · host"}
COLOURS = {"driver": "#1f5fa8", "device": "#a8361f", "host": "#6a3fa0",
           "virtio-pci": "#2e7d32"}
WIDTH, ROW, TOP = X["device.net"] + 90, 22, 64
MAX_ROWS = 400  # a longer run keeps its first step and its last MAX_ROWS - 2
REGISTER = re.compile(r"register (read|write) \[(0x[0-9a-f]+)\](.*)")
FENCES = ("mb", "wmb", "rmb")


class Decoder:
    """Register addresses as the stack's driver finds them (the BARs are assigned the same
    way in every run): the common configuration field, the notification area."""

    def __init__(self) -> None:
        from virtiospec.reference.stack.net_stack import Stack, StackOptions

        stack = Stack(StackOptions(pairs=2, queue_size=2))
        t = stack.driver.probe()
        self.s = t.structures

    def name(self, addr: int) -> tuple[str, bool]:
        """(what ``addr`` is, whether it is the notification area)."""
        s = self.s
        if s.notify <= addr < s.notify + s.notify_length:
            return f"notify +{addr - s.notify:#x}", True
        if s.common <= addr < s.common + 64:
            field = COMMON_FIELDS.get(addr - s.common)
            if field is not None:
                return field[0], False
            for off, (name, size) in COMMON_FIELDS.items():
                if off < addr - s.common < off + size:
                    return f"{name}+{addr - s.common - off}", False
        if s.device is not None and s.device <= addr < s.device + s.device_length:
            return f"device config +{addr - s.device:#x}", False
        return f"[{addr:#x}]", False


def layer_of(trace: list[Step], n: int, previous: dict[str, str]) -> str:
    """The lane of ``trace[n]``; ``previous``: each side's last layer (for barriers)."""
    step = trace[n]
    side, text = step.side, step.action.strip()
    if side not in ("driver", "device"):
        return "host"
    if text in FENCES or text.startswith("(no "):
        later = next((s for s in trace[n + 1:] if s.side == side), None)
        if later is not None and later.action.startswith("register "):
            return f"{side}.virtio-pci"
        return f"{side}.{previous.get(side, 'ring')}"
    if text.startswith("register "):
        layer = "virtio-pci"
    elif text.startswith(("load ", "store ")):
        layer = "shm" if (".kick." in text or ".call." in text) else "ring"
    else:
        layer = "virtio-pci" if text.startswith("MSI-X") else "net"
    previous[side] = layer
    return f"{side}.{layer}"



def net_caption(steps: int) -> str:
    """How minimal a drawn run of ``steps`` steps is (see the module doc)."""
    return (f"shrunk by Hypothesis: {steps} steps; NOT shown to be the shortest (the bounded "
            "exhaustive search of models/stack/shortest.py has no state key for this machine)")


def layered_svg(trace: list[Step], title: str, decoder: Decoder, caption: str = "") -> str:
    """A standalone SVG of ``trace``, one lane per layer of each side, with ``caption``
    (how minimal the run is) under the title."""
    height = TOP + ROW * (len(trace) + 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           'font-family="monospace" font-size="11" role="img">',
           f"<title>{escape(title)}</title>",
           svg_text(WIDTH // 2, 18, title[:170], "#000000", bold=True)]
    if caption:
        out.append(svg_text(WIDTH // 2, 32, caption, "#333333"))
    for lane in LANES:
        colour = COLOURS[lane.split(".")[0]]
        out.append(svg_text(X[lane], 44, TITLES[lane], colour, bold=True))
        out.append(f'<line x1="{X[lane]}" y1="50" x2="{X[lane]}" y2="{height - 6}" '
                   'stroke="#cccccc" stroke-dasharray="4 3"/>')
    previous: dict[str, str] = {}
    for n, step in enumerate(trace):
        y = TOP + ROW * n + 10
        lane = layer_of(trace, n, previous)
        side = step.side if step.side in ("driver", "device") else "host"
        colour = COLOURS["virtio-pci"] if lane.endswith("virtio-pci") else COLOURS[side]
        out.append(svg_text(6, y, str(n + 1), "#999999", "start"))
        text = step.action.strip()
        reg = REGISTER.match(text)
        if reg is not None:
            name, notify = decoder.name(int(reg.group(2), 16))
            text = f"{reg.group(1)} {name}{reg.group(3)}"
            if notify and side == "driver":  # an available-buffer notification
                out += svg_arrow(X["driver.virtio-pci"], X["device.virtio-pci"], y, colour)
                out.append(svg_text(X["host"], y - 7, text, colour))
                continue
        if text.startswith("MSI-X") and side == "driver":  # the message, taken
            out += svg_arrow(X["device.virtio-pci"], X["driver.virtio-pci"], y, colour)
            out.append(svg_text(X["host"], y - 7, text.rstrip(":"), colour))
            continue
        out += lane_mark(lane, X[lane], y, text.replace(" reaches memory", ""), colour)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def figure_name(variant: str) -> str:
    return variant.removeprefix("stack.net.mutant.")


def write_figures(directory: Path, only: list[str] | None = None) -> list[Path]:
    """One SVG per planted variant's shrunk failing run; returns the files written."""
    from virtiospec.models.stack.net import PLANTED, run_stack_net

    directory.mkdir(parents=True, exist_ok=True)
    decoder = Decoder()
    written = []
    for name, what, _, cfg in PLANTED:
        if only and figure_name(name) not in only and name not in only:
            continue
        runs = 600 if cfg.c_device else 300
        ev = run_stack_net(cfg, runs, derandomize=True, shrink=True)
        if ev.ok or not ev.trace:
            raise RuntimeError(f"{name}: not caught ({ev.detail})")
        caption = net_caption(len(ev.trace))
        trace = [*ev.trace, Step("env", f"broken: {ev.detail}")]
        if len(trace) > MAX_ROWS:
            cut = len(trace) - 1 - (MAX_ROWS - 2)
            trace = [trace[0], Step("env", f"... {cut} steps left out ..."),
                     *trace[-(MAX_ROWS - 2):]]
        path = directory / f"{figure_name(name)}.svg"
        path.write_text(layered_svg(trace, f"{figure_name(name)}: {what}", decoder, caption),
                        encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else Path("docs/figures/stack_net")
    for path in write_figures(directory, argv[1:] or None):
        print(path, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
