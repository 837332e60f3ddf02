"""Native libraries run in a child process: a crash or a wedge costs one case, not the run.

``lib:`` and ``shm-lib:`` targets carry an :class:`Isolation` (``target.isolation``);
:func:`virtiospec.conformance.runner.run_case` hands each case to it. The child (this module
run as ``python -m virtiospec.conformance.isolation SPEC RESULT_FD CALL_FILE``) makes the
same target, runs the cases it is sent one at a time and writes each pickled
:class:`~virtiospec.conformance.cases.Result` back. Before every call into the library it
records which call it is in a shared file, so that when the child dies of a signal the case
is a FAIL naming the signal and the call ("SIGSEGV in virtiospec_ring_device_pop, its 3rd
call in this case"), and when it gives no answer within the case's budget it is killed and
the case is WEDGED naming the call it is stuck in. The next case gets a fresh child.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from typing import Any

from virtiospec.conformance.cases import Case, Outcome, Result

CALL_BYTES = 256
CHILD_ENV = "VIRTIOSPEC_ISOLATED_CHILD"  # set in the child: its targets run in-process
START_SECONDS = 60.0  # a fresh child imports the package and loads the library


class _Recorder:
    """The child's side: the current call, in a file the parent reads after a crash."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, CALL_BYTES)
        self.counts: dict[str, int] = {}

    def new_case(self, case_id: str) -> None:
        self.counts.clear()
        self._write(f"(no library call yet in {case_id})")

    def enter(self, name: str) -> None:
        n = self.counts[name] = self.counts.get(name, 0) + 1
        self._write(f"{name}, its {_ordinal(n)} call in this case")

    def _write(self, text: str) -> None:
        data = text.encode()[: CALL_BYTES - 1]
        self._map[: len(data) + 1] = data + b"\0"


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class _TracedLib:
    """A cffi library whose every function call is recorded before it is made."""

    def __init__(self, lib: Any, recorder: _Recorder) -> None:
        self._lib, self._recorder = lib, recorder

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._lib, name)
        if not callable(value):
            return value
        recorder = self._recorder

        def call(*args: Any) -> Any:
            recorder.enter(name)
            return value(*args)

        return call


def _frame(payload: bytes) -> bytes:
    return struct.pack("<I", len(payload)) + payload


class Isolation:
    """The parent's side: runs each case of a native target in a child process."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._proc: subprocess.Popen[bytes] | None = None
        self._rfd = -1
        fd, self._call_path = tempfile.mkstemp(prefix="virtiospec-call-")
        os.write(fd, b"\0" * CALL_BYTES)
        os.close(fd)
        # removed at exit too (a child still running ends when its stdin closes with us)
        weakref.finalize(self, _unlink, self._call_path)

    def _last_call(self) -> str:
        with open(self._call_path, "rb") as f:
            return f.read(CALL_BYTES).split(b"\0", 1)[0].decode(errors="replace")

    def _start(self) -> None:
        rfd, wfd = os.pipe()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "virtiospec.conformance.isolation", self.spec, str(wfd),
             self._call_path],
            stdin=subprocess.PIPE, stdout=2, pass_fds=(wfd,),  # its output to our stderr
            env={**os.environ, CHILD_ENV: "1"})
        os.close(wfd)
        self._rfd = rfd

    def _read(self, timeout: float) -> bytes | None:
        """One framed message, or None on a timeout; b"" when the child has gone."""
        deadline = time.monotonic() + timeout
        buf = b""
        need = 4
        length: int | None = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._rfd], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._rfd, need - len(buf))
            if not chunk:
                return b""
            buf += chunk
            if len(buf) < need:
                continue
            if length is None:
                length = struct.unpack("<I", buf)[0]
                buf, need = b"", length
                if need == 0:
                    return b""
                continue
            return buf

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()  # our own child, by its pid
            proc.wait()
            if proc.stdin:
                proc.stdin.close()
        if self._rfd >= 0:
            os.close(self._rfd)
            self._rfd = -1

    def run_case(self, case: Case) -> Result:
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            self._start()
            ready = self._read(START_SECONDS)
            if ready != b"ready":
                why = self._died() or "it did not start"
                self._stop()
                return Result(Outcome.FAIL, f"the target could not be loaded in a child "
                              f"process: {why}")
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        t = time.perf_counter()
        try:
            proc.stdin.write(case.id.encode() + b"\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        msg = self._read(case.budget + 1.0)  # the child's own watch ends at case.budget
        if msg:
            res: Result = pickle.loads(msg)
            if res.outcome is Outcome.WEDGED and res.detail.startswith("no answer within"):
                res.detail += f", stuck in {self._last_call()}"  # the child's own watch
                self._stop()
            return res
        seconds = time.perf_counter() - t
        if msg is None:  # no answer: stuck in the library (or in the case)
            call = self._last_call()
            self._stop()
            return Result(Outcome.WEDGED, f"no answer within {case.budget:.0f} s, stuck in "
                          f"{call}; the child process was killed", seconds=seconds)
        why = self._died()
        self._stop()
        return Result(Outcome.FAIL, f"the library crashed: {why}", seconds=seconds)

    def _died(self) -> str:
        proc = self._proc
        if proc is None:
            return ""
        try:
            rc = proc.wait(5)
        except subprocess.TimeoutExpired:
            return ""
        call = self._last_call()
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            return f"{name} in {call}"
        return f"the child process exited with status {rc} in {call}"

    def close(self) -> None:
        self._stop()
        with contextlib.suppress(OSError):
            os.unlink(self._call_path)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()


def for_native(spec: str) -> Isolation | None:
    """An isolation for a native target made from ``spec``; None inside the child itself."""
    return None if os.environ.get(CHILD_ENV) else Isolation(spec)


def _child(spec: str, result_fd: int, call_path: str) -> int:
    from virtiospec.conformance import cases, runner, targets

    out = os.fdopen(result_fd, "wb", buffering=0)
    recorder = _Recorder(call_path)
    target = targets.make(spec)  # CHILD_ENV is set: no isolation of its own
    for attr in ("abi", "shm_abi"):
        lib_owner = getattr(target, attr, None)
        if lib_owner is not None:
            lib_owner.lib = _TracedLib(lib_owner.lib, recorder)
    known = cases.discover()
    out.write(_frame(b"ready"))
    for line in sys.stdin:
        case = known[line.strip()]
        recorder.new_case(case.id)
        try:
            res = runner.run_case(case, target)
        except Exception as err:  # a TargetError: the peer cannot run
            res = Result(Outcome.FAIL, f"the target could not run: {err}")
        out.write(_frame(pickle.dumps(res)))
        if res.outcome is Outcome.WEDGED and res.detail.startswith("no answer within"):
            break  # a thread of ours is stuck: let the parent start a fresh child
    out.close()
    os._exit(0)  # a wedged thread must not keep the child alive


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
