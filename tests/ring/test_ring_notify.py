"""Where ring.c's extra interrupts come from (docs/bench.md): the driver's re-enable, counted
on a virtual clock (reference/ring/notify_sim.py), and `bench ring --reenable`/`--json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from virtiospec.reference.ring.notify_sim import Costs, simulate

BIN = Path(sys.executable).parent / "virtiospec"
N, Q = 3000, 256


def test_counts_are_deterministic() -> None:
    a = simulate(batch=16, buffers=N, costs=Costs(device=230))
    b = simulate(batch=16, buffers=N, costs=Costs(device=230))
    assert a == b and a.buffers == N


def test_driver_faster_than_device_enable_cb_is_an_interrupt_per_catch_up() -> None:
    """The device slower than the driver: enable_cb asks for the next used entry, so every
    time the driver catches up it is woken for the next buffer; enable_cb_delayed asks for
    the entry 3/4 of the outstanding buffers ahead: at most one interrupt per 3Q/4 buffers
    (and a few while the last buffers drain)."""
    slow = Costs(device=230)  # driver: add 55 + get 45 a buffer
    for batch in (1, 64):
        nxt = simulate(batch=batch, reenable="next", buffers=N, costs=slow)
        dly = simulate(batch=batch, reenable="delayed", buffers=N, costs=slow)
        assert nxt.interrupts >= N / 20, nxt  # at least one in 20 buffers
        drain = 2 * Q.bit_length()
        assert dly.interrupts <= N // (3 * Q // 4) + drain, dly
        assert nxt.interrupts >= 10 * dly.interrupts
        assert dly.kicks == nxt.kicks  # the device never sleeps: kicks alike


def test_device_faster_interrupts_do_not_depend_on_the_reenable() -> None:
    """The device faster: the driver never catches up, the device sleeps and is kicked."""
    fast = Costs(device=70)
    nxt = simulate(batch=64, reenable="next", buffers=N, costs=fast)
    dly = simulate(batch=64, reenable="delayed", buffers=N, costs=fast)
    assert nxt == dly and nxt.device_sleeps > 0 and nxt.driver_sleeps == 0


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), "bench", "ring", "--quick", "--no-linux", "-m",
                           "event_idx", "-b", "16", *args], capture_output=True, text=True,
                          timeout=300)


def test_bench_ring_json_is_pure_and_names_the_reenable() -> None:
    p = _bench("--reenable", "next", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)  # nothing but the JSON on stdout (progress: stderr)
    assert out["config"]["reenable"] == "next"
    assert {s["impl"] for s in out["samples"]} == {"ring.c", "ring.c dev-batched"}
    bad = _bench("--reenable", "sometimes")
    assert bad.returncode == 2 and "--reenable" in bad.stderr and "Traceback" not in bad.stderr
