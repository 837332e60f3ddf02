"""The cpio "newc" format the kernel unpacks an initramfs from, written from scratch."""

from __future__ import annotations

import stat
from dataclasses import dataclass

MAGIC = b"070701"


@dataclass(frozen=True)
class Entry:
    name: str
    mode: int
    data: bytes = b""


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _header(ino: int, e: Entry) -> bytes:
    name = e.name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(e.mode) else 1
    fields = [ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, 0, 0, len(name), 0]
    head = MAGIC + b"".join(f"{v:08X}".encode() for v in fields)
    return head + name + _pad(len(head) + len(name))


def archive(entries: list[Entry]) -> bytes:
    """An archive of ``entries`` in order, with the trailer."""
    out = bytearray()
    for ino, e in enumerate(entries, start=1):
        out += _header(ino, e) + e.data + _pad(len(e.data))
    out += _header(0, Entry("TRAILER!!!", 0))
    return bytes(out)


def directory(name: str) -> Entry:
    return Entry(name, stat.S_IFDIR | 0o755)


def file(name: str, data: bytes, mode: int = 0o644) -> Entry:
    return Entry(name, stat.S_IFREG | mode, data)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, stat.S_IFLNK | 0o777, target.encode())


def parse(data: bytes) -> list[Entry]:
    """Read an archive back (used by the tests)."""
    out: list[Entry] = []
    at = 0
    while True:
        if data[at:at + 6] != MAGIC:
            raise ValueError(f"bad magic at {at}")
        fields = [int(data[at + 6 + 8 * i: at + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        at += 110
        name = data[at:at + namesize - 1].decode()
        at += namesize + (-(110 + namesize) % 4)
        body = data[at:at + size]
        at += size + (-size % 4)
        if name == "TRAILER!!!":
            return out
        out.append(Entry(name, mode, body))
