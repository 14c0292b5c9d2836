"""Drift between spans, end to end: the first span passes without a baseline, a span
like the previous one passes, a strongly shifted span stops the run (or only warns with
--drift-warn), and --training-spans trains on a window of spans. The runs and the
inspection commands go through the CLI in this process (tests/conftest.py,
cli_in_process): what is under test is the drift check, not the process."""

import csv
import json
import random
from pathlib import Path

import pytest

from pipeline import inspection, metadata
from pipeline.data import packaged_taxi_csv
from tests.conftest import cli_in_process, run_pipeline_in_process

pytestmark = pytest.mark.e2e

# No TFLite copy: the subject is the drift check (tests/e2e/test_tflite_e2e.py).
FAST = ["--train-steps", "50", "--min-auc", "0.5", "--min-accuracy", "0.5", "--no-tflite",
        "--json"]


def _write(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """span-1 and span-2: two random halves of the taxi data; span-3: the second half
    with fares tripled and every other cash trip paid by card."""
    root = tmp_path_factory.mktemp("drift")
    with packaged_taxi_csv().open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    random.Random(0).shuffle(rows)
    half = len(rows) // 2
    fare, payment = header.index("fare"), header.index("payment_type")
    shifted = []
    for n, row in enumerate(rows[half:]):
        row = list(row)
        row[fare] = f"{float(row[fare]) * 3:.2f}"
        if row[payment] == "Cash" and n % 2:
            row[payment] = "Credit Card"
        shifted.append(row)
    spans = {1: rows[:half], 2: rows[half:], 3: shifted}
    return {"root": root, "header": header, "spans": spans, "out": root / "out"}


def _run(ws, spans, *extra):
    data = ws["root"] / f"data-{'-'.join(map(str, spans))}"
    for span in spans:
        _write(data / f"span-{span}" / "data.csv", ws["header"], ws["spans"][span])
    result = run_pipeline_in_process(data, ws["out"], *FAST, *extra)
    assert result.returncode in (0, 3), result.stderr[-3000:]
    return result.returncode, json.loads(result.stdout)


def _inspect(ws, *args):
    """An inspection command's output (parsed with --json)."""
    done = cli_in_process(*args, "--output-dir", str(ws["out"]))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in args else done.stdout


def _states(summary):
    return {c["id"]: c["state"] for c in summary["components"]}


def _drift_rows(rows):
    return [row for row in rows if row["type"].startswith("COMPARATOR_")]


def _versions(ws):
    serving = ws["out"] / "serving" / "big_tipper"
    return sorted(p.name for p in serving.iterdir()) if serving.exists() else []


def test_first_span_has_no_baseline_and_passes(ws):
    code, summary = _run(ws, [1])
    assert code == 0 and summary["data_passed"] and summary["pushed"]
    assert "DistributionValidator" not in _states(summary)


def test_a_span_like_the_previous_one_passes(ws):
    # --max-regression 1: pushed whatever its AUC against span-1's model, for the lineage.
    code, summary = _run(ws, [1, 2], "--max-regression", "1")
    assert code == 0 and summary["data_passed"]
    assert _states(summary)["DistributionValidator"] == "executed"
    assert _drift_rows(summary["anomalies"] + summary["tolerated_anomalies"]) == []
    assert _states(summary)["Trainer"] == "executed"
    assert summary["training_spans"] == [2] and summary["pushed_new"]
    ws["span-2 version"] = summary["pushed_version"]


def test_lineage_names_the_training_span_and_the_baseline_apart(ws):
    """The model trained on span-2 alone, its drift checked against span-1 and judged
    against span-1's model: trained on span-2, the baseline a reference."""
    [first, second] = [row["version"] for row in _inspect(ws, "models", "--json")]
    assert second == ws["span-2 version"]
    found = _inspect(ws, "lineage", "latest", "--json")
    assert found == _inspect(ws, "lineage", str(second), "--json")
    assert found["version"] == second and found["spans"] == [2]
    assert found["baseline"]["version"] == first
    run_id = next(step["run_id"] for step in found["steps"] if step["component"] == "Pusher")
    # Every step belongs to this model's run (or was cached from it): none is the
    # baseline model's, and they come in the order the pipeline ran them.
    assert {step["run_id"] for step in found["steps"]
            if step["component"] != "ImportSchemaGen"} == {run_id}
    ran = [c["id"] for c in _inspect(ws, "show", run_id, "--json")["components"]]
    steps = [step["component"] for step in found["steps"]]
    assert steps == [node for node in ran if node in steps]
    assert steps[0] == "CsvExampleGen" and steps[-1] == "Pusher"
    text = _inspect(ws, "lineage", "latest")
    assert text.startswith(f"version {second} was trained on span-2\n")
    assert f"judged against the baseline version {first}" in text


def test_a_shifted_span_stops_the_run(ws):
    before = _versions(ws)
    code, summary = _run(ws, [1, 2, 3])
    assert code == 3 and not summary["data_passed"]
    drifted = {(row["split"], row["feature"], row["type"])
               for row in _drift_rows(summary["blocking_anomalies"])}
    assert ("train/prev", "fare", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH") in drifted
    assert ("train/prev", "payment_type", "COMPARATOR_L_INFTY_HIGH") in drifted
    assert {row["feature"] for row in _drift_rows(summary["blocking_anomalies"])} <= {
        "fare", "payment_type"}
    assert _states(summary)["Trainer"] == "skipped"
    assert _versions(ws) == before
    # The feature's value on both spans next to the distance.
    fare = next(row for row in summary["blocking_anomalies"]
                if (row["split"], row["feature"]) == ("train/prev", "fare"))
    assert fare["latest"].startswith("mean ") and fare["previous"].startswith("mean ")
    assert 2.5 < float(fare["latest"][5:]) / float(fare["previous"][5:]) < 3.5  # tripled
    assert f"(span-3: {fare['latest']}; span-2: {fare['previous']})" in fare["description"]
    payment = next(row for row in summary["blocking_anomalies"]
                   if (row["split"], row["feature"]) == ("train/prev", "payment_type"))
    assert "Cash" in payment["latest"] and "Credit Card" in payment["previous"]
    # `anomalies` names the split pairs as the run's summary does, with the same rows.
    shown = _inspect(ws, "anomalies", "--json")
    assert shown["run_id"] == summary["run_id"]
    def order(row):
        return row["split"], row["feature"]

    assert sorted(shown["drift"], key=order) == sorted(
        _drift_rows(summary["blocking_anomalies"]), key=order)
    # `runs` says the gate stopped it, and counts the rows the run's summary listed.
    last = _inspect(ws, "runs", "--json")[-1]
    assert last["run_id"] == summary["run_id"]
    assert last["status"] == "stopped by data gate"
    assert last["anomalies"] == len(summary["blocking_anomalies"]) + len(
        summary["tolerated_anomalies"]) and last["blocking"] == len(
        summary["blocking_anomalies"])


def test_drift_can_warn_and_the_window_spans_several_spans(ws):
    code, summary = _run(ws, [1, 2, 3], "--drift-warn", "--training-spans", "2")
    assert code == 0 and summary["data_passed"]
    assert _drift_rows(summary["tolerated_anomalies"])
    assert _drift_rows(summary["blocking_anomalies"]) == []
    assert summary["span"] == 3 and sum(summary["rows"].values()) == len(ws["spans"][3])
    assert summary["training_spans"] == [2, 3]
    # The Evaluator scores the eval split of the whole window.
    assert 0.15 * 2 * len(ws["spans"][3]) < summary["metrics"]["example_count"]
    states = _states(summary)
    assert states["CsvExampleGen_prev1"] in ("executed", "cached")
    assert states["Trainer"] == "executed"
    ws["window run"] = summary


def test_report_draws_each_feature_over_the_previous_spans(ws):
    """The window run's report (span-3, checked against span-2, where fares tripled):
    each feature of span-3's train split over span-2's."""
    # The run of the test above (the same run again when this test runs alone).
    if "window run" not in ws:
        code, ws["window run"] = _run(ws, [1, 2, 3], "--drift-warn", "--training-spans", "2")
        assert code == 0
    summary = ws["window run"]
    page = Path(summary["report"]).read_text()
    for text in ("fare distribution", "payment_type distribution", "span-3 train",
                 "span-2 train (previous span)"):
        assert text in page, text
    store = metadata.open_store(ws["out"] / "metadata.db")
    latest, previous = (d["features"]["fare"] for d in
                        inspection.run_details(store, summary["run_id"])["distributions"])
    assert 2.5 < latest["buckets"][-1][1] / previous["buckets"][-1][1] < 3.5
