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

A broken requirement is graded by whose rule it is (:func:`grade`): FAIL only for a VIRTIO
MUST or MUST NOT (or a MUST of a layer VIRTIO does not define, whose only specification is
virtiospec's: the virtio-shm table and signal, vhost-user); NON-STRICT for a SHOULD or SHOULD
NOT; EXTENSION for a rule of virtiospec's own that goes beyond VIRTIO. A known deviation of
the peer (a deviation file, :mod:`.deviation_files`) turns a listed failure into XFAIL and a
listed case that passes into XPASS.
A target that cannot run at all raises :class:`TargetError`: an error of the run, no verdict.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any, Literal

from virtiospec.spec import catalogue


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"  # a VIRTIO MUST or MUST NOT was broken
    REJECT = "REJECT"
    WEDGED = "WEDGED"
    SKIP = "SKIP"
    NON_STRICT = "NON-STRICT"  # a VIRTIO SHOULD or SHOULD NOT was not followed
    EXTENSION = "EXTENSION"  # a rule of virtiospec's beyond VIRTIO was broken
    XFAIL = "XFAIL"  # a failure listed as a known deviation of the peer
    XPASS = "XPASS"  # a case listed as a known deviation that passed


FAILED = (Outcome.FAIL, Outcome.NON_STRICT, Outcome.EXTENSION)  # the grades of a broken rule
PASSED = (Outcome.PASS, Outcome.REJECT)


def unexpected(outcomes: list[Outcome], strict: bool = False) -> int:
    """How many outcomes count against the run: FAIL, WEDGED and XPASS; with ``strict`` also
    NON-STRICT and EXTENSION."""
    bad = {Outcome.FAIL, Outcome.WEDGED, Outcome.XPASS}
    if strict:
        bad |= {Outcome.NON_STRICT, Outcome.EXTENSION}
    return sum(1 for o in outcomes if o in bad)


class TargetError(ValueError):
    """The target cannot run (a bad target spec or option, a peer that does not start): an
    error of the run, reported in one line, never a verdict on the peer."""


@dataclass
class Result:
    outcome: Outcome
    detail: str = ""
    expected: str = ""
    observed: str = ""
    trace: list[Any] = field(default_factory=list)  # models.registry.Step
    seconds: float = 0.0
    req: str = ""  # the requirement the failure broke, when the case named one
    graded: str = ""  # why the failure got its grade (which rule, whose)
    deviation: str = ""  # XFAIL / XPASS: the listed deviation (requirement, reason, version)
    recovered: bool = False  # WEDGED, but the case killed and will restart the stuck peer


class CaseFailed(AssertionError):
    """Raised inside a case: a requirement was broken. ``req`` names which one of the case's
    requirements (else the case's requirements grade it); ``extension`` says why the broken
    rule is virtiospec's own although the requirement is VIRTIO-tagged (graded EXTENSION)."""

    def __init__(self, detail: str, expected: str = "", observed: str = "", *,
                 req: str = "", extension: str = "") -> None:
        super().__init__(detail)
        self.detail, self.expected, self.observed = detail, expected, observed
        self.req, self.extension = req, extension


class CaseSkipped(Exception):
    """Raised inside a case: the target cannot run it (the message says why)."""


def require(cond: bool, detail: str, expected: str = "", observed: str = "", *,
            req: str = "", extension: str = "") -> None:
    """Assert a requirement inside a case; the detail names what is checked, ``req`` (one of
    the case's requirements) which rule a failure breaks."""
    if not cond:
        raise CaseFailed(detail, expected, observed, req=req, extension=extension)


_RANK = {Outcome.EXTENSION: 0, Outcome.NON_STRICT: 1, Outcome.FAIL: 2}


OWN_SPEC_FILES = ("shm.md",)  # virtio-shm: a layer of virtiospec's own above VIRTIO's regions


@cache
def own_layers() -> frozenset[str]:
    """The layers virtiospec's text is the only specification of: those with no VIRTIO entry
    (the virtio-shm table, signal, clock, interrupt and ring on shm; vhost-user) and the
    layers of virtio-shm's spec file (its region rules too). Breaking one of their MUSTs is
    graded as breaking the spec (FAIL), not as an extension of VIRTIO."""
    reqs = catalogue.load().values()
    return frozenset({r.layer for r in reqs if r.file in OWN_SPEC_FILES}
                     | ({r.layer for r in reqs} - {r.layer for r in reqs if r.normative}))


def grade_of(req_id: str) -> tuple[Outcome, str]:
    """The grade of breaking one requirement, and why."""
    r = catalogue.get(req_id)
    strong = r.level in ("MUST", "MUST NOT")
    if not r.normative and r.layer in own_layers():
        why = f"{req_id}: {r.level} of {r.layer}, a layer VIRTIO does not define ({r.source})"
        return (Outcome.FAIL if strong else Outcome.NON_STRICT), why
    if not r.normative:
        return Outcome.EXTENSION, f"{req_id} is virtiospec's ({r.source}), beyond VIRTIO"
    return (Outcome.FAIL if strong else Outcome.NON_STRICT), f"{req_id}: VIRTIO {r.level} " \
        f"({r.source})"


def grade(case_reqs: tuple[str, ...], req: str = "", extension: str = "") -> tuple[Outcome, str]:
    """The grade of a failure: by the requirement it names (EXTENSION if ``extension`` says the
    broken part is ours); a failure naming none takes the mildest grade among the case's
    requirements, so that FAIL always means a VIRTIO MUST or MUST NOT was broken."""
    if extension:
        return Outcome.EXTENSION, f"{req or ', '.join(case_reqs)}: {extension}"
    if req:
        return grade_of(req)
    grades = [grade_of(r) for r in case_reqs]
    if not grades:
        return Outcome.FAIL, "no requirement named"
    return min(grades, key=lambda g: _RANK[g[0]])


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


def expect_device_stops(dev: Any, read: Callable[[], bytes], reqs: set[str], what: str,
                        where: str, went_on: str) -> Result:
    """The device pops a bad chain or list the peer just published: :func:`expect_reject`;
    then what ``read`` returns (the part of the ring it would write, ``where``) must be
    unchanged, and the device must stop (``needs_reset``, or refusing the next ``pop``)
    rather than go on (``went_on`` is what the failure reports it did). Shared by the split
    and the packed ring's device suites."""
    before = read()
    result = expect_reject(dev.pop, reqs, what)
    require(before == read(), f"{what}: {where} is untouched after the refusal")
    refused_again = dev.needs_reset
    if not refused_again:
        try:
            dev.pop()
        except Exception:
            refused_again = True
    require(refused_again, f"{what}: the device stops (DEVICE_NEEDS_RESET) instead of going on",
            "needs_reset or a refusal", went_on)
    return result


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
