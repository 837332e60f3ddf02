"""A pytest plugin: run the conformance suite from an implementer's own test run.

    pytest --virtiospec-target lib:./mylib.so [--virtiospec-only ring.split.device]
           [--virtiospec-side device]

Each case becomes one test item named by its stable ID and marked with its requirement IDs
(``-m`` / ``-k`` select them as usual). PASS and REJECT pass, SKIP skips with the target's
reason, FAIL and WEDGED fail with the requirement, the expectation and the observation.
NON-STRICT (a VIRTIO SHOULD) and EXTENSION (a rule of virtiospec's) are reported as xfailed
with their grade, and fail with ``--virtiospec-strict``. A bad target is a usage error.
Without ``--virtiospec-target`` the plugin adds nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("virtiospec", "virtiospec conformance suite")
    group.addoption("--virtiospec-target", default=None, metavar="TARGET",
                    help="run the conformance suite against TARGET (reference, c, lib:PATH.so)")
    group.addoption("--virtiospec-only", action="append", default=None, metavar="ID",
                    help="case ID, dotted prefix or requirement ID (repeatable)")
    group.addoption("--virtiospec-side", default=None, choices=("driver", "device"),
                    help="only the cases of this side")
    group.addoption("--virtiospec-strict", action="store_true", default=False,
                    help="NON-STRICT and EXTENSION fail too")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "req(*ids): requirement IDs from virtiospec's spec/")


class CaseFailure(Exception):
    def __init__(self, case: cases.Case, result: cases.Result) -> None:
        super().__init__(result.detail)
        self.case, self.result = case, result


class CaseItem(pytest.Item):
    def __init__(self, *, case: cases.Case, target: Any, strict: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.target = target
        self.strict = strict
        for rid in case.reqs:
            self.add_marker(pytest.mark.req(rid))

    def runtest(self) -> None:
        result = runner.run_case(self.case, self.target)
        if result.outcome is Outcome.SKIP:
            pytest.skip(result.detail)
        if cases.unexpected([result.outcome], self.strict):
            raise CaseFailure(self.case, result)
        if result.outcome in cases.FAILED:
            pytest.xfail(f"{result.outcome.value}: {result.detail} ({result.graded})")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailure):
            r = excinfo.value.result
            broken = r.req or ", ".join(self.case.reqs)
            lines = [f"{r.outcome.value}: {self.case.id} breaks {broken}",
                     f"  {r.detail}"]
            if r.graded:
                lines.append(f"  graded: {r.graded}")
            if r.expected or r.observed:
                lines += [f"  expected: {r.expected}", f"  observed: {r.observed}"]
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"virtiospec {self.case.id}"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    spec = config.getoption("--virtiospec-target")
    if not spec:
        return
    try:
        target = targets.make(spec)
    except cases.TargetError as err:
        raise pytest.UsageError(str(err)) from None
    strict = bool(config.getoption("--virtiospec-strict"))
    only = config.getoption("--virtiospec-only")
    side = config.getoption("--virtiospec-side")
    for case in cases.discover().values():
        if side and case.side != side:
            continue
        if only and not any(case.id == o or case.id.startswith(o + ".") or o in case.reqs
                            for o in only):
            continue
        items.append(CaseItem.from_parent(session, name=case.id, case=case, target=target,
                                         strict=strict))
