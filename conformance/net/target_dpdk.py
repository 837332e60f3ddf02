"""The ``dpdk`` target: DPDK's virtio-user driver (``dpdk-testpmd --vdev net_virtio_user0``)
against our device behind vhost-user.

One session runs testpmd twice against the back-end: in ``io`` mode, where everything it
receives it transmits again (our device sends probe frames and checks they come back intact and
in order), and briefly in ``txonly`` mode (testpmd's own frames). Known on this machine:
Debian's DPDK 22.11 runs without hugepages (``--no-huge``); with the default mbuf count 512 MiB
is not enough, hence ``--total-num-mbufs``; stop the virtio-user side first (SIGINT).

Target spec ``dpdk[,DEVARG=VAL...]``: each ``DEVARG=VAL`` is a ``net_virtio_user`` devarg in
DPDK's own words (``packed_vq=1``, ``in_order=1``, ``mrg_rxbuf=0``, ``queues=2``, ...), checked
here (name and value) before testpmd sees it; ``path`` is the target's. What the driver then
negotiates with our device is in the observation's notes (our device offers what it serves:
VIRTIO_F_RING_PACKED, so ``packed_vq=1`` runs the net.driver cases on a packed ring, whose
device validates every list the driver makes available; VIRTIO_F_IN_ORDER, which
virtio-user takes unless ``in_order=0``, and whose order our device is watched keeping;
VIRTIO_NET_F_MQ when ``queues=N`` asks for N > 1 pairs, the probes then spread over N flows
so that every pair carries frames). Through
:func:`make`, a missing ``dpdk-testpmd`` or a testpmd that exits at start is a one-line
:class:`~virtiospec.conformance.cases.TargetError`; a :class:`DpdkTarget` made directly skips
without testpmd (fails when ``CI=true``).
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

from virtiospec.conformance.cases import CaseSkipped, TargetError
from virtiospec.conformance.deviation_files import shipped
from virtiospec.conformance.suites.net.api import DriverObservation, Recorder, probe_frames
from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import Options, Session

TESTPMD = "dpdk-testpmd"
PROBES = 600
WINDOW = 32
TXONLY_SECONDS = 2.0
START_TIMEOUT = 30.0
USAGE = "dpdk[,DEVARG=VAL...] (net_virtio_user devargs, e.g. packed_vq=1,in_order=1)"
# net_virtio_user devargs of DPDK 22.11 a user may set, by the kind of value each takes
BOOLEAN = ("cq", "mrg_rxbuf", "in_order", "packed_vq", "vectorized")
DEVARGS = {**dict.fromkeys(BOOLEAN, "0 or 1"), "queues": "a count of queue pairs (1-8)",
           "queue_size": "a power of 2 (16-32768)", "speed": "a link speed in Mbps",
           "mac": "a MAC address (aa:bb:cc:dd:ee:ff)"}
RESERVED = ("path", "iface", "server")  # the target's: our device is the vhost-user server


def _valid(key: str, value: str) -> bool:
    if key in BOOLEAN:
        return value in ("0", "1")
    if key == "mac":
        parts = value.split(":")
        return len(parts) == 6 and all(len(p) == 2 and all(
            c in "0123456789abcdefABCDEF" for c in p) for p in parts)
    if not value.isdigit():
        return False
    n = int(value)
    if key == "queues":
        return 1 <= n <= 8
    if key == "queue_size":
        return 16 <= n <= 32768 and n & (n - 1) == 0
    return n > 0  # speed


def parse(arg: str) -> dict[str, str]:
    """``,DEVARG=VAL...`` -> the devargs in order; a clear error naming a bad one."""
    if arg and not arg.startswith(","):
        raise TargetError(f"the dpdk target takes devargs, not {arg!r}; usage: {USAGE}")
    devargs: dict[str, str] = {}
    for opt in arg.split(",")[1:]:
        key, sep, value = opt.partition("=")
        if not sep or not key or not value:
            raise TargetError(f"dpdk option {opt!r}: expected DEVARG=VAL; usage: {USAGE}")
        if key in RESERVED:
            raise TargetError(f"dpdk option {key}: set by the target itself "
                              f"({', '.join(RESERVED)} are)")
        if key not in DEVARGS:
            raise TargetError(f"dpdk option {key}: not a net_virtio_user devarg this target "
                              f"passes (known: {', '.join(sorted(DEVARGS))})")
        if not _valid(key, value):
            raise TargetError(f"dpdk option {key}={value}: expected {DEVARGS[key]}")
        if key in devargs:
            raise TargetError(f"dpdk option {key} given twice")
        devargs[key] = value
    return devargs


def virtio_user_vdev(sock: Path, devargs: dict[str, str]) -> str:
    merged = {"queues": "1", **devargs}
    return f"net_virtio_user0,path={sock}," + ",".join(f"{k}={v}" for k, v in merged.items())


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
                 interactive: bool = False, queues: int = 1) -> list[str]:
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
    if queues > 1:
        app += [f"--rxq={queues}", f"--txq={queues}"]
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


def _exited(pmd: Testpmd, what: str) -> None:
    """testpmd is gone before its rings came up: the peer cannot start (an error of the run)."""
    if pmd.alive():
        return
    lines = [ln.strip() for ln in pmd.output().splitlines() if ln.strip()]
    said = "; ".join(lines[-3:]) or "no output"
    raise TargetError(f"dpdk-testpmd ({what}) exited at start: {said}")


def _io_run(tmp: Path, obs: DriverObservation, devargs: dict[str, str]) -> None:
    wire = Recorder()
    sock = tmp / "io.sock"
    pairs = int(devargs.get("queues", "1"))
    with VhostUserServer(sock, Options(pairs=pairs, observe=True), wire) as server, \
            Testpmd(testpmd_args(virtio_user_vdev(sock, devargs), "io",
                                 f"vsio{os.getpid()}", queues=pairs), tmp / "io.log") as pmd:
        if not server.wait_for(lambda: rings_up(server, pairs), START_TIMEOUT):
            _exited(pmd, "io")
            obs.errors.append(f"testpmd io: rings not started within {START_TIMEOUT:.0f} s; "
                              f"alive={pmd.alive()}\n{pmd.output()[-1500:]}")
            obs.errors += server.errors
            return
        if not forwarding(server, wire, START_TIMEOUT):
            _exited(pmd, "io")
            obs.errors.append(f"testpmd io: forwarded nothing within {START_TIMEOUT:.0f} s\n"
                              f"{pmd.output()[-1500:]}")
            return
        wire.clear()
        obs.injected = probe_frames(b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02", PROBES, b"io",
                                    flows=4 * pairs if pairs > 1 else 1)
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


def _txonly_run(tmp: Path, obs: DriverObservation, devargs: dict[str, str]) -> None:
    wire = Recorder()
    sock = tmp / "tx.sock"
    pairs = int(devargs.get("queues", "1"))
    with VhostUserServer(sock, Options(pairs=pairs, observe=True), wire) as server, \
            Testpmd(testpmd_args(virtio_user_vdev(sock, devargs), "txonly",
                                 f"vstx{os.getpid()}", queues=pairs), tmp / "tx.log") as pmd:
        if not server.wait_for(lambda: rings_up(server, pairs), START_TIMEOUT):
            _exited(pmd, "txonly")
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


def run_session(devargs: dict[str, str] | None = None) -> DriverObservation:
    devargs = devargs or {}
    shown = ",".join(f"{k}={v}" for k, v in devargs.items())
    obs = DriverObservation("DPDK virtio-user (dpdk-testpmd)" + (f", {shown}" if shown else ""))
    obs.pairs_wanted = int(devargs.get("queues", "1"))
    obs.mq_traffic_required = obs.pairs_wanted > 1  # testpmd runs a stream on every queue
    with tempfile.TemporaryDirectory(prefix="virtiospec-dpdk-") as tmp:
        _io_run(Path(tmp), obs, devargs)
        _txonly_run(Path(tmp), obs, devargs)
    obs.notes.append(negotiated_note(obs.features, devargs))
    if obs.pairs_wanted > 1:
        obs.notes.append(f"queues={obs.pairs_wanted}: {obs.pairs_enabled} pairs enabled; "
                         f"frames received per pair {dict(sorted(obs.rx_pairs.items()))}, "
                         f"transmitted per pair {dict(sorted(obs.tx_pairs.items()))}")
    return obs


ASKED = {"packed_vq": ("VIRTIO_F_RING_PACKED", 34), "in_order": ("VIRTIO_F_IN_ORDER", 35),
         "mrg_rxbuf": ("VIRTIO_NET_F_MRG_RXBUF", 15), "queues": ("VIRTIO_NET_F_MQ", 22)}


def negotiated_note(features: int, devargs: dict[str, str]) -> str:
    """What the devargs asked for against what was negotiated with our device."""
    parts = []
    for key, (name, bit) in ASKED.items():
        if key in devargs:
            got = "negotiated" if features >> bit & 1 else "not negotiated"
            parts.append(f"{key}={devargs[key]}: {name} {got}")
    return "devargs: " + ("; ".join(parts) if parts else "defaults")


class DpdkTarget:
    name = "dpdk"
    sides = ("driver",)

    def __init__(self, devargs: dict[str, str] | None = None) -> None:
        self._obs: DriverObservation | None = None
        self.devargs = dict(devargs or {})
        self.options = self.devargs  # what a deviation file's ``options`` match
        self.deviations = shipped("dpdk")
        self.lacks = {"ring_packed_driver": "virtio-user runs in its own process and cannot be "
                      "stepped list by list; with packed_vq=1 its packed ring is checked by our "
                      "device (RING-PACKED-080 to RING-PACKED-085 on every list) in the "
                      "net.driver.* cases"} if self.devargs.get("packed_vq") == "1" else {}

    def net_driver_session(self) -> DriverObservation:
        if self._obs is None:
            try:
                require_testpmd()
            except ToolMissing as err:
                if os.environ.get("CI") == "true":
                    raise  # a missing peer in CI is a failure, not a skip
                raise CaseSkipped(str(err)) from None
            self._obs = run_session(self.devargs)
        return self._obs

    def notes(self) -> list[str]:
        """What the session saw besides verdicts (frames, what the devargs negotiated)."""
        return list(self._obs.notes) if self._obs is not None else []


def make(arg: str) -> DpdkTarget:
    """``dpdk`` or ``dpdk,packed_vq=1,in_order=1``: devargs checked, testpmd present."""
    devargs = parse(arg)
    try:
        require_testpmd()
    except ToolMissing as err:
        raise TargetError(str(err)) from None
    return DpdkTarget(devargs)
