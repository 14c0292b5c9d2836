"""The catalogue of bad input. After a good run has pushed a model, each bad span-2 must
be caught with a readable reason, and leave the serving directory and the earlier run
untouched: the data gate stops the run (exit 3, a table of anomalies), or the CLI or
CsvExampleGen refuses the file (exit 2 or 1, one line). A stopped run names its ways
out. Every case runs the real LocalDagRunner through the CLI."""

import csv
import io
import shutil
from pathlib import Path

import pytest

from pipeline.config import TAXI_LABEL
from tests.conftest import run_pipeline, write_taxi_sample

pytestmark = pytest.mark.e2e

ROWS = 2000
GOOD_RUN = ["--train-steps", "50", "--min-auc", "0.5", "--min-accuracy", "0.5"]


def _rows(ws):
    with (ws["data"] / "span-1" / "data.csv").open(newline="") as handle:
        return list(csv.reader(handle))


def _csv_text(rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _with_column(rows, name, change):
    index = rows[0].index(name)
    return [rows[0]] + [row[:index] + [change(row[index], n)] + row[index + 1:]
                        for n, row in enumerate(rows[1:])]


def missing_column(rows):
    index = rows[0].index("company")
    return _csv_text([row[:index] + row[index + 1:] for row in rows])


def extra_column(rows):
    return _csv_text([rows[0] + ["driver_rating"]] + [row + ["5"] for row in rows[1:]])


def new_payment_type(rows):
    return _csv_text(_with_column(rows, "payment_type",
                                  lambda value, n: "Bitcoin" if n % 3 == 0 else value))


def text_in_numeric_column(rows):
    return _csv_text(_with_column(rows, "fare", lambda value, n: "n/a" if n % 2 else value))


def out_of_range(rows):
    return _csv_text(_with_column(rows, "trip_start_hour", lambda value, n: "30"))


def all_empty_column(rows):
    return _csv_text(_with_column(rows, "trip_start_day", lambda value, n: ""))


def wrong_field_count(rows):
    return _csv_text(rows) + "1,2,3\n"


def broken_quoting(rows):
    text = _csv_text(rows).splitlines(keepends=True)
    return "".join(text[:100]) + '12,"unclosed,5\n' + "".join(text[100:])


# case -> (span-2 content, exit code, words the reason must contain)
CASES = {
    "missing column": (missing_column, 3, ["company", "SCHEMA_MISSING_COLUMN"]),
    "extra column": (extra_column, 3, ["driver_rating", "SCHEMA_NEW_COLUMN"]),
    "new payment_type": (new_payment_type, 3, ["payment_type",
                                               "ENUM_TYPE_UNEXPECTED_STRING_VALUES", "Bitcoin"]),
    "text in a numeric column": (text_in_numeric_column, 3, ["fare", "UNEXPECTED"]),
    "value out of range": (out_of_range, 3, ["trip_start_hour", "INT_TYPE_BIG_INT"]),
    "all-empty column": (all_empty_column, 3, ["trip_start_day"]),
    "empty file": (lambda rows: "", 2, ["is empty"]),
    "header only": (lambda rows: _csv_text(rows[:1]), 2, ["no data rows"]),
    "wrong field count": (wrong_field_count, 1, ["CsvExampleGen failed"]),
    "broken quoting": (broken_quoting, 1, ["CsvExampleGen failed"]),
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    ws = {"data": root / "data", "out": root / "out"}
    write_taxi_sample(ws["data"], rows=ROWS)
    result = run_pipeline(ws["data"], ws["out"], *GOOD_RUN)
    assert result.returncode == 0, result.stderr[-3000:]
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
    result = run_pipeline(ws["data"], ws["out"], *GOOD_RUN)
    assert result.returncode == 0, result.stderr[-3000:]
    for step in ("CsvExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"):
        assert "cached" in _line(result.stdout, step), step
    assert _versions(ws) == ws["versions"]
