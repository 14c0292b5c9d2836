"""The inspection commands' entry (`inspect_cli.main`), in-process on the recorded
output directory of test_inspection: what each command prints, as text and JSON, and
the one-sentence refusals with exit code 2."""

import argparse
import csv
import datetime
import io
import json
import shutil
import sqlite3

import pytest

from pipeline import inspect_cli
from pipeline.exit_codes import EXIT_OK, EXIT_USAGE
from tests.conftest import cli_in_process
from tests.test_inspection import (  # noqa: F401 - a fixture
    RUN_ID,
    VERSION,
    record_run,
    recorded_store,
)


def _inspect(output_dir, *words: str) -> tuple[int, str, str]:
    """Parses `words` with the commands' own parsers and runs them: (code, out, err)."""
    parser = argparse.ArgumentParser()
    inspect_cli.add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args([*words, "--output-dir", str(output_dir)])
    out, err = io.StringIO(), io.StringIO()
    code = inspect_cli.main(args, out, err)
    return code, out.getvalue(), err.getvalue()


def test_runs_lists_the_recorded_run(recorded_store):  # noqa: F811 - the imported fixture
    code, out, err = _inspect(recorded_store, "runs")
    assert (code, err) == (EXIT_OK, "")
    header, row = out.splitlines()
    assert header.split()[:3] == ["run", "id", "start"]
    cells = row.split()
    assert cells[0] == RUN_ID
    #                  status  span anomalies blocking blessed pushed  served
    assert cells[3:] == ["pushed", "1", "0", "0", "yes", str(VERSION), "-"]
    code, out, _ = _inspect(recorded_store, "runs", "--json")
    [run] = json.loads(out)
    assert (run["run_id"], run["status"], run["pushed_version"]) == (RUN_ID, "pushed",
                                                                     VERSION)


def test_show_prints_the_run_its_metrics_and_its_verdicts(recorded_store):  # noqa: F811
    code, out, err = _inspect(recorded_store, "show", RUN_ID[:10])
    assert (code, err) == (EXIT_OK, "")
    assert "rows: train 5, eval 2" in out
    assert "anomalies against the schema: 0" in out
    assert "drift against the previous span: not checked" in out
    metrics = out[out.index("\nmetrics\n"):].splitlines()
    assert metrics[2].split()[:2] == ["slice", "model"] and "auc" in metrics[2].split()
    assert metrics[3].split()[:3] == ["Overall", "candidate", "2"]
    assert "0.9512" in metrics[3].split()
    assert "blessed: yes" in out
    assert f"pushed: {recorded_store / 'serving' / 'big_tipper' / str(VERSION)}" in out


def test_anomalies_says_there_are_none_and_why_drift_was_not_checked(recorded_store):  # noqa: F811
    code, out, _ = _inspect(recorded_store, "anomalies")
    assert code == EXIT_OK
    assert out.splitlines() == [f"run {RUN_ID} (span-1)",
                                "no anomalies against the curated schema",
                                "drift: not checked (no previous span)"]
    code, out, _ = _inspect(recorded_store, "anomalies", "--json")
    assert json.loads(out) == {"run_id": RUN_ID, "anomalies": [], "drift": None}


def test_models_and_lineage_follow_the_pushed_version(recorded_store):  # noqa: F811
    code, out, _ = _inspect(recorded_store, "models")
    assert code == EXIT_OK
    row = next(line for line in out.splitlines() if line.startswith(str(VERSION)))
    # Its folder is not in the serving directory: recorded, but no longer there.
    assert RUN_ID in row and "0.9512" in row and " deleted " in row
    assert "TF Serving serves nothing: no version in" in out
    code, out, _ = _inspect(recorded_store, "lineage", "latest")
    assert code == EXIT_OK
    assert out.startswith(f"version {VERSION} was trained on ")
    assert "judged without a baseline (no blessed model before it)" in out
    assert f"\nCsvExampleGen (run {RUN_ID}) reading {recorded_store / 'data'}\n" in out
    assert "\nTrainer (run " in out and "served by TF Serving now: no" in out
    code, out, _ = _inspect(recorded_store, "lineage", str(VERSION), "--json")
    found = json.loads(out)
    assert found["version"] == VERSION and not found["served"]
    # From the pushed version back to the data, and no further.
    assert {step["component"] for step in found["steps"]} == {
        "CsvExampleGen", "Trainer", "Evaluator", "Pusher"}


@pytest.mark.parametrize("words, message", [
    (("show", "1999"), "error: no single run matches '1999'"),
    (("lineage", "123"), "error: no pushed version 123"),
])
def test_what_is_not_there_is_one_sentence_and_exit_2(recorded_store, words, message):  # noqa: F811
    code, out, err = _inspect(recorded_store, *words)
    assert code == EXIT_USAGE and out == ""
    assert err.startswith(message) and len(err.strip().splitlines()) == 1


def test_a_directory_without_runs_is_one_sentence_and_exit_2(tmp_path):
    code, out, err = _inspect(tmp_path, "runs")
    assert code == EXIT_USAGE and out == ""
    assert err == f"error: no runs in {tmp_path}: run `python -m pipeline run` first\n"


def test_a_deleted_artifact_file_is_one_sentence_and_exit_2(recorded_store, tmp_path):  # noqa: F811
    copy = tmp_path / "out"
    shutil.copytree(recorded_store, copy)
    db = sqlite3.connect(copy / "metadata.db")
    with db:
        db.execute("UPDATE Artifact SET uri = replace(uri, ?, ?)",
                   (str(recorded_store), str(copy)))
    db.close()
    shutil.rmtree(copy / "tfx" / "verdict")
    code, out, err = _inspect(copy, "show")
    assert code == EXIT_USAGE
    assert err.startswith("error: cannot read the run's artifacts: ")
    assert "verdict.json is missing" in err and len(err.strip().splitlines()) == 1


QUARTER_SPAN = 6


@pytest.fixture(scope="module")
def by_quarter(tmp_path_factory):
    """A run recorded on one span of the taxi data as `prepare-data --by quarter` cut
    it, and the quarter that span's trips truly fall in, from the rows themselves: the
    year of their timestamps and the quarter of the CSV's own trip_start_month."""
    root = tmp_path_factory.mktemp("by-quarter")
    data_dir = root / "taxi-by-quarter"
    done = cli_in_process("prepare-data", "--by", "quarter", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    with (data_dir / f"span-{QUARTER_SPAN}" / "data.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    years = {datetime.datetime.fromtimestamp(int(row["trip_start_timestamp"]),
                                             datetime.UTC).year for row in rows}
    quarters = {(int(row["trip_start_month"]) + 2) // 3 for row in rows}
    assert len(rows) > 100 and len(years) == len(quarters) == 1, (years, quarters)
    quarter = f"{years.pop()}-Q{quarters.pop()}"
    return record_run(root / "out", input_base=data_dir, span=QUARTER_SPAN), quarter


def test_runs_and_show_name_the_quarter_of_the_span(by_quarter):
    out_dir, quarter = by_quarter
    code, out, _ = _inspect(out_dir, "runs")
    assert code == EXIT_OK
    header, row = out.splitlines()
    assert "period" in header.split()
    #               status   span                 period
    assert row.split()[3:6] == ["pushed", str(QUARTER_SPAN), quarter]
    code, out, _ = _inspect(out_dir, "runs", "--json")
    [run] = json.loads(out)
    assert (run["span"], run["period"]) == (QUARTER_SPAN, quarter)
    code, out, _ = _inspect(out_dir, "show", "--json")
    assert json.loads(out)["period"] == quarter
    code, out, _ = _inspect(out_dir, "anomalies")
    assert out.splitlines()[0] == f"run {RUN_ID} (span-{QUARTER_SPAN} ({quarter}))"


def test_lineage_names_the_quarter_of_the_training_span(by_quarter):
    out_dir, quarter = by_quarter
    code, out, _ = _inspect(out_dir, "lineage", "latest")
    assert code == EXIT_OK
    assert out.startswith(f"version {VERSION} was trained on span-{QUARTER_SPAN} "
                          f"({quarter})\n")
    assert f"-> Examples span-{QUARTER_SPAN} ({quarter}): " in out
    code, out, _ = _inspect(out_dir, "lineage", "latest", "--json")
    found = json.loads(out)
    assert (found["spans"], found["periods"]) == ([QUARTER_SPAN], {str(QUARTER_SPAN): quarter})


def test_without_recorded_periods_spans_are_named_by_number(recorded_store):  # noqa: F811
    code, out, _ = _inspect(recorded_store, "runs")
    assert "period" not in out.splitlines()[0].split()
    code, out, _ = _inspect(recorded_store, "lineage", "latest", "--json")
    assert json.loads(out)["periods"] == {}
    code, out, _ = _inspect(recorded_store, "runs", "--json")
    assert json.loads(out)[0]["period"] is None
