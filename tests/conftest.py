"""Shared test helpers: small slices of the real taxi data, and the CLI run in a fresh
process (as a user runs it) or in this one (where the process is not under test)."""

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipeline.config import DEFAULT_SCHEMA_PATH, REPO_ROOT
from pipeline.data import packaged_taxi_csv


def write_taxi_sample(target_dir: Path, rows: int, span: int = 1, skip: int = 0) -> Path:
    """The header and `rows` data rows of the packaged taxi CSV (after the first `skip`
    rows), as a span."""
    path = target_dir / f"span-{span}" / "data.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with packaged_taxi_csv().open(newline="") as source, path.open("w", newline="") as out:
        reader, writer = csv.reader(source), csv.writer(out)
        writer.writerow(next(reader))
        for index, row in enumerate(reader):
            if index >= skip + rows:
                break
            if index >= skip:
                writer.writerow(row)
    return path


@pytest.fixture(scope="session")
def taxi_rows():
    """The first 60 raw taxi rows as dicts of strings (header order)."""
    with packaged_taxi_csv().open(newline="") as source:
        reader = csv.DictReader(source)
        return [next(reader) for _ in range(60)]


def serialize_example(row: dict) -> bytes:
    """A raw CSV row as the serialized tf.Example a serving client sends (no label)."""
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    from pipeline.config import TAXI_LABEL

    schema = tfdv.load_schema_text(str(DEFAULT_SCHEMA_PATH))
    kinds = {feature.name: feature.type for feature in schema.feature}
    features = {}
    for name, value in row.items():
        if name in TAXI_LABEL.hidden_columns or value == "":
            continue
        if kinds[name] == schema_pb2.BYTES:
            feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif kinds[name] == schema_pb2.FLOAT:
            feature = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        else:
            feature = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(value))]))
        features[name] = feature
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def run_pipeline(data_dir: Path, output_dir: Path, *args: str, code_dir: Path = REPO_ROOT,
                 timeout: int = 900) -> subprocess.CompletedProcess:
    """`python -m pipeline run` in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--data-dir", str(data_dir),
         "--output-dir", str(output_dir), *args],
        cwd=code_dir, env={**os.environ, "PYTHONPATH": str(code_dir)},
        capture_output=True, text=True, timeout=timeout,
    )


@contextlib.contextmanager
def _captured_fds():
    """Everything written to fds 1 and 2 or to sys.stdout/sys.stderr inside the block
    (pytest replaces the latter with its own buffers); yields a dict that holds the
    decoded "stdout" and "stderr" once the block ends."""
    captured = {}
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds, saved_streams = (os.dup(1), os.dup(2)), (sys.stdout, sys.stderr)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout, sys.stderr = (
            io.TextIOWrapper(os.fdopen(os.dup(fd), "wb"), encoding="utf-8",
                             line_buffering=True) for fd in (1, 2))
        try:
            yield captured
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.close()
            sys.stdout, sys.stderr = saved_streams
            for fd, saved in zip((1, 2), saved_fds, strict=True):
                os.dup2(saved, fd)
                os.close(saved)
            for name, handle in (("stdout", out), ("stderr", err)):
                handle.seek(0)
                captured[name] = handle.read().decode("utf-8", "replace")


def cli_in_process(*argv: str) -> subprocess.CompletedProcess:
    """`python -m pipeline ARGV` through the same `pipeline.cli.main` (parsing, checks,
    exit code, stdout and stderr), but in this test process: a fresh interpreter spends
    10-20 s importing TensorFlow, TFX and Beam before it does anything. For tests whose
    subject is not the process itself (its exit handlers, a kill, a lock held by
    another process); those use `run_pipeline` or a subprocess. One difference: absl's
    Python log records (TFX's INFO lines), which a fresh process writes to the run's
    log file, land in the captured stderr here, as absl writes to `sys.stderr`."""
    from pipeline.cli import main

    with _captured_fds() as captured:
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse's usage errors
            code = exit_.code
    return subprocess.CompletedProcess(["pipeline", *argv], code or 0, captured["stdout"],
                                       captured["stderr"])


def run_pipeline_in_process(data_dir: Path, output_dir: Path,
                            *args: str) -> subprocess.CompletedProcess:
    """`run_pipeline` through `cli_in_process`, with this checkout's code."""
    return cli_in_process("run", "--data-dir", str(data_dir), "--output-dir",
                          str(output_dir), *args)


# The modules that use `good_taxi_run`. On several workers (`make test`, TEST_WORKERS)
# they are one unit of work, so the session fixture is built once and only one of them
# adds runs to its output directory at a time, as in a serial run (`pytest_collection_
# modifyitems` refuses a module that uses it and is not listed here).
SHARED_RUN_MODULES = ("tests/e2e/test_beam_e2e.py", "tests/e2e/test_bad_input_e2e.py",
                      "tests/e2e/test_tflite_e2e.py")
# The modules that take longest (measured, bench/SUITE.md), end to end then unit,
# longest first: on several workers they start first, then the rest in collection order
# (the other end-to-end modules, then the unit modules), so the last unit of work to
# finish is a short one.
SLOWEST_MODULES = ("tests/e2e/test_reliability_e2e.py", "tests/e2e/test_pipeline_e2e.py",
                   "tests/test_preprocessing.py", "tests/test_tflite.py",
                   "tests/test_serving.py", "tests/test_tuner.py",
                   "tests/test_code_fingerprints.py", "tests/test_kubeflow_v2.py")


def _work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to on several workers: its module, or one unit for
    the modules that share `good_taxi_run`."""
    module = nodeid.split("::", 1)[0]
    return "good_taxi_run" if module in SHARED_RUN_MODULES else module


def pytest_collection_modifyitems(config, items):
    strays = sorted({item.nodeid.split("::", 1)[0] for item in items
                     if "good_taxi_run" in getattr(item, "fixturenames", ())}
                    - set(SHARED_RUN_MODULES))
    if strays:
        raise pytest.UsageError(f"{', '.join(strays)} use good_taxi_run: add them to "
                                "SHARED_RUN_MODULES in tests/conftest.py")
    if hasattr(config, "workerinput"):
        # An xdist worker: the scheduler hands out units in collection order.
        slowest = {module: rank for rank, module in enumerate(SLOWEST_MODULES)}
        items.sort(key=lambda item: slowest.get(item.nodeid.split("::", 1)[0], len(slowest)))


class _ModuleScheduler:
    """`--dist loadfile` with the units of `_work_unit`, handed out in collection order
    (xdist's default order is by number of tests, which says nothing about their time)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config, log):
        if config.getvalue("dist") != "loadfile":
            return None
        from xdist.scheduler import LoadFileScheduling

        class Scheduler(LoadFileScheduling):
            def _split_scope(self, nodeid):
                return _work_unit(nodeid)

        config.option.loadscopereorder = False
        return Scheduler(config, log)


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_ModuleScheduler(), "module-scheduler")


# The settings of the shared good taxi run (`good_taxi_run`).
GOOD_TAXI_ROWS = 2000
GOOD_TAXI_ARGS = ("--beam", "multi-processing", "--beam-workers", "2", "--train-steps", "50",
                  "--min-auc", "0.5", "--min-accuracy", "0.5")


@pytest.fixture(scope="session")
def good_taxi_run(tmp_path_factory):
    """One cold run on 2,000 taxi rows with the multi-processing Beam profile, in a
    fresh process, shared by the end-to-end modules that need a pushed model and not
    their own training: tests/e2e/test_beam_e2e.py checks the profile, and
    tests/e2e/test_bad_input_e2e.py adds bad spans next to its data and runs them in
    its output directory. Users may add runs; they must leave span-1 and the pushed
    version as they found them (the bad-input module asserts exactly that)."""
    root = tmp_path_factory.mktemp("good-taxi")
    data, out = root / "data", root / "out"
    write_taxi_sample(data, rows=GOOD_TAXI_ROWS)
    # Beam's worker processes each import TensorFlow and connect back over gRPC: on a
    # loaded machine this run took more than the default 15 minutes (a hang guard).
    result = run_pipeline(data, out, *GOOD_TAXI_ARGS, "--json", timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"data": data, "out": out, "summary": json.loads(result.stdout)}
