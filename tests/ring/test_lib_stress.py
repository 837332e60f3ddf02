"""``--stress``: a native ring library on two real threads against ring.c and against itself.
ring.c built with NO_MB_KICK or NO_MB_NOTIFY (ring_mutants.h), loaded through lib:, must
lose the wakeup it names within the bound; the correct library must lose nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from lib_builds import mutant
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring import lib_stress

BOUND = 8.0  # seconds; each bug is usually seen within 0.3 s (a 200 ms lost-wakeup watch)
ROUNDS = 5  # a loaded machine may schedule the two threads so that the race never opens


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stress")


def test_the_correct_library_loses_nothing(libs: Path) -> None:
    lib = mutant(None, libs)
    v = lib_stress.stress(lib, lib, 1.0)
    assert v.result.outcome is Outcome.PASS, v.result.detail
    assert sum(int(str(r["buffers"])) for r in v.runs) > 1000
    assert {r["mode"] for r in v.runs} == {"event_idx", "flags"}


@pytest.mark.parametrize(("bug", "side", "lost"), [("NO_MB_KICK", "driver", "kick"),
                                                   ("NO_MB_NOTIFY", "device", "interrupt")])
def test_a_missing_barrier_loses_its_wakeup(libs: Path, bug: str, side: str, lost: str) -> None:
    lib = mutant(bug, libs)
    ref = lib_stress.reference_lib()
    driver, device = (lib, ref) if side == "driver" else (ref, lib)
    # the race is real (two threads on real cores): a round that happens not to lose the
    # wakeup must PASS cleanly; another round is run, up to ROUNDS x BOUND seconds in all
    for _ in range(ROUNDS):
        v = lib_stress.stress(driver, device, BOUND)
        if v.result.outcome is not Outcome.PASS:
            break
    assert v.result.outcome is Outcome.WEDGED, v.result.detail
    assert f"lost {lost} (" in v.result.detail
    assert v.result.seconds < BOUND + 1


def test_the_pairs_follow_the_sides(libs: Path) -> None:
    lib = mutant(None, libs)
    assert [p[0] for p in lib_stress.pairs(lib, ("driver", "device"))] == [
        "driver-vs-ring.c", "device-vs-ring.c", "both-sides"]
    assert [p[0] for p in lib_stress.pairs(lib, ("device",))] == ["device-vs-ring.c"]


def test_a_broken_index_is_a_fail(libs: Path) -> None:
    lib = mutant("USED_IDX_MOD_Q", libs)  # used.idx wrapped modulo Q
    v = lib_stress.stress(lib, lib, 4.0)
    assert v.result.outcome is Outcome.FAIL, v.result.detail
    assert "error 13" in v.result.detail or "a stall" in v.result.detail


def test_the_packed_ring_on_two_threads(libs: Path) -> None:
    """The packed ABI (virtiospec_ring_packed.h) in the same harness: ring_packed.c loses
    nothing; without the mb of its notify decision it loses an interrupt (the harness's own
    count of returned buffers is a plain store, not a fence that would hide it)."""
    from virtiospec.reference.ring.c.build import build_lib

    ref = lib_stress.reference_lib()
    good = lib_stress.stress(ref, ref, 1.0, packed=True)
    assert good.result.outcome is Outcome.PASS, good.result.detail
    bad = build_lib(libs / "packed_no_mb_notify.so",
                    ("-O2", "-DVS_PACKED_MUTANT=VS_PM_DEVICE_NO_MB_NOTIFY"))
    for _ in range(ROUNDS):
        v = lib_stress.stress(ref, bad, BOUND, packed=True)
        if v.result.outcome is not Outcome.PASS:
            break
    assert v.result.outcome is Outcome.WEDGED and "lost interrupt (" in v.result.detail
