"""What the network driver needs from the virtio-pci driver side, and nothing else.

* :class:`WideTransport`: the reference transport, with 128 feature bits read and written 32
  at a time (VIRTIO-FEAT-001: at least 64), because the network layer's per-queue classes are
  feature bit 95 (NET-050). The device side already shows and takes selects 0..3.
* the device configuration as the network driver reads it is the transport's
  :class:`~virtiospec.reference.virtio_pci.transport.TransportConfig`.
"""

from __future__ import annotations

from virtiospec.reference.access import Op, load, store
from virtiospec.reference.virtio_pci.regs import (
    DEVICE_FEATURE,
    DEVICE_FEATURE_SELECT,
    DRIVER_FEATURE,
    DRIVER_FEATURE_SELECT,
)
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport

FEATURE_WORDS = 4


class WideTransport(VirtioPciTransport):
    def _features(self, select: int, word: int) -> Op[int]:
        common = self.structures.common
        features = 0
        for sel in range(FEATURE_WORDS):
            yield from store(common + select, 4, sel)
            features |= (yield from load(common + word, 4)) << (32 * sel)
        return features

    def device_features(self) -> Op[int]:
        return (yield from self._features(DEVICE_FEATURE_SELECT, DEVICE_FEATURE))

    def driver_features(self) -> Op[int]:
        return (yield from self._features(DRIVER_FEATURE_SELECT, DRIVER_FEATURE))

    def set_driver_features(self, features: int) -> Op[None]:
        common = self.structures.common
        for sel in range(FEATURE_WORDS):
            yield from store(common + DRIVER_FEATURE_SELECT, 4, sel)
            yield from store(common + DRIVER_FEATURE, 4, (features >> (32 * sel)) & 0xFFFF_FFFF)
