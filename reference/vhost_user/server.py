"""The vhost-user back-end on a Unix socket: one loop thread that accepts a front-end, reads
its messages, waits on the kick eventfds and runs the device.

Use it as a context manager; it is stopped, its thread joined and every descriptor closed on
exit. Frames the driver transmits go to ``on_transmit(session, pair, frame)`` on the loop
thread (which may answer with ``session.inject``); other threads hand frames in with
:meth:`VhostUserServer.inject`.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.session import Options, Session, Transmit

IDLE_TIMEOUT_MS = 50


class VhostUserServer:
    def __init__(self, path: str | Path, options: Options | None = None,
                 on_transmit: Transmit | None = None, *,
                 on_session: Callable[[Session], None] | None = None) -> None:
        self.path = str(path)
        self.options = options or Options()
        self.on_transmit = on_transmit
        self.on_session = on_session
        self.sessions: list[Session] = []
        self.errors: list[str] = []
        self._inbox: deque[bytes] = deque()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._stop = threading.Event()
        self._listen: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()  # held by the loop while it runs the device

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> VhostUserServer:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._listen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listen.bind(self.path)
        self._listen.listen(1)
        self._thread = threading.Thread(target=self._run, name=f"vhost-user {self.path}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wakeup()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self.errors.append(f"loop thread did not stop within {timeout} s")
        for s in (self._conn, self._listen):
            if s is not None:
                s.close()
        self._conn = self._listen = None
        for session in self.sessions:
            session.close()
        with contextlib.suppress(OSError):
            os.close(self._wake)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> VhostUserServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- for other threads ---------------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        return self.sessions[-1] if self.sessions else None

    def inject(self, frame: bytes) -> None:
        """Hand a frame from the wire to the device (thread-safe)."""
        self._inbox.append(frame)
        self._wakeup()

    def _wakeup(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake, (1).to_bytes(8, "little"))

    def wait_for(self, cond: Callable[[], bool], timeout: float, what: str = "") -> bool:
        """Poll ``cond`` until it holds or ``timeout`` seconds pass (bounded wait)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if cond():
                    return True
            if self.errors:
                return False
            time.sleep(0.02)
        with self.lock:
            return cond()

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._step()
        except Exception:  # the loop must not die silently: tests look at errors
            self.errors.append(traceback.format_exc())

    def _step(self) -> None:
        poller = select.poll()
        poller.register(self._wake, select.POLLIN)
        fds: dict[int, int] = {}  # kick fd -> vring index
        session = self.session if self._conn is not None else None
        if self._conn is not None:
            poller.register(self._conn.fileno(), select.POLLIN)
        elif self._listen is not None:
            poller.register(self._listen.fileno(), select.POLLIN)
        if session is not None:
            for v in session.vrings:
                if v.kick is not None and v.started:
                    fds[v.kick] = v.index
                    poller.register(v.kick, select.POLLIN)
        busy = session is not None and self.options.poll and session.device is not None
        events = poller.poll(0 if busy else IDLE_TIMEOUT_MS)
        with self.lock:
            for fd, _ in events:
                if fd == self._wake:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake, 8)
                elif self._listen is not None and fd == self._listen.fileno() and \
                        self._conn is None:
                    self._accept()
                elif self._conn is not None and fd == self._conn.fileno():
                    self._messages()
                elif fd in fds and session is not None:
                    session.kicked(fds[fd])
            session = self.session if self._conn is not None else None
            if session is not None:
                while self._inbox:
                    session.inject(self._inbox.popleft())
                session.pump()

    def _accept(self) -> None:
        assert self._listen is not None
        conn, _ = self._listen.accept()
        self._conn = conn
        session = Session(self.options, self.on_transmit)
        self.sessions.append(session)
        if self.on_session is not None:
            self.on_session(session)

    def _messages(self, limit: int = 256) -> None:
        """Every message already waiting, before any ring is run: a front-end's set-up
        (KICK then ENABLE, say) takes effect as a whole."""
        for _ in range(limit):
            self._message()
            conn = self._conn
            if conn is None or not select.select([conn], [], [], 0)[0]:
                return

    def _message(self) -> None:
        conn, session = self._conn, self.session
        assert conn is not None and session is not None
        try:
            msg = M.receive(conn)
        except (EOFError, ConnectionError):
            self._hang_up("front-end closed the connection")
            return
        except M.ProtocolError as err:
            session.log.errors.append(f"{err.req}: {err}")
            self._hang_up(str(err))
            return
        try:
            out = session.handle(msg)
            ok = True
        except M.ProtocolError as err:
            session.log.errors.append(f"{err.req}: {err}")
            out, ok = None, False
            if not msg.need_reply:
                self._hang_up(str(err))
                return
        except Exception as err:  # a bad value the checks below the protocol refused
            session.log.errors.append(f"{M.name(msg.request)}: {type(err).__name__}: {err}")
            out, ok = None, False
        finally:
            M._close(msg.fds)
        if out is None:
            out = session.ack(msg, ok)
        if out is not None:
            try:
                M.reply(conn, msg.request, out)
            except OSError:
                self._hang_up("reply failed")

    def _hang_up(self, why: str) -> None:
        session = self.session
        if session is not None:
            session.log.messages.append(f"closed: {why}")
            for v in session.vrings:
                session._stop(v)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
