"""Cases of the table and shm-signal (spec/shm.md)."""
