"""A vhost-user back-end in its own process, watched: started, restarted, its death and its
stderr caught.

The peers, all from Debian packages (or our own back-end):

* ``net_vhost`` -- DPDK's ``dpdk-testpmd`` with the vhost PMD (``--vdev net_vhost0``), two
  queue pairs, ``io`` forwarding (package ``dpdk``);
* ``virtiofsd`` -- QEMU 7.2's C virtiofsd, ``/usr/lib/qemu/virtiofsd`` (``qemu-system-common``);
* ``qsd-blk`` -- ``qemu-storage-daemon --export type=vhost-user-blk`` over a null block device,
  two queues (``qemu-system-common``);
* ``reference`` / ``c`` -- virtiospec's own vhost-user net back-end with the Python device or
  the C fast path (:mod:`.vhost_user_own`);
* ``KIND@COMMAND`` -- any command line with ``{socket}`` where the socket path goes; KIND is
  ``net``, ``blk``, ``fs`` or ``any`` (device-independent cases only).

Nothing here waits without a bound; a peer that does not exit on SIGTERM is killed.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from virtiospec.conformance.cases import CaseSkipped, TargetError

VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
START_TIMEOUT = 30.0
KINDS = ("net", "blk", "fs", "any")


class PeerError(TargetError):
    """The peer could not be started (a one-line reason): an error of the run, no verdict."""


@dataclass(frozen=True)
class PeerSpec:
    name: str
    kind: str  # net, blk, fs, any
    argv: tuple[str, ...]  # with "{socket}" and "{dir}" placeholders
    vrings: int  # how many vrings the case sets up
    hostile: int  # the vring the ring-level cases attack
    probe: int | None  # another vring for a good request after the case (None: none)
    busy_polls: bool = False  # a poll-mode peer: its CPU time says nothing about spinning
    one_session: bool = False  # exits when the front-end hangs up: restart for every case
    package: str = ""


def _own(device: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "virtiospec.conformance.vhost_user.own", "--socket",
            "{socket}", "--device", device)


def testpmd_argv(prefix: str) -> tuple[str, ...]:
    line = ("stdbuf", "-oL") if shutil.which("stdbuf") else ()
    return (*line, "dpdk-testpmd", "--no-huge", "-m", "256", "--no-pci",
            f"--file-prefix={prefix}", "-l", "0,1", "--log-level=lib.eal:error",
            "--vdev", "net_vhost0,iface={socket},queues=2", "--",
            "--total-num-mbufs=2048", "--forward-mode=io", "--rxq=2", "--txq=2",
            "--nb-cores=1", "--auto-start")


PEERS: dict[str, PeerSpec] = {
    "net_vhost": PeerSpec("net_vhost", "net", testpmd_argv(f"vsvu{os.getpid()}"), 4, 1, 3,
                          busy_polls=True, package="dpdk"),
    "virtiofsd": PeerSpec("virtiofsd", "fs", (VIRTIOFSD, "--socket-path={socket}",
                                               "-o", "source={dir}", "-o", "cache=none",
                                               "-o", "sandbox=chroot", "-o", "log_level=warn"),
                          2, 1, None, one_session=True, package="qemu-system-common"),
    "qsd-blk": PeerSpec("qsd-blk", "blk", (
        "qemu-storage-daemon", "--blockdev",
        "driver=null-co,node-name=disk0,size=1048576,read-zeroes=on", "--export",
        "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path={socket},"
        "writable=on,num-queues=2"), 2, 0, 1, package="qemu-system-common"),
    "reference": PeerSpec("reference", "net", _own("python"), 2, 1, None),
    "c": PeerSpec("c", "net", _own("c"), 2, 1, None),
}


def parse(arg: str) -> PeerSpec:
    """``net_vhost``, ``virtiofsd``, ``qsd-blk``, ``reference``, ``c`` or ``KIND@COMMAND``."""
    if arg in PEERS:
        return PEERS[arg]
    kind, at, command = arg.partition("@")
    if not at:
        kind, command = "any", arg
    if kind not in KINDS:
        raise ValueError(f"vhost-user peer kind {kind!r}: one of {', '.join(KINDS)}")
    argv = tuple(shlex.split(command))
    if not argv or not any("{socket}" in a for a in argv):
        raise ValueError(f"vhost-user:{arg}: one of {', '.join(PEERS)}, or a command line "
                         "with {socket} where the back-end's socket path goes")
    probe = {"net": 3, "blk": 1, "fs": None, "any": None}[kind]
    vrings = {"net": 4, "blk": 2, "fs": 2, "any": 2}[kind]
    hostile = {"net": 1, "blk": 0, "fs": 1, "any": 0}[kind]
    return PeerSpec(f"cmd:{argv[0]}", kind, argv, vrings, hostile, probe)


@dataclass
class Death:
    """How the peer ended: exit status (negative: the signal) and the tail of its output."""

    status: int
    tail: str

    def __str__(self) -> str:
        how = (f"was killed by signal {signal.Signals(-self.status).name}" if self.status < 0
               else f"exited with status {self.status}")
        return f"the peer {how}; its output ends:\n{self.tail}"


class Peer:
    """One running back-end; :meth:`ensure` (re)starts it, :meth:`stop` ends it."""

    def __init__(self, spec: PeerSpec) -> None:
        self.spec = spec
        self.tmp = Path(tempfile.mkdtemp(prefix="virtiospec-vu-"))
        self.socket = str(self.tmp / "vhost.sock")
        self.share = self.tmp / "share"
        self.share.mkdir()
        (self.share / "hello").write_text("virtiospec\n")
        self.log = self.tmp / "peer.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log_at = 0

    def argv(self) -> list[str]:
        return [a.replace("{socket}", self.socket).replace("{dir}", str(self.share))
                for a in self.spec.argv]

    def require(self) -> None:
        exe = self.spec.argv[2] if self.spec.argv[0] == "stdbuf" else self.spec.argv[0]
        if shutil.which(exe) is None and not os.access(exe, os.X_OK):
            why = f"{exe} not found" + (f": apt-get install {self.spec.package}"
                                        if self.spec.package else "")
            if os.environ.get("CI") == "true":
                raise PeerError(why)  # a missing peer in CI is a failure, not a skip
            raise CaseSkipped(why)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure(self) -> None:
        """Start the peer if it is not running, and wait for its socket."""
        if self.alive():
            return
        self.require()
        self.stop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket)
        with open(self.log, "ab") as out:
            self._log_at = out.tell()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.PIPE, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if os.path.exists(self.socket):
                return
            if not self.alive():
                raise PeerError(f"{self.spec.name} did not start: {self.death()}")
            time.sleep(0.02)
        self.stop()
        raise PeerError(f"{self.spec.name}: no socket {self.socket} within {START_TIMEOUT} s")

    def death(self) -> Death | None:
        """How the peer ended, or None while it runs."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return Death(self.proc.returncode, self.tail())

    def tail(self, lines: int = 12) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(self._log_at)
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def running_threads(self) -> set[str]:
        """The peer's threads that are running or runnable (state R) right now."""
        if not self.alive():
            return set()
        assert self.proc is not None
        out: set[str] = set()
        try:
            tasks = os.listdir(f"/proc/{self.proc.pid}/task")
        except OSError:
            return out
        for tid in tasks:
            try:
                stat = Path(f"/proc/{self.proc.pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[0] == "R":
                out.add(tid)
        return out

    def spinning(self, window: float = 0.5, samples: int = 10) -> bool:
        """One thread running or runnable in 80 % of ``samples`` over ``window``, and again
        over a window four times as long, while the peer has nothing to do (never said of a
        poll-mode peer). Thread states, not CPU time: on a loaded machine a spinning thread
        gets little CPU but is always runnable."""
        if self.spec.busy_polls:
            return False
        busy = self._runnable(window, samples)
        if not busy:
            return False
        # a thread with real work that waits for a CPU on a loaded machine is runnable too,
        # until it gets one: the same thread must still be so over a window four times longer
        return bool(busy & self._runnable(4 * window, 4 * samples))

    def _runnable(self, window: float, samples: int) -> set[str]:
        """The threads running or runnable in 80 % of ``samples`` over ``window``."""
        seen: dict[str, int] = {}
        for _ in range(samples):
            for tid in self.running_threads():
                seen[tid] = seen.get(tid, 0) + 1
            time.sleep(window / samples)
        return {tid for tid, n in seen.items() if n >= 0.8 * samples}

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        self.proc = None

    def kill(self) -> None:
        """A wedged peer: SIGKILL at once."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.stop()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
