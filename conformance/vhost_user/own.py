"""virtiospec's own vhost-user net back-end as a process (the ``reference`` and ``c`` peers of
the ``vhost-user`` target): ``python -m virtiospec.conformance.vhost_user.own --socket PATH
--device python|c``. Two queue pairs; what the driver transmits is sent back to it (the ``io``
forwarding of testpmd). Runs until SIGTERM; a loop error is printed and exits 3.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import Options, Session


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vhost_user_own")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--device", choices=("python", "c"), default="c")
    args = ap.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def echo(session: Session, pair: int, frame: bytes) -> None:
        session.inject(frame)

    with VhostUserServer(args.socket, Options(pairs=2, device=args.device), echo) as server:
        while not stop.wait(0.1):
            if server.errors:
                print("\n".join(server.errors), file=sys.stderr, flush=True)
                return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
