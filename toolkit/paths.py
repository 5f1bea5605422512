"""Locations of the data bundled with the toolkit: the release model, fonts, corpus and char dict.

In a checkout of the repository, and in an editable install of one (``pip install -e .``), they are
the repository's top-level folders ``model/shadownet/``, ``fonts/``, ``corpora/`` and
``char_dict/``. A wheel (``pip install .``, ``python -m build``) carries copies of the same folders
as package data under ``toolkit/_bundled/`` (setup.py's ``build_py`` step copies them there). The
package data, found with :mod:`importlib.resources`, is used when it is there, else the checkout's
folders; so every default that uses them works from any working directory.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

BUNDLED_DATA = ("model/shadownet", "fonts", "corpora", "char_dict")
"""The bundled folders, relative to the repository root and to :data:`PACKAGE_DATA_DIR` (setup.py
reads this tuple to know what to copy into a built package)."""
PACKAGE_DATA_DIR = "_bundled"
"""Folder of the installed ``toolkit`` package that holds the bundled data in a wheel."""
REPO_ROOT = Path(__file__).resolve().parent.parent


def _data_root() -> Path:
    """``toolkit/_bundled`` of an installed package if it exists on the file system, else the
    root of the checkout this module is in."""
    installed = importlib.resources.files(__package__) / PACKAGE_DATA_DIR
    if isinstance(installed, Path) and installed.is_dir():
        return installed
    return REPO_ROOT


DATA_ROOT = _data_root()
"""Where the bundled folders are: the installed package data or the checkout."""
FONTS_DIR = DATA_ROOT / "fonts"
CORPORA_DIR = DATA_ROOT / "corpora"
CHAR_DICT_DIR = DATA_ROOT / "char_dict"


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            f"bundled {what} not found at {path}; install the toolkit from its wheel or from a "
            f"checkout of the repository ('pip install .' or 'pip install -e .'), or pass the "
            f"path explicitly"
        )
    return path


DEFAULT_CORPUS = "songci.txt"
MIX_CONFIG = "mix.json"


def bundled_corpus_files() -> list[Path]:
    """Return the default corpus: the bundled Song ci text ``corpora/songci.txt``, in a list.

    The other bundled sources (``corpora/poetry.txt``, ``corpora/modern.txt``, generated text)
    are mixed in through :func:`bundled_mix_config`.

    Raises:
        FileNotFoundError: if the repository's ``corpora/songci.txt`` is missing.
    """
    return [_require(CORPORA_DIR / DEFAULT_CORPUS, "corpus")]


def bundled_mix_config() -> Path:
    """Return the bundled corpus mix config ``corpora/mix.json`` (:func:`toolkit.corpus.read_mix_config`).

    Raises:
        FileNotFoundError: if it is missing.
    """
    return _require(CORPORA_DIR / MIX_CONFIG, "corpus mix config")


def bundled_font_dir() -> Path:
    """Return the bundled font library (``fonts/``): load it with :func:`toolkit.fonts.load_font_dir`
    for the training faces and their styles (``fonts/heldout/`` holds the held-out faces).

    Raises:
        FileNotFoundError: if the repository has no ``fonts/`` folder.
    """
    return _require(FONTS_DIR, "font directory")


def bundled_latin_font_dir() -> Path:
    """Return the bundled Latin text faces (``fonts/latin/``, style ``latin``): gen-images draws
    the ASCII chars of a line in one of them with ``SynthConfig.latin_face_prob``.

    Raises:
        FileNotFoundError: if the repository has no ``fonts/latin/`` folder.
    """
    return _require(FONTS_DIR / "latin", "Latin font directory")


def bundled_font_files() -> list[Path]:
    """Return the bundled plain OpenType font files (``fonts/*.otf`` and ``fonts/*.ttf``), sorted by
    name: the four Noto Sans/Serif SC faces. The rest of the library is WOFF2 (see
    :func:`bundled_font_dir`).

    Raises:
        FileNotFoundError: if the repository's ``fonts/`` holds no font file.
    """
    d = _require(FONTS_DIR, "font directory")
    files = sorted([*d.glob("*.otf"), *d.glob("*.ttf")])
    if not files:
        raise FileNotFoundError(f"no .otf/.ttf font in {FONTS_DIR}")
    return files


def bundled_char_dict_dir() -> Path:
    """Return the bundled char dict directory (``char_dict/``: ``chinese.txt`` and the three JSON
    maps of the bundled corpus).

    Raises:
        FileNotFoundError: if there is no bundled ``char_dict/``.
    """
    return _require(CHAR_DICT_DIR, "char dict directory")


MODEL_DIR = DATA_ROOT / "model" / "shadownet"


def bundled_model_dir() -> Path | None:
    """The bundled release model directory (``model/shadownet/``), or ``None`` if there is none."""
    return MODEL_DIR if (MODEL_DIR / "shadownet.json").exists() else None
