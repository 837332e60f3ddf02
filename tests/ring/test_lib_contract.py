"""Every new case of the ring's C ABI fails on a library with the bug it is for: ring.c behind
the ABI with one planted bug each (tests/ring_planted.c), and the library without one passes
every sequential ring case."""

from __future__ import annotations

from pathlib import Path

import pytest
from lib_builds import planted, plants, shm
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.lib_stress import is_stress

SPLIT = [c for c in cases.discover().values()
         if c.id.startswith("ring.split.") and not is_stress(c.id)]
GOOD = (Outcome.PASS, Outcome.REJECT)
# planted bug -> the cases that must catch it (at least one FAILs)
CAUGHT_BY = {
    "NO_IN_FLIGHT": ["ring.split.device.rejects-head-in-flight"],
    "NOT_STICKY": ["ring.split.driver.stops-after-error", "ring.split.device.stops-after-error",
                   "ring.split.abi.driver.stopped", "ring.split.abi.device.stopped"],
    "NO_CHAIN_DESCS": ["ring.split.driver.rejects-chain-descs"],
    "NO_CHAIN_BYTES": ["ring.split.driver.rejects-chain-bytes"],
    "NO_SIZE_CHECK": ["ring.split.abi.driver.create-queue-size",
                      "ring.split.abi.device.create-queue-size"],
    "NO_PLACEMENT": ["ring.split.abi.driver.create-placement",
                     "ring.split.abi.device.create-placement"],
    "PUSH_ANY_ID": ["ring.split.device.refuses-push-not-popped",
                    "ring.split.abi.device.push-not-popped"],
    "POP_IGNORES_MAX": ["ring.split.abi.device.pop-max-segs"],
    "NO_USED_EVENT": ["ring.split.driver.used-event-follows"],
    "NO_AVAIL_EVENT": ["ring.split.device.avail-event-follows"],
    "LAST_USED_PAST_BAD": ["ring.split.driver.rejects-unknown-id"],
    "NUM_FREE_CHAINS": ["ring.split.driver.num-free-chains"],
    "DETACH_KEEPS": ["ring.split.driver.detach-unused"],
    "NUM_FREE_V1": ["ring.split.abi.driver.stopped"],
    "KICK_NOTHING": ["ring.split.driver.kick-nothing-added"],
    "DELAYED_ANY": ["ring.split.driver.enable-cb-delayed-threshold"],
    "DETACH_STOPPED": ["ring.split.abi.driver.stopped"],
    "NO_INIT": ["ring.split.device.init-fields", "ring.split.driver.init-fields"],
}


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract")


def _in_process(lib: Path) -> object:
    target = targets.make(f"lib:{lib}")
    target.isolation.close()  # these libraries neither crash nor hang: run in this process
    target.isolation = None
    return target


def test_every_planted_bug_has_its_cases() -> None:
    assert set(CAUGHT_BY) == set(plants()) - {"CRASH_3RD_POP", "SPIN_3RD_POP"}
    known = cases.discover()
    assert all(c in known for ids in CAUGHT_BY.values() for c in ids)


def test_the_library_without_a_bug_passes(libs: Path) -> None:
    target = _in_process(planted(0, libs))
    got = {c.id: runner.run_case(c, target) for c in SPLIT}
    bad = {k: r.detail for k, r in got.items() if r.outcome not in (*GOOD, Outcome.SKIP)}
    assert not bad
    assert sum(r.outcome in GOOD for r in got.values()) >= 65


@pytest.mark.parametrize("bug", sorted(CAUGHT_BY))
def test_each_planted_bug_fails_its_case(libs: Path, bug: str) -> None:
    target = _in_process(planted(plants()[bug], libs))
    got = {c: runner.run_case(cases.discover()[c], target) for c in CAUGHT_BY[bug]}
    assert any(r.outcome not in (*GOOD, Outcome.SKIP) for r in got.values()), \
        {c: (r.outcome, r.detail) for c, r in got.items()}


@pytest.mark.parametrize(("bug", "case_id"), [
    ("STATE_SIZE_IGNORED", "shm.table.writer.abi-caller-errors"),
    ("STATE_SIZE_IGNORED", "shm.signal.sender.abi-caller-errors"),
    ("UPDATE_ANY_WORDS", "shm.table.writer.abi-caller-errors"),
    ("SERVICE_NO_ACK", "shm.signal.receiver.abi-service"),
])
def test_each_planted_shm_bug_fails_its_case(libs: Path, bug: str, case_id: str) -> None:
    target = targets.make(f"shm-lib:{shm(bug, libs)}")
    target.isolation.close()
    target.isolation = None
    res = runner.run_case(cases.discover()[case_id], target)
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
