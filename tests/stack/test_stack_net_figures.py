"""The stack.net variants drawn with one lane per layer (issue 16, item 5;
models/stack/net_figures.py)."""

from __future__ import annotations

from pathlib import Path

from virtiospec.models.registry import Step
from virtiospec.models.stack import net as sn
from virtiospec.models.stack import net_figures as nf

TRACE = [
    Step("env", "net stack up"),
    Step("driver", "send frame 0:"),
    Step("driver", "store tx0.avail.idx (BAR4) := 1"),
    Step("driver", "mb"),
    Step("driver", "load tx0.kick.pending (BAR4) -> 0"),
    Step("driver", "mb"),
    Step("device", "service:"),
    Step("device", "store tx0.kick.enabled := 0"),
    Step("driver", "MSI-X vector 2:"),
]


def test_each_step_goes_to_its_layer() -> None:
    previous: dict[str, str] = {}
    lanes = [nf.layer_of(TRACE, n, previous) for n in range(len(TRACE))]
    assert lanes == ["host", "driver.net", "driver.ring", "driver.ring", "driver.shm",
                     "driver.shm", "device.net", "device.shm", "driver.virtio-pci"]


def test_a_barrier_before_a_register_access_is_virtio_pci() -> None:
    trace = [Step("driver", "store rx0.used_event (BAR4) := 0"), Step("driver", "mb"),
             Step("device", "mb"), Step("driver", "register write [0xe0000016] := 0x0")]
    previous: dict[str, str] = {}
    assert [nf.layer_of(trace, n, previous) for n in range(2)] == ["driver.ring",
                                                                   "driver.virtio-pci"]


def test_registers_are_decoded_and_notifications_are_arrows() -> None:
    dec = nf.Decoder()
    s = dec.s
    assert dec.name(s.common + 58) == ("queue_reset", False)
    assert dec.name(s.common + 0x24) == ("queue_desc+4", False)
    assert dec.name(s.notify + 4)[1]
    trace = [Step("driver", f"register write [{s.notify + 4:#x}] := 0x1"),
             Step("driver", "MSI-X vector 1:")]
    svg = nf.layered_svg(trace, "t", dec)
    assert svg.count("<polygon") == 2 and "notify +0x4" in svg
    for lane in nf.LANES:
        assert nf.TITLES[lane] in svg


def test_the_figure_of_a_variant_is_its_failing_run(tmp_path: Path) -> None:
    [path] = nf.write_figures(tmp_path, ["net.driver_forgets_reset_queue"])
    assert path.name == "net.driver_forgets_reset_queue.svg"
    svg = path.read_text(encoding="utf-8")
    assert "broken: violation: NET-062" in svg
    assert "queue reset of" in svg and "write queue_reset := 0x1" in svg
    assert svg.count("<circle") > 10


def test_every_variant_has_a_figure_in_the_docs() -> None:
    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "stack.md").read_text(encoding="utf-8")
    for name, *_ in sn.PLANTED:
        figure = f"figures/stack_net/{nf.figure_name(name)}.svg"
        assert (root / "docs" / figure).is_file(), figure
        assert figure in doc, figure
