"""The package as a user installs it: a wheel built from the checkout carries the bundled model,
fonts, corpus and char dict, and, installed into a fresh virtual environment, reads a line and
renders images from any directory; an editable install reads the checkout's folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import toolkit
from toolkit.paths import BUNDLED_DATA, PACKAGE_DATA_DIR

REPO = Path(__file__).resolve().parent.parent
LINE_TEXT = "春风又绿江南岸"


def _checkout_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files of the checkout, as git lists them."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to know which files are the source")
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, check=True)
    return [f for f in out.stdout.decode().split("\0") if f and (REPO / f).is_file()]


def _user_env() -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH pointing at the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}


def _run(args, cwd, **kwargs):
    out = subprocess.run([str(a) for a in args], cwd=cwd, env=_user_env(), capture_output=True,
                         text=True, check=False, **kwargs)
    assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
    return out


def _venv(path: Path) -> Path:
    """A virtual environment seeing this interpreter's packages (TensorFlow is not installed
    again); its own pip is this one's. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(path)], check=True)
    return path / ("Scripts" if os.name == "nt" else "bin") / "python"


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> tuple[Path, list[str]]:
    """A copy of the checkout's source files (no build leftovers, caches or generated data)."""
    files = _checkout_files()
    src = tmp_path_factory.mktemp("src") / "crnn-toolkit"
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, src / f)
    return src, files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, source_copy) -> Path:
    src, _ = source_copy
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-q", "-w", dist, src], cwd=src)
    (whl,) = dist.glob("crnn_toolkit-*.whl")
    return whl


def test_wheel_carries_the_bundled_data_and_no_junk(wheel, source_copy):
    _, files = source_copy
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = {f for f in files if any(f.startswith(folder + "/") for folder in BUNDLED_DATA)}
    assert any(f.startswith("fonts/") and f.endswith(".txt") for f in bundled)  # a licence
    assert any(f.startswith("model/shadownet/checkpoints/") for f in bundled)
    expected = {f"toolkit/{PACKAGE_DATA_DIR}/{f}" for f in bundled}
    assert expected <= names, sorted(expected - names)
    in_package = {n for n in names if n.startswith(f"toolkit/{PACKAGE_DATA_DIR}/")}
    assert in_package == expected, sorted(in_package - expected)  # nothing but the source's
    modules = {f"{f}" for f in files if f.startswith("toolkit/") and f.endswith(".py")}
    assert modules <= names
    junk = [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))
            or not (n.startswith("toolkit/") or ".dist-info/" in n)]
    assert not junk, junk


def test_installed_wheel_works_from_any_directory(tmp_path, wheel):
    from PIL import Image, ImageDraw, ImageFont

    python = _venv(tmp_path / "venv")
    _run([python, "-m", "pip", "install", "--no-deps", "--ignore-installed", "--no-index", "-q",
          wheel], cwd=tmp_path)
    scripts = python.parent
    work = tmp_path / "somewhere"
    work.mkdir()
    show = "import toolkit, toolkit.paths as p; print(toolkit.__file__); print(p.DATA_ROOT)"
    out = _run([python, "-c", show], cwd=work)
    module, data_root = out.stdout.split()
    venv = str(tmp_path / "venv")
    assert module.startswith(venv) and data_root.startswith(venv)  # not the checkout
    out = _run([scripts / "crnn-toolkit", "--version"], cwd=work)
    assert out.stdout.strip() == f"crnn-toolkit, version {toolkit.__version__}"

    font = ImageFont.truetype(str(REPO / "fonts" / "NotoSansSC-Regular.otf"), 28)
    line = Image.new("L", (210, 40), 255)
    ImageDraw.Draw(line).text((6, 2), LINE_TEXT, font=font, fill=0)
    line.save(work / "line.png")
    out = _run([scripts / "crnn-toolkit", "demo", "--image-path", "line.png"], cwd=work)
    path, text, confidence = out.stdout.strip().split("\t")
    assert (path, text) == ("line.png", LINE_TEXT) and float(confidence) > 0.5
    assert f"{data_root}/model/shadownet" in out.stderr  # the bundled model of the wheel

    _run([scripts / "crnn-toolkit", "gen-images", "--output-dir", "data", "--num-images", 3,
          "--max-chars", 6], cwd=work)
    samples = (work / "data" / "Train" / "sample.txt").read_text(encoding="utf-8").splitlines()
    samples += (work / "data" / "Test" / "sample.txt").read_text(encoding="utf-8").splitlines()
    assert len(samples) == 3 and all((work / "data" / s.split(" ")[0]).is_file() for s in samples)
    assert data_root in (work / "data" / "gen_config.json").read_text(encoding="utf-8")


def test_editable_install_reads_the_checkout(tmp_path, source_copy):
    src, _ = source_copy
    python = _venv(tmp_path / "venv")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-e", src], cwd=src)
    show = "import toolkit.paths as p; print(p.DATA_ROOT); print(p.bundled_model_dir())"
    out = _run([python, "-c", show], cwd=tmp_path)
    data_root, model_dir = out.stdout.split()
    assert Path(data_root) == src and Path(model_dir) == src / "model" / "shadownet"
    assert not (src / "toolkit" / PACKAGE_DATA_DIR).exists()  # nothing copied into the source
