#!/usr/bin/env python3
"""Build ``corpora/modern.txt``: sentence-like lines of modern Chinese words from jieba's dictionary.

Source: ``jieba/dict.txt`` of the PyPI package ``jieba`` 0.42.1 (MIT licence,
``corpora/LICENSE-jieba``): 349,046 lines ``word frequency part-of-speech``. The script reads it
from the installed package (``pip install jieba==0.42.1``) or from ``--dict``.

The file holds words, not text. Lines are made of them with small clause patterns
(:data:`PATTERNS`, written for this script): each slot is a part-of-speech tag of the dictionary
(``n`` noun, ``v`` verb, ``a`` adjective, ``d`` adverb, ``r`` pronoun, ``t`` time word, ``ns``
place name, ``nr`` person name, ``m`` numeral, ``q`` classifier, ``i`` idiom, ``vn`` verbal
noun) filled with a word drawn with probability proportional to ``frequency ** 0.5`` among the
words of that tag, or a function word written out (``的 了 在 和 吗 吧 ...``). A line joins one
to three clauses with ``，`` (sometimes ``、；：``) and ends with ``。``, ``！`` or ``……``, or with
``？`` after a question pattern; some get quotes ``“”`` or a title ``《》``. So the lines have modern words,
modern function words and the chars they bring (她 吗 您 吧 站 够 票 ...), with word frequencies
close to real text, but they are not real sentences: their grammar is that of the patterns.

Words are kept only if every char is a Han ideograph of the bundled charset (``char_dict/``);
a line is dropped if it shares a clause of at least 4 chars, or a run of 8 chars, with the Yuan
qu text of ``chinese-poetry`` (the held-out evaluation text; see ``tools/build_poetry.py``; needs
``--package-tgz`` or npm), or if it repeats an earlier line. Draws come from
``numpy.random.default_rng(seed)``: the same seed gives the same file.

Usage, from the repository root::

    python tools/build_modern.py [--lines 60000] [--package-tgz chinese-poetry-2.0.1.tgz]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from build_corpus import fetch_package
from build_poetry import YUANQU_MEMBER, YuanquFilter, texts

from toolkit.charset import Charset

REPO_ROOT = Path(__file__).resolve().parent.parent
JIEBA_VERSION = "0.42.1"
FREQUENCY_POWER = 0.5

# One clause pattern per entry: slots are dictionary tags, or literal function words in quotes.
PATTERNS = (
    "r d v n", "r v n", "n d a", "t r v n", "r 在 ns v n", "nr v ns", "a 的 n", "n 和 n v",
    "r 把 n v 了", "r v 了 m q n", "n 是 a 的", "r 觉得 n d a", "t 的 n d a", "r 被 n v 了",
    "n v 得 d a", "r 给 r v n", "r 要 v n", "r 不 v n", "r 也 d v", "n 的 n d v", "vn n",
    "r 从 ns 来", "r 对 n d a", "i", "n 比 n a", "r 已经 v 了", "d v n", "m q a 的 n",
)
QUESTIONS = ("r v n 吗", "r d a 吗", "n 在 f 吗", "r v 什么", "r 为什么 v", "n d a 吧",
             "r v 了 吗", "r 能 v n 吗", "r 去 ns 吧")
TAGS = ("n", "v", "a", "d", "r", "t", "ns", "nr", "m", "q", "i", "vn", "f")
ENDS = ("。", "。", "。", "。", "！", "……")


def read_dictionary(path: Path, charset: Charset) -> dict[str, tuple[list[str], np.ndarray]]:
    """Words by tag (``TAGS`` only) with their draw weights; words with a char outside the
    charset or that is not a Han ideograph are left out."""
    words: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split(" ")
        if len(parts) != 3:
            raise SystemExit(f"{path}:{lineno}: expected 'word frequency tag', got {line!r}")
        word, freq, tag = parts
        if tag in TAGS and all("\u4e00" <= c <= "\u9fff" and c in charset for c in word):
            words[tag].append((word, int(freq)))
    table = {}
    for tag in TAGS:
        if not words[tag]:
            raise SystemExit(f"{path}: no usable word of tag {tag!r}")
        weights = np.array([f for _, f in words[tag]], dtype=np.float64) ** FREQUENCY_POWER
        table[tag] = ([w for w, _ in words[tag]], np.cumsum(weights / weights.sum()))
    return table


def clause(pattern: str, table, rng: np.random.Generator) -> str:
    out = []
    for slot in pattern.split():
        if slot in table:
            words, cumulative = table[slot]
            out.append(words[min(int(np.searchsorted(cumulative, rng.random())), len(words) - 1)])
        else:
            out.append(slot)
    return "".join(out)


def make_line(table, rng: np.random.Generator) -> str:
    count = int(rng.choice([1, 2, 2, 3]))
    parts = [clause(PATTERNS[int(rng.integers(len(PATTERNS)))], table, rng) for _ in range(count)]
    question = rng.random() < 0.15
    if question:
        parts[-1] = clause(QUESTIONS[int(rng.integers(len(QUESTIONS)))], table, rng)
    text = parts[0]
    for part in parts[1:]:
        text += str(rng.choice(["，", "，", "，", "、", "；", "："])) + part
    text += "？" if question else str(rng.choice(ENDS))
    style = rng.random()
    if style < 0.05:
        text = f"“{text}”"
    elif style < 0.1:
        words, cumulative = table["n"]
        title = words[min(int(np.searchsorted(cumulative, rng.random())), len(words) - 1)]
        text = f"《{title}》{text}"
    return text


def jieba_dict() -> Path:
    import jieba  # a build-time dependency only

    path = Path(jieba.__file__).parent / "dict.txt"
    if getattr(jieba, "__version__", None) != JIEBA_VERSION:
        raise SystemExit(f"jieba {JIEBA_VERSION} expected, found {jieba.__version__}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build corpora/modern.txt from jieba's dict.txt.")
    parser.add_argument("--dict", type=Path, help="jieba's dict.txt (default: the installed one)")
    parser.add_argument("--package-tgz", type=Path, help="chinese-poetry-2.0.1.tgz (Yuan qu filter)")
    parser.add_argument("--lines", type=int, default=60000)
    parser.add_argument("--max-chars", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "corpora" / "modern.txt")
    args = parser.parse_args(argv)

    charset = Charset.load(REPO_ROOT / "char_dict")
    table = read_dictionary(args.dict or jieba_dict(), charset)
    print("words per tag: " + ", ".join(f"{t} {len(table[t][0])}" for t in TAGS))
    with tempfile.TemporaryDirectory(prefix="build_modern.") as tmp:
        tgz = args.package_tgz or fetch_package(Path(tmp))
        with tarfile.open(tgz, mode="r:gz") as tar:
            yuanqu = YuanquFilter(list(texts(json.loads(tar.extractfile(YUANQU_MEMBER).read()))))
    rng = np.random.default_rng(args.seed)
    seen: set[str] = set()
    lines: list[str] = []
    drops = collections.Counter()
    while len(lines) < args.lines:
        line = make_line(table, rng)
        if len(line) > args.max_chars:
            drops["too_long"] += 1
        elif yuanqu.shares(line):
            drops["yuanqu"] += 1
        elif line in seen:
            drops["duplicate"] += 1
        else:
            seen.add(line)
            lines.append(line)
    text = "".join(line + "\n" for line in lines)
    args.out.write_text(text, encoding="utf-8", newline="\n")
    print(f"dropped: {dict(drops)}")
    print(f"wrote {args.out}: {len(lines)} lines, {sum(map(len, lines))} chars, "
          f"{len(set(text) - {chr(10)})} distinct chars, {len(text.encode('utf-8'))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
