"""``virtiospec conformance``: a bad target spec or option, a peer that cannot start, and a
selection that matches nothing are one-line errors with exit 2 (never a traceback, never a
verdict on the peer); --strict and --deviations decide what counts; one quick case each
against QEMU and DPDK in their configurations (``bench net --json``:
tests/net/test_net_bench.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner
from virtiospec.conformance.net.target_dpdk import ToolMissing, require_testpmd
from virtiospec.conformance.virtio_pci.target_qemu import qemu_binary

from virtiospec.cli import app

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSING = "pci.virtio.rejects-odd-queue-size"  # PASS (REJECT) on the reference


def _cli(*args: str) -> tuple[int, str, str]:
    out = CliRunner().invoke(app, list(args))
    return out.exit_code, out.stdout, out.stderr


def _one_line_error(code: int, stderr: str, *needles: str) -> None:
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize(("target", "needle"), [
    ("lib:/nonexistent.so", "no such library /nonexistent.so"),
    ("lib:/etc/passwd", "invalid ELF header"),
    ("lib:/etc/passwd:sideways", "side 'sideways' is neither driver nor device"),
    ("lib:X.so:sideways", "no such library"),
    ("nosuch", "unknown target 'nosuch'"),
    ("qemu:/bin/false", "/bin/false is not QEMU"),
    ("qemu:/nonexistent/qemu", "no such executable"),
    ("qemu,packed", "expected PROP=VAL"),
    ("qemu,addr=3", "qemu option addr: set by the target"),
    ("dpdk:sock", "takes devargs"),
    ("dpdk,packed_vq=2", "dpdk option packed_vq=2: expected 0 or 1"),
    ("dpdk,path=/tmp/x", "dpdk option path: set by the target"),
    ("dpdk,nosuch=1", "dpdk option nosuch"),
    ("dpdk,queue_size=100", "a power of 2"),
    ("linux-guest,foo=1", "linux-guest option foo"),
    ("linux-guest,packed=maybe", "expected on or off"),
    ("linux-guest,kernel=/nonexistent", "no such file /nonexistent"),
    ("reference:x", "takes no argument"),
])
def test_bad_target_specs_are_one_line_errors(target: str, needle: str) -> None:
    code, _, err = _cli("conformance", "run", "--target", target, "--only", PASSING)
    _one_line_error(code, err, needle)


@pytest.mark.parametrize("args", [
    ("conformance", "run", "--only", "nosuch"),
    ("conformance", "run", "--list", "--only", "nosuch"),
    ("conformance", "list", "--only", "nosuch"),
    ("check", "--only", "nosuch"),
    ("coverage", "--layer", "NOSUCH"),
    ("prove", "--only", "nosuch"),
])
def test_a_selection_matching_nothing_exits_2(args: tuple[str, ...]) -> None:
    code, _, err = _cli(*args)
    _one_line_error(code, err, "no")


def test_deviations_decide_the_exit_status(tmp_path: Path) -> None:
    listed = tmp_path / "mine.toml"
    listed.write_text(f'[[deviation]]\ncase = "{PASSING}"\nrequirement = "VIRTIO-PCI-024"\n'
                      'reason = "r"\nversion = "v"\n', encoding="utf-8")
    code, out, _ = _cli("conformance", "run", "--only", PASSING, "-q")
    assert code == 0, out
    code, out, _ = _cli("conformance", "run", "--only", PASSING, "--deviations", str(listed))
    assert code == 1 and "XPASS" in out and "1 xpass" in out, out  # listed, but it passed
    code, out, _ = _cli("conformance", "run", "--only", PASSING, "--deviations", str(listed),
                        "--strict")
    assert code == 0 and "xpass" in out and "1 reject" in out, out  # --strict ignores them
    bad = tmp_path / "bad.toml"
    bad.write_text('[[deviation]]\ncase = "no.such"\n', encoding="utf-8")
    code, _, err = _cli("conformance", "run", "--only", PASSING, "--deviations", str(bad))
    _one_line_error(code, err, "bad.toml")


def test_report_records_strict_and_grades(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    code, out, _ = _cli("conformance", "run", "--only", PASSING, "--strict", "--report",
                        f"json:{path}")
    assert code == 0, out
    data = json.loads(path.read_text())
    assert data["strict"] is True and data["unexpected"] == 0
    assert set(data["counts"]) >= {"FAIL", "NON-STRICT", "EXTENSION", "XFAIL", "XPASS"}


def _need_qemu() -> None:
    if qemu_binary() is None:
        if IN_CI:
            pytest.fail("qemu-system-x86_64 is missing in CI")
        pytest.skip("qemu-system-x86_64 is not installed")


def test_qemu_known_deviation_is_xfail_and_strict_makes_it_fail(tmp_path: Path) -> None:
    _need_qemu()
    path = tmp_path / "q.json"
    code, out, _ = _cli("conformance", "run", "--target", "qemu", "--only", PASSING,
                        "--report", f"json:{path}")
    assert code == 0 and "XFAIL" in out and "qemu.toml" in out, out
    case = json.loads(path.read_text())["cases"][0]
    assert case["outcome"] == "XFAIL" and case["graded"].startswith("FAIL")
    assert "VIRTIO-PCI-024" in case["deviation"]
    code, out, _ = _cli("conformance", "run", "--target", "qemu", "--only", PASSING, "--strict")
    assert code == 1 and "FAIL" in out, out


def test_qemu_options_reach_the_device_and_cases_skip_what_it_lacks() -> None:
    _need_qemu()
    code, out, _ = _cli("conformance", "run", "--target", "qemu,vectors=2",
                        "--only", "pci.net.no-vector", "--only", "pci.config.bars")
    assert code == 0, out
    assert "SKIP 1 cases: the device has 2 MSI-X vectors; the case maps 3" in out, out
    code, out, _ = _cli("conformance", "run", "--target", "qemu,event_idx=off",
                        "--only", "pci.virtio.rejects-late-features")
    assert code == 0 and "does not offer VIRTIO_F_EVENT_IDX" in out, out
    code, _, err = _cli("conformance", "run", "--target", "qemu,nosuch=1", "--only", PASSING)
    _one_line_error(code, err, "has no property 'nosuch'")
    code, _, err = _cli("conformance", "run", "--target", "qemu,packed=maybe", "--only",
                        PASSING)
    _one_line_error(code, err, "QEMU does not start with packed=maybe", "expects 'on' or 'off'")


def test_a_linux_guest_that_cannot_start_is_an_error_of_the_run(tmp_path: Path) -> None:
    code, _, err = _cli("conformance", "run", "--target",
                        f"linux-guest,kernel=/etc/hostname,modules={tmp_path}", "--only",
                        "net.driver.features")
    _one_line_error(code, err, "module virtio_ring not found")
    _need_qemu()
    modules = sorted(Path("/lib/modules").glob("*/kernel"))
    if not modules:
        pytest.skip("no kernel modules installed")
    code, _, err = _cli("conformance", "run", "--target",
                        f"linux-guest,kernel=/etc/hostname,modules={modules[-1].parent}",
                        "--only", "net.driver.features")
    _one_line_error(code, err, "the Linux guest did not boot")


def _need_testpmd() -> None:
    try:
        require_testpmd()
    except ToolMissing as err:
        if IN_CI:
            pytest.fail(f"{err} (CI=true: a missing peer is a failure)")
        pytest.skip(str(err))


def test_dpdk_devargs_and_its_known_deviation() -> None:
    _need_testpmd()
    code, out, _ = _cli("conformance", "run", "--target", "dpdk,packed_vq=1,mrg_rxbuf=0",
                        "--only", "net.driver.tx-num-buffers-zero", "--only",
                        "net.driver.features")
    assert code == 0, out
    assert "XFAIL" in out and "dpdk.toml" in out, out
    assert "packed_vq=1: VIRTIO_F_RING_PACKED negotiated" in out, out  # our device serves it



def test_matrix_columns_rows_totals_and_exit_status(tmp_path: Path) -> None:
    configs = tmp_path / "set.txt"
    configs.write_text("reference  # the Python stack\n\nc\n", encoding="utf-8")
    page, doc = tmp_path / "m.html", tmp_path / "m.json"
    code, out, _ = _cli("conformance", "matrix", "-c", str(configs), "--only",
                        "ring.split.device.rejects-loop", "--only", "pci.virtio.reset",
                        "--report", f"html:{page}", "--report", f"json:{doc}")
    assert code == 0, out
    data = json.loads(doc.read_text())
    assert [c["target"] for c in data["configurations"]] == ["reference", "c"]
    ref, c = data["configurations"]
    assert ref["outcomes"] == {"ring.split.device.rejects-loop": "REJECT",
                               "pci.virtio.reset": "PASS"}
    assert c["outcomes"]["pci.virtio.reset"] == "SKIP"  # c has no PCI device
    assert set(data["cases"]) == {"ring.split.device.rejects-loop", "pci.virtio.reset"}
    assert "<th>reference</th>" in page.read_text() and "totals" in page.read_text()


def test_matrix_marks_a_configuration_that_cannot_run(tmp_path: Path) -> None:
    configs = tmp_path / "set.txt"
    configs.write_text("reference\nlib:/nonexistent.so\n", encoding="utf-8")
    code, out, _ = _cli("conformance", "matrix", "-c", str(configs), "--only",
                        "ring.split.device.rejects-loop")
    assert code == 2, out
    assert "lib:/nonexistent.so: error: --target lib:/nonexistent.so: lib target: no such " \
           "library" in out, out
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    code, _, err = _cli("conformance", "matrix", "-c", str(empty))
    _one_line_error(code, err, "no target spec")


def test_matrix_default_set_names_every_documented_configuration() -> None:
    from virtiospec.conformance import matrix

    for spec in ("qemu,packed=on", "qemu,event_idx=off", "qemu,indirect_desc=off",
                 "qemu,mrg_rxbuf=off", "qemu,mq=on,vectors=8", "qemu,ctrl_vq=off",
                 "dpdk,packed_vq=1", "dpdk,in_order=1", "dpdk,mrg_rxbuf=0", "dpdk,queues=2",
                 "linux-guest,packed=on", "linux-guest,queues=2"):
        assert spec in matrix.DEFAULT
