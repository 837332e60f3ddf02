"""The conformance suite: cases that cite requirement IDs, targets that implement a side."""
