"""The inspection commands' entry (`inspect_cli.main`), in-process on the recorded
output directory of test_inspection: what each command prints, as text and JSON, and
the one-sentence refusals with exit code 2."""

import argparse
import io
import json
import shutil
import sqlite3

import pytest

from pipeline import inspect_cli
from pipeline.exit_codes import EXIT_OK, EXIT_USAGE
from tests.test_inspection import RUN_ID, VERSION, recorded_store  # noqa: F401 - a fixture


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
    assert out.splitlines() == [f"run {RUN_ID} (span 1)",
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
