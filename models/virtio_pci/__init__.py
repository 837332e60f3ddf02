"""virtio-pci (spec/virtio_pci.md): device status, feature negotiation, configuration generation,
driver initialization."""
