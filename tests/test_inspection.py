"""The inspection API and commands on a small recorded store: missing values counted
as the CSV has them, readable numbers, and commands that import neither TensorFlow nor
TFX nor Beam."""

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd
from tensorflow_metadata.proto.v0 import anomalies_pb2

from pipeline import artifact_files, inspection
from pipeline.config import REPO_ROOT
from tests.conftest import cli_in_process

RUN_ID = "2026-12-01T10:00:00.000001"
VERSION = 1796100000
# Empty cells as users' CSVs have them: `fare` in one row, `company` in two, `tract` in
# all but one (like the taxi data's pickup_census_tract).
CSV = """fare,company,tract,hour
1.5,Flash Cab,,10
,Flash Cab,,11
2.5,,,10
3.0,,17031081401,12
4.5,City Service,,13
"""
SPLITS = {"train": CSV, "eval": "fare,company,tract,hour\n2.0,,,9\n,Flash Cab,,9\n"}


def _examples(text: str, absent: str | None = None) -> list[bytes]:
    """The CSV's rows as CsvExampleGen stores them (tfx's csv_example_gen executor):
    an empty cell becomes a feature with an empty value list. `absent`: a feature left
    out of the examples where its cell is empty, as other example producers do."""
    import tensorflow as tf

    rows = list(csv.DictReader(io.StringIO(text)))
    kinds = {name: _kind([row[name] for row in rows if row[name]]) for name in rows[0]}
    examples = []
    for row in rows:
        features = {}
        for name, cell in row.items():
            if name == absent and not cell:
                continue
            if kinds[name] is int:
                feature = tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[int(cell)] if cell else []))
            elif kinds[name] is float:
                feature = tf.train.Feature(float_list=tf.train.FloatList(
                    value=[float(cell)] if cell else []))
            else:
                feature = tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[cell.encode()] if cell else []))
            features[name] = feature
        examples.append(tf.train.Example(
            features=tf.train.Features(feature=features)).SerializeToString())
    return examples


def _kind(cells: list[str]) -> type:
    """int, float or str: the narrowest type of all the cells, as CsvExampleGen infers
    a column's type."""
    for kind in (int, float):
        try:
            for cell in cells:
                kind(cell)
        except ValueError:
            continue
        return kind
    return str


def _statistics(text: str, absent: str | None = None):
    """TFDV's statistics of the CSV's examples, as StatisticsGen computes them."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl
    from tfx_bsl.coders import example_coder

    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(
        _examples(text, absent))
    return stats_impl.generate_statistics_in_memory(batch, tfdv.StatsOptions())


def _empty_cells(text: str) -> dict[str, int]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {name: sum(1 for row in rows if not row[name]) for name in rows[0]}


def _statistics_artifact(folder, absent: str | None = None) -> mlmd.Artifact:
    for split, text in SPLITS.items():
        (folder / f"Split-{split}").mkdir(parents=True)
        (folder / f"Split-{split}" / "FeatureStats.pb").write_bytes(
            _statistics(text, absent).SerializeToString())
    artifact = mlmd.Artifact(uri=str(folder))
    artifact.custom_properties["split_names"].string_value = json.dumps(list(SPLITS))
    return artifact


@pytest.mark.parametrize("absent", [None, "company"])
def test_missing_counts_are_the_csv_empty_cells(tmp_path, absent):
    """TFDV counts an empty value list as present (num_missing 0): missing must still
    be every row without a value, whether the cell became an empty list or no feature."""
    rows = inspection.feature_statistics(_statistics_artifact(tmp_path, absent))
    for split, text in SPLITS.items():
        found = {row["feature"]: row for row in rows if row["split"] == split}
        empty = _empty_cells(text)
        assert {name: found[name]["missing"] for name in empty} == empty, split
        total = len(list(csv.DictReader(io.StringIO(text))))
        assert all(found[name]["present"] == total - empty[name] for name in empty)
    train = {row["feature"]: row for row in rows if row["split"] == "train"}
    assert train["tract"]["mean"] == 17031081401
    eval_tract = next(row for row in rows if row["split"] == "eval"
                      and row["feature"] == "tract")
    # No value in the split: no mean, rather than TFDV's 0.
    assert eval_tract["mean"] is None and eval_tract["max"] is None


@pytest.mark.parametrize("value, text", [
    (17031081401.0, "17,031,081,401"), (1408404491.418, "1,408,404,491"),
    (3000.0, "3,000"), (0.9512, "0.9512"), (0.95, "0.95"), (12.5, "12.5"),
    (1.234e-05, "0.00001234"), (0.0, "0"), (1796100000, "1796100000"), (None, "-"),
    (True, "yes"),
])
def test_numbers_print_readably(value, text):
    assert inspection.format_value(value) == text


def _write_tfrecord(path, records: list[bytes]) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


def test_tfrecords_reads_tensorflow_files_and_checks_them(tmp_path):
    records = [b"", b"one", bytes(range(256)) * 40]
    path = tmp_path / "records.tfrecord"
    _write_tfrecord(path, records)
    assert list(artifact_files.tfrecords(str(path))) == records
    damaged = bytearray(path.read_bytes())
    damaged[-5] ^= 1  # a byte of the last record's data
    path.write_bytes(bytes(damaged))
    with pytest.raises(artifact_files.CorruptRecord, match="checksum"):
        list(artifact_files.tfrecords(str(path)))
    path.write_bytes(bytes(damaged[:-3]))
    with pytest.raises(artifact_files.CorruptRecord, match="truncated"):
        list(artifact_files.tfrecords(str(path)))


class _Recorder:
    """Writes one pipeline run into an ML Metadata store the way TFX records it: a
    pipeline_run context, a node context per component, executions and their input and
    output artifacts."""

    def __init__(self, output_dir):
        config = mlmd.ConnectionConfig()
        config.sqlite.filename_uri = str(output_dir / "metadata.db")
        config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(config)
        self.root = output_dir / "tfx"
        self.run_type = self.store.put_context_type(mlmd.ContextType(name="pipeline_run"))
        self.node_type = self.store.put_context_type(mlmd.ContextType(name="node"))
        self.execution_type = self.store.put_execution_type(mlmd.ExecutionType(name="comp"))
        self.start_run(RUN_ID)

    def start_run(self, run_id: str) -> None:
        """The executions recorded from now on belong to a new run."""
        [context_id] = self.store.put_contexts([mlmd.Context(type_id=self.run_type,
                                                             name=run_id)])
        self.run = self.store.get_contexts_by_id([context_id])[0]

    def artifact(self, type_name: str, path: str, **custom) -> mlmd.Artifact:
        type_id = self.store.put_artifact_type(mlmd.ArtifactType(name=type_name))
        artifact = mlmd.Artifact(type_id=type_id, uri=str(self.root / path),
                                 state=mlmd.Artifact.LIVE)
        (self.root / path).mkdir(parents=True, exist_ok=True)
        for key, value in custom.items():
            field = "int_value" if isinstance(value, int) else "string_value"
            setattr(artifact.custom_properties[key], field, value)
        return artifact

    def execution(self, node: str, inputs=(), outputs=(), **custom) -> list[mlmd.Artifact]:
        # One node context per component, shared by its executions in every run.
        node_context = self.store.get_context_by_type_and_name("node", f"taxi.{node}")
        if node_context is None:
            [node_id] = self.store.put_contexts(
                [mlmd.Context(type_id=self.node_type, name=f"taxi.{node}")])
            node_context = self.store.get_contexts_by_id([node_id])[0]
        execution = mlmd.Execution(type_id=self.execution_type,
                                   last_known_state=mlmd.Execution.COMPLETE)
        for key, value in custom.items():
            execution.custom_properties[key].string_value = value
        pairs = []
        for artifact in inputs:
            # Keyed as TFX keys a component's inputs (the Trainer's Examples: `examples`).
            event = mlmd.Event(type=mlmd.Event.INPUT)
            event.path.steps.add().key = self.store.get_artifact_types_by_id(
                [artifact.type_id])[0].name.lower()
            pairs.append((artifact, event))
        pairs += [(artifact, mlmd.Event(type=mlmd.Event.OUTPUT)) for artifact in outputs]
        _, artifact_ids, _ = self.store.put_execution(execution, pairs,
                                                      [self.run, node_context])
        return self.store.get_artifacts_by_id(artifact_ids[len(inputs):])


def record_run(out, input_base=None, span: int = 1):
    """Records one run into a new output directory `out`: span `span` of the data
    folder `input_base` (default: `out/data`), statistics of `SPLITS`, no anomalies, a
    passed gate, a blessed model with metrics, a pushed version. Returns `out`."""
    from pipeline.gate_rules import DATA_VERDICT_TYPE, VERDICT_FILE

    out.mkdir(parents=True, exist_ok=True)
    record = _Recorder(out)
    [examples] = record.execution(
        "CsvExampleGen", outputs=[record.artifact("Examples", "examples/1", span=span)],
        input_base=str(input_base or out / "data"))
    statistics = record.artifact("ExampleStatistics", "statistics/2",
                                 split_names=json.dumps(list(SPLITS)))
    for split, text in SPLITS.items():
        path = record.root / "statistics/2" / f"Split-{split}" / "FeatureStats.pb"
        path.parent.mkdir(parents=True)
        path.write_bytes(_statistics(text).SerializeToString())
    [statistics] = record.execution("StatisticsGen", [examples], [statistics])
    anomalies = record.artifact("ExampleAnomalies", "anomalies/3",
                                split_names=json.dumps(list(SPLITS)))
    for split in SPLITS:
        path = record.root / "anomalies/3" / f"Split-{split}" / "SchemaDiff.pb"
        path.parent.mkdir(parents=True)
        path.write_bytes(anomalies_pb2.Anomalies().SerializeToString())
    [anomalies] = record.execution("ExampleValidator", [statistics], [anomalies])
    verdict = record.artifact(DATA_VERDICT_TYPE, "verdict/4", passed=1)
    (record.root / "verdict/4" / VERDICT_FILE).write_text(
        json.dumps({"passed": True, "blocking": [], "tolerated": []}))
    record.execution("DataGate", [anomalies], [verdict])
    [model] = record.execution("Trainer", [examples],
                               [record.artifact("Model", "model/5")])
    evaluation = record.artifact("ModelEvaluation", "evaluation/6")
    metrics_pb2, validation_pb2 = artifact_files.tfma_protos()
    overall = metrics_pb2.MetricsForSlice()
    for name, value in (("auc", 0.9512), ("binary_accuracy", 0.9), ("example_count", 2.0)):
        entry = overall.metric_keys_and_values.add()
        entry.key.name = name
        entry.value.double_value.value = value
    _write_tfrecord(record.root / "evaluation/6" / "metrics-00000-of-00001.tfrecord",
                    [overall.SerializeToString()])
    _write_tfrecord(record.root / "evaluation/6" / "validations.tfrecord",
                    [validation_pb2.ValidationResult(validation_ok=True).SerializeToString()])
    # The EvalConfig the Evaluator ran with, as TFMA writes it beside its results.
    (record.root / "evaluation/6" / "eval_config.json").write_text(
        json.dumps({"evalConfig": {"metricsSpecs": []}}))
    [_, blessing] = record.execution(
        "Evaluator", [model, examples],
        [evaluation, record.artifact("ModelBlessing", "blessing/6", blessed=1)])
    record.execution("Pusher", [model, blessing], [record.artifact(
        "PushedModel", "pushed/7", pushed=1, pushed_version=str(VERSION),
        pushed_destination=str(out / "serving" / "big_tipper" / str(VERSION)))])
    return out


@pytest.fixture(scope="module")
def recorded_store(tmp_path_factory):
    """An output directory with one recorded run (`record_run`)."""
    return record_run(tmp_path_factory.mktemp("recorded"))


RUN_KEYS = ("run_id", "status", "span", "anomalies", "blessed", "pushed_version")
HEAVY = ("tensorflow", "tfx", "apache_beam", "tensorflow_data_validation",
         "tensorflow_model_analysis")


def test_inspection_commands_import_neither_tensorflow_nor_tfx_nor_beam(recorded_store):
    """`runs`, `show`, `anomalies`, `models` and `lineage` read ML Metadata and files;
    TensorFlow's import alone took them 7-15 s."""
    script = (
        "import json, sys\n"
        "from pipeline.cli import main\n"
        "codes = [main([*command.split(), '--output-dir', sys.argv[1]]) for command in\n"
        f"         ('runs', 'show', 'anomalies', 'models', 'lineage {VERSION}')]\n"
        f"print(json.dumps([codes, [m for m in {HEAVY!r} if m in sys.modules]]))\n")
    done = subprocess.run([sys.executable, "-c", script, str(recorded_store)],
                          cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    codes, imported = json.loads(done.stdout.splitlines()[-1])
    assert codes == [0] * 5, done.stdout
    assert imported == []


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The CLI in this process (tests/conftest.py); the test above runs the inspection
    commands in a fresh one."""
    return cli_in_process(*args)


def test_show_reads_the_recorded_run(recorded_store):
    done = _cli("show", "--output-dir", str(recorded_store), "--json")
    assert done.returncode == 0, done.stderr
    details = json.loads(done.stdout)
    assert {key: details[key] for key in RUN_KEYS} == {
        "run_id": RUN_ID, "status": "pushed", "span": 1, "anomalies": 0, "blessed": True,
        "pushed_version": VERSION}
    assert details["rows"] == {"train": 5, "eval": 2}
    assert details["validation"] == {"ok": True, "failures": []}
    assert details["metrics"] == [{"slice": "Overall", "model": "candidate",
                                   "auc": 0.9512, "binary_accuracy": 0.9,
                                   "example_count": 2.0}]


def test_show_prints_missing_values_per_feature(recorded_store):
    """Rows without a value over all splits, as in the CSVs (7 rows)."""
    done = _cli("show", "--output-dir", str(recorded_store))
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line}
    assert "missing = rows with no value" in done.stdout
    #              type      present missing  missing %
    assert lines["fare"][1:5] == ["numeric", "5", "2", "28.6%"]
    assert lines["company"][1:5] == ["string", "4", "3", "42.9%"]
    assert lines["tract"][1:5] == ["numeric", "1", "6", "85.7%"]
    assert lines["tract"][5:8] == ["17,031,081,401"] * 3


@pytest.mark.parametrize("damage, words", [
    ("truncate", "metrics-00000-of-00001.tfrecord: truncated record"),
    ("delete", "FeatureStats.pb is missing"),
])
def test_unreadable_artifacts_are_one_sentence(recorded_store, tmp_path, damage, words):
    """A damaged or deleted artifact file: exit 2 and one line, not a traceback."""
    copy = tmp_path / "out"
    shutil.copytree(recorded_store, copy)
    # ML Metadata records absolute paths: point the copy's records at the copy's files.
    with sqlite3.connect(copy / "metadata.db") as db:
        db.execute("UPDATE Artifact SET uri = replace(uri, ?, ?)",
                   (str(recorded_store), str(copy)))
    if damage == "truncate":
        path = copy / "tfx/evaluation/6/metrics-00000-of-00001.tfrecord"
        path.write_bytes(path.read_bytes()[:-2])
    else:
        (copy / "tfx/statistics/2/Split-eval/FeatureStats.pb").unlink()
    done = _cli("show", "--output-dir", str(copy))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: cannot read the run's artifacts: ")
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1
