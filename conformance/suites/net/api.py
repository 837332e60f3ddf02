"""What a network target provides, and the suite's own side of the network device.

Two ways a target takes part in the ``net`` cases:

* ``net_device``: a factory with the signature of
  :class:`~virtiospec.reference.net.device.NetDevice` (configuration, features, guest memory,
  ``notify=``). The device cases build it into a
  :class:`~virtiospec.reference.net.pair.NetPair` and play the driver, honestly or not.
* ``net_driver_session()``: runs the target's driver against our device behind vhost-user
  once (a Linux guest, DPDK's testpmd, or the reference driver) and returns a
  :class:`DriverObservation` of both sides; the driver cases check it. The target caches it,
  so one boot serves every driver case.

The reference target does not name these yet; :func:`net_of` supplies the reference's own
(:class:`ReferenceNet`) for it. Any other target without them has the cases skipped.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from virtiospec.conformance.cases import CaseSkipped
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.header import NetHdr
from virtiospec.reference.vhost_user import messages as M
from virtiospec.reference.vhost_user.session import Session


@dataclass
class DriverObservation:
    """Both sides of one run of a driver against our device behind vhost-user."""

    peer: str
    features: int = 0  # the virtio-net features the front-end set (protocol bit removed)
    messages: list[str] = field(default_factory=list)  # the vhost-user transcript
    rings_started: int = 0
    tx_headers: list[NetHdr] = field(default_factory=list)
    tx_frames: list[bytes] = field(default_factory=list)  # as they reached the wire
    tx_refused: list[str] = field(default_factory=list)  # requirement IDs of refusals
    driver_faults: Counter[str] = field(default_factory=Counter)
    rx_buf_min: int | None = None
    rx_buf_max: int | None = None
    injected: list[bytes] = field(default_factory=list)  # frames our device sent the driver
    delivered: int = 0  # frames our device placed in the driver's receive buffers
    confirmed: list[bytes] | None = None  # frames the driver proved it received, in order
    confirmed_count: int | None = None  # how many received frames the driver reports
    round_trips: dict[str, tuple[int, int]] = field(default_factory=dict)  # (wanted, seen)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # multiqueue (net.driver.multiqueue): the pairs the target asked for, the most started
    # and enabled at once, frames per pair, received frames checked for the pair their flow
    # was due on (and those placed elsewhere), and whether the
    # peer is known to move frames on every pair (testpmd's streams do; a guest's may not)
    pairs_wanted: int = 1
    pairs_enabled: int = 0
    rx_pairs: Counter[int] = field(default_factory=Counter)
    tx_pairs: Counter[int] = field(default_factory=Counter)
    steered: int = 0
    misteered: list[str] = field(default_factory=list)
    mq_traffic_required: bool = False
    # VIRTIO_F_IN_ORDER (net.driver.in-order): buffers our device's use was checked for
    in_order_checked: int = 0
    out_of_order: list[str] = field(default_factory=list)

    def absorb(self, session: Session | None) -> None:
        """Take what the back-end's session recorded."""
        if session is None:
            self.errors.append("no front-end ever connected to the vhost-user socket")
            return
        self.messages += session.log.messages
        self.errors += session.log.errors
        if session.features is not None:
            self.features = session.features & ~F.bit(M.F_PROTOCOL_FEATURES)
        dev = session.device
        if dev is None:
            return
        self.rings_started = max(self.rings_started, len(set(session.log.started)))
        self.tx_headers += dev.tx_headers or []
        self.tx_refused += [getattr(f, "req", "?") for f in dev.faults]
        self.driver_faults.update(dev.stats.driver_faults)
        st = dev.stats
        if st.rx_buf_min is not None:
            self.rx_buf_min = st.rx_buf_min if self.rx_buf_min is None else min(
                self.rx_buf_min, st.rx_buf_min)
            self.rx_buf_max = max(self.rx_buf_max or 0, st.rx_buf_max or 0)
        self.delivered += st.rx_frames
        log = session.log
        self.pairs_enabled = max(self.pairs_enabled, log.pairs_enabled)
        self.rx_pairs.update(log.rx_pairs)
        self.tx_pairs.update(log.tx_pairs)
        self.steered += log.steered
        self.misteered += log.misteered
        if session.watch is not None:
            self.in_order_checked += session.watch.checked
            self.out_of_order += session.watch.out_of_order


class Recorder:
    """The wire for a driver session: records what the driver transmitted; a subclass or
    ``answer`` may inject frames back."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[bytes] = []

    def __call__(self, session: Session, pair: int, frame: bytes) -> None:
        with self.lock:
            self.frames.append(frame)

    def clear(self) -> None:
        with self.lock:
            self.frames.clear()

    def count(self) -> int:
        with self.lock:
            return len(self.frames)

    def snapshot(self) -> list[bytes]:
        with self.lock:
            return list(self.frames)


def wait_until(cond: Any, timeout: float, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


def probe_frames(src: bytes, dst: bytes, n: int, tag: bytes = b"vs",
                 flows: int = 1) -> list[bytes]:
    """``n`` distinct UDP frames of growing sizes, fully checksummed; with ``flows`` > 1 frame
    ``i`` belongs to flow ``i % flows`` (its UDP source port), for several queue pairs."""
    return [FR.udp_frame(src, dst, "10.9.0.1", "10.9.0.2", 5000 + i % flows, 6000,
                         tag + b"%05d" % i + bytes(i % 256 for i in range(i * 7 % 1200)))
            for i in range(n)]


class ReferenceNet:
    """The reference's side of the net cases: its device, and its driver behind vhost-user."""

    name = "reference"

    def __init__(self) -> None:
        self._session: DriverObservation | None = None

    net_device = NetDevice

    def net_driver_session(self) -> DriverObservation:
        if self._session is None:
            from virtiospec.conformance.suites.net.reference_session import run

            self._session = run()
        return self._session


_REFERENCE = ReferenceNet()


def net_of(target: Any, attr: str) -> Any:
    """The target's ``attr`` for the net cases (the reference's own for the reference target),
    or skip the case naming what is missing."""
    value = getattr(target, attr, None)
    if value is None and getattr(target, "name", None) == "reference":
        value = getattr(_REFERENCE, attr)
    if value is None:
        raise CaseSkipped(f"target {getattr(target, 'name', target)} does not provide {attr}")
    return value


def session_of(target: Any) -> DriverObservation:
    obs: DriverObservation = net_of(target, "net_driver_session")()
    return obs
