"""TensorFlow without its start-up noise, for the notebooks. When TensorFlow loads, its
C++ side writes lines (oneDNN, CUDA, CPU features, "All log messages before
absl::InitializeLog() ...") straight to file descriptor 2, before any Python setting
applies, and a Jupyter kernel shows them as a red block at the top of the notebook.
(The CLI sends them to its log file: pipeline/runner.py.)"""

import contextlib
import io
import logging
import os
import sys
import tempfile


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


@contextlib.contextmanager
def quiet_tensorflow():
    """Imports and reads inside this block write nothing to stderr: file descriptor 2
    and `sys.stderr` are held back, and shown after all if the block raises. Python
    log records of TensorFlow and absl below ERROR (deprecation notices) are dropped
    from then on."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("tensorflow", "absl"):
        # A filter, not a level: in a notebook TensorFlow sets its logger's level to
        # INFO (and its output to stdout) when it loads.
        logger = logging.getLogger(name)
        if _errors_only not in logger.filters:
            logger.addFilter(_errors_only)
    sys.stderr.flush()
    saved = os.dup(2)
    held_python = io.StringIO()
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            with contextlib.redirect_stderr(held_python):
                yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode("utf-8", "replace") + held_python.getvalue())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
