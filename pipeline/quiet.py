"""TensorFlow without its start-up noise: for the notebooks (`quiet_tensorflow`) and
for the CLI, whose commands send it to a log file (`captured_output`). When TensorFlow
loads, its C++ side writes lines (oneDNN, CUDA, CPU features, "All log messages before
absl::InitializeLog() ...") straight to file descriptor 2, before any Python setting
applies, and a Jupyter kernel shows them as a red block at the top of the notebook.
"""

import contextlib
import io
import logging
import os
import sys
import tempfile
from pathlib import Path

from pipeline import safe_files


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


@contextlib.contextmanager
def captured_output(log_path: Path, verbose: bool):
    """Sends everything written to fds 1 and 2 (Python, TF's C++ logs, Beam) to the log
    file; yields (stdout, stderr) streams that still reach the terminal."""
    if verbose:
        yield sys.stdout, sys.stderr
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal_out = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    terminal_err = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    with safe_files.open_append(log_path) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal_out, terminal_err
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal_out.close()
            terminal_err.close()
