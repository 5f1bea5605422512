"""Keep TensorFlow's own log lines off the stderr of a normal command.

TensorFlow prints three kinds of lines that a user of the command line should not have to read
(on a machine without a GPU, ``E0000 ... failed call to cuInit`` reads like a failure). Each needs
its own mechanism:

1. **Lines logged while TensorFlow's shared libraries load**, before absl logging is initialized::

       WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
       I0000 00:00:1796165095.550792  8246 port.cc:153] oneDNN custom operations are on. ...
       I0000 00:00:1796165095.551052  8246 cudart_stub.cc:31] Could not find cuda drivers ...

   absl writes every message logged before ``absl::InitializeLog()`` straight to file descriptor 2,
   whatever its level, so ``TF_CPP_MIN_LOG_LEVEL`` does not remove them (TensorFlow 2.21 prints
   them twice, once per library holding its own copy of absl). :func:`filtered_stderr` points
   descriptor 2 at a temporary file while ``tensorflow`` is imported and writes back every line
   except those; :func:`install_import_filter` applies it to the first ``import tensorflow``.
2. **Lines the runtime logs later** (``E0000 ... cuda_platform.cc] failed call to cuInit`` when
   the first op runs, ``E0000 ... util.cc] oneDNN supports DT_BOOL only on platforms with
   AVX-512``, ``I0000 ... cpu_feature_guard.cc] This TensorFlow binary is optimized ...``) follow
   ``TF_CPP_MIN_LOG_LEVEL`` (0 all .. 3 fatal only), which the runtime reads once, so it must be
   set before TensorFlow is imported. Several of them are logged at ERROR, so 2 is not enough.
3. **Python-side warnings** through the ``tensorflow`` and ``absl`` loggers
   (``WARNING:absl:...``): their levels are set to ERROR.

Two more come from TFLite, which has no level setting: the converter's int8 calibration prints
``fully_quantize: 0, inference_type: 6, ...`` and the interpreter prints ``INFO: Created
TensorFlow Lite XNNPACK delegate for CPU.``; the code that calls them wraps the call in
:func:`hold_back_logs`.

:func:`quiet_tensorflow` does all of this; the CLI calls it unless it runs with ``--verbose`` or
:data:`VERBOSE_ENV` is set. Importing this module does nothing.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

VERBOSE_ENV = "CRNN_TOOLKIT_VERBOSE"
"""Environment variable: set to anything but ``""`` or ``"0"``, it acts as the CLI's ``--verbose``."""
TF_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
QUIET_TF_LEVEL = "3"
"""TensorFlow C++ log level of a quiet run: fatal messages only (which end the process anyway)."""

# An absl / glog-format line of severity I, W or E: "E1231 23:59:59.123456   8246 file.cc:52] ..."
# (severity, MMDD, hh:mm:ss.micros, thread id, file:line); before absl is initialized the date and
# time read "0000 00:00:<seconds since 1970>.micros". F (fatal) lines are kept: they say why the
# process is about to abort.
_TF_LOG_LINE = re.compile(
    rb"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\s:\]]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|INFO: |fully_quantize: \d+, inference_type: )")  # TFLite's (see the module docstring)
_quiet = False  # quiet_tensorflow() was called


def verbose_from_env() -> bool:
    """True if :data:`VERBOSE_ENV` is set to anything but ``""`` or ``"0"``."""
    return os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0")


def is_tensorflow_log_line(line: bytes) -> bool:
    """True for a line TensorFlow's C++ runtime logs at INFO, WARNING or ERROR (absl format),
    absl's notice that it logs to stderr before initialization, or one of TFLite's INFO lines;
    ``line`` is raw bytes."""
    return _TF_LOG_LINE.match(line) is not None


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Hold back TensorFlow's C++ log lines (:func:`is_tensorflow_log_line`) written to file
    descriptor 2 inside the block; every other byte written there (Python tracebacks, warnings)
    is written back to descriptor 2, in order, when the block ends.

    What C++ code writes goes to a temporary file meanwhile, so if the process is killed inside
    the block (a fatal log ends in ``abort()``), what it wrote there is lost; ``--verbose`` runs
    without this filter. If descriptor 2 cannot be duplicated (closed), nothing is filtered.
    """
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with tempfile.TemporaryFile() as capture:
            sys.stderr.flush()
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                capture.seek(0)
                kept = [line for line in capture.read().splitlines(keepends=True)
                        if not is_tensorflow_log_line(line)]
                if kept:
                    os.write(2, b"".join(kept))
    finally:
        os.close(saved)


def hold_back_logs() -> contextlib.AbstractContextManager[None]:
    """:func:`filtered_stderr` once :func:`quiet_tensorflow` has been called in this process, else
    a context that changes nothing (``--verbose`` shows everything)."""
    return filtered_stderr() if _quiet else contextlib.nullcontext()


class _FilteredLoader(importlib.abc.Loader):
    """Runs another loader's ``exec_module`` inside :func:`filtered_stderr`; the module gets the
    original loader as its ``__loader__``."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with filtered_stderr():
            self._loader.exec_module(module)


class _TensorflowImportFilter(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` entry that finds ``tensorflow`` through the other finders and loads it
    with :class:`_FilteredLoader`; it removes itself at the first ``import tensorflow``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader)
        return spec


def install_import_filter() -> None:
    """Make the first ``import tensorflow`` of this process run inside :func:`filtered_stderr`.

    Does nothing if TensorFlow is already imported or the filter is already installed; the
    filter removes itself once TensorFlow is found, so later imports are untouched.
    """
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _TensorflowImportFilter) for f in sys.meta_path):
        sys.meta_path.insert(0, _TensorflowImportFilter())


def quiet_tensorflow() -> None:
    """Silence TensorFlow's log lines for the rest of the process (see the module docstring).

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the environment already sets it (a value given by the
    user is kept), so it also reaches child processes; installs :func:`install_import_filter`;
    sets the ``tensorflow`` and ``absl`` Python loggers to ERROR; turns :func:`hold_back_logs`
    on. The log level has no effect on a TensorFlow that is already imported.
    """
    global _quiet
    _quiet = True
    os.environ.setdefault(TF_LEVEL_ENV, QUIET_TF_LEVEL)
    install_import_filter()
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
