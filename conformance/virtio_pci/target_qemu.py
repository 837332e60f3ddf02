"""The ``qemu`` target: QEMU's own virtio-net-pci, driven by our driver through qtest.

Each session starts a fresh ``qemu-system-x86_64 -machine q35`` with no firmware to speak of
(a 64 KiB image generated here whose reset vector only halts, so the CPU idles while the
devices stay live), a non-transitional ``virtio-net-pci`` and a ``socket`` netdev tunnelled
over UDP to a socket this process owns. The qtest and QMP character devices connect back to
Unix sockets we listen on. The suite's driver then sees only what a guest would: config
cycles through 0xCF8/0xCFC, MMIO on the BARs it assigns, guest RAM.

Debian's QEMU has no qtest accelerator (``-accel qtest`` is refused), so QEMU runs TCG and the
virtual clock cannot be stepped: every wait for the device is a bounded poll of guest memory.
The QEMU process is always killed: by the session's ``close`` (a context manager), and at
interpreter exit for any session left behind.

Target spec ``qemu[:BINARY][,PROP=VAL...]``: each ``PROP=VAL`` is a ``virtio-net-pci``
property in QEMU's own words (``packed=on``, ``event_idx=off``, ``indirect_desc=off``,
``mrg_rxbuf=off``, ``mq=on,vectors=8``, ``ctrl_vq=off``), checked against the binary's own
``-device virtio-net-pci,help``; :func:`make` starts QEMU once with them, so a binary that is
not QEMU, a property it does not have or a value it refuses is a one-line
:class:`~virtiospec.conformance.cases.TargetError`, never a verdict. Cases that need what the
configuration does not offer SKIP saying so. ``VIRTIOSPEC_QEMU`` names another binary.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any

from virtiospec.conformance.cases import CaseSkipped, TargetError
from virtiospec.conformance.deviation_files import shipped
from virtiospec.conformance.virtio_pci.qtest import Qtest, QtestError, QtestHost, accept, listen
from virtiospec.reference.pci.host import Host

QEMU_ENV = "VIRTIOSPEC_QEMU"
DEFAULT_BINARY = "qemu-system-x86_64"
MAC = bytes.fromhex("525400123456")
RAM_MB = 64
RAM_WINDOW = (0x0010_0000, (RAM_MB << 20) - 0x0010_0000)  # above the first MiB
MMIO_WINDOW = (0xE000_0000, 0x1000_0000)  # below the IOAPIC, inside q35's PCI hole
DEVICE_SLOT = 4
START_TIMEOUT = 10.0
COMMAND_TIMEOUT = 5.0
FIRMWARE_SIZE = 64 << 10
USAGE = "qemu[:BINARY][,PROP=VAL...] (PROP: a virtio-net-pci property, e.g. packed=on)"
RESERVED = ("netdev", "disable-legacy", "disable-modern", "romfile", "addr", "mac")
PACKED_NOTES = {
    "ring_packed_device": "QEMU's device pops and uses buffers by itself, so it cannot be "
                          "stepped buffer by buffer; its packed ring is checked through "
                          "traffic by the pci.packed.* cases",
    "ring_packed_driver": "QEMU is a device here, not a driver"}

_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


def _kill_all() -> None:
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        _stop(proc)


atexit.register(_kill_all)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    with _live_lock:
        _live.discard(proc)


def qemu_binary(explicit: str | None = None) -> str | None:
    name = explicit or os.environ.get(QEMU_ENV) or DEFAULT_BINARY
    return shutil.which(name)


def qemu_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10,
                         check=False).stdout
    return out.splitlines()[0].strip() if out else "unknown"


def halting_firmware() -> bytes:
    """64 KiB mapped below 4 GiB; at the reset vector (offset 0xFFF0): cli; hlt; jmp hlt."""
    image = bytearray(b"\xff" * FIRMWARE_SIZE)
    image[0xFFF0:0xFFF4] = bytes([0xFA, 0xF4, 0xEB, 0xFD])
    return bytes(image)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Qmp:
    """Just enough QMP: the greeting, ``qmp_capabilities``, and commands with answers."""

    def __init__(self, conn: socket.socket, timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout
        self.buffer = b""
        self._message()  # greeting
        self.execute("qmp_capabilities")

    def _message(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QtestError("no QMP message within the timeout")
            self.conn.settimeout(left)
            try:
                chunk = self.conn.recv(1 << 16)
            except TimeoutError:
                raise QtestError("no QMP message within the timeout") from None
            if not chunk:
                raise QtestError("QEMU closed the QMP connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    def execute(self, command: str, **arguments: Any) -> Any:
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.conn.sendall(json.dumps(request).encode() + b"\n")
        while True:
            message = self._message()
            if "return" in message:
                return message["return"]
            if "error" in message:
                raise QtestError(f"QMP {command}: {message['error']}")
            # an event: skip it

    def close(self) -> None:
        self.conn.close()


class QemuSession:
    """One running QEMU with a virtio-net-pci; a :class:`PciSession` of the pci suite."""

    name = "qemu"
    ram = RAM_WINDOW
    mmio = MMIO_WINDOW
    mac = MAC

    def __init__(self, binary: str, device_options: str = "") -> None:
        self.binary = binary
        self.device_options = device_options
        self.proc: subprocess.Popen[bytes] | None = None
        self.qtest: Qtest | None = None
        self.qmp: Qmp | None = None
        self.dir = ""
        self.udp: socket.socket | None = None
        self.qemu_port = 0
        self.log_path = ""
        self.started = 0.0

    def __enter__(self) -> QemuSession:
        try:
            self.start()
        except (QtestError, OSError) as err:  # the peer cannot start: an error of the run
            said = _last_error(self.log()) if self.log() else str(err)
            self.close()
            raise TargetError(f"QEMU did not start: {said}") from None
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def argv(self, qtest_path: str, qmp_path: str, firmware: str) -> list[str]:
        assert self.udp is not None
        our_port = self.udp.getsockname()[1]
        device = (f"virtio-net-pci,netdev=n0,disable-legacy=on,romfile=,"
                  f"addr={DEVICE_SLOT:02x}.0,mac={':'.join(f'{b:02x}' for b in MAC)}")
        if self.device_options:
            device += "," + self.device_options
        return [self.binary, "-machine", "q35", "-display", "none", "-nodefaults",
                "-m", f"{RAM_MB}M", "-bios", firmware,
                "-qtest", f"unix:{qtest_path}", "-qtest-log", "/dev/null",
                "-qmp", f"unix:{qmp_path}",
                "-netdev", f"socket,id=n0,udp=127.0.0.1:{our_port},"
                           f"localaddr=127.0.0.1:{self.qemu_port}",
                "-device", device]

    def start(self, attempts: int = 3) -> None:
        """Start QEMU and connect qtest and QMP; resources are released by :meth:`close`."""
        self.dir = tempfile.mkdtemp(prefix="virtiospec-qemu-")
        self.log_path = os.path.join(self.dir, "qemu.log")
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        firmware = os.path.join(self.dir, "halt.bin")
        with open(firmware, "wb") as f:
            f.write(halting_firmware())
        for attempt in range(attempts):
            qtest_path = os.path.join(self.dir, f"qtest{attempt}.sock")
            qmp_path = os.path.join(self.dir, f"qmp{attempt}.sock")
            qtest_server, qmp_server = listen(qtest_path), listen(qmp_path)
            self.qemu_port = _free_udp_port()
            try:
                with open(self.log_path, "wb") as log:
                    self.proc = subprocess.Popen(
                        self.argv(qtest_path, qmp_path, firmware), stdin=subprocess.DEVNULL,
                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                with _live_lock:
                    _live.add(self.proc)
                self.started = time.monotonic()
                conn = self._accept(qtest_server)
                if conn is None:  # QEMU exited: most likely the UDP port was taken meanwhile
                    _stop(self.proc)
                    continue
                self.qtest = Qtest(conn, COMMAND_TIMEOUT)
                qmp_conn = self._accept(qmp_server)
                if qmp_conn is None:
                    raise QtestError(f"QEMU did not connect QMP: {self.log()}")
                self.qmp = Qmp(qmp_conn, COMMAND_TIMEOUT)
                return
            finally:
                qtest_server.close()
                qmp_server.close()
        raise QtestError(f"QEMU did not start in {attempts} attempts: {self.log()}")

    def _accept(self, server: socket.socket) -> socket.socket | None:
        deadline = time.monotonic() + START_TIMEOUT
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return None
            try:
                return accept(server, 0.1)
            except QtestError:
                continue
        raise QtestError(f"QEMU did not connect within {START_TIMEOUT:g} s: {self.log()}")

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read().strip()[-2000:]
        except OSError:
            return ""

    def close(self) -> None:
        for closer in (self.qtest, self.qmp):
            if closer is not None:
                closer.close()
        self.qtest = self.qmp = None
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None
        if self.udp is not None:
            self.udp.close()
            self.udp = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""

    # -- what the suite uses ------------------------------------------------------------
    @property
    def host(self) -> Host:
        assert self.qtest is not None, "session not started"
        return QtestHost(self.qtest)

    def inject(self, frame: bytes) -> None:
        """A frame from the network towards the device (the driver receives it)."""
        assert self.udp is not None, "session not started"
        self.udp.sendto(frame, ("127.0.0.1", self.qemu_port))

    def capture(self, timeout: float) -> bytes | None:
        """The next frame the device transmitted, or None after ``timeout`` seconds."""
        assert self.udp is not None, "session not started"
        self.udp.settimeout(timeout)
        try:
            data, _ = self.udp.recvfrom(1 << 16)
        except TimeoutError:
            return None
        return data

    def set_link(self, up: bool) -> None:
        assert self.qmp is not None
        self.qmp.execute("set_link", name="n0", up=up)

    def status(self) -> str:
        assert self.qmp is not None
        return str(self.qmp.execute("query-status").get("status"))


def device_properties(binary: str) -> set[str]:
    """The property names of ``virtio-net-pci`` in this binary (``-device ...,help``)."""
    out = subprocess.run([binary, "-device", "virtio-net-pci,help"], capture_output=True,
                         text=True, timeout=20, check=False).stdout
    return {m.split("=", 1)[0].strip() for m in out.splitlines()[1:] if "=" in m}


def parse(arg: str) -> tuple[str | None, dict[str, str]]:
    """``[BINARY][,PROP=VAL...]`` -> (BINARY or None, properties in order)."""
    head, *opts = arg.split(",")
    props: dict[str, str] = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep or not key or not value:
            raise TargetError(f"qemu option {opt!r}: expected PROP=VAL; usage: {USAGE}")
        if key in RESERVED:
            raise TargetError(f"qemu option {key}: set by the target itself "
                              f"({', '.join(RESERVED)} are)")
        if key in props:
            raise TargetError(f"qemu option {key} given twice")
        props[key] = value
    return head or None, props


def _last_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


class QemuTarget:
    name = "qemu"
    sides = ("device",)

    def __init__(self, binary: str | None = None, props: dict[str, str] | None = None) -> None:
        self.requested = binary
        self.binary = qemu_binary(binary)
        self.version = qemu_version(self.binary) if self.binary else None
        self.props = dict(props or {})
        self.device_options = ",".join(f"{k}={v}" for k, v in self.props.items())
        self.options = self.props  # what a deviation file's ``options`` match
        self.deviations = shipped("qemu")
        self.lacks: dict[str, str] = {}
        if self.props.get("packed") in ("on", "true", "yes"):
            self.lacks.update(PACKED_NOTES)

    def notes(self) -> list[str]:
        shown = f"virtio-net-pci,{self.device_options}" if self.device_options else ""
        return ([f"{self.version}; {shown}"] if shown else []) + sorted(set(self.lacks.values()))

    def check(self) -> None:
        """Refuse what cannot run, in one line: a binary that is missing or is not QEMU, a
        property this QEMU's virtio-net-pci does not have, a value it refuses."""
        name = self.requested or os.environ.get(QEMU_ENV) or DEFAULT_BINARY
        if self.binary is None:
            raise TargetError(f"{name}: no such executable" if self.requested else
                              f"{name} not found (apt-get install qemu-system-x86; or set "
                              f"{QEMU_ENV})")
        try:
            proc = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                                  timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise TargetError(f"{self.binary}: cannot run it ({err})") from None
        first = (proc.stdout.strip().splitlines() or ["nothing"])[0]
        if "QEMU emulator version" not in first:
            raise TargetError(f"{self.binary} is not QEMU: --version printed {first!r} "
                              f"(exit status {proc.returncode})")
        known = device_properties(self.binary)
        for key in self.props:
            if key not in known:
                raise TargetError(f"qemu option {key}: {self.binary}'s virtio-net-pci has no "
                                  f"property {key!r} (see {self.binary} -device "
                                  "virtio-net-pci,help)")
        try:
            with QemuSession(self.binary, self.device_options):
                pass
        except TargetError as err:
            where = f" with {self.device_options}" if self.device_options else ""
            raise TargetError(f"QEMU does not start{where}: "
                              f"{str(err).removeprefix('QEMU did not start: ')}") from None

    def pci_session(self) -> QemuSession:
        if self.binary is None:
            raise CaseSkipped(f"{self.requested or os.environ.get(QEMU_ENV) or DEFAULT_BINARY} "
                              f"is not installed (Debian package qemu-system-x86; "
                              f"or set {QEMU_ENV})")
        return QemuSession(self.binary, self.device_options)


def make(arg: str) -> QemuTarget:
    """``qemu``, ``qemu:/path/to/qemu-system-x86_64``, ``qemu,packed=on,event_idx=off``."""
    binary, props = parse(arg)
    target = QemuTarget(binary, props)
    target.check()
    return target
