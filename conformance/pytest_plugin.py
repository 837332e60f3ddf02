"""A pytest plugin: run the conformance suite from an implementer's own test run.

    pytest --virtiospec-target lib:./mylib.so [--virtiospec-only ring.split.device]
           [--virtiospec-side device]

Each case becomes one test item named by its stable ID and marked with its requirement IDs
(``-m`` / ``-k`` select them as usual). PASS and REJECT pass, SKIP skips with the target's
reason, FAIL and WEDGED fail with the requirement, the expectation and the observation.
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "req(*ids): requirement IDs from virtiospec's spec/")


class CaseFailure(Exception):
    def __init__(self, case: cases.Case, result: cases.Result) -> None:
        super().__init__(result.detail)
        self.case, self.result = case, result


class CaseItem(pytest.Item):
    def __init__(self, *, case: cases.Case, target: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.target = target
        for rid in case.reqs:
            self.add_marker(pytest.mark.req(rid))

    def runtest(self) -> None:
        result = runner.run_case(self.case, self.target)
        if result.outcome is Outcome.SKIP:
            pytest.skip(result.detail)
        if result.outcome in (Outcome.FAIL, Outcome.WEDGED):
            raise CaseFailure(self.case, result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailure):
            r = excinfo.value.result
            lines = [f"{r.outcome.value}: {self.case.id} breaks {', '.join(self.case.reqs)}",
                     f"  {r.detail}"]
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
    target = targets.make(spec)
    only = config.getoption("--virtiospec-only")
    side = config.getoption("--virtiospec-side")
    for case in cases.discover().values():
        if side and case.side != side:
            continue
        if only and not any(case.id == o or case.id.startswith(o + ".") or o in case.reqs
                            for o in only):
            continue
        items.append(CaseItem.from_parent(session, name=case.id, case=case, target=target))
