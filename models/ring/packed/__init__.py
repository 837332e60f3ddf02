"""virtio-ring, packed virtqueue (spec/ring_packed.md): Z3 proofs, Hypothesis machines, known-bad
variants."""
