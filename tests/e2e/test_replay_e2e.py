"""`replay --policy on-decay` end to end on three spans cut from one shuffled pool of
taxi rows (so their inputs do not drift): span 1 with the data's own labels, spans 2
and 3 with labels by the opposite rule (concept drift). Two pipeline runs: the first
span trains the first model; it decays on span 2, which retrains and pushes a model
that is better on the new rule, judged on span 3 and kept."""

import json
import random
from pathlib import Path

import pytest

from tests.conftest import TAXI_3000_ARGS, cli_in_process, write_taxi_sample
from tests.e2e.test_monitor_e2e import _read, concept_drift, write_span

pytestmark = pytest.mark.e2e

ROWS = 3000
# test_monitor_e2e's settings (150 steps, floors 0.8), without the TFLite copy: the
# subject is the policy's loop (tests/e2e/test_tflite_e2e.py).
RUN_ARGS = [*TAXI_3000_ARGS, "--no-tflite"]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    pool, data = root / "pool", root / "data"
    header, rows = _read(write_taxi_sample(pool, rows=3 * ROWS))
    random.Random(0).shuffle(rows)
    write_span(data, 1, header, rows[:ROWS])
    write_span(data, 2, header, concept_drift(rows[ROWS:2 * ROWS]))
    write_span(data, 3, header, concept_drift(rows[2 * ROWS:]))
    result = cli_in_process(
        "replay", "--data-dir", str(data), "--output-dir", str(root / "out"), "--policy",
        "on-decay", "--max-decay", "0.05", "--run-args", " ".join(RUN_ARGS), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def test_on_decay_retrains_on_concept_drift_and_the_new_model_is_better(replayed):
    timeline = replayed["timeline"]
    assert [(row["span"], row["verdict"], row["action"]) for row in timeline] == [
        (1, "no-model", "trained-pushed"),
        (2, "decayed", "trained-pushed"),
        (3, "healthy", "kept")]
    first, second = timeline[0]["served_version"], timeline[1]["served_version"]
    assert second > first and timeline[2]["served_version"] == second
    old, new = timeline[1], timeline[2]
    # Both judged on concept-drifted spans: the old model on span 2, the retrained one
    # on span 3 (rows it never saw).
    assert (old["served_before"], new["served_before"]) == (first, second)
    assert new["metrics"]["auc"] > old["metrics"]["auc"] + 0.3
    assert new["metrics"]["binary_accuracy"] > old["metrics"]["binary_accuracy"]
    assert (replayed["runs"], replayed["pushes"], replayed["metric"]) == (2, 2, "auc")


def test_replay_writes_its_page_and_records_the_monitors(replayed):
    page = Path(replayed["report"]).read_text()
    assert page.count("class='retrain'") == 2 and page.count("class='served'") == 2
    out = replayed["output_dir"]
    runs = cli_in_process("runs", "--output-dir", out, "--json")
    listed = json.loads(runs.stdout)
    assert sorted(row["run_id"] for row in listed if row["run_id"].startswith(
        "monitor-")) == sorted(row["monitor"] for row in replayed["timeline"][1:])


def test_run_and_monitor_reports_chart_the_history_ml_metadata_records(replayed):
    """The run reports and the monitor pages draw the served model's quality span by
    span from ML Metadata, each up to itself: the first run before any monitor result;
    the second after the decayed span 2, which it retrained on; span 3's monitor page
    with both results and that retrain."""
    from pipeline import report

    out, timeline = Path(replayed["output_dir"]), replayed["timeline"]

    def history(page: str) -> str:
        return page[page.index("<h2>The served model over time</h2>"):]

    first = history(report.path_for(out, timeline[0]["run_id"]).read_text())
    assert "No monitor results yet" in first and "class='served'" not in first
    second = history(report.path_for(out, timeline[1]["run_id"]).read_text())
    assert second.count("class='served'") == 1 and second.count("class='retrain'") == 1
    assert f">v{timeline[1]['served_version']}</text>" in second
    assert f"auc {timeline[1]['metrics']['auc']:.4f} (version {timeline[0]['served_version']}" \
        ", decayed)" in second
    last = history((out / "monitor" / timeline[2]["monitor"] / "report.html").read_text())
    assert last.count("class='served'") == 2 and last.count("class='retrain'") == 1
