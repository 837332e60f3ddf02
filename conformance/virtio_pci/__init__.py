"""QEMU's virtio-net-pci through qtest: the transport's real peer."""
