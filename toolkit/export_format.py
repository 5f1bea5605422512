"""The export format, as readers see it: where an exported model keeps its description
(``export.json`` inside a SavedModel directory, ``<name>.export.json`` beside a ``.tflite`` file),
how it is read (:func:`read_export_info`), which kind of model a path holds (:func:`export_kind`)
and the error both sides raise. The writer is :mod:`toolkit.export`; the readers are the
backends (:mod:`toolkit.backends`).
"""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.charset import Charset
from toolkit.io import read_versioned_json

EXPORT_JSON = "export.json"
"""Name of the description written inside a SavedModel directory."""
TFLITE_JSON_SUFFIX = ".export.json"
"""``model.tflite`` is described by ``model.export.json`` beside it."""
CHAR_DICT_DIR = "char_dict"
FORMAT_VERSION = 1


class ExportError(ValueError):
    """An export that cannot be made or an exported model that cannot be read."""


def tflite_json_path(tflite_path: str | os.PathLike) -> Path:
    """``dir/name.tflite`` -> ``dir/name.export.json``."""
    p = Path(tflite_path)
    return p.with_name(p.stem + TFLITE_JSON_SUFFIX)


def export_kind(weights_path: str | os.PathLike) -> str:
    """``saved_model`` (a directory holding ``saved_model.pb``), ``tflite`` (a ``.tflite`` path)
    or ``keras`` (anything else: a model directory or checkpoint): what
    :func:`toolkit.backends.open_backend` will load."""
    p = Path(weights_path)
    if p.is_dir() and (p / "saved_model.pb").exists():
        return "saved_model"
    if p.suffix == ".tflite":
        return "tflite"
    return "keras"


def read_export_info(path: str | os.PathLike) -> dict:
    """Read the ``export.json`` of a SavedModel directory or the ``.export.json`` of a ``.tflite``.

    Raises:
        ExportError: if it is missing, of another format version, or its charset hash is wrong.
    """
    p = Path(path)
    j = p / EXPORT_JSON if p.is_dir() else tflite_json_path(p)
    info = read_versioned_json(j, FORMAT_VERSION, ExportError,
                               f"{j} not found: {p} was not written by crnn-toolkit export (its "
                               f"charset is unknown)")
    info["charset"] = Charset.from_json(info["charset"])
    return info
