"""Linux's own ring code under the memory models: drivers/virtio/virtio_ring.c (driver) and
drivers/vhost/vringh.c (device), compiled from Debian's linux-source-6.1 (or the tree or
tarball in $VIRTIOSPEC_LINUX_SRC) behind conformance/ring/linux_vring/'s glue and stepped access
by access through virtiospec's TSan hooks (conformance/ring/tsan_step/).

* ``ring.tsan.linux.<mode>.<feature>``: the ring machine, Linux's driver against Linux's
  device, under SC, x86-TSO and RMO;
* ``ring.tsan.linux.litmus.<race>.<feature>``: the kick and interrupt lost-wakeup races
  (x86-TSO) and the used and avail message-passing races (RMO, models/ring/mp_litmus.py);
* ``ring.tsan.linux.packed.<mode>``: Linux's packed-ring driver against the reference
  packed device in the packed-ring machine (Linux has no packed device);
* ``ring.tsan.linux.mutant.<variant>``: the barrier bugs that shipped in Linux's ring code,
  re-introduced one at a time by a one-line patch of the extracted source
  (conformance/ring/tsan_step/linux.py: VARIANTS), each caught by its race with the shortest
  schedule Hypothesis finds, drawn by models/render.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from virtiospec.conformance.ring.tsan_step import linux
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.memory.tso import Mode
from virtiospec.models.ring.c_checks import LITMUS_REQS
from virtiospec.models.ring.c_litmus import LitmusConfig
from virtiospec.models.ring.machine import REQS, RMO_REQS
from virtiospec.models.ring.mp_litmus import REQS as MP_REQS
from virtiospec.models.ring.packed.machine import REQS as PACKED_REQS
from virtiospec.models.ring.packed.machine import PackedConfig, run_packed
from virtiospec.models.ring.tsan_checks import (
    litmus_caught,
    machine_check,
    run_race,
)
from virtiospec.reference.c_stepping import abort_all

SRC = os.environ.get("VIRTIOSPEC_LINUX_SRC") or None
PACKED_EXAMPLES = 300
WHO = "Linux's virtio_ring.c (driver) and vringh.c (device), stepped through the TSan hooks"
RACES = {**LITMUS_REQS, **MP_REQS}
# which race catches each variant: a missing mb loses a wakeup (x86-TSO), a missing rmb or
# wmb hands over a stale entry (RMO)
RACE_OF = {"NO_MB_KICK_PREPARE": "kick", "NO_MB_NOTIFY_ENABLE": "kick",
           "NO_MB_NEED_NOTIFY": "interrupt", "NO_RMB_GET_BUF": "used", "NO_WMB_ADD": "avail",
           "NO_RMB_GET_HEAD": "avail", "NO_WMB_COMPLETE": "used"}


# name, memory model, VIRTIO_F_EVENT_IDX
CHECKS: tuple[tuple[str, Mode, bool], ...] = (
    ("ring.tsan.linux.sc.flags", "sc", False),
    ("ring.tsan.linux.sc.event_idx", "sc", True),
    ("ring.tsan.linux.tso.flags", "tso", False),
    ("ring.tsan.linux.tso.event_idx", "tso", True),
    ("ring.tsan.linux.rmo.flags", "rmo", False),
    ("ring.tsan.linux.rmo.event_idx", "rmo", True),
)
# name, race (RACES), VIRTIO_F_EVENT_IDX
LITMUS: tuple[tuple[str, str, bool], ...] = (
    ("ring.tsan.linux.litmus.kick.flags", "kick", False),
    ("ring.tsan.linux.litmus.kick.event_idx", "kick", True),
    ("ring.tsan.linux.litmus.interrupt.flags", "interrupt", False),
    ("ring.tsan.linux.litmus.interrupt.event_idx", "interrupt", True),
    ("ring.tsan.linux.litmus.used.flags", "used", False),
    ("ring.tsan.linux.litmus.used.event_idx", "used", True),
    ("ring.tsan.linux.litmus.avail.flags", "avail", False),
    ("ring.tsan.linux.litmus.avail.event_idx", "avail", True),
)
# name, memory model
PACKED: tuple[tuple[str, Mode], ...] = (
    ("ring.tsan.linux.packed.sc", "sc"),
    ("ring.tsan.linux.packed.tso", "tso"),
    ("ring.tsan.linux.packed.rmo", "rmo"),
)
# name, the one-line patch of conformance/ring/tsan_step/linux.py (VARIANTS)
MUTANTS: tuple[tuple[str, str], ...] = (
    ("ring.tsan.linux.mutant.no-mb-kick-prepare", "NO_MB_KICK_PREPARE"),
    ("ring.tsan.linux.mutant.no-mb-notify-enable", "NO_MB_NOTIFY_ENABLE"),
    ("ring.tsan.linux.mutant.no-mb-need-notify", "NO_MB_NEED_NOTIFY"),
    ("ring.tsan.linux.mutant.no-rmb-get-buf", "NO_RMB_GET_BUF"),
    ("ring.tsan.linux.mutant.no-wmb-add", "NO_WMB_ADD"),
    ("ring.tsan.linux.mutant.no-rmb-get-head", "NO_RMB_GET_HEAD"),
    ("ring.tsan.linux.mutant.no-wmb-complete", "NO_WMB_COMPLETE"),
    ("ring.tsan.linux.mutant.no-mb-kick-prepare-packed", "NO_MB_KICK_PREPARE_PACKED"),
)


def _register() -> None:
    ref = linux.linux_key(SRC)
    if [variant for _, variant in MUTANTS] != list(linux.VARIANTS):
        raise ValueError("MUTANTS must name every patch of linux.VARIANTS, in its order")
    if sorted({race for _, race, _ in LITMUS}) != sorted(RACES):
        raise ValueError("LITMUS must name every race of RACES")
    for name, mode, event_idx in CHECKS:
        registry.check(name, RMO_REQS if mode == "rmo" else REQS,
                       f"{WHO}, interleaved access by access, {mode}, "
                       f"{'VIRTIO_F_EVENT_IDX' if event_idx else 'flag'} suppression",
                       )(machine_check(ref, ref, mode, event_idx))
    for name, race, event_idx in LITMUS:
        def run(n: int, r: str = race, e: bool = event_idx) -> registry.Evidence:
            try:
                return run_race(r, LitmusConfig(_drv(ref), _dev(ref), e), n)
            finally:
                abort_all()

        registry.check(name, RACES[race], f"the {race} race of {WHO}")(run)
    for name, mode in PACKED:
        registry.check(name, PACKED_REQS,
                       f"Linux's packed-ring driver (virtio_ring.c), stepped through the TSan "
                       f"hooks, against the reference packed device, {mode}")(
                           _packed_check(ref, mode))
    for name, variant in MUTANTS:
        v = linux.VARIANTS[variant]
        key = linux.linux_key(SRC, variant)
        if v.side == "packed-driver":
            registry.mutant(name, f"Linux {v.bug} (one-line patch {variant} of {v.file})",
                            v.reqs, "hypothesis")(_packed_caught(key))
            continue
        drv, dev = (key, ref) if v.side == "driver" else (ref, key)
        race = RACE_OF[variant]
        registry.mutant(name, f"Linux {v.bug} (one-line patch {variant} of {v.file})", v.reqs,
                        "hypothesis")(_caught(race, drv, dev))


def _packed_check(key: str, mode: Mode) -> Callable[[int], registry.Evidence]:
    def run(n: int) -> registry.Evidence:
        from virtiospec.conformance.ring.tsan_step.packed import packed_driver_class

        try:
            cfg = PackedConfig(mode=mode,
                               driver_cls=packed_driver_class(key))  # type: ignore[arg-type]
            return run_packed(cfg, n)
        finally:
            abort_all()

    return run


def _packed_caught(key: str) -> Callable[[], registry.Evidence]:
    """The packed machine under x86-TSO finds a lost wakeup (derandomized)."""
    def run() -> registry.Evidence:
        from virtiospec.conformance.ring.tsan_step.packed import packed_driver_class

        cfg = PackedConfig(mode="tso", driver_cls=packed_driver_class(key),  # type: ignore[arg-type]
                           steps=200)
        try:
            return mutant_evidence(run_packed(cfg, PACKED_EXAMPLES, derandomize=True,
                                              shrink_seconds=20.0), 80)
        finally:
            abort_all()

    return run


def _caught(race: str, drv: str, dev: str) -> Callable[[], registry.Evidence]:
    return lambda: litmus_caught(race, drv, dev)


def _drv(key: str) -> type:
    from virtiospec.conformance.ring.tsan_step.sides import driver_class
    return driver_class(key)


def _dev(key: str) -> type:
    from virtiospec.conformance.ring.tsan_step.sides import device_class
    return device_class(key)


_register()
