"""The ``dpdk`` target: DPDK's virtio-user driver (``dpdk-testpmd --vdev net_virtio_user0``)
against our device behind vhost-user.

One session runs testpmd twice against the back-end: in ``io`` mode, where everything it
receives it transmits again (our device sends probe frames and checks they come back intact and
in order), and briefly in ``txonly`` mode (testpmd's own frames). Known on this machine:
Debian's DPDK 22.11 runs without hugepages (``--no-huge``); with the default mbuf count 512 MiB
is not enough, hence ``--total-num-mbufs``; stop the virtio-user side first (SIGINT).

Without ``dpdk-testpmd`` (Debian package ``dpdk-dev``) the cases are skipped, or fail when the
environment says ``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from virtiospec.conformance.cases import CaseSkipped
from virtiospec.conformance.suites.net_api import DriverObservation, Recorder, probe_frames
from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import Options, Session

TESTPMD = "dpdk-testpmd"
PROBES = 600
WINDOW = 32
TXONLY_SECONDS = 2.0
START_TIMEOUT = 30.0


class ToolMissing(RuntimeError):
    pass


def require_testpmd() -> str:
    path = shutil.which(TESTPMD)
    if path is None:
        raise ToolMissing(f"{TESTPMD} not found: apt-get install dpdk dpdk-dev")
    return path


def testpmd_args(vdev: str, mode: str, prefix: str, *, lcores: str = "0,1",
                 main_lcore: int | None = None, mbufs: int = 8192, memory: int = 1024,
                 stats_period: int | None = None, burst: int | None = None,
                 interactive: bool = False) -> list[str]:
    """A testpmd command line for one port on ``vdev``, without hugepages or PCI.
    ``interactive``: forwarding waits for a ``start`` command (:meth:`Testpmd.command`)."""
    # line-buffered output, so that per-second statistics reach the log as they are printed
    line = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
    eal = [*line, TESTPMD, "--no-huge", "-m", str(memory), "--no-pci", f"--file-prefix={prefix}",
           "-l", lcores, "--vdev", vdev, "--log-level=lib.eal:error"]
    if main_lcore is not None:
        eal += ["--main-lcore", str(main_lcore)]
    app = ["--", f"--total-num-mbufs={mbufs}", f"--forward-mode={mode}"]
    app.append("-i" if interactive else "--auto-start")
    if stats_period is not None:
        app.append(f"--stats-period={stats_period}")
    if burst is not None:
        app.append(f"--burst={burst}")
    return eal + app


class Testpmd:
    """One testpmd process, its output in a file (never a pipe that could fill). Stopped with
    SIGINT (it prints its statistics), killed if it does not exit within ``stop_timeout``."""

    def __init__(self, args: list[str], log: Path, stop_timeout: float = 10.0) -> None:
        self.args, self.log, self.stop_timeout = args, log, stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Testpmd:
        require_testpmd()
        out = open(self.log, "wb")
        self._out = out
        # stdin stays open: without --stats-period testpmd runs until it reads a line
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def command(self, line: str) -> None:
        """A command for an interactive testpmd (``start``, ``stop``, ``quit``)."""
        proc = self.proc
        if proc is not None and proc.stdin is not None and proc.poll() is None:
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc.stdin is not None:
            proc.stdin.close()
        self._out.close()
        return proc.returncode

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def rings_up(server: VhostUserServer, pairs: int = 1) -> bool:
    s = server.session
    return s is not None and s.device is not None and all(
        v.started for v in s.vrings[:2 * pairs])


def _io_run(tmp: Path, obs: DriverObservation) -> None:
    wire = Recorder()
    sock = tmp / "io.sock"
    with VhostUserServer(sock, Options(), wire) as server, \
            Testpmd(testpmd_args(f"net_virtio_user0,path={sock},queues=1", "io",
                                 f"vsio{os.getpid()}"), tmp / "io.log") as pmd:
        if not server.wait_for(lambda: rings_up(server), START_TIMEOUT):
            obs.errors.append(f"testpmd io: rings not started within {START_TIMEOUT:.0f} s; "
                              f"alive={pmd.alive()}\n{pmd.output()[-1500:]}")
            obs.errors += server.errors
            return
        if not forwarding(server, wire, START_TIMEOUT):
            obs.errors.append(f"testpmd io: forwarded nothing within {START_TIMEOUT:.0f} s\n"
                              f"{pmd.output()[-1500:]}")
            return
        wire.clear()
        obs.injected = probe_frames(b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02", PROBES, b"io")
        for start in range(0, PROBES, WINDOW):
            for frame in obs.injected[start:start + WINDOW]:
                server.inject(frame)
            want = min(start + WINDOW, PROBES)
            if not wait_echo(wire, want, 10.0):
                obs.errors.append(f"testpmd io: {wire.count()} of {want} frames came back")
                break
        obs.confirmed = wire.snapshot()
        obs.confirmed_count = len(obs.confirmed)
        pmd.stop()
        server.wait_for(lambda: server.session is not None and not any(
            v.started for v in server.session.vrings), 5.0)
        with server.lock:
            obs.absorb(server.session)
        obs.tx_frames += wire.snapshot()
        obs.errors += server.errors
        obs.notes.append(f"io: {len(obs.confirmed)} of {PROBES} frames came back")
        obs.round_trips["frames testpmd forwarded back (io mode)"] = (PROBES,
                                                                      len(obs.confirmed))


def forwarding(server: VhostUserServer, wire: Recorder, timeout: float) -> bool:
    """Wait until testpmd forwards: frames delivered before it starts forwarding are flushed
    from its receive ring at port start (the driver's choice), so send a probe every 0.2 s
    until one comes back."""
    sync = probe_frames(b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02", 1, b"sync")[0]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        server.inject(sync)
        if wait_echo(wire, 1, 0.2):
            time.sleep(0.2)  # let late copies of the probe come back before the count starts
            return True
    return False


def wait_echo(wire: Recorder, want: int, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if wire.count() >= want:
            return True
        time.sleep(0.005)
    return wire.count() >= want


def _txonly_run(tmp: Path, obs: DriverObservation) -> None:
    wire = Recorder()
    sock = tmp / "tx.sock"
    with VhostUserServer(sock, Options(), wire) as server, \
            Testpmd(testpmd_args(f"net_virtio_user0,path={sock},queues=1", "txonly",
                                 f"vstx{os.getpid()}"), tmp / "tx.log") as pmd:
        if not server.wait_for(lambda: rings_up(server), START_TIMEOUT):
            obs.errors.append(f"testpmd txonly: rings not started\n{pmd.output()[-1500:]}")
            return
        time.sleep(TXONLY_SECONDS)
        pmd.stop()
        with server.lock:
            session: Session | None = server.session
            obs.absorb(session)
        frames = wire.snapshot()
        obs.tx_frames += frames[:5000]
        obs.notes.append(f"txonly: {len(frames)} frames in {TXONLY_SECONDS:.0f} s")
        obs.errors += server.errors


def run_session() -> DriverObservation:
    obs = DriverObservation("DPDK virtio-user (dpdk-testpmd)")
    with tempfile.TemporaryDirectory(prefix="virtiospec-dpdk-") as tmp:
        _io_run(Path(tmp), obs)
        _txonly_run(Path(tmp), obs)
    return obs


class DpdkTarget:
    name = "dpdk"
    sides = ("driver",)

    def __init__(self) -> None:
        self._obs: DriverObservation | None = None

    def net_driver_session(self) -> DriverObservation:
        if self._obs is None:
            try:
                require_testpmd()
            except ToolMissing as err:
                if os.environ.get("CI") == "true":
                    raise  # a missing peer in CI is a failure, not a skip
                raise CaseSkipped(str(err)) from None
            self._obs = run_session()
        return self._obs


def make(arg: str) -> DpdkTarget:
    if arg:
        raise ValueError(f"the dpdk target takes no argument (got {arg!r})")
    return DpdkTarget()
