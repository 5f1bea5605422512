"""A Keras LSTM whose input projection runs once for all time steps, outside the recurrent loop.

Keras 3's ``LSTM`` on a CPU (no cuDNN) runs :class:`keras.layers.LSTMCell` once per time step, and
the cell multiplies that step's input by the input kernel inside the loop: ``T`` small matmuls of
``(batch, features) x (features, 4 * units)``. :class:`ProjectedInputLSTM` computes
``inputs @ kernel + bias`` for every step in one ``(batch, T, features) x (features, 4 * units)``
matmul first and leaves only the recurrent matmul and the gates in the loop. Same weights (the
same variables, in the same places, so checkpoints of a plain ``LSTM`` load unchanged), same gate
order (i, f, c, o) and activations; outputs equal to a plain ``LSTM``'s up to float rounding.

Under a mixed precision policy (``mixed_bfloat16``) the projection runs in the compute dtype and
the loop (the state, the recurrent matmul and the gates) in float32: on this project's CPU the
element-wise gate ops are slower in bfloat16 than in float32, which made the plain ``LSTM`` slower
under ``mixed_bfloat16`` than under float32.

Measured on a 2-core AMD EPYC CPU with AVX512_BF16 (see docs/benchmarks.md): a train step
(forward, backward, Adam) of the small preset's two BiLSTM layers (128 units, 256 features in,
batch 32, 64 time steps): plain ``LSTM`` 62 ms float32 / 70 ms mixed_bfloat16; this layer 52 ms /
44 ms.

Where a GPU is visible, where the layer has (recurrent) dropout or no bias, or on another Keras
backend, it is a plain ``LSTM`` (cuDNN on a GPU). It overrides ``RNN.inner_loop`` and calls
``keras.src.backend.rnn`` (the loop every Keras RNN runs), both internal to Keras 3: the tests compare
it with a plain ``LSTM`` (masked, backwards, unrolled) so that a Keras change that breaks it shows.
"""

from __future__ import annotations

import keras
from keras import ops


def _gpu_visible() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


@keras.saving.register_keras_serializable(package="toolkit")
class ProjectedInputLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` with the input projection hoisted out of the time loop (module docstring).

    Takes exactly ``keras.layers.LSTM``'s arguments and has its weights: ``cell.kernel``
    ``(features, 4 * units)``, ``cell.recurrent_kernel`` ``(units, 4 * units)``, ``cell.bias``
    ``(4 * units,)``. Input ``(batch, T, features)``, optional boolean mask ``(batch, T)`` (a masked
    step keeps the state, as in Keras); output ``(batch, T, units)`` with ``return_sequences``,
    else ``(batch, units)``; in the layer's compute dtype.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if (cell.dropout or cell.recurrent_dropout or not cell.use_bias
                or keras.backend.backend() != "tensorflow" or _gpu_visible()):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        # (b, T, features) x (features, 4 units), once for all steps, in the compute dtype.
        projected = ops.matmul(sequences, ops.cast(cell.kernel, self.compute_dtype))
        projected = ops.cast(projected, "float32") + ops.cast(cell.bias, "float32")  # (b, T, 4 units)
        recurrent_kernel = ops.cast(cell.recurrent_kernel, "float32")
        activation, recurrent_activation = cell.activation, cell.recurrent_activation

        def step(z_t, states):
            h, c = states
            z = z_t + ops.matmul(h, recurrent_kernel)                    # (b, 4 units)
            i, f, g, o = ops.split(z, 4, axis=-1)
            c = recurrent_activation(f) * c + recurrent_activation(i) * activation(g)
            h = recurrent_activation(o) * activation(c)
            return h, [h, c]

        return keras.src.backend.rnn(
            step,
            projected,
            [ops.cast(s, "float32") for s in initial_state],
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=self.unroll,
            input_length=sequences.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )
