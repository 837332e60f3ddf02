"""virtio-shm (spec/shm.md): the idempotent table and shm-signal, proved and state-machine checked,
with known-bad variants."""
