"""--target linux-vring: Linux's virtio_ring.c and vringh.c behind virtiospec_ring.h.

Built once from Debian's linux-source-6.1 (CI installs it, .ci/system-deps); a few cases of
each side pass or are refused as they should, known deviations of Linux stay visible, and a
copy of the Linux tree whose vringh.c never moves avail_event and whose virtio_ring.c does not
re-check used.idx after enabling callbacks FAILs the cases of those requirements.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome, TargetError
from virtiospec.conformance.ring.linux_vring import build

pytestmark = pytest.mark.skipif(
    not build.DEFAULT_TARBALL.is_file(),
    reason=f"{build.DEFAULT_TARBALL} absent: Debian's linux-source-6.1 is not installed "
           "(CI installs it with .ci/system-deps)")


@pytest.fixture(autouse=True)
def _in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VIRTIOSPEC_ISOLATED_CHILD", "1")  # cases in this process: faster
    yield


def outcome(target: object, case_id: str) -> Outcome:
    return runner.run_case(cases.discover()[case_id], target).outcome


@pytest.fixture(scope="module")
def linux() -> object:
    return targets.make("linux-vring")


@pytest.mark.parametrize("case_id", [
    "ring.split.driver.add-writes-chain",      # guest offsets in the descriptors
    "ring.split.driver.indirect-table",        # the indirect table in the head's slot
    "ring.split.driver.used-in-order",
    "ring.split.driver.index-wrap",
    "ring.split.driver.enable-rechecks",
    "ring.split.device.pop-direct-chain",
    "ring.split.device.pop-indirect",
    "ring.split.device.push-in-used-order",
    "ring.split.device.index-wrap",
    "ring.split.device.enable-rechecks",
    "ring.packed.driver.add-writes-list",     # Linux's packed driver on the caller's ring
    "ring.packed.driver.indirect-table",
    "ring.packed.driver.wraps",
    # the race cases step the same source through the TSan hooks: no SKIP for lack of stepping
    "ring.split.stepped.driver.kick-race",
    "ring.split.stepped.device.interrupt-race",
])
def test_linux_passes(linux: object, case_id: str) -> None:
    assert outcome(linux, case_id) is Outcome.PASS


@pytest.mark.parametrize("case_id", [
    "ring.split.driver.rejects-unknown-id",  # BAD_RING: "id 7 is not a head"
    "ring.split.driver.rejects-id-beyond-q",  # BAD_RING: "id 4096 out of range"
    "ring.split.device.rejects-head-out-of-range",  # vringh: "Guest says index 8 > 8"
    "ring.packed.driver.rejects-id-twice",  # BAD_RING: "id 0 is not a head"
])
def test_linux_refuses(linux: object, case_id: str) -> None:
    assert outcome(linux, case_id) is Outcome.REJECT


@pytest.mark.parametrize("case_id", [
    "ring.split.driver.rejects-len-too-long",  # get_buf takes len as the device says
    "ring.split.device.rejects-avail-index-jump",  # vringh never compares avail.idx with Q
    "ring.split.device.rejects-indirect-without-feature",  # vringh ignores the feature bit
])
def test_linux_deviations_are_reported(linux: object, case_id: str) -> None:
    res = runner.run_case(cases.discover()[case_id], linux)
    assert res.outcome in (Outcome.FAIL, Outcome.EXTENSION), res
    assert "accepted" in (res.detail or "")


def _overlay(tree: Path, into: Path, patches: dict[str, tuple[str, str]]) -> Path:
    """A tree of symbolic links to ``tree`` with the patched files written out."""
    for rel in ("tools", "include", "drivers/virtio/virtio_ring.c", "drivers/vhost/vringh.c"):
        if rel not in patches:
            (into / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(tree / rel, into / rel)
    for rel, (old, new) in patches.items():
        text = (tree / rel).read_text()
        assert text.count(old) == 1, f"{rel}: the patched line is not there once"
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        (into / rel).write_text(text.replace(old, new))
    return into


def test_broken_copy_fails(linux: object, tmp_path: Path) -> None:
    tree = build.linux_tree()
    broken = _overlay(tree, tmp_path / "linux", {
        # vringh: avail_event never moves past the first entry (RING-SPLIT-061)
        "drivers/vhost/vringh.c": ("vrh->last_avail_idx) != 0) {", "0) != 0) {"),
        # virtio_ring: no re-check of used.idx after enabling callbacks (a lost interrupt)
        "drivers/virtio/virtio_ring.c": ("\treturn !virtqueue_poll(_vq, last_used_idx);\n",
                                         "\treturn (void)last_used_idx, true;\n"),
    })
    target = targets.make(f"linux-vring:{broken}")
    for case_id, req in (("ring.split.device.avail-event", "RING-SPLIT-061"),
                         ("ring.split.driver.enable-rechecks", "RING-SPLIT-073")):
        assert outcome(linux, case_id) is Outcome.PASS  # the unmodified code passes
        res = runner.run_case(cases.discover()[case_id], target)
        assert res.outcome is Outcome.FAIL, (case_id, res)
        assert req in (res.req or res.graded), res  # the requirement is named


def test_bad_source_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such Linux tree") as err:
        targets.make(f"linux-vring:{tmp_path / 'nowhere'}")
    assert "\n" not in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TargetError, match=r"no drivers/virtio/virtio_ring\.c"):
        targets.make(f"linux-vring:{tmp_path / 'empty'}")


def test_compile_error_is_one_line(tmp_path: Path) -> None:
    broken = _overlay(build.linux_tree(), tmp_path / "linux", {
        "drivers/vhost/vringh.c": ("int vringh_init_user(", "int vringh_init_user(((")})
    with pytest.raises(TargetError, match=r"compiling vringh\.c from .* failed: .*error"):
        targets.make(f"linux-vring:{broken}")


ASAN_RUN = """
import os, sys
from collections import Counter
from pathlib import Path
from cffi import FFI
from virtiospec.conformance import cases, runner
from virtiospec.conformance.ring import target_linux_vring as t
from virtiospec.conformance.ring.linux_vring.build import build_library
from virtiospec.conformance.ring.target_abi import AbiLibrary
from virtiospec.reference.ring.c.build import abi_cdef
lib_path = build_library(cflags=("-O1", "-g", "-fsanitize=address,undefined",
                                 "-fno-sanitize-recover=undefined"), out=Path(sys.argv[1]))
ffi = FFI(); ffi.cdef(abi_cdef() + t.packed_cdef())
target = t.LinuxVringTarget(AbiLibrary(ffi, ffi.dlopen(str(lib_path)), "asan"), "asan")
got = Counter(str(runner.run_case(c, target).outcome) for i, c in cases.discover().items()
              if i.startswith(("ring.split.", "ring.packed.driver.")))
print(dict(got))
"""


def _runtime(name: str) -> str | None:
    import subprocess

    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                          text=True).stdout.strip()
    return path if os.path.isabs(path) else None


@pytest.mark.skipif(not (_runtime("libasan.so") and _runtime("libubsan.so")),
                    reason="gcc's ASan/UBSan runtimes are not installed")
def test_glue_clean_under_asan_and_ubsan(tmp_path: Path) -> None:
    """Every split and packed-driver case through an ASan + UBSan build of the glue and of
    Linux's code: no report (an error aborts the child) and no case wedged."""
    import subprocess
    import sys

    env = {**os.environ, "VIRTIOSPEC_ISOLATED_CHILD": "1", "ASAN_OPTIONS": "detect_leaks=0",
           "LD_PRELOAD": f"{_runtime('libasan.so')}:{_runtime('libubsan.so')}"}
    done = subprocess.run([sys.executable, "-c", ASAN_RUN, str(tmp_path / "asan.so")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ERROR: AddressSanitizer" not in done.stderr
    assert "runtime error" not in done.stderr
    counts = ast.literal_eval(done.stdout.strip().splitlines()[-1])  # {'PASS': n, ...}
    assert counts.get("PASS", 0) >= 40 and counts.get("WEDGED", 0) == 0, counts
