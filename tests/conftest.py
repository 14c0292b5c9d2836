"""Shared test helpers: small slices of the real taxi data, and the CLI run in a fresh
process (as a user runs it) or in this one (where the process is not under test)."""

import contextlib
import csv
import io
import json
import os
import shutil
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


# The session fixtures that make a pipeline run several end-to-end modules start from,
# each with the unit of work of the modules that use it. On several workers (`make test`,
# TEST_WORKERS) the modules of a unit run on one worker, one after the other, so each
# fixture is built once and one module at a time adds runs to its output directory, as
# in a serial run (`pytest_collection_modifyitems` refuses a module that uses one of
# them and is not listed in its unit).
SHARED_RUNS = {"good_taxi_run": "taxi-2000", "make_train_run": "taxi-2000",
               "taxi_3000_run": "taxi-3000"}
SHARED_RUN_MODULES = {
    "taxi-2000": ("tests/e2e/test_beam_e2e.py", "tests/e2e/test_bad_input_e2e.py",
                  "tests/e2e/test_tflite_e2e.py", "tests/e2e/test_cd_e2e.py"),
    "taxi-3000": ("tests/e2e/test_pipeline_e2e.py", "tests/e2e/test_monitor_e2e.py"),
}
SLOWEST_MODULES = ("tests/e2e/test_reliability_e2e.py", "tests/e2e/test_pipeline_e2e.py",
                   "tests/test_preprocessing.py", "tests/test_tflite.py",
                   "tests/test_serving.py", "tests/test_tuner.py",
                   "tests/test_code_fingerprints.py", "tests/test_kubeflow_v2.py")


def _work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to on several workers: its module, or the unit of
    the modules that share a run (`SHARED_RUN_MODULES`)."""
    module = nodeid.split("::", 1)[0]
    return next((unit for unit, modules in SHARED_RUN_MODULES.items() if module in modules),
                module)


def pytest_collection_modifyitems(config, items):
    for fixture, unit in SHARED_RUNS.items():
        strays = sorted({item.nodeid.split("::", 1)[0] for item in items
                         if fixture in getattr(item, "fixturenames", ())}
                        - set(SHARED_RUN_MODULES[unit]))
        if strays:
            raise pytest.UsageError(f"{', '.join(strays)} use {fixture}: add them to "
                                    f"SHARED_RUN_MODULES[{unit!r}] in tests/conftest.py")
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


# The settings of the shared `make train` run (`make_train_run`), as the train-deploy
# workflow passes them (tests/e2e/test_cd_e2e.py): the in-memory DirectRunner on 2,000
# taxi rows, without the TFLite copy (the subjects of its users are the make targets and
# the Beam runner; tests/e2e/test_tflite_e2e.py checks the copy, which costs a cold run
# about 9 s of CPU).
MAKE_TRAIN_ROWS = 2000
MAKE_SETTINGS = {"ARGS": "--train-steps 50 --no-tflite", "MIN_AUC": "0.5",
                 "MIN_ACCURACY": "0.5", "MAX_REGRESSION": ""}
# The same settings as `pipeline run` flags (the Makefile's `train` recipe).
MAKE_TRAIN_FLAGS = (*MAKE_SETTINGS["ARGS"].split(), "--min-auc", MAKE_SETTINGS["MIN_AUC"],
                    "--min-accuracy", MAKE_SETTINGS["MIN_ACCURACY"])


def run_make(target: str, root: Path, case: str, **settings) -> subprocess.CompletedProcess:
    """`make TARGET` from the checkout, as a workflow step: ROOT's output dir and data,
    the case's model store, its own GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and
    `MAKE_SETTINGS` unless `settings` say otherwise."""
    env = {**os.environ, "OUTPUT_DIR": str(root / "out"),
           "RUN_SUMMARY": str(root / f"{case}-summary.json"),
           "MODEL_STORE": str(root / f"{case}-store"),
           "GITHUB_OUTPUT": str(root / f"{case}-{target}.output"),
           "GITHUB_STEP_SUMMARY": str(root / f"{case}-{target}.md"),
           "DATA_DIR": str(root / "data"), **MAKE_SETTINGS, **settings}
    return subprocess.run(["make", "--no-print-directory", target], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def make_train_run(tmp_path_factory):
    """`make train` on 2,000 taxi rows (`MAKE_SETTINGS`), case "blessed": the first step
    of tests/e2e/test_cd_e2e.py, which goes on with `evaluate`, `deploy` and a stricter
    floor in the same folder, and the in-memory DirectRunner's results that
    tests/e2e/test_beam_e2e.py compares the portable runner's with (it reads only the
    data and this summary). The fixture does not assert: test_cd_e2e checks the step."""
    root = tmp_path_factory.mktemp("cd")
    write_taxi_sample(root / "data", rows=MAKE_TRAIN_ROWS)
    train = run_make("train", root, "blessed")
    summary = (json.loads((root / "blessed-summary.json").read_text())
               if train.returncode == 0 else None)
    return {"root": root, "data": root / "data", "train": train, "summary": summary}


# The settings of the shared 3,000-row taxi run (`taxi_3000_run`).
TAXI_3000_ROWS = 3000
TAXI_3000_ARGS = ("--train-steps", "150", "--min-auc", "0.8", "--min-accuracy", "0.8")


class SharedRun:
    """A cold run's folder (`data/`, `out/`), lent to one module at a time at the path the
    run was made in, each time as the run left it: ML Metadata, models.config and the
    summaries hold absolute paths, so a copy elsewhere would point back here."""

    def __init__(self, root: Path, result: subprocess.CompletedProcess):
        self.root, self.result = root, result
        self.summary = json.loads(result.stdout)
        # copytree keeps the files' modification times, which CsvExampleGen's input
        # fingerprint reads: the restored span is the same span to the cache.
        self._as_run = root.with_name(f"{root.name}-as-run")
        shutil.copytree(root, self._as_run, symlinks=True)
        self._user = None

    @contextlib.contextmanager
    def checkout(self, user: str):
        """The folder as the run left it, for USER (a module) until the block ends;
        whatever an earlier user added is gone."""
        assert self._user is None, f"{self._user} still uses {self.root}"
        shutil.rmtree(self.root)
        shutil.copytree(self._as_run, self.root, symlinks=True)
        self._user = user
        try:
            yield {"data": self.root / "data", "out": self.root / "out",
                   "result": self.result, "summary": self.summary}
        finally:
            self._user = None


@pytest.fixture(scope="session")
def taxi_3000_run(tmp_path_factory):
    """One cold run on 3,000 taxi rows (150 steps, floors 0.8, the TFLite copy) in a
    fresh process: tests/e2e/test_pipeline_e2e.py's first run and the model
    tests/e2e/test_monitor_e2e.py judges. Both add runs, versions and monitor results
    that their assertions count, so each takes the folder through `checkout`."""
    root = tmp_path_factory.mktemp("taxi-3000")
    write_taxi_sample(root / "data", rows=TAXI_3000_ROWS)
    result = run_pipeline(root / "data", root / "out", *TAXI_3000_ARGS, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return SharedRun(root, result)
