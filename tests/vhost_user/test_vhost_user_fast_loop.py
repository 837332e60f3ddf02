"""The C fast path's traffic source and its device loop in one C call, against the Python
device frame by frame: the same frames, the same bytes in the driver's buffers, the same
headers recorded (the two worlds of fast_worlds.py); each with a planted bug that is caught."""

from __future__ import annotations

from itertools import cycle
from typing import Any

import pytest
from fast_worlds import (
    FEATURES,
    MAC,
    PEER,
    Pair,
    Q,
    eth,
    header,
)
from virtiospec.reference.net import frames as FR
from virtiospec.reference.vhost_user import fast
from virtiospec.reference.vhost_user.fast import FastNetDevice, FastQueue

pytestmark = pytest.mark.skipif(not fast.available(), reason="the C fast path is not built")


# -- the traffic source in C (send_repeating: vsv_rx_repeat, a burst per call) -------------------

SOURCE = tuple(FR.udp_frame(PEER, MAC, "10.0.0.2", "10.0.0.1", 7, 9,
                            bytes((n + i) & 0xFF for i in range(n))) for n in (18, 600, 1400))


def _source_rounds(pair: Pair) -> int:
    python, c = pair.worlds
    assert isinstance(c.dev, FastNetDevice) and c.dev.can_repeat()
    source = cycle(SOURCE)  # the Python device's: frames waiting in its backlog, never dry
    total = 0
    for r in range(5):
        for _ in range(3):
            pair.rx_buffer([("A", 1526)] if r % 2 else [("A", 100), ("B", 700)])
        total += c.dev.send_repeating(SOURCE)
        while len(python.dev.backlog[0]) < 2 * Q:
            python.dev.receive(next(source))
        python.dev.deliver(0)
        views = [w.view() for w in pair.worlds]
        for v in views:
            del v["backlog"]  # the C source keeps none: what waits there is the source
        for key in views[0]:
            assert views[0][key] == views[1][key], f"{key}: {views[0][key]!r} != " \
                                                   f"{views[1][key]!r}"
        pair.reap()
    return total


@pytest.mark.parametrize("name", list(FEATURES))
def test_repeating_source_is_the_python_device_frame_by_frame(name: str) -> None:
    """The source a benchmark sends from, in C: the driver's memory, used ring, statistics,
    faults and indices are the Python device's given the same frames one by one, and the
    frames follow on across calls."""
    pair = Pair(FEATURES[name])
    try:
        total = _source_rounds(pair)
        c = pair.worlds[1].dev.stats
        assert total >= 8 and c.rx_frames + c.rx_too_big == total
    finally:
        pair.close()


def test_a_source_that_restarts_every_burst_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Known-bad: a C source that starts every burst at the first frame again."""
    real = fast.rx_repeat
    monkeypatch.setattr(fast, "rx_repeat", lambda q, pattern, first, n: real(q, pattern, 0, n))
    pair = Pair(FEATURES["plain"])
    try:
        with pytest.raises(AssertionError, match=r"memory|stats"):
            _source_rounds(pair)
    finally:
        pair.close()


# -- the device loop in one C call (FastNetDevice.run_loop: vsv_poll) ----------------------------

def _poll_rounds(pair: Pair, steps: list[str], record: int | None = None) -> int:
    """Transmitted frames (plain, a checksum to finish, a refused header) and receive
    buffers, served by FastNetDevice.run_loop in C and by the Python device step by step.
    With ``record``, both devices record the first ``record`` transmitted headers."""
    python, c = pair.worlds
    assert isinstance(c.dev, FastNetDevice)
    for w in pair.worlds:
        w.dev.tx_headers = None if record is None else []
        w.dev.tx_headers_limit = record or 0
    c.dev.discard_wire = True
    source = cycle(SOURCE)
    moved = 0
    for i, step in enumerate(steps):
        if step == "rx":
            for _ in range(3):
                pair.rx_buffer([("A", 1526)] if i % 2 else [("A", 100), ("B", 700)])
        else:
            pair.tx(header(step, 60 + i), eth(60 + i), ["A"], False)
        got = c.dev.run_loop(SOURCE)
        assert got is not None
        moved += got
        python.dev.process_tx()
        while len(python.dev.backlog[0]) < 2 * Q:
            python.dev.receive(next(source))
        python.dev.deliver(0)
        views = [w.view() for w in pair.worlds]
        for v in views:
            for key in ("backlog", "transmitted", "notified"):
                del v[key]  # the source's frames waiting; a wire nobody listens to
        for key in views[0]:
            assert views[0][key] == views[1][key], f"{key}: {views[0][key]!r} != " \
                                                   f"{views[1][key]!r}"
        pair.reap()
    return moved


POLL_STEPS = ["plain", "rx", "plain", "csum", "rx", "gso", "num-buffers", "rx", "rx", "plain"]


@pytest.mark.parametrize("name", list(FEATURES))
def test_the_device_loop_in_c_is_the_python_device(name: str) -> None:
    pair = Pair(FEATURES[name])
    try:
        moved = _poll_rounds(pair, POLL_STEPS)
        st = pair.worlds[1].dev.stats
        assert moved >= 10 and st.tx_frames >= 4 and st.rx_frames >= 6
    finally:
        pair.close()


@pytest.mark.parametrize("name", list(FEATURES))
def test_the_device_loop_in_c_records_headers_as_the_python_device(name: str) -> None:
    """While the first headers are recorded (a session records them for the conformance
    cases), the loop still runs in C for receive and only watches the transmit queue: a chain
    there goes to process_tx, which records its header; once enough are recorded, transmit
    runs in C too. The headers, memory and statistics are the Python device's."""
    pair = Pair(FEATURES[name])
    try:
        moved = _poll_rounds(pair, POLL_STEPS, record=3)
        dev = pair.worlds[1].dev
        assert moved >= 10 and dev.tx_headers is not None and len(dev.tx_headers) == 3
        assert dev.stats.tx_frames >= 4 and dev.stats.rx_frames >= 6
    finally:
        pair.close()


def test_a_loop_that_transmits_unrecorded_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Known-bad: a loop that transmits in C while headers are still to be recorded."""
    monkeypatch.setattr(FastNetDevice, "_recording", lambda self: False)
    pair = Pair(FEATURES["plain"])
    try:
        with pytest.raises(AssertionError, match=r"headers"):
            _poll_rounds(pair, POLL_STEPS, record=3)
    finally:
        pair.close()


def test_a_loop_that_skips_the_spec_checks_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Known-bad: a loop that takes every header as plain (never hands a burst back to the
    spec's check_tx): the refused header and the finished checksum tell."""
    real = FastNetDevice._tx_frames

    def trusting(self: FastNetDevice, pair: int, index: int, q: FastQueue, n: int,
                 res: Any) -> None:
        res.plain = n
        real(self, pair, index, q, n, res)

    monkeypatch.setattr(FastNetDevice, "_tx_frames", trusting)
    pair = Pair(FEATURES["mrg-event-indirect-csum"])
    try:
        with pytest.raises(AssertionError, match=r"stats|faults|memory"):
            _poll_rounds(pair, POLL_STEPS)
    finally:
        pair.close()
