import numpy as np
import pytest
from conftest import TINY_TRAIN

from toolkit import preprocess
from toolkit.charset import Charset
from toolkit.checkpoints import CheckpointError, latest_checkpoint, load_model
from toolkit.model import ModelConfig, build_shadownet, masked_forward
from toolkit.train import TrainConfig, train


@pytest.mark.parametrize("width", [8, 40, 64, 100, 280])
def test_time_steps_are_width_over_4(width):
    model = build_shadownet(ModelConfig.from_preset("tiny", num_classes=13))
    logits = model(np.zeros((2, 32, width, 1), np.float32))
    assert tuple(logits.shape) == (2, width // 4, 13)
    assert logits.dtype == "float32"
    assert preprocess.time_steps(width, 32) == width // 4


def test_model_stage_names():
    model = build_shadownet(ModelConfig.from_preset("tiny", num_classes=5))
    names = [layer.name for layer in model.layers]
    assert "map_to_sequence" in names and "bilstm_1" in names and names[-1] == "logits"


def test_bad_model_config_names_field():
    with pytest.raises(ValueError, match=r"channels must be 7 positive ints, got \(1, 2\)"):
        ModelConfig(num_classes=5, channels=(1, 2))
    with pytest.raises(ValueError, match="unknown model preset 'huge'"):
        ModelConfig.from_preset("huge", 5)


@pytest.mark.parametrize("blank", [6, 0])
def test_ctc_loss_equals_the_dense_label_ctc_loss(blank):
    import tensorflow as tf

    from toolkit.train import ctc_loss

    rng = np.random.default_rng(3)
    classes, steps = 7, 9
    others = [c for c in range(classes) if c != blank]
    labels = np.full((4, 5), -1, np.int32)
    lengths = np.array([5, 1, 3, 2], np.int32)
    for i, n in enumerate(lengths):
        labels[i, :n] = rng.choice(others, n)
    labels[0, :3] = [others[0], others[0], others[1]]  # class 0 (or 1) and a repeat: 2 more steps
    logit_length = tf.constant([9, 4, 7, 9], tf.int32)
    logits = tf.constant(rng.normal(0, 2, (4, steps, classes)), tf.float32)
    results = []
    for sparse in (True, False):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            if sparse:
                loss = ctc_loss(tf.constant(labels), tf.constant(lengths), logits, logit_length, blank)
            else:
                loss = tf.nn.ctc_loss(tf.constant(labels), logits, tf.constant(lengths), logit_length,
                                      logits_time_major=False, blank_index=blank)
            total = tf.reduce_sum(loss)
        results.append((loss.numpy(), tape.gradient(total, logits).numpy()))
    (loss, grad), (dense_loss, dense_grad) = results
    assert loss.shape == (4,) and np.all(loss > 0)
    np.testing.assert_allclose(loss, dense_loss, rtol=1e-5)
    np.testing.assert_allclose(grad, dense_grad, atol=1e-5)
    assert np.all(grad[1, 4:] == 0)  # past the line's time steps: no gradient


def _batch_loss(model, records, blank):
    import tensorflow as tf

    from toolkit.records import make_dataset

    batch = next(iter(make_dataset(records, "train", 16, training=False)))
    logits = model(batch["images"], training=False)
    return float(tf.reduce_mean(tf.nn.ctc_loss(
        batch["labels"], logits, batch["label_length"], batch["widths"] // 4,
        logits_time_major=False, blank_index=blank)))


def test_ctc_loss_goes_down(tmp_path, tiny_records, tiny_char_dict):
    cs = Charset.load(tiny_char_dict)
    train(tiny_records, tiny_char_dict, tmp_path / "m", model_preset="tiny", progress=False,
          config=TrainConfig(steps=1, **TINY_TRAIN))
    before = _batch_loss(load_model(tmp_path / "m")[0], tiny_records, cs.blank_index)
    train(tiny_records, tiny_char_dict, tmp_path / "m", progress=False,
          config=TrainConfig(steps=120, **TINY_TRAIN))  # 60 left too thin a margin (0.64-0.76)
    after = _batch_loss(load_model(tmp_path / "m")[0], tiny_records, cs.blank_index)
    assert after < 0.7 * before, (before, after)


def _weights(model_dir):
    model = load_model(model_dir)[0]
    return [w.copy() for w in model.get_weights()]


def test_resume_continues_at_same_step_with_same_weights(tmp_path, tiny_records, tiny_char_dict):
    import tensorflow as tf

    md = tmp_path / "m"
    r1 = train(tiny_records, tiny_char_dict, md, model_preset="tiny", progress=False,
               config=TrainConfig(steps=10, **TINY_TRAIN))
    assert r1.step == 10 and r1.resumed_from is None
    saved = _weights(md)
    # Asking for the step it already has trains nothing and changes nothing.
    r2 = train(tiny_records, tiny_char_dict, md, progress=False,
               config=TrainConfig(steps=10, **TINY_TRAIN))
    assert r2.step == 10 and r2.resumed_from.endswith("ckpt-10")
    for a, b in zip(saved, _weights(md)):
        np.testing.assert_array_equal(a, b)
    # The optimizer state (Adam moments, step) is in the checkpoint.
    reader = tf.train.load_checkpoint(latest_checkpoint(md))
    keys = reader.get_variable_to_shape_map()
    assert any("optimizer" in k for k in keys)
    r3 = train(tiny_records, tiny_char_dict, md, progress=False,
               config=TrainConfig(steps=15, **TINY_TRAIN))
    assert r3.step == 15 and r3.resumed_from.endswith("ckpt-10")
    assert latest_checkpoint(md).endswith("ckpt-15")
    # --weights-path into a new model dir continues from that checkpoint's step.
    r4 = train(tiny_records, tiny_char_dict, tmp_path / "m2", weights_path=md / "checkpoints" / "ckpt-10",
               progress=False, config=TrainConfig(steps=12, **TINY_TRAIN))
    assert r4.step == 12 and r4.resumed_from.endswith("ckpt-10")


def test_time_limit_stops_with_a_checkpoint_and_resumes(tmp_path, tiny_records, tiny_char_dict):
    md = tmp_path / "m"
    with pytest.raises(ValueError, match="time_limit must be > 0"):
        train(tiny_records, tiny_char_dict, md, model_preset="tiny", progress=False,
              config=TrainConfig(steps=50, **TINY_TRAIN), time_limit=0)
    r1 = train(tiny_records, tiny_char_dict, md, model_preset="tiny", progress=False,
               config=TrainConfig(steps=50, **TINY_TRAIN), time_limit=1e-6)
    assert r1.step == 1  # the limit was past before the first step ended: one step, saved
    assert latest_checkpoint(md).endswith("ckpt-1") and r1.checkpoint.endswith("ckpt-1")
    r2 = train(tiny_records, tiny_char_dict, md, progress=False,
               config=TrainConfig(steps=4, **TINY_TRAIN), time_limit=3600)
    assert r2.step == 4 and r2.resumed_from.endswith("ckpt-1")


def test_checkpoint_with_other_char_dict_refused(tmp_path, tiny_model, tiny_records):
    from toolkit.records import DatasetError

    other = tmp_path / "cd"
    Charset.from_chars("春风明月天人山水花云江河雪").save(other)
    with pytest.raises((CheckpointError, DatasetError), match="another char dict"):
        train(tiny_records, other, tiny_model, progress=False,
              config=TrainConfig(steps=20, **TINY_TRAIN))


def test_resume_with_other_model_size_refused(tiny_model, tiny_records, tiny_char_dict):
    with pytest.raises(CheckpointError, match="not the requested preset 'small'"):
        train(tiny_records, tiny_char_dict, tiny_model, model_preset="small", progress=False,
              config=TrainConfig(steps=20, **TINY_TRAIN))


def test_save_load_same_logits(tiny_model):
    a, spec, _ = load_model(tiny_model)
    b, _, _ = load_model(tiny_model / "checkpoints")
    x = np.random.default_rng(0).random((2, 32, 48, 1)).astype(np.float32)
    np.testing.assert_allclose(a(x).numpy(), b(x).numpy(), rtol=1e-6)
    assert spec.model_config.num_classes == spec.charset.num_classes


def test_masked_forward_reads_a_line_the_same_however_its_batch_is_padded(tiny_model):
    model, _, _ = load_model(tiny_model)
    forward = masked_forward(model)
    line = np.random.default_rng(2).random((1, 32, 64, 1)).astype(np.float32)
    width = np.array([64], np.int32)

    def padded(to):  # right-padded with 0 like a batch; 64+ px of padding covers the CNN's reach
        return np.pad(line, ((0, 0), (0, 0), (0, to - 64), (0, 0)))

    a, b = forward(padded(192), width).numpy(), forward(padded(128), width).numpy()
    np.testing.assert_allclose(a[:, :16], b[:, :16], atol=1e-5)
    # Unmasked, the backward LSTMs read 32 or 16 padded steps first and the line reads otherwise.
    plain_a, plain_b = model(padded(192)).numpy(), model(padded(128)).numpy()
    assert np.abs(plain_a[:, :16] - plain_b[:, :16]).max() > 1e-3
    # Without padding (tail_px=0) it is the plain model; the tail of paper is cut off again.
    plain = masked_forward(model, tail_px=0)
    np.testing.assert_allclose(plain(line, width).numpy(), model(line).numpy(), atol=1e-5)
    assert forward(line, width).shape == model(line).shape
    np.testing.assert_allclose(forward(line, width).numpy(), plain(padded(72), width)[:, :16],
                               atol=1e-5)
    with pytest.raises(ValueError, match="tail_px must be a multiple of 4"):
        masked_forward(model, tail_px=6)


def test_masked_forward_refuses_a_model_without_the_shadownet_layers():
    import keras

    x = keras.Input((32, None, 1))
    with pytest.raises(ValueError, match="not a ShadowNet.*map_to_sequence"):
        masked_forward(keras.Model(x, keras.layers.Dense(3, name="logits")(x), name="other"))


def test_recognizer_returns_results_in_input_order(tiny_model):
    from toolkit.predict import Recognizer

    rec = Recognizer.from_weights(tiny_model, batch_size=2)
    rng = np.random.default_rng(0)
    # Same width (no padding), different content: batching must not mix up the order.
    images = [rng.integers(0, 255, (32, 120), dtype=np.uint8) for _ in range(5)]
    batched = rec.recognize(images)
    single = [rec.recognize([im])[0] for im in images]
    assert [t for t, _ in batched] == [t for t, _ in single]
    for (_, c1), (_, c2) in zip(batched, single):
        assert abs(c1 - c2) < 1e-4 and 0 <= c1 <= 1


def test_best_path_in_tensorflow_matches_the_numpy_decoder(tiny_model):
    """KerasBackend.predict_path (argmax and top probability in the graph) gives the same texts and
    confidences as greedy_decode on the full logits."""
    from toolkit.backends import KerasBackend
    from toolkit.ctc import best_path, collapse_path, greedy_decode, softmax

    backend = KerasBackend.from_weights(tiny_model)
    rng = np.random.default_rng(1)
    images = rng.random((4, 32, 96, 1)).astype(np.float32)
    widths = np.array([96, 80, 64, 40])
    logits, lengths = backend.predict_batch(images, widths)
    best, top, lengths2 = backend.predict_path(images, widths)
    np.testing.assert_array_equal(lengths, lengths2)
    np.testing.assert_array_equal(best, logits.argmax(-1))
    np.testing.assert_allclose(top, softmax(logits).max(-1), rtol=1e-5)
    np.testing.assert_allclose(best_path(logits)[1], top, rtol=1e-5)
    blank = backend.charset.blank_index
    reference = greedy_decode(logits, lengths, blank)
    for (ids, conf), (ref_ids, ref_conf) in zip(collapse_path(best, top, lengths, blank), reference):
        assert ids == ref_ids and abs(conf - ref_conf) < 1e-5


def test_precision_without_hardware_support_warns(monkeypatch, caplog):
    import logging

    import tensorflow as tf

    from toolkit import train as train_module

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("with a GPU every precision is allowed silently")
    caplog.set_level(logging.WARNING, logger="toolkit.train")
    monkeypatch.setattr(train_module, "cpu_supports_bfloat16", lambda: False)
    train_module._warn_if_precision_is_slow("float32", tf)
    assert not caplog.records
    train_module._warn_if_precision_is_slow("mixed_bfloat16", tf)
    assert "mixed_bfloat16" in caplog.text and "slower than float32" in caplog.text
    caplog.clear()
    monkeypatch.setattr(train_module, "cpu_supports_bfloat16", lambda: True)
    train_module._warn_if_precision_is_slow("mixed_bfloat16", tf)
    assert not caplog.records
    train_module._warn_if_precision_is_slow("mixed_float16", tf)
    assert "mixed_float16" in caplog.text


def test_auto_precision_follows_the_hardware(monkeypatch):
    import tensorflow as tf

    from toolkit import train as train_module

    assert train_module.resolve_precision("float32") == "float32"
    with pytest.raises(ValueError, match="'auto' or one of"):
        train_module.resolve_precision("float16")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(train_module, "cpu_supports_bfloat16", lambda: False)
    assert train_module.resolve_precision("auto") == "float32"
    monkeypatch.setattr(train_module, "cpu_supports_bfloat16", lambda: True)
    assert train_module.resolve_precision("auto") == "mixed_bfloat16"
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu0"])
    for capability, expected in (((7, 5), "mixed_float16"), ((9, 0), "mixed_bfloat16")):
        monkeypatch.setattr(tf.config.experimental, "get_device_details",
                            lambda device, c=capability: {"compute_capability": c})
        assert train_module.resolve_precision("auto") == expected
