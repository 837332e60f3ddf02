"""Puts tests/ on sys.path (pytest inserts a conftest's folder), so that the tests in the
layer folders below import the shared helpers (c_helpers, lib_builds) by name."""
