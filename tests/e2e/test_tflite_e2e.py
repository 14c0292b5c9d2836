"""The TFLite copy of the session's pushed taxi model (tests/conftest.py, good_taxi_run):
what the Pusher did with it, what the run summary says, and `predict --tflite`.

The taxi model's serving signature needs three TensorFlow ops TFLite's builtins lack
(its Transform graph's string densifying, vocabulary out-of-vocabulary hashing and
bucketizing), and tf.lite.Interpreter in this TensorFlow has no Flex delegate to run
them, so the version is published for TF Serving without a TFLite file and says why.
When a model does convert, the TFLite scores must match `predict`'s SavedModel scores:
that path is checked on a numeric dataset in tests/e2e/test_byo_csv_e2e.py."""

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


def test_the_taxi_version_has_no_tflite_file_and_the_summary_says_why(good_taxi_run):
    summary = good_taxi_run["summary"]
    report = summary["servable_check"]["tflite"]
    assert report["written"] is False
    for op in ("SparseToDense", "StringToHashBucketFast", "UpperBound"):
        assert op in report["reason"]
    version_dir = _version_dir(good_taxi_run)
    assert not (version_dir / tflite.TFLITE_FILE).exists()
    # Still published for TF Serving, checked as always.
    assert (version_dir / "saved_model.pb").is_file()
    assert summary["servable_check"]["problems"] == []
    # The text summary says it in one line.
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
