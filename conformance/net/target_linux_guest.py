"""The ``linux-guest`` target: Linux's virtio-net driver in a QEMU guest (TCG) with our device
behind vhost-user.

One boot serves every case (conformance/net/guest/boot.py): the guest loads the virtio modules,
brings eth0 up, runs arping and ping against the host our device's wire answers for, opens a
TCP connection that the host refuses (exercising checksum offload), then our device sends it
raw frames and UDP probes and the guest reports its receive counter; both sides are checked.

Target spec ``linux-guest[,OPTION=VAL...]``: ``packed=on|off`` (the virtio-net-pci property;
with ``packed=on`` the guest's virtio_net runs on a packed ring, served by our device's packed
queues, and the notes say what was negotiated), ``queues=N`` (N > 1: our device
offers VIRTIO_NET_F_MQ with N pairs, QEMU gets ``queues=N``, ``mq=on`` and N vCPUs, and the
guest's virtio_net brings up N pairs),
``kernel=PATH`` (another kernel image; ``modules=DIR``, default ``/lib/modules/<version>``
from a ``vmlinuz-<version>`` name, holds its modules). Bad options are one-line
:class:`~virtiospec.conformance.cases.TargetError` errors. Through :func:`make`, missing QEMU,
kernel or busybox is such an error too; a :class:`LinuxGuestTarget` made directly skips
without them (fails when ``CI=true``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from virtiospec.conformance.cases import CaseSkipped, TargetError
from virtiospec.conformance.net.guest import boot, initramfs
from virtiospec.conformance.suites.net.api import DriverObservation


def _count(lines: list[str], pattern: str) -> int:
    for line in lines:
        m = re.search(pattern, line)
        if m:
            return int(m.group(1))
    return 0


def observe(run: boot.GuestRun) -> DriverObservation:
    obs = DriverObservation(f"Linux virtio_net in QEMU ({run.seconds:.1f} s to power-off)")
    obs.absorb(run.session)
    obs.errors += run.errors
    obs.tx_frames = run.responder.snapshot()
    obs.injected = list(run.responder.replies) + list(run.injected)
    rx0, rx1 = run.value("RX0"), run.value("RX1")
    if rx0 is not None and rx1 is not None:
        obs.confirmed_count = int(rx1) - int(rx0)
    counts = run.responder.counts
    obs.round_trips = {
        "arping replies the guest received": (3, _count(run.lines("ARPING"),
                                                        r"Received (\d+) response")),
        "ping replies the guest received": (3, _count(run.lines("PING"),
                                                      r"(\d+) packets received")),
        "1400-byte ping replies received": (2, _count(run.lines("BIGPING"),
                                                      r"(\d+) packets received")),
        "TCP connection refused by our reset": (1, sum("refused" in ln
                                                       for ln in run.lines("TCP"))),
        "ICMP port unreachable for our UDP probes": (1, min(counts.get("icmp-unreach", 0),
                                                            1)),
    }
    insmod = run.lines("INSMOD-FAILED")
    if insmod:
        obs.errors.append(f"modules that failed to load: {insmod}")
    obs.notes.append(f"guest console: {len(run.console)} lines; QEMU rc {run.returncode}")
    return obs


USAGE = "linux-guest[,packed=on|off][,queues=N][,kernel=PATH[,modules=DIR]]"
OPTIONS = ("packed", "queues", "kernel", "modules")


def parse(arg: str) -> dict[str, str]:
    if arg and not arg.startswith(","):
        raise TargetError(f"the linux-guest target takes options, not {arg!r}; usage: {USAGE}")
    opts: dict[str, str] = {}
    for opt in arg.split(",")[1:]:
        key, sep, value = opt.partition("=")
        if not sep or not key or not value:
            raise TargetError(f"linux-guest option {opt!r}: expected OPTION=VAL; usage: {USAGE}")
        if key not in OPTIONS:
            raise TargetError(f"linux-guest option {key}: unknown (known: {', '.join(OPTIONS)})")
        if key in opts:
            raise TargetError(f"linux-guest option {key} given twice")
        opts[key] = value
    if opts.get("packed", "off") not in ("on", "off"):
        raise TargetError(f"linux-guest option packed={opts['packed']}: expected on or off")
    if not opts.get("queues", "1").isdigit() or not 1 <= int(opts.get("queues", "1")) <= 8:
        raise TargetError(f"linux-guest option queues={opts['queues']}: expected 1 to 8")
    if "modules" in opts and "kernel" not in opts:
        raise TargetError("linux-guest option modules: only with kernel=PATH")
    return opts


def kernel_of(opts: dict[str, str]) -> initramfs.Kernel | None:
    """The kernel named by ``kernel=`` (and ``modules=``), checked; None for Debian's."""
    if "kernel" not in opts:
        return None
    image = Path(opts["kernel"]).expanduser()
    if not image.is_file():
        raise TargetError(f"linux-guest option kernel: no such file {image}")
    if "modules" in opts:
        modules = Path(opts["modules"]).expanduser()
    elif image.name.startswith("vmlinuz-"):
        modules = Path("/lib/modules") / image.name.removeprefix("vmlinuz-")
    else:
        raise TargetError(f"linux-guest option kernel: {image.name} does not say its version "
                          "(vmlinuz-<version>): give modules=DIR")
    if not modules.is_dir():
        raise TargetError(f"linux-guest: no modules directory {modules} for {image}")
    for name in initramfs.MODULES:  # what the guest's init loads
        try:
            initramfs.module_path(modules, name)
        except (FileNotFoundError, ValueError) as err:
            raise TargetError(f"linux-guest option kernel: {err}") from None
    return initramfs.Kernel(image, modules)


class LinuxGuestTarget:
    name = "linux-guest"
    sides = ("driver",)

    def __init__(self, opts: dict[str, str] | None = None) -> None:
        self._obs: DriverObservation | None = None
        self.run: boot.GuestRun | None = None
        self.opts = dict(opts or {})
        self.kernel = kernel_of(self.opts)

    def notes(self) -> list[str]:
        return list(self._obs.notes) if self._obs is not None else []

    def net_driver_session(self) -> DriverObservation:
        if self._obs is None:
            try:
                boot.check_tools(self.kernel)
            except boot.GuestUnavailable as err:
                if os.environ.get("CI") == "true":
                    raise  # a missing peer in CI is a failure, not a skip
                raise CaseSkipped(str(err)) from None
            props = f"packed={self.opts['packed']}" if "packed" in self.opts else ""
            pairs = int(self.opts.get("queues", "1"))
            try:
                self.run = boot.boot(kernel=self.kernel, device_props=props, pairs=pairs)
            except (OSError, ValueError) as err:  # the guest could not be built or started
                raise TargetError(f"the Linux guest did not start: {err}") from None
            if not any(line.startswith("VS ") for line in self.run.console):
                said = "; ".join(ln.strip() for ln in self.run.console[-3:] if ln.strip())
                raise TargetError(f"the Linux guest did not boot (QEMU exit status "
                                  f"{self.run.returncode}): {said or 'no console output'}")
            self._obs = observe(self.run)
            self._obs.pairs_wanted = pairs
            if pairs > 1:
                self._obs.notes.append(
                    f"queues={pairs}: VIRTIO_NET_F_MQ " + ("negotiated" if self._obs.features
                                                          >> 22 & 1 else "not negotiated") +
                    f"; {self._obs.pairs_enabled} pairs enabled; frames received per pair "
                    f"{dict(sorted(self._obs.rx_pairs.items()))}, transmitted per pair "
                    f"{dict(sorted(self._obs.tx_pairs.items()))}")
            if self.opts.get("packed") == "on":
                got = bool(self._obs.features >> 34 & 1)
                self._obs.notes.append("packed=on: VIRTIO_F_RING_PACKED " + (
                    "negotiated" if got else "not negotiated"))
        return self._obs


def make(arg: str) -> LinuxGuestTarget:
    """``linux-guest`` or ``linux-guest,packed=on,kernel=/boot/vmlinuz-6.1.0-...``."""
    target = LinuxGuestTarget(parse(arg))
    try:
        boot.check_tools(target.kernel)
    except boot.GuestUnavailable as err:
        raise TargetError(str(err)) from None
    return target
