# The two front-door commands (see README):  make main   and   make test
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps main test typecheck lint prove check docs libring

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Debian packages for the real peers (QEMU, DPDK, Linux); needs root. See .ci/system-deps.
system-deps:
	bash .ci/system-deps

# The main job: the conformance suite against the built-in reference, then every proof
# and every known-bad variant, on JOBS worker processes (default: every core; JOBS=1 runs
# them one after the other; same verdicts, same order).
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
main: setup
	$(BIN)/virtiospec conformance run --target reference
	$(BIN)/virtiospec prove -j $(JOBS)
	$(BIN)/virtiospec prove --mutants -j $(JOBS)

test: setup
	$(BIN)/ruff check .
	$(BIN)/python tools/typecheck.py
	$(BIN)/python tools/layers.py
	$(BIN)/pytest -q

# mypy ([tool.mypy] in pyproject.toml) over the package under its installed names and over
# tests/: tools/typecheck.py links the folders as setup.py maps them, in build/typecheck/.
typecheck: setup
	$(BIN)/python tools/typecheck.py

prove: setup
	$(BIN)/virtiospec prove

check: setup
	$(BIN)/virtiospec check

# The documentation site: requirement pages generated from spec/, then mkdocs, warnings as errors.
docs: setup
	$(BIN)/virtiospec docs --out docs/requirements
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -q

# An example shared library for --target lib:PATH.so: the C reference of the ring behind the
# ABI of conformance/ring/virtiospec_ring.h (run: virtiospec conformance run --target lib:build/libvirtiospec_ring.so).
libring: setup
	$(BIN)/python -m virtiospec.reference.ring.c.build lib build/libvirtiospec_ring.so

# An example shared library for --target shm-lib:PATH.so: the C reference of the table and
# shm-signal behind the ABI of conformance/shm/virtiospec_shm.h (run: virtiospec conformance run
# --target shm-lib:build/libvirtiospec_shm.so; see docs/guide-shm-library.md).
.PHONY: libshm
libshm: setup
	$(BIN)/python -m virtiospec.reference.shm.c.build lib build/libvirtiospec_shm.so

# ring.c on two cores against Linux's tools/virtio/ringtest (built from linux-source-6.1 at
# run time; see docs/bench.md).
.PHONY: bench
bench: setup
	$(BIN)/virtiospec bench ring
