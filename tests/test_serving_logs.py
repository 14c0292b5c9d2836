"""Serving logs (pipeline/serving_logs.py) with a tiny SavedModel over three taxi
columns: what `append` writes is a PredictionLog with the request and the response,
readers skip files being written, `skew_report` flags skewed inputs and drifted scores
with TFDV and is not fooled by the label missing from serving data, and
`predict --log-dir` logs each call."""

import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_serving.apis import prediction_log_pb2

from models.signatures import JSON_SIGNATURE
from pipeline import cli, predict_cli, serving, serving_logs, workspace
from pipeline.config import DEFAULT_SCHEMA_PATH, TAXI
from pipeline.data import packaged_taxi_csv
from pipeline.schema_file import load_schema
from tests.conftest import cli_in_process
from tests.published import record_push

INPUTS = {"fare": tf.float32, "payment_type": tf.string, "trip_start_hour": tf.int64}
COLUMNS = list(INPUTS)
# A schema without environments whose label must be in every row, as the first run
# of a --label dataset infers one (schema_review.bootstrap).
SMALL_SCHEMA = """
feature { name: "fare" type: FLOAT }
feature { name: "payment_type" type: BYTES }
feature { name: "trip_start_hour" type: INT int_domain { min: 0 max: 23 } }
feature { name: "tipped" type: BYTES string_domain { value: "no" value: "yes" }
          presence { min_fraction: 1.0 min_count: 1 } }
"""


def _tiny_model(path):
    """A serving_default over INPUTS whose probability grows with the fare."""

    class Model(tf.Module):
        @tf.function(input_signature=[{name: tf.TensorSpec([None], dtype, name=name)
                                       for name, dtype in INPUTS.items()}])
        def serve(self, features):
            fare = tf.where(tf.math.is_nan(features["fare"]), 0.0, features["fare"])
            return {"probability": tf.reshape(tf.sigmoid((fare - 10.0) / 5.0), [-1, 1])}

    model = Model()
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.serve})


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("serving") / "big_tipper" / "7"
    _tiny_model(path)
    return path


@pytest.fixture(scope="module")
def model(version_dir):
    return tf.saved_model.load(str(version_dir), tags=["serve"])


@pytest.fixture(scope="module")
def taxi():
    """The packaged taxi trips, shuffled, split in a training and a serving half."""
    frame = pd.read_csv(packaged_taxi_csv()).sample(frac=1.0, random_state=0)
    frame["trip_start_hour"] = frame["trip_start_hour"].astype("int64")
    half = len(frame) // 2
    return frame.iloc[:half], frame.iloc[half:]


@pytest.fixture(scope="module")
def training_statistics(taxi):
    train, _ = taxi
    return tfdv.generate_statistics_from_dataframe(
        train[[*COLUMNS, "tips"]], tfdv.StatsOptions(num_histogram_buckets=50))


def _body(frame: pd.DataFrame) -> dict:
    return {"instances": [{"fare": float(row.fare), "payment_type": row.payment_type,
                           "trip_start_hour": int(row.trip_start_hour)}
                          for row in frame.itertuples()]}


def _log(log_dir, version_dir, model, frame, calls: int = 4) -> np.ndarray:
    """Predicts `frame` in `calls` requests, logging each; returns the scores."""
    inputs = serving.signature_inputs(version_dir, JSON_SIGNATURE)
    scores = []
    for part in np.array_split(np.arange(len(frame)), calls):
        body = _body(frame.iloc[part])
        answer = serving.predict_json(model, inputs, body)
        serving_logs.append(log_dir, version_dir, body, answer)
        scores += [row[0] for row in answer["predictions"]]
    return np.array(scores)


def test_a_logged_call_is_a_prediction_log_of_the_request_and_the_response(
        tmp_path, version_dir, model):
    body = {"instances": [
        {"fare": 12.5, "payment_type": "Cash", "trip_start_hour": 3},
        {"fare": float("nan"), "payment_type": "", "trip_start_hour": -1}]}
    answer = serving.predict_json(model, serving.signature_inputs(version_dir, JSON_SIGNATURE),
                                  body)
    path = serving_logs.append(tmp_path / "logs", version_dir, body, answer)

    assert path.parent == tmp_path / "logs" and path.name.startswith("predict-")
    assert [p.name for p in (tmp_path / "logs").iterdir()] == [path.name]  # no temp left
    (record,) = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    log = prediction_log_pb2.PredictionLog.FromString(record)
    request, response = log.predict_log.request, log.predict_log.response
    assert request.model_spec.name == "big_tipper" and request.model_spec.version.value == 7
    assert request.model_spec.signature_name == "serving_default"
    assert log.log_metadata.model_spec.version.value == 7 and log.log_metadata.timestamp_secs
    assert set(request.inputs) == set(INPUTS)
    fare = tf.make_ndarray(request.inputs["fare"])
    assert fare.dtype == np.float32 and fare[0] == 12.5 and np.isnan(fare[1])
    assert tf.make_ndarray(request.inputs["payment_type"]).tolist() == [b"Cash", b""]
    assert tf.make_ndarray(request.inputs["trip_start_hour"]).tolist() == [3, -1]
    probability = tf.make_ndarray(response.outputs["probability"])
    assert probability.shape == (2, 1)
    assert probability[:, 0].tolist() == pytest.approx(
        [row[0] for row in answer["predictions"]])


def test_read_gives_inputs_and_scores_and_skips_files_being_written(
        tmp_path, version_dir, model, taxi):
    _, serve = taxi
    log_dir = tmp_path / "logs"
    scores = _log(log_dir, version_dir, model, serve.iloc[:10], calls=2)
    # A file another process is still writing, and a torn one it left when killed.
    (log_dir / ".predict-1-2-abcd.tfrecord").write_bytes(b"\x00partial")
    body = {"instances": [{"fare": float("nan"), "payment_type": "", "trip_start_hour": -1}]}
    answer = serving.predict_json(model, serving.signature_inputs(version_dir, JSON_SIGNATURE),
                                  body)
    serving_logs.append(log_dir, version_dir, body, answer)

    logged = serving_logs.read(log_dir, {"fare": "fare"})
    assert logged.requests == 3
    assert logged.scores.shape == (11, 1)
    assert logged.scores[:10, 0] == pytest.approx(scores)
    table = logged.inputs.to_pydict()
    assert [len(cell) for cell in table["fare"][:10]] == [1] * 10
    assert [cell[0] for cell in table["fare"][:10]] == pytest.approx(list(serve.fare.iloc[:10]))
    assert table["payment_type"][:10] == [[v.encode()] for v in serve.payment_type.iloc[:10]]
    # The request's missing-value markers are missing values again.
    assert [table[name][10] for name in COLUMNS] == [[], [], []]


def test_read_refuses_a_missing_or_empty_folder_and_a_corrupt_file(tmp_path, version_dir, model):
    with pytest.raises(serving_logs.LogError, match="is not a folder"):
        serving_logs.read(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(serving_logs.LogError, match="holds no predict logs"):
        serving_logs.read(tmp_path / "empty")
    body = {"instances": [{"fare": 1.0, "payment_type": "Cash", "trip_start_hour": 1}]}
    answer = serving.predict_json(model, serving.signature_inputs(version_dir, JSON_SIGNATURE),
                                  body)
    path = serving_logs.append(tmp_path / "torn", version_dir, body, answer)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(serving_logs.LogError, match="cannot read .*truncated"):
        serving_logs.read(tmp_path / "torn")


def test_inputs_like_training_are_not_skewed_and_scores_do_not_drift(
        tmp_path, version_dir, model, taxi, training_statistics):
    train, serve = taxi
    inputs = serving.signature_inputs(version_dir, JSON_SIGNATURE)
    reference = np.array(serving.predict_json(model, inputs, _body(train.iloc[:3000]))
                         ["predictions"])
    _log(tmp_path, version_dir, model, serve.iloc[:2000])

    report = serving_logs.skew_report(tmp_path, load_schema(DEFAULT_SCHEMA_PATH),
                                      training_statistics, reference)

    assert report["requests"] == 4 and report["instances"] == 2000
    assert report["skewed_features"] == []
    # Both features the gate has thresholds for and the requests carry were measured.
    measured = {row["feature"]: row for row in report["skew"]}
    assert set(measured) == {"fare", "payment_type"}
    assert measured["fare"]["measure"] == "jensen_shannon_divergence"
    assert measured["payment_type"]["measure"] == "l_infinity"
    assert measured["fare"]["threshold"] == dict(TAXI["drift_thresholds"])["fare"]
    assert 0 < measured["fare"]["value"] < measured["fare"]["threshold"]
    # tips (the label's column) and the columns the model does not take are absent
    # from serving data: no anomaly in the SERVING environment.
    assert report["anomalies"] == []
    drift = report["prediction_drift"]
    assert drift["drifted"] is False and drift["value"] < drift["threshold"]
    assert drift["scores"] == 2000 and drift["reference_scores"] == 3000
    assert set(drift["columns"]) == {"score"}


def test_shifted_fares_are_skewed_and_their_scores_drift(
        tmp_path, version_dir, model, taxi, training_statistics):
    train, serve = taxi
    shifted = serve.iloc[:2000].assign(fare=serve.fare.iloc[:2000] * 3)
    inputs = serving.signature_inputs(version_dir, JSON_SIGNATURE)
    reference = np.array(serving.predict_json(model, inputs, _body(train.iloc[:3000]))
                         ["predictions"])
    _log(tmp_path, version_dir, model, shifted)

    report = serving_logs.skew_report(tmp_path, load_schema(DEFAULT_SCHEMA_PATH),
                                      training_statistics, reference)

    (skewed,) = report["skewed_features"]
    assert skewed["feature"] == "fare" and skewed["measure"] == "jensen_shannon_divergence"
    assert skewed["value"] > skewed["threshold"] == 0.2
    assert report["enough_instances"] is True
    assert report["prediction_drift"]["drifted"] is True
    assert report["prediction_drift"]["value"] > report["prediction_drift"]["threshold"]


def test_scores_shifted_alone_drift_without_skew_and_no_reference_means_no_drift_check(
        tmp_path, version_dir, model, taxi, training_statistics):
    _, serve = taxi
    scores = _log(tmp_path, version_dir, model, serve.iloc[:2000])
    schema = load_schema(DEFAULT_SCHEMA_PATH)

    report = serving_logs.skew_report(tmp_path, schema, training_statistics,
                                      np.clip(scores + 0.4, 0, 1))
    assert report["skewed_features"] == []
    assert report["prediction_drift"]["drifted"] is True
    assert serving_logs.skew_report(tmp_path, schema, training_statistics)[
        "prediction_drift"] is None
    with pytest.raises(serving_logs.LogError, match="2 columns; the logged scores have 1"):
        serving_logs.skew_report(tmp_path, schema, training_statistics,
                                 np.stack([scores, 1 - scores], axis=1))


def test_too_few_instances_are_measured_but_flag_nothing(
        tmp_path, version_dir, model, taxi, training_statistics):
    _, serve = taxi
    shifted = serve.iloc[:1000].assign(fare=serve.fare.iloc[:1000] * 3)
    scores = _log(tmp_path / "few", version_dir, model, shifted.iloc[:200], calls=1)
    schema = load_schema(DEFAULT_SCHEMA_PATH)

    few = serving_logs.skew_report(tmp_path / "few", schema, training_statistics,
                                   np.clip(scores - 0.4, 0, 1))
    assert few["instances"] == 200 and few["enough_instances"] is False
    assert few["skewed_features"] == [] and few["prediction_drift"]["drifted"] is False
    fare = next(row for row in few["skew"] if row["feature"] == "fare")
    assert fare["value"] > fare["threshold"]
    # The same stream, once it holds MIN_INSTANCES rows, is judged.
    _log(tmp_path / "few", version_dir, model, shifted.iloc[200:], calls=1)
    enough = serving_logs.skew_report(tmp_path / "few", schema, training_statistics)
    assert enough["instances"] == serving_logs.MIN_INSTANCES == 1000
    assert [row["feature"] for row in enough["skewed_features"]] == ["fare"]


def test_a_schema_without_environments_gets_serving_in_memory_without_the_label(
        tmp_path, version_dir, model, taxi):
    train, serve = taxi
    schema = text_format.Parse(SMALL_SCHEMA, schema_pb2.Schema())
    frame = train[COLUMNS].assign(tipped=np.where(train.tips > 0.2 * train.fare, "yes", "no"))
    statistics = tfdv.generate_statistics_from_dataframe(
        frame, tfdv.StatsOptions(num_histogram_buckets=50))
    _log(tmp_path, version_dir, model, serve.iloc[:1000], calls=2)

    report = serving_logs.skew_report(tmp_path, schema, statistics,
                                      thresholds={"fare": 0.2, "payment_type": 0.1})

    assert report["anomalies"] == [] and report["skewed_features"] == []
    assert not schema.default_environment  # the caller's schema is left as it was
    served = serving_logs.serving_schema(schema, set(COLUMNS))
    assert list(served.default_environment) == ["TRAINING", "SERVING"]
    assert [f.name for f in served.feature if "SERVING" in f.not_in_environment] == ["tipped"]
    # Without the SERVING environment TFDV would miss the label in serving data.
    found = tfdv.validate_statistics(
        serving_logs._statistics(serving_logs.read(tmp_path).inputs, 50), schema)
    assert "tipped" in found.anomaly_info


def _workspace(root, version_dir):
    """An output directory for a dataset of SMALL_SCHEMA with the tiny model pushed."""
    data_dir, output_dir = root / "data", root / "out"
    data_dir.mkdir()
    (data_dir / "schema.pbtxt").write_text(SMALL_SCHEMA, encoding="utf-8")
    (data_dir / "data.csv").write_text("fare,payment_type,trip_start_hour,tipped\n"
                                       "1,Cash,1,no\n", encoding="utf-8")
    output_dir.mkdir()
    (output_dir / workspace.DATASET_FILE).write_text(json.dumps({
        "label": "tipped", "task": "classification", "data_dir": str(data_dir),
        "schema_path": str(data_dir / "schema.pbtxt"), "excluded_columns": []}))
    shutil.copytree(version_dir, output_dir / "serving" / "tipped" / "3")
    record_push(output_dir, output_dir / "serving" / "tipped" / "3")
    return output_dir


def _predict(*args):
    out, err = io.StringIO(), io.StringIO()
    code = predict_cli.main(cli._parser().parse_args(["predict", *map(str, args)]), out, err)
    return code, out.getvalue(), err.getvalue()


def test_predict_log_dir_logs_each_answered_request_and_no_refused_one(tmp_path, version_dir):
    output_dir = _workspace(tmp_path, version_dir)
    log_dir = tmp_path / "logs"
    rows = tmp_path / "rows.csv"
    rows.write_text("fare,payment_type,trip_start_hour\n20.0,Cash,5\n,,\n", encoding="utf-8")
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": [
        {"fare": 4.0, "payment_type": "Credit Card", "trip_start_hour": 22}]}))
    refused = tmp_path / "refused.json"
    refused.write_text(json.dumps({"instances": [{"fare": 4.0}]}))

    answers = []
    for path in (rows, request):
        code, out, err = _predict(path, "--output-dir", output_dir, "--log-dir", log_dir)
        assert code == 0, err
        answers += [row[0] for row in json.loads(out)["predictions"]]
    code, out, _ = _predict(refused, "--output-dir", output_dir, "--log-dir", log_dir)
    assert code == 2 and out == ""

    assert len(serving_logs.log_files(log_dir)) == 2
    logged = serving_logs.read(log_dir)
    assert logged.requests == 2
    assert logged.scores[:, 0].tolist() == pytest.approx(answers)
    assert logged.inputs.to_pydict()["fare"] == [[20.0], [], [4.0]]
    specs = {log.predict_log.request.model_spec.version.value
             for log in serving_logs.logs(log_dir)}
    assert specs == {3}


def test_predict_log_dir_that_is_a_file_is_refused_in_one_sentence(tmp_path, version_dir):
    output_dir = _workspace(tmp_path, version_dir)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": [
        {"fare": 4.0, "payment_type": "Cash", "trip_start_hour": 2}]}))
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    # Refused while parsing the flags, before the model is loaded or anything scored.
    refused = cli_in_process("predict", str(request), "--output-dir", str(output_dir),
                             "--log-dir", str(blocker))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        f"error: argument --log-dir: {str(blocker)!r} exists and is not a folder "
        "(see pipeline predict --help)"]
    assert blocker.read_text() == ""
