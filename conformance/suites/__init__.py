"""Conformance cases, one module per spec area."""
