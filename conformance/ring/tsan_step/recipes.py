"""The foreign builds the stepped path knows: ring.c (and its C mutants) through the hooks,
and ``src:PATH.c[,MORE.c...]`` -- any C implementation of virtiospec_ring.h."""

from __future__ import annotations

from pathlib import Path

from virtiospec.conformance.ring.tsan_step import sides
from virtiospec.conformance.ring.tsan_step.build import Recipe
from virtiospec.reference import c_build
from virtiospec.reference.ring.c.build import MUTANTS

RING_C = "ring.c"


def ring_c_recipe(mutant: str | None = None) -> Recipe:
    """reference/ring.c behind ring_abi.c, one mutant of ring_mutants.h switched on."""
    if mutant is not None and mutant not in MUTANTS:
        raise ValueError(f"unknown C mutant {mutant!r}; known: {', '.join(MUTANTS)}")
    flags = (f"-DVS_MUTANT=VS_M_{mutant}",) if mutant else ()
    return Recipe(f"ring_c_{mutant or 'reference'}",
                  (c_build.src("ring.c"), c_build.src("ring_abi.c")),
                  ("-std=c11", "-Wall", "-Wextra", "-Werror", *flags), c_build.C_DIRS,
                  tuple(c_build.src(h) for h in ("ring.h", "ring_access.h", "ring_mutants.h",
                                                "vs_block.h")))


def ring_c_key(mutant: str | None = None) -> str:
    """The build key of ring.c (or of one of its mutants), registered on first use."""
    key = RING_C if mutant is None else f"{RING_C}:{mutant}"
    if key not in sides.RECIPES:
        sides.register(key, lambda: ring_c_recipe(mutant))
    return key


def src_recipe(spec: str) -> Recipe:
    """``PATH.c[,MORE.c...]``: C files implementing virtiospec_ring.h, compiled with
    -std=gnu11 -O1, each file's folder on the include path."""
    paths = [Path(p).expanduser().resolve() for p in spec.split(",") if p]
    if not paths:
        raise ValueError("src: needs a C file: --target src:PATH.c[,MORE.c...]")
    for path in paths:
        if not path.is_file():
            raise ValueError(f"src:{spec}: no such file {path}")
        if path.suffix != ".c":
            raise ValueError(f"src:{spec}: {path.name} is not a .c file")
    dirs = tuple(dict.fromkeys(p.parent for p in paths))
    extra = tuple(h for d in dirs for h in sorted(d.glob("*.h")))
    return Recipe(f"src_{paths[0].stem}", tuple(paths), ("-std=gnu11",), dirs, extra)


def src_key(spec: str) -> str:
    key = f"src:{spec}"
    if key not in sides.RECIPES:
        recipe = src_recipe(spec)  # errors now, before anything runs
        sides.register(key, lambda: recipe)
    return key
