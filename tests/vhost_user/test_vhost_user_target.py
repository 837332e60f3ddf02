"""The vhost-user target: a real back-end (qemu-storage-daemon's vhost-user-blk export) behind
our front-end, honest and hostile cases, our own back-end, and a back-end that crashes or
hangs on the first kick (caught, graded, restarted; the run goes on)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import FAILED, Outcome
from virtiospec.conformance.vhost_user.peer import parse
from virtiospec.conformance.vhost_user.target import VhostUserTarget

FAKE = Path(__file__).with_name("vhost_user_fake.py")


def run(target: object, *ids: str) -> list[cases.Result]:
    every = cases.discover()
    return [r for _, r in runner.run([every[i] for i in ids], target)]


@pytest.fixture
def qsd() -> Iterator[VhostUserTarget]:
    if shutil.which("qemu-storage-daemon") is None:
        pytest.skip("qemu-storage-daemon missing: apt-get install qemu-system-common")
    target = targets.make("vhost-user:qsd-blk")
    assert isinstance(target, VhostUserTarget)
    yield target
    target.close()


def test_qsd_blk_honest_then_hostile(qsd: VhostUserTarget) -> None:
    good, loop, table, jump = run(qsd, "vhost-user.ring.good-request", "hostile.driver.loop",
                                  "hostile.driver.indirect-table-outside",
                                  "hostile.driver.avail-jump")
    assert good.outcome is Outcome.PASS, good.detail
    assert loop.outcome is Outcome.REJECT, loop.detail
    assert "answers" in loop.detail  # the liveness probe ran after the refusal
    assert table.outcome is Outcome.REJECT, table.detail
    # libvhost-user's vu_queue_pop does not bound avail.idx: it serves entries never published
    assert jump.outcome in FAILED and "accepted" in jump.detail, jump.detail
    assert qsd.vhost_user_peer.alive()


def test_net_cases_skip_on_a_block_device(qsd: VhostUserTarget) -> None:
    (res,) = run(qsd, "hostile.driver.net.rx-loop")
    assert res.outcome is Outcome.SKIP and "not a net device" in res.detail


@pytest.mark.parametrize("device", ["reference", "c"])
def test_our_back_end_refuses(device: str) -> None:
    target = VhostUserTarget(parse(device))  # what the targets reference and c run
    try:
        loop, wraps, good, empty = run(target, "hostile.driver.self-loop-zero-length",
                                       "hostile.driver.buffer-wraps",
                                       "hostile.driver.packed.good-list",
                                       "hostile.driver.packed.indirect-empty")
        assert loop.outcome is Outcome.REJECT, loop.detail
        assert wraps.outcome is Outcome.REJECT, wraps.detail
        assert good.outcome is Outcome.PASS, good.detail  # the packed ring works...
        assert empty.outcome is Outcome.REJECT, empty.detail  # ...and refuses a bad list
    finally:
        target.close()


def fake(mode: str) -> VhostUserTarget:
    return VhostUserTarget(parse(f"any@{sys.executable} {FAKE} {{socket}} {mode}"))


def test_a_crashing_peer_is_a_fail_with_its_signal_and_is_restarted() -> None:
    target = fake("crash")
    try:
        first, second = run(target, "hostile.driver.loop", "hostile.driver.self-loop")
        for res in (first, second):
            assert res.outcome in FAILED, res.detail  # graded by the rule: ring checks are ours
            assert "was killed by signal SIGSEGV" in res.detail
        assert target.vhost_user_peer.starts == 2  # restarted for the second case
    finally:
        target.close()


def test_a_hanging_peer_is_wedged_killed_and_the_run_goes_on() -> None:
    target = fake("hang")
    try:
        first, second = run(target, "hostile.driver.loop", "hostile.driver.head-beyond-q")
        for res in (first, second):
            assert res.outcome is Outcome.WEDGED, res.detail
            assert res.recovered and "no answer to GET_FEATURES" in res.detail
        assert target.vhost_user_peer.starts == 2  # killed after the first, started again
    finally:
        target.close()


def test_a_spinning_peer_that_still_answers_is_wedged() -> None:
    target = fake("spin")
    try:
        (res,) = run(target, "hostile.driver.loop")
        assert res.outcome is Outcome.WEDGED and res.recovered, res.detail
        assert "spinning" in res.detail
        assert not target.vhost_user_peer.alive()  # killed; the next case starts it again
    finally:
        target.close()


@pytest.mark.parametrize("spec", ["vhost-user", "vhost-user:nope", "vhost-user:gpu@x {socket}",
                                  "vhost-user:net@true"])
def test_bad_target_specs_are_one_line_errors(spec: str) -> None:
    with pytest.raises(ValueError) as err:
        targets.make(spec)
    assert "\n" not in str(err.value)


def test_pci_hostile_on_our_device_sets_needs_reset() -> None:
    (res,) = run(targets.make("reference"), "hostile.driver.pci.loop")
    assert res.outcome is Outcome.REJECT and "DEVICE_NEEDS_RESET set" in res.detail, res.detail


def test_pci_hostile_on_qemu() -> None:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 missing: apt-get install qemu-system-x86")
    target = targets.make("qemu")
    loop, wraps = run(target, "hostile.driver.pci.indirect-empty",
                      "hostile.driver.pci.buffer-wraps")
    assert loop.outcome is Outcome.REJECT and "DEVICE_NEEDS_RESET set" in loop.detail, loop.detail
    # QEMU 7.2 transmits a readable buffer whose addr + len wraps 64 bits
    assert wraps.outcome in FAILED and "accepted" in wraps.detail, wraps.detail
