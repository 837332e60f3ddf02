"""prove/check -j N: results in registry order with the verdicts of -j 1; stress entries run
alone; Hypothesis' shared example database keyed by registry entry."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import DB_ENV, EntryDatabase, entry_scope, hypothesis_settings

from virtiospec.cli import app
from virtiospec.parallel import default_jobs, run_entries, runs_alone

runner = CliRunner()


def _verdicts(args: list[str]) -> list[tuple[str, bool]]:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code in (0, 1), res.output
    return [(r["name"], r["ok"]) for r in json.loads(res.stdout)["results"]]


def test_mutants_j2_same_order_and_verdicts_as_j1() -> None:
    one = _verdicts(["prove", "--mutants", "--only", "ring.bounds", "-j", "1"])
    two = _verdicts(["prove", "--mutants", "--only", "ring.bounds", "-j", "2"])
    registry.discover()
    assert [n for n, _ in one] == [e.name for e in registry.select(registry.MUTANTS,
                                                                   ["ring.bounds"])]
    assert one == two and all(ok for _, ok in one)


def test_checks_j2_same_order_and_verdicts_as_j1() -> None:
    only = ["--only", "ring.sc", "--only", "shm.table.sc", "-n", "5"]
    one = _verdicts(["check", *only, "-j", "1"])
    two = _verdicts(["check", *only, "-j", "2"])
    assert len(one) >= 2 and one == two


@pytest.fixture
def fake_entries() -> Iterator[list[registry.Proof]]:
    """Three proofs: the first finishes last; the third is a stress entry."""

    def slow() -> registry.Evidence:
        time.sleep(1.0)
        return registry.Evidence(True, str(os.getpid()))

    def fast() -> registry.Evidence:
        return registry.Evidence(False, str(os.getpid()))

    made = [registry.Proof("zz_test.slow", (), "", slow),
            registry.Proof("zz_test.fast", (), "", fast),
            registry.Proof("zz_test.stress.alone", (), "", fast)]
    for p in made:
        registry.PROOFS[p.name] = p
    yield made
    for p in made:
        del registry.PROOFS[p.name]


def test_results_in_entry_order_stress_alone_in_this_process(
        fake_entries: list[registry.Proof]) -> None:
    registry.discover()
    out = list(run_entries("proof", list(fake_entries), 2))
    assert [e.name for e, _ in out] == [e.name for e in fake_entries]
    assert [ev.ok for _, ev in out] == [True, False, False]
    pids = [int(ev.detail) for _, ev in out]
    assert pids[0] != os.getpid() and pids[1] != os.getpid()  # in workers
    assert pids[2] == os.getpid() and runs_alone(fake_entries[2])
    assert not runs_alone(fake_entries[0])


def test_bad_jobs_is_a_one_line_error() -> None:
    res = runner.invoke(app, ["prove", "--only", "ring.bounds", "-j", "0"])
    assert res.exit_code == 2 and "-j 0" in res.output and "Traceback" not in res.output
    assert default_jobs() >= 1


def test_shared_database_keyed_by_entry(tmp_path: object, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    db = EntryDatabase(str(tmp_path))
    with entry_scope("ring.a"):
        db.save(b"k", b"v")
        assert list(db.fetch(b"k")) == [b"v"]
    with entry_scope("ring.b"):
        assert list(db.fetch(b"k")) == []  # another entry never replays (or deletes) it
    monkeypatch.setenv(DB_ENV, str(tmp_path))
    assert isinstance(hypothesis_settings(5).database, EntryDatabase)
    assert hypothesis_settings(5, derandomize=True).database is None
    monkeypatch.delenv(DB_ENV)
    assert hypothesis_settings(5).database is None


def test_counterexample_replays_from_the_shared_database(tmp_path: object) -> None:
    """A failure saved by one run is replayed first by the next run of the same entry."""
    from hypothesis import given
    from hypothesis import strategies as st

    os.environ[DB_ENV] = str(tmp_path)
    try:
        calls: list[int] = []

        def make() -> object:
            @hypothesis_settings(200)
            @given(st.integers(0, 10**9))
            def t(x: int) -> None:
                calls.append(x)
                assert x < 1000

            return t

        with entry_scope("zz.replay"), pytest.raises(AssertionError):
            make()()  # type: ignore[operator]
        found = calls[-1]
        calls.clear()
        with entry_scope("zz.replay"), pytest.raises(AssertionError):
            make()()  # type: ignore[operator]
        assert calls[0] == found  # replayed first, before any new example
    finally:
        del os.environ[DB_ENV]
