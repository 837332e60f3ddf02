"""Real drivers of our net device: DPDK's virtio-user and a Linux guest."""
