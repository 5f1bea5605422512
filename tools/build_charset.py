#!/usr/bin/env python3
"""Build the bundled char dict: the Song ci corpus's chars and every named char set.

Reads ``corpora/songci.txt`` (written by ``tools/build_corpus.py``), takes its distinct chars
(whitespace left out), adds the chars of the named sets (:data:`toolkit.charset.NAMED_SETS`:
GB 2312's hanzi, printable ASCII, full-width punctuation, CJK punctuation, common symbols; all of
them by default), and writes them sorted by code point to ``char_dict/chinese.txt``, one per line,
then the three JSON maps beside it (:func:`toolkit.charset.build_char_dict`). The space is the
charset's own class, after every listed char. Running it twice gives byte-identical files.

Usage, from the repository root::

    python tools/build_charset.py                     # Song ci chars + all sets
    python tools/build_charset.py --add-set gb2312 --add-set ascii
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toolkit.charset import (
    ALL_SETS,
    NAMED_SETS,
    atomic_write_text,
    build_char_dict,
    named_set,
    named_set_chars,
)
from toolkit.corpus import read_corpus

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO_ROOT / "corpora" / "songci.txt")
    parser.add_argument("--add-set", action="append", choices=[*NAMED_SETS, ALL_SETS],
                        help="named set to add (repeatable; default: all)")
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "char_dict")
    args = parser.parse_args(argv)

    sets = args.add_set or [ALL_SETS]
    corpus_chars = {c for line in read_corpus(args.corpus) for c in line if not c.isspace()}
    set_chars = set(named_set_chars(sets))
    chars = sorted(corpus_chars | set_chars)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out_dir / "chinese.txt", "".join(c + "\n" for c in chars))
    charset = build_char_dict(args.out_dir / "chinese.txt", args.out_dir)
    print(f"{args.corpus.name}: {len(corpus_chars)} chars")
    for name in NAMED_SETS if ALL_SETS in sets else sets:
        own = set(named_set(name))
        print(f"set {name}: {len(own)} chars, {len(own - corpus_chars)} not in the corpus")
    print(f"wrote {args.out_dir / 'chinese.txt'}: {len(chars)} chars "
          f"({len(chars) - len(corpus_chars)} from the sets); num_classes {charset.num_classes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
