"""Tests of the shared file helpers (toolkit.io): atomic writes, one file mode, versioned JSON."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from toolkit.io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    file_mode,
    read_utf8_text,
    read_versioned_json,
)


def test_atomic_writes_give_the_mode_open_gives(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "春\n")
        atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
        (tmp_path / "c.txt").write_text("plain")  # what open() gives, for comparison
        assert file_mode() == 0o640
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"a.txt": 0o640, "b.bin": 0o640, "c.txt": 0o640}  # not mkstemp's 0o600
    assert (tmp_path / "a.txt").read_bytes() == "春\n".encode()


def test_atomic_write_failure_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    atomic_write_json(target, {"format_version": 1, "名": "值"})
    assert target.read_text(encoding="utf-8") == '{\n  "format_version": 1,\n  "名": "值"\n}\n'
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})  # fails while encoding: nothing is written
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]  # fails while writing
    assert json.loads(target.read_text(encoding="utf-8"))["名"] == "值"
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_make_parents_creates_missing_folders_only_when_asked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_text(tmp_path / "new" / "x.txt", "x")
    atomic_write_text(tmp_path / "new" / "x.txt", "x", make_parents=True)
    assert (tmp_path / "new" / "x.txt").read_text() == "x"


def test_read_versioned_json_names_the_file_and_the_version(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    with pytest.raises(KeyError, match="no such file"):
        read_versioned_json(path, 1, KeyError, "no such file")
    path.write_text('{"format_version": 2}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"m\.json: format_version 2, this toolkit reads 1"):
        read_versioned_json(path, 1, ValueError, "missing")
    path.write_text("[1, 2", encoding="utf-8")
    with pytest.raises(ValueError, match=r"m\.json: not valid UTF-8 JSON"):
        read_versioned_json(path, 1, ValueError, "missing")
    path.write_text('{"format_version": 1, "x": 3}', encoding="utf-8")
    assert read_versioned_json(path, 1, ValueError, "missing") == {"format_version": 1, "x": 3}


def test_read_utf8_text_drops_a_bom_and_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbf\xe6\x98\xa5\n")
    assert read_utf8_text(path, ValueError) == "春\n"
    path.write_bytes(b"ok\nok\n\xff\n")
    with pytest.raises(ValueError, match=r"t\.txt:3: not valid UTF-8 \(b'\\xff'\)"):
        read_utf8_text(path, ValueError)
