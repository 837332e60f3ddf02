"""The rings in C: the split ring's ABI, stepped and threaded builds and known-bad switches
(its core, reference/ring.c, and ring.h stay where the design card puts them, one folder up),
the packed ring (ring_packed.c), and the Python builds, bindings and error codes of both."""
