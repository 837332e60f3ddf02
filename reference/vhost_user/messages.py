"""vhost-user messages (VHOST-USER-001): header, payloads, and their transfer over a Unix
socket with file descriptors as SCM_RIGHTS ancillary data. All numbers are native-endian
(little-endian on the machines this runs on)."""

from __future__ import annotations

import contextlib
import socket
import struct
from dataclasses import dataclass, field
from enum import IntEnum


class Req(IntEnum):
    GET_FEATURES = 1
    SET_FEATURES = 2
    SET_OWNER = 3
    RESET_OWNER = 4
    SET_MEM_TABLE = 5
    SET_LOG_BASE = 6
    SET_LOG_FD = 7
    SET_VRING_NUM = 8
    SET_VRING_ADDR = 9
    SET_VRING_BASE = 10
    GET_VRING_BASE = 11
    SET_VRING_KICK = 12
    SET_VRING_CALL = 13
    SET_VRING_ERR = 14
    GET_PROTOCOL_FEATURES = 15
    SET_PROTOCOL_FEATURES = 16
    GET_QUEUE_NUM = 17
    SET_VRING_ENABLE = 18
    SEND_RARP = 19
    NET_SET_MTU = 20
    SET_BACKEND_REQ_FD = 21
    IOTLB_MSG = 22
    SET_VRING_ENDIAN = 23
    GET_CONFIG = 24
    SET_CONFIG = 25
    GET_MAX_MEM_SLOTS = 36
    ADD_MEM_REG = 37
    REM_MEM_REG = 38
    SET_STATUS = 39
    GET_STATUS = 40


VERSION = 0x1
FLAG_REPLY = 0x4
FLAG_NEED_REPLY = 0x8
VERSION_MASK = 0x3

F_PROTOCOL_FEATURES = 30  # the virtio feature bit vhost-user reuses (VHOST-USER-004)

PROTOCOL_F_MQ = 0
PROTOCOL_F_LOG_SHMFD = 1
PROTOCOL_F_RARP = 2
PROTOCOL_F_REPLY_ACK = 3
PROTOCOL_F_MTU = 4
PROTOCOL_F_CONFIG = 9
PROTOCOL_F_RESET_DEVICE = 13
PROTOCOL_F_STATUS = 16

VRING_IDX_MASK = 0xFF
VRING_NOFD = 1 << 8

HEADER = struct.Struct("=III")
U64 = struct.Struct("=Q")
STATE = struct.Struct("=II")
ADDR = struct.Struct("=IIQQQQ")  # index, flags, desc, used, avail, log
REGION = struct.Struct("=QQQQ")  # guest_addr, size, user_addr, mmap_offset
MAX_REGIONS = 8
MAX_FDS = 8

# payload sizes the back-end insists on (VHOST-USER-001); None: any size accepted
PAYLOAD: dict[int, int | None] = {
    Req.GET_FEATURES: 0, Req.SET_FEATURES: 8, Req.SET_OWNER: 0, Req.RESET_OWNER: 0,
    Req.SET_VRING_NUM: 8, Req.SET_VRING_ADDR: ADDR.size, Req.SET_VRING_BASE: 8,
    Req.GET_VRING_BASE: 8, Req.SET_VRING_KICK: 8, Req.SET_VRING_CALL: 8,
    Req.SET_VRING_ERR: 8, Req.GET_PROTOCOL_FEATURES: 0, Req.SET_PROTOCOL_FEATURES: 8,
    Req.GET_QUEUE_NUM: 0, Req.SET_VRING_ENABLE: 8,
}


class ProtocolError(Exception):
    """The front-end broke the message format (VHOST-USER-001); the connection is closed."""

    req = "VHOST-USER-001"


def name(request: int) -> str:
    try:
        return Req(request).name
    except ValueError:
        return f"REQUEST_{request}"


@dataclass
class Message:
    request: int
    flags: int = VERSION
    payload: bytes = b""
    fds: list[int] = field(default_factory=list)

    @property
    def need_reply(self) -> bool:
        return bool(self.flags & FLAG_NEED_REPLY)

    def u64(self) -> int:
        return int(U64.unpack_from(self.payload)[0])

    def state(self) -> tuple[int, int]:
        index, num = STATE.unpack_from(self.payload)
        return int(index), int(num)

    def __str__(self) -> str:
        return f"{name(self.request)}({len(self.payload)} bytes, {len(self.fds)} fds)"


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("the front-end closed the connection")
        buf += chunk
    return bytes(buf)


def receive(sock: socket.socket) -> Message:
    """Read one message, with the file descriptors that came with it."""
    data, fds, _, _ = socket.recv_fds(sock, HEADER.size, MAX_FDS)
    if not data:
        raise EOFError("the front-end closed the connection")
    if len(data) < HEADER.size:
        data += _recv_exact(sock, HEADER.size - len(data))
    request, flags, size = HEADER.unpack(data)
    msg = Message(request, flags, b"", list(fds))
    if flags & VERSION_MASK != VERSION:
        _close(msg.fds)
        raise ProtocolError(f"{name(request)}: version {flags & VERSION_MASK}, expected 1")
    if size > 4096:
        _close(msg.fds)
        raise ProtocolError(f"{name(request)}: a payload of {size} bytes")
    msg.payload = _recv_exact(sock, size) if size else b""
    expected = PAYLOAD.get(request)
    if expected is not None and size != expected:
        _close(msg.fds)
        raise ProtocolError(f"{name(request)}: payload of {size} bytes, expected {expected}")
    return msg


def _close(fds: list[int]) -> None:
    import os

    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()


def reply(sock: socket.socket, request: int, payload: bytes) -> None:
    """Send the back-end's reply to ``request`` (VHOST-USER-002)."""
    sock.sendall(HEADER.pack(request, VERSION | FLAG_REPLY, len(payload)) + payload)


def send(sock: socket.socket, request: int, payload: bytes = b"", fds: list[int] | None = None,
         need_reply: bool = False) -> None:
    """Send a front-end message (the tests play the front-end)."""
    flags = VERSION | (FLAG_NEED_REPLY if need_reply else 0)
    data = HEADER.pack(request, flags, len(payload)) + payload
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def read_reply(sock: socket.socket, request: int) -> bytes:
    """Read the back-end's reply to ``request`` (the tests play the front-end)."""
    req, flags, size = HEADER.unpack(_recv_exact(sock, HEADER.size))
    if req != request or not flags & FLAG_REPLY:
        raise ProtocolError(f"expected a reply to {name(request)}, got {name(req)} "
                            f"flags {flags:#x}")
    return _recv_exact(sock, size)
