"""Build script: setup.cfg holds the metadata; this file adds the bundled data to built packages.

The repository keeps the bundled model, fonts, corpus and char dict in top-level folders (listed in
``toolkit.paths.BUNDLED_DATA``). ``build_py`` copies them into the built package as
``toolkit/_bundled/<folder>``, so a wheel carries them as package data; an editable install
(``pip install -e .``) copies nothing and reads them from the checkout.
"""

from __future__ import annotations

import ast
import fnmatch
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
JUNK = ("__pycache__", "*.py[cod]", ".*", "*~", "*.tmp", "*.swp")
"""Names never copied into the package: caches, hidden files, editor and partial-write leftovers."""


def bundled_folders() -> tuple[str, ...]:
    """``BUNDLED_DATA`` of toolkit/paths.py, read without importing the package.

    Raises:
        RuntimeError: if toolkit/paths.py has no literal ``BUNDLED_DATA`` assignment.
    """
    tree = ast.parse((HERE / "toolkit" / "paths.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "BUNDLED_DATA"):
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError("toolkit/paths.py defines no BUNDLED_DATA tuple")


def _is_junk(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in JUNK)


class BuildPyWithBundledData(build_py):
    """``build_py`` that also copies the bundled folders to ``<build_lib>/toolkit/_bundled/``."""

    def _bundled_files(self) -> list[tuple[Path, Path]]:
        """(source, target) pairs of every file to copy; raises FileNotFoundError if a bundled
        folder is missing from the source tree (a wheel without its model would be empty)."""
        target_root = Path(self.build_lib) / "toolkit" / "_bundled"
        pairs = []
        for folder in bundled_folders():
            source = HERE / folder
            if not source.is_dir():
                raise FileNotFoundError(f"bundled folder {source} is missing; a package built "
                                        f"without it would not work")
            for path in sorted(source.rglob("*")):
                rel = path.relative_to(HERE)
                if path.is_file() and not any(_is_junk(part) for part in rel.parts):
                    pairs.append((path, target_root / rel))
        return pairs

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        shutil.rmtree(Path(self.build_lib) / "toolkit" / "_bundled", ignore_errors=True)
        for source, target in self._bundled_files():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(target) for _, target in self._bundled_files()]


setup(cmdclass={"build_py": BuildPyWithBundledData})
