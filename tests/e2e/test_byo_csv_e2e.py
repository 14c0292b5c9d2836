"""Bring your own CSV: real datasets bundled with scikit-learn, written by
`prepare-data`, run through the real LocalDagRunner with nothing but --label and
--task: one binary classification with a string label, one multi-class, one regression.
Each must infer and save a schema, train, be blessed, push a model that TF Serving can
load, and that model must answer requests made of the CSV's own rows."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from pipeline.config import REPO_ROOT
from tests.conftest import run_pipeline

pytestmark = pytest.mark.e2e


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)


def _run(tmp_path, dataset, label, task):
    data, out = tmp_path / "data", tmp_path / "out"
    prepared = _cli("prepare-data", "--dataset", dataset, "--data-dir", str(data))
    assert prepared.returncode == 0, prepared.stderr
    result = run_pipeline(data, out, "--label", label, "--task", task, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["data_passed"] and summary["blessed"] and summary["pushed"], summary
    assert summary["servable_check"]["max_difference"] < 1e-4
    # The schema was inferred on this first run and saved next to the data for review.
    schema = (data / "schema.pbtxt").read_text()
    assert schema.startswith("# Inferred by `python -m pipeline run`")
    assert f'name: "{label}"' in schema
    assert "inferred a schema" in result.stderr
    # The pushed model answers the CSV's own rows (the label column is ignored).
    sample = tmp_path / "sample.csv"
    with (data / "data.csv").open(newline="") as source:
        rows = list(csv.reader(source))
    sample.write_text("\n".join(",".join(row) for row in rows[:11]) + "\n")
    answer = _cli("predict", str(sample), "--output-dir", str(out))
    assert answer.returncode == 0, answer.stderr
    predictions = np.array(json.loads(answer.stdout)["predictions"])
    return summary, predictions, rows


def test_binary_classification_with_a_string_label(tmp_path):
    summary, predictions, rows = _run(tmp_path, "breast-cancer", "diagnosis", "classification")
    metrics = summary["metrics"]
    # A random forest reaches about 0.99 AUC on this split (bench/datasets.py).
    assert metrics["auc"] > 0.97 and metrics["binary_accuracy"] > 0.9
    assert predictions.shape == (10, 1)
    # The output is P(second class in sorted order) = P(malignant).
    malignant = np.array([row[-1] == "malignant" for row in rows[1:11]])
    assert malignant.any() and (predictions[malignant, 0] > 0.5).mean() >= 0.8


def test_multi_class_classification(tmp_path):
    summary, predictions, rows = _run(tmp_path, "wine", "cultivar", "classification")
    metrics = summary["metrics"]
    assert metrics["sparse_categorical_accuracy"] > 0.85 and metrics["macro_auc"] > 0.95
    assert {"auc/class_0", "auc/class_1", "auc/class_2"} <= set(metrics)
    assert predictions.shape == (10, 3)
    assert np.allclose(predictions.sum(axis=1), 1.0, atol=1e-4)
    assert (predictions.argmax(axis=1) == [int(row[-1]) for row in rows[1:11]]).mean() >= 0.8


def test_regression(tmp_path):
    summary, predictions, rows = _run(tmp_path, "diabetes", "progression", "regression")
    metrics = summary["metrics"]
    labels = np.array([float(row[-1]) for row in rows[1:]])
    # Better than always predicting the mean (whose RMSE is the label's std, about 77).
    assert metrics["rmse"] < 0.85 * labels.std()
    assert metrics["mean_absolute_error"] < metrics["rmse"]
    assert predictions.shape == (10, 1)
    assert np.all((predictions > labels.min() - 50) & (predictions < labels.max() + 50))
