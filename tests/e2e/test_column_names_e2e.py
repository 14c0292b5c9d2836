"""A CSV whose header has names as real files have them (spaces, parentheses, a
leading digit, dots, accents, Chinese, a label with a question in it) runs through the
real LocalDagRunner with nothing but --label and --exclude: one run that infers the
schema under the original names, trains, blesses, pushes a model TF Serving can load,
and `predict` answers rows written with the original header."""

import csv
import json

import numpy as np
import pytest

from models.signatures import input_name
from pipeline import serving
from tests.conftest import cli_in_process, run_pipeline_in_process

pytestmark = pytest.mark.e2e

LABEL = "Churned (yes/no)"
ID = "Customer ID"
FEATURES = ["sepal length (cm)", "2nd-plan", "Größe", "Région", "plan.tier", "城市"]
ROWS = 400


def _cli(*args):
    """The CLI in this process (tests/conftest.py): the process is not under test."""
    return cli_in_process(*args)


def _write_data(path):
    """Synthetic customers whose churn follows the odd-named columns (no empty cells)."""
    rng = np.random.default_rng(7)
    regions = ["Île-de-France", "Bretagne", "Provence", "Normandie"]
    cities = ["北京", "上海", "广州"]
    rows = []
    for index in range(ROWS):
        length, plan, size = rng.normal(5.8, 0.8), int(rng.integers(0, 4)), rng.normal(0, 1)
        region, tier = regions[rng.integers(0, 4)], ["basic", "pro", "max"][rng.integers(0, 3)]
        city = cities[rng.integers(0, 3)]
        logit = (2.5 * (length - 5.8) + 1.5 * (plan == 3) + 2.0 * (region == "Bretagne")
                 - 2.0 * (city == "上海") + 0.5 * size + rng.normal(0, 0.3))
        rows.append([10_001 + index, f"{length:.2f}", plan, f"{size:.3f}", region, tier,
                     city, "yes" if logit > 0 else "no"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([ID, *FEATURES, LABEL])
        writer.writerows(rows)
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    data, out = root / "data", root / "out"
    rows = _write_data(data / "customers.csv")
    result = run_pipeline_in_process(data, out, "--label", LABEL, "--exclude", ID, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return root, data, out, rows, json.loads(result.stdout)


def test_the_first_run_trains_blesses_and_pushes(trained):
    _, data, _, _, summary = trained
    assert summary["data_passed"] and summary["blessed"] and summary["pushed"], summary
    assert summary["metrics"]["auc"] > 0.85
    assert summary["servable_check"]["max_difference"] < 1e-4
    # The schema keeps the original names, written as they are.
    schema = (data / "schema.pbtxt").read_text(encoding="utf-8")
    for column in [ID, *FEATURES, LABEL]:
        assert f'name: "{column}"' in schema


def test_the_served_inputs_are_the_documented_input_names(trained):
    _, _, out, _, summary = trained
    version_dir = next(path for path in (out / "serving").glob("*/*") if path.name.isdigit())
    inputs = serving.signature_inputs(version_dir, serving.JSON_SIGNATURE)
    assert set(inputs) == {"sepal_length_cm", "col_2nd_plan", "Grosse", "Region",
                           "plan_tier", "u57ce_u5e02"}
    assert set(inputs) == {input_name(column) for column in FEATURES}
    # The statistics and the report show the original names.
    shown = _cli("show", "--output-dir", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    features = {row["feature"] for row in json.loads(shown.stdout)["statistics"]}
    assert features == {ID, *FEATURES, LABEL}
    report = open(summary["report"], encoding="utf-8").read()
    assert all(column in report for column in ("sepal length (cm)", "Région", "城市"))


def test_predict_answers_rows_with_the_original_header(trained):
    root, data, out, rows, _ = trained
    sample = root / "sample.csv"
    with (data / "customers.csv").open(encoding="utf-8") as source:
        sample.write_text("".join(source.readlines()[:41]), encoding="utf-8")
    answer = _cli("predict", str(sample), "--output-dir", str(out))
    assert answer.returncode == 0, answer.stderr
    predictions = np.array(json.loads(answer.stdout)["predictions"])
    assert predictions.shape == (40, 1)
    churned = np.array([row[-1] == "yes" for row in rows[:40]])
    assert ((predictions[:, 0] > 0.5) == churned).mean() >= 0.8
    assert f"probability: P({LABEL} = yes), per row (the other class: no)" in answer.stderr
    # A JSON body keyed by the original names gets the same answer.
    request = root / "request.json"
    with sample.open(encoding="utf-8") as source:
        instances = [{column: row[column] for column in FEATURES}
                     for row in csv.DictReader(source)]
    for instance in instances:
        for column in ("sepal length (cm)", "Größe"):
            instance[column] = float(instance[column])
        instance["2nd-plan"] = int(instance["2nd-plan"])
    request.write_text(json.dumps({"instances": instances}), encoding="utf-8")
    answer = _cli("predict", str(request), "--output-dir", str(out))
    assert answer.returncode == 0, answer.stderr
    assert np.allclose(json.loads(answer.stdout)["predictions"], predictions, atol=1e-6)
    assert "TF Serving itself takes the input names: sepal_length_cm for" in answer.stderr
