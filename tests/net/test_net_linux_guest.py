"""Linux's virtio-net driver in a QEMU guest (TCG) against our device behind vhost-user: the
guest's arping, ping and TCP are answered, our frames reach it, and the driver cases run
against the ``linux-guest`` target.

Needs qemu-system-x86, linux-image-cloud-amd64 and busybox-static; without them the tests
skip, or fail with CI=true.
"""

from __future__ import annotations

import os

import pytest
from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.net.guest import boot
from virtiospec.conformance.net.guest.initramfs import RAW_FRAMES
from virtiospec.conformance.net.target_linux_guest import LinuxGuestTarget, observe
from virtiospec.conformance.suites.net import driver_rules
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.header import F_NEEDS_CSUM


@pytest.fixture(scope="module")
def guest() -> boot.GuestRun:
    try:
        boot.check_tools()
    except boot.GuestUnavailable as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{err} (CI=true: a missing peer is a failure)")
        pytest.skip(str(err))
    return boot.boot(timeout=90)


@pytest.mark.req("NET-060", "NET-023", "VHOST-USER-004", "VHOST-USER-005")
def test_guest_traffic_both_ways(guest: boot.GuestRun) -> None:
    assert not guest.errors, guest.errors
    assert guest.lines("DONE"), "\n".join(guest.console[-20:])
    assert guest.value("MAC") == "52:54:00:12:34:56"
    assert any("Received 3 response" in ln for ln in guest.lines("ARPING"))
    assert any("3 packets received" in ln for ln in guest.lines("PING"))
    assert any("2 packets received" in ln for ln in guest.lines("BIGPING"))
    assert any("refused" in ln for ln in guest.lines("TCP"))
    rx0, rx1 = int(guest.value("RX0") or 0), int(guest.value("RX1") or 0)
    assert rx1 - rx0 >= len(guest.injected) >= RAW_FRAMES  # our frames reached the driver
    counts = guest.responder.counts
    assert counts.get("arp", 0) >= 3 and counts.get("echo", 0) >= 5 and counts.get("syn") == 1


@pytest.mark.req("NET-009", "NET-004", "NET-001")
def test_checksum_offload_from_linux(guest: boot.GuestRun) -> None:
    session = guest.session
    assert session is not None and session.device is not None
    assert F.has(session.device.features, F.CSUM) and F.has(session.device.features,
                                                            F.VERSION_1)
    headers = session.device.tx_headers or []
    assert any(h.flags & F_NEEDS_CSUM for h in headers)  # Linux left checksums to us
    checked = [FR.checksum_ok(f) for f in guest.responder.snapshot()]
    assert checked.count(True) >= 1 and False not in checked


def test_suite_against_linux(guest: boot.GuestRun) -> None:
    target = LinuxGuestTarget()
    target._obs = observe(guest)
    net = [c for c in cases.discover().values() if c.layer == "net" and c.side == "driver"]
    for c in net:
        res = runner.run_case(c, target)
        if c.id == "net.driver.packed-ring":  # this guest runs split rings (no packed=on)
            assert res.outcome is Outcome.SKIP and "VIRTIO_F_RING_PACKED" in res.detail, res
            continue
        if c.id == "net.driver.multiqueue":  # one pair (no queues=N)
            assert res.outcome is Outcome.SKIP and "VIRTIO_NET_F_MQ" in res.detail, res
            continue
        if c.id == "net.driver.in-order":  # QEMU 7.2 passes no VIRTIO_F_IN_ORDER to vhost-user
            assert res.outcome is Outcome.SKIP and "VIRTIO_F_IN_ORDER" in res.detail, res
            continue
        if c.fn.__module__ == driver_rules.__name__:  # they drive a driver class in-process,
            # against a device that watches it; a guest's driver is not one
            assert res.outcome is Outcome.SKIP and "in-process" in res.detail, res
            continue
        assert res.outcome is Outcome.PASS, (c.id, res.detail, res.expected, res.observed)
