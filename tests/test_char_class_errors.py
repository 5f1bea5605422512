"""The alignment behind per-class error counts (toolkit.metrics.edit_operations) and
tools/char_class_errors.py's classes, counts and table."""

import random

import pytest

from toolkit.metrics import edit_distance, edit_operations


@pytest.fixture(scope="module")
def tool(load_tool):
    return load_tool("char_class_errors")


def test_edit_operations_spell_out_both_strings_with_edit_distance_edits():
    rng = random.Random(0)
    for _ in range(300):
        ref = "".join(rng.choice("ab一二") for _ in range(rng.randint(0, 7)))
        hyp = "".join(rng.choice("ab一二") for _ in range(rng.randint(0, 7)))
        ops = edit_operations(ref, hyp)
        assert "".join(r for _, r, _ in ops if r is not None) == ref
        assert "".join(h for _, _, h in ops if h is not None) == hyp
        assert sum(op != "match" for op, _, _ in ops) == edit_distance(ref, hyp)
        assert all((op == "match") == (r == h) for op, r, h in ops if op in ("match", "sub"))


def test_edit_operations_name_the_deleted_substituted_and_inserted_chars():
    assert edit_operations("fil", "fl") == [("match", "f", "f"), ("del", "i", None), ("match", "l", "l")]
    assert edit_operations("a-b", "a一b") == [("match", "a", "a"), ("sub", "-", "一"), ("match", "b", "b")]
    assert edit_operations("", "x") == [("ins", None, "x")]


def test_char_classes(tool):
    assert [tool.char_class(c) for c in "中㐀7sZ.~。￥"] == [
        "hanzi", "hanzi", "digit", "latin", "latin", "ascii punct", "ascii punct", "other", "other"]


def test_class_counts_add_up_to_the_cer(tool):
    counts = tool.ClassErrors()
    counts.add("用ls命令", "用1s命令。")  # l -> 1 (a Latin error), 。 inserted
    counts.add("第3页", "第页")  # 3 deleted
    assert counts.chars == {"hanzi": 5, "latin": 2, "digit": 1}
    assert counts.errors == {"latin": 1, "digit": 1}
    assert counts.insertions == 1 and counts.ins == {"。": 1}
    assert counts.subs == {("l", "1"): 1} and counts.dels == {"3": 1}
    assert counts.cer == pytest.approx(3 / 8)
    table = tool.class_table({"toolkit": counts})
    assert "| toolkit | latin | 2 | 0.500 | 0.125 |" in table
    assert "| toolkit | all (CER) | 8 | | 0.375 |" in table
    assert "hanzi | 5 | 0.000 |" in table
    assert "l→1 1" in tool.confusions("toolkit", counts, 5)


def test_a_missing_label_file_is_a_clear_error(tool, tmp_path):
    with pytest.raises(SystemExit, match="nothing.txt"):
        tool.main(["--labels", str(tmp_path / "nothing.txt")])
