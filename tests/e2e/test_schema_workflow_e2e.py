"""The reviewed schema update, end to end: a span with a new payment type is stopped;
`schema-diff` shows the new value; `schema-update --feature payment_type` takes it into
the curated schema; the same data then passes the gate."""

import csv
import shutil
import subprocess
import sys

import pytest

from pipeline.config import REPO_ROOT
from tests.conftest import run_pipeline, write_taxi_sample

pytestmark = pytest.mark.e2e

FAST = ["--train-steps", "50", "--min-auc", "0.5", "--min-accuracy", "0.5"]


def _cli(code, *args):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=code,
                          env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def test_new_category_is_reviewed_into_the_curated_schema(tmp_path):
    code = tmp_path / "code"
    for part in ("pipeline", "models", "schema"):
        shutil.copytree(REPO_ROOT / part, code / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    data, out = tmp_path / "data", tmp_path / "out"
    path = write_taxi_sample(data, rows=1500)
    rows = list(csv.reader(path.open(newline="")))
    column = rows[0].index("payment_type")
    for row in rows[1::4]:
        row[column] = "Mobile"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)

    blocked = run_pipeline(data, out, *FAST, code_dir=code)
    assert blocked.returncode == 3, blocked.stderr[-2000:]
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in blocked.stdout

    shown = _cli(code, "schema-diff", "--output-dir", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "+domain value: 'Mobile'" in shown.stdout
    assert "I0000" not in shown.stdout + shown.stderr  # TensorFlow's start-up noise

    before = (code / "schema" / "schema.pbtxt").read_text()
    refused = _cli(code, "schema-update", "--output-dir", str(out))
    assert refused.returncode == 2  # writes only when told what to take
    assert (code / "schema" / "schema.pbtxt").read_text() == before

    updated = _cli(code, "schema-update", "--feature", "payment_type", "--output-dir", str(out))
    assert updated.returncode == 0, updated.stderr
    after = (code / "schema" / "schema.pbtxt").read_text()
    assert '"Mobile"' in after and after.startswith("# Curated schema")
    assert "int_domain" in after  # other features keep their curation

    passed = run_pipeline(data, out, *FAST, code_dir=code)
    assert passed.returncode == 0, passed.stdout[-2000:] + passed.stderr[-2000:]
    assert "anomalies:  0 blocking" in passed.stdout
