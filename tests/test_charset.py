import json

import pytest

from toolkit.charset import CHAR_DICT_FILE, INDEX_2_ORD_FILE, ORD_2_INDEX_FILE, Charset, CharsetError, build_char_dict


def write(p, text):
    p.write_text(text, encoding="utf-8")
    return p


def test_space_and_blank_layout():
    cs = Charset.from_chars("学习")
    assert cs.chars == ("学", "习", " ")
    assert cs.space_index == 2
    assert cs.blank_index == 3
    assert cs.num_classes == 4  # 2 chars + space + blank


def test_space_listed_keeps_its_position():
    cs = Charset.from_chars(["a", " ", "b"])
    assert cs.space_index == 1 and cs.blank_index == 3 and cs.num_classes == 4


def test_three_json_files_have_seed_format(tmp_path):
    cs = build_char_dict(write(tmp_path / "chinese.txt", "学\n习\n"), tmp_path / "cd")
    char_dict = json.loads((tmp_path / "cd" / CHAR_DICT_FILE).read_text(encoding="utf-8"))
    o2i = json.loads((tmp_path / "cd" / ORD_2_INDEX_FILE).read_text(encoding="utf-8"))
    i2o = json.loads((tmp_path / "cd" / INDEX_2_ORD_FILE).read_text(encoding="utf-8"))
    assert char_dict == {"23398": "学", "20064": "习", "32": " "}
    assert o2i == {"23398": "0", "20064": "1", "32": "2"}
    assert i2o == {"0": "23398", "1": "20064", "2": "32"}
    assert Charset.load(tmp_path / "cd") == cs
    assert len(o2i) + 1 == cs.num_classes


def test_build_char_dict_is_deterministic(tmp_path):
    src = write(tmp_path / "chinese.txt", "\n".join("春风明月天人山水") + "\n")
    build_char_dict(src, tmp_path / "a")
    build_char_dict(src, tmp_path / "b")
    for name in (CHAR_DICT_FILE, ORD_2_INDEX_FILE, INDEX_2_ORD_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_encode_decode_round_trip():
    cs = Charset.from_chars("春风明月")
    ids = cs.encode("明月 春风")
    assert ids == [2, 3, cs.space_index, 0, 1]
    assert cs.decode(ids) == "明月 春风"
    assert cs.decode(ids + [cs.blank_index]) == "明月 春风"


def test_unknown_char_names_char_and_place():
    cs = Charset.from_chars("春风")
    with pytest.raises(CharsetError, match=r"Train/sample.txt:7.*'雨' \(U\+96E8\)"):
        cs.encode("春雨", where="Train/sample.txt:7")


def test_duplicate_char_in_file_names_both_lines(tmp_path):
    src = write(tmp_path / "chinese.txt", "春\n风\n春\n")
    with pytest.raises(CharsetError, match=r"chinese.txt:3: duplicate char '春'.*line 1"):
        Charset.from_char_file(src)


def test_bom_and_crlf_accepted(tmp_path):
    src = tmp_path / "chinese.txt"
    src.write_bytes("\ufeff春\r\n风\r\n".encode("utf-8"))
    assert Charset.from_char_file(src).chars == ("春", "风", " ")


def test_multi_char_line_rejected(tmp_path):
    with pytest.raises(CharsetError, match=r"chinese.txt:2: expected one char"):
        Charset.from_char_file(write(tmp_path / "chinese.txt", "春\n风月\n"))


def test_inconsistent_maps_rejected(tmp_path):
    Charset.from_chars("春风").save(tmp_path)
    o2i = json.loads((tmp_path / ORD_2_INDEX_FILE).read_text(encoding="utf-8"))
    o2i[str(ord("春"))] = "1"
    (tmp_path / ORD_2_INDEX_FILE).write_text(json.dumps(o2i), encoding="utf-8")
    with pytest.raises(CharsetError, match="inconsistent"):
        Charset.load(tmp_path)


def test_hash_changes_with_order():
    assert Charset.from_chars("春风").sha256 != Charset.from_chars("风春").sha256
