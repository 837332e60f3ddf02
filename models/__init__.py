"""Machine-checked models: Z3 proofs, Hypothesis state machines, and known-bad variants."""
