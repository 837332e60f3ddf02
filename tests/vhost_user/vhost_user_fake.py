"""A deliberately bad vhost-user back-end for tests/vhost_user/test_vhost_user_target.py:
``python vhost_user_fake.py SOCKET crash|hang|spin``. It negotiates honestly (VERSION_1,
PROTOCOL_FEATURES, REPLY_ACK), then on the first kick dies of SIGSEGV (``crash``), stops
answering and spins (``hang``), or goes on answering with a thread burning a core (``spin``):
what the vhost-user target must catch."""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading

from virtiospec.reference.vhost_user import messages as M

FEATURES = 1 << 32 | 1 << M.F_PROTOCOL_FEATURES


def _burn() -> None:
    while True:
        pass


def serve(path: str, mode: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    while True:
        conn, _ = listener.accept()
        kicks: list[int] = []
        while True:
            ready, _, _ = select.select([conn.fileno(), *kicks], [], [])
            if any(fd in kicks for fd in ready):
                if mode == "crash":
                    os.kill(os.getpid(), signal.SIGSEGV)
                if mode == "spin":  # keeps answering, with a thread burning a core
                    threading.Thread(target=_burn, daemon=True).start()
                    kicks = []  # no more kicks watched: the burner is started once
                    continue
                while True:  # hang: busy, never answering again
                    pass
            try:
                msg = M.receive(conn)
            except (EOFError, ConnectionError, M.ProtocolError):
                break
            if msg.request == M.Req.SET_VRING_KICK:
                kicks += msg.fds
                msg.fds = []
            M._close(msg.fds)
            if msg.request == M.Req.GET_FEATURES:
                M.reply(conn, msg.request, M.U64.pack(FEATURES))
            elif msg.request == M.Req.GET_PROTOCOL_FEATURES:
                M.reply(conn, msg.request, M.U64.pack(1 << M.PROTOCOL_F_REPLY_ACK))
            elif msg.request == M.Req.GET_VRING_BASE:
                M.reply(conn, msg.request, M.STATE.pack(0, 0))
            elif msg.need_reply:
                M.reply(conn, msg.request, M.U64.pack(0))
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
