"""The TFLite copy of the session's pushed taxi model (tests/conftest.py, good_taxi_run):
what the Pusher wrote and checked, what the run summary says, and that `predict
--tflite` scores the taxi rows as `predict` (the SavedModel) does.

The session's run leaves the TFLite export at its default (on), so its pushed version
carries `assets.extra/model.tflite`, converted with builtin ops only. A version without
one (run --no-tflite, or a model that does not convert) and the refusal of `predict
--tflite` for it are covered by tests/test_tflite.py and tests/test_pusher.py."""

import csv
import json

import numpy as np
import pytest

from pipeline import tflite
from pipeline.config import Config
from tests.conftest import cli_in_process

pytestmark = pytest.mark.e2e


def _version_dir(good_taxi_run):
    summary = good_taxi_run["summary"]
    return good_taxi_run["out"] / "serving" / Config.model_name / str(
        summary["pushed_version"])


def test_the_pushed_taxi_version_carries_a_checked_builtin_ops_tflite_model(good_taxi_run):
    summary = good_taxi_run["summary"]
    check = summary["servable_check"]
    assert check["problems"] == []
    report = check["tflite"]
    assert report["written"] is True, report.get("reason")
    assert report["ops"] == "TFLITE_BUILTINS" and report["path"] == str(tflite.TFLITE_FILE)
    assert report["examples"] == 16
    assert report["max_difference"] <= tflite.ABSOLUTE_TOLERANCE
    version_dir = _version_dir(good_taxi_run)
    path = version_dir / tflite.TFLITE_FILE
    assert path.stat().st_size == report["bytes"]
    # Not at the top of the version, where TF Serving's --prefer_tflite_model would
    # load it instead of the SavedModel.
    assert (version_dir / "saved_model.pb").is_file()
    assert not (version_dir / "model.tflite").exists()
    assert tflite.summary_line(report).startswith(f"{tflite.TFLITE_FILE} (")


def test_predict_tflite_scores_the_taxi_rows_as_predict_does(good_taxi_run, tmp_path):
    sample = tmp_path / "rows.csv"
    with (good_taxi_run["data"] / "span-1" / "data.csv").open(newline="") as source:
        rows = list(csv.reader(source))[:41]
    with sample.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    out = str(good_taxi_run["out"])
    saved_model = cli_in_process("predict", str(sample), "--output-dir", out)
    assert saved_model.returncode == 0, saved_model.stderr
    lite = cli_in_process("predict", str(sample), "--output-dir", out, "--tflite")
    assert lite.returncode == 0, lite.stderr
    expected = np.array(json.loads(saved_model.stdout)["predictions"])
    answer = np.array(json.loads(lite.stdout)["predictions"])
    assert answer.shape == expected.shape == (40, 1)
    assert np.allclose(answer, expected, atol=tflite.ABSOLUTE_TOLERANCE, rtol=0)
    # Forty different taxi trips: the scores are not one constant.
    assert len({round(float(score), 3) for score in expected[:, 0]}) > 20
