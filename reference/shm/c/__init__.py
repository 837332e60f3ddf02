"""The idempotent table and shm-signal in C (shm.c), its ABI, stepped and threaded builds, and
the Python builds, bindings and error codes."""
