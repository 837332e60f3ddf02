"""``virtiospec demo``: traffic through the whole stack, its counters and checks, and its exit
status (1 when a frame is lost, duplicated, corrupted or reordered)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner
from virtiospec.reference.stack import traffic

from virtiospec.cli import app


@pytest.mark.req("NET-060", "NET-026", "NET-062", "SHM-RING-006")
def test_demo_json_reports_every_layer_and_exits_0() -> None:
    result = CliRunner().invoke(app, ["demo", "-n", "60", "--pairs", "2", "--flap", "--reset",
                                      "--queue-size", "16", "--size", "200", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["ok"] and out["traffic"]["ok"]
    assert set(out["counters"]) == {"pci", "virtio_pci", "shm", "ring", "net"}
    assert set(out["counters"]["ring"]) == {"rx0", "tx0", "rx1", "tx1", "ctrl"}
    for side in ("tx", "rx"):
        assert out["traffic"][side]["intact"] == 60 and out["traffic"][side]["lost"] == 0
    assert all(c["ok"] for c in out["checks"])
    assert "VIRTIOSPEC_QUEUE_CLASSES" in out["features"]


@pytest.mark.req("NET-060")
def test_demo_exits_1_when_a_frame_is_corrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    real = traffic.Echo.__call__

    def corrupting(self: traffic.Echo, pair: int, data: bytes) -> None:
        got = traffic.seq_of(data)
        if got is not None and got[1] == 3:  # the wire flips a byte of frame 3's payload
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        real(self, pair, data)

    monkeypatch.setattr(traffic.Echo, "__call__", corrupting)
    result = CliRunner().invoke(app, ["demo", "-n", "10", "--pairs", "1", "--json"])
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert out["traffic"]["tx"]["corrupted"] == 1
    assert out["traffic"]["rx"]["lost"] == 1  # its echo was never sent


def test_demo_table_output() -> None:
    result = CliRunner().invoke(app, ["demo", "-n", "20", "--pairs", "1", "--no-event-idx"])
    assert result.exit_code == 0, result.output
    for title in ("per-layer counters", "virtio-ring, per queue", "cross-layer checks",
                  "frames/s"):
        assert title in result.output
