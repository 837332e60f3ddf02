"""Ring targets over the C ABI of ``virtiospec_ring.h``, whatever library implements it.

:class:`AbiRingDriver` and :class:`AbiRingDevice` implement the RingDriver / RingDevice
protocols of :mod:`virtiospec.conformance.ring.api` by calling the ABI through cffi, on the
suite's own :class:`~virtiospec.reference.access.GuestMemory` (shared with
``ffi.from_buffer``). ``--target c`` (target_c.py) binds them to the module built at install,
``--target lib:PATH.so`` (target_lib.py) to any shared library loaded with ``ffi.dlopen``.
"""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.cases import CaseSkipped
from virtiospec.conformance.isolation import Isolation
from virtiospec.conformance.ring.api import PackedRingSetup, RingSetup
from virtiospec.conformance.ring.target_calls import DeviceCalls, DriverCalls
from virtiospec.conformance.ring.target_packed_abi import (
    AbiPackedDevice,
    AbiPackedDriver,
    packed_abi,
)
from virtiospec.reference.ring.c.errors import check

ABI_VERSION = 2  # version 1 read num_free as a count after an error (see the header)
PREFIX = "virtiospec_ring_"


class AbiLibrary:
    """A cffi ``(ffi, lib)`` pair implementing virtiospec_ring.h, version-checked."""

    def __init__(self, ffi: Any, lib: Any, name: str) -> None:
        self.ffi, self.lib, self.name = ffi, lib, name
        version = lib.virtiospec_ring_abi_version()
        if version != ABI_VERSION:
            raise ValueError(f"{name} implements virtiospec_ring ABI version {version}; this "
                             f"suite speaks version {ABI_VERSION} "
                             "(conformance/ring/virtiospec_ring.h says what changed): rebuild it "
                             "against that header")

    def call(self, fn: str, *args: Any) -> int:
        """Call ``virtiospec_ring_<fn>`` and raise the mapped error on a negative result."""
        return check(getattr(self.lib, PREFIX + fn)(*args), PREFIX + fn)

    def config(self, setup: RingSetup, *, driver: bool) -> Any:
        cfg = self.ffi.new("struct virtiospec_ring_config *")
        lay = setup.layout
        cfg.queue_size = lay.size
        cfg.features = ((self.lib.VIRTIOSPEC_RING_F_EVENT_IDX if setup.event_idx else 0)
                        | (self.lib.VIRTIOSPEC_RING_F_INDIRECT if setup.indirect else 0))
        cfg.desc, cfg.avail, cfg.used = lay.desc, lay.avail, lay.used
        if driver and setup.indirect and setup.indirect_area is not None:
            cfg.indirect_area = setup.indirect_area
        cfg.indirect_max = setup.indirect_max
        cfg.start_index = setup.start_index
        return cfg

    def state(self, size: int) -> Any:
        return self.ffi.new("uint64_t[]", (size + 7) // 8)  # aligned on 8, zeroed


class _Side:
    def __init__(self, abi: AbiLibrary, setup: RingSetup, side: str) -> None:
        self.abi, self.side = abi, side
        self.ffi, self.lib = abi.ffi, abi.lib
        self.mem = abi.ffi.from_buffer(setup.memory.buf)  # kept alive with this object
        size = getattr(abi.lib, f"{PREFIX}{side}_state_size")(setup.layout.size)
        self.state = abi.state(max(size, 8))  # size 0: create reports the bad queue size
        self.size = size
        abi.call(f"{side}_create", self.state, size, self.mem, setup.memory.size,
                 abi.config(setup, driver=side == "driver"))
        abi.call(f"{side}_init", self.state)

    def op(self, fn: str, *args: Any) -> int:
        return self.abi.call(f"{self.side}_{fn}", self.state, *args)


class AbiRingDriver(_Side, DriverCalls):
    def __init__(self, abi: AbiLibrary, setup: RingSetup) -> None:
        super().__init__(abi, setup, "driver")
        self.q = setup.layout.size

    def enable_cb_delayed(self) -> bool:
        return bool(self.op("enable_cb_delayed"))

    @property
    def num_free(self) -> int:
        return self.abi.call("driver_num_free", self.state)  # STOPPED: raises NeedsReset

    @property
    def needs_reset(self) -> bool:
        return self.needs_reset_code != 0

    @property
    def needs_reset_code(self) -> int:
        """0, or minus the error code that stopped the driver (the ABI's own answer)."""
        return int(self.abi.lib.virtiospec_ring_driver_needs_reset(self.state))


class AbiRingDevice(_Side, DeviceCalls):
    NEEDS_RESET = "virtiospec_ring_device_needs_reset"

    def __init__(self, abi: AbiLibrary, setup: RingSetup) -> None:
        super().__init__(abi, setup, "device")
        self.q = setup.layout.size
        self._buffers()


class AbiTarget:
    """A target whose ring sides are an ABI library; ``sides`` restricts which it offers."""

    def __init__(self, abi: AbiLibrary, name: str,
                 sides: tuple[str, ...] = ("driver", "device")) -> None:
        self.abi, self.name, self.sides = abi, name, sides
        self.isolation: Isolation | None = None  # lib: runs each case in a child process

    def _only(self, side: str) -> None:
        if side not in self.sides:
            raise CaseSkipped(f"target {self.name} is restricted to the "
                              f"{' and '.join(self.sides)} side; this case needs the {side}")

    def ring_driver(self, setup: RingSetup) -> AbiRingDriver:
        self._only("driver")
        return AbiRingDriver(self.abi, setup)

    def ring_device(self, setup: RingSetup) -> AbiRingDevice:
        self._only("device")
        return AbiRingDevice(self.abi, setup)

    # the packed ring, when the library also exports virtiospec_ring_packed.h
    def ring_packed_driver(self, setup: PackedRingSetup) -> Any:
        self._only("driver")
        return AbiPackedDriver(packed_abi(self.abi, self.name), setup)

    def ring_packed_device(self, setup: PackedRingSetup) -> Any:
        self._only("device")
        return AbiPackedDevice(packed_abi(self.abi, self.name), setup)
