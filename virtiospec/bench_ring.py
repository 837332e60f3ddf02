"""``virtiospec bench ring``: ring.c against Linux's tools/virtio/ringtest.

The command is registered on the ``bench`` group in virtiospec/cli.py; the measuring is
in reference/ring/c/bench.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from virtiospec.reference.ring.c import bench as rb

PEER_FLAGS = {"event_idx": "--sleep", "poll": "(no --sleep)"}
TARGET_PEER = "virtio_ring_0_9"
OURS = (rb.OURS, rb.OURS_BATCHED)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fmt_rate(f: rb.Figure) -> str:
    return f"{f.median / 1e6:6.3f} [{f.low / 1e6:.3f}-{f.high / 1e6:.3f}]"


def render(res: rb.BenchResult) -> list[str]:
    """The report: one line per (mode, batch, implementation), then the ratio lines."""
    cfg = res.config
    rows, ratios = rb.summarize(res)
    out = [
        f"virtiospec bench ring: Q={cfg.queue_size}, {cfg.run_cycles()} buffers per run, "
        f"{cfg.samples} sample(s) each (interleaved rounds), driver on CPU {res.cpus[0]}, "
        f"device on CPU {res.cpus[1]}, {cfg.exit_cycles} + {cfg.exit_cycles} busy cycles "
        "around each notification and each wait (ringtest's vmexit/vmentry)",
        "figures: median [min-max] over the samples; buffers/s timed as the process's wall "
        "time, notifications counted as eventfd writes, the same way for both",
        "batch b: the driver runs ringtest's guest loop (add one, take back one) and decides "
        "on a kick after every b buffers added (ringtest --batch b); "
        f"{rb.OURS}'s device completes and decides per buffer, as ringtest's host does; "
        f"{rb.OURS_BATCHED}'s device pops up to {rb.DEVICE_BATCH} available chains, pushes "
        "them at once and decides once",
        "ring.c's driver, going to sleep, re-enables interrupts with "
        + ("enable_cb_delayed (event_idx: used_event 3/4 of the outstanding buffers ahead)"
           if cfg.reenable == "delayed" else
           "enable_cb (event_idx: used_event at the next used entry, as ringtest's guest)"),
        "",
        f"{'mode':<10} {'batch':>5}  {'implementation':<30} {'Mbuffers/s median [min-max]':<30}"
        f" {'notif/buffer':>12} {'kicks':>8} {'interrupts':>10}",
    ]
    for r in rows:
        impl = r.impl if r.impl in OURS else f"linux {r.impl} {PEER_FLAGS[r.mode]}"
        out.append(f"{r.mode:<10} {r.batch:>5}  {impl:<30} {_fmt_rate(r.rate):<30} "
                   f"{r.per_buffer.median:12.5f} {r.kicks:8.5f} {r.interrupts:10.5f}")
    out.append("")
    if res.linux_error:
        out.append(f"linux ringtest: not run: {res.linux_error}")
    for q in ratios:
        verdict = ""
        if q.peer == TARGET_PEER:  # the target: as fast, no more notifications
            met = q.speed.median >= 1.0 and q.ours_per_buffer <= q.peer_per_buffer
            verdict = "  target met" if met else "  target missed"
        out.append(
            f"ratio {q.mode} batch {q.batch}: {q.ours}/{q.peer} = {q.speed.median:.3f} "
            f"[{q.speed.low:.3f}-{q.speed.high:.3f}]  notifications/buffer {q.ours} "
            f"{q.ours_per_buffer:.5f} vs {q.peer} {q.peer_per_buffer:.5f}{verdict}")
    no_peer = [m for m in cfg.modes if rb.RINGTEST_MODE[m] is None]
    if no_peer and ratios:
        out.append(f"(no ratio for {', '.join(no_peer)}: ringtest has no such mode)")
    return out


def ring(
    batch: Annotated[list[int] | None, typer.Option(
        "--batch", "-b", help="Batch sizes (repeat); default 1, 16, 64.")] = None,
    mode: Annotated[list[str] | None, typer.Option(
        "--mode", "-m", help="event_idx | flags | none | poll (repeat); default all.")] = None,
    buffers: Annotated[int, typer.Option(help="Buffers per run.")] = 2_000_000,
    samples: Annotated[int, typer.Option(help="Runs of each configuration.")] = 5,
    queue_size: Annotated[int, typer.Option(help="Queue size Q (ringtest --ring-size).")] = 256,
    quick: Annotated[bool, typer.Option(
        "--quick", help="A smoke run: 19200 buffers, one sample.")] = False,
    linux: Annotated[bool, typer.Option(
        "--linux/--no-linux", help="Build and run Linux's ringtest as the peer.")] = True,
    tarball: Annotated[Path, typer.Option(help="Debian's linux-source tarball.")] = rb.TARBALL,
    device_batched: Annotated[bool, typer.Option(
        "--device-batched/--no-device-batched",
        help="Also run ring.c with the device batching (pop up to 64, push once, "
             "decide once).")] = True,
    reenable: Annotated[str, typer.Option(
        "--reenable", help="How ring.c's driver re-enables interrupts before sleeping: "
        "delayed (enable_cb_delayed: used_event 3/4 of the outstanding buffers ahead) or "
        "next (enable_cb: used_event at the next used entry).")] = "delayed",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """ring.c, driver and device on two cores, against Linux's ringtest.

    Linux's tools/virtio/ringtest (virtio_ring_0_9 and ring) is built from linux-source-6.1
    at run time and run with the same parameters, in interleaved rounds.

    Modes: event_idx (suppression by event index; ringtest --sleep), flags (suppression by
    the NO_NOTIFY / NO_INTERRUPT flags; no ringtest peer), none (notifications never
    suppressed; no peer), poll (no notifications, both sides spin; ringtest without --sleep).
    """
    modes = tuple(mode or rb.MODES)
    bad = [m for m in modes if m not in rb.MODES]
    if bad:
        raise typer.BadParameter(f"unknown mode(s) {bad}; known: {', '.join(rb.MODES)}")
    if reenable not in rb.REENABLE:
        raise typer.BadParameter(f"--reenable {reenable!r}; known: {', '.join(rb.REENABLE)}")
    batches = tuple(batch or rb.BATCHES)
    if any(b < 1 for b in batches) or buffers < 1 or samples < 1:
        raise typer.BadParameter("batch, buffers and samples must be positive")
    if quick:
        buffers, samples = 19_200, 1
    cfg = rb.BenchConfig(batches=batches, modes=modes, buffers=buffers, samples=samples,
                         queue_size=queue_size, linux=linux, tarball=tarball,
                         device_batched=device_batched, reenable=reenable)
    try:
        res = rb.bench(cfg, progress=_say)
    except rb.BenchError as e:
        _say(f"bench ring: {e}")
        raise typer.Exit(1) from e
    if as_json:
        sys.stdout.write(json.dumps(rb.to_json(res), indent=2) + "\n")
    else:
        print("\n".join(render(res)))
