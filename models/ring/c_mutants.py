"""Known-bad variants of the C reference of the ring, and what catches each.

Each variant is ring.c compiled with one switch of reference/ring/c/ring_mutants.h
(``-DVS_MUTANT=VS_M_<NAME>``), in the stepped build (built at run time, cached), so that
every access it makes goes through Python: a variant that walks forever or reads outside
guest memory fails a check instead of hanging or corrupting the checker.

* hostile-input and logic bugs: the conformance suite runs against the variant
  (conformance/ring/target_stepped.py) and must FAIL at least one case -- after the same suite
  passed against the stepped reference build;
* missing barriers: the lost-wakeup races of models/ring/c_litmus.py under x86-TSO must
  find a schedule that loses a wakeup (derandomized, so the outcome is reproducible).

Registered as ``ring.c.mutant.<name>``; ``ok`` is True when the variant is caught.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.target_stepped import SteppedTarget
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.ring.c_checks import c_device_class, c_driver_class
from virtiospec.models.ring.c_litmus import LitmusConfig, run_litmus
from virtiospec.reference.ring.c.stepped import CSplitDevice, CSplitDriver, abort_all

LITMUS_EXAMPLES = 200
CAUGHT = (*cases.FAILED, Outcome.WEDGED)  # a broken MUST, SHOULD or virtiospec rule, a wedge


def _ring_cases() -> list[cases.Case]:
    return [c for c in cases.discover().values() if c.layer == "ring"]


@cache
def _reference_suite() -> str | None:
    """None when the stepped reference passes the ring suite, else what failed."""
    target = SteppedTarget()
    bad = [(c.id, r) for c in _ring_cases()
           if (r := runner.run_case(c, target)).outcome in CAUGHT]
    if not bad:
        return None
    return "; ".join(f"{cid}: {r.outcome.value} {r.detail}" for cid, r in bad)


def by_suite(mutant: str) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        broken = _reference_suite()
        if broken is not None:
            return registry.Evidence(False, f"the stepped reference fails the suite: {broken}")
        target = SteppedTarget(mutant)
        results = [(c, runner.run_case(c, target)) for c in _ring_cases()]
        caught = [(c, r) for c, r in results if r.outcome in CAUGHT]
        stats = {"cases": float(len(results)), "caught by": float(len(caught))}
        if not caught:
            return registry.Evidence(False, f"passed all {len(results)} ring cases",
                                     stats=stats)
        first, res = caught[0]
        more = f" (and {len(caught) - 1} more)" if len(caught) > 1 else ""
        return registry.Evidence(True, f"{res.outcome.value} {first.id}{more}: {res.detail}"
                                 + (f"; expected {res.expected}, observed {res.observed}"
                                    if res.expected or res.observed else ""), stats=stats)

    return run


def by_litmus(mutant: str, race: str, side: str) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        drv = c_driver_class(mutant) if side == "driver" else CSplitDriver
        dev = c_device_class(mutant) if side == "device" else CSplitDevice
        found = []
        try:
            for event_idx in (False, True):
                ev = mutant_evidence(run_litmus(race, LitmusConfig(drv, dev, event_idx),
                                                LITMUS_EXAMPLES, derandomize=True))
                found.append((event_idx, ev))
        finally:
            abort_all()
        missed = [f"{'event_idx' if e else 'flags'}: {ev.detail}" for e, ev in found if not ev.ok]
        if missed:
            return registry.Evidence(False, f"{race} race: " + "; ".join(missed))
        ev = found[0][1]
        return registry.Evidence(True, f"{race} race, flags and event_idx: {ev.detail}",
                                 ev.trace, stats=ev.stats)

    return run


MUTANTS: list[tuple[str, str, str, tuple[str, ...], registry.Method,
                    Callable[[], registry.Evidence]]] = [
    ("ring.c.mutant.no-mb-kick",
     "NO_MB_KICK", "driver kick_prepare without the mb before the suppression load",
     ("RING-SPLIT-070", "RING-SPLIT-110"), "hypothesis",
     by_litmus("NO_MB_KICK", "kick", "driver")),
    ("ring.c.mutant.no-mb-notify", "NO_MB_NOTIFY", "device should_notify without the mb before the "
     "suppression load", ("RING-SPLIT-071", "RING-SPLIT-111"), "hypothesis",
     by_litmus("NO_MB_NOTIFY", "interrupt", "device")),
    ("ring.c.mutant.no-recheck-notify",
     "NO_RECHECK_NOTIFY", "device enable_notify without the re-check of "
     "avail.idx", ("RING-SPLIT-072", "RING-SPLIT-110"), "test", by_suite("NO_RECHECK_NOTIFY")),
    ("ring.c.mutant.no-recheck-cb",
     "NO_RECHECK_CB", "driver enable_cb without the re-check of used.idx",
     ("RING-SPLIT-073", "RING-SPLIT-111"), "test", by_suite("NO_RECHECK_CB")),
    ("ring.c.mutant.need-event-off-by-one",
     "NEED_EVENT_OFF_BY_ONE", "vring_need_event tests (old, new] "
     "instead of [old, new)", ("RING-SPLIT-053", "RING-SPLIT-063", "RING-SPLIT-100"), "test",
     by_suite("NEED_EVENT_OFF_BY_ONE")),
    ("ring.c.mutant.used-idx-mod-q",
     "USED_IDX_MOD_Q", "device wraps used.idx modulo Q instead of 2^16",
     ("RING-SPLIT-043", "RING-SPLIT-092"), "test", by_suite("USED_IDX_MOD_Q")),
    ("ring.c.mutant.unbounded-walk",
     "UNBOUNDED_WALK", "device walks a chain with no loop or length bound",
     ("RING-SPLIT-080",), "test", by_suite("UNBOUNDED_WALK")),
    ("ring.c.mutant.no-head-check", "NO_HEAD_CHECK", "device walks a head index >= Q",
     ("RING-SPLIT-080",), "test", by_suite("NO_HEAD_CHECK")),
    ("ring.c.mutant.trust-used-id", "TRUST_USED_ID", "driver takes back a used id that is not an "
     "outstanding head", ("RING-SPLIT-085", "RING-SPLIT-093"), "test",
     by_suite("TRUST_USED_ID")),
]

for _name, _switch, _bug, _reqs, _method, _run in MUTANTS:
    registry.mutant(_name, f"{_bug} ({_switch})", _reqs, _method)(_run)
