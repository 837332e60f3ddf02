"""``virtiospec demo clock``: the paravirtual clock over the whole stack, PCI → virtio-pci →
virtio-shm, with a driver that lags (reference/stack/clock_stack.py, spec/shm.md
SHM-CLOCK-004, SHM-CLOCK-005, SHM-CLOCK-006, SHM-CLOCK-007, SHM-CLOCK-008, SHM-CLOCK-009,
SHM-CLOCK-010, SHM-CLOCK-011).

The device ticks every millisecond, publishing the time in its shared memory table and an
edge in its interrupt table; the driver runs every ``lag`` ticks, its accesses interleaved
with the device's. The table printed is every layer's counters; the exit status is 1 if the
driver acted on a stale, torn or older time, counted an edge twice or lost one, or missed the
newest time at the end.
"""

from __future__ import annotations

import json as json_module
import sys

from rich.console import Console
from rich.table import Table

from virtiospec.reference.stack.clock_report import as_dict, rows
from virtiospec.reference.stack.clock_stack import START_NS, TICK_NS, ClockStack

SEED = 2009


def clock_demo(ticks: int, lag: int, json: bool) -> int:
    """Run ``ticks`` ticks with a driver that services every ``lag`` ticks; print the
    counters (a table, or JSON with ``json``). 0: nothing stale or torn was acted on; 1: it
    was; 2: bad arguments."""
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)
    if ticks < 1 or lag < 1:
        console.print("[red]ticks and lag are at least 1[/red]")
        return 2
    stack = ClockStack(seed=SEED)
    stack.bring_up()
    stack.run(ticks, lag, start_ns=START_NS, tick_ns=TICK_NS)
    result = as_dict(stack)
    if json:
        print(json_module.dumps({"ticks": ticks, "lag": lag, **result}, indent=2))
        return 0 if result["ok"] else 1
    table = Table(title=f"the clock over PCI → virtio-pci → virtio-shm: {ticks} ticks, "
                        f"driver every {lag}")
    table.add_column("layer")
    table.add_column("counter")
    table.add_column("value", justify="right")
    previous = ""
    for layer, name, value in rows(stack):
        table.add_row(layer if layer != previous else "", name, str(value),
                      end_section=False)
        previous = layer
    console.print(table)
    failures = stack.failures()
    if failures:
        console.print(f"[red]FAIL[/red] {failures}")
        return 1
    console.print("[green]ok[/green]: every time acted on was whole and the newest; no edge "
                  "lost or counted twice")
    return 0
