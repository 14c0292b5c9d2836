"""The ways out of a stopped gate, end to end: a span with a new payment type is
stopped, and the run prints the exact `--tolerate` rules (which let the same data
through) and the `schema-update` command; `schema-diff` shows the new value and nothing
of the curation; `--dry-run` writes nothing; the printed `schema-update` merges the
value into the curated schema, and the same data then passes the gate untolerated.

The schema commands run in fresh processes in a copy of the code, whose curated
schema they edit (their output is the subject: no TensorFlow start-up noise); the
three runs go through the CLI in this process (tests/conftest.py) with the default
schema path pointed at that copy's, as a run started in the copy would read it."""

import csv
import shlex
import shutil
import subprocess
import sys

import pytest

from pipeline import config
from pipeline.config import REPO_ROOT
from tests.conftest import run_pipeline_in_process, write_taxi_sample

pytestmark = pytest.mark.e2e

# No TFLite copy: the subject is the gate and the schema (tests/e2e/test_tflite_e2e.py).
FAST = ["--train-steps", "50", "--min-auc", "0.5", "--min-accuracy", "0.5", "--no-tflite"]


def _cli(code, *args):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=code,
                          env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def test_new_category_is_reviewed_into_the_curated_schema(tmp_path, monkeypatch):
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
    monkeypatch.setattr(config, "DEFAULT_SCHEMA_PATH", code / "schema" / "schema.pbtxt")

    blocked = run_pipeline_in_process(data, out, *FAST)
    assert blocked.returncode == 3, blocked.stderr[-2000:]
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in blocked.stdout
    hints = blocked.stdout[blocked.stdout.index("what now:"):].splitlines()
    tolerate = shlex.split(next(line for line in hints if line.strip().startswith("--tolerate")))
    assert tolerate == ["--tolerate", "payment_type:ENUM_TYPE_UNEXPECTED_STRING_VALUES"]
    command = next(line for line in hints if "schema-update" in line).strip()
    assert command == ("python -m pipeline schema-update --feature payment_type "
                       f"--output-dir {out}")
    assert any(f"fix or remove {data / 'span-1'}" in line for line in hints)

    tolerated = run_pipeline_in_process(data, out, *FAST, *tolerate)
    assert tolerated.returncode == 0, tolerated.stdout[-2000:] + tolerated.stderr[-2000:]
    assert "anomalies:  0 blocking, 2 tolerated" in tolerated.stdout

    shown = _cli(code, "schema-diff", "--output-dir", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "+domain value: 'Mobile'" in shown.stdout
    assert "\n  " + command + "\n" in shown.stdout
    # Only what validation finds: none of the curated ranges, environments or presence.
    features = [line for line in shown.stdout.splitlines() if line and line[0] != " "
                and ":" not in line]
    assert features == ["payment_type"], shown.stdout
    assert "I0000" not in shown.stdout + shown.stderr  # TensorFlow's start-up noise

    before = (code / "schema" / "schema.pbtxt").read_text()
    refused = _cli(code, "schema-update", "--output-dir", str(out))
    assert refused.returncode == 2  # writes only when told what to take
    previewed = _cli(code, *shlex.split(command)[3:], "--dry-run")
    assert previewed.returncode == 0, previewed.stderr
    assert '+  value: "Mobile"' in previewed.stdout
    assert "dry run: nothing written" in previewed.stdout
    assert (code / "schema" / "schema.pbtxt").read_text() == before

    updated = _cli(code, *shlex.split(command)[3:])
    assert updated.returncode == 0, updated.stderr
    after = (code / "schema" / "schema.pbtxt").read_text()
    assert '"Mobile"' in after and after.startswith("# Curated schema")
    assert "int_domain" in after and 'not_in_environment: "SERVING"' in after  # curation kept

    passed = run_pipeline_in_process(data, out, *FAST)
    assert passed.returncode == 0, passed.stdout[-2000:] + passed.stderr[-2000:]
    assert "anomalies:  0 blocking, 0 tolerated" in passed.stdout
