"""A native library runs in a child process: a case that crashes it (SIGSEGV) or wedges in it
costs that case only, the run goes on, and every report is written."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from lib_builds import planted, plants
from typer.testing import CliRunner
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome

from virtiospec.cli import app

DEVICE = [c for c in cases.discover().values()
          if c.id.startswith("ring.split.device.") and not c.id.startswith("ring.split.abi")]


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("planted")


def _run(lib: Path, chosen: list[cases.Case]) -> list[tuple[cases.Case, cases.Result]]:
    target = targets.make(f"lib:{lib}")
    try:
        return runner.run(chosen, target)
    finally:
        target.isolation.close()


def test_a_crash_costs_one_case_and_names_signal_and_call(libs: Path) -> None:
    chosen = DEVICE[:4]
    out = _run(planted(plants()["CRASH_3RD_POP"], libs), chosen)
    assert [c.id for c, _ in out] == [c.id for c in chosen]  # every case ran
    crashed = [r for _, r in out if "crashed" in r.detail]
    assert crashed, [r.detail for _, r in out]
    for r in crashed:
        assert r.outcome is Outcome.FAIL
        assert "SIGSEGV in virtiospec_ring_device_pop" in r.detail
    # the first case, before any third pop, ran to its verdict in the child that crashed later
    assert out[0][1].outcome in (Outcome.PASS, Outcome.REJECT)


def test_a_wedge_costs_one_case_and_the_run_goes_on(libs: Path) -> None:
    chosen = [dataclasses.replace(c, budget=1.5) for c in DEVICE[:4]]
    out = _run(planted(plants()["SPIN_3RD_POP"], libs), chosen)
    assert [c.id for c, _ in out] == [c.id for c in chosen]
    wedged = [r for _, r in out if r.outcome is Outcome.WEDGED]
    assert wedged and all("stuck in virtiospec_ring_device_pop" in r.detail for r in wedged)
    first = next(k for k, (_, r) in enumerate(out) if r.outcome is Outcome.WEDGED)
    assert first < len(out) - 1  # cases after the wedge ran, each in a fresh child
    assert all(r.outcome is not Outcome.SKIP for _, r in out)


def test_the_correct_library_passes_in_child_processes(libs: Path) -> None:
    out = _run(planted(0, libs), DEVICE[:4])
    assert {r.outcome for _, r in out} <= {Outcome.PASS, Outcome.REJECT}


def test_every_report_is_written_after_a_crash(libs: Path, tmp_path: Path) -> None:
    lib = planted(plants()["CRASH_3RD_POP"], libs)
    reports = {k: tmp_path / f"r.{k}" for k in ("json", "junit", "html")}
    res = CliRunner().invoke(app, ["conformance", "run", "--target", f"lib:{lib}", "--only",
                                   "ring.split.device.pop-direct-chain", "--only",
                                   "ring.split.device.push-in-used-order", "--only",
                                   "ring.split.device.index-wrap", "-q",
                                   *(f"--report={k}:{p}" for k, p in reports.items())])
    assert res.exit_code == 1, res.output
    assert all(p.exists() for p in reports.values()), res.output
    data = json.loads(reports["json"].read_text())
    assert len(data["cases"]) == 3
    assert any("SIGSEGV" in c["detail"] for c in data["cases"])
    assert "SIGSEGV" in reports["junit"].read_text()


def test_a_crash_on_two_threads_names_the_call(libs: Path) -> None:
    from virtiospec.conformance.ring import lib_stress

    lib = planted(plants()["CRASH_3RD_POP"], libs)
    v = lib_stress.stress(lib_stress.reference_lib(), lib, 2.0)
    assert v.result.outcome is Outcome.FAIL
    assert "SIGSEGV in virtiospec_ring_device_pop (device thread)" in v.result.detail
