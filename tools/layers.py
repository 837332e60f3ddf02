"""Check the layering contract: ``python tools/layers.py``.

The contract is ``[tool.importlinter]`` in pyproject.toml (import-linter, a well-kept
engine; docs/index.md says the same in prose). import-linter finds a package by walking
its folder, and setup.py maps the top-level folders into one namespace with
``package_dir`` (``reference/`` is ``virtiospec.reference``), so this script builds the
installed layout as the same tree of links that tools/typecheck.py uses and runs
``lint-imports`` on it. Exit status is lint-imports': 0 when every contract is kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from typecheck import REPO, TREE, build, plan, roots


def main(argv: list[str]) -> int:
    build(plan(roots()))
    env = dict(os.environ, PYTHONPATH=str(TREE))
    lint = Path(sys.executable).with_name("lint-imports")
    command = [str(lint), str(REPO / "pyproject.toml"), "--no-cache", *argv]
    # cwd is the tree: from the repository, virtiospec/ alone would be taken for the package.
    return subprocess.call(command, cwd=TREE, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
