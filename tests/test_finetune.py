"""Fine-tuning (train-shadownet --init-from): the classifier mapped by char, every other layer
copied, the refusals, --freeze cnn, the record in shadownet.json, resume and export of a fine-tuned
model. The source is the session's tiny model (tests/conftest.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TINY_TRAIN

from toolkit.charset import Charset
from toolkit.checkpoints import (
    FINETUNE_LEARNING_RATE,
    FINETUNE_WARMUP_STEPS,
    CheckpointError,
    FineTuneSource,
    freeze_stages,
    latest_checkpoint,
    load_model,
    map_classes,
    transfer_weights,
)
from toolkit.cli import main
from toolkit.model import ModelConfig, build_shadownet
from toolkit.train import TrainConfig, train

EXTRA = "雪雨霜"  # chars the tiny model has never seen


@pytest.fixture(scope="module")
def source(tiny_model):
    model, spec, _ = load_model(tiny_model)
    return model, spec.charset


def _grown(cs: Charset) -> Charset:
    return Charset.from_chars([c for c in cs.chars if c != " "] + list(EXTRA))


def _shrunk(cs: Charset) -> Charset:
    return Charset.from_chars([c for c in cs.chars[3:] if c != " "])


def _reordered(cs: Charset) -> Charset:
    return Charset(tuple(reversed(cs.chars)))


def _transfer(source, target_charset, **kwargs):
    model, charset = source
    target = build_shadownet(ModelConfig.from_preset("tiny", target_charset.num_classes))
    report = transfer_weights(model, charset, target, target_charset, **kwargs)
    return target, report


def _classifier(model):
    return model.get_layer("logits").get_weights()


@pytest.mark.parametrize("change", [_grown, _shrunk, _reordered])
def test_classifier_rows_follow_their_char(source, change):
    model, cs = source
    target_cs = change(cs)
    target, report = _transfer(source, target_cs)
    kernel, bias = _classifier(model)
    new_kernel, new_bias = _classifier(target)
    assert new_kernel.shape == (kernel.shape[0], target_cs.num_classes)
    assert new_bias.shape == (target_cs.num_classes,)
    for c in target_cs.chars:
        i = target_cs.encode(c)[0]
        if c in cs:
            j = cs.encode(c)[0]
            np.testing.assert_array_equal(new_kernel[:, i], kernel[:, j], err_msg=repr(c))
            assert new_bias[i] == bias[j]
    # The blank to the blank, the space to the space.
    np.testing.assert_array_equal(new_kernel[:, target_cs.blank_index], kernel[:, cs.blank_index])
    np.testing.assert_array_equal(new_kernel[:, target_cs.space_index], kernel[:, cs.space_index])
    # Dropped chars leave no column behind.
    dropped = set(cs.chars) - set(target_cs.chars)
    assert set(report.mapping.dropped) == dropped
    for c in dropped:
        column = kernel[:, cs.encode(c)[0]]
        assert not any(np.array_equal(column, new_kernel[:, k]) for k in range(new_kernel.shape[1]))
    assert len(report.mapping.kept) + len(report.mapping.added) == len(target_cs)
    # Every other layer is copied as it is.
    for layer in model.layers:
        if layer.weights and layer.name != "logits":
            for a, b in zip(layer.get_weights(), target.get_layer(layer.name).get_weights(), strict=True):
                np.testing.assert_array_equal(a, b, err_msg=layer.name)


def test_new_chars_start_as_the_average_char(source):
    model, cs = source
    target_cs = _grown(cs)
    target, report = _transfer(source, target_cs)
    kernel, bias = _classifier(model)
    new_kernel, new_bias = _classifier(target)
    new = [target_cs.encode(c)[0] for c in EXTRA]
    assert report.mapping.added == tuple(EXTRA) and report.new_rows == "mean"
    assert new_kernel[:, new].shape == (kernel.shape[0], len(EXTRA))
    for i in new:
        np.testing.assert_allclose(new_kernel[:, i], kernel[:, :cs.blank_index].mean(1), rtol=1e-5)
    np.testing.assert_allclose(new_bias[new], bias[:cs.blank_index].mean(), rtol=1e-5)
    # So a new char's logit is the mean of the source chars' logits at every time step.
    line = np.random.default_rng(1).random((1, 32, 64, 1)).astype(np.float32)
    before, after = model(line).numpy(), target(line).numpy()
    for i in new:
        np.testing.assert_allclose(after[..., i], before[..., :cs.blank_index].mean(-1), atol=1e-4)


def test_fresh_new_rows_keep_the_target_initialisation(source):
    model, cs = source
    target_cs = _grown(cs)
    target = build_shadownet(ModelConfig.from_preset("tiny", target_cs.num_classes))
    initial_kernel, initial_bias = _classifier(target)
    transfer_weights(model, cs, target, target_cs, new_rows="fresh")
    new_kernel, new_bias = _classifier(target)
    new = [target_cs.encode(c)[0] for c in EXTRA]
    np.testing.assert_array_equal(new_kernel[:, new], initial_kernel[:, new])
    np.testing.assert_array_equal(new_bias[new], initial_bias[new])
    with pytest.raises(ValueError, match="new_rows must be one of"):
        transfer_weights(model, cs, target, target_cs, new_rows="random")


def test_a_grown_charset_keeps_the_logits_of_shared_chars(source):
    model, cs = source
    target_cs = _grown(cs)
    target, _ = _transfer(source, target_cs)
    line = np.random.default_rng(0).random((2, 32, 64, 1)).astype(np.float32)
    before = model(line).numpy()
    after = target(line).numpy()
    shared = [target_cs.encode(c)[0] for c in cs.chars] + [target_cs.blank_index]
    np.testing.assert_allclose(after[..., shared], before, rtol=1e-5, atol=1e-5)


def test_map_classes_counts():
    source = Charset.from_chars("abc")
    target = Charset.from_chars("cbxd")
    m = map_classes(source, target)
    assert m.kept == ("c", "b", " ") and m.added == ("x", "d") and m.dropped == ("a",)
    assert m.source_index == (2, 1, -1, -1, 3, 4)  # c, b, x, d, space, blank
    assert m.format() == "kept 3 chars, added 2 ('x' 'd'), dropped 1"


def test_transfer_refuses_another_size_or_another_network(source):
    import keras

    model, cs = source
    small = build_shadownet(ModelConfig.from_preset("small", cs.num_classes))
    with pytest.raises(CheckpointError, match="another size"):
        transfer_weights(model, cs, small, cs)
    x = keras.Input((32, None, 1))
    other = keras.Model(x, keras.layers.Dense(cs.num_classes, name="logits")(x), name="other")
    with pytest.raises(CheckpointError, match="source model 'other' is not a ShadowNet"):
        transfer_weights(other, cs, small, cs)
    with pytest.raises(CheckpointError, match="classifier has .* classes but its charset has"):
        transfer_weights(model, _grown(cs), small, cs)


@pytest.fixture(scope="module")
def grown_char_dict(tmp_path_factory, tiny_char_dict):
    out = tmp_path_factory.mktemp("grown") / "char_dict"
    _grown(Charset.load(tiny_char_dict)).save(out)
    return out


@pytest.fixture(scope="module")
def grown_records(tmp_path_factory, tiny_dataset, grown_char_dict):
    from toolkit.records import write_tfrecords

    out = tmp_path_factory.mktemp("grown_rec") / "tfrecords"
    write_tfrecords(tiny_dataset, grown_char_dict, out, validation_fraction=0.15, shard_size=50,
                    progress=False)
    return out


def test_open_refuses_bad_sources(tmp_path, tiny_model, grown_char_dict, monkeypatch):
    from toolkit import paths

    cs = Charset.load(grown_char_dict)
    with pytest.raises(CheckpointError, match=r"ShadowNet of preset 'tiny', not of the requested "
                                              r"preset 'small'"):
        FineTuneSource.open(tiny_model, cs, model_preset="small")
    assert FineTuneSource.open(tiny_model, cs, model_preset="tiny").model_config.num_classes \
        == cs.num_classes
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a ShadowNet model directory or checkpoint"):
        FineTuneSource.open(tmp_path / "empty", cs)
    exported = tmp_path / "sm"
    exported.mkdir()
    (exported / "export.json").write_text("{}")
    with pytest.raises(CheckpointError, match="is an exported model"):
        FineTuneSource.open(exported, cs)
    with pytest.raises(CheckpointError, match="is an exported model"):
        FineTuneSource.open(tmp_path / "crnn.tflite", cs)
    monkeypatch.setattr(paths, "bundled_model_dir", lambda: None)
    with pytest.raises(CheckpointError, match="no bundled model"):
        FineTuneSource.open("bundled", cs)


def test_bundled_source_resolves_to_the_release_model():
    from toolkit.paths import bundled_model_dir

    if bundled_model_dir() is None:
        pytest.skip("no bundled model in this checkout")
    bundled = Charset.load(bundled_model_dir() / "char_dict")
    # Chars the bundled charset lacks, whatever release is bundled: the first ten that are not in it.
    missing = [c for c in map(chr, range(0x4E00, 0xA000)) if c not in bundled][:10]
    assert len(missing) == 10 and "春" in bundled and "风" in bundled
    cs = Charset.from_chars("春风" + "".join(missing))
    src = FineTuneSource.open("bundled", cs)
    assert src.spec.model_dir == bundled_model_dir()
    assert src.model_config.num_classes == cs.num_classes
    assert src.model_config.channels == src.spec.model_config.channels
    assert src.mapping.added == tuple(missing) and len(src.mapping.kept) == 3


def test_a_checkpoint_of_another_network_is_refused(tmp_path, tiny_model, grown_char_dict):
    import shutil

    import tensorflow as tf

    from toolkit.checkpoints import CHECKPOINT_DIR

    # A shadownet.json beside a checkpoint that holds some other network's variables.
    fake = tmp_path / "fake"
    shutil.copytree(tiny_model, fake, ignore=shutil.ignore_patterns(CHECKPOINT_DIR))
    ckpt = tf.train.Checkpoint(model=tf.Module())
    ckpt.model.w = tf.Variable(np.zeros((3, 3), np.float32))
    tf.train.CheckpointManager(ckpt, fake / CHECKPOINT_DIR, max_to_keep=1).save(checkpoint_number=1)
    source = FineTuneSource.open(fake, Charset.load(grown_char_dict))
    target = build_shadownet(source.model_config)
    with pytest.raises(CheckpointError, match="does not match the model"):
        source.apply(target, Charset.load(grown_char_dict))


def test_finetune_records_its_source_and_resumes(tmp_path, tiny_model, tiny_char_dict,
                                                 grown_records, grown_char_dict):
    md = tmp_path / "ft"
    r1 = train(grown_records, grown_char_dict, md, init_from=tiny_model, progress=False,
               config=TrainConfig(steps=3, **TINY_TRAIN))
    assert r1.step == 3 and r1.resumed_from is None  # a fresh step counter and optimizer
    assert r1.finetune.mapping.added == tuple(EXTRA)
    saved = json.loads((md / "shadownet.json").read_text(encoding="utf-8"))
    source_cs = Charset.load(tiny_char_dict)
    assert saved["init_from"]["charset_sha256"] == source_cs.sha256
    assert saved["init_from"]["path"] == str(tiny_model)
    assert (saved["init_from"]["kept"], saved["init_from"]["added"],
            saved["init_from"]["dropped"]) == (len(source_cs), 3, 0)
    assert saved["model"]["channels"] == json.loads(
        (tiny_model / "shadownet.json").read_text(encoding="utf-8"))["model"]["channels"]
    # An ordinary resume, with or without init_from given again; the record stays.
    r2 = train(grown_records, grown_char_dict, md, progress=False,
               config=TrainConfig(steps=5, **TINY_TRAIN))
    assert r2.step == 5 and r2.resumed_from.endswith("ckpt-3") and r2.finetune is None
    r3 = train(grown_records, grown_char_dict, md, init_from=tiny_model, progress=False,
               config=TrainConfig(steps=6, **TINY_TRAIN))
    assert r3.step == 6 and r3.resumed_from.endswith("ckpt-5")
    assert json.loads((md / "shadownet.json").read_text(encoding="utf-8"))["init_from"] \
        == saved["init_from"]
    with pytest.raises(ValueError, match="not both"):
        train(grown_records, grown_char_dict, tmp_path / "x", weights_path=md,
              init_from=tiny_model, progress=False, config=TrainConfig(steps=1, **TINY_TRAIN))


def test_freeze_cnn_keeps_the_cnn_fixed(tmp_path, tiny_model, grown_records, grown_char_dict):
    md = tmp_path / "frozen"
    train(grown_records, grown_char_dict, md, init_from=tiny_model, progress=False,
          config=TrainConfig(steps=1, freeze=("cnn",), **{**TINY_TRAIN, "learning_rate": 1e-2,
                                                          "warmup_steps": 0}))
    source, _, _ = load_model(tiny_model)
    tuned, spec, _ = load_model(md)
    assert spec.train["freeze"] == ["cnn"]
    for layer in source.layers:
        if not layer.weights:
            continue
        same = all(np.array_equal(a, b) for a, b in
                   zip(layer.get_weights(), tuned.get_layer(layer.name).get_weights(), strict=True))
        if layer.name.startswith("cnn_"):
            assert same, layer.name  # batch-norm moving statistics included
        elif layer.name.startswith("bilstm_"):
            assert not same, layer.name
    # On resume the saved stages are kept, and the run goes on (same optimizer variables).
    r = train(grown_records, grown_char_dict, md, progress=False,
              config=TrainConfig(steps=2, **TINY_TRAIN))
    assert r.step == 2
    again, _, _ = load_model(md)
    for layer in source.layers:
        if layer.name.startswith("cnn_") and layer.weights:
            for a, b in zip(layer.get_weights(), again.get_layer(layer.name).get_weights(), strict=True):
                np.testing.assert_array_equal(a, b)


def test_freeze_stages_errors():
    model = build_shadownet(ModelConfig.from_preset("tiny", 5))
    frozen = freeze_stages(model, ["cnn"])
    assert "cnn_1_conv" in frozen and "cnn_5_bn" in frozen and "bilstm_1" not in frozen
    assert all(not v.trainable for layer in model.layers if layer.name.startswith("cnn_")
               for v in layer.weights)
    with pytest.raises(ValueError, match="cannot freeze 'bilstm'"):
        freeze_stages(model, ["bilstm"])
    with pytest.raises(ValueError, match="unknown stage 'lstm'"):
        TrainConfig(freeze=("lstm",))


def test_cli_finetune_prints_counts_and_exports(tmp_path, tiny_model, grown_records,
                                                grown_char_dict):
    runner = CliRunner()
    md = tmp_path / "ft"
    r = runner.invoke(main, ["train-shadownet", "--dataset-dir", str(grown_records),
                             "--char-dict-dir", str(grown_char_dict), "--model-dir", str(md),
                             "--init-from", str(tiny_model), "--steps", "2", "--batch-size", "4",
                             "--freeze", "cnn", "--eval-every", "1000"])
    assert r.exit_code == 0, r.output
    kept = len(Charset.load(tiny_model / "char_dict"))
    assert f"kept {kept} chars, added 3 ('雪' '雨' '霜'), dropped 0" in r.output
    saved = json.loads((md / "shadownet.json").read_text(encoding="utf-8"))
    assert saved["train"]["learning_rate"] == FINETUNE_LEARNING_RATE
    assert saved["train"]["warmup_steps"] == FINETUNE_WARMUP_STEPS
    help_text = " ".join(runner.invoke(main, ["train-shadownet", "--help"]).output.split())
    assert f"{FINETUNE_LEARNING_RATE:g} with --init-from" in help_text
    assert f"{FINETUNE_WARMUP_STEPS} with --init-from" in help_text
    r = runner.invoke(main, ["train-shadownet", "--dataset-dir", str(grown_records),
                             "--char-dict-dir", str(grown_char_dict), "--model-dir", str(md / "x"),
                             "--init-from", str(tiny_model), "--model-size", "small",
                             "--steps", "2"])
    assert r.exit_code == 1 and "not of the requested preset 'small'" in r.output
    # A fine-tuned model exports and reads like any other.
    from toolkit.backends import SavedModelBackend
    from toolkit.predict import Recognizer

    out = tmp_path / "sm"
    r = runner.invoke(main, ["export", "--weights-path", str(md), "--format", "saved_model",
                             "--output", str(out)])
    assert r.exit_code == 0, r.output
    backend = SavedModelBackend(out)
    assert backend.charset == Charset.load(grown_char_dict)
    line = np.random.default_rng(1).integers(0, 255, (32, 96), dtype=np.uint8)
    keras_text = Recognizer.from_weights(md).recognize([line])[0][0]
    assert Recognizer.from_weights(out).recognize([line])[0][0] == keras_text
    assert latest_checkpoint(md).endswith("ckpt-2")
