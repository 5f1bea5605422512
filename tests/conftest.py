"""Shared fixtures: a tiny font, a tiny corpus, and a tiny dataset / record set / model built once
per test session (10-odd chars, 32 px lines, the ``tiny`` ShadowNet); and ``load_tool``, which
imports a script of ``tools/`` as a module."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = Path(__file__).parent / "data"
TOOLS = Path(__file__).resolve().parent.parent / "tools"
TINY_FONT = DATA / "tiny_cjk.otf"
TINY_CHARS = "春风明月天人山水花云江河"
TINY_LINES = [
    "春风明月天", "人山水花云", "江河明月", "天人花云水", "明月春风", "山水江河",
    "花云天人", "风月江山", "水天明", "河山春月花", "云水人天", "月明风春山",
]


@pytest.fixture(scope="session")
def load_tool():
    """A function ``name -> module`` that imports ``tools/NAME.py`` (as ``crnn_tool_NAME``, listed
    in ``sys.modules`` so that dataclasses and pickling find it); the modules are dropped from
    ``sys.modules`` at the end of the session."""
    loaded = []

    def load(name: str):
        module_name = f"crnn_tool_{name}"
        if module_name in sys.modules:
            return sys.modules[module_name]
        spec = importlib.util.spec_from_file_location(module_name, TOOLS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        loaded.append(module_name)
        return module

    yield load
    for module_name in loaded:
        sys.modules.pop(module_name, None)


@pytest.fixture(autouse=True)
def _toolkit_logs_reach_caplog():
    """The CLI stops ``toolkit`` logs propagating to the root logger; undo that between tests."""
    import logging

    yield
    logging.getLogger("toolkit").propagate = True


@pytest.fixture(scope="session")
def tiny_font() -> Path:
    return TINY_FONT


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    p.write_text("\n".join(TINY_LINES) + "\n", encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, tiny_corpus, tiny_font) -> Path:
    """A gen-images output: ~150 lines of 2-5 chars."""
    from toolkit.synth import SynthConfig, gen_images

    out = tmp_path_factory.mktemp("ds") / "data"
    gen_images([tiny_corpus], [str(tiny_font)], out, 150, seed=1, workers=1,
               config=SynthConfig(min_chars=2, max_chars=5, test_fraction=0.2), progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_char_dict(tmp_path_factory, tiny_dataset) -> Path:
    from toolkit.charset import build_char_dict

    out = tmp_path_factory.mktemp("cd") / "char_dict"
    build_char_dict(tiny_dataset / "chinese.txt", out)
    return out


@pytest.fixture(scope="session")
def tiny_records(tmp_path_factory, tiny_dataset, tiny_char_dict) -> Path:
    from toolkit.records import write_tfrecords

    out = tmp_path_factory.mktemp("rec") / "tfrecords"
    write_tfrecords(tiny_dataset, tiny_char_dict, out, validation_fraction=0.15, shard_size=50,
                    progress=False)
    return out


TINY_TRAIN = dict(batch_size=8, warmup_steps=5, learning_rate=3e-3, checkpoint_every=5,
                  eval_every=1000, eval_batches=2, shuffle_buffer=200)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_records, tiny_char_dict) -> Path:
    """A tiny ShadowNet trained 10 steps: a model directory."""
    from toolkit.train import TrainConfig, train

    out = tmp_path_factory.mktemp("model") / "model"
    train(tiny_records, tiny_char_dict, out, config=TrainConfig(steps=10, **TINY_TRAIN),
          model_preset="tiny", progress=False)
    return out
