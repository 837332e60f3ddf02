"""``virtiospec demo``: the full stack in one process, with traffic both ways and every
layer's counters (reference/stack, docs/stack.md); ``virtiospec demo clock``: the clock device
on the same layers (virtiospec/demo_clock.py, docs/shm.md).

The reference driver of every layer, PCI → virtio-pci → virtio-shm → virtio-ring →
virtio-net, brings up the reference virtio-net device on a simulated PC, its queues in the
device's shared memory region; frames go from the driver to the wire, and their echoes from
the wire to the driver. Exit 1 if a frame was lost, duplicated, corrupted or reordered, if
the link flap let anything through, or if two layers' counters disagree.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from virtiospec.reference.net import features as F
from virtiospec.reference.ring.layout import valid_queue_size
from virtiospec.reference.stack.checks import Check, cross_layer
from virtiospec.reference.stack.net_stack import Stack, StackOptions
from virtiospec.reference.stack.notify_faults import NotifyFaults
from virtiospec.reference.stack.traffic import MAX_SIZE, MIN_SIZE, TrafficResult, run_traffic

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
app = typer.Typer(add_completion=False)
MAX_PAIRS = 8  # one 802.1p class per pair at most
MAX_QUEUE = 256  # 8 pairs of 256-entry queues and their buffers fit the 32 MiB guest


@app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    frames: Annotated[int, typer.Option("--frames", "-n", min=1, help="Frames each way.")] = 1000,
    size: Annotated[int, typer.Option(
        "--size", min=MIN_SIZE, max=MAX_SIZE, help="Frame size in bytes (802.1Q tag included)."
    )] = 512,
    pairs: Annotated[int, typer.Option(
        "--pairs", min=1, max=MAX_PAIRS, help="Queue pairs (MQ with per-queue classes if > 1)."
    )] = 2,
    event_idx: Annotated[bool, typer.Option(
        "--event-idx/--no-event-idx", help="Negotiate VIRTIO_F_EVENT_IDX.")] = True,
    flap: Annotated[bool, typer.Option("--flap", help="Take the link down half-way.")] = False,
    reset: Annotated[bool, typer.Option(
        "--reset", help="Reset the device three quarters in, frames in flight.")] = False,
    queue_size: Annotated[int, typer.Option("--queue-size", help="Entries per queue.")] = 64,
    drop_notify: Annotated[bool, typer.Option(
        "--drop-notify", help="Drop every 5th kick and interrupt (the timers recover).")] = False,
    double_notify: Annotated[bool, typer.Option(
        "--double-notify", help="Deliver every 5th kick and interrupt twice.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The network stack: frames through every layer both ways, per-layer counters.
    ``demo clock``: the clock device."""
    if ctx.invoked_subcommand is not None:
        return
    if not valid_queue_size(queue_size) or queue_size > MAX_QUEUE:
        raise typer.BadParameter(f"a power of 2 up to {MAX_QUEUE}", param_hint="--queue-size")
    if drop_notify and double_notify:
        raise typer.BadParameter("one of --drop-notify and --double-notify",
                                 param_hint="--double-notify")
    stack = Stack(StackOptions(pairs=pairs, queue_size=queue_size, event_idx=event_idx))
    features = stack.bring_up()
    if drop_notify or double_notify:  # from the traffic on: bring-up is not faulted
        stack.faults = NotifyFaults("drop" if drop_notify else "double")
    result = run_traffic(stack, frames, size, flap=flap, reset=reset)
    checks = cross_layer(stack)
    ok = result.ok and all(c.ok for c in checks)
    snap = stack.snapshot()
    if as_json:
        out = {"ok": ok, "options": {"frames": frames, "size": size, "pairs": pairs,
                                     "event_idx": event_idx, "flap": flap, "reset": reset,
                                     "queue_size": queue_size, "drop_notify": drop_notify,
                                     "double_notify": double_notify},
               "features": F.names(features), "queue_classes": stack.net_config.queue_classes,
               "traffic": _traffic_json(result), "counters": snap,
               "notify_faults": stack.faults.summary() if stack.faults else None,
               "checks": [{"name": c.name, "left": c.left, "relation": c.relation,
                           "right": c.right, "ok": c.ok, "reqs": list(c.reqs)} for c in checks]}
        print(json.dumps(out, indent=2))
    else:
        _print(stack, features, result, checks, snap, ok)
    if not ok:
        raise typer.Exit(1)


def _traffic_json(r: TrafficResult) -> dict[str, object]:
    return {"ok": r.ok, "seconds": round(r.seconds, 3),
            "frames_per_second": round(r.frames_per_second), "tx": r.tx, "rx": r.rx,
            "flap": r.flap, "reset": r.reset}


def _print(stack: Stack, features: int, r: TrafficResult, checks: list[Check],
           snap: dict[str, object], ok: bool) -> None:
    console.print("[bold]PCI → virtio-pci → virtio-shm → virtio-ring → virtio-net[/bold], "
                  "one process")
    console.print(f"features: {' '.join(F.names(features))}")
    classes = stack.net_config.queue_classes
    if len(classes) > 1:
        console.print("queue classes (NET-050): " + ", ".join(
            f"pair {k}: {m:#04x}" for k, m in enumerate(classes)))
    console.print(_traffic_table(r))
    if stack.faults is not None:
        f = stack.faults
        console.print(f"notification faults ({f.mode}, every {f.every}th): kicks "
                      f"{f.kicks_dropped if f.mode == 'drop' else f.kicks_doubled}, interrupts "
                      f"{f.irqs_dropped if f.mode == 'drop' else f.irqs_doubled} "
                      f"{'dropped' if f.mode == 'drop' else 'delivered twice'}"
                      + (f"; {f.timer_rounds} timer rounds" if f.mode == "drop" else ""))
    console.print(_layer_table(snap))
    console.print(_ring_table(snap))
    console.print(_pair_table(stack, snap))
    console.print(_check_table(checks))
    verdict = "[green]OK[/green]" if ok else "[red]FAILED[/red]"
    console.print(f"{verdict}: {r.frames} frames of {r.size} bytes each way in "
                  f"{r.seconds:.2f} s, {r.frames_per_second:,.0f} frames/s")


def _traffic_table(r: TrafficResult) -> Table:
    t = Table(title="traffic (NET-060)")
    for col in ("direction", "expected", "intact", "lost", "duplicated", "corrupted",
                "out of order", "per queue"):
        t.add_column(col, justify="left" if col in ("direction", "per queue") else "right")
    for name, side in (("driver → wire", r.tx), ("wire → driver", r.rx)):
        per = side["per_queue"]
        assert isinstance(per, dict)
        t.add_row(name, *(str(side[k]) for k in ("expected", "intact", "lost", "duplicated",
                                                "corrupted", "out_of_order")),
                  " ".join(f"{q}:{n}" for q, n in per.items()))
    if r.flap is not None:
        t.caption = (f"link down at frame {r.flap['at']}: {r.flap['sent_while_down']} sent, "
                     f"{r.flap['tx_while_down']} reached the wire and {r.flap['rx_while_down']} "
                     "the driver while down (NET-026)")
    if r.reset is not None:
        note = (f"device reset at frame {r.reset['at']}: {r.reset['requeued']} transmit "
                "buffers taken back and sent again (NET-062)")
        t.caption = f"{t.caption}; {note}" if t.caption else note
    return t


def _rows(section: object, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    assert isinstance(section, dict)
    for key, value in section.items():
        if isinstance(value, dict):
            if value:
                out.append((f"{prefix}{key}", " ".join(f"{k}:{v}" for k, v in value.items())))
        else:
            out.append((f"{prefix}{key}", str(value)))
    return out


def _layer_table(snap: dict[str, object]) -> Table:
    t = Table(title="per-layer counters")
    t.add_column("layer")
    t.add_column("counter")
    t.add_column("value", justify="right")
    shm = snap["shm"]
    assert isinstance(shm, dict)
    sections = [("PCI", snap["pci"]), ("virtio-pci", snap["virtio_pci"]),
                ("virtio-shm", {k: v for k, v in shm.items() if k not in ("kick", "call")}),
                ("shm-signal kick", shm["kick"]), ("shm-signal call", shm["call"])]
    for layer, section in sections:
        for n, (key, value) in enumerate(_rows(section)):
            t.add_row(layer if n == 0 else "", key, value)
        t.add_section()
    return t


def _ring_table(snap: dict[str, object]) -> Table:
    ring = snap["ring"]
    assert isinstance(ring, dict)
    t = Table(title="virtio-ring, per queue")
    cols = ("added", "kicks", "kicks_suppressed", "taken", "popped", "used", "interrupts",
            "interrupts_suppressed")
    t.add_column("queue")
    for col in cols:
        t.add_column(col.replace("_", " "), justify="right")
    for name, q in ring.items():
        t.add_row(name, *(str(q[c]) for c in cols))
    return t


def _pair_table(stack: Stack, snap: dict[str, object]) -> Table:
    net = snap["net"]
    assert isinstance(net, dict)
    t = Table(title="virtio-net, per queue pair")
    for col in ("pair", "classes", "tx frames", "tx bytes", "rx frames", "rx bytes"):
        t.add_column(col, justify="right")
    classes = stack.net_config.queue_classes
    for pair, c in net["pairs"].items():
        mask = classes[int(pair)] if int(pair) < len(classes) else 0
        t.add_row(pair, ",".join(str(b) for b in range(8) if mask >> b & 1) or "-",
                  *(str(c[k]) for k in ("tx_frames", "tx_bytes", "rx_frames", "rx_bytes")))
    drv, dev = net.get("driver", {}), net.get("device", {})
    assert isinstance(drv, dict) and isinstance(dev, dict)
    t.caption = (f"ctrl commands: {drv.get('ctrl_ok', 0)} ok, {drv.get('ctrl_err', 0)} err; "
                 f"device: {dev.get('tx_frames', 0)} sent, {dev.get('rx_frames', 0)} delivered, "
                 f"{dev.get('tx_discarded', 0)} discarded at resets; driver: "
                 f"{drv.get('tx_requeued', 0)} requeued, {drv.get('recoveries', 0)} recoveries")
    return t


def _check_table(checks: list[Check]) -> Table:
    t = Table(title="cross-layer checks")
    for col in ("check", "left", "", "right", "requirements"):
        t.add_column(col, justify="right" if col in ("left", "right") else "left")
    for c in checks:
        rel = c.relation if c.ok else f"[red]{'!=' if c.relation == '==' else '>'}[/red]"
        t.add_row(c.name, str(c.left), rel, str(c.right), " ".join(c.reqs))
    return t


@app.command("clock")
def clock(
    ticks: Annotated[int, typer.Option("--ticks", help="Clock ticks (1 ms each).")] = 96,
    lag: Annotated[int, typer.Option("--lag", help="The driver runs every LAG ticks.")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The paravirtual clock over PCI → virtio-pci → virtio-shm, with a lagging driver."""
    from virtiospec.demo_clock import clock_demo

    raise typer.Exit(clock_demo(ticks, lag, as_json))


def register(parent: typer.Typer) -> None:
    """Add ``demo`` (and ``demo clock``) to the ``virtiospec`` command."""
    parent.add_typer(app, name="demo", help="The whole stack in one process, with counters.")
