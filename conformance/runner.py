"""Run cases against a target, mapping what happens to an Outcome.

A broken requirement is graded (:func:`~virtiospec.conformance.cases.grade`); a
:class:`~virtiospec.conformance.cases.TargetError` raised by a case (the peer could not start)
ends the run: it propagates to the caller, which reports it as an error of the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from virtiospec.conformance.cases import (
    Case,
    CaseFailed,
    CaseSkipped,
    Outcome,
    Result,
    TargetError,
    grade,
)


def run_case(case: Case, target: Any) -> Result:
    isolation = getattr(target, "isolation", None)
    if isolation is not None:  # a native library: the case runs in a child process
        res: Result = isolation.run_case(case)
        return res
    box: list[Result] = []
    errors: list[TargetError] = []

    def body() -> None:
        t = time.perf_counter()
        try:
            res = case.fn(target) or Result(Outcome.PASS)
        except CaseSkipped as e:
            res = Result(Outcome.SKIP, str(e))
        except CaseFailed as e:
            outcome, why = grade(case.reqs, e.req, e.extension)
            res = Result(outcome, e.detail, e.expected, e.observed, req=e.req, graded=why)
        except TargetError as e:  # the peer cannot run: no verdict on it
            errors.append(e)
            return
        except Exception as e:  # the target crashed or raised where it must not
            outcome, why = grade(case.reqs)
            res = Result(outcome, f"unexpected {type(e).__name__}: {e}", graded=why)
        res.seconds = time.perf_counter() - t
        box.append(res)

    worker = threading.Thread(target=body, daemon=True, name=case.id)
    worker.start()
    worker.join(case.budget)
    if errors:
        raise errors[0]
    if not box:
        return Result(Outcome.WEDGED, f"no answer within {case.budget:.0f} s", seconds=case.budget)
    return box[0]


def run(
    cases: Iterable[Case], target: Any, on_result: Callable[[Case, Result], None] | None = None,
    deviations: Any = None,
) -> list[tuple[Case, Result]]:
    """Run ``cases`` in order; ``deviations`` (a :class:`~.deviation_files.Deviations`) turns the
    listed failures into XFAIL and listed passes into XPASS."""
    out = []
    for case in cases:
        res = run_case(case, target)
        if deviations is not None:
            res = deviations.apply(case, res)
        out.append((case, res))
        if on_result:
            on_result(case, res)
        if res.outcome is Outcome.WEDGED and getattr(target, "isolation", None) is None \
                and not res.recovered:
            # the target is stuck in a thread we cannot stop: do not trust it further
            break
    return out
