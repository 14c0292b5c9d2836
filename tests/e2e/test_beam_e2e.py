"""The local Beam profiles run the whole pipeline end to end (the in-memory default is
exercised by every other end-to-end test)."""

import json

import pytest

from tests.conftest import run_pipeline, write_taxi_sample

pytestmark = pytest.mark.e2e


def test_multi_processing_profile_runs_the_pipeline(tmp_path):
    write_taxi_sample(tmp_path / "data", rows=2000)
    result = run_pipeline(tmp_path / "data", tmp_path / "out", "--beam", "multi-processing",
                          "--beam-workers", "2", "--train-steps", "50", "--min-auc", "0.5",
                          "--min-accuracy", "0.5", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert {c["state"] for c in summary["components"]} == {"executed"}
    assert sum(summary["rows"].values()) == 2000
    assert summary["pushed"]
    assert (tmp_path / "out" / "logs").is_dir()
    log = next((tmp_path / "out" / "logs").glob("run-*.log")).read_text()
    assert "multi_processing" in log  # Beam was really asked for worker processes
