"""Foreign C stepped under the memory models through our TSan hooks
(conformance/ring/tsan_step/): the ring machines and the lost-wakeup races against C nobody wrote
for virtiospec, and the known-bad variants that show they find barrier bugs.

* ``ring.tsan.ring_c.<mode>.<feature>``: reference/ring.c (behind ring_abi.c) compiled with
  ``-fsanitize=thread`` and stepped through the hooks instead of its own access macros --
  the same machine, the same verdicts as ``ring.c.tso.*``;
* ``ring.tsan.ring_c.mutant.<name>``: each C mutant of reference/ring/c/ring_mutants.h through the
  same path, caught the way ``ring.c.mutant.<name>`` is (a lost-wakeup race, or the suite);
* Linux's driver (virtio_ring.c) and device (vringh.c): models/ring/tsan_linux.py.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.tsan_step import recipes
from virtiospec.conformance.ring.tsan_step.sides import device_class, driver_class
from virtiospec.conformance.ring.tsan_step.target import TsanTarget
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.memory.tso import Mode
from virtiospec.models.ring.c_checks import LITMUS_REQS, run_c_ring
from virtiospec.models.ring.c_litmus import LitmusConfig, run_litmus
from virtiospec.models.ring.c_mutants import LITMUS_EXAMPLES, MUTANTS
from virtiospec.models.ring.machine import REQS, RingConfig
from virtiospec.models.ring.mp_litmus import RACES as MP_RACES
from virtiospec.models.ring.mp_litmus import run_mp_race
from virtiospec.reference.c_stepping import abort_all

FEATURES = {False: "flags", True: "event_idx"}


def machine_check(drv_key: str, dev_key: str, mode: Mode,
                  event_idx: bool) -> Callable[[int], registry.Evidence]:
    """The ring machine with the driver of build ``drv_key`` and the device of ``dev_key``."""
    def run(n: int) -> registry.Evidence:
        cfg = RingConfig(mode=mode, event_idx=event_idx,
                         driver_cls=driver_class(drv_key),  # type: ignore[arg-type]
                         device_cls=device_class(dev_key))  # type: ignore[arg-type]
        return run_c_ring(cfg, n)

    return run


def run_race(race: str, cfg: LitmusConfig, examples: int, *,
             derandomize: bool = False) -> registry.Evidence:
    """One race of models/ring/c_litmus.py (x86-TSO) or of models/ring/mp_litmus.py (RMO)."""
    if race in MP_RACES:
        return run_mp_race(race, cfg, examples, derandomize=derandomize)
    return run_litmus(race, cfg, examples, derandomize=derandomize)


def litmus_caught(race: str, drv_key: str, dev_key: str,
                  examples: int = LITMUS_EXAMPLES) -> registry.Evidence:
    """Whether the ``race`` litmus finds a violation, with flags and with event_idx."""
    found = []
    try:
        for event_idx in (False, True):
            cfg = LitmusConfig(driver_class(drv_key), device_class(dev_key), event_idx)
            found.append((event_idx, mutant_evidence(run_race(race, cfg, examples,
                                                              derandomize=True))))
    finally:
        abort_all()
    missed = [f"{FEATURES[e]}: {ev.detail}" for e, ev in found if not ev.ok]
    if missed:
        return registry.Evidence(False, f"{race} race: " + "; ".join(missed))
    ev = found[0][1]
    return registry.Evidence(True, f"{race} race, flags and event_idx: {ev.detail}", ev.trace,
                             stats=ev.stats)


def suite_caught(key: str, reference_key: str) -> registry.Evidence:
    """Whether the ring suite grades build ``key`` failed (a broken MUST, SHOULD or
    virtiospec rule) or WEDGED in a case, while passing the reference."""
    ring = [c for c in cases.discover().values()  # the races are litmus_caught's
            if c.layer == "ring" and ".stepped." not in c.id]
    bad = (*cases.FAILED, Outcome.WEDGED)
    ref = TsanTarget(reference_key, f"tsan:{reference_key}")
    broken = [c.id for c in ring if runner.run_case(c, ref).outcome in bad]
    if broken:
        return registry.Evidence(False, f"the reference fails the suite: {', '.join(broken)}")
    target = TsanTarget(key, f"tsan:{key}")
    results = [(c, runner.run_case(c, target)) for c in ring]
    caught = [(c, r) for c, r in results if r.outcome in bad]
    stats = {"cases": float(len(results)), "caught by": float(len(caught))}
    if not caught:
        return registry.Evidence(False, f"passed all {len(results)} ring cases", stats=stats)
    first, res = caught[0]
    return registry.Evidence(True, f"{res.outcome.value} {first.id}: {res.detail}", stats=stats)


# name, memory model, VIRTIO_F_EVENT_IDX
CHECKS: tuple[tuple[str, Mode, bool], ...] = (
    ("ring.tsan.ring_c.sc.flags", "sc", False),
    ("ring.tsan.ring_c.sc.event_idx", "sc", True),
    ("ring.tsan.ring_c.tso.flags", "tso", False),
    ("ring.tsan.ring_c.tso.event_idx", "tso", True),
)
# name, the variant of models/ring/c_mutants.py built with TSan
TSAN_MUTANTS: tuple[tuple[str, str], ...] = (
    ("ring.tsan.ring_c.mutant.no-mb-kick", "ring.c.mutant.no-mb-kick"),
    ("ring.tsan.ring_c.mutant.no-mb-notify", "ring.c.mutant.no-mb-notify"),
    ("ring.tsan.ring_c.mutant.no-recheck-notify", "ring.c.mutant.no-recheck-notify"),
    ("ring.tsan.ring_c.mutant.no-recheck-cb", "ring.c.mutant.no-recheck-cb"),
    ("ring.tsan.ring_c.mutant.need-event-off-by-one", "ring.c.mutant.need-event-off-by-one"),
    ("ring.tsan.ring_c.mutant.used-idx-mod-q", "ring.c.mutant.used-idx-mod-q"),
    ("ring.tsan.ring_c.mutant.unbounded-walk", "ring.c.mutant.unbounded-walk"),
    ("ring.tsan.ring_c.mutant.no-head-check", "ring.c.mutant.no-head-check"),
    ("ring.tsan.ring_c.mutant.trust-used-id", "ring.c.mutant.trust-used-id"),
)
# name, race (LITMUS_REQS), VIRTIO_F_EVENT_IDX
LITMUS: tuple[tuple[str, str, bool], ...] = (
    ("ring.tsan.ring_c.litmus.kick.flags", "kick", False),
    ("ring.tsan.ring_c.litmus.kick.event_idx", "kick", True),
    ("ring.tsan.ring_c.litmus.interrupt.flags", "interrupt", False),
    ("ring.tsan.ring_c.litmus.interrupt.event_idx", "interrupt", True),
)


def _register_ring_c() -> None:
    ref = recipes.ring_c_key()
    if [c for _, c in TSAN_MUTANTS] != [m[0] for m in MUTANTS]:
        raise ValueError("TSAN_MUTANTS must name every variant of models/ring/c_mutants.py, "
                         "in its order")
    for name, mode, event_idx in CHECKS:
        registry.check(
            name, REQS,
            f"reference/ring.c built with -fsanitize=thread and stepped through "
            f"virtiospec's TSan hooks, both sides, {mode}, "
            f"{'VIRTIO_F_EVENT_IDX' if event_idx else 'flag'} suppression",
        )(machine_check(ref, ref, mode, event_idx))
    for (name, _), (_, switch, bug, reqs, method, _) in zip(TSAN_MUTANTS, MUTANTS, strict=True):
        key = recipes.ring_c_key(switch)
        registry.mutant(name, f"{bug} ({switch}), stepped through the TSan hooks", reqs,
                        method)(_mutant_run(method, switch, key, ref))


def _mutant_run(method: str, switch: str, key: str, ref: str) -> Callable[[], registry.Evidence]:
    if method == "hypothesis":
        race = "kick" if "KICK" in switch else "interrupt"
        drv, dev = (key, ref) if race == "kick" else (ref, key)
        return lambda: litmus_caught(race, drv, dev)
    return lambda: suite_caught(key, ref)


def _register_litmus() -> None:
    ref = recipes.ring_c_key()
    for name, race, event_idx in LITMUS:
        def run(n: int, r: str = race, e: bool = event_idx) -> registry.Evidence:
            try:
                return run_litmus(r, LitmusConfig(driver_class(ref), device_class(ref), e), n)
            finally:
                abort_all()

        registry.check(name, LITMUS_REQS[race],
                       f"the {race} lost-wakeup race of ring.c stepped through the TSan "
                       "hooks, x86-TSO")(run)


_register_ring_c()
_register_litmus()
