"""The TFLite copy of the session's pushed taxi model (tests/conftest.py, good_taxi_run):
what the Pusher did with it, what the run summary says, and `predict --tflite`.

The taxi model's serving signature needs three TensorFlow ops TFLite's builtins lack
(its Transform graph's string densifying, vocabulary out-of-vocabulary hashing and
bucketizing), and tf.lite.Interpreter in this TensorFlow has no Flex delegate to run
them, so the version is published for TF Serving without a TFLite file and says why.
The session's run does not ask for the copy (`run --tflite`, off by default), so the
conversion is tried here directly. When a model does convert, the TFLite scores must
match `predict`'s SavedModel scores: tests/test_tflite.py checks that path."""

import csv
import json

import pytest

from pipeline import serving, tflite
from pipeline.config import Config
from pipeline.exit_codes import EXIT_USAGE
from tests.conftest import cli_in_process

pytestmark = pytest.mark.e2e


def _version_dir(good_taxi_run):
    summary = good_taxi_run["summary"]
    return good_taxi_run["out"] / "serving" / Config.model_name / str(
        summary["pushed_version"])


def test_the_taxi_version_has_no_tflite_file_and_would_not_convert(good_taxi_run):
    # The session's run did not ask for a TFLite copy (run --tflite), so the Pusher
    # did not try one.
    summary = good_taxi_run["summary"]
    assert "tflite" not in summary["servable_check"]
    version_dir = _version_dir(good_taxi_run)
    assert not (version_dir / tflite.TFLITE_FILE).exists()
    assert (version_dir / "saved_model.pb").is_file()
    assert summary["servable_check"]["problems"] == []
    # Asked for, the copy would be refused for these ops, which is what the run
    # summary would say (README: The TFLite copy).
    model, report = tflite.export(version_dir, [])
    assert model is None and report["written"] is False
    for op in ("SparseToDense", "StringToHashBucketFast", "UpperBound"):
        assert op in report["reason"]
    assert tflite.summary_line(report).startswith("none written: the model needs")


def test_predict_tflite_refuses_a_version_without_one_in_one_line(good_taxi_run, tmp_path):
    sample = tmp_path / "rows.csv"
    with (good_taxi_run["data"] / "span-1" / "data.csv").open(newline="") as source:
        rows = list(csv.reader(source))[:4]
    with sample.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    out = str(good_taxi_run["out"])
    saved_model = cli_in_process("predict", str(sample), "--output-dir", out)
    assert saved_model.returncode == 0, saved_model.stderr
    assert len(json.loads(saved_model.stdout)["predictions"]) == 3
    refused = cli_in_process("predict", str(sample), "--output-dir", out, "--tflite")
    assert refused.returncode == EXIT_USAGE and refused.stdout == ""
    [error] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert "has no TFLite model" in error and "Traceback" not in refused.stderr
    assert serving.versions(good_taxi_run["out"] / "serving" / Config.model_name)
