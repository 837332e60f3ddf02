"""The reference driver's session for the driver cases: the Python front-end and
:class:`~virtiospec.reference.net.driver.NetDriver` against our back-end, in one process."""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

from virtiospec.conformance.suites.net.api import DriverObservation, Recorder, probe_frames
from virtiospec.reference.net.driver import NetDriver
from virtiospec.reference.net.errors import NetError
from virtiospec.reference.vhost_user.frontend import FrontEnd
from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import Options

PEER = b"\x02\x00\x00\x00\x00\x99"
FRAMES = 40


def run(timeout: float = 20.0, driver_cls: type[NetDriver] = NetDriver) -> DriverObservation:
    """One session; ``driver_cls``: the driver to observe (a known-bad variant, for the
    models)."""
    obs = DriverObservation("reference driver (Python front-end)")
    wire = Recorder()
    with tempfile.TemporaryDirectory(prefix="virtiospec-ref-") as tmp, \
            VhostUserServer(Path(tmp) / "vu.sock", Options(observe=True),
                            on_transmit=wire) as server, \
            FrontEnd(server.path) as fe:
        drv = fe.start(rx_buf_size=512, driver_cls=driver_cls)
        sent = probe_frames(drv.mac, PEER, FRAMES, b"tx")
        for i, frame in enumerate(sent):
            drv.send(frame, csum=i % 2 == 1)
            drv.reap_tx(0)
        with contextlib.suppress(NetError):  # UDP segmentation: only with HOST_USO (NET-113)
            drv.send(sent[-1], csum=True, gso_size=256)
            drv.reap_tx(0)
        obs.injected = probe_frames(PEER, drv.mac, FRAMES, b"rx")
        for frame in obs.injected:
            server.inject(frame)
        got: list[bytes] = []
        end = time.monotonic() + timeout
        while (len(got) < FRAMES or wire.count() < FRAMES) and time.monotonic() < end:
            fe.wait_call(0, 0.05)
            got += [r.frame for r in drv.receive(0)]
            drv.reap_tx(0)
        obs.confirmed = got
        obs.confirmed_count = len(got)
        obs.tx_frames = wire.snapshot()
        obs.round_trips = {"frames the driver received": (FRAMES, len(got)),
                           "frames the driver transmitted": (FRAMES, len(obs.tx_frames))}
        with server.lock:
            obs.absorb(server.session)
        obs.errors += server.errors
    return obs
