"""Cases of the packed ring (spec/ring_packed.md), honest and hostile."""
