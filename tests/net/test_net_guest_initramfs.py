"""The guest's initramfs: our cpio writer, and what goes into the archive."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from virtiospec.conformance.net.guest import cpio, initramfs


def test_cpio_round_trip() -> None:
    entries = [cpio.directory("bin"), cpio.file("bin/x", b"abc", 0o755),
               cpio.symlink("bin/y", "x"), cpio.file("odd", b"12345")]
    data = cpio.archive(entries)
    assert len(data) % 4 == 0
    assert cpio.parse(data) == entries


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio not installed")
def test_gnu_cpio_reads_our_archive(tmp_path: Path) -> None:
    data = cpio.archive([cpio.directory("d"), cpio.file("d/f", b"hello\n")])
    out = subprocess.run(["cpio", "-t"], input=data, capture_output=True, timeout=10)
    assert out.stdout.decode().split() == ["d", "d/f"]


def test_init_loads_modules_in_dependency_order() -> None:
    order = initramfs.MODULES
    assert order.index("virtio_ring") < order.index("virtio") < order.index("virtio_net")
    assert initramfs.INIT.startswith("#!/bin/busybox sh")
    assert "poweroff -f" in initramfs.INIT


def test_archive_has_busybox_modules_and_init() -> None:
    try:
        kernel = initramfs.find_kernel()
    except (FileNotFoundError, PermissionError) as err:
        pytest.skip(str(err))
    if not initramfs.BUSYBOX.exists():
        pytest.skip("busybox-static not installed")
    entries = {e.name: e for e in cpio.parse(initramfs.build(kernel))}
    assert stat.S_IMODE(entries["init"].mode) == 0o755
    assert entries["bin/busybox"].data[:4] == b"\x7fELF"
    for name in initramfs.MODULES:
        assert entries[f"lib/modules/{name}.ko"].data[:4] == b"\x7fELF"
