"""Hostile devices against our drivers above the ring (net, shm, PCI)."""
