"""toolkit.lstm.ProjectedInputLSTM against a plain keras.layers.LSTM with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from toolkit.lstm import ProjectedInputLSTM  # noqa: E402

UNITS, FEATURES, STEPS = 6, 5, 7


def _pair(**kwargs):
    """A plain LSTM and a ProjectedInputLSTM built on the same input, the second holding the
    first's weights (random, bias too, so that a gate-order or bias mistake shows)."""
    plain = keras.layers.LSTM(UNITS, return_sequences=True, **kwargs)
    projected = ProjectedInputLSTM(UNITS, return_sequences=True, **kwargs)
    shape = (2, STEPS, FEATURES)
    plain.build(shape)
    projected.build(shape)
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in plain.get_weights()]
    plain.set_weights(weights)
    projected.set_weights(weights)
    return plain, projected


def _inputs(batch: int = 3) -> np.ndarray:
    return np.random.default_rng(1).normal(0, 1, (batch, STEPS, FEATURES)).astype("float32")


@pytest.mark.parametrize("go_backwards", [False, True])
def test_same_outputs_and_gradients_as_a_plain_lstm(go_backwards: bool) -> None:
    plain, projected = _pair(go_backwards=go_backwards)
    x = tf.constant(_inputs())
    results = []
    for layer in (plain, projected):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.range(1.0, UNITS + 1.0))
        grads = tape.gradient(loss, [x, *layer.trainable_variables])
        results.append((y.numpy(), [g.numpy() for g in grads]))
    (y_plain, g_plain), (y_proj, g_proj) = results
    assert np.abs(y_plain).max() > 0.1
    np.testing.assert_allclose(y_proj, y_plain, atol=1e-5)
    for a, b in zip(g_proj, g_plain):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_mask_keeps_the_state_like_a_plain_lstm() -> None:
    plain, projected = _pair()
    x = _inputs()
    mask = np.array([[True] * STEPS, [True] * 4 + [False] * 3, [True] * 2 + [False] * 5])
    y_plain = plain(x, mask=mask).numpy()
    y_proj = projected(x, mask=mask).numpy()
    np.testing.assert_allclose(y_proj, y_plain, atol=1e-5)
    # A masked step repeats the last output (Keras semantics), so the masked tail is not zeros.
    np.testing.assert_allclose(y_proj[1, 4:], np.repeat(y_proj[1, 3:4], 3, axis=0), atol=1e-6)


def test_bidirectional_unrolled_and_config_round_trip() -> None:
    inputs = keras.Input((STEPS, FEATURES), batch_size=2)
    layer = keras.layers.Bidirectional(ProjectedInputLSTM(UNITS, return_sequences=True, unroll=True))
    model = keras.Model(inputs, layer(inputs))
    assert type(layer.forward_layer).__name__ == "ProjectedInputLSTM"
    assert layer.backward_layer.go_backwards
    twin = keras.Model.from_config(model.get_config())
    twin.set_weights(model.get_weights())
    x = _inputs(2)
    np.testing.assert_allclose(twin(x).numpy(), model(x).numpy(), atol=1e-6)
    # The same weights in a rolled plain BiLSTM read the same.
    plain_in = keras.Input((None, FEATURES))
    plain = keras.Model(plain_in, keras.layers.Bidirectional(
        keras.layers.LSTM(UNITS, return_sequences=True))(plain_in))
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model(x).numpy(), plain(x).numpy(), atol=1e-5)


def test_mixed_bfloat16_runs_the_loop_in_float32() -> None:
    old = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        plain, projected = _pair()
    finally:
        keras.mixed_precision.set_global_policy(old)
    x = _inputs()
    y_proj, y_plain = projected(x), plain(x)
    assert y_proj.dtype == "bfloat16" and y_plain.dtype == "bfloat16"
    reference = _pair()[1](x).numpy()  # float32 policy, same weights
    # bfloat16 keeps 8 bits of mantissa (~4e-3 relative): the float32 loop is at least as close to
    # the float32 result as the all-bfloat16 plain LSTM.
    err_proj = np.abs(y_proj.numpy().astype("float32") - reference).max()
    err_plain = np.abs(y_plain.numpy().astype("float32") - reference).max()
    assert err_proj < 0.03
    assert err_proj <= err_plain + 1e-3
