"""``--target linux-vring[:SRC]``: Linux's own ring code as the implementation under test.

The split driver is drivers/virtio/virtio_ring.c, the split device drivers/vhost/vringh.c
(Linux has no packed device of its own in vringh), the packed driver virtio_ring.c again;
all compiled in user space at run time from SRC (default: Debian's linux-source-6.1 tarball;
else a Linux tree or tarball, e.g. a patched checkout) with the glue of
conformance/ring/linux_vring/, which implements conformance/ring/virtiospec_ring.h (split) and this
target's own packed-driver functions (linux_vring/linux_packed.h) on top of Linux's
functions. Whatever Linux does differently from spec/ is a FAIL (or EXTENSION) naming the
requirement; docs/linux-vring.md lists them. Cases run in a child process when the
isolation of native libraries is available (a BUG_ON in Linux's code costs one case).
"""

from __future__ import annotations

from typing import Any

from cffi import FFI
from virtiospec.conformance.cases import CaseSkipped
from virtiospec.conformance.ring.api import PackedRingSetup, Segment
from virtiospec.conformance.ring.linux_vring.build import HERE, build_library
from virtiospec.conformance.ring.target_abi import AbiLibrary, AbiTarget
from virtiospec.reference.ring.c.build import abi_cdef
from virtiospec.reference.ring.c.packed_errors import check

F_EVENT_IDX, F_INDIRECT = 1, 2  # virtiospec_ring.h's feature bits


def packed_cdef() -> str:
    """The declarations of linux_vring/linux_packed.h that cffi reads."""
    text = (HERE / "linux_packed.h").read_text()
    return text.split("/* cdef-begin */")[1].split("/* cdef-end */")[0]


class LinuxPackedDriver:
    """Linux's packed-ring driver (virtio_ring.c) as a PackedRingDriver of ring_api.py."""

    def __init__(self, abi: AbiLibrary, setup: PackedRingSetup) -> None:
        self.abi, lay = abi, setup.layout
        self.mem = abi.ffi.from_buffer(setup.memory.buf)  # kept alive with this object
        size = int(abi.lib.vsl_packed_driver_state_size(lay.size))
        self.state = abi.state(max(size, 8))
        features = (F_EVENT_IDX if setup.event_idx else 0) | (F_INDIRECT if setup.indirect else 0)
        area = setup.indirect_area if setup.indirect and setup.indirect_area is not None else 0
        self._op("create", size, self.mem, setup.memory.size, lay.size, lay.desc,
                 lay.driver_event, lay.device_event, features, area, setup.indirect_max)
        self._op("init")

    def _op(self, fn: str, *args: Any) -> int:
        name = f"vsl_packed_driver_{fn}"
        return check(getattr(self.abi.lib, name)(self.state, *args), name)

    def _segments(self, segs: list[Segment]) -> Any:
        arr = self.abi.ffi.new("struct virtiospec_ring_segment[]", max(len(segs), 1))
        for k, (addr, length) in enumerate(segs):
            arr[k].addr, arr[k].len = addr, length
        return arr

    def add(self, out: list[Segment], in_: list[Segment], token: int) -> int:
        return self._op("add", self._segments(out), len(out), self._segments(in_), len(in_),
                        token)

    def kick_prepare(self) -> bool:
        return bool(self._op("kick_prepare"))

    def kick_data(self) -> int:
        raise CaseSkipped("Linux 6.1's virtio_ring.c has no notification data "
                          "(VIRTIO_F_NOTIFICATION_DATA): nothing of Linux's to check")

    def get_used(self) -> tuple[int, int] | None:
        token = self.abi.ffi.new("uint64_t *")
        length = self.abi.ffi.new("uint32_t *")
        if not self._op("get_used", token, length):
            return None
        return int(token[0]), int(length[0])

    def enable_cb(self) -> bool:
        return bool(self._op("enable_cb"))

    def disable_cb(self) -> None:
        self._op("disable_cb")

    @property
    def num_free(self) -> int:
        return self._op("num_free")


class LinuxVringTarget(AbiTarget):
    """The split sides through virtiospec_ring.h, plus Linux's packed driver."""

    src: str | None = None

    def ring_packed_driver(self, setup: PackedRingSetup) -> LinuxPackedDriver:
        return LinuxPackedDriver(self.abi, setup)

    @property
    def ring_stepped(self) -> tuple[type, type]:
        """The race cases (suites/ring/stepped.py) need each side stepped access by access:
        the same Linux source built through virtiospec's TSan hooks (conformance/ring/tsan_step,
        as ``--target src:linux-vring`` builds it), compiled once, at the first race case."""
        from virtiospec.conformance.ring.tsan_step.linux import linux_key
        from virtiospec.conformance.ring.tsan_step.sides import (
            device_class,
            driver_class,
            tsan_build,
        )

        key = linux_key(self.src, None)
        tsan_build(key)
        return driver_class(key), device_class(key)


def make(arg: str) -> LinuxVringTarget:
    src = arg or None
    lib_path = build_library(src)  # LinuxSourceError / LinuxBuildError: one-line ValueErrors
    ffi = FFI()
    ffi.cdef(abi_cdef() + packed_cdef())
    lib = ffi.dlopen(str(lib_path))
    name = "linux-vring" + (f":{arg}" if arg else "")
    target = LinuxVringTarget(AbiLibrary(ffi, lib, f"Linux ring code ({lib_path.name})"), name)
    target.src = src
    try:  # each case in a child process: a BUG_ON in Linux's code costs one case
        from virtiospec.conformance.isolation import for_native
    except ImportError:  # pragma: no cover - a tree without the isolation of native targets
        return target
    target.isolation = for_native(f"linux-vring:{arg}" if arg else "linux-vring")
    return target
