"""Shared bits of the seed-compatible scripts in tools/: logging set-up and error reporting.

These scripts keep the flag names of the original CRNN_Tensorflow tools (``--dataset_dir``,
``--weights_path``...) and call the same library functions as ``crnn-toolkit``.
"""

from __future__ import annotations

import logging
import os
import sys


def run(main) -> None:
    """Run ``main()``; print a library input error as one line and exit with status 1."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        main()
    except (ValueError, FileNotFoundError) as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)
