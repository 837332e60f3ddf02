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
    FEATURES,
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


def _register() -> None:
    ref = linux.linux_key(SRC)
    modes: tuple[Mode, ...] = ("sc", "tso", "rmo")
    for mode in modes:
        for event_idx in (False, True):
            registry.check(f"ring.tsan.linux.{mode}.{FEATURES[event_idx]}",
                           RMO_REQS if mode == "rmo" else REQS,
                           f"{WHO}, interleaved access by access, {mode}, "
                           f"{'VIRTIO_F_EVENT_IDX' if event_idx else 'flag'} suppression",
                           )(machine_check(ref, ref, mode, event_idx))
    for race, reqs in RACES.items():
        for event_idx in (False, True):
            def run(n: int, r: str = race, e: bool = event_idx) -> registry.Evidence:
                try:
                    return run_race(r, LitmusConfig(_drv(ref), _dev(ref), e), n)
                finally:
                    abort_all()

            registry.check(f"ring.tsan.linux.litmus.{race}.{FEATURES[event_idx]}", reqs,
                           f"the {race} race of {WHO}")(run)
    for mode in modes:
        registry.check(f"ring.tsan.linux.packed.{mode}", PACKED_REQS,
                       f"Linux's packed-ring driver (virtio_ring.c), stepped through the TSan "
                       f"hooks, against the reference packed device, {mode}")(
                           _packed_check(ref, mode))
    for variant, v in linux.VARIANTS.items():
        key = linux.linux_key(SRC, variant)
        if v.side == "packed-driver":
            registry.mutant(f"ring.tsan.linux.mutant.{variant.lower().replace('_', '-')}",
                            f"Linux {v.bug} (one-line patch {variant} of {v.file})", v.reqs,
                            "hypothesis")(_packed_caught(key))
            continue
        drv, dev = (key, ref) if v.side == "driver" else (ref, key)
        race = RACE_OF[variant]
        registry.mutant(f"ring.tsan.linux.mutant.{variant.lower().replace('_', '-')}",
                        f"Linux {v.bug} (one-line patch {variant} of {v.file})", v.reqs,
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
