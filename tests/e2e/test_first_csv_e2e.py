"""A first-time user's own CSV, as spreadsheets export it: a UTF-8 BOM, headers with
spaces, parentheses and punctuation, empty cells in numeric and string columns, an ID
column, and a Yes/No label. With nothing but `--label` and `--exclude`, the first run
must infer a schema that the same data passes, train, be blessed and push a model that
answers rows of the same file by their original column names."""

import csv
import io
import json
import random

import pytest

from tests.conftest import cli_in_process, run_pipeline_in_process

pytestmark = pytest.mark.e2e

HEADER = ["Customer ID", "Monthly Charges ($)", "tenure (months)", "Contract Type",
          "2nd-line", "Support Calls", "Churn"]
ROWS = 800


def _rows(seed: int = 7) -> list[list[str]]:
    """Churn follows short tenure, high charges and month-to-month contracts; about 5 %
    of the charges and contract cells are empty."""
    rng = random.Random(seed)
    rows = []
    for index in range(ROWS):
        tenure = rng.randint(1, 72)
        charges = round(rng.uniform(20, 120), 2)
        contract = rng.choice(["Month-to-month", "One year", "Two year"])
        calls = rng.randint(0, 9)
        score = (charges / 120) + (1 - tenure / 72) + (contract == "Month-to-month") \
            + calls / 9 + rng.gauss(0, 0.35)
        churn = "Yes" if score > 1.9 else "No"
        rows.append([f"C{100000 + index}", "" if rng.random() < 0.05 else str(charges),
                     str(tenure), "" if rng.random() < 0.05 else contract,
                     rng.choice(["yes", "no"]), str(calls), churn])
    return rows


def _csv_text(rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue()


def _cli(*args):
    """The CLI in this process (tests/conftest.py): the process is not under test."""
    return cli_in_process(*args)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("first-csv")
    data, out = root / "customers", root / "out"
    data.mkdir()
    rows = _rows()
    # Excel's "CSV UTF-8": a byte order mark and CRLF line ends.
    (data / "export.csv").write_bytes(b"\xef\xbb\xbf" + _csv_text(rows).encode("utf-8"))
    result = run_pipeline_in_process(data, out, "--label", "Churn", "--exclude", "Customer ID",
                          "--json")
    return {"root": root, "data": data, "out": out, "rows": rows, "result": result}


def test_first_run_passes_the_gate_is_blessed_and_pushed(first_run):
    result = first_run["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["data_passed"], summary["blocking_anomalies"]
    assert summary["blocking_anomalies"] == [] and summary["tolerated_anomalies"] == []
    assert summary["blessed"] and summary["pushed"], summary
    assert summary["metrics"]["auc"] > 0.8


def test_schema_keeps_the_original_names_without_the_bom(first_run):
    schema = (first_run["data"] / "schema.pbtxt").read_text(encoding="utf-8")
    for name in HEADER:
        assert f'name: "{name}"' in schema
    assert "\ufeff" not in schema
    assert "Yes" in schema and "No" in schema


def test_pushed_model_answers_rows_by_their_original_names(first_run):
    sample = first_run["root"] / "sample.csv"
    rows = first_run["rows"][:40]
    sample.write_bytes(b"\xef\xbb\xbf" + _csv_text(rows).encode("utf-8"))
    answer = _cli("predict", str(sample), "--output-dir", str(first_run["out"]))
    assert answer.returncode == 0, answer.stderr
    predictions = [value[0] for value in json.loads(answer.stdout)["predictions"]]
    assert len(predictions) == len(rows)
    # `probability` is P(Yes), the second class in sorted order: it ranks churners higher.
    churned = [p for p, row in zip(predictions, rows, strict=True) if row[-1] == "Yes"]
    stayed = [p for p, row in zip(predictions, rows, strict=True) if row[-1] == "No"]
    assert churned and stayed
    assert sum(churned) / len(churned) > sum(stayed) / len(stayed) + 0.2
