"""tools/build_eval_set.py, the general held-out set: text selection (roff, cutting, kinds, the
held-out check, the charset filter), the line plan (balance, determinism), the held-out faces, and a
tiny build per renderer read back with the toolkit's label reader (pango and Chromium parts skipped
when pango-view or Chromium is missing)."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest

from toolkit.charset import Charset
from toolkit.fonts import FontFace, load_font, read_manifest
from toolkit.labels import read_label_file

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def bes():
    """The script as a module; it imports its siblings (build_yuanqu_eval_set, build_corpus) by name,
    as when run from tools/."""
    sys.path.insert(0, str(TOOLS))
    try:
        yield importlib.import_module("build_eval_set")
    finally:
        sys.path.remove(str(TOOLS))


@pytest.fixture(scope="module")
def charset() -> Charset:
    return Charset.load(ROOT / "char_dict")


# ------------------------------------------------------------------------------------------ text
ROFF = r""".\" a comment
.TH LS 1 "2022年9月" "GNU coreutils 9.1" 用户命令
.SH 名称
ls \- 列出目录内容
.SH 描述
列出指定“文件”的信息。
如果没有指定 \fB\-\-sort\fP，则按字母排序。
.TP
\fB\-a\fP, \fB\-\-all\fP
不要忽略以点号起始的条目
.nf
ls \-l /tmp
代码块里的文字
.fi
.BR dir (1)
和
.B vdir
"""


def test_roff_paragraphs_drop_requests_and_join_chinese_lines(bes):
    paragraphs = bes.roff_paragraphs(ROFF)
    assert paragraphs == [
        "名称", "ls - 列出目录内容", "描述",
        "列出指定“文件”的信息。如果没有指定 --sort，则按字母排序。",
        "-a, --all", "不要忽略以点号起始的条目", "dir(1) 和 vdir",
    ]


def test_roff_unescape_specials_and_unknown_escapes(bes):
    assert bes.roff_unescape(r"\(lq引号\(rq \(em 1\ 2") == "“引号” — 1 2"
    assert bes.roff_unescape(r"\f(CW代码\fR \s-1小\s0") == "代码 小"
    assert bes.roff_unescape(r"宽度 \w'abc'").count("\ufffd") == 1  # then dropped by the charset
    assert bes.roff_unescape(r'文字 \" 注释') == "文字 "


def test_cut_modern_assigns_kinds_and_filters(bes, charset):
    stats = Counter()
    pieces = bes.cut_modern("磁盘空间默认以 1K 为一块显示，这个选项不是必须的。好的。"
                            "含有生僻字龘的句子里的字。", charset, stats)
    # 27 chars: cut at the comma
    assert pieces == [("磁盘空间默认以 1K 为一块显示，", "mixed"), ("这个选项不是必须的。", "modern")]
    assert stats["modern: pieces dropped: length"] == 1          # 好的。 (3 chars)
    assert stats["modern: pieces dropped: a char outside the char dict"] == 1  # 龘
    # ASCII stops after a hanzi cut; full-width digits fold to ASCII
    pieces = bes.cut_modern("输出的信息非常详尽,而扫描速度会减慢.版本是２０２６年的", charset, Counter())
    assert pieces == [("输出的信息非常详尽,而扫描速度会减慢.", "modern"), ("版本是2026年的", "mixed")]


def test_long_sentences_are_packed_at_clauses_and_never_cut_inside_ascii(bes):
    sentence = "如果指定了选项，则程序会读取配置文件，然后再处理命令行上给出的全部参数和文件，最后退出。"
    parts = bes._pack(sentence)
    assert "".join(parts) == sentence and all(len(p) <= bes.MAX_CHARS for p in parts)
    clause = "使用 --block-size=SIZE 选项时打印文件大小前将其除以指定的块大小并且四舍五入到整数"
    windows = bes._windows(clause)
    assert "".join(windows) == clause and all(len(w) <= bes.MAX_CHARS for w in windows)
    assert any("--block-size=SIZE" in w for w in windows)
    assert bes._windows("前缀" + "x" * 30 + "后缀") is None


def test_kind_of(bes):
    assert bes.kind_of("列出目录内容") == "modern"
    assert bes.kind_of("ls - 列出目录") == "mixed"
    assert bes.kind_of("-a, --all 中") is None       # one hanzi
    assert bes.kind_of("目录。") is None              # two hanzi, no Latin


def test_training_text_check_ignores_punctuation(bes, tmp_path):
    corpus = tmp_path / "songci.txt"
    corpus.write_text("春风又绿江南岸。\n明月几时有\n", encoding="utf-8")
    training = bes.TrainingText([corpus])
    assert "春风又绿，" in training and "又绿江南" in training
    assert "明月何时照我还" not in training
    with pytest.raises(bes.PrerequisiteError, match="corpus is missing"):
        bes.TrainingText([tmp_path / "missing.txt"])


def test_the_bundled_corpora_exist_for_the_check(bes):
    assert all((ROOT / p).is_file() for p in bes.TRAINING_CORPORA)


# ------------------------------------------------------------------------------------------ plan
def _face(name: str, chars: str) -> FontFace:
    return FontFace(path=Path(f"{name}.ttf"), index=0, name=name, codepoints=frozenset(map(ord, chars)))


def test_plan_balances_kinds_and_faces_and_is_deterministic(bes):
    pools = {kind: [f"{kind[:2]}{n:03d}" for n in range(40)] for kind in bes.KINDS}
    everything = "".join(sorted({ch for p in pools.values() for t in p for ch in t}))
    faces = [_face("full", everything), _face("no-9", everything.replace("9", ""))]
    in_training = {t for p in pools.values() for t in p if int(t[2:]) % 2}
    stats = Counter()
    plan = bes.plan_lines(pools, faces, 12, 5, in_training.__contains__, stats)
    assert list(plan) == list(bes.RENDERERS)
    texts = [ln.text for lines in plan.values() for ln in lines]
    assert len(texts) == len(set(texts)) == 36            # no text twice in the set
    assert not in_training & set(texts) and stats["texts dropped: in the training corpora"] > 0
    for lines in plan.values():
        assert [ln.kind for ln in lines] == [bes.KINDS[i % 3] for i in range(12)]
        assert [ln.face for ln in lines] == [(i // 3) % 2 for i in range(12)]
        assert all(faces[ln.face].covers(ln.text) for ln in lines)
        assert all(ln.text.startswith(ln.kind[:2]) for ln in lines)
    assert plan == bes.plan_lines(pools, faces, 12, 5, in_training.__contains__, Counter())
    assert plan != bes.plan_lines(pools, faces, 12, 6, in_training.__contains__, Counter())


def test_plan_fails_clearly_when_a_face_covers_no_text(bes):
    pools = {kind: ["春风明月"] * 1 for kind in bes.KINDS}
    with pytest.raises(RuntimeError, match="no text left that face empty covers"):
        bes.plan_lines(pools, [_face("empty", "")], 1, 0, lambda t: False, Counter())


# ----------------------------------------------------------------------------------------- faces
def test_the_faces_are_the_manifest_heldout_faces(bes):
    entries = [e for e in read_manifest(ROOT / "fonts" / "fonts.json") if e.heldout]
    assert {e.style for e in entries} == {"kai", "song", "hei", "fangsong", "brush"}
    assert all(e.path.parent == (ROOT / "fonts" / "heldout").resolve() for e in entries)


def test_a_heldout_face_outside_heldout_is_refused(bes, tmp_path, tiny_font):
    (tmp_path / "heldout").mkdir()
    shutil.copyfile(tiny_font, tmp_path / "tiny.otf")
    manifest = tmp_path / "fonts.json"
    manifest.write_text('{"faces": [{"file": "tiny.otf", "style": "hei", "heldout": true}]}', encoding="utf-8")
    with pytest.raises(bes.PrerequisiteError, match="is not in"):
        bes.heldout_faces(manifest)


# ------------------------------------------------------------------------------------ tiny build
CLASSICAL = ["春风明月天，山水花云江。", "白日落长河，秋雨夜风天。", "明月山水人，江河花落长。",
             "云天春水白，长河落日风。"]
MODERN_ROFF = ".SH 名称\n云天明月山水人。\n.PP\n江河花落长风雨。\n.PP\n秋月白云天山水。\n.PP\n长风夜雨花落天。\n"
MIXED_ROFF = ".PP\n春风 2026 明月天。\n.PP\nCPU 山水花云\n.PP\n江河 v1.5 白日。\n.PP\n秋雨 42 夜风。\n"


MISSING = {
    "pillow": None,
    "pango": None if shutil.which("pango-view") and shutil.which("fc-list")
    else "pango-view or fc-list missing (apt-get install pango1.0-tools fontconfig)",
    "chromium": None if CHROMIUM and importlib.util.find_spec("playwright") is not None
    else "chromium or playwright missing (apt-get install chromium; pip install -e '.[test]')",
}
AVAILABLE = [r for r, why in MISSING.items() if why is None]


def _tiny_build(bes, charset, tiny_font, out, renderers, seed=0):
    sources = bes.TextSources(CLASSICAL, bes.roff_paragraphs(MODERN_ROFF + MIXED_ROFF), {"test": True})
    faces = [bes.EvalFace(load_font(tiny_font, style="hei"), "Noto Sans CJK SC", "hei")]
    return bes.build_set(out, sources, faces, 3, seed, renderers, charset, {"云天明月山水人。"}.__contains__)


@pytest.fixture(scope="module")
def tiny_set(bes, charset, tiny_font, tmp_path_factory):
    """A set of 3 lines per available renderer, drawn in the tests' tiny font."""
    out = tmp_path_factory.mktemp("evalset") / "set"
    return out, _tiny_build(bes, charset, tiny_font, out, AVAILABLE)


@pytest.mark.parametrize("renderer", list(MISSING))
def test_tiny_build_per_renderer(renderer, tiny_set):
    if MISSING[renderer]:
        pytest.skip(MISSING[renderer])
    out, config = tiny_set
    entries, problems = read_label_file(out / f"{renderer}.txt", out)
    assert not problems and len(entries) == 3
    assert all(e.name.startswith(renderer + "/") and e.image_path.is_file() for e in entries)
    assert [config["lines"][e.name]["kind"] for e in entries] == list(config["kinds"])
    assert {config["lines"][e.name]["renderer"] for e in entries} == {renderer}
    skipped = {k: v for k, v in config["counts"]["render"].items() if k.startswith(f"{renderer}: lines skipped")}
    assert all(v == 0 for v in skipped.values()), skipped


def test_tiny_build_label_files_name_the_same_images(bes, tiny_set, charset, tiny_font):
    out, config = tiny_set
    assert config["renderers"] == AVAILABLE
    everything, problems = read_label_file(out / "labels.txt", out)
    assert not problems and len(everything) == 3 * len(AVAILABLE)
    names = {e.name for e in everything}
    assert config["lines"].keys() == names
    by_kind = {}
    for kind in bes.KINDS:
        entries, problems = read_label_file(out / f"kind-{kind}.txt", out)
        assert not problems and len(entries) == len(AVAILABLE)
        assert all(config["lines"][e.name]["kind"] == kind for e in entries)
        by_kind.update({e.name: e.label for e in entries})
    assert by_kind == {e.name: e.label for e in everything}
    styled, _ = read_label_file(out / "style-hei.txt", out)
    assert {e.name for e in styled} == names
    assert "云天明月山水人。" not in by_kind.values()  # in the "training text"
    assert any(any(ch.isdigit() or ch.isascii() and ch.isalpha() for ch in e.label)
               for e in everything if config["lines"][e.name]["kind"] == "mixed")
    with pytest.raises(FileExistsError):
        _tiny_build(bes, charset, tiny_font, out, AVAILABLE)


def test_tiny_build_is_deterministic(bes, charset, tiny_font, tmp_path):
    renderers = [r for r in AVAILABLE if r != "chromium"]
    a = _tiny_build(bes, charset, tiny_font, tmp_path / "a", renderers)
    b = _tiny_build(bes, charset, tiny_font, tmp_path / "b", renderers)
    assert a["lines"] == b["lines"]
    assert (tmp_path / "a" / "labels.txt").read_bytes() == (tmp_path / "b" / "labels.txt").read_bytes()
    for rel in a["lines"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    _tiny_build(bes, charset, tiny_font, tmp_path / "c", renderers, seed=1)
    assert (tmp_path / "c" / "labels.txt").read_bytes() != (tmp_path / "a" / "labels.txt").read_bytes()
    # a renderer's lines do not depend on which other renderers are built
    _tiny_build(bes, charset, tiny_font, tmp_path / "d", [renderers[-1]])
    name = f"{renderers[-1]}.txt"
    assert (tmp_path / "d" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()


def test_missing_tools_name_their_debian_package(bes, charset, tiny_font, tmp_path, monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name in ("pango-view", "chromium",
                                                                       "chromium-browser") else real_which(name))
    monkeypatch.delenv("CHROMIUM", raising=False)
    with pytest.raises(bes.PrerequisiteError, match="pango1.0-tools"):
        _tiny_build(bes, charset, tiny_font, tmp_path / "p", ["pillow", "pango"])
    if importlib.util.find_spec("playwright") is not None:
        with pytest.raises(bes.PrerequisiteError, match="apt-get install chromium"):
            _tiny_build(bes, charset, tiny_font, tmp_path / "c", ["pillow", "chromium"])
    assert not (tmp_path / "p").exists()  # nothing written before the check


@pytest.mark.parametrize("value", ["pillow,gimp", " , "])
def test_renderers_flag_rejects_unknown_or_empty_lists(bes, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as err:
        bes.main(["--output-dir", str(tmp_path / "out"), "--renderers", value])
    assert err.value.code == 2
    message = capsys.readouterr().err
    assert "--renderers must be a comma-separated subset of pillow,pango,chromium" in message
    assert repr(value) in message
    assert not (tmp_path / "out").exists()


def test_comma_subset_keeps_the_order_given_and_strips_spaces(bes):
    parse = bes.comma_subset("--parts", ("pillow", "pango"))
    assert parse(" pango , pillow,") == ["pango", "pillow"]
    with pytest.raises(Exception, match="--parts must be a comma-separated subset of pillow,pango, got 'x'"):
        parse("x")
