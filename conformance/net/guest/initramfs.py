"""The guest's initramfs: busybox-static, the virtio-net modules of Debian's kernel in the order
they need each other, and an ``/init`` that brings eth0 up and exchanges traffic with our
device, printing what it saw on the serial console (lines starting ``VS``).

Load order (known on this machine): virtio_ring before virtio, else "unknown symbol".
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from virtiospec.conformance.net.guest import cpio

MODULES = ("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
           "virtio_pci", "failover", "net_failover", "virtio_net")
BUSYBOX = Path("/bin/busybox")

GUEST_IP = "10.0.2.15"
HOST_IP = "10.0.2.2"
HOST_MAC = "52:54:00:00:00:02"
GUEST_MAC = "52:54:00:12:34:56"
TCP_PORT = 7777
UDP_PORT = 9
RAW_FRAMES = 20

INIT = f"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in {" ".join(MODULES)}; do
  insmod /lib/modules/$m.ko || echo "VS INSMOD-FAILED $m"
done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
echo "VS MAC $(cat /sys/class/net/eth0/address)"
echo "VS FEATURES $(cat /sys/class/net/eth0/device/features 2>/dev/null)"
ip link set eth0 up
ip addr add {GUEST_IP}/24 dev eth0
echo "VS RX0 $(cat /sys/class/net/eth0/statistics/rx_packets)"
arping -c 3 -w 5 -I eth0 {HOST_IP} | sed 's/^/VS ARPING /'
ping -c 3 -W 3 {HOST_IP} | sed 's/^/VS PING /'
ping -c 2 -W 3 -s 1400 {HOST_IP} | sed 's/^/VS BIGPING /'
echo | nc -w 2 {HOST_IP} {TCP_PORT} 2>&1 | sed 's/^/VS TCP /'
echo "VS SEND"
sleep 2
echo "VS RX1 $(cat /sys/class/net/eth0/statistics/rx_packets)"
echo "VS TXCOUNT $(cat /sys/class/net/eth0/statistics/tx_packets)"
echo "VS DONE"
poweroff -f
"""


@dataclass(frozen=True)
class Kernel:
    vmlinuz: Path
    modules: Path  # /lib/modules/<version>


def find_kernel() -> Kernel:
    """Debian's kernel and its modules: the running release if installed, else the newest."""
    candidates = sorted(Path("/boot").glob("vmlinuz-*"))
    if not candidates:
        raise FileNotFoundError("no /boot/vmlinuz-*: install linux-image-cloud-amd64")
    release = platform.release()
    chosen = next((c for c in candidates if c.name == f"vmlinuz-{release}"), candidates[-1])
    version = chosen.name.removeprefix("vmlinuz-")
    modules = Path("/lib/modules") / version
    if not modules.is_dir():
        raise FileNotFoundError(f"{modules} is missing (the modules of {chosen})")
    if not os.access(chosen, os.R_OK):
        raise PermissionError(f"{chosen} is not readable")
    return Kernel(chosen, modules)


def module_path(modules: Path, name: str) -> Path:
    found = [p for p in modules.rglob(f"{name}.ko*") if p.name.split(".ko")[0] == name]
    if not found:
        raise FileNotFoundError(f"module {name} not found under {modules}")
    if found[0].suffix != ".ko":
        raise ValueError(f"{found[0]} is compressed; busybox insmod needs a plain .ko")
    return found[0]


def build(kernel: Kernel, init: str = INIT) -> bytes:
    """The initramfs as an uncompressed cpio archive."""
    if not BUSYBOX.exists():
        raise FileNotFoundError("/bin/busybox is missing: install busybox-static")
    entries = [cpio.directory(d) for d in ("bin", "dev", "proc", "sys", "tmp", "lib",
                                           "lib/modules")]
    entries.append(cpio.file("bin/busybox", BUSYBOX.read_bytes(), 0o755))
    entries.append(cpio.symlink("bin/sh", "busybox"))
    for name in MODULES:
        entries.append(cpio.file(f"lib/modules/{name}.ko",
                                 module_path(kernel.modules, name).read_bytes()))
    entries.append(cpio.file("init", init.encode(), 0o755))
    return cpio.archive(entries)
