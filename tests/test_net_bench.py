"""``virtiospec bench net`` measures both devices with the same meter and prints a ratio."""

from __future__ import annotations

import os
import re

import pytest
from typer.testing import CliRunner
from virtiospec.conformance.target_dpdk import ToolMissing, require_testpmd

from virtiospec.bench_net import _pps
from virtiospec.cli import app


def test_pps_parsing() -> None:
    log = "Throughput\n  Rx-pps:   12  Rx-bps: 9\n  Tx-pps:   8567   Tx-bps: 1\n" * 2
    assert _pps(log, "Tx-pps", 0) == [8567.0, 8567.0]
    assert _pps(log, "Rx-pps", len(log) // 2) == [12.0]


def test_bench_one_round() -> None:
    try:
        require_testpmd()
    except ToolMissing as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{err} (CI=true: a missing peer is a failure)")
        pytest.skip(str(err))
    out = CliRunner().invoke(app, ["bench", "net", "--rounds", "1", "--seconds", "1",
                                   "--direction", "to-device"])
    assert out.exit_code == 0, out.output
    m = re.search(r"ours\s+([\d,]+) fps.*net_vhost\s+([\d,]+) fps\s+ratio ([\d.]+)", out.output)
    assert m, out.output
    ours, theirs = (float(g.replace(",", "")) for g in m.groups()[:2])
    assert ours > 100 and theirs > ours
    assert "median ratio ours/net_vhost" in out.output
