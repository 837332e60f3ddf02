"""virtio-ring, split virtqueue (spec/ring.md): Z3 proofs, Hypothesis machines, the C and foreign
builds under the memory models, known-bad variants; the ring on shm-signal (spec/shm.md SHM-
RING-*)."""
