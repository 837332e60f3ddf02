"""The layering contract (pyproject.toml [tool.importlinter], docs/index.md) holds, and
the check is not vacuous: the same engine on the same tree refuses the layers reversed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = REPO / "tools" / "layers.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(LAYERS), *args], cwd=REPO, text=True,
                          capture_output=True, timeout=300)


def test_contract_is_kept() -> None:
    proc = run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_reversed_layers_are_refused(tmp_path: Path) -> None:
    """A contract that puts the ring below virtio-shm must break on the real imports (the
    ring on shm imports shm): the engine sees the whole package, not an empty one."""
    config = tmp_path / "reversed.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "virtiospec"\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "reversed"\ntype = "layers"\n'
        'layers = ["virtiospec.reference.shm", "virtiospec.reference.ring"]\n'
    )
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail(f"{lint} is missing: install the dev extra (import-linter)")
    run("--help")  # builds the tree of links that lint-imports reads
    tree = REPO / "build" / "typecheck"
    proc = subprocess.run([str(lint), str(config), "--no-cache"], cwd=tree, text=True,
                          capture_output=True, timeout=300,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0, proc.stdout
    assert "virtiospec.reference.ring.on_shm" in proc.stdout
