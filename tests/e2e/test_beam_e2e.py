"""The local Beam profiles run the whole pipeline end to end (the in-memory default is
exercised by every other end-to-end test). The multi-processing run is the session's
shared good taxi run (tests/conftest.py, good_taxi_run), which the bad-input catalogue
builds on."""

from pathlib import Path

import pytest

from tests.conftest import GOOD_TAXI_ROWS

pytestmark = pytest.mark.e2e


def test_multi_processing_profile_runs_the_pipeline(good_taxi_run):
    summary = good_taxi_run["summary"]
    assert {c["state"] for c in summary["components"]} == {"executed"}
    assert sum(summary["rows"].values()) == GOOD_TAXI_ROWS
    assert summary["pushed"]
    log = Path(summary["log"])
    assert log.parent == good_taxi_run["out"] / "logs"
    assert "multi_processing" in log.read_text()  # Beam was really asked for worker processes
