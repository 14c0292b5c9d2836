"""pipeline.serving on tiny hand-made SavedModels: REST JSON formats, warm-up requests,
the fresh-process servable check and the atomic publish."""

import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.config import model_server_config_pb2

from pipeline import serving

INPUTS = {"x": "float32", "n": "int64", "s": "string"}


def _example(**values) -> bytes:
    features = {}
    for name, value in values.items():
        if isinstance(value, str):
            features[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, int):
            features[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


SAMPLE = [_example(x=0.5, n=3, s="a"), _example(n=1), _example(x=-2.0, s="b")]


def _save_model(path, offset=0.0, python_op=False):
    """serving_default (JSON, with missing markers) and from_examples (tf.Example) that
    compute the same score, unless `offset` skews the JSON one."""

    def score(x, n, s):
        bonus = tf.cast(tf.equal(s, "a"), tf.float32) + tf.cast(n, tf.float32) / 10
        return tf.reshape(tf.sigmoid(x + bonus), [-1, 1])

    class Scorer(tf.Module):
        @tf.function(input_signature=[{name: tf.TensorSpec([None], dtype, name=name)
                                       for name, dtype in INPUTS.items()}])
        def serve_json(self, features):
            x = tf.where(tf.math.is_nan(features["x"]), 0.0, features["x"])
            n = tf.where(features["n"] < 0, tf.zeros_like(features["n"]), features["n"])
            if python_op:
                x = tf.reshape(tf.py_function(lambda value: value, [x], tf.float32), [-1])
            return {"probability": score(x, n, features["s"]) + offset}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(self, serialized):
            parsed = tf.io.parse_example(serialized, {
                "x": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
                "n": tf.io.FixedLenFeature([], tf.int64, default_value=0),
                "s": tf.io.FixedLenFeature([], tf.string, default_value=""),
            })
            return {"probability": score(parsed["x"], parsed["n"], parsed["s"])}

    module = Scorer()
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.serve_json, "from_examples": module.serve_examples})
    return path


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    return _save_model(tmp_path_factory.mktemp("models") / "good")


@pytest.fixture
def check_in_process(monkeypatch):
    """publish's servable check in this process: the same check_servable, its report
    through JSON as the check process prints it, without a fresh TensorFlow process per
    publish (test_check_runs_in_a_fresh_process_and_reports_json and
    test_a_prestarted_check_process_imports_tensorflow_before_the_check run the real
    process through run_check, the function publish calls).
    Returns the (version_dir, reference_dir) pairs checked, so a publish that skipped
    the check fails the test."""
    import json

    checked = []

    def run_check(version_dir, reference_dir):
        checked.append((Path(version_dir), Path(reference_dir)))
        report = serving.check_servable(Path(version_dir), Path(reference_dir))
        return json.loads(json.dumps(report, allow_nan=True))

    monkeypatch.setattr(serving, "run_check", run_check)
    return checked


def test_examples_become_instances_with_missing_markers():
    instances = serving.json_instances(SAMPLE, INPUTS)
    assert instances[0] == {"x": 0.5, "n": 3, "s": "a"}
    assert math.isnan(instances[1]["x"]) and instances[1]["n"] == 1 and instances[1]["s"] == ""
    assert instances[2]["n"] == -1


def test_row_and_columnar_requests_give_the_same_arrays():
    instances = serving.json_instances(SAMPLE, INPUTS)
    rows, row_format = serving.request_arrays({"instances": instances}, INPUTS)
    columns, columnar_format = serving.request_arrays(
        {"inputs": {name: [row[name] for row in instances] for name in INPUTS}}, INPUTS)
    assert row_format and not columnar_format
    for name in INPUTS:
        assert rows[name].dtype == columns[name].dtype
        np.testing.assert_array_equal(rows[name], columns[name])
    assert rows["n"].dtype == np.int64 and rows["x"].dtype == np.float32
    assert list(rows["s"]) == [b"a", b"", b"b"]


@pytest.mark.parametrize(("body", "message"), [
    ({}, "exactly one of"),
    ({"instances": [], "inputs": {}}, "exactly one of"),
    ({"instances": []}, "non-empty list"),
    ({"instances": [{"x": 1.0, "n": 1, "s": "a"}, {"x": 1.0, "n": 1}]}, "instance 1"),
    ({"inputs": {"x": [1.0], "n": [1]}}, "inputs missing: s"),
    ({"inputs": {"x": [1.0], "n": [1], "s": ["a"], "tips": [1.0]}}, "unknown: tips"),
    ({"inputs": {"x": ["many"], "n": [1], "s": ["a"]}}, "'x' is not a list of float32"),
    ({"inputs": {"x": [1.0, 2.0], "n": [1], "s": ["a"]}}, "one value per instance"),
])
def test_bad_requests_are_refused_with_the_reason(body, message):
    with pytest.raises(serving.RequestError, match=message):
        serving.request_arrays(body, INPUTS)


def test_response_formats_follow_tf_serving():
    outputs = {"probability": tf.constant([[0.25], [0.1]])}
    assert serving.response(outputs, row_format=True) == {"predictions": [[0.25], [0.1]]}
    assert serving.response(outputs, row_format=False) == {"outputs": [[0.25], [0.1]]}
    both = {"probability": tf.constant([0.5]), "label": tf.constant([b"yes"])}
    assert serving.response(both, row_format=True) == {
        "predictions": [{"probability": 0.5, "label": "yes"}]}


def test_csv_rows_become_instances(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("x,n,s,tips\n1.5,2,a,9\n,,,\n")
    assert serving.csv_instances(path, INPUTS)[0] == {"x": 1.5, "n": 2, "s": "a"}
    empty = serving.csv_instances(path, INPUTS)[1]
    assert math.isnan(empty["x"]) and empty["n"] == -1 and empty["s"] == ""
    path.write_text("x,s\n1,a\n")
    with pytest.raises(serving.RequestError, match="lacks the columns n"):
        serving.csv_instances(path, INPUTS)
    path.write_text("x,n,s\n1,two,a\n")
    with pytest.raises(serving.RequestError, match=r"rows.csv:2: n='two' is not a int64"):
        serving.csv_instances(path, INPUTS)
    # Excel's "CSV UTF-8": the byte-order mark is not part of the first column's name.
    path.write_text("\ufeffx,n,s\r\n2.5,3,b\r\n", newline="")
    assert serving.csv_instances(path, INPUTS) == [{"x": 2.5, "n": 3, "s": "b"}]


# A model trained on columns with odd names takes them under their input names.
COLUMNS = {"sepal_length_cm": "sepal length (cm)", "col_2nd_plan": "2nd-plan",
           "Region": "Région"}
ODD_INPUTS = {"sepal_length_cm": "float32", "col_2nd_plan": "int64", "Region": "string"}


def test_csv_rows_with_the_training_data_header_map_onto_the_input_names(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("sepal length (cm),2nd-plan,Région,churned\n5.1,2,Île,yes\n,,,no\n",
                    encoding="utf-8")
    first, empty = serving.csv_instances(path, ODD_INPUTS, COLUMNS)
    assert first == {"sepal_length_cm": 5.1, "col_2nd_plan": 2, "Region": "Île"}
    assert math.isnan(empty["sepal_length_cm"]) and empty["col_2nd_plan"] == -1
    # A header of the input names themselves works too.
    path.write_text("sepal_length_cm,col_2nd_plan,Region\n5.1,2,a\n")
    assert serving.csv_instances(path, ODD_INPUTS, COLUMNS)[0]["Region"] == "a"
    path.write_text("sepal length (cm),2nd-plan\n5.1,2\n")
    with pytest.raises(serving.MissingInputs, match="lacks the columns Région") as missing:
        serving.csv_instances(path, ODD_INPUTS, COLUMNS)
    assert missing.value.given == {"sepal length (cm)", "2nd-plan"}
    path.write_text("sepal length (cm),sepal_length_cm,2nd-plan,Région\n1,1,1,a\n")
    with pytest.raises(serving.RequestError, match="'sepal length .cm.' and "
                       "'sepal_length_cm' are both the input 'sepal_length_cm'"):
        serving.csv_instances(path, ODD_INPUTS, COLUMNS)
    path.write_text("sepal length (cm),2nd-plan,Région\nlong,1,a\n", encoding="utf-8")
    with pytest.raises(serving.RequestError, match=r"rows.csv:2: sepal length \(cm\)='long'"):
        serving.csv_instances(path, ODD_INPUTS, COLUMNS)


def test_json_bodies_may_name_inputs_by_their_column_names():
    row = {"sepal length (cm)": 5.1, "2nd-plan": 2, "Région": "Île"}
    body, renamed = serving.rename_request({"instances": [row, row]}, ODD_INPUTS)
    assert body == {"instances": [{"sepal_length_cm": 5.1, "col_2nd_plan": 2,
                                   "Region": "Île"}] * 2}
    assert renamed == {"sepal length (cm)": "sepal_length_cm", "2nd-plan": "col_2nd_plan",
                       "Région": "Region"}
    columnar = {"inputs": {"sepal_length_cm": [5.1], "2nd-plan": [2], "Région": ["a"],
                           "extra": [1]}}
    body, renamed = serving.rename_request(columnar, ODD_INPUTS)
    assert set(body["inputs"]) == {*ODD_INPUTS, "extra"}
    assert renamed == {"2nd-plan": "col_2nd_plan", "Région": "Region"}
    # What TF Serving would refuse is still refused, naming the columns.
    with pytest.raises(serving.MissingInputs, match=r"inputs missing: Region \(column "
                       r"'Région'\), col_2nd_plan \(column '2nd-plan'\);"):
        serving.request_arrays({"inputs": {"sepal_length_cm": [1.0]}}, ODD_INPUTS, COLUMNS)


def test_examples_of_odd_columns_become_instances_of_their_input_names():
    serialized = tf.train.Example(features=tf.train.Features(feature={
        "sepal length (cm)": tf.train.Feature(float_list=tf.train.FloatList(value=[5.5])),
        "Région": tf.train.Feature(bytes_list=tf.train.BytesList(value=["Île".encode()])),
    })).SerializeToString()
    (instance,) = serving.json_instances([serialized], ODD_INPUTS)
    assert instance == {"sepal_length_cm": 5.5, "col_2nd_plan": -1, "Region": "Île"}


def test_models_config_lists_the_model_and_keeps_others(tmp_path):
    path = tmp_path / "models.config"
    serving.write_models_config(path, "other", tmp_path / "other")
    serving.write_models_config(path, "big_tipper", tmp_path / "old")
    serving.write_models_config(path, "big_tipper", tmp_path / "serving" / "big_tipper")
    from google.protobuf import text_format

    config = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {entry.name: entry for entry in config.model_config_list.config}
    assert set(entries) == {"other", "big_tipper"}
    assert entries["big_tipper"].base_path == str(tmp_path / "serving" / "big_tipper")
    assert entries["big_tipper"].model_platform == "tensorflow"


def test_publish_checks_then_adds_a_newer_version_with_warmup(tmp_path, good_model,
                                                             check_in_process):
    model_dir = tmp_path / "serving" / "m"
    (model_dir / "9").mkdir(parents=True)
    (model_dir / ".staging-5").mkdir()  # left by a killed run
    version, report = serving.publish(good_model, model_dir, "m", SAMPLE)
    # Checked once, in a staging folder next to the versions, against the given model.
    ((staged, reference),) = check_in_process
    assert staged.parent == model_dir and staged.name.startswith(serving.STAGING_PREFIX)
    assert reference == good_model and report["warmup_requests"] == 4
    assert serving.versions(model_dir) == [9, version] and version > 9
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(".")] == []
    assert report["problems"] == [] and report["examples"] == len(SAMPLE)
    assert report["max_difference"] <= serving.TOLERANCE
    logs = serving.read_warmup(model_dir / str(version))
    requests = [log.predict_log.request for log in logs]
    assert {r.model_spec.signature_name for r in requests} == {"serving_default",
                                                               "from_examples"}
    assert {r.model_spec.name for r in requests} == {"m"}
    sizes = sorted(tf.make_ndarray(next(iter(r.inputs.values()))).shape[0] for r in requests)
    assert sizes == [1, 1, len(SAMPLE), len(SAMPLE)]


def test_version_with_a_python_op_is_not_published(tmp_path, good_model, check_in_process):
    model_dir = tmp_path / "serving" / "m"
    shutil.copytree(good_model, model_dir / "100")
    bad = _save_model(tmp_path / "bad", python_op=True)
    assert "EagerPyFunc" in serving.unservable_ops(bad)
    # The static scan's finding: without the scan, the warm-up request to the Python op
    # fails in the fresh check process with a message that names EagerPyFunc too (in
    # this process, where the op's Python function exists, it would even succeed).
    with pytest.raises(serving.ServingCheckFailed,
                       match="a static scan of the serving graph found ops .*: EagerPyFunc$"):
        serving.publish(bad, model_dir, "m", SAMPLE)
    assert sorted(p.name for p in model_dir.iterdir()) == ["100"]
    assert [reference for _, reference in check_in_process] == [bad]


def test_json_signature_that_scores_differently_is_not_published(tmp_path, check_in_process):
    skewed = _save_model(tmp_path / "skewed", offset=0.1)
    with pytest.raises(serving.ServingCheckFailed, match="differ from the evaluated model"):
        serving.publish(skewed, tmp_path / "serving" / "m", "m", SAMPLE)
    assert serving.versions(tmp_path / "serving" / "m") == []
    assert [reference for _, reference in check_in_process] == [skewed]


def _staged(tmp_path, model):
    """A copy of `model` with its warm-up requests, as publish stages a version."""
    staged = tmp_path / "staged"
    shutil.copytree(model, staged)
    serving.write_warmup(staged, serving.warmup_logs(SAMPLE, staged, "m"))
    return staged


def test_check_runs_in_a_fresh_process_and_reports_json(tmp_path, good_model):
    staged = _staged(tmp_path, good_model)
    report = serving.run_check(staged, good_model)
    assert report["problems"] == [] and report["warmup_requests"] == 4
    assert report["examples"] == len(SAMPLE) and report["max_difference"] <= serving.TOLERANCE


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def test_a_prestarted_check_process_imports_tensorflow_before_the_check(tmp_path, good_model):
    staged = _staged(tmp_path, good_model)
    serving.prestart_check()
    process = serving._prestarted
    try:
        deadline = time.monotonic() + 60
        while "libtensorflow" not in _maps(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        # Waiting on stdin with TensorFlow loaded: the import is off the check's path.
        assert "libtensorflow" in _maps(process.pid) and process.poll() is None
        report = serving.run_check(staged, good_model)
    finally:
        serving.discard_prestarted()
    assert report["problems"] == [] and report["warmup_requests"] == 4
    # Used once: the process is gone, and the next check starts a fresh one.
    assert process.returncode == 0 and serving._prestarted is None


def test_an_unused_prestarted_check_process_is_ended():
    serving.prestart_check()
    process = serving._prestarted
    serving.discard_prestarted()
    assert process.returncode is not None and serving._prestarted is None
    serving.discard_prestarted()  # nothing started: nothing to do


def test_a_check_process_without_a_request_exits_quietly():
    process = serving._start_check_process()
    stdout, _ = process.communicate("", timeout=120)
    assert process.returncode == 0 and stdout == ""


def test_publish_never_writes_through_a_planted_staging_symlink(tmp_path, good_model,
                                                                 monkeypatch, check_in_process):
    model_dir = tmp_path / "serving" / "m"
    model_dir.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    monkeypatch.setattr(serving.time, "time", lambda: 1_700_000_000)
    (model_dir / f"{serving.STAGING_PREFIX}1700000000").symlink_to(outside)
    version, report = serving.publish(good_model, model_dir, "m", SAMPLE)
    assert version == 1_700_000_000 and report["problems"] == []
    assert [p.name for p in outside.iterdir()] == ["keep.txt"]
    assert [p.name for p in model_dir.iterdir()] == [str(version)]
    assert (model_dir / str(version) / "saved_model.pb").is_file()
    # The check ran on a fresh staging folder, not through the planted link.
    ((staged, reference),) = check_in_process
    assert staged.parent == model_dir and staged.name != f"{serving.STAGING_PREFIX}1700000000"
    assert reference == good_model
