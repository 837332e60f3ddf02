"""The vhost-user device's C fast path (ring_vhost.c, ring_vhost_packed.c: ring.c and
ring_packed.c compiled in with their accesses translated through the memory table), its
workloads and builds."""
