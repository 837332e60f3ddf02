"""Cases of the split ring (spec/ring.md), honest and hostile."""
