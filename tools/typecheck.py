"""Type-check the package as it is installed: ``python tools/typecheck.py [mypy args]``.

setup.py maps the top-level folders into one namespace (``reference/`` is
``virtiospec.reference``, ...) with ``package_dir``; the editable install resolves that
with an import hook that mypy cannot follow, and ``mypy_path`` cannot rename a folder.
So this script builds the installed layout as a tree of symlinks, derived from ``ROOTS``
in setup.py (read with ``ast``, not imported: importing setup.py runs ``setup()``):

    build/typecheck/virtiospec/            a directory: one link per entry of virtiospec/
    build/typecheck/virtiospec/reference   -> reference/
    build/typecheck/virtiospec/models      -> models/   (and spec/, conformance/)

then runs mypy (``[tool.mypy]`` in pyproject.toml) on that tree and on tests/, and prints
every error with the path of the real file (``reference/ring/split.py:12: error: ...``).
Exit status is mypy's. Standard library only; build/ is ignored by git, and the tree is
rebuilt in place each run (idempotent, so concurrent runs agree).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TREE = REPO / "build" / "typecheck"
SKIP = {"__pycache__"}
#: checked besides the package (the tests import it as ``virtiospec.*``).
EXTRA = ["tests", "tools"]


def roots(setup_py: Path = REPO / "setup.py") -> dict[str, str]:
    """``ROOTS`` (package -> folder) as assigned in setup.py."""
    for node in ast.parse(setup_py.read_text(), str(setup_py)).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "ROOTS" for t in targets):
                assert node.value is not None
                value = ast.literal_eval(node.value)
                if not isinstance(value, dict):
                    raise SystemExit(f"{setup_py}: ROOTS is not a dict literal")
                return {str(k): str(v) for k, v in value.items()}
    raise SystemExit(f"{setup_py}: no ROOTS assignment")


def plan(mapping: dict[str, str]) -> dict[Path, Path | None]:
    """Every entry of the tree, relative to TREE: a link target, or None for a directory.

    A package with no other package inside it is one link to its folder; a package that
    has (``virtiospec`` holds ``virtiospec.spec``, ...) is a directory of links to each of
    its folder's entries, beside the links of the packages inside it.
    """
    entries: dict[Path, Path | None] = {}
    for package, folder in sorted(mapping.items()):
        here = Path(*package.split("."))
        inner = {p.split(".")[len(here.parts)] for p in mapping if p.startswith(package + ".")}
        for depth in range(1, len(here.parts)):
            entries.setdefault(Path(*here.parts[:depth]), None)
        if not inner:
            entries[here] = REPO / folder
            continue
        entries[here] = None
        for child in sorted((REPO / folder).iterdir()):
            if child.name in SKIP or child.name.startswith("."):
                continue
            if child.name in inner or child.stem in inner:
                raise SystemExit(f"{child} hides the package {package}.{child.stem}")
            entries[here / child.name] = child
    return entries


def build(entries: dict[Path, Path | None], tree: Path = TREE) -> None:
    """Make the tree match ``entries``: links replaced atomically, strays removed."""
    tree.mkdir(parents=True, exist_ok=True)
    for rel, target in sorted(entries.items()):
        path = tree / rel
        if target is None:
            if path.is_symlink():
                path.unlink()
            path.mkdir(exist_ok=True)
            continue
        link = os.path.relpath(target, path.parent)
        if path.is_symlink() and os.readlink(path) == link:
            continue
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(link)
        os.replace(tmp, path)
    wanted = {tree / rel for rel in entries}
    for dirpath, dirnames, filenames in os.walk(tree):  # links to folders are not entered
        here = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = here / name
            if path in wanted or name.startswith("."):  # mypy's cache, a concurrent run's link
                continue
            if path.is_symlink() or not path.is_dir():
                path.unlink(missing_ok=True)
            else:
                shutil.rmtree(path, ignore_errors=True)
        dirnames[:] = [d for d in dirnames if here / d in wanted and not (here / d).is_symlink()]


LOCATION = re.compile(r"^(?P<path>[^:\s][^:]*\.pyi?)(?P<rest>:.*)$")


def real(line: str) -> str:
    """The mypy message with the tree path replaced by the real file's path."""
    match = LOCATION.match(line.rstrip("\n"))
    if not match:
        return line
    path = Path(match["path"])
    resolved = (path if path.is_absolute() else REPO / path).resolve()
    try:
        shown = resolved.relative_to(REPO)
    except ValueError:
        return line
    return f"{shown}{match['rest']}\n"


def main(argv: list[str]) -> int:
    mapping = roots()
    build(plan(mapping))
    top = sorted({package.split(".")[0] for package in mapping})
    targets = [str((TREE / name).relative_to(REPO)) for name in top]
    targets += [name for name in EXTRA if (REPO / name).is_dir()]
    # A cache of its own: a plain ``mypy`` run in the repository caches virtiospec/ as the
    # package ``virtiospec`` without its subpackages, which this run must not reuse.
    command = [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
               "--cache-dir", str((TREE / ".mypy_cache").relative_to(REPO)), *argv, *targets]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(real(line))
    sys.stdout.flush()
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
