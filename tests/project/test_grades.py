"""Grades of a broken rule (FAIL only for a VIRTIO MUST / MUST NOT, NON-STRICT for a SHOULD,
EXTENSION for a rule of virtiospec's own), known deviations as data (XFAIL / XPASS), what counts
against a run, and the reports carrying all of it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from virtiospec.conformance import cases, deviation_files, report, runner
from virtiospec.conformance.cases import Case, CaseFailed, Outcome, Result, TargetError
from virtiospec.spec import catalogue


def _one(pred: object) -> str:
    """The first catalogue ID satisfying ``pred`` (picked from the catalogue, not hard-coded,
    so a re-levelled entry does not silently change what the test means)."""
    for rid, r in sorted(catalogue.load().items()):
        if pred(r):  # type: ignore[operator]
            return rid
    raise AssertionError("no such requirement in the catalogue")


MUST = _one(lambda r: r.normative and r.level in ("MUST", "MUST NOT"))
SHOULD = _one(lambda r: r.normative and r.level in ("SHOULD", "SHOULD NOT"))
OURS = _one(lambda r: not r.normative and r.layer not in cases.own_layers())
OWN = _one(lambda r: r.layer in cases.own_layers() and r.level == "MUST")


def _failing(reqs: tuple[str, ...], **kw: str) -> Case:
    def fn(_target: object) -> Result | None:
        raise CaseFailed("broken", "x", "y", **kw)

    return Case("t." + "-".join(reqs).lower(), reqs, "device", "ring", "fails", fn, budget=5)


def _passing(case_id: str = "t.pass") -> Case:
    return Case(case_id, (MUST,), "device", "ring", "passes", lambda _t: None, budget=5)


def test_grade_of_each_kind_of_requirement() -> None:
    assert cases.grade_of(MUST)[0] is Outcome.FAIL
    assert cases.grade_of(SHOULD)[0] is Outcome.NON_STRICT
    assert cases.grade_of(OURS)[0] is Outcome.EXTENSION
    assert "beyond VIRTIO" in cases.grade_of(OURS)[1]


def test_a_layer_virtio_does_not_define_is_graded_by_its_own_spec() -> None:
    """virtio-shm's table and signal, vhost-user: virtiospec's text is their only spec, so
    breaking one of their MUSTs is a FAIL, not an extension of VIRTIO."""
    assert {"SHM-TABLE", "SHM-SIGNAL"} <= cases.own_layers()
    assert not {"RING-SPLIT", "VIRTIO-PCI", "NET"} & cases.own_layers()
    assert cases.grade_of(OWN)[0] is Outcome.FAIL
    assert "a layer VIRTIO does not define" in cases.grade_of(OWN)[1]


def test_a_failure_naming_no_requirement_takes_the_mildest_grade() -> None:
    # FAIL must mean a VIRTIO MUST was broken: a case that also checks a rule of ours cannot
    # claim FAIL unless the failing check names the VIRTIO requirement
    assert cases.grade((MUST,))[0] is Outcome.FAIL
    assert cases.grade((MUST, SHOULD))[0] is Outcome.NON_STRICT
    assert cases.grade((MUST, OURS))[0] is Outcome.EXTENSION
    assert cases.grade((MUST, OURS), req=MUST)[0] is Outcome.FAIL
    assert cases.grade((MUST, OURS), req=OURS)[0] is Outcome.EXTENSION
    # a VIRTIO-tagged requirement whose checked part is our tightening
    assert cases.grade((MUST,), req=MUST, extension="ours")[0] is Outcome.EXTENSION


@pytest.mark.parametrize(("reqs", "kw", "want"), [
    ((MUST,), {}, Outcome.FAIL),
    ((SHOULD,), {}, Outcome.NON_STRICT),
    ((OURS,), {}, Outcome.EXTENSION),
    ((MUST, OURS), {"req": MUST}, Outcome.FAIL),
    ((MUST,), {"extension": "the queue_select rule is ours"}, Outcome.EXTENSION),
])
def test_the_runner_grades_a_failed_case(reqs: tuple[str, ...], kw: dict[str, str],
                                         want: Outcome) -> None:
    res = runner.run_case(_failing(reqs, **kw), object())
    assert res.outcome is want, res
    assert res.graded and res.detail == "broken"


def test_unexpected_counts() -> None:
    lenient = [Outcome.PASS, Outcome.NON_STRICT, Outcome.EXTENSION, Outcome.XFAIL, Outcome.SKIP]
    assert cases.unexpected(lenient) == 0
    assert cases.unexpected(lenient, strict=True) == 2
    assert cases.unexpected([Outcome.FAIL, Outcome.WEDGED, Outcome.XPASS]) == 3


def test_a_target_error_ends_the_run_instead_of_a_verdict() -> None:
    def cannot_start(_target: object) -> None:
        raise TargetError("the peer did not start")

    broken = Case("t.start", (MUST,), "device", "ring", "x", cannot_start, budget=5)
    with pytest.raises(TargetError, match="did not start"):
        runner.run([broken, _passing()], object())


def _deviations(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "dev.toml"
    path.write_text(body, encoding="utf-8")
    return path


def _entry(case_id: str, req: str) -> str:
    return (f'[[deviation]]\ncase = "{case_id}"\nrequirement = "{req}"\n'
            f'reason = "because"\nversion = "peer 1.0"\n')


def test_deviations_turn_listed_failures_into_xfail_and_passes_into_xpass(
        tmp_path: Path) -> None:
    failing, passing, other = _failing((MUST,)), _passing("t.listed"), _failing((MUST,))
    other = Case("t.other", other.reqs, other.side, other.layer, other.summary, other.fn)
    known = {c.id: c for c in (failing, passing, other)}
    devs = deviation_files.load(
        [_deviations(tmp_path, _entry(failing.id, MUST) + _entry(passing.id, MUST))], known)
    got = {c.id: r for c, r in runner.run([failing, passing, other], object(), deviations=devs)}
    assert got[failing.id].outcome is Outcome.XFAIL
    assert got[failing.id].graded.startswith("FAIL") and "because" in got[failing.id].deviation
    assert got[passing.id].outcome is Outcome.XPASS  # the peer changed: it must show
    assert got["t.other"].outcome is Outcome.FAIL  # not listed: still a failure
    assert cases.unexpected([r.outcome for r in got.values()]) == 2


def test_a_deviation_of_one_configuration_applies_only_to_it(tmp_path: Path) -> None:
    failing = _failing((MUST,))
    body = _entry(failing.id, MUST) + 'options = "ctrl_vq=off, mq=on"\n'
    path = _deviations(tmp_path, body)
    known = {failing.id: failing}
    assert len(deviation_files.load([path], known, {"ctrl_vq": "off"})) == 0  # mq=on missing
    devs = deviation_files.load([path], known, {"ctrl_vq": "off", "mq": "on", "x": "1"})
    assert len(devs) == 1 and "with ctrl_vq=off, mq=on" in devs.by_case[failing.id].version
    assert deviation_files.load([path], known).by_case == {}  # the default configuration
    with pytest.raises(TargetError, match="options: expected KEY=VAL"):
        deviation_files.load([_deviations(tmp_path, _entry(failing.id, MUST)
                                          + 'options = "ctrl_vq"\n')], known)


@pytest.mark.parametrize(("body", "error"), [
    ("not toml [[[", "not TOML"),
    ('[[deviation]]\ncase = "t.x"\n', "missing requirement, reason, version"),
    (_entry("no.such.case", MUST), "no case 'no.such.case'"),
    (_entry("t.pass", SHOULD), f"does not check {SHOULD}"),
    (_entry("t.pass", MUST) + 'extra = "1"\n', "unknown field extra"),
])
def test_bad_deviation_files_are_refused(tmp_path: Path, body: str, error: str) -> None:
    with pytest.raises(TargetError, match=error):
        deviation_files.load([_deviations(tmp_path, body)], {"t.pass": _passing()})


def test_missing_deviation_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="deviations"):
        deviation_files.load([tmp_path / "nope.toml"], {})


@pytest.mark.parametrize("peer", ["qemu", "dpdk"])
def test_shipped_deviations_are_valid_and_list_only_virtio_musts(peer: str) -> None:
    """A listed deviation says the peer broke VIRTIO: each names a VIRTIO MUST or MUST NOT
    that its case checks (our own rules are EXTENSION, never listed as the peer's fault)."""
    path = deviation_files.shipped(peer)
    assert path is not None
    devs = deviation_files.load([path], cases.discover())
    assert len(devs) >= 1
    for dev in devs.by_case.values():
        assert cases.grade_of(dev.requirement)[0] is Outcome.FAIL, dev
        assert dev.version and dev.reason


def _results() -> report.Results:
    graded = [(_failing((MUST,)), Outcome.FAIL), (_failing((OURS,)), Outcome.EXTENSION),
              (_failing((SHOULD,)), Outcome.NON_STRICT)]
    out = [(c, runner.run_case(c, object())) for c, _ in graded]
    for (_, want), (_, res) in zip(graded, out, strict=True):
        assert res.outcome is want
    xfail = Result(Outcome.XFAIL, "listed", graded="FAIL (x)", deviation="R: why (peer 1)")
    out.append((_passing("t.xfail"), xfail))
    out.append((_passing("t.xpass"), Result(Outcome.XPASS, "listed, but PASS")))
    return out


@pytest.mark.parametrize("strict", [False, True])
def test_junit_fails_only_what_counts(strict: bool) -> None:
    suite = ET.fromstring(report.junit(_results(), "t", strict))
    failed = {tc.get("name") for tc in suite.iter("testcase") if tc.find("failure") is not None}
    want = {"t.xpass", f"t.{MUST.lower()}"}
    if strict:
        want |= {f"t.{OURS.lower()}", f"t.{SHOULD.lower()}"}
    assert failed == want
    assert suite.get("failures") == str(len(want))
    props = {(tc.get("name"), p.get("name")): p.get("value")
             for tc in suite.iter("testcase") for p in tc.iter("property")}
    assert props[("t.xfail", "outcome")] == "XFAIL"
    assert props[("t.xfail", "deviation")] == "R: why (peer 1)"
    assert "beyond VIRTIO" in str(props[(f"t.{OURS.lower()}", "graded")])


def test_json_and_html_carry_grades() -> None:
    data = json.loads(report.as_json(_results(), "t", strict=True))
    assert data["strict"] is True and data["unexpected"] == 4
    assert data["counts"]["EXTENSION"] == 1 and data["counts"]["XFAIL"] == 1
    by_id = {c["id"]: c for c in data["cases"]}
    assert by_id["t.xfail"]["deviation"] == "R: why (peer 1)"
    assert by_id[f"t.{SHOULD.lower()}"]["outcome"] == "NON-STRICT"
    page = report.html(_results(), "t")
    assert "graded:" in page and 'class="XPASS"' in page and "known deviation" in page
    assert "1 unexpected" not in page and "2 unexpected" in page  # FAIL and XPASS, lenient
