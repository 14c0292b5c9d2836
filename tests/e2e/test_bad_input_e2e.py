"""Bad input, end to end: after a good run has pushed a model, a bad span-2 must be
caught with a readable reason, and leave the serving directory and the earlier run
untouched: the data gate stops the run (exit 3, a table of anomalies), or the CLI or
CsvExampleGen refuses the file (exit 2 or 1, one line). A stopped run names its ways
out. One case of each kind runs the real LocalDagRunner through the CLI, in a fresh
process as a user runs it; the other cases of tests/bad_spans.py differ from these only
in what CsvExampleGen and TFDV make of the file, and tests/test_bad_span_verdicts.py
checks each of them there."""

import csv
import shutil
from pathlib import Path

import pytest

from pipeline.config import TAXI_LABEL
from tests.bad_spans import GATE_STOPS, REFUSED
from tests.conftest import GOOD_TAXI_ARGS, run_pipeline, run_pipeline_in_process

pytestmark = pytest.mark.e2e


def _rows(ws):
    with (ws["data"] / "span-1" / "data.csv").open(newline="") as handle:
        return list(csv.reader(handle))


# case -> (span-2 content, exit code, words the reason must contain): one per kind.
CASES = {
    "missing column": (GATE_STOPS["missing column"][0], 3, GATE_STOPS["missing column"][1]),
    "empty file": REFUSED["empty file"],
    "wrong field count": REFUSED["wrong field count"],
}


@pytest.fixture(scope="module")
def ws(good_taxi_run):
    """The session's good taxi run (tests/conftest.py): a pushed model on span-1."""
    ws = {"data": good_taxi_run["data"], "out": good_taxi_run["out"]}
    ws["versions"] = _versions(ws)
    assert len(ws["versions"]) == 1
    return ws


def _versions(ws):
    serving = ws["out"] / "serving" / "big_tipper"
    return {p.name: sorted(f.name for f in p.rglob("*")) for p in serving.iterdir()}


def _line(report, step):
    return next(line for line in report.splitlines() if line.split()[:1] == [step])


@pytest.mark.parametrize("case", list(CASES))
def test_bad_span_is_caught_and_changes_nothing(ws, case):
    make, code, words = CASES[case]
    span = ws["data"] / "span-2"
    span.mkdir()
    try:
        (span / "data.csv").write_text(make(_rows(ws)))
        result = run_pipeline(ws["data"], ws["out"])
    finally:
        shutil.rmtree(span)
    assert result.returncode == code, (result.stdout + result.stderr)[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    if code == 3:
        report = result.stdout
        table = report[report.index("data gate:  STOPPED"):]
        assert "anomaly type" in table
        for step in ("Transform", "Trainer", "Evaluator", "Pusher"):
            assert "skipped" in _line(report, step), step
        page = Path(_line(report, "report:").split(maxsplit=1)[1]).read_text()
        assert "not evaluated" in page and "nothing pushed" in page
        if case == "missing column":
            # The drift check cannot compare a column that is gone: one row says both.
            rows = [line.split() for line in table.splitlines()[2:]]
            assert all(row[2:3] != ["STATS_NOT_AVAILABLE"] for row in rows), table
            assert "no drift check for it either" in table
        # The ways out: every case here is a column the curated schema can be told
        # about, a rule that lets it through, or a span to fix.
        hints = report[report.index("what now:"):]
        feature = words[0]
        if feature in TAXI_LABEL.source_columns:
            # The label is computed from it: a schema change would leave no label.
            assert "schema-update" not in hints, hints
        else:
            assert f"schema-update --feature {feature} " in hints, hints
        assert f"--tolerate {feature}:" in hints
        assert f"fix or remove {span}, then run again" in hints
    else:
        lines = result.stderr.strip().splitlines()
        assert lines[0].startswith("error: "), result.stderr
        # A failed run's report, when ML Metadata has the run, is the only other line.
        assert all(line.startswith("report: ") for line in lines[1:]) and len(lines) <= 2
        assert all(Path(line.split(maxsplit=1)[1]).is_file() for line in lines[1:])
        report = lines[0]
    for word in words:
        assert word in report, (word, report)
    assert _versions(ws) == ws["versions"]


def test_earlier_run_is_intact_after_the_bad_spans(ws):
    """With the bad spans gone, the good data's run is found again, fully cached."""
    result = run_pipeline_in_process(ws["data"], ws["out"], *GOOD_TAXI_ARGS)
    assert result.returncode == 0, result.stderr[-3000:]
    for step in ("CsvExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"):
        assert "cached" in _line(result.stdout, step), step
    assert _versions(ws) == ws["versions"]
