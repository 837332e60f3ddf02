"""``virtiospec bench net``: frames per second through our vhost-user device, with DPDK's
testpmd (virtio-user) as the driver, beside testpmd's own vhost PMD (``net_vhost``) as the
device, on the same run.

Our device runs in two builds (``--device``, both by default): ``python``, the reference
NetDevice with every ring access stepped in Python (the spec, executed), and ``c``, the same
device with its data path in C (reference/vhost_user/c/ring_vhost.c: ring.c through the memory
table, a batch per call; reference/vhost_user/fast.py).

Each round measures each of our builds and net_vhost one after the other for the same number
of seconds and prints each ratio to net_vhost; this machine's speed jumps between two levels
every 10-60 s, so the ratios of several rounds, each taken within a few seconds, say more than
any one figure.

* ``to-device``: testpmd ``txonly`` on virtio-user transmits; the device takes the frames
  (ours checks and counts them, to a wire nobody listens to; ``net_vhost`` runs testpmd
  ``rxonly``).
* ``to-driver``: the device sends; testpmd ``rxonly`` on virtio-user receives (ours sends
  from ``Options.repeat``, a source the C build runs in C, a burst per call; ``net_vhost``
  runs testpmd ``txonly``).

``--size`` sets every frame's length on both devices (testpmd ``--txpkts``, our source's
frames); ``--packed`` asks virtio-user for a packed ring (``packed_vq=1``) against both.

All are measured by the same meter: the virtio-user testpmd's own per-second statistics
(``Tx-pps`` or ``Rx-pps``); our device's own count over the same window is printed beside it
as a cross-check. Each testpmd polls on its own core (``--main-lcore`` 0 or 1); our device's
process is pinned to the core the virtio-user testpmd does not poll on.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from virtiospec.conformance.net.target_dpdk import (
    Testpmd,
    ToolMissing,
    require_testpmd,
    rings_up,
    testpmd_args,
)
from virtiospec.reference.net import frames as FR
from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import Options

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Benchmarks against real peers.")
console = Console(soft_wrap=True)

DIRECTIONS = ("to-device", "to-driver")
DEVICES = ("python", "c")
LABELS = {"python": "python device", "c": "C fast path"}
START_TIMEOUT = 30.0
WARMUP = 1.5
SIZES = (64, 1500)  # the frame sizes the docs report; any of MIN_SIZE..MAX_SIZE runs
MIN_SIZE, MAX_SIZE = 60, 1514  # an Ethernet frame without FCS, MTU 1500 (our device's)


def frame(size: int) -> bytes:
    """A UDP frame of ``size`` bytes, as long as testpmd's ``txonly`` frames with
    ``--txpkts=size`` (64 by default)."""
    return FR.udp_frame(b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02", "10.1.0.1", "10.1.0.2",
                        9, 9, bytes(size - 42))


@dataclass
class Sample:
    direction: str
    round: int
    device: str  # our build: "python" or "c"
    ours_pps: float
    vhost_pps: float
    ours_counted_pps: float  # what our device itself counted, as a cross-check

    @property
    def ratio(self) -> float:
        return self.ours_pps / self.vhost_pps if self.vhost_pps else 0.0


def _pps(log: str, key: str, since: int) -> list[float]:
    """testpmd's per-second ``Tx-pps``/``Rx-pps`` values printed after offset ``since``."""
    return [float(v) for v in re.findall(rf"{key}:\s+(\d+)", log[since:])]


def _window(pmd: Testpmd, key: str, seconds: float,
            counter: Callable[[], int] | None = None) -> tuple[float, float]:
    """The median of testpmd's per-second rate over ``seconds`` after a warm-up, and the rate
    of ``counter()`` (our device's own count) over the same window. The window opens after
    testpmd's second statistics block (the first has no previous one to compare with)."""
    time.sleep(WARMUP)
    deadline = time.monotonic() + START_TIMEOUT
    while len(_pps(pmd.output(), key, 0)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    start = len(pmd.output())
    c0, t0 = (counter() if counter else 0), time.monotonic()
    time.sleep(seconds)
    own = ((counter() if counter else 0) - c0) / (time.monotonic() - t0)
    values = _pps(pmd.output(), key, start)
    deadline = time.monotonic() + 2.5  # at least one of testpmd's per-second lines
    while not values and time.monotonic() < deadline:
        time.sleep(0.1)
        values = _pps(pmd.output(), key, start)
    return (statistics.median(values) if values else 0.0), own


@dataclass(frozen=True)
class Setup:
    """What both devices are measured with: the ring layout the driver asks for and the
    length of every frame."""

    packed: bool = False
    size: int = 64

    @property
    def ring(self) -> str:
        return "packed" if self.packed else "split"


def _virtio_user(sock: Path, mode: str, tag: str, log: Path, setup: Setup) -> Testpmd:
    # forwarding lcore 0 (main lcore 1): the device side polls on core 1
    vdev = f"net_virtio_user0,path={sock},queues=1" + (",packed_vq=1" if setup.packed else "")
    return Testpmd(testpmd_args(vdev, mode, f"vu{tag}", lcores="0,1", main_lcore=1,
                                stats_period=1, mbufs=16384) + _txpkts(mode, setup), log)


def _txpkts(mode: str, setup: Setup) -> list[str]:
    return [f"--txpkts={setup.size}"] if mode == "txonly" else []


def measure_ours(direction: str, seconds: float, tmp: Path, tag: str,
                 device: str = "c", setup: Setup = Setup()) -> tuple[float, float]:
    """Our device (``device``: ``python`` or ``c``) with testpmd's virtio-user as the driver:
    testpmd's rate and our device's own count (frames it took, or delivered) per second."""
    to_device = direction == "to-device"
    options = Options(poll=True, repeat=None if to_device else (frame(setup.size),),
                      device=device)
    sock = tmp / f"ours{device}{tag}.sock"
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1} if 1 in previous else previous)
    try:
        with VhostUserServer(sock, options) as server, \
                _virtio_user(sock, "txonly" if to_device else "rxonly", f"{device}{tag}",
                             tmp / f"ours{device}{tag}.log", setup) as pmd:
            if not server.wait_for(lambda: rings_up(server), START_TIMEOUT):
                raise RuntimeError(f"our device: rings not up\n{pmd.output()[-1500:]}")

            def ours_count() -> int:
                dev = server.session.device if server.session else None
                if dev is None:
                    return 0
                return dev.stats.tx_frames if to_device else dev.stats.rx_frames

            pps, own = _window(pmd, "Tx-pps" if to_device else "Rx-pps", seconds, ours_count)
            pmd.stop()  # the virtio-user side first
    finally:
        os.sched_setaffinity(0, previous)
    return pps, own


def measure_vhost(direction: str, seconds: float, tmp: Path, tag: str,
                  setup: Setup = Setup()) -> float:
    """testpmd's net_vhost as the device. It is started interactive and told to ``start``
    forwarding only once the virtio-user port is up: while its forwarding core polls, the
    virtio-user start fails on this machine ("vhost_user_read(): Failed to recv msg header:
    Interrupted system call", then "Failed to start device")."""
    to_device = direction == "to-device"
    sock = tmp / f"vhost{tag}.sock"
    mode = "rxonly" if to_device else "txonly"
    vhost = Testpmd(testpmd_args(f"net_vhost0,iface={sock},queues=1", mode, f"vh{tag}",
                                 lcores="0,1", main_lcore=0, mbufs=16384, interactive=True)
                    + _txpkts(mode, setup), tmp / f"vh{tag}.log")
    with vhost:
        deadline = time.monotonic() + START_TIMEOUT
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not sock.exists():
            raise RuntimeError(f"net_vhost did not create its socket\n{vhost.output()[-1500:]}")
        pmd = _virtio_user(sock, "txonly" if to_device else "rxonly", tag, tmp / f"vu{tag}.log",
                           setup)
        with pmd:
            while "Port 0:" not in pmd.output() and time.monotonic() < deadline:
                time.sleep(0.05)
            vhost.command("start")
            pps, _ = _window(pmd, "Tx-pps" if to_device else "Rx-pps", seconds)
            pmd.stop()  # the virtio-user side first (it can die of SIGPIPE otherwise)
        vhost.command("stop")
        vhost.command("quit")
    return pps


def run(directions: tuple[str, ...], rounds: int, seconds: float,
        devices: tuple[str, ...] = DEVICES, setup: Setup = Setup()) -> list[Sample]:
    require_testpmd()
    samples = []
    with tempfile.TemporaryDirectory(prefix="virtiospec-bench-") as tmp:
        for r in range(1, rounds + 1):
            for direction in directions:
                tag = f"{os.getpid()}{r}{direction[3]}"
                ours = {d: measure_ours(direction, seconds, Path(tmp), tag, d, setup)
                        for d in devices}
                theirs = measure_vhost(direction, seconds, Path(tmp), tag, setup)
                for d in devices:
                    s = Sample(direction, r, d, ours[d][0], theirs, ours[d][1])
                    samples.append(s)
                    yield_line(s)
    return samples


def yield_line(s: Sample) -> None:
    inverse = f"1 : {1 / s.ratio:,.1f}" if s.ratio else "1 : inf"
    console.print(f"round {s.round} {s.direction:<9}  {s.device:<6} {s.ours_pps:>11,.0f} fps "
                  f"(counted {s.ours_counted_pps:>11,.0f})  net_vhost {s.vhost_pps:>12,.0f} fps"
                  f"  ratio {s.ratio:.5f}  ({inverse})")


@app.command("net")
def net(
    rounds: Annotated[int, typer.Option(help="Rounds; each measures both devices.")] = 3,
    seconds: Annotated[float, typer.Option(help="Measured seconds per device per round.")] = 3,
    direction: Annotated[str, typer.Option(help="to-device, to-driver or both.")] = "both",
    device: Annotated[str, typer.Option(
        help="Our device: python (the reference, every ring access in Python), c (its data "
             "path in C: ring.c through the memory table) or both.")] = "both",
    packed: Annotated[bool, typer.Option(
        "--packed", help="Packed rings: virtio-user with packed_vq=1, against both devices.")
    ] = False,
    size: Annotated[int, typer.Option(
        help=f"Frame length in bytes ({MIN_SIZE}-{MAX_SIZE}; the docs report 64 and 1500): "
             "testpmd's --txpkts and our device's frames.")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Frames per second through our vhost-user device (the Python reference and its C fast
    path) vs testpmd's net_vhost, as ratios."""
    chosen = DIRECTIONS if direction == "both" else (direction,)
    if any(d not in DIRECTIONS for d in chosen):
        raise typer.BadParameter(f"--direction {direction!r}: to-device, to-driver or both")
    devices = DEVICES if device == "both" else (device,)
    if any(d not in DEVICES for d in devices):
        raise typer.BadParameter(f"--device {device!r}: python, c or both")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise typer.BadParameter(f"--size {size}: {MIN_SIZE} to {MAX_SIZE} bytes")
    setup = Setup(packed, size)
    if as_json:  # stdout carries the JSON document only: the progress goes to stderr
        console.file = sys.stderr
    try:
        _net(chosen, rounds, seconds, devices, as_json, setup)
    finally:
        console.file = None  # type: ignore[assignment]  # back to sys.stdout, looked up per print


def _net(chosen: tuple[str, ...], rounds: int, seconds: float, devices: tuple[str, ...],
         as_json: bool, setup: Setup = Setup()) -> None:
    console.print(f"{setup.ring} rings, {setup.size}-byte frames; load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        samples = run(chosen, rounds, seconds, devices, setup)
    except ToolMissing as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for d in chosen:
        summary[d] = {}
        for dev in devices:
            mine = [s for s in samples if s.direction == d and s.device == dev]
            ratios = [s.ratio for s in mine]
            summary[d][dev] = {"median_ratio": statistics.median(ratios), "min": min(ratios),
                               "max": max(ratios),
                               "median_pps": statistics.median(s.ours_pps for s in mine),
                               "median_vhost_pps": statistics.median(s.vhost_pps for s in mine)}
            m = summary[d][dev]
            console.print(f"{d}: {LABELS[dev]:<13} median {m['median_pps']:>11,.0f} fps, "
                          f"net_vhost {m['median_vhost_pps']:>12,.0f} fps, median ratio "
                          f"ours/net_vhost {m['median_ratio']:.5f} over {len(ratios)} rounds "
                          f"(min {m['min']:.5f}, max {m['max']:.5f})")
        if len(devices) == 2:
            speedup = [c.ours_pps / p.ours_pps for p, c in zip(
                [s for s in samples if s.direction == d and s.device == "python"],
                [s for s in samples if s.direction == d and s.device == "c"], strict=True)
                if p.ours_pps]
            if speedup:
                console.print(f"{d}: C fast path / python device: median "
                              f"{statistics.median(speedup):,.1f}x")
    if as_json:
        sys.stdout.write(json.dumps({"ring": setup.ring, "size": setup.size,
                                     "loadavg": list(os.getloadavg()),
                                     "samples": [asdict(s) | {"ratio": s.ratio}
                                                 for s in samples], "summary": summary},
                                    indent=2) + "\n")
    if not all(s.ours_pps > 0 and s.vhost_pps > 0 for s in samples):
        raise typer.Exit(1)
