"""``--target linux-vring[:SRC]``: Linux's own ring code as the implementation under test.

The driver side is drivers/virtio/virtio_ring.c (split ring), the device side
drivers/vhost/vringh.c, both compiled in user space at run time from SRC (default: Debian's
linux-source-6.1 tarball; else a Linux tree or tarball, e.g. a patched checkout) with the
glue of conformance/linux_vring/ that implements conformance/virtiospec_ring.h on top of
Linux's functions. Every split-ring case of either side runs against it; whatever Linux does
differently from spec/ is a FAIL naming the requirement (docs/linux-vring.md lists them).
Cases run in a child process when the isolation of native libraries is available.
"""

from __future__ import annotations

from cffi import FFI
from virtiospec.conformance.linux_vring.build import build_library
from virtiospec.conformance.target_abi import AbiLibrary, AbiTarget
from virtiospec.reference.ring_c_build import abi_cdef

USAGE = "--target linux-vring[:SRC] (SRC: a Linux tree or tarball; default linux-source-6.1)"


def make(arg: str) -> AbiTarget:
    src = arg or None
    lib_path = build_library(src)  # LinuxSourceError / LinuxBuildError: one-line ValueErrors
    ffi = FFI()
    ffi.cdef(abi_cdef())
    lib = ffi.dlopen(str(lib_path))
    name = "linux-vring" + (f":{arg}" if arg else "")
    target = AbiTarget(AbiLibrary(ffi, lib, f"Linux ring code ({lib_path.name})"), name)
    try:  # each case in a child process: a BUG_ON in Linux's code costs one case
        from virtiospec.conformance.isolation import for_native
    except ImportError:  # pragma: no cover - older trees without the isolation
        return target
    target.isolation = for_native(f"linux-vring:{arg}" if arg else "linux-vring")
    return target
