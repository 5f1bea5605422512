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


def bundled_font_files() -> list[Path]:
    """Return the bundled font files (``fonts/*.otf`` and ``fonts/*.ttf``), sorted by name.

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
