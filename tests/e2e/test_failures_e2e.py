"""A CSV that passes the CLI's checks but breaks inside the pipeline: the run stops with
one line naming the component and the log, exit code 1, no traceback."""

import subprocess
import sys

import pytest

from pipeline.config import REPO_ROOT
from tests.conftest import write_taxi_sample

pytestmark = pytest.mark.e2e


def test_malformed_rows_fail_with_one_line(tmp_path):
    csv_path = write_taxi_sample(tmp_path / "data", rows=200)
    with csv_path.open("a") as handle:
        handle.write("1,2,3\n")  # 3 fields where the header has 18
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--data-dir", str(tmp_path / "data"),
         "--output-dir", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("error: CsvExampleGen failed: ")
    log = lines[0].rsplit("(log: ", 1)[1].rstrip(")")
    assert "Traceback" in open(log).read()  # the details are kept in the log
    assert not (out / "serving").exists()
