"""The shm targets (C ABI libraries, shm.c, the Python reference, stepped builds) and what shm
cases run on."""
