"""Libraries the tests of ``lib:`` and ``shm-lib:`` build: ring.c behind the ABI with one
planted bug (tests/ring_planted.c, ``-DPLANT=<n>``) or one mutant of ring_mutants.h."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from virtiospec.reference import c_build
from virtiospec.reference.c_build import STRICT
from virtiospec.reference.ring.c import build as ring_c_build
from virtiospec.reference.shm.c import build as shm_c_build

TESTS = Path(__file__).resolve().parent
PLANTED = TESTS / "ring_planted.c"
SHM_PLANTS = {"WRITER_NEVER_ODD": 1, "STATE_SIZE_IGNORED": 2, "UPDATE_ANY_WORDS": 3,
              "SERVICE_NO_ACK": 4}


def plants() -> dict[str, int]:
    """PLANT_<NAME> -> number, as tests/ring_planted.c defines them (NONE excluded)."""
    found = re.findall(r"#define PLANT_(\w+) (\d+)", PLANTED.read_text())
    return {name: int(n) for name, n in found if name != "NONE"}


def planted(plant: int, out_dir: Path) -> Path:
    """ring.c + ring_abi.c with planted bug ``plant`` (0: none) as a shared library."""
    out = out_dir / f"libring_planted_{plant}.so"
    if not out.exists():
        cmd = [*ring_c_build.find_compiler(), *STRICT, "-O0", "-fPIC", "-shared",
               "-fvisibility=hidden", f"-DPLANT={plant}", *c_build.include_flags(),
               str(c_build.src("ring.c")), str(PLANTED), "-o", str(out)]
        subprocess.run(cmd, check=True)
    return out


def mutant(name: str | None, out_dir: Path) -> Path:
    """ring.c + ring_abi.c (optionally one mutant of ring_mutants.h) as a shared library."""
    out = out_dir / f"libring_{(name or 'reference').lower()}.so"
    if not out.exists():
        flags = ["-O2"] + ([f"-DVS_MUTANT=VS_M_{name}"] if name else [])
        ring_c_build.build_lib(out, flags)
    return out


def shm(name: str | None, out_dir: Path) -> Path:
    """shm.c + shm_abi.c as a shared library: the reference, one mutant of shm_mutants.h,
    or one of SHM_PLANTS (tests/shm_planted.c)."""
    out = out_dir / f"libshm_{(name or 'reference').lower()}.so"
    if out.exists():
        return out
    if name in SHM_PLANTS:
        cmd = [*ring_c_build.find_compiler(), *STRICT, "-O2", "-fPIC", "-shared",
               "-fvisibility=hidden", f"-DSHM_PLANT={SHM_PLANTS[name]}", *c_build.include_flags(),
               str(c_build.src("shm.c")), str(TESTS / "shm_planted.c"), "-o", str(out)]
        subprocess.run(cmd, check=True)
        return out
    return shm_c_build.build_lib(out, ("-O2",), mutant=name)
