"""Cases of the PCI transport (spec/virtio_pci.md, spec/pci_transport.md), honest and hostile."""
