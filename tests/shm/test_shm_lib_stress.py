"""``shm-lib:X.so --stress``: the table and the shm-signal on two real threads. shm.c with a
reader that skips its second seq check, a writer that is never odd, a sender without its full
barrier or a service that reads before it acknowledges must each be caught within the bound;
shm.c itself must lose and tear nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from lib_builds import shm
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.shm import stress as shm_stress

BOUND = 6.0  # seconds; each bug is usually seen within 0.25 s


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shm_stress")


@pytest.mark.parametrize("mode", ["table", "signal"])
def test_shm_c_loses_and_tears_nothing(libs: Path, mode: str) -> None:
    lib = shm(None, libs)
    res = shm_stress.stress(lib, lib, mode, 1.0)
    assert res.outcome is Outcome.PASS, res.detail
    assert "nothing torn, stale or lost" in res.detail


@pytest.mark.parametrize(("bug", "lib_is_device", "mode", "outcome", "says"), [
    ("NO_SEQ_RECHECK", False, "table", Outcome.FAIL, "torn value"),
    ("WRITER_NEVER_ODD", True, "table", Outcome.FAIL, "torn value"),
    ("NO_MB_INJECT", True, "signal", Outcome.WEDGED, "lost notification"),
    ("ACK_AFTER_READ", False, "signal", Outcome.WEDGED, "lost notification"),
])
def test_each_bug_is_caught(libs: Path, bug: str, lib_is_device: bool, mode: str,
                            outcome: Outcome, says: str) -> None:
    lib, ref = shm(bug, libs), shm_stress.reference_lib()
    device, driver = (lib, ref) if lib_is_device else (ref, lib)
    res = shm_stress.stress(device, driver, mode, BOUND)
    assert res.outcome is outcome, res.detail
    assert says in res.detail
    assert res.seconds < BOUND + 1
