"""Errors of the virtio-pci transport, one class per kind of violation, each naming its
requirement in spec/pci.md (matched by class or ``req``, never by message)."""

from __future__ import annotations

from virtiospec.reference.pci.errors import PciError


class VirtioPciError(PciError):
    req = "VIRTIO-PCI-010"


class NotVirtio(VirtioPciError):
    """The function is not a virtio device of the wanted type (VIRTIO-PCI-002)."""

    req = "VIRTIO-PCI-002"


class BadCapability(VirtioPciError):
    """A vendor capability or the structure it places breaks VIRTIO-PCI-010, VIRTIO-PCI-011,
    VIRTIO-PCI-012, VIRTIO-PCI-013, VIRTIO-PCI-014 or VIRTIO-PCI-015."""

    req = "VIRTIO-PCI-013"


class MissingStructure(VirtioPciError):
    req = "VIRTIO-PCI-012"


class BadRegisterAccess(VirtioPciError):
    """An access to a structure of the wrong width or alignment (VIRTIO-PCI-004)."""

    req = "VIRTIO-PCI-004"


class ResetTimeout(VirtioPciError):
    """``device_status`` did not read 0 within the bound after a reset (VIRTIO-STATUS-006)."""

    req = "VIRTIO-STATUS-006"


class FeaturesRefused(VirtioPciError):
    """FEATURES_OK did not stick (VIRTIO-FEAT-009): the device is unusable."""

    req = "VIRTIO-FEAT-009"


class VersionNotOffered(VirtioPciError):
    """The device does not offer VIRTIO_F_VERSION_1; this driver is modern only."""

    req = "VIRTIO-FEAT-003"


class QueueUnavailable(VirtioPciError):
    """The selected queue reads size 0, or a size that is not a power of two."""

    req = "VIRTIO-PCI-024"


class VectorRefused(VirtioPciError):
    """A vector mapping read back as NO_VECTOR or another value (VIRTIO-PCI-041)."""

    req = "VIRTIO-PCI-041"


class GenerationUnstable(VirtioPciError):
    """The configuration generation kept changing for the whole bounded read loop."""

    req = "VIRTIO-PCI-051"


class DeviceNeedsReset(VirtioPciError):
    """The device set DEVICE_NEEDS_RESET (VIRTIO-STATUS-004)."""

    req = "VIRTIO-STATUS-004"


class NotLive(VirtioPciError):
    """The driver was asked to notify or use a queue before DRIVER_OK (VIRTIO-STATUS-010)."""

    req = "VIRTIO-STATUS-010"


class Timeout(VirtioPciError):
    """A bounded wait for the device ran out."""

    req = "VIRTIO-STATUS-004"
