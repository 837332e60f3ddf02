"""Boot Debian's kernel in QEMU (TCG) with our network device behind vhost-user, and record
both sides of what happened.

Known on this machine: QEMU 7.2 segfaults when vhost-user meets MSI-X without KVM
(``virtio_set_status -> vhost_net_start -> msix_set_vector_notifiers``), hence ``vectors=0``
on the device (legacy INTx); ``romfile=`` keeps the firmware's network boot ROM from sending its
own traffic. Guest memory is a shared memfd so the back-end can map it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from virtiospec.conformance.net.guest import initramfs
from virtiospec.conformance.net.guest.responder import HOST_MAC_B, Responder
from virtiospec.reference.net import frames as FR
from virtiospec.reference.vhost_user.server import VhostUserServer
from virtiospec.reference.vhost_user.session import Options, Session

QEMU = "qemu-system-x86_64"
BOOT_TIMEOUT = 90.0
UDP_PROBES = 3


class GuestUnavailable(RuntimeError):
    """QEMU, the kernel or busybox is missing: the message says which and how to get it."""


@dataclass
class GuestRun:
    console: list[str] = field(default_factory=list)
    responder: Responder = field(default_factory=Responder)
    session: Session | None = None
    returncode: int | None = None
    seconds: float = 0.0
    injected: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)

    def lines(self, tag: str) -> list[str]:
        """Console lines ``VS <tag> ...`` without the prefix."""
        prefix = f"VS {tag}"
        return [ln[len(prefix):].strip() for ln in self.console if ln.startswith(prefix)]

    def value(self, tag: str) -> str | None:
        got = self.lines(tag)
        return got[0] if got else None


def check_tools(kernel: initramfs.Kernel | None = None) -> initramfs.Kernel:
    """QEMU, busybox and a kernel with its modules (``kernel``, or Debian's)."""
    if shutil.which(QEMU) is None:
        raise GuestUnavailable(f"{QEMU} not found: apt-get install qemu-system-x86")
    try:
        kernel = kernel or initramfs.find_kernel()
    except (FileNotFoundError, PermissionError) as err:
        raise GuestUnavailable(str(err)) from None
    if not initramfs.BUSYBOX.exists():
        raise GuestUnavailable("/bin/busybox not found: apt-get install busybox-static")
    return kernel


def qemu_command(kernel: initramfs.Kernel, initrd: Path, sock: Path,
                 device_props: str = "", pairs: int = 1) -> list[str]:
    """``device_props``: more ``virtio-net-pci`` properties (``packed=on``), comma-separated.
    ``pairs`` > 1: the vhost-user netdev with that many queues, ``mq=on``, and as many vCPUs
    (Linux's virtio_net brings up min(pairs, online CPUs) pairs)."""
    netdev = "vhost-user,id=net0,chardev=vu" + (f",queues={pairs}" if pairs > 1 else "")
    props = ",".join(p for p in (device_props, "mq=on" if pairs > 1 else "") if p)
    smp = ["-smp", str(pairs)] if pairs > 1 else []
    return [
        QEMU, "-machine", "q35,accel=tcg", "-m", "256", "-nodefaults", "-no-user-config",
        *smp, "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
        "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-numa", "node,memdev=mem",
        "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd),
        "-append", "console=ttyS0 quiet panic=-1",
        "-chardev", f"socket,id=vu,path={sock}",
        "-netdev", netdev,
        "-device", f"virtio-net-pci,netdev=net0,mac={initramfs.GUEST_MAC},vectors=0,romfile="
                   + (f",{props}" if props else ""),
    ]


def _probes(guest_mac: bytes) -> list[bytes]:
    """What the device sends the guest unasked once it says "VS SEND": raw frames of the local
    experimental EtherType (counted by the guest's driver) and UDP datagrams to a closed port
    (answered by the guest's kernel with ICMP port unreachable)."""
    raw = [FR.raw_frame(HOST_MAC_B, guest_mac, b"virtiospec %03d " % i + bytes(range(64)))
           for i in range(initramfs.RAW_FRAMES)]
    udp = [FR.udp_frame(HOST_MAC_B, guest_mac, initramfs.HOST_IP, initramfs.GUEST_IP, 40000 + i,
                        initramfs.UDP_PORT, b"probe %d" % i) for i in range(UDP_PROBES)]
    return raw + udp


def boot(timeout: float = BOOT_TIMEOUT, kernel: initramfs.Kernel | None = None,
         device_props: str = "", pairs: int = 1) -> GuestRun:
    """Boot the guest once, serve it, and return what both sides saw. Every process started
    here is killed before returning; every wait is bounded by ``timeout``. ``kernel``: another
    kernel image and its modules; ``device_props``: more virtio-net-pci properties."""
    kernel = check_tools(kernel)
    run = GuestRun()
    with tempfile.TemporaryDirectory(prefix="virtiospec-guest-") as tmp:
        initrd = Path(tmp) / "initramfs.cpio"
        initrd.write_bytes(initramfs.build(kernel))
        sock = Path(tmp) / "vhost-user.sock"
        with VhostUserServer(sock, Options(pairs=pairs, observe=True), run.responder) as server:
            run.command = qemu_command(kernel, initrd, sock, device_props, pairs)
            t0 = time.monotonic()
            proc = subprocess.Popen(run.command, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                _serve(proc, server, run, timeout)
            finally:
                if proc.poll() is None:
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
                run.seconds = time.monotonic() - t0
                run.returncode = proc.returncode
                run.session = server.session
                run.errors += server.errors
    return run


def _serve(proc: subprocess.Popen[bytes], server: VhostUserServer, run: GuestRun,
           timeout: float) -> None:
    assert proc.stdout is not None
    stdout = proc.stdout

    def reader() -> None:
        for raw in iter(stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            run.console.append(line)
            if line.startswith("VS SEND"):
                mac = run.responder.guest_mac or FR.mac_bytes(initramfs.GUEST_MAC)
                run.injected = _probes(mac)
                for frame in run.injected:
                    server.inject(frame)

    thread = threading.Thread(target=reader, name="guest console", daemon=True)
    thread.start()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        run.errors.append(f"the guest did not power off within {timeout:.0f} s")
    finally:
        if proc.poll() is None:
            proc.kill()
        thread.join(5)
    if proc.returncode not in (0, None) and not run.lines("DONE"):
        tail = "\n".join(run.console[-15:])
        run.errors.append(f"QEMU exited with {proc.returncode}:\n{tail}")


def main() -> None:  # pragma: no cover - a manual check: python -m ...guest.boot
    run = boot()
    print("\n".join(run.console))
    print(f"{run.seconds:.1f} s, rc {run.returncode}, {len(run.responder.frames)} frames from "
          f"the guest, counts {run.responder.counts}, errors {run.errors}")
    if run.session is not None:
        print(run.session.log.messages)
        print(run.session.device.stats if run.session.device else None)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
