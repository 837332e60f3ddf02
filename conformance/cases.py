"""Conformance cases and their outcomes.

A case checks one behaviour of the implementation under test (the *target*), playing the
other side itself. Each case has a stable dotted ID (``ring.split.device.rejects-loop``)
and names the requirement IDs (spec/) it checks. Layer modules register their cases with
:func:`case`; :func:`discover` imports every ``virtiospec.conformance.suites`` module.

Outcomes, as users of device conformance testers expect:

* PASS   -- the target behaved as the spec requires;
* FAIL   -- it broke a requirement (``expected`` / ``observed`` say how);
* REJECT -- the case fed bad input, the target refused it with an error and stayed healthy;
* WEDGED -- the target stopped responding within the case's time budget;
* SKIP   -- the case cannot run against this target (``detail`` says why).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from virtiospec.spec import catalogue


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    REJECT = "REJECT"
    WEDGED = "WEDGED"
    SKIP = "SKIP"


@dataclass
class Result:
    outcome: Outcome
    detail: str = ""
    expected: str = ""
    observed: str = ""
    trace: list[Any] = field(default_factory=list)  # models.registry.Step
    seconds: float = 0.0


class CaseFailed(AssertionError):
    """Raised inside a case: a requirement was broken."""

    def __init__(self, detail: str, expected: str = "", observed: str = "") -> None:
        super().__init__(detail)
        self.detail, self.expected, self.observed = detail, expected, observed


class CaseSkipped(Exception):
    """Raised inside a case: the target cannot run it (the message says why)."""


def require(cond: bool, detail: str, expected: str = "", observed: str = "") -> None:
    """Assert a requirement inside a case; the detail names what is checked."""
    if not cond:
        raise CaseFailed(detail, expected, observed)


def expect_reject(action: Callable[[], object], reqs: set[str], what: str) -> Result:
    """Run ``action``, which feeds the target bad input: it must raise an error naming one of
    ``reqs``. Returns a REJECT result; raises :class:`CaseFailed` if the input was accepted
    or refused for the wrong reason."""
    try:
        got = action()
    except Exception as err:  # the target's error type is its own; its req is what counts
        req = getattr(err, "req", None)
        if req is None:
            raise CaseFailed(f"{what}: refused with {type(err).__name__} naming no requirement",
                             expected=f"an error naming {' or '.join(sorted(reqs))}",
                             observed=f"{type(err).__name__}: {err}") from None
        if req not in reqs:
            raise CaseFailed(f"{what}: refused for the wrong reason",
                             expected=" or ".join(sorted(reqs)), observed=f"{req}: {err}") from None
        return Result(Outcome.REJECT, f"{what}: {err}")
    raise CaseFailed(f"{what}: accepted", expected=f"refusal naming {' or '.join(sorted(reqs))}",
                     observed=f"accepted, returned {got!r}")


Side = Literal["driver", "device"]


@dataclass(frozen=True)
class Case:
    id: str
    reqs: tuple[str, ...]
    side: Side  # the side of the target that the case exercises
    layer: str  # "ring", "shm", "pci", "net"
    summary: str
    fn: Callable[[Any], Result | None]  # returns None for PASS, or a Result (e.g. REJECT)
    budget: float = 10.0  # seconds before the target counts as WEDGED


CASES: dict[str, Case] = {}


def case(
    id: str, reqs: tuple[str, ...], side: Side, layer: str, summary: str, budget: float = 10.0
) -> Callable[[Callable[[Any], Result | None]], Callable[[Any], Result | None]]:
    def deco(fn: Callable[[Any], Result | None]) -> Callable[[Any], Result | None]:
        if id in CASES:
            raise ValueError(f"case {id} registered twice")
        for rid in reqs:
            catalogue.get(rid)
        CASES[id] = Case(id, reqs, side, layer, summary, fn, budget)
        return fn

    return deco


_discovered = False


def discover() -> dict[str, Case]:
    global _discovered
    if not _discovered:
        import virtiospec.conformance.suites as pkg

        for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
            importlib.import_module(info.name)
        _discovered = True
    return CASES
