"""Linux's drivers/virtio/virtio_ring.c and drivers/vhost/vringh.c behind virtiospec_ring.h,
built in user space (build.py); the target is conformance/ring/target_linux_vring.py."""
