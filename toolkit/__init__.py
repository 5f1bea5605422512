"""crnn-toolkit: turn a Chinese corpus and fonts into a trained CRNN (ShadowNet) text-line recognizer.

Stages (one module each): corpus -> fonts -> synth (gen-images) -> charset (build-char-dict)
-> records (write-tfrecords) -> model -> train (train-shadownet) -> evaluate (test-shadownet)
-> predict (demo). Importing the package does no work and does not import TensorFlow.
"""

__version__ = "0.1.0"
