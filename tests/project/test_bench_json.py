"""Every ``virtiospec bench`` command's ``--json`` output is one JSON document on the process's
real standard output, as a shell redirect or a pipe sees it: the progress lines go to standard
error, and nothing a child process prints (testpmd, ringtest's build) reaches standard output.

Run as real subprocesses, not through typer's CliRunner (which only sees what Python writes to
``sys.stdout``, not what a child writes to file descriptor 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from virtiospec.conformance.net.target_dpdk import ToolMissing, require_testpmd
from virtiospec.reference.ring.c import bench as rb

from virtiospec.cli import app

BIN = Path(sys.executable).parent / "virtiospec"


def _bench(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), "bench", *args, "--json"], capture_output=True, text=True,
                          timeout=timeout)


def test_every_bench_command_is_covered_here() -> None:
    """A bench command added later must be added to this file too."""
    bench = typer.main.get_command(app).commands["bench"]  # type: ignore[attr-defined]
    assert set(bench.commands) == {"net", "ring"}


def test_bench_ring_json_is_the_whole_stdout() -> None:
    """With Linux's ringtest when its source is installed (the build and the runs are
    children of the command), else ring.c alone."""
    linux = "--linux" if rb.TARBALL.exists() else "--no-linux"
    p = _bench("ring", "--quick", linux, "-m", "poll", "-b", "1", timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)  # raises if anything but the document is there
    assert isinstance(doc, dict) and doc["samples"]
    assert "round" in p.stderr or "ring" in p.stderr  # the progress went to stderr
    if linux == "--linux":
        assert {s["impl"] for s in doc["samples"]} >= {"virtio_ring_0_9", "ring"}


def test_bench_net_json_is_the_whole_stdout() -> None:
    """testpmd (two of them per measurement) runs as a child of the command."""
    try:
        require_testpmd()
    except ToolMissing as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{err} (CI=true: a missing peer is a failure)")
        pytest.skip(str(err))
    p = _bench("net", "--device", "c", "--rounds", "1", "--seconds", "1", "--direction",
               "to-driver", timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    assert doc["ring"] == "split" and doc["size"] == 64
    assert [s["device"] for s in doc["samples"]] == ["c"]
    assert "load average" in p.stderr and "round 1" in p.stderr
