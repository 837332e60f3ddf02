"""Whole stacks in one process, the reference of every layer on both sides over a simulated
PC (reference/pci's ``Machine``).

* The network stack, **PCI → virtio-pci → virtio-shm → virtio-ring → virtio-net**:
  ``net_stack.Stack`` assembles ``net_function`` (the virtio-pci device, its queues in its
  shared memory region), ``net_backend`` (the reference ``NetDevice`` behind it),
  ``net_driver`` (enumeration, bring-up, interrupts, the reference ``NetDriver``),
  ``rings`` (the split ring on shm as the network layer takes it), ``region`` (the region's
  memory and each side's view), ``transport``, ``bus`` and ``counters``; ``traffic`` sends
  and verifies frames, ``checks`` compares the layers' counters. ``virtiospec demo`` runs it
  (docs/stack.md).
* The clock device on virtio-pci: the ``clock_*`` modules (spec/shm.md, SHM-CLOCK-004..).
"""
