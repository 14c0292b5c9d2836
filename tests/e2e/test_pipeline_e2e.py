"""The real LocalDagRunner on 3,000 taxi rows, driven through the CLI as a user would.

The tests are the steps of one scenario and run in file order: a first run, a rerun,
an unreachable gate, an edit of the model code. The later steps reuse the first run's
output directory, which is what makes "fully cached" and "re-executed" observable.

The first run is the session's 3,000-row run (tests/conftest.py, `taxi_3000_run`: a
fresh process with the checkout's code, which tests/e2e/test_monitor_e2e.py judges
too), its folder as that run left it. The later runs start fresh processes in a copy of
the code (the model edits are theirs), except the cached rerun and the unreachable
threshold, which run the same code, unedited, through the CLI in this process
(tests/conftest.py, `cli_in_process`; a fresh process spends more on starting than
these runs on their work): the fingerprints that decide what is cached are of the
code's content, and the curated schema is read from a snapshot in the output
directory, so runs from either copy of the code find each other's work.
"""

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline import metadata, serving
from pipeline.config import REPO_ROOT
from pipeline.summary import print_summary
from tests.conftest import (
    TAXI_3000_ARGS,
    cli_in_process,
    run_pipeline,
    run_pipeline_in_process,
    serialize_example,
)

pytestmark = pytest.mark.e2e

NODES = {
    "CsvExampleGen", "StatisticsGen", "SchemaGen", "ImportSchemaGen", "ExampleValidator",
    "DataGate", "Transform", "Trainer", "LatestBlessedModelResolver", "Evaluator", "Pusher",
}
# Resolvers query ML Metadata on every run; they have no cache entry.
CACHEABLE = NODES - {"LatestBlessedModelResolver"}
GATE = ["--min-auc", "0.8", "--min-accuracy", "0.8"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, taxi_3000_run):
    """The session's 3,000-row run as it left it (its data and output dir, and what the
    run printed) and a copy of the code, so a test can edit models/."""
    code = tmp_path_factory.mktemp("e2e") / "code"
    for part in ("pipeline", "models", "schema"):
        shutil.copytree(REPO_ROOT / part, code / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    with taxi_3000_run.checkout(__name__) as run:
        yield {"code": code, "data": run["data"], "out": run["out"], "first": run["result"]}


def run_cli(ws, *extra, in_process=False):
    """A run with --json: a fresh process in the workspace's copy of the code, or
    `in_process` through the CLI in this process (the checkout's code)."""
    args = ("--train-steps", "150", "--json", *extra)
    result = (run_pipeline_in_process(ws["data"], ws["out"], *args) if in_process
              else run_pipeline(ws["data"], ws["out"], *args, code_dir=ws["code"]))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout), result.stderr


def states(summary):
    return {component["id"]: component["state"] for component in summary["components"]}


def versions(ws):
    serving = ws["out"] / "serving" / "big_tipper"
    return sorted(p.name for p in serving.iterdir()) if serving.exists() else []


@pytest.fixture(scope="module")
def first_run(workspace):
    """The first run's summary and progress lines (tests/conftest.py, `TAXI_3000_ARGS`:
    150 steps and these floors, `GATE`)."""
    assert [*TAXI_3000_ARGS[2:]] == GATE
    result = workspace["first"]
    return json.loads(result.stdout), result.stderr


def test_first_run_executes_every_component_once(first_run, workspace):
    summary, progress = first_run
    assert states(summary) == dict.fromkeys(NODES, "executed")
    for node in NODES:  # one progress line per component, with executed/cached and seconds
        assert any(line.split()[:2] == [node, "executed"] and line.endswith(" s")
                   for line in progress.splitlines()), node
    store = metadata.open_store(workspace["out"] / "metadata.db")
    for node in NODES:
        context = store.get_context_by_type_and_name("node", f"taxi.{node}")
        assert len(store.get_executions_by_context(context.id)) == 1, node


def test_first_run_summary(first_run, workspace):
    summary, _ = first_run
    assert set(summary) >= {"blessed", "pushed", "pushed_path", "metrics", "anomalies",
                            "components", "rows", "data_passed"}
    assert sum(summary["rows"].values()) == 3000
    assert set(summary["rows"]) == {"train", "eval"}
    assert summary["anomalies"] == [] and summary["data_passed"]
    assert summary["metrics"]["example_count"] == summary["rows"]["eval"]
    assert summary["metrics"]["auc"] >= 0.8
    assert summary["blessed"] and summary["pushed"]
    assert summary["pushed_path"].startswith(str(workspace["out"] / "serving" / "big_tipper"))


def test_pushed_model_scores_serialized_examples(first_run, taxi_rows):
    summary, _ = first_run
    version_dir = summary["pushed_path"]
    assert (tf.io.gfile.exists(f"{version_dir}/saved_model.pb"))
    assert version_dir.rsplit("/", 1)[1].isdigit()  # <model>/<integer version>/
    serve = tf.saved_model.load(version_dir).signatures["from_examples"]
    examples = [serialize_example(row) for row in taxi_rows]
    scores = serve(examples=tf.constant(examples))["probability"].numpy().ravel()
    assert scores.shape == (len(taxi_rows),)
    assert ((scores >= 0) & (scores <= 1)).all()
    cash = [s for s, row in zip(scores, taxi_rows, strict=True) if row["payment_type"] == "Cash"]
    card = [s for s, row in zip(scores, taxi_rows, strict=True)
            if row["payment_type"] == "Credit Card"]
    # Cash tips are almost never recorded; card payers are big tippers two times in three.
    assert max(cash) < 0.5 < sum(card) / len(card)


def test_pushed_version_is_ready_for_tf_serving(first_run, workspace):
    summary, _ = first_run
    serving_dir = workspace["out"] / "serving"
    version_dir = serving_dir / "big_tipper" / str(summary["pushed_version"])
    assert summary["pushed_path"] == str(version_dir)
    assert [p.name for p in version_dir.parent.iterdir()] == [version_dir.name]  # no staging
    check = summary["servable_check"]
    assert check["problems"] == [] and check["warmup_requests"] == 4
    assert check["max_difference"] <= serving.TOLERANCE
    requests = [log.predict_log.request for log in serving.read_warmup(version_dir)]
    assert {r.model_spec.signature_name for r in requests} == {"serving_default",
                                                               "from_examples"}
    json_inputs = serving.signature_inputs(version_dir, "serving_default")
    assert "tips" not in json_inputs and json_inputs["fare"] == "float32"
    assert json_inputs["payment_type"] == "string" and json_inputs["trip_seconds"] == "int64"
    config = (serving_dir / "models.config").read_text()
    assert 'name: "big_tipper"' in config and f'base_path: "{version_dir.parent}"' in config


def test_json_requests_score_like_examples_with_missing_values(first_run, workspace,
                                                                taxi_rows):
    """CSV cells through `predict` (empty cells become missing-value markers) against
    tf.Examples without those features: missing values are handled alike."""
    summary, _ = first_run
    assert any(value == "" for row in taxi_rows for value in row.values())
    rows_csv = workspace["out"].parent / "rows.csv"
    with rows_csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(taxi_rows[0]))
        writer.writeheader()
        writer.writerows(taxi_rows)
    predicted = subprocess.run(
        [sys.executable, "-m", "pipeline", "predict", str(rows_csv),
         "--output-dir", str(workspace["out"])],
        cwd=workspace["code"], capture_output=True, text=True, timeout=300)
    assert predicted.returncode == 0, predicted.stderr
    json_scores = np.array(json.loads(predicted.stdout)["predictions"]).ravel()
    serve = tf.saved_model.load(summary["pushed_path"]).signatures["from_examples"]
    example_scores = serve(examples=tf.constant(
        [serialize_example(row) for row in taxi_rows]))["probability"].numpy().ravel()
    np.testing.assert_allclose(json_scores, example_scores, atol=1e-6)


def test_readme_requests_are_answered_in_both_formats(first_run, workspace):
    """The request files the README's curl and gRPC examples use."""
    summary, _ = first_run
    answers = {}
    for name in ("row", "columnar"):
        predicted = cli_in_process(
            "predict", str(REPO_ROOT / "examples" / "requests" / f"{name}.json"),
            "--output-dir", str(workspace["out"]))
        assert predicted.returncode == 0, predicted.stderr
        answers[name] = json.loads(predicted.stdout)
    assert answers["row"]["predictions"] == answers["columnar"]["outputs"]
    chosen = {}
    for version in (summary["pushed_version"], 1):
        chosen[version] = cli_in_process(
            "predict", "--version", str(version),
            str(REPO_ROOT / "examples" / "requests" / "row.json"),
            "--output-dir", str(workspace["out"]))
    assert json.loads(chosen[summary["pushed_version"]].stdout) == answers["row"]
    assert chosen[1].returncode == 2
    assert f"no version 1 in {workspace['out']}" in chosen[1].stderr
    card, cash = (score for [score] in answers["row"]["predictions"])
    assert 0 <= cash < card <= 1
    sys.path.insert(0, str(REPO_ROOT / "examples"))
    try:
        import grpc_client
    finally:
        sys.path.pop(0)
    request = grpc_client.predict_request([grpc_client.trip_example()])
    model = tf.saved_model.load(summary["pushed_path"])
    serve = model.signatures[request.model_spec.signature_name]
    scores = serve(**{name: tf.constant(tf.make_ndarray(proto))
                      for name, proto in request.inputs.items()})["probability"].numpy()
    assert scores.shape == (1, 1) and 0 <= scores[0, 0] <= 1


def _inspect(workspace, *args, output_dir=None):
    """An inspection command through the CLI in this process (tests/conftest.py); the
    runs, and `predict` in test_json_requests_score_like_examples_with_missing_values,
    are the fresh processes of this module."""
    done = cli_in_process(*args, "--json", "--output-dir",
                          str(output_dir or workspace["out"]))
    return done.returncode, (json.loads(done.stdout) if done.returncode == 0 else done.stderr)


def test_inspection_commands_describe_the_first_run(first_run, workspace):
    summary, _ = first_run
    code, runs = _inspect(workspace, "runs")
    assert code == 0 and len(runs) == 1
    assert runs[0] | {"start": None, "seconds": None} == {
        "run_id": summary["run_id"], "start": None, "seconds": None, "status": "pushed",
        "span": 1, "period": None, "anomalies": 0, "blocking": 0, "blessed": True,
        "pushed_version": summary["pushed_version"],
        "served_version": summary["pushed_version"], "pinned_version": None,
        "newer_versions": []}
    code, show = _inspect(workspace, "show", summary["run_id"][:16])
    assert code == 0 and show["run_id"] == summary["run_id"]
    assert [c["id"] for c in show["components"]] and len(show["components"]) == len(NODES)
    overall = next(m for m in show["metrics"] if m["slice"] == "Overall")
    assert overall["auc"] == pytest.approx(summary["metrics"]["auc"])
    slices = {m["slice"].split("=")[0] for m in show["metrics"]}
    assert slices == {"Overall", "payment_type", "trip_start_hour"}
    assert show["validation"]["ok"] and show["drift"] is None
    assert {row["feature"] for row in show["statistics"]} >= {"fare", "company"}
    code, anomalies = _inspect(workspace, "anomalies")
    assert code == 0 and anomalies["anomalies"] == []
    code, models = _inspect(workspace, "models")
    assert code == 0 and [m["version"] for m in models] == [summary["pushed_version"]]
    assert models[0]["metrics"]["auc"] == pytest.approx(summary["metrics"]["auc"])
    code, lineage = _inspect(workspace, "lineage", str(summary["pushed_version"]))
    assert code == 0 and lineage["spans"] == [1]
    steps = {step["component"]: step for step in lineage["steps"]}
    assert {"Pusher", "Trainer", "Transform", "CsvExampleGen"} <= set(steps)
    assert steps["CsvExampleGen"]["input_base"] == str(workspace["data"])
    code, message = _inspect(workspace, "lineage", "12345")
    assert code == 2 and "no pushed version 12345" in message
    code, message = _inspect(workspace, "runs", output_dir=workspace["out"].parent / "empty")
    assert code == 2 and "no runs" in message


def test_missing_values_are_the_csv_empty_cells(first_run, workspace):
    """Per feature, rows without a value over train + eval equal the CSV's empty cells,
    though TFDV counts CsvExampleGen's empty value lists as present (on these 3,000 taxi
    rows company is empty in 1,030, pickup_census_tract in all)."""
    summary, _ = first_run
    with (workspace["data"] / "span-1" / "data.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    empty = {name: sum(1 for row in rows if not row[name]) for name in rows[0]}
    assert empty["company"] == 1030 and empty["pickup_census_tract"] == len(rows) == 3000
    code, show = _inspect(workspace, "show", summary["run_id"])
    assert code == 0
    missing, present = dict.fromkeys(empty, 0), dict.fromkeys(empty, 0)
    for row in show["statistics"]:
        missing[row["feature"]] += row["missing"]
        present[row["feature"]] += row["present"]
    assert missing == empty
    assert all(present[name] == len(rows) - empty[name] for name in empty)


def test_report_is_self_contained_and_renders_in_chromium(first_run, tmp_path):
    summary, _ = first_run
    report = Path(summary["report"])
    page = report.read_text()
    assert not re.search(r"<script|<link|<img|@import|url\(|\b(src|href)=", page, re.I)
    chromium = shutil.which("chromium")
    assert chromium, "scripts/setup-env installs Debian's chromium"
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    for marker in ("Uncaught", "Failed to load resource", "net::ERR_"):
        assert marker not in done.stderr
    dom = done.stdout
    auc = f"{summary['metrics']['auc']:.4g}"
    for number in (summary["run_id"], auc, str(summary["pushed_version"]),
                   str(summary["rows"]["eval"])):
        assert number in dom, number
    assert "blessed" in dom and "auc by payment_type" in dom and "<svg" in dom
    # Each feature of the train split over the eval split's, the gate's bound on the
    # metric bars, and no AUC for cash trips, none of which is a big tip in this sample.
    for chart in ("fare (histogram)", "payment_type (top values)", "span-1 eval",
                  "auc, whole eval split", "min 0.8", "n/a (n="):
        assert chart in dom, chart


def test_a_one_class_slice_has_no_auc_rather_than_zero(first_run, workspace):
    from pipeline import inspection

    store = metadata.open_store(workspace["out"] / "metadata.db")
    details = inspection.run_details(store, first_run[0]["run_id"])
    rows = {(row["slice"], row["model"]): row for row in details["metrics"]}
    cash, card = rows["payment_type=Cash", "candidate"], rows["payment_type=Credit Card",
                                                              "candidate"]
    # TFMA reports AUC 0 where all examples are of one class (here: no big tips).
    assert cash["mean_label"] == 0 and cash["auc"] is None
    assert 0 < card["mean_label"] < 1 and card["auc"] > 0.5
    assert details["thresholds"] == {"auc": {"lower": 0.8}, "binary_accuracy": {"lower": 0.8}}
    # One span: the train split's distributions are shown over the eval split's.
    assert [d["label"] for d in details["distributions"]] == ["span-1 train", "span-1 eval"]


@pytest.mark.parametrize("name", ["data_validation.ipynb", "model_analysis.ipynb"])
def test_notebook_runs_headless_against_the_run(first_run, workspace, name, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    summary, _ = first_run
    monkeypatch.setenv("PIPELINE_OUTPUT_DIR", str(workspace["out"]))
    notebook = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
    # Raises CellExecutionError on the first cell that fails.
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO_ROOT / "notebooks")}}).execute()
    shown = json.dumps([cell.outputs for cell in notebook.cells if cell.cell_type == "code"])
    assert summary["run_id"] in shown
    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs]
    assert "error" not in {output.output_type for output in outputs}
    # No red block: nothing on stderr (TensorFlow's and absl's start-up lines).
    assert [output.text for output in outputs if output.get("name") == "stderr"] == []
    assert "WARNING:tensorflow" not in shown
    # The report's charts, inline SVG.
    charts = {"data_validation.ipynb": ["fare distribution", "payment_type distribution"],
              "model_analysis.ipynb": ["auc, whole eval split", "auc by payment_type"]}[name]
    for chart in charts:
        assert f"<title>{chart}</title>" in shown, chart


def test_rerun_is_fully_cached(workspace, first_run):
    before = versions(workspace)
    summary, _ = run_cli(workspace, *GATE, in_process=True)
    assert {node: state for node, state in states(summary).items() if node in CACHEABLE} == \
        dict.fromkeys(CACHEABLE, "cached")
    assert versions(workspace) == before  # nothing pushed twice
    assert summary["pushed_path"] == first_run[0]["pushed_path"]
    assert first_run[0]["pushed_new"] and not summary["pushed_new"]


def test_unreachable_threshold_blocks_the_push(workspace):
    before = versions(workspace)
    summary, _ = run_cli(workspace, "--min-auc", "0.999", "--min-accuracy", "0.8",
                         in_process=True)
    assert states(summary)["Evaluator"] == "executed"
    assert summary["blessed"] is False
    # Why, with the numbers: the one failed threshold, in --json, `show` and the report.
    auc = summary["metrics"]["auc"]
    [reason] = summary["not_blessed_reasons"]
    assert reason | {"value": None} == {
        "metric": "auc", "slice": "Overall", "kind": "value", "value": None,
        "threshold": 0.999, "message": f"auc on Overall is {auc:.4g}, below the lowest "
        "value allowed, 0.999 (--min-auc)"}
    assert reason["value"] == pytest.approx(auc)
    code, show = _inspect(workspace, "show", summary["run_id"])
    assert code == 0 and show["status"] == "not blessed"
    assert show["validation"]["failures"] == [reason]
    page = Path(summary["report"]).read_text()
    assert f"not blessed</span>: {reason['message']}." in page
    printed = io.StringIO()
    print_summary(summary, printed)  # what `run` prints without --json
    assert reason["message"] in printed.getvalue()
    assert summary["pushed"] is False and summary["pushed_path"] is None
    assert versions(workspace) == before
    blessing = next((workspace["out"] / "tfx" / "Evaluator" / "blessing").glob("*/NOT_BLESSED"),
                    None)
    assert blessing is not None


def test_editing_model_code_reruns_transform_and_trainer(workspace):
    with (workspace["code"] / "models" / "model.py").open("a") as handle:
        handle.write("\n# An edit that changes no behaviour still changes the code.\n")
    summary, _ = run_cli(workspace, *GATE)
    got = states(summary)
    assert got["Transform"] == got["Trainer"] == "executed"
    for upstream in ("CsvExampleGen", "StatisticsGen", "SchemaGen", "ImportSchemaGen",
                     "ExampleValidator", "DataGate"):
        assert got[upstream] == "cached", upstream


def _rollback(workspace, *args):
    done = cli_in_process("rollback", *args, "--json", "--output-dir", str(workspace["out"]))
    return done.returncode, (json.loads(done.stdout) if done.returncode == 0 else done.stderr)


def test_rollback_serves_an_earlier_version_until_latest(workspace, first_run):
    """Two pushed versions; `rollback --to` the first pins it in models.config, which a
    newer push keeps, and `--to latest` serves the newest again; nothing is deleted."""
    first = first_run[0]["pushed_version"]
    # An Evaluator setting no earlier run used: the Evaluator and the Pusher run again.
    summary, _ = run_cli(workspace, *GATE, "--max-regression", "1")
    second = summary["pushed_version"]
    assert summary["pushed_new"] and second > first
    assert (summary["served_version"], summary["pinned_version"]) == (second, None)

    code, answer = _rollback(workspace, "--to", str(first))
    assert code == 0 and answer["served_version"] == first == answer["pinned_version"]
    assert {str(first), str(second)} <= set(versions(workspace))  # nothing deleted
    code, models = _inspect(workspace, "models")
    rows = {row["version"]: row for row in models}
    assert code == 0 and rows[first]["served"] and rows[first]["pinned"]
    assert not rows[second]["served"] and rows[second]["present"]
    code, runs = _inspect(workspace, "runs")
    assert code == 0 and {run["served_version"] for run in runs} == {first}
    assert runs[-1]["pushed_version"] == second
    code, lineage = _inspect(workspace, "lineage", str(first))
    assert code == 0 and lineage["served"]
    assert [(r["policy"], r["served_version"], r["previous_served_version"])
            for r in lineage["rollbacks"]] == [("specific", first, second)]
    code, message = _inspect(workspace, "lineage", str(second))
    assert code == 0 and not message["served"]
    code, message = _rollback(workspace, "--to", "12345")
    assert code == 2 and message.startswith("error: no version 12345")

    # A new push while pinned: published, and the summary says it is not served.
    result = run_pipeline(workspace["data"], workspace["out"], "--train-steps", "150",
                          *GATE, "--max-regression", "0.5", code_dir=workspace["code"])
    assert result.returncode == 0, result.stderr[-3000:]
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip()
             for line in result.stdout.splitlines() if ":" in line}
    third = int(lines["pushed"].rsplit("/", 1)[1])
    assert third > second and str(third) in versions(workspace)
    assert lines["served"].startswith(f"{first}, pinned by")
    assert f"the pushed {third} is not served until" in lines["served"]
    assert "rollback --to latest" in lines["served"]

    code, answer = _rollback(workspace, "--to", "latest")
    assert code == 0 and answer["served_version"] == third
    assert answer["pinned_version"] is None
    code, runs = _inspect(workspace, "runs")
    assert code == 0 and runs[-1]["served_version"] == runs[-1]["pushed_version"] == third
    code, lineage = _inspect(workspace, "lineage", str(third))
    assert lineage["served"] and lineage["rollbacks"][-1]["policy"] == "latest"
    assert {str(first), str(second), str(third)} <= set(versions(workspace))


def test_model_that_tf_serving_cannot_run_is_not_pushed(workspace):
    """A serving signature calling back into Python: blessed, but refused at push."""
    model_py = workspace["code"] / "models" / "model.py"
    source = model_py.read_text()
    anchor = ("        return score({name: _as_optional_column(value) "
              "for name, value in features.items()})\n")
    patched = source.replace(anchor, (
        "        features = {**features, 'fare': tf.reshape(tf.py_function(\n"
        "            lambda v: v, [features['fare']], tf.float32), [-1])}\n" + anchor))
    assert patched != source
    model_py.write_text(patched)
    before = versions(workspace)
    result = run_pipeline(workspace["data"], workspace["out"], "--train-steps", "150",
                          *GATE, "--max-regression", "1", code_dir=workspace["code"])
    assert result.returncode == 1
    assert "Pusher failed" in result.stderr and "not servable" in result.stderr
    assert "static scan of the serving graph found ops" in result.stderr
    assert "EagerPyFunc" in result.stderr
    assert versions(workspace) == before
    # A failed run still leaves its report, which shows the failure.
    report = next(line for line in result.stderr.splitlines() if line.startswith("report: "))
    page = Path(report.removeprefix("report: ")).read_text()
    assert "<td id='status'>failed</td>" in page
