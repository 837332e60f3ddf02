"""Memory models (SC, x86-TSO, PSO, RMO store buffers, as Python and as Z3 state) and their litmus
tests."""
