"""`evaluate` and `deploy` on hand-made run details: the decision, the job summary, the
step outputs a workflow reads, and deploy's gate (nothing is copied unless blessed)."""

import argparse
import io

import pytest

from pipeline import cd_cli
from pipeline.exit_codes import EXIT_DATA_BLOCKED, EXIT_NOT_BLESSED, EXIT_OK


def _details(tmp_path, blessed=True, passed=True):
    version_dir = tmp_path / "serving" / "big_tipper" / "1700000000"
    (version_dir / "variables").mkdir(parents=True)
    (version_dir / "saved_model.pb").write_bytes(b"graph")
    (version_dir / "variables" / "variables.index").write_bytes(b"index")
    failures = [] if blessed else [{
        "metric": "auc", "slice": "Overall", "kind": "value", "value": 0.95,
        "threshold": 0.999,
        "message": "auc on Overall is 0.95, below the lowest value allowed, 0.999 "
                   "(--min-auc)"}]
    evaluated = passed
    return {
        "run_id": "2026-12-02T10:00:00.000001",
        "verdict": {"passed": passed, "blocking": [] if passed else [{
            "split": "train", "feature": "trip_start_hour", "type": "INT_TYPE_BIG_INT",
            "description": "Values out of range"}], "tolerated": []},
        "blessed": blessed and passed if evaluated else None,
        "metrics": [
            {"slice": "Overall", "model": "candidate", "auc": 0.95, "binary_accuracy": 0.9},
            {"slice": "Overall", "model": "baseline", "auc": 0.94, "binary_accuracy": 0.89},
        ] if evaluated else [],
        "validation": {"ok": blessed, "failures": failures} if evaluated else None,
        "thresholds": {"auc": {"lower": 0.999 if not blessed else 0.5,
                               "change": -1e-10},
                       "binary_accuracy": {"lower": 0.5}} if evaluated else {},
        "pushed_version": 1700000000 if blessed and passed else None,
        "pushed_path": str(version_dir) if blessed and passed else None,
        "pushed_new": blessed and passed,
    }


def _outputs(path) -> dict[str, str]:
    values, lines = {}, path.read_text().splitlines()
    while lines:
        name, delimiter = lines.pop(0).split("<<", 1)
        end = lines.index(delimiter)
        values[name], lines = "\n".join(lines[:end]), lines[end + 1:]
    return values


def _args(**values):
    return argparse.Namespace(**{"json": False, "to": None, **values})


def test_a_blessed_run_is_deployable_with_its_metrics_against_thresholds(tmp_path):
    found = cd_cli.decision(_details(tmp_path))
    assert found["deployable"] and found["model"] == "big_tipper"
    auc = next(row for row in found["metrics"] if row["metric"] == "auc")
    assert auc["value"] == 0.95 and auc["lower"] == 0.5 and auc["baseline"] == 0.94
    assert auc["baseline_limit"] == pytest.approx(0.94) and auc["passed"]
    table = cd_cli.markdown(found)
    assert "| auc | 0.95 | >= 0.5 | 0.94 | >= 0.94 | yes |" in table
    assert "**Pushed version:** 1700000000" in table


def test_evaluate_writes_step_outputs_and_the_job_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    found = cd_cli.decision(_details(tmp_path, blessed=False))
    out = io.StringIO()
    assert cd_cli._evaluate(found, _args(), out) == EXIT_OK
    outputs = _outputs(tmp_path / "output")
    assert outputs["blessed"] == "false" and outputs["data-passed"] == "true"
    assert outputs["pushed-version"] == ""
    assert outputs["not-blessed-reasons"].startswith("auc on Overall is 0.95, below")
    summary = (tmp_path / "summary.md").read_text()
    assert "| auc | 0.95 | >= 0.999 | 0.94 | >= 0.94 | **no** |" in summary
    assert "**Deploy:** skipped" in summary and summary.strip() == out.getvalue().strip()


def test_an_output_value_cannot_end_its_block_early(tmp_path):
    cd_cli._write_outputs(str(tmp_path / "output"), {"reasons": "a\nEOF\nblessed=true"})
    assert _outputs(tmp_path / "output") == {"reasons": "a\nEOF\nblessed=true"}


@pytest.mark.parametrize("blessed, passed, code", [(False, True, EXIT_NOT_BLESSED),
                                                   (True, False, EXIT_DATA_BLOCKED)])
def test_deploy_copies_nothing_unless_blessed(tmp_path, blessed, passed, code):
    found = cd_cli.decision(_details(tmp_path, blessed=blessed, passed=passed))
    err = io.StringIO()
    store = tmp_path / "store"
    assert cd_cli._deploy(found, _args(to=str(store)), io.StringIO(), err) == code
    assert err.getvalue().startswith("deploy skipped: ")
    assert not store.exists()


def test_deploy_publishes_the_version_folder_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    found = cd_cli.decision(_details(tmp_path))
    store = tmp_path / "store"
    out = io.StringIO()
    assert cd_cli._deploy(found, _args(to=str(store)), out, io.StringIO()) == EXIT_OK
    published = store / "big_tipper" / "1700000000"
    assert (published / "saved_model.pb").read_bytes() == b"graph"
    assert (published / "variables" / "variables.index").read_bytes() == b"index"
    assert sorted(p.name for p in (store / "big_tipper").iterdir()) == ["1700000000"]
    assert _outputs(tmp_path / "output")["new"] == "true"
    assert cd_cli._deploy(found, _args(to=str(store)), out, io.StringIO()) == EXIT_OK
    assert "already in the store" in out.getvalue()


def test_the_job_summary_tells_not_blessed_from_blessed_but_not_pushed(tmp_path):
    refused = cd_cli.markdown(cd_cli.decision(_details(tmp_path / "a", blessed=False)))
    assert "**Deploy:** skipped, the model was not blessed" in refused
    unpushed = {**_details(tmp_path / "b"), "pushed_version": None, "pushed_path": None,
                "pushed_new": False}
    found = cd_cli.decision(unpushed)
    assert found["blessed"] and not found["deployable"]
    assert "blessed but not pushed" in cd_cli.markdown(found)
