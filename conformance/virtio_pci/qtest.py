"""A client of QEMU's qtest text protocol, written from the protocol's documentation.

QEMU started with ``-qtest unix:PATH`` connects to a Unix socket that we listen on. Each
command is one line; QEMU answers one line starting with ``OK`` (maybe followed by a value),
``FAIL`` or ``ERR``. Lines starting with ``IRQ`` are asynchronous interrupt events (after
``irq_intercept_in``) and are collected, not taken as answers. Every read from the socket is
bounded by a timeout, so a QEMU that stops answering raises :class:`QtestTimeout` instead of
hanging the caller.

:class:`QtestHost` puts the client behind the :class:`~virtiospec.reference.pci.Host`
protocol, so the reference driver runs unchanged on QEMU: port I/O becomes ``in*``/``out*``,
memory accesses (RAM and MMIO alike) ``read*``/``write*``, bulk copies ``b64read``/``b64write``.
"""

from __future__ import annotations

import base64
import socket
import time

READ = {1: "readb", 2: "readw", 4: "readl", 8: "readq"}
WRITE = {1: "writeb", 2: "writew", 4: "writel", 8: "writeq"}
IN = {1: "inb", 2: "inw", 4: "inl"}
OUT = {1: "outb", 2: "outw", 4: "outl"}
CHUNK = 1 << 16  # bytes per b64read/b64write command


class QtestError(Exception):
    """QEMU answered FAIL or ERR, or something that is not an answer."""


class QtestTimeout(QtestError):
    """QEMU did not answer within the timeout."""


def listen(path: str) -> socket.socket:
    """A Unix socket listening at ``path`` for QEMU to connect to."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    return server


def accept(server: socket.socket, timeout: float) -> socket.socket:
    server.settimeout(timeout)
    try:
        conn, _ = server.accept()
    except TimeoutError:
        raise QtestTimeout(f"QEMU did not connect within {timeout:g} s") from None
    return conn


class Qtest:
    def __init__(self, conn: socket.socket, timeout: float = 5.0) -> None:
        self.conn = conn
        self.timeout = timeout
        self.buffer = b""
        self.irqs: list[tuple[str, int]] = []  # ("raise" | "lower", line)
        self.commands = 0

    def close(self) -> None:
        self.conn.close()

    def _line(self, deadline: float) -> str:
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QtestTimeout(f"no answer from QEMU within {self.timeout:g} s")
            self.conn.settimeout(left)
            try:
                chunk = self.conn.recv(1 << 16)
            except TimeoutError:
                raise QtestTimeout(f"no answer from QEMU within {self.timeout:g} s") from None
            if not chunk:
                raise QtestError("QEMU closed the qtest connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("ascii", errors="replace").strip()

    def command(self, text: str) -> list[str]:
        """Send one command; the words of QEMU's answer after ``OK``."""
        self.commands += 1
        self.conn.sendall(text.encode("ascii") + b"\n")
        deadline = time.monotonic() + self.timeout
        while True:
            line = self._line(deadline)
            words = line.split()
            if words and words[0] == "IRQ" and len(words) == 3:
                self.irqs.append((words[1], int(words[2])))
                continue
            if words and words[0] == "OK":
                return words[1:]
            raise QtestError(f"{text!r}: QEMU answered {line!r}")

    def _value(self, text: str) -> int:
        words = self.command(text)
        if not words:
            raise QtestError(f"{text!r}: QEMU answered OK without a value")
        return int(words[0], 16)

    # -- port I/O -------------------------------------------------------------------------
    def port_in(self, port: int, size: int) -> int:
        return self._value(f"{IN[size]} {port:#x}")

    def port_out(self, port: int, size: int, value: int) -> None:
        self.command(f"{OUT[size]} {port:#x} {value:#x}")

    # -- memory ---------------------------------------------------------------------------
    def mem_read(self, addr: int, size: int) -> int:
        return self._value(f"{READ[size]} {addr:#x}")

    def mem_write(self, addr: int, size: int, value: int) -> None:
        self.command(f"{WRITE[size]} {addr:#x} {value:#x}")

    def read_bytes(self, addr: int, length: int) -> bytes:
        out = bytearray()
        for at in range(0, length, CHUNK):
            n = min(CHUNK, length - at)
            words = self.command(f"b64read {addr + at:#x} {n:#x}")
            out += base64.b64decode(words[0]) if words else b""
        if len(out) != length:
            raise QtestError(f"b64read of {length} bytes returned {len(out)}")
        return bytes(out)

    def write_bytes(self, addr: int, data: bytes) -> None:
        for at in range(0, len(data), CHUNK):
            piece = data[at:at + CHUNK]
            encoded = base64.b64encode(piece).decode("ascii")
            self.command(f"b64write {addr + at:#x} {len(piece):#x} {encoded}")

    def memset(self, addr: int, length: int, value: int) -> None:
        self.command(f"memset {addr:#x} {length:#x} {value:#x}")

    def irq_intercept_in(self, qom_path: str) -> None:
        self.command(f"irq_intercept_in {qom_path}")

    def endianness(self) -> str:
        words = self.command("endianness")
        return words[0] if words else ""


class QtestHost:
    """The :class:`~virtiospec.reference.pci.Host` protocol over a qtest connection."""

    def __init__(self, qtest: Qtest) -> None:
        self.qtest = qtest

    def io_read(self, port: int, size: int) -> int:
        return self.qtest.port_in(port, size)

    def io_write(self, port: int, size: int, value: int) -> None:
        self.qtest.port_out(port, size, value)

    def mem_read(self, addr: int, size: int) -> int:
        return self.qtest.mem_read(addr, size)

    def mem_write(self, addr: int, size: int, value: int) -> None:
        self.qtest.mem_write(addr, size, value)

    def read_bytes(self, addr: int, length: int) -> bytes:
        return self.qtest.read_bytes(addr, length)

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.qtest.write_bytes(addr, data)
