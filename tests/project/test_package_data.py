"""What a wheel ships: every file tracked under a folder that setup.py maps to a package
(spec/, models/, reference/, conformance/, virtiospec/) is either Python or matched by a
glob of [tool.setuptools.package-data], so that `virtiospec coverage` (which reads the
installed packages' .py, .c and .h files), the C builds and the fuzzers see the same files
from an installed wheel as from a checkout (issue 15, item 5)."""

from __future__ import annotations

import subprocess
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
# setup.py: ROOTS (package -> folder)
FOLDERS = {"virtiospec": "virtiospec", "virtiospec.spec": "spec",
           "virtiospec.models": "models", "virtiospec.reference": "reference",
           "virtiospec.conformance": "conformance"}


def _folder_of(package: str) -> PurePosixPath:
    for top, folder in sorted(FOLDERS.items(), key=lambda kv: -len(kv[0])):
        if package == top or package.startswith(top + "."):
            rest = package[len(top):].lstrip(".").replace(".", "/")
            return PurePosixPath(folder) / rest if rest else PurePosixPath(folder)
    raise AssertionError(f"{package} is under no folder of setup.py")


def _matches(rel: PurePosixPath, pattern: str) -> bool:
    """setuptools globs each pattern from the package's folder: ``*`` stays in one folder."""
    parts = pattern.split("/")
    return len(parts) == len(rel.parts) and all(
        fnmatchcase(p, g) for p, g in zip(rel.parts, parts, strict=True))


def _shipped(path: PurePosixPath, globs: dict[str, list[str]]) -> bool:
    for package, patterns in globs.items():
        folder = _folder_of(package)
        if folder in path.parents and any(_matches(path.relative_to(folder), g)
                                          for g in patterns):
            return True
    return False


def test_every_tracked_data_file_is_in_the_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    tracked = subprocess.run(["git", "ls-files", *FOLDERS.values()], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    data = [PurePosixPath(f) for f in tracked if not f.endswith((".py", ".pyi"))]
    assert len(data) > 100  # spec/*.md, the C sources and headers, the fuzz corpus...
    left_out = [str(f) for f in data if not _shipped(f, globs)]
    assert not left_out, f"tracked but not shipped in a wheel: {left_out}"
    # the checker itself: a file beside the C sources that no glob names is left out
    assert not _shipped(PurePosixPath("reference/ring/c/notes.txt"), globs)
    assert _shipped(PurePosixPath("reference/ring/c/ring_packed.c"), globs)
