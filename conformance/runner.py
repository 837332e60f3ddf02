"""Run cases against a target, mapping what happens to an Outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from virtiospec.conformance.cases import Case, CaseFailed, CaseSkipped, Outcome, Result


def run_case(case: Case, target: Any) -> Result:
    box: list[Result] = []

    def body() -> None:
        t = time.perf_counter()
        try:
            res = case.fn(target) or Result(Outcome.PASS)
        except CaseSkipped as e:
            res = Result(Outcome.SKIP, str(e))
        except CaseFailed as e:
            res = Result(Outcome.FAIL, e.detail, e.expected, e.observed)
        except Exception as e:  # the target crashed or raised where it must not
            res = Result(Outcome.FAIL, f"unexpected {type(e).__name__}: {e}")
        res.seconds = time.perf_counter() - t
        box.append(res)

    worker = threading.Thread(target=body, daemon=True, name=case.id)
    worker.start()
    worker.join(case.budget)
    if not box:
        return Result(Outcome.WEDGED, f"no answer within {case.budget:.0f} s", seconds=case.budget)
    return box[0]


def run(
    cases: Iterable[Case], target: Any, on_result: Callable[[Case, Result], None] | None = None
) -> list[tuple[Case, Result]]:
    out = []
    for case in cases:
        res = run_case(case, target)
        out.append((case, res))
        if on_result:
            on_result(case, res)
        if res.outcome is Outcome.WEDGED:
            # the target is stuck in a thread we cannot stop: do not trust it further
            break
    return out
