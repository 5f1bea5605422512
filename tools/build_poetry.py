#!/usr/bin/env python3
"""Build ``corpora/poetry.txt``: classical Chinese from the other collections of ``chinese-poetry``.

Source: the npm package ``chinese-poetry`` 2.0.1 (MIT licence, as for ``corpora/songci.txt``; the
tarball is fetched as ``tools/build_corpus.py`` fetches it, or given with ``--package-tgz``). The
collections read are those of :data:`COLLECTIONS`: Tang shi and Song shi (``quantangshi``, a
seeded selection of their lines, see ``--tang-lines`` / ``--song-lines``), Shijing, Chuci, Lunyu,
the Daxue / Zhongyong / Mengzi of ``sishuwujing``, the primers of ``mengxue`` (Sanzijing,
Qianziwen, Baijiaxing, Qianjiashi, Tangshi sanbaishou, Guwen guanzhi, ...), the Huajian ji and
the Nantang erzhu ci of ``wudaishici``, Nalan Xingde, Cao Cao, ``shuimotangshi`` and Youmeng
ying. Not read: ``yuanqu`` (元曲: the text of the held-out evaluation set, which must never enter
training), ``songci`` (already ``corpora/songci.txt``), ``mengxue/wenzimengqiu.json`` (a treatise
on glyph shapes rather than running text), the Huajian ji preface (footnote marks), and the
metadata folders (``rank``, ``strains``, ``yudingquantangshi``: a second edition of the Tang shi).

Text: from each JSON file the strings under the keys ``paragraphs``, ``content`` and ``para`` (at
any depth; titles, authors, abstracts, comments and prologues are not read). Collections written
in traditional characters are converted with OpenCC's ``t2s`` configuration (PyPI ``opencc``,
Apache-2.0; the converted text is the package's text, not OpenCC's data). A paragraph is stripped
and cut into lines of at most ``MAX_LINE`` chars, at sentence ends (``。！？；``, kept with the text
before them) and then, where a piece is still longer, at ``，、：``.

A line is dropped, the first matching rule counting it, if it

1. ``ascii_alnum``: holds an ASCII letter or digit (footnote marks, editors' notes);
2. ``placeholder``: holds a mark for a lost char (``□■○●〓*?`` or U+FFFD);
3. ``note``: holds an editor's note in brackets: ``（一作…）``, ``（缺）``, ``[…]`` and the like
   (any of ``（）()[]〔〕【】`` in the Tang and Song shi, where they only enclose notes, and a
   bracketed ``缺`` / ``一作`` anywhere);
4. ``not_in_charset``: holds a char outside the bundled charset (``char_dict/``; rare ideographs,
   mojibake);
5. ``yuanqu``: shares a clause of at least 4 chars (cut at punctuation), or any run of 8 chars
   with the punctuation removed, with the Yuan qu text (a quotation there would put held-out
   text into training);
6. ``short``: has fewer than 2 chars besides punctuation;
7. ``duplicate``: repeats a line kept earlier or a line of ``corpora/songci.txt``.

The Tang and Song shi lines are selected after the filter: the ``--tang-lines`` / ``--song-lines``
whose ``sha1(line)`` is smallest (a fixed pseudo-random sample, independent of file order).
Output: the lines, collection by collection in :data:`COLLECTIONS` order, UTF-8, LF, no BOM.
Running the script twice gives byte-identical files.

Usage, from the repository root (``pip install opencc==1.4.2``)::

    python tools/build_poetry.py [--package-tgz chinese-poetry-2.0.1.tgz]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import re
import sys
import tarfile
import tempfile
from pathlib import Path

from build_corpus import PACKAGE, VERSION, fetch_package

from toolkit.charset import Charset

REPO_ROOT = Path(__file__).resolve().parent.parent
OPENCC_VERSION = "1.4.2"
MAX_LINE = 30

# (name, member pattern under package/dist/, traditional characters?, sampled line count option)
COLLECTIONS = (
    ("tangshi", r"quantangshi/poet\.tang\.\d+\.json", True, "tang_lines"),
    ("songshi", r"quantangshi/poet\.song\.\d+\.json", True, "song_lines"),
    ("shijing", r"shijing/shijing\.json", False, None),
    ("chuci", r"chuci/chuci\.json", False, None),
    ("lunyu", r"lunyu/lunyu\.json", False, None),
    ("sishu", r"sishuwujing/(daxue|zhongyong|mengzi)\.json", True, None),
    ("mengxue", r"mengxue/(?!wenzimengqiu)[a-z-]+\.json", True, None),
    ("wudaishici", r"wudaishici/(huajianji/huajianji-(?!0-)[0-9x]+-juan|nantang/poetrys)\.json", True, None),
    ("nalanxingde", r"nalanxingde/[^/]+\.json", False, None),
    ("caocao", r"caocaoshiji/caocao\.json", False, None),
    ("shuimotangshi", r"shuimotangshi/shuimotangshi\.json", False, None),
    ("youmengying", r"youmengying/youmengying\.json", False, None),
)
YUANQU_MEMBER = "package/dist/yuanqu/yuanqu.json"
TEXT_KEYS = frozenset({"paragraphs", "content", "para"})

PUNCTUATION = frozenset("，。、；：？！「」『』《》〈〉（）〔〕【】〖〗“”‘’…—–·・～ ")
PLACEHOLDERS = frozenset("\ufffd□■○●〓*?")
ASCII_ALNUM = re.compile(r"[0-9A-Za-z]")
NOTE = re.compile(r"[（(\[〔【][^）)\]〕】]*(缺|一作|原注|注)[^）)\]〕】]*[）)\]〕】]")
BRACKETS = frozenset("（）()[]〔〕【】")
SENTENCE_END = re.compile(r"(?<=[。！？；])")
CLAUSE_END = re.compile(r"(?<=[，、：])")
CLAUSE_SPLIT = re.compile(r"[，。、；：？！「」『』《》〈〉（）〔〕【】〖〗“”‘’…—–·・～ ]+")
REASONS = ("ascii_alnum", "placeholder", "note", "not_in_charset", "yuanqu", "short", "duplicate")


def texts(obj, under_text_key: bool = False):
    """Yield the strings of a parsed JSON document that lie under a ``TEXT_KEYS`` key."""
    if isinstance(obj, str):
        if under_text_key:
            yield obj
    elif isinstance(obj, list):
        for item in obj:
            yield from texts(item, under_text_key)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from texts(value, key in TEXT_KEYS)


def cut(paragraph: str) -> list[str]:
    """Cut a paragraph into lines of at most ``MAX_LINE`` chars (see the module docstring)."""
    out: list[str] = []
    for sentence in filter(None, SENTENCE_END.split(paragraph.strip())):
        if len(sentence) <= MAX_LINE:
            out.append(sentence)
            continue
        piece = ""
        for clause in filter(None, CLAUSE_END.split(sentence)):
            if piece and len(piece) + len(clause) > MAX_LINE:
                out.append(piece)
                piece = ""
            piece += clause
        out.extend(piece[i:i + MAX_LINE] for i in range(0, len(piece), MAX_LINE))
    return [line.strip() for line in out if line.strip()]


def core(text: str) -> str:
    """The text without punctuation."""
    return "".join(c for c in text if c not in PUNCTUATION)


class YuanquFilter:
    """The Yuan qu text's clauses (>= 4 chars) and 8-char runs, to find lines that share them."""

    RUN = 8

    def __init__(self, paragraphs: list[str]) -> None:
        self.clauses = {c for p in paragraphs for c in CLAUSE_SPLIT.split(p) if len(c) >= 4}
        self.runs: set[str] = set()
        for p in paragraphs:
            text = core(p)
            self.runs.update(text[i:i + self.RUN] for i in range(len(text) - self.RUN + 1))

    def shares(self, line: str) -> bool:
        if any(c in self.clauses for c in CLAUSE_SPLIT.split(line) if len(c) >= 4):
            return True
        text = core(line)
        return any(text[i:i + self.RUN] in self.runs for i in range(len(text) - self.RUN + 1))


def drop_reason(line: str, name: str, charset: Charset, yuanqu: YuanquFilter) -> str | None:
    if ASCII_ALNUM.search(line):
        return "ascii_alnum"
    if any(c in PLACEHOLDERS for c in line):
        return "placeholder"
    if NOTE.search(line) or name in ("tangshi", "songshi") and any(c in BRACKETS for c in line):
        return "note"
    if charset.missing(line):
        return "not_in_charset"
    if yuanqu.shares(line):
        return "yuanqu"
    if len(core(line)) < 2:
        return "short"
    return None


def read_members(tgz: Path) -> dict[str, bytes]:
    """Every JSON member of the collections and the Yuan qu, by name under ``package/dist/``."""
    wanted = re.compile("|".join(f"(?:{pattern})" for _, pattern, _, _ in COLLECTIONS))
    members: dict[str, bytes] = {}
    with tarfile.open(tgz, mode="r:gz") as tar:
        for member in tar:
            name = member.name.removeprefix("package/dist/")
            if member.isfile() and (wanted.fullmatch(name) or member.name == YUANQU_MEMBER):
                members[name] = tar.extractfile(member).read()
    return members


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build corpora/poetry.txt from chinese-poetry.")
    parser.add_argument("--package-tgz", type=Path,
                        help=f"an already downloaded '{PACKAGE}-{VERSION}.tgz'")
    parser.add_argument("--tang-lines", type=int, default=45000)
    parser.add_argument("--song-lines", type=int, default=45000)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "corpora" / "poetry.txt")
    args = parser.parse_args(argv)

    import opencc  # a build-time dependency only

    t2s = opencc.OpenCC("t2s.json")
    charset = Charset.load(REPO_ROOT / "char_dict")
    songci = set((REPO_ROOT / "corpora" / "songci.txt").read_text(encoding="utf-8").splitlines())
    with tempfile.TemporaryDirectory(prefix="build_poetry.") as tmp:
        tgz = args.package_tgz or fetch_package(Path(tmp))
        print(f"package: {tgz.name} sha256={hashlib.sha256(tgz.read_bytes()).hexdigest()}")
        members = read_members(tgz)
    yuanqu = YuanquFilter(list(texts(json.loads(members.pop("yuanqu/yuanqu.json")))))
    print(f"yuanqu filter: {len(yuanqu.clauses)} clauses, {len(yuanqu.runs)} runs of {yuanqu.RUN}")

    seen = set(songci)
    output: list[str] = []
    for name, pattern, traditional, sample in COLLECTIONS:
        files = sorted(n for n in members if re.fullmatch(pattern, n))
        drops: collections.Counter = collections.Counter()
        missing: collections.Counter = collections.Counter()
        kept: list[str] = []
        read = 0
        for file in files:
            for paragraph in texts(json.loads(members[file])):
                if traditional:
                    paragraph = t2s.convert(paragraph)
                for line in cut(paragraph):
                    read += 1
                    reason = drop_reason(line, name, charset, yuanqu)
                    if reason is None and line in seen:
                        reason = "duplicate"
                    if reason is not None:
                        drops[reason] += 1
                        if reason == "not_in_charset":
                            missing.update(charset.missing(line))
                        continue
                    seen.add(line)
                    kept.append(line)
        if sample is not None:
            limit = getattr(args, sample)
            chosen = set(sorted(kept, key=lambda s: hashlib.sha1(s.encode("utf-8")).digest())[:limit])
            kept = [line for line in kept if line in chosen]
        output.extend(kept)
        print(f"{name}: {len(files)} files, {read} lines cut, kept {len(kept)}"
              f"{f' (sampled of {read - sum(drops.values())})' if sample else ''}, chars "
              f"{sum(map(len, kept))}; dropped " + ", ".join(f"{r} {drops[r]}" for r in REASONS)
              + (f"; not in charset, most frequent: {''.join(c for c, _ in missing.most_common(12))}"
                 if missing else ""))
    text = "".join(line + "\n" for line in output)
    args.out.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {args.out}: {len(output)} lines, {sum(map(len, output))} chars, "
          f"{len(set(text) - {chr(10)})} distinct chars, {len(text.encode('utf-8'))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
