"""A library that also exports conformance/ring/virtiospec_ring_packed.h gets the packed-ring cases
through ``lib:``: ``make libring``'s library (ring.c and ring_packed.c behind both ABIs) has
the outcomes of ``--target c``, a packed mutant fails, a split-only library SKIPs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from lib_builds import planted
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.reference.ring.c.build import build_lib

PACKED = [c for c in cases.discover().values() if c.id.startswith("ring.packed.")]


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packed")


def _outcomes(spec: str) -> dict[str, cases.Result]:
    target = targets.make(spec)
    target.isolation.close()  # these libraries neither crash nor hang
    target.isolation = None
    return {c.id: runner.run_case(c, target) for c in PACKED}


def test_the_packed_cases_run_as_on_the_c_target(libs: Path) -> None:
    got = _outcomes(f"lib:{build_lib(libs / 'both.so')}")
    c_target = targets.make("c")
    want = {c.id: runner.run_case(c, c_target).outcome for c in PACKED}
    assert len(got) >= 40
    assert {k: r.outcome for k, r in got.items()} == want
    assert all(r.outcome in (Outcome.PASS, Outcome.REJECT) for r in got.values())


def test_a_packed_mutant_fails_through_lib(libs: Path) -> None:
    lib = build_lib(libs / "wrap.so", ("-O2", "-DVS_PACKED_MUTANT=VS_PM_DRIVER_NO_WRAP_FLIP"))
    got = _outcomes(f"lib:{lib}")
    assert any(r.outcome is Outcome.FAIL for r in got.values())


def test_a_split_only_library_skips_them_saying_why(libs: Path) -> None:
    got = _outcomes(f"lib:{planted(0, libs)}")  # ring.c alone behind the split ABI
    assert all(r.outcome is Outcome.SKIP for r in got.values())
    assert all("virtiospec_ring_packed_abi_version" in r.detail for r in got.values())
