"""Reference implementation of every layer: PCI, virtio-pci, virtio-shm, virtio-ring, virtio-net.

Shared-memory code is written as generators that *yield* each access to shared memory
(see :mod:`virtiospec.reference.access`). Run them to completion with
:func:`virtiospec.reference.access.run` over a :class:`GuestMemory`; the models step them
one access at a time, under SC or x86-TSO, to interleave driver and device.
"""
