"""The ring's targets (C ABI libraries, ring.c, stepped builds, Linux's ring code) and what ring
cases run on."""
