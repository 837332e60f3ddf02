"""The data-path model holds for the reference, and catches every known-bad variant."""

from __future__ import annotations

import pytest
from virtiospec.models import registry
from virtiospec.models.net.datapath import DataPathConfig, mutant_run, run_datapath
from virtiospec.models.net.mutants import MUTANTS


@pytest.mark.req("NET-060", "NET-061", "NET-062", "NET-063", "NET-017", "NET-026")
def test_reference_data_path_holds() -> None:
    ev = run_datapath(DataPathConfig(), 60, derandomize=True)
    assert ev.ok, ev.detail
    assert ev.stats["examples"] >= 60
    assert ev.stats["resets"] > 0 and ev.stats["frames"] > 100


@pytest.mark.parametrize(("name", "bug", "reqs", "cfg"), MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_caught(name: str, bug: str, reqs: tuple[str, ...], cfg: DataPathConfig) -> None:
    ev = mutant_run(cfg, shrink=False)()
    assert ev.ok, f"{name} ({bug}) survived: {ev.detail}"
    assert ev.detail.startswith("violation: NET-0")


def test_registered() -> None:
    registry.discover()
    assert "net.datapath" in registry.CHECKS
    assert {m[0] for m in MUTANTS} <= set(registry.MUTANTS)
