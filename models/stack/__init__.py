"""The layers composed (PCI -> virtio-pci -> virtio-shm -> virtio-ring): the whole stack stepped
access by access."""
