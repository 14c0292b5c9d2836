"""Bring your own CSV: real datasets bundled with scikit-learn, written by
`prepare-data`, run through the real LocalDagRunner with nothing but --label and
--task: one binary classification with a string label, one multi-class, one regression.
Each must infer and save a schema, train, be blessed, push a model that TF Serving can
load, and that model must answer requests made of the CSV's own rows."""

import csv
import json

import numpy as np
import pytest

from pipeline.schema_file import load_schema
from tests.conftest import cli_in_process, run_pipeline_in_process

pytestmark = pytest.mark.e2e


def _cli(*args):
    """The CLI in this process (tests/conftest.py): the process is not under test."""
    return cli_in_process(*args)


def _run(tmp_path, dataset, label, task):
    data, out = tmp_path / "data", tmp_path / "out"
    prepared = _cli("prepare-data", "--dataset", dataset, "--data-dir", str(data))
    assert prepared.returncode == 0, prepared.stderr
    result = run_pipeline_in_process(data, out, "--label", label, "--task", task, "--json")
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


def _spreadsheet_csv(path, rows=400):
    """A customer table as Excel saves "CSV UTF-8": a byte-order mark before the first
    column (a model input), CRLF line ends, an ID column, empty cells in a numeric
    column (5 %) and a string column (4 %), and a yes/no label that the other columns
    predict well. Returns the labels."""
    import random

    rng = random.Random(0)
    lines, labels = ["tenure,customer_id,monthly_charges,plan,support_calls,churned"], []
    for index in range(rows):
        tenure, charges = rng.randint(1, 72), round(rng.uniform(20, 120), 2)
        plan, calls = rng.choice(["basic", "plus", "premium"]), rng.randint(0, 9)
        risk = (-0.06 * tenure + 0.02 * charges + 0.5 * calls + (1.0 if plan == "basic" else 0)
                + rng.gauss(0, 0.3))
        labels.append("yes" if risk > 1.5 else "no")
        lines.append(",".join([
            str(tenure), f"C{10000 + index}", "" if index % 20 == 3 else str(charges),
            "" if index % 25 == 7 else plan, str(calls), labels[-1]]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    return labels


def test_spreadsheet_csv_with_empty_cells_passes_the_gate_on_its_first_run(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    labels = _spreadsheet_csv(data / "customers.csv")
    result = run_pipeline_in_process(data, out, "--label", "churned", "--exclude", "customer_id",
                          "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["data_passed"] and summary["blessed"] and summary["pushed"], summary
    assert summary["metrics"]["auc"] > 0.9
    # The first column is named without the byte-order mark; the columns with empty
    # cells are optional, the label is not.
    schema = {feature.name: feature for feature in load_schema(data / "schema.pbtxt").feature}
    assert sorted(schema) == sorted(["tenure", "customer_id", "monthly_charges", "plan",
                                     "support_calls", "churned"])
    for optional in ("monthly_charges", "plan"):
        assert not schema[optional].value_count.HasField("min")
    assert schema["churned"].value_count.min == 1
    # The pushed model answers the file's own first rows, byte-order mark included.
    sample = tmp_path / "sample.csv"
    sample.write_bytes(b"\r\n".join((data / "customers.csv").read_bytes().split(b"\r\n")[:41]))
    answer = _cli("predict", str(sample), "--output-dir", str(out))
    assert answer.returncode == 0, answer.stderr
    probability_of_yes = np.array(json.loads(answer.stdout)["predictions"])[:, 0]
    assert ((probability_of_yes > 0.5) == (np.array(labels[:40]) == "yes")).mean() >= 0.8
