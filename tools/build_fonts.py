#!/usr/bin/env python3
"""Subset the Simplified Chinese faces of Noto Sans/Serif CJK into the bundled ``fonts/*.otf``.

Needs the Debian package ``fonts-noto-cjk`` (``apt-get install -y fonts-noto-cjk``), which puts the
OpenType collections in ``/usr/share/fonts/opentype/noto/``, and fontTools. This script installs
nothing itself.

From each of ``NotoSansCJK-Regular.ttc``, ``NotoSansCJK-Bold.ttc``, ``NotoSerifCJK-Regular.ttc`` and
``NotoSerifCJK-Bold.ttc`` it takes face 2 (the Simplified Chinese one, "Noto Sans CJK SC" /
"Noto Serif CJK SC"; the script checks the family name ends in " SC") and subsets it with
``fontTools.subset`` to:

- every char of ``char_dict/chinese.txt`` (written by ``tools/build_corpus.py``),
- printable ASCII U+0020-U+007E,
- CJK Symbols and Punctuation U+3000-U+303F,
- full-width forms U+FF01-U+FF5E,
- the punctuation in ``EXTRA_PUNCTUATION`` (curly quotes, ellipsis, dashes, middle dots).

Subset settings: CFF outlines are kept (subroutinized). Hinting is dropped: the files are about
15% smaller, and FreeType renders stems slightly differently from the installed faces (use
``--keep-hinting`` for pixel-identical rendering). The name table keeps its English records, so
the family name stays readable. The OpenType layout keeps only the features in
``LAYOUT_FEATURES`` (basic horizontal and vertical CJK text) and only the default and Simplified
Chinese (``ZHS``) language systems: the Japanese, Korean and Traditional Chinese ones only add
``locl`` substitutions to those regions' glyph variants, which would nearly double the glyph
count. The ``head`` timestamps of the source face are kept, so the output is byte-identical from
run to run (for a given fontTools version and source package).

It also writes ``fonts/OFL.txt``: the copyright notices of the source faces followed by the SIL
Open Font License 1.1 text from the Debian package's ``copyright`` file.

Usage (from the repository root, after ``tools/build_corpus.py``)::

    python tools/build_fonts.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SRC_DIR = Path("/usr/share/fonts/opentype/noto")
DEFAULT_COPYRIGHT = Path("/usr/share/doc/fonts-noto-cjk/copyright")
# Face 2 of each Noto CJK collection is the Simplified Chinese one.
DEFAULT_FACE_INDEX = 2

# (source collection, output file)
FONTS = (
    ("NotoSansCJK-Regular.ttc", "NotoSansSC-Regular.otf"),
    ("NotoSansCJK-Bold.ttc", "NotoSansSC-Bold.otf"),
    ("NotoSerifCJK-Regular.ttc", "NotoSerifSC-Regular.otf"),
    ("NotoSerifCJK-Bold.ttc", "NotoSerifSC-Bold.otf"),
)

RANGES = (
    (0x0020, 0x007E),  # printable ASCII
    (0x3000, 0x303F),  # CJK Symbols and Punctuation
    (0xFF01, 0xFF5E),  # full-width forms
)
EXTRA_PUNCTUATION = "“”‘’…—–·・"

# Features for basic horizontal text (ccmp, liga, calt, kern, mark, and the CJK spacing
# features palt/halt) and for vertical text (vert, vrt2, vkrn, vpal, vhal).
LAYOUT_FEATURES = ("ccmp", "locl", "liga", "calt", "kern", "mark", "palt", "halt",
                   "vert", "vrt2", "vkrn", "vpal", "vhal")
# Language systems kept besides each script's default one.
KEEP_LANGSYS = ("ZHS",)


def read_charset(path: Path) -> list[str]:
    chars = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    for i, c in enumerate(chars):
        if len(c) != 1:
            raise SystemExit(f"{path}: line {i + 1} is {c!r}, not one char")
    return chars


def wanted_codepoints(charset: list[str]) -> list[int]:
    cps = {ord(c) for c in charset}
    for lo, hi in RANGES:
        cps.update(range(lo, hi + 1))
    cps.update(ord(c) for c in EXTRA_PUNCTUATION)
    return sorted(cps)


def subset_options(keep_hinting: bool = False):
    from fontTools import subset

    options = subset.Options()
    options.layout_features = list(LAYOUT_FEATURES)
    options.hinting = keep_hinting
    options.desubroutinize = False
    options.notdef_outline = True  # keep the .notdef box so missing chars show as tofu
    options.name_IDs = ["*"]
    options.name_languages = [0x0409]  # English (US) Windows records
    options.name_legacy = False
    options.recalc_timestamp = False
    return options


def keep_sc_language_systems(font) -> None:
    """Drop the GSUB/GPOS language systems other than the defaults and ``KEEP_LANGSYS``.

    Done before subsetting, so the subsetter's glyph closure does not pull in the glyphs that only
    the dropped language systems (JAN, KOR, ZHT, ZHH) reach through ``locl``.
    """
    for tag in ("GSUB", "GPOS"):
        if tag not in font:
            continue
        script_list = font[tag].table.ScriptList
        for record in script_list.ScriptRecord if script_list else ():
            script = record.Script
            script.LangSysRecord = [r for r in script.LangSysRecord
                                    if r.LangSysTag.strip() in KEEP_LANGSYS]
            script.LangSysCount = len(script.LangSysRecord)


def build_one(src: Path, face_index: int, out: Path, codepoints: list[int],
              charset: list[str], keep_hinting: bool = False) -> tuple[str, str]:
    """Subset one face to ``out``; return its full name and copyright notice."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(src, fontNumber=face_index)
    family = font["name"].getDebugName(1) or ""
    if not family.endswith(" SC"):
        raise SystemExit(f"{src} face {face_index} is {family!r}, not a Simplified Chinese (SC) "
                         f"face; pass the right --face-index")
    notice = font["name"].getDebugName(0) or ""
    src_cmap = font.getBestCmap()
    missing = [c for c in charset if ord(c) not in src_cmap]
    if missing:
        raise SystemExit(f"{src} face {face_index} lacks {len(missing)} chars of the charset: "
                         f"{''.join(missing[:50])}")

    keep_sc_language_systems(font)
    subsetter = subset.Subsetter(subset_options(keep_hinting))
    subsetter.populate(unicodes=codepoints)
    subsetter.subset(font)
    if "CFF " not in font:
        raise SystemExit(f"{out}: expected CFF outlines")
    font.recalcTimestamp = False
    out.parent.mkdir(parents=True, exist_ok=True)
    font.save(out)
    full = font["name"].getDebugName(4) or "?"
    unmapped = [cp for cp in codepoints if cp not in src_cmap]
    print(f"{out}: {out.stat().st_size} bytes, {len(font.getGlyphOrder())} glyphs, "
          f"{len(font.getBestCmap())} code points mapped ({full!r} from {src.name} face "
          f"{face_index}; requested code points not in the source: "
          f"{' '.join(f'U+{cp:04X}' for cp in unmapped) or 'none'})")
    font.close()
    return full, notice


def write_ofl(copyright_file: Path, notices: list[tuple[str, str]], out: Path) -> None:
    """Write the copyright notices and the OFL text taken from Debian's DEP-5 ``copyright`` file."""
    lines = copyright_file.read_text(encoding="utf-8").split("\n")
    # The stand-alone licence paragraph: a "License: SIL-1.1" line followed by the indented text
    # (the same field line also appears, without text, in the "Files: *" paragraph).
    starts = [i for i, line in enumerate(lines[:-1])
              if line == "License: SIL-1.1" and lines[i + 1].startswith(" ")]
    if not starts:
        raise SystemExit(f"{copyright_file}: no 'License: SIL-1.1' paragraph with text")
    start = starts[0]
    body: list[str] = []
    for line in lines[start + 1:]:
        if not line.startswith(" "):
            break  # end of the indented licence paragraph
        text = line[1:]
        body.append("" if text == "." else text)
    while body and not body[-1]:
        body.pop()
    if not body or "SIL OPEN FONT LICENSE Version 1.1" not in "\n".join(body):
        raise SystemExit(f"{copyright_file}: the SIL-1.1 paragraph does not hold the OFL 1.1 text")

    head = ["The fonts in this directory are subsets of the Simplified Chinese faces of Noto Sans",
            "CJK and Noto Serif CJK (Debian package fonts-noto-cjk). Copyright notices of the",
            "source faces (name table, name ID 0):", ""]
    seen: set[str] = set()
    for _full, notice in notices:
        if notice not in seen:
            seen.add(notice)
            head.append(f"  {notice}")
    head += ["", "Noto is a trademark of Google Inc.", "",
             "Upstream (the noto-cjk project, derived from Adobe's Source Han fonts) states the",
             "notice as \"Copyright 2014-2021 Adobe (http://www.adobe.com/), with Reserved Font",
             "Name 'Source'.\" These subsets keep the Noto names and do not use the name 'Source'.",
             "",
             "This Font Software is licensed under the SIL Open Font License, Version 1.1, reproduced below",
             f"as shipped in {copyright_file}.", ""]
    out.write_text("\n".join(head + body) + "\n", encoding="utf-8", newline="\n")
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Subset the SC faces of the Noto CJK collections to the bundled charset.")
    parser.add_argument("--src-dir", type=Path, default=DEFAULT_SRC_DIR,
                        help="where fonts-noto-cjk puts its .ttc files (default: %(default)s)")
    parser.add_argument("--face-index", type=int, default=DEFAULT_FACE_INDEX,
                        help="index of the Simplified Chinese face in each .ttc "
                             "(default: %(default)s)")
    parser.add_argument("--charset", type=Path, default=REPO_ROOT / "char_dict" / "chinese.txt")
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "fonts")
    parser.add_argument("--keep-hinting", action="store_true",
                        help="keep the CFF hints (about 17%% bigger files; the subsets then render "
                             "pixel-identical to the installed faces under FreeType)")
    parser.add_argument("--copyright-file", type=Path, default=DEFAULT_COPYRIGHT,
                        help="Debian copyright file holding the OFL text (default: %(default)s)")
    args = parser.parse_args(argv)

    import fontTools

    for src_name, _ in FONTS:
        if not (args.src_dir / src_name).is_file():
            raise SystemExit(f"{args.src_dir / src_name} not found: "
                             f"apt-get install -y fonts-noto-cjk")
    charset = read_charset(args.charset)
    codepoints = wanted_codepoints(charset)
    print(f"fontTools {fontTools.version}; charset {args.charset}: {len(charset)} chars; "
          f"{len(codepoints)} code points requested")

    notices = [build_one(args.src_dir / src_name, args.face_index, args.out_dir / out_name,
                         codepoints, charset, args.keep_hinting)
               for src_name, out_name in FONTS]
    write_ofl(args.copyright_file, notices, args.out_dir / "OFL.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
