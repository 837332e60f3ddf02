"""``--target src:PATH.c[,MORE.c...]``: C source implementing conformance/ring/virtiospec_ring.h,
compiled through our TSan hooks and stepped access by access (sides.py).

The ABI's contract cases call the functions directly (every access then passes through to
the suite's memory, as a native library's would). In the ring cases every access the C code
makes to guest memory is applied to the suite's GuestMemory, which
bounds-checks it, and each operation has an access budget (target_stepped.run_bounded), so
a walk that never ends or a read outside guest memory fails its case instead of hanging or
crashing the suite. The same build runs under the memory models with ``virtiospec check``
(models/ring/tsan_checks.py).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from virtiospec.conformance.cases import CaseSkipped
from virtiospec.conformance.isolation import Isolation, for_native
from virtiospec.conformance.ring.api import PackedRingSetup, RingSetup, Segment
from virtiospec.conformance.ring.target_abi import AbiLibrary
from virtiospec.conformance.ring.target_stepped import (
    SteppedRingDevice,
    SteppedRingDriver,
    run_bounded,
)
from virtiospec.conformance.ring.tsan_step import recipes
from virtiospec.conformance.ring.tsan_step.sides import (
    TsanDevice,
    TsanDriver,
    device_class,
    driver_class,
    tsan_build,
)


class TsanRingDevice(SteppedRingDevice):
    def __init__(self, setup: RingSetup, build: Any) -> None:
        self.mem = setup.memory
        self.dev = TsanDevice(setup.layout, setup.memory.size,  # type: ignore[assignment]
                              event_idx=setup.event_idx, indirect=setup.indirect, build=build)
        self.dev.last_avail = setup.start_index
        run_bounded(self.dev.init(), self.mem)


class TsanRingDriver(SteppedRingDriver):
    def __init__(self, setup: RingSetup, build: Any) -> None:
        self.mem = setup.memory
        self.drv = TsanDriver(setup.layout, event_idx=setup.event_idx,  # type: ignore[assignment]
                              indirect_area=setup.indirect_area if setup.indirect else None,
                              indirect_max=setup.indirect_max, memory_size=setup.memory.size,
                              build=build)
        self.drv.avail_idx = setup.start_index
        run_bounded(self.drv.init(), self.mem)

    def detach_unused(self) -> list[int]:
        return [int(t) for t in self.drv.detach_unused()]  # type: ignore[call-overload]


class TsanPackedRingDriver:
    """Linux's packed driver, stepped, as a PackedRingDriver of ring_api.py."""

    def __init__(self, setup: PackedRingSetup, build: Any) -> None:
        from virtiospec.conformance.ring.tsan_step.packed import TsanPackedDriver

        self.mem = setup.memory
        area = setup.indirect_area if setup.indirect else None
        self.drv = TsanPackedDriver(setup.layout, event_idx=setup.event_idx,
                                    indirect_area=area, indirect_max=setup.indirect_max,
                                    build=build)
        run_bounded(self.drv.init(), self.mem)

    def add(self, out: list[Segment], in_: list[Segment], token: int) -> int:
        return run_bounded(self.drv.add(out, in_, token), self.mem)

    def kick_prepare(self) -> bool:
        return run_bounded(self.drv.kick_prepare(), self.mem)

    def kick_data(self) -> int:
        raise CaseSkipped("Linux 6.1's virtio_ring.c has no notification data "
                          "(VIRTIO_F_NOTIFICATION_DATA): nothing of Linux's to check")

    def get_used(self) -> tuple[int, int] | None:
        got: tuple[object, int] | None = run_bounded(self.drv.get_used(), self.mem)
        return None if got is None else (cast(int, got[0]), got[1])

    def enable_cb(self) -> bool:
        return run_bounded(self.drv.enable_cb(), self.mem)

    def disable_cb(self) -> None:
        run_bounded(self.drv.disable_cb(), self.mem)

    @property
    def num_free(self) -> int:
        return self.drv.num_free


class TsanTarget:
    """Both sides of one stepped foreign build (``key``: see sides.register)."""

    sides = ("driver", "device")
    isolation: Isolation | None = None

    def __init__(self, key: str, name: str) -> None:
        self.key, self.name = key, name
        build = tsan_build(key)  # compile now, outside any case's time budget
        # the ABI's own cases call it directly: outside a stepped operation the hooks pass
        # every access through, so the build then behaves as its native library would
        self.abi = AbiLibrary(build.ffi, build.lib, name)
        # the stepped cases (conformance/suites/ring/stepped.py) race these
        self.ring_stepped = (driver_class(key), device_class(key))

    def _build(self) -> Any:
        """The build, its functions called through ``abi.lib``: in an isolated child
        (conformance/isolation.py) that records each call, so that a crash names it."""
        return SimpleNamespace(ffi=self.abi.ffi, lib=self.abi.lib)

    def ring_device(self, setup: RingSetup) -> TsanRingDevice:
        return TsanRingDevice(setup, self._build())

    def ring_driver(self, setup: RingSetup) -> TsanRingDriver:
        return TsanRingDriver(setup, self._build())

    def ring_packed_driver(self, setup: PackedRingSetup) -> TsanPackedRingDriver:
        if not hasattr(self.abi.lib, "vs_stepped_packed_driver_add"):
            raise CaseSkipped(f"target {self.name} has no packed-ring driver (the split ABI "
                              "of virtiospec_ring.h only)")
        return TsanPackedRingDriver(setup, self._build())


LINUX = "linux-vring"


def make(arg: str) -> TsanTarget:
    """The target of ``--target src:ARG``, each case run in a child process
    (conformance/isolation.py): foreign code that crashes costs one case."""
    target = _make(arg)
    target.isolation = for_native(f"src:{arg}")
    return target


def _make(arg: str) -> TsanTarget:
    """``src:PATH.c[,MORE.c...]``; ``src:ring.c[:MUTANT]`` is virtiospec's own reference
    through the hooks; ``src:linux-vring[:SRC][,variant=NAME]`` Linux's virtio_ring.c and
    vringh.c (Debian's linux-source-6.1, or the tree or tarball SRC), optionally with one
    of the barrier bugs of conformance/ring/tsan_step/linux.py patched in."""
    if arg == LINUX or arg.startswith((LINUX + ":", LINUX + ",")):
        from virtiospec.conformance.ring.tsan_step import linux

        rest, *options = arg[len(LINUX):].lstrip(":").split(",")
        variant = None
        for option in options:
            name, _, value = option.partition("=")
            if name != "variant" or not value:
                raise ValueError(f"src:{LINUX}: unknown option {option!r} (variant=NAME; "
                                 f"names: {', '.join(linux.VARIANTS)})")
            variant = value
        return TsanTarget(linux.linux_key(rest or None, variant), f"src:{arg}")
    if arg == recipes.RING_C or arg.startswith(recipes.RING_C + ":"):
        mutant = arg.partition(":")[2] or None
        return TsanTarget(recipes.ring_c_key(mutant), f"src:{arg}")
    return TsanTarget(recipes.src_key(arg), f"src:{arg}")
