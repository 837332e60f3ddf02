"""The driver's initialization sequence (VIRTIO-STATUS-008) and status discipline.

:meth:`VirtioPciDriver.negotiate` runs steps 1–6 of §3.1.1: reset (waiting for 0), ACKNOWLEDGE,
DRIVER, features, FEATURES_OK and its re-read. The caller then sets up queues and reads the
configuration (step 7) and calls :meth:`VirtioPciDriver.go_live` (step 8). Every status write
is the previous value with one more bit (VIRTIO-STATUS-002); a failure sets FAILED and stops
(VIRTIO-STATUS-009). All of it is ``Op``: the models step it against devices that refuse,
stall or break.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtiospec.reference.access import Op
from virtiospec.reference.virtio_pci.errors import (
    DeviceNeedsReset,
    FeaturesRefused,
    NotLive,
    VersionNotOffered,
)
from virtiospec.reference.virtio_pci.regs import (
    ACKNOWLEDGE,
    DEVICE_NEEDS_RESET,
    DRIVER,
    DRIVER_OK,
    F_NOTIFICATION_DATA,
    F_VERSION_1,
    FAILED,
    FEATURES_OK,
    bit,
)
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport


@dataclass(frozen=True)
class VirtioPciDriverLines:
    """The lines of :class:`VirtioPciDriver` a known-bad variant
    (models/virtio_pci/driver_init.py) may turn off; every default is the protocol."""

    reset_wait: bool = True  # reset: wait for device_status to read 0 (VIRTIO-STATUS-006)
    status_keeps_bits: bool = True  # _set: the new bit ORed into the old (VIRTIO-STATUS-002)
    offered_only: bool = True  # accept: only offered features (VIRTIO-FEAT-002)
    features_once: bool = True  # negotiate: no feature written after FEATURES_OK
    #                             (VIRTIO-FEAT-007)
    features_ok_reread: bool = True  # confirm_features: FEATURES_OK read back (VIRTIO-FEAT-009)
    notify_when_live: bool = True  # notify: none before DRIVER_OK (VIRTIO-STATUS-010)


class VirtioPciDriver:
    lines = VirtioPciDriverLines()

    def __init__(self, transport: VirtioPciTransport, wanted: int) -> None:
        self.transport = transport
        self.wanted = wanted | bit(F_VERSION_1)  # VIRTIO-FEAT-003
        self.status = 0  # what this driver last wrote
        self.offered = 0
        self.features = 0  # negotiated, valid once FEATURES_OK stuck
        self.live = False

    def _set(self, flag: int) -> Op[None]:
        self.status = self.status | flag if self.lines.status_keeps_bits else flag
        yield from self.transport.set_status(self.status)

    def fail(self) -> Op[None]:
        """Give up on the device: set FAILED (VIRTIO-STATUS-009); a reset is needed next."""
        self.live = False
        yield from self._set(FAILED)

    def negotiate(self) -> Op[int]:
        """Steps 1-6: returns the negotiated features, or raises after setting FAILED."""
        self.live = False
        yield from self.reset()
        self.status = 0
        yield from self._set(ACKNOWLEDGE)
        yield from self._set(DRIVER)
        self.offered = yield from self.transport.device_features()
        if not self.offered & bit(F_VERSION_1):
            yield from self.fail()
            raise VersionNotOffered("the device does not offer VIRTIO_F_VERSION_1")
        accepted = self.accept(self.offered)
        yield from self.transport.set_driver_features(accepted)
        yield from self._set(FEATURES_OK)  # no feature is written after this (VIRTIO-FEAT-007)
        yield from self.confirm_features(accepted)
        if not self.lines.features_once:
            yield from self.transport.set_driver_features(self.offered)  # after FEATURES_OK
        self.features = accepted
        self.transport.notification_data = self.has(F_NOTIFICATION_DATA)
        return accepted

    def reset(self) -> Op[None]:
        """Step 1, waiting for the reset to complete (VIRTIO-STATUS-006)."""
        if not self.lines.reset_wait:
            yield from self.transport.set_status(0)  # written, not waited for
            return
        yield from self.transport.reset()

    def accept(self, offered: int) -> int:
        """Step 4: what this driver knows and the device offers (VIRTIO-FEAT-002)."""
        return offered & self.wanted if self.lines.offered_only else self.wanted

    def confirm_features(self, accepted: int) -> Op[None]:
        """Step 6, the re-read (VIRTIO-FEAT-009): FEATURES_OK must have stuck."""
        if not self.lines.features_ok_reread:
            return
        status = yield from self.transport.status()
        if not status & FEATURES_OK:
            yield from self.fail()
            raise FeaturesRefused(f"FEATURES_OK did not stick for features {accepted:#x} "
                                  f"(status {status:#x})")

    def go_live(self) -> Op[None]:
        """Step 8: DRIVER_OK. Only after it may queues be notified (VIRTIO-STATUS-010)."""
        if not self.status & FEATURES_OK:
            raise NotLive("DRIVER_OK before features were negotiated")
        yield from self._set(DRIVER_OK)
        self.live = True

    def check_device(self) -> Op[None]:
        """Raise if the device reports DEVICE_NEEDS_RESET (then nothing in flight can be
        trusted, VIRTIO-STATUS-004)."""
        status = yield from self.transport.status()
        if status & DEVICE_NEEDS_RESET:
            self.live = False
            raise DeviceNeedsReset(f"device status {status:#x}")

    def notify(self, index: int, addr: int, data: int | None = None) -> Op[None]:
        """``data``: the next available position, sent along only with
        VIRTIO_F_NOTIFICATION_DATA negotiated (VIRTIO-PCI-115)."""
        if not self.live and self.lines.notify_when_live:
            raise NotLive(f"notification of queue {index} before DRIVER_OK")
        yield from self.transport.notify(
            index, addr, data if self.has(F_NOTIFICATION_DATA) else None)

    def has(self, feature: int) -> bool:
        return bool(self.features & bit(feature))
