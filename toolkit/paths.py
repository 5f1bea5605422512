"""Locations of the data bundled with the repository (corpus, fonts, char dict).

The bundled data lives at the top of the repository, beside the package, so it is found when the
toolkit is installed in editable mode (``pip install -e .``), as the README does.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FONTS_DIR = REPO_ROOT / "fonts"
CORPORA_DIR = REPO_ROOT / "corpora"
CHAR_DICT_DIR = REPO_ROOT / "char_dict"


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            f"bundled {what} not found at {path}; install the toolkit from a checkout of the "
            f"repository with 'pip install -e .', or pass the path explicitly"
        )
    return path


def bundled_corpus_files() -> list[Path]:
    """Return the bundled corpus text files (``corpora/*.txt``), sorted by name.

    Raises:
        FileNotFoundError: if the repository's ``corpora/`` holds no ``.txt`` file.
    """
    files = sorted(_require(CORPORA_DIR, "corpus directory").glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no corpus .txt file in {CORPORA_DIR}")
    return files


def bundled_font_dir() -> Path:
    """Return the bundled font library (``fonts/``): load it with :func:`toolkit.fonts.load_font_dir`
    for the training faces and their styles (``fonts/heldout/`` holds the held-out faces).

    Raises:
        FileNotFoundError: if the repository has no ``fonts/`` folder.
    """
    return _require(FONTS_DIR, "font directory")


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


MODEL_DIR = REPO_ROOT / "model" / "shadownet"


def bundled_model_dir() -> Path | None:
    """The bundled release model directory (``model/shadownet/``), or ``None`` if there is none."""
    return MODEL_DIR if (MODEL_DIR / "shadownet.json").exists() else None
