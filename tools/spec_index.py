"""Write spec/virtio-1.4-index.json: the normative blocks of VIRTIO 1.4 cs01, as facts.

Run once against a clone of github.com/oasis-tcs/virtio-spec:

    python tools/spec_index.py /path/to/virtio-spec [--tag v1.4-cs01]

The script expands ``\\input`` from main.tex in document order, numbers the headings the
way LaTeX does (secnumdepth 5: chapter .. subparagraph; the introduction is chapter 1),
and for every heading of chapters 2 and 3, section 4.1 and section 5.1 records its number,
its title (macros stripped) and, for a normative block ("Driver Requirements: ..." or
"Device Requirements: ..."), how many times each RFC 2119 keyword occurs in its body, up
to the next heading. No sentence of the spec is stored: only numbers, titles and counts.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

LEVELS = ("chapter", "section", "subsection", "subsubsection", "paragraph", "subparagraph")
KEYWORDS = ("MUST NOT", "MUST", "SHOULD NOT", "SHOULD", "MAY")
# chapters 2 and 3, sections 4.1 and 5.1 are what the catalogue must account for; chapter 6
# (reserved feature bits) is indexed too because the catalogue cites it
COVERED = ("2", "3", "4.1", "5.1")
INDEXED = (*COVERED, "6")
SCOPE = tuple(re.compile(rf"^{re.escape(p)}(\.|$)") for p in INDEXED)
_HEAD = re.compile(
    r"\\(?:(?P<norm>driver|device)normative\{\\(?P<nlevel>\w+)\}\{(?P<ntitle>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\}"
    r"|(?P<level>chapter|section|subsection|subsubsection|paragraph|subparagraph)\*?"
    r"\{(?P<title>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\})"
)
_INPUT = re.compile(r"\\input\{([^}]+)\}")


def show(repo: Path, tag: str, name: str) -> str:
    if not name.endswith(".tex"):
        name += ".tex"
    out = subprocess.run(["git", "-C", str(repo), "show", f"{tag}:{name}"],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"error: cannot read {name} at {tag}: {out.stderr.strip()}")
    return out.stdout


def expand(repo: Path, tag: str, name: str, depth: int = 0) -> str:
    text = "\n".join(_strip_comment(line) for line in show(repo, tag, name).splitlines())
    if depth > 8:
        raise SystemExit(f"error: \\input nested too deep at {name}")
    return _INPUT.sub(lambda m: expand(repo, tag, m[1], depth + 1), text)


def _strip_comment(line: str) -> str:
    return re.sub(r"(?<!\\)%.*", "", line)


def clean_title(title: str) -> str:
    title = re.sub(r"\\(?:field|texttt|emph|textbf|textit)\{([^{}]*)\}", r"\1", title)
    title = title.replace("\\_", "_").replace("\\&", "&").replace("~", " ")
    title = re.sub(r"\\[a-zA-Z]+\s*", "", title).replace("{", "").replace("}", "")
    return " ".join(title.split())


def count_keywords(body: str) -> dict[str, int]:
    body = " ".join(body.split())
    counts: dict[str, int] = {}
    for kw in KEYWORDS:
        words = r"\s+".join(kw.split())
        pattern = re.compile(rf"\b{words}\b")
        counts[kw] = len(pattern.findall(body))
        body = pattern.sub(" ", body)  # MUST NOT is not also a MUST
    return {kw: counts[kw] for kw in ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")}


def index(repo: Path, tag: str) -> list[dict[str, object]]:
    text = expand(repo, tag, "main.tex")
    # the document body only: chapters begin after \begin{document}; appendices end scope
    body_start = text.index("\\begin{document}")
    appendix = text.find("\\appendix", body_start)
    text = text[body_start: appendix if appendix > 0 else None]
    counters = [0] * len(LEVELS)
    heads = list(_HEAD.finditer(text))
    out: list[dict[str, object]] = []
    for i, m in enumerate(heads):
        level = m["nlevel"] or m["level"]
        starred = text[m.start():m.end()].split("{")[0].endswith("*")
        if level not in LEVELS or (m["level"] and starred):
            continue
        depth = LEVELS.index(level)
        counters[depth] += 1
        for d in range(depth + 1, len(LEVELS)):
            counters[d] = 0
        number = ".".join(str(c) for c in counters[: depth + 1])
        if not any(p.match(number) for p in SCOPE):
            continue
        if m["norm"]:
            title = f"{m['norm'].capitalize()} Requirements: {clean_title(m['ntitle'])}"
        else:
            title = clean_title(m["title"])
        entry: dict[str, object] = {"section": number, "title": title}
        side = re.match(r"(Driver|Device) Requirements:", title)
        if side:
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            entry["side"] = side[1].lower()
            entry["counts"] = count_keywords(text[m.end(): end])
        out.append(entry)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo", type=Path, help="a git clone of oasis-tcs/virtio-spec")
    ap.add_argument("--tag", default="v1.4-cs01")
    default_out = Path(__file__).resolve().parent.parent / "spec" / "virtio-1.4-index.json"
    ap.add_argument("--out", type=Path, default=default_out)
    args = ap.parse_args()
    commit = subprocess.run(["git", "-C", str(args.repo), "rev-parse", f"{args.tag}^{{commit}}"],
                            capture_output=True, text=True, check=False).stdout.strip()
    if not commit:
        sys.exit(f"error: {args.repo} has no tag {args.tag}")
    sections = index(args.repo, args.tag)
    doc = {"source": "https://github.com/oasis-tcs/virtio-spec", "tag": args.tag,
           "commit": commit, "scope": list(COVERED), "indexed": list(INDEXED),
           "note": "numbers, titles and keyword counts of normative blocks; no spec text",
           "sections": sections}
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    total = 0
    for s in sections:
        counts = s.get("counts")
        if isinstance(counts, dict):
            total += sum(counts.values())
    print(f"{len(sections)} sections, {total} normative statements -> {args.out}")


if __name__ == "__main__":
    main()
