"""The shm suite (conformance/suites/shm/table.py, table_reader.py, signal.py): it passes
against the Python reference, the C reference (installed build through the ABI, and
stepped), and a shared library behind conformance/shm/virtiospec_shm.h with the same
outcomes as ``--target c``. Against broken targets: test_shm_conformance_broken.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from c_helpers import CC, REFERENCE, check_compiles_cleanly, needs_cc
from shm_suite import IDS, NATIVE, PREFIXES, SHM, STEPPED_ONLY, explain, honest, outcomes
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.lib_stress import is_stress
from virtiospec.conformance.shm.target_abi import ROLES, ShmAbiLibrary, ShmAbiSides
from virtiospec.conformance.shm.target_lib import parse
from virtiospec.conformance.shm.target_stepped import SteppedShmTarget
from virtiospec.reference import c_build
from virtiospec.reference.shm.c.build import ABI_HEADER, build_lib
from virtiospec.reference.shm.c.errors import ERRORS

# -- the suite itself ------------------------------------------------------------------------

def test_cases_are_named_and_cite_shm_requirements() -> None:
    assert len(SHM) >= 30
    for c in SHM:
        assert c.id.startswith(PREFIXES), c.id
        assert c.reqs and all(r.startswith(("SHM-TABLE-", "SHM-SIGNAL-", "SHM-REGION-"))
                              for r in c.reqs), c.id
        role = c.id.split(".")[2]
        assert c.side == {"writer": "device", "reader": "driver", "sender": "device",
                          "receiver": "driver"}[role], c.id
    cited = {r for c in SHM for r in c.reqs}
    for rid in ("SHM-TABLE-003", "SHM-TABLE-004", "SHM-TABLE-006", "SHM-TABLE-007",
                "SHM-TABLE-008", "SHM-TABLE-009", "SHM-TABLE-011", "SHM-SIGNAL-002",
                "SHM-SIGNAL-003", "SHM-SIGNAL-004", "SHM-SIGNAL-006", "SHM-SIGNAL-010",
                "SHM-SIGNAL-011", "SHM-REGION-007", "SHM-REGION-008"):
        assert rid in cited, rid


def test_the_cases_of_the_abi_pass_on_c_and_skip_elsewhere() -> None:
    assert len(NATIVE) == 5  # the signalled reader, the caller errors of the four roles
    for case_id in NATIVE:
        case = cases.discover()[case_id]
        assert runner.run_case(case, targets.make("c")).outcome is Outcome.PASS
        assert runner.run_case(case, targets.make("reference")).outcome is Outcome.SKIP


@pytest.mark.parametrize("case", SHM, ids=IDS)
def test_reference_conforms(case: cases.Case) -> None:
    honest(case.id, runner.run_case(case, targets.make("reference")))


def test_stepped_c_conforms() -> None:
    for case_id, res in outcomes(SteppedShmTarget()).items():
        honest(case_id, res)


def test_c_conforms_through_the_abi() -> None:
    for case_id, res in outcomes(targets.make("c")).items():
        if case_id in STEPPED_ONLY:
            assert res.outcome is Outcome.SKIP, explain(res)
            assert "whole operations only" in res.detail or "signalled reader" in res.detail
        else:
            honest(case_id, res)


@pytest.fixture(scope="module")
def libshm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``make libshm`` builds: shm.c and shm_abi.c as a shared library."""
    if CC is None:
        pytest.skip("no C compiler")
    return build_lib(tmp_path_factory.mktemp("lib") / "libvirtiospec_shm.so")


def test_lib_target_matches_c(libshm: Path, tmp_path: Path) -> None:
    """``make libshm``'s library through ``--target shm-lib:``, from the command line: the
    same outcome for every case as ``--target c``."""
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "virtiospec", "conformance", "run",
                           "--target", f"shm-lib:{libshm}", "--only", "shm", "-q",
                           "--report", f"json:{report}"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    got = {c["id"]: c["outcome"] for c in json.loads(report.read_text())["cases"]}
    chosen = [c for c in cases.discover().values() if c.layer == "shm" and not is_stress(c.id)]
    want = {case_id: res.outcome.value
            for case_id, res in outcomes(targets.make("c"), chosen).items()}
    assert got == want and all(got[c] == "PASS" for c in NATIVE)
    assert "0 fail" in done.stdout and "0 wedged" in done.stdout, done.stdout


def test_lib_exports_only_the_abi(libshm: Path) -> None:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("no nm")
    out = subprocess.run([nm, "-D", "--defined-only", str(libshm)], capture_output=True,
                         text=True, check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if " T " in line}
    declared = set(re.findall(r"\b(virtiospec_shm_\w+)\(", ABI_HEADER.read_text()))
    assert names == declared and len(names) == 19


def test_make_libshm_builds_the_example() -> None:
    makefile = (REFERENCE.parent / "Makefile").read_text()
    assert re.search(r"^libshm: setup\n\t.*shm\.c\.build lib build/libvirtiospec_shm\.so$",
                     makefile, re.M)


# -- the ABI ----------------------------------------------------------------------------------

def test_abi_error_codes_name_the_reference_requirements() -> None:
    """Each code of virtiospec_shm.h is the code of shm.h with the same requirement (the C
    adapter static_asserts the numbers; here the requirement column)."""
    rows = re.findall(r"VIRTIOSPEC_SHM_E_(\w+) = (\d+),?\s*/\* (SHM-[A-Z]+-\d{3}|-)",
                      ABI_HEADER.read_text())
    assert len(rows) == 7
    for name, code, req in rows:
        assert (ERRORS[int(code)][1] or "-") == req, name


@needs_cc
@pytest.mark.parametrize("variant", ["reference", "UNBOUNDED_READ", "NO_RECHECK_ENABLE"])
def test_abi_adapter_compiles_cleanly(tmp_path: Path, variant: str) -> None:
    """C11, -Wall -Wextra -Werror -pedantic: the adapter, and shm.c as the library builds it
    with a mutant switched on."""
    include = c_build.C_DIRS
    check_compiles_cleanly(tmp_path, c_build.src("shm_abi.c"), "reference", (), "",
                           include=include)
    check_compiles_cleanly(tmp_path, c_build.src("shm.c"), variant, (),
                           "VS_SHM_MUTANT=VS_SHM_M_{}", include=include)


def test_lib_target_parses_roles() -> None:
    assert parse("./x.so") == ("./x.so", tuple(ROLES))
    assert parse("./x.so:reader,receiver") == ("./x.so", ("reader", "receiver"))
    assert parse("/a:b/x.so") == ("/a:b/x.so", tuple(ROLES))
    with pytest.raises(ValueError, match="usage"):
        parse("")
    with pytest.raises(ValueError, match="no such library"):
        targets.make("shm-lib:/nonexistent/x.so")


class _OnlyVersion:
    """A library that exports nothing but the version."""

    @staticmethod
    def virtiospec_shm_abi_version() -> int:
        return 2


def test_roles_skip_when_restricted_or_missing() -> None:
    native = targets.make("c")
    restricted = ShmAbiSides(native.shm_abi, "lib:x", ("reader",))
    res = outcomes(restricted, [cases.discover()["shm.table.writer.layout"]])
    assert res["shm.table.writer.layout"].outcome is Outcome.SKIP
    assert "restricted to the reader" in res["shm.table.writer.layout"].detail
    bare = ShmAbiSides(ShmAbiLibrary(None, _OnlyVersion(), "bare"), "lib:bare")
    res = outcomes(bare, [cases.discover()["shm.signal.sender.coalesces"]])
    assert "does not export virtiospec_shm_sender_state_size" in \
        res["shm.signal.sender.coalesces"].detail
    with pytest.raises(RuntimeError, match="ABI version 1"):
        ShmAbiLibrary(None, type("V1", (), {"virtiospec_shm_abi_version": lambda: 1}), "v1")


def test_targets_without_shm_skip_its_cases() -> None:
    from virtiospec.conformance.ring import target_c

    for res in outcomes(target_c.make("")).values():  # the ring's ABI target alone
        assert res.outcome is Outcome.SKIP and "does not provide shm_" in res.detail
    for res in outcomes(ShmAbiSides(None, "c", unavailable="rebuild it")).values():
        assert res.outcome is Outcome.SKIP and "rebuild it" in res.detail, res.detail


def test_shm_lib_skips_the_other_layers(libshm: Path) -> None:
    lib = targets.make(f"shm-lib:{libshm}")
    # the hostile peers of the shm layer (hostile.device.shm.*) are shm cases too
    others = [c for c in cases.discover().values()
              if c.layer != "shm" and ".shm." not in c.id]
    for case_id, res in outcomes(lib, others).items():
        assert res.outcome is Outcome.SKIP, (case_id, explain(res))
