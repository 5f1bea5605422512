"""File helpers shared by every writer and reader of the toolkit.

Writes are atomic: the data goes to a temporary file in the target's folder, which then replaces the
target with ``os.replace`` (a rename on one file system), so a reader sees the old file or the new
one, never a part. One file-mode policy: every file the toolkit writes gets the mode a plain
``open(path, "w")`` would give it, ``0o666`` less the process umask (``tempfile.mkstemp`` alone would
leave ``0o600``). Text is UTF-8 with LF line ends. JSON files are UTF-8, non-ASCII chars kept as they
are, indented by 2, with a final newline; the toolkit's own JSON formats carry a ``format_version``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def file_mode() -> int:
    """The mode of the files the toolkit writes: ``0o666`` less the current umask (as ``open`` does)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, make_parents: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring), with :func:`file_mode`.

    Args:
        path: the target file; replaced if it exists.
        data: the bytes to write.
        make_parents: create the missing parent folders first; otherwise a missing folder is an error.

    Raises:
        OSError: if the folder is missing (without ``make_parents``) or the write fails (e.g. a full
            disk); the temporary file is removed and an existing ``path`` is left as it was.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, make_parents: bool = False) -> None:
    """Write ``text`` to ``path`` as UTF-8 atomically (:func:`atomic_write_bytes`); the line ends are
    written as they are in ``text`` (LF for the toolkit's own text)."""
    atomic_write_bytes(path, text.encode("utf-8"), make_parents=make_parents)


def json_text(obj: Any) -> str:
    """``obj`` as the toolkit writes JSON: non-ASCII kept, indented by 2, a final newline."""
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, make_parents: bool = False) -> None:
    """Write ``obj`` to ``path`` as JSON (:func:`json_text`) atomically (:func:`atomic_write_bytes`)."""
    atomic_write_text(path, json_text(obj), make_parents=make_parents)


def write_text_unrenamed(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8 in place, with no temporary file: for a caller that writes
    its own temporary files and commits them together with ``os.replace`` (the TFRecord writer).
    The file gets the mode of ``open`` (:func:`file_mode`)."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def read_utf8_text(path: str | os.PathLike[str], error: type[Exception]) -> str:
    """Read a UTF-8 text file (a BOM is dropped).

    Raises:
        error: on invalid UTF-8, with the file, the 1-based line and the offending bytes.
        OSError: if the file cannot be read.
    """
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise error(f"{path}:{line}: not valid UTF-8 ({raw[e.start:e.end]!r})") from e


def read_versioned_json(path: str | os.PathLike[str], version: int, error: type[Exception],
                        missing: str) -> dict:
    """Read a JSON object file that carries a ``format_version`` (shadownet.json, metadata.json,
    export.json).

    Args:
        path: the file.
        version: the ``format_version`` this toolkit reads.
        error: the exception class raised.
        missing: the message when the file does not exist.

    Raises:
        error: if the file is missing, not UTF-8 JSON, not an object, or of another version; the
            message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise error(missing)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise error(f"{path}: not valid UTF-8 JSON ({e})") from None
    got = obj.get("format_version") if isinstance(obj, dict) else None
    if got != version:
        raise error(f"{path}: format_version {got!r}, this toolkit reads {version}")
    return obj
