"""virtio-ring, packed virtqueue (spec/ring_packed.md): layout, driver side, device side."""
