"""Corpus mixing (toolkit.corpus.CorpusMix), generated text (toolkit.textgen) and the bundled
corpora."""

from __future__ import annotations

import json
import pickle
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from toolkit.charset import ALL_SETS, Charset, named_set_chars, normalize_text
from toolkit.cli import main
from toolkit.corpus import (
    CorpusError,
    CorpusMix,
    SourceSpec,
    parse_corpus_option,
    parse_generated_option,
    read_corpus,
    read_mix_config,
)
from toolkit.synth import SynthConfig, text_units
from toolkit.textgen import KINDS, LATIN_WORDS, TextGenerator

REPO = Path(__file__).resolve().parent.parent
UNITS_A = ["春风明月天人山水花云" * 5, "江河日夜秋雨落长白" * 5]
UNITS_B = ["一二三四五六七八九十" * 5]


def _files(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("\n".join(UNITS_A) + "\n", encoding="utf-8")
    b.write_text("\n".join(UNITS_B) + "\n", encoding="utf-8")
    return a, b


def _cut(lines: list[str]) -> list[str]:
    return text_units(lines, SynthConfig(min_chars=2, max_chars=6))


def test_option_parsing(tmp_path):
    a, _ = _files(tmp_path)
    assert parse_corpus_option(str(a)) == SourceSpec(path=a)
    assert parse_corpus_option(f"{a}:0.25") == SourceSpec(path=a, weight=0.25)
    assert parse_generated_option("number:2") == SourceSpec(kind="number", weight=2.0)
    with pytest.raises(FileNotFoundError, match="nothing.txt"):
        parse_corpus_option(str(tmp_path / "nothing.txt:1"))
    with pytest.raises(ValueError, match="weight"):
        parse_corpus_option(f"{a}:lots")
    with pytest.raises(ValueError, match="unknown generated text kind 'roman'"):
        parse_generated_option("roman:1")
    with pytest.raises(ValueError, match="needs a weight"):
        parse_generated_option("number")
    with pytest.raises(ValueError, match=">= 0"):
        parse_generated_option("number:-1")


def test_mix_config(tmp_path):
    a, _ = _files(tmp_path)
    config = tmp_path / "mix.json"
    config.write_text(json.dumps({"format_version": 1, "sources": [
        {"file": "a.txt", "weight": 3}, {"generated": "date", "weight": 1}]}), encoding="utf-8")
    assert read_mix_config(config) == [SourceSpec(path=a, weight=3), SourceSpec(kind="date", weight=1)]
    config.write_text(json.dumps({"format_version": 1, "sources": [{"file": "a.txt"}]}))
    with pytest.raises(CorpusError, match=r"mix.json: sources\[0\]"):
        read_mix_config(config)
    config.write_text(json.dumps({"format_version": 1, "sources": [{"file": "x.txt", "weight": 1}]}))
    with pytest.raises(FileNotFoundError, match=r"sources\[0\].*x.txt"):
        read_mix_config(config)
    config.write_text("[]")
    with pytest.raises(CorpusError, match="format_version"):
        read_mix_config(config)


def test_shares_follow_the_weights(tmp_path):
    a, b = _files(tmp_path)
    specs = [SourceSpec(path=a, weight=2), SourceSpec(path=b, weight=1), SourceSpec(kind="number", weight=1)]
    mix = CorpusMix.from_specs(specs, _cut, min_chars=2, max_chars=6)
    rng = np.random.default_rng(3)
    draws = [mix.sample_with_source(rng) for _ in range(8000)]
    counts = Counter(k for k, _ in draws)
    for k, expected in enumerate((0.5, 0.25, 0.25)):
        assert abs(counts[k] / len(draws) - expected) < 0.02, (k, counts)
    for k, text in draws:
        if k < 2:
            assert any(text in u for u in (UNITS_A if k == 0 else UNITS_B)) and 2 <= len(text) <= 6
        else:
            assert any(ch.isdigit() for ch in normalize_text(text))


def test_plain_files_are_pooled_and_weigh_their_line_count(tmp_path):
    a, b = _files(tmp_path)
    mix = CorpusMix.from_specs([SourceSpec(path=a), SourceSpec(path=b),
                                SourceSpec(kind="number", weight=3)], _cut, min_chars=2, max_chars=6)
    assert [s.weight for s in mix.sources] == [3.0, 3.0]  # 2 + 1 pooled lines, then the number kind
    assert mix.num_lines == 3 and mix.shares == [0.5, 0.5]
    pooled = CorpusMix.from_specs([SourceSpec(path=a), SourceSpec(path=b)], _cut, min_chars=2, max_chars=6)
    rng = np.random.default_rng(0)
    texts = [pooled.sample(rng) for _ in range(2000)]
    share_b = sum(t[0] in "一二三四五六七八九十" for t in texts) / len(texts)
    assert abs(share_b - 50 / 140) < 0.04  # a uniform char position: b holds 50 of 140 chars


def test_same_seed_same_texts_and_pickling_drops_the_index(tmp_path):
    a, _ = _files(tmp_path)
    mix = CorpusMix.from_specs([SourceSpec(path=a, weight=1), SourceSpec(kind="random", weight=1)],
                               _cut, min_chars=2, max_chars=6, balance=0.5)
    first = [mix.sample(np.random.default_rng([7, i])) for i in range(200)]
    copy = pickle.loads(pickle.dumps(mix))
    assert copy._index is None and mix._index is not None
    assert [copy.sample(np.random.default_rng([7, i])) for i in range(200)] == first


def test_balancing_covers_the_union_with_extra_chars():
    units = ["春风春风春风春风明"]  # 明 is 1 char in 9
    mix = CorpusMix.from_units(units, min_chars=2, max_chars=4, balance=1.0, extra_chars="①X ")
    assert mix.chars == "".join(sorted("春风明①X"))  # whitespace left out
    rng = np.random.default_rng(5)
    draws = [mix.sample_with_source(rng) for _ in range(5000)]
    for ch in mix.chars:  # each of the 5 chars is the drawn one in ~1/5 of the texts
        share = sum(ch in t for _, t in draws) / len(draws)
        assert share > 0.15, (ch, share)
    for source, text in draws:
        if "①" in text or "X" in text:
            assert source == -1 and set(text) <= set(mix.chars) and 2 <= len(text) <= 4
        else:
            assert source == 0 and text in units[0]


@pytest.fixture(scope="module")
def bundled_chars() -> set[str]:
    return set(Charset.load(REPO / "char_dict").chars)


@pytest.mark.parametrize("kind", KINDS)
def test_generated_strings_only_use_charset_chars(kind, bundled_chars):
    chars = "".join(sorted(bundled_chars - {" "}))
    generator = TextGenerator(kind, chars)
    rng = np.random.default_rng(11)
    texts = [generator(rng, 2, 16) for _ in range(3000)]
    outside = {c for t in texts for c in normalize_text(t)} - bundled_chars
    assert outside == set(), (kind, outside)
    assert all(t and t == t.strip() and len(t) <= 16 for t in texts)
    # write-tfrecords refuses a label with a run of spaces: gen-images must never write one
    assert not [t for t in texts if re.search(r"\s\s", t)]
    rng = np.random.default_rng(11)
    assert [generator(rng, 2, 16) for _ in range(3000)] == texts


def test_generated_numbers_are_sometimes_full_width():
    rng = np.random.default_rng(2)
    texts = [TextGenerator("number")(rng, 4, 10) for _ in range(2000)]
    wide = [t for t in texts if any("０" <= c <= "９" for c in t)]
    assert 0.05 < len(wide) / len(texts) < 0.2
    assert all(not any("０" <= c <= "９" for c in normalize_text(t)) for t in wide)


def test_random_kind_draws_only_the_given_chars():
    with pytest.raises(ValueError, match="needs chars"):
        TextGenerator("random")
    rng = np.random.default_rng(1)
    texts = [TextGenerator("random", "春风A")(rng, 3, 5) for _ in range(500)]
    assert set("".join(texts)) == set("春风A") and all(3 <= len(t) <= 5 for t in texts)


def test_gen_images_cli_mix(tmp_path, tiny_corpus, tiny_font):
    out = tmp_path / "ds"
    r = CliRunner().invoke(main, [
        "gen-images", "--corpus", f"{tiny_corpus}:1", "--generated", "random:1", "--font",
        str(tiny_font), "--output-dir", str(out), "--num-images", "30", "--min-chars", "2",
        "--max-chars", "5"])
    assert r.exit_code == 0, r.output
    conf = json.loads((out / "gen_config.json").read_text(encoding="utf-8"))
    assert [(s["name"], s["share"]) for s in conf["corpus_mix"]] == [
        (str(tiny_corpus), 0.5), ("generated:random", 0.5)]
    corpus_chars = set("".join(read_corpus(tiny_corpus)))
    labels = [line.split(" ", 1)[1] for split in ("Train", "Test")
              for line in (out / split / "sample.txt").read_text(encoding="utf-8").splitlines()]
    assert len(labels) == 30 and set("".join(labels)) <= corpus_chars
    config = tmp_path / "mix.json"
    config.write_text(json.dumps({"format_version": 1, "sources": [
        {"file": str(tiny_corpus), "weight": 3}, {"generated": "random", "weight": 1}]}))
    r = CliRunner().invoke(main, [
        "gen-images", "--corpus-config", str(config), "--generated", "latin:4", "--font",
        str(tiny_font), "--output-dir", str(out), "--num-images", "10", "--min-chars", "2",
        "--max-chars", "5", "--overwrite", "--skip-bad"])
    assert r.exit_code == 0, r.output
    conf = json.loads((out / "gen_config.json").read_text(encoding="utf-8"))
    assert [s["share"] for s in conf["corpus_mix"]] == [0.375, 0.125, 0.5]
    r = CliRunner().invoke(main, ["gen-images", "--generated", "number", "--font", str(tiny_font),
                                  "--output-dir", str(out), "--num-images", "3"])
    assert r.exit_code != 0 and "needs a weight" in r.output


BUNDLED_CORPORA = sorted((REPO / "corpora").glob("*.txt"))


@pytest.mark.parametrize("path", BUNDLED_CORPORA, ids=[p.name for p in BUNDLED_CORPORA])
def test_every_bundled_corpus_line_lies_in_the_bundled_charset(path, bundled_chars):
    outside = Counter(c for line in read_corpus(path) for c in line if c not in bundled_chars)
    assert not outside, outside.most_common(5)


def test_bundled_mix_config_reads(bundled_chars):
    specs = read_mix_config(REPO / "corpora" / "mix.json")
    assert {s.path.name for s in specs if s.path is not None} == {p.name for p in BUNDLED_CORPORA}
    assert {s.kind for s in specs if s.kind is not None} == set(KINDS)
    assert set(named_set_chars([ALL_SETS])) <= bundled_chars


def test_identifier_kind_draws_letters_not_words():
    rng = np.random.default_rng(5)
    texts = [normalize_text(TextGenerator("identifier")(rng, 4, 16)) for _ in range(2000)]
    tokens = [t for text in texts for t in re.split(r"[^a-z]+", text.lower()) if len(t) >= 3]
    # Letters come from no word list: few tokens are English words, and every letter is seen,
    # lower and upper case, beside digits and the marks of code.
    assert sum(t in LATIN_WORDS for t in tokens) / len(tokens) < 0.05
    seen = set("".join(texts))
    assert set("abcdefghijklmnopqrstuvwxyz") <= seen and set("ILO") <= seen
    assert set("_-/()") <= seen and seen & set("0123456789")


def test_mixed_kind_writes_half_width_punctuation_and_options_among_hanzi():
    rng = np.random.default_rng(3)
    texts = [TextGenerator("mixed")(rng, 4, 24) for _ in range(3000)]
    hanzi = r"[\u4e00-\u9fff]"
    # Technical Chinese prose puts ASCII marks right after hanzi and options between clauses.
    assert {m for t in texts for m in re.findall(hanzi + r"([.,;:])", t)} == set(".,;:")
    assert any(re.search(hanzi + r" --?[A-Za-z]", t) for t in texts)
    assert any(re.search(hanzi + r" [a-z]+_[a-z]+ " + hanzi, t) for t in texts)
