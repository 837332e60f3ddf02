"""Linux's ring code (drivers/virtio/virtio_ring.c, drivers/vhost/vringh.c) stepped under
the memory models: the glue of conformance/ring/linux_vring/ compiled with the TSan flags into
our hooks, tools/virtio's asm/barrier.h replaced by ours (include/asm/barrier.h), and,
for a known-bad variant, one small patch applied to the extracted source.

The tree is never modified: an *overlay* directory mirrors it with symbolic links, except
for the files replaced (our barrier header, a patched virtio_ring.c or vringh.c), and the
build is pointed at the overlay (conformance/ring/linux_vring/build.py: ``compile_objects``).

The first four variants are the barrier bugs the issue names (three of them shipped in
Linux or its siblings and were fixed); the last three are their mirrors on the other
publication (a missing write barrier before an index, a missing read barrier after one).

Build keys: ``linux`` (Debian's linux-source-6.1), ``linux:VARIANT`` (one patch of
:data:`VARIANTS`), ``linux@SRC`` / ``linux@SRC:VARIANT`` (another tree or tarball, as
``--target linux-vring:SRC`` takes).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from virtiospec.conformance.ring.tsan_step import sides
from virtiospec.conformance.ring.tsan_step.build import HERE, TSAN_FLAGS, Recipe
from virtiospec.reference import c_build

BARRIER = HERE / "include" / "asm" / "barrier.h"
RING_C = "drivers/virtio/virtio_ring.c"
VRINGH_C = "drivers/vhost/vringh.c"


class PatchError(ValueError):
    """A variant's patch does not apply to the given Linux source (one line)."""


@dataclass(frozen=True)
class Variant:
    """A barrier bug that shipped in (or was fixed in) Linux, re-introduced by removing one
    line of the given file: ``context`` must occur exactly once, and ``line`` within it."""

    file: str
    context: str
    line: str
    side: str  # "driver" or "device"
    bug: str
    reqs: tuple[str, ...]

    def apply(self, text: str, where: str) -> str:
        if text.count(self.context) != 1:
            raise PatchError(f"{where}: the context of this variant occurs "
                             f"{text.count(self.context)} times, not once: {self.context!r}")
        if self.line not in self.context:
            raise PatchError(f"{where}: {self.line!r} is not in the context")
        return text.replace(self.context, self.context.replace(self.line, "", 1))


VARIANTS: dict[str, Variant] = {
    "NO_MB_KICK_PREPARE": Variant(
        RING_C, "\t * event. */\n\tvirtio_mb(vq->weak_barriers);\n",
        "\tvirtio_mb(vq->weak_barriers);\n", "driver",
        "virtqueue_kick_prepare_split without the full barrier between publishing avail.idx "
        "and reading the device's suppression (used.flags / avail_event)",
        ("RING-SPLIT-070", "RING-SPLIT-110")),
    "NO_MB_NOTIFY_ENABLE": Variant(
        VRINGH_C,
        "\t * sure it's written, then check again. */\n\tvirtio_mb(vrh->weak_barriers);\n",
        "\tvirtio_mb(vrh->weak_barriers);\n", "device",
        "vringh's __vringh_notify_enable without the full barrier between re-enabling "
        "notifications and re-reading avail.idx",
        ("RING-SPLIT-072", "RING-SPLIT-110")),
    "NO_MB_NEED_NOTIFY": Variant(
        VRINGH_C, "\t * interrupts. */\n\tvirtio_mb(vrh->weak_barriers);\n",
        "\tvirtio_mb(vrh->weak_barriers);\n", "device",
        "vringh's __vringh_need_notify without the full barrier between publishing used.idx "
        "and reading the driver's suppression (avail.flags / used_event)",
        ("RING-SPLIT-071", "RING-SPLIT-111")),
    "NO_RMB_GET_BUF": Variant(
        RING_C, "get used array entries after they have been exposed by host. */\n"
        "\tvirtio_rmb(vq->weak_barriers);\n",
        "\tvirtio_rmb(vq->weak_barriers);\n", "driver",
        "virtqueue_get_buf_ctx_split without the read barrier between reading used.idx and "
        "reading the used element it covers",
        ("RING-SPLIT-076", "RING-SPLIT-092")),
    "NO_WMB_ADD": Variant(
        RING_C, "\t * new available array entries. */\n\tvirtio_wmb(vq->weak_barriers);\n",
        "\tvirtio_wmb(vq->weak_barriers);\n", "driver",
        "virtqueue_add_split without the write barrier between writing the descriptors and "
        "the available entry and publishing avail.idx",
        ("RING-SPLIT-032", "RING-SPLIT-092")),
    "NO_RMB_GET_HEAD": Variant(
        VRINGH_C, "exposed by guest. */\n\tvirtio_rmb(vrh->weak_barriers);\n",
        "\tvirtio_rmb(vrh->weak_barriers);\n", "device",
        "vringh's __vringh_get_head without the read barrier between reading avail.idx and "
        "reading the available entry it covers",
        ("RING-SPLIT-075", "RING-SPLIT-092")),
    "NO_WMB_COMPLETE": Variant(
        VRINGH_C, "written before we update index. */\n\tvirtio_wmb(vrh->weak_barriers);\n",
        "\tvirtio_wmb(vrh->weak_barriers);\n", "device",
        "vringh's __vringh_complete without the write barrier between writing the used "
        "elements and publishing used.idx",
        ("RING-SPLIT-043", "RING-SPLIT-092")),
    "NO_MB_KICK_PREPARE_PACKED": Variant(
        RING_C, "\t * suppressions.\n\t */\n\tvirtio_mb(vq->weak_barriers);\n",
        "\tvirtio_mb(vq->weak_barriers);\n", "packed-driver",
        "virtqueue_kick_prepare_packed without the full barrier between publishing the "
        "descriptor flags and reading the device's event suppression",
        ("RING-PACKED-051", "RING-PACKED-110")),
}


def _mirror(src: Path, dst: Path, replaced: dict[str, bytes], prefix: str = "") -> None:
    """dst mirrors src by symbolic links, descending only where a file is replaced."""
    dst.mkdir(parents=True, exist_ok=True)
    below = {r.split("/", 1)[0] for r in replaced if "/" in r}
    for entry in src.iterdir():
        rel = f"{prefix}{entry.name}"
        if rel in replaced:
            (dst / entry.name).write_bytes(replaced[rel])
        elif entry.name in below and entry.is_dir():
            _mirror(entry, dst / entry.name,
                    {r.split("/", 1)[1]: b for r, b in replaced.items()
                     if r.startswith(entry.name + "/")})
        else:
            (dst / entry.name).symlink_to(entry)


def overlay(tree: Path, variant: str | None) -> Path:
    """The tree with our barrier header, and the variant's patch applied (cached)."""
    replaced = {"tools/virtio/asm/barrier.h": BARRIER.read_bytes()}
    if variant is not None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown Linux variant {variant!r}; known: {', '.join(VARIANTS)}")
        v = VARIANTS[variant]
        text = (tree / v.file).read_text(encoding="utf-8")
        replaced[v.file] = v.apply(text, f"{tree}/{v.file}").encode()
    h = hashlib.sha256(str(tree).encode())
    for rel in sorted(replaced):
        h.update(rel.encode())
        h.update(replaced[rel])
    final = c_build.cache_dir("tsan-step") / f"linux-overlay-{h.hexdigest()[:12]}"
    if final.is_dir():
        return final
    work = Path(tempfile.mkdtemp(prefix="overlay-", dir=final.parent))
    try:
        _mirror(tree, work / "t", replaced)
        os.replace(work / "t", final)
    except OSError:
        if not final.is_dir():
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def linux_recipe(src: str | None, variant: str | None) -> Recipe:
    from virtiospec.conformance.ring.linux_vring import build as linux_build

    tree = overlay(linux_build.linux_tree(src), variant)

    def objects(work: Path) -> list[Path]:
        return linux_build.compile_objects(tree, work, [*TSAN_FLAGS, "-Wno-error=tsan"])

    glue = linux_build.HERE
    hashed = (*(glue / f for f in linux_build.OURS), tree / RING_C, tree / VRINGH_C, BARRIER)
    return Recipe(f"linux_{(variant or 'reference').lower()}", (), (), (), hashed,
                  objects=objects, packed=True)


def linux_key(src: str | None = None, variant: str | None = None) -> str:
    """The build key of Linux's ring code (one variant patched in), registered on first use."""
    key = "linux" + (f"@{src}" if src else "") + (f":{variant}" if variant else "")
    if key not in sides.RECIPES:
        if variant is not None and variant not in VARIANTS:
            raise ValueError(f"unknown Linux variant {variant!r}; known: {', '.join(VARIANTS)}")
        sides.register(key, lambda: linux_recipe(src, variant))
    return key
