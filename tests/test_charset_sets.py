"""Named char sets, the fold policy (full-width digits and Latin read as ASCII, full-width
punctuation kept) and the bundled char dict built from them."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.charset import (
    ALL_SETS,
    NAMED_SETS,
    Charset,
    CharsetError,
    build_char_dict,
    named_set,
    named_set_chars,
    normalize_text,
)
from toolkit.cli import main
from toolkit.labels import read_label_file
from toolkit.metrics import Scores

REPO = Path(__file__).resolve().parent.parent
FONT_SUBSET_RANGES = [(0x20, 0x7E), (0x3000, 0x303F), (0xFF01, 0xFF5E), (0xFFE5, 0xFFE5),
                      (0x2010, 0x2027), (0x2030, 0x203B), (0x2190, 0x2193), (0x2460, 0x2473)]
FONT_SUBSET_SINGLES = set("£¥§©®°±·×÷℃№™€")


def _in_font_subset(ch: str, songci: set[str], gb2312: set[str]) -> bool:
    """The code points the bundled fonts are subset to (the team's shared charset decision)."""
    cp = ord(ch)
    return (ch in songci or ch in gb2312 or ch in FONT_SUBSET_SINGLES
            or any(lo <= cp <= hi for lo, hi in FONT_SUBSET_RANGES))


def _songci_chars() -> set[str]:
    text = (REPO / "corpora" / "songci.txt").read_text(encoding="utf-8")
    return {c for c in text if not c.isspace()}


def test_gb2312_is_its_6763_hanzi_in_code_order():
    hanzi = named_set("gb2312")
    assert len(hanzi) == len(set(hanzi)) == 6763
    assert hanzi[:3] == ("啊", "阿", "埃") and hanzi[-1] == "齄"  # first and last cells, rows 16 and 87
    codes = [c.encode("gb2312") for c in hanzi]
    assert codes == sorted(codes) and all(0xB0 <= b[0] <= 0xF7 for b in codes)
    assert all(unicodedata.name(c).startswith("CJK UNIFIED IDEOGRAPH") for c in hanzi)


def test_set_sizes_and_members():
    assert named_set("ascii") == tuple(chr(c) for c in range(0x21, 0x7F))  # 94, no space
    fullwidth = named_set("fullwidth")
    assert len(fullwidth) == 33 and "￥" in fullwidth and "，" in fullwidth and "％" in fullwidth
    assert not any("０" <= c <= "９" or "Ａ" <= c <= "Ｚ" or "ａ" <= c <= "ｚ" for c in fullwidth)
    cjk = named_set("cjk_punct")
    assert len(cjk) == 34 and {"、", "。", "《", "》", "【", "】", "“", "”", "…", "—", "·"} <= set(cjk)
    symbols = named_set("symbols")
    assert {"¥", "%", "‰", "℃", "°", "±", "×", "÷", "№", "€", "£", "→", "①", "⑩"} <= set(symbols)
    for name in NAMED_SETS:
        chars = named_set(name)
        assert len(chars) == len(set(chars)), name
        assert " " not in chars and "\u3000" not in chars, name
        assert all(normalize_text(c) == c for c in chars), name  # no set holds a folded form
        assert named_set(name) == chars  # a fixed order


def test_every_named_set_lies_in_the_font_subset():
    songci, gb2312 = _songci_chars(), set(named_set("gb2312"))
    outside = [c for c in named_set_chars([ALL_SETS]) if not _in_font_subset(c, songci, gb2312)]
    assert outside == []


def test_all_is_every_set_once_in_set_order():
    every = named_set_chars([ALL_SETS])
    expected = list(dict.fromkeys(c for name in NAMED_SETS for c in named_set(name)))
    assert list(every) == expected
    assert len(every) == 6763 + 94 + 33 + 34 + len(named_set("symbols")) - 1  # % is in two sets
    assert named_set_chars(["ascii", "ascii"]) == named_set("ascii")
    with pytest.raises(CharsetError, match="unknown char set 'latin1'.*gb2312"):
        named_set("latin1")


@pytest.mark.parametrize("text, folded", [
    ("２０２６年６月", "2026年6月"),
    ("ＡＢＣ－ｘｙｚ", "ABC－xyz"),
    ("春风\u3000明月", "春风 明月"),
    ("，。：；！？（）％＋", "，。：；！？（）％＋"),  # full-width punctuation stays
    ("①…™℃", "①…™℃"),  # NFKC would make these "1", "...", "TM", "°C"
    ("", ""),
])
def test_fold_policy(text, folded):
    assert normalize_text(text) == folded
    assert normalize_text(folded) == folded


def test_cer_and_decoding_agree_with_folding():
    scores = Scores()
    scores.add("价格２０元", "价格20元")  # the same chars at another width: no error
    assert scores.cer == 0 and scores.line_accuracy == 1
    scores.add("你好，", "你好,")  # full-width and ASCII comma are different classes
    assert scores.edits == 1
    cs = Charset.from_chars("２AB")  # an older char dict that lists a full-width digit
    assert cs.decode(cs.encode("２A")) == "2A"


def test_label_files_are_folded(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "sample.txt").write_text("a.jpg 第１２页\u3000ＯＫ！\n", encoding="utf-8")
    entries, problems = read_label_file(tmp_path / "sample.txt", tmp_path)
    assert problems == [] and entries[0].label == "第12页 OK！"


def test_build_char_dict_appends_sets_after_the_file_chars(tmp_path):
    (tmp_path / "chinese.txt").write_text("风\n春\nA\n", encoding="utf-8")
    cs = build_char_dict(tmp_path / "chinese.txt", tmp_path / "cd", add_sets=["ascii", "symbols"])
    assert cs.chars[:3] == ("风", "春", "A")
    ascii_rest = [c for c in named_set("ascii") if c != "A"]
    assert list(cs.chars[3:3 + 93]) == ascii_rest
    assert cs.chars[-1] == " " and cs.num_classes == len(cs.chars) + 1
    assert Charset.load(tmp_path / "cd") == cs
    # a space listed in the file keeps its index
    (tmp_path / "spaced.txt").write_text("风\n \n春\n", encoding="utf-8")
    spaced = build_char_dict(tmp_path / "spaced.txt", tmp_path / "cd2", add_sets=["cjk_punct"])
    assert spaced.chars[:3] == ("风", " ", "春") and spaced.space_index == 1
    assert len(spaced) == 3 + 34


def test_build_char_dict_cli_add_set_all(tmp_path):
    (tmp_path / "chinese.txt").write_text("春\n风\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["build-char-dict", "--char-dict-file", str(tmp_path / "chinese.txt"),
                                  "--save-dir", str(tmp_path / "cd"), "--add-set", "all"])
    assert r.exit_code == 0, r.output
    n = 2 + len(named_set_chars([ALL_SETS])) - 2  # 春 and 风 are GB 2312 hanzi
    assert f"num_classes {n + 2}" in r.output
    r = CliRunner().invoke(main, ["build-char-dict", "--char-dict-file", str(tmp_path / "chinese.txt"),
                                  "--save-dir", str(tmp_path / "cd"), "--add-set", "latin1"])
    assert r.exit_code != 0 and "latin1" in r.output


def test_bundled_char_dict_is_songci_chars_and_every_named_set():
    chars = (REPO / "char_dict" / "chinese.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert chars == sorted(_songci_chars() | set(named_set_chars([ALL_SETS])))
    bundled = Charset.load(REPO / "char_dict")
    assert bundled == Charset.from_char_file(REPO / "char_dict" / "chinese.txt")
    assert bundled.num_classes == len(chars) + 2  # + space + blank


def test_gen_images_folds_labels_and_lists_added_sets(tmp_path):
    from toolkit.synth import SynthConfig, gen_images

    corpus = tmp_path / "c.txt"
    corpus.write_text("春风２０２６年\n", encoding="utf-8")
    out = tmp_path / "ds"
    gen_images([corpus], [str(REPO / "fonts" / "NotoSansSC-Regular.otf")], out, 2,
               config=SynthConfig(min_chars=7, max_chars=7, test_fraction=0.0), progress=False,
               add_sets=["cjk_punct"])
    labels = (out / "Train" / "sample.txt").read_text(encoding="utf-8").splitlines()
    assert [line.split(" ", 1)[1] for line in labels] == ["春风2026年"] * 2
    listed = (out / "chinese.txt").read_text(encoding="utf-8").split()
    assert listed == sorted(set("春风2026年") | set(named_set("cjk_punct")))
