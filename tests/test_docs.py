"""The README and the docs/ pages: every relative link points to a file that exists (and to a
heading of it, for a ``#anchor``), and the README stays short enough to read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 260

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
"""A Markdown inline link ``[text](target)``; the target is group 1."""
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of ``markdown``: lower case, characters other than
    letters, digits, ``_``, ``-`` and spaces dropped, spaces turned into ``-``; a repeated anchor
    gets ``-1``, ``-2``, ... (GitHub's heading ids)."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", markdown).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def relative_links(page: Path) -> list[tuple[int, str]]:
    """``(line number, target)`` of every link of ``page`` outside code blocks that is not a URL."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), page.read_text(encoding="utf-8"))
    links = []
    for number, line in enumerate(text.splitlines(), 1):
        for target in LINK.findall(line):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):   # http:, https:, mailto:
                links.append((number, target))
    return links


def test_anchors_follow_github():
    text = "# A `--model-dir` run\n## How num_classes is derived\n## Export: TFLite (fp16)\n## Export: TFLite (fp16)\n"
    assert anchors(text) == {"a---model-dir-run", "how-num_classes-is-derived",
                             "export-tflite-fp16", "export-tflite-fp16-1"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_exist(page):
    bad = []
    for number, target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{page.name}:{number}: {target}: no file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text(encoding="utf-8")):
            bad.append(f"{page.name}:{number}: {target}: no heading #{anchor} in {dest.name}")
    assert not bad, "\n".join(bad)


def test_readme_is_short_and_links_the_docs():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"
    linked = {target.partition("#")[0] for _, target in relative_links(README)}
    missing = [p.relative_to(ROOT).as_posix() for p in PAGES[1:]
               if p.relative_to(ROOT).as_posix() not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"
