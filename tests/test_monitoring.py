"""`monitor`'s rules without a model: which metrics are gated and in which direction
(from the Evaluator's EvalConfig), decay against the push-time metrics, the verdict and
its exit code, when a span has no labels, and TFDV's drift measurements as rows."""

import dataclasses
import json
from types import SimpleNamespace

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2

from pipeline import monitoring
from pipeline.config import make_config
from pipeline.definition import eval_config
from pipeline.exit_codes import EXIT_MONITOR_ALERT, EXIT_OK
from tests.test_rollback import out  # noqa: F401 - the fixture: a store with pushed versions

GATED = {"auc": True, "binary_accuracy": True}


def test_gated_metrics_follow_the_evaluators_config():
    taxi = make_config()
    assert monitoring.gated_metrics(eval_config(taxi)) == GATED


def test_gated_metrics_of_a_regression(tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text('feature { name: "x" type: FLOAT }\nfeature { name: "y" type: FLOAT }\n')
    cfg = make_config(label="y", task="regression", data_dir=tmp_path, schema_path=schema)
    assert monitoring.gated_metrics(eval_config(cfg)) == {
        "rmse": False, "mean_absolute_error": False}


def test_without_thresholds_keeps_metrics_and_slices():
    config = eval_config(make_config())
    stripped = monitoring.without_thresholds(config)
    assert [m.class_name for s in stripped.metrics_specs for m in s.metrics] == [
        m.class_name for s in config.metrics_specs for m in s.metrics]
    assert stripped.slicing_specs == config.slicing_specs
    assert not any(m.per_slice_thresholds for s in stripped.metrics_specs for m in s.metrics)
    assert any(m.per_slice_thresholds for s in config.metrics_specs for m in s.metrics)


def test_decay_is_how_much_worse_than_at_push_time():
    rows = monitoring.decay_rows({"auc": 0.90, "binary_accuracy": 0.89},
                                 {"auc": 0.95, "binary_accuracy": 0.88}, GATED, 0.02)
    assert [(r["metric"], round(r["fell_by"], 6), r["decayed"]) for r in rows] == [
        ("auc", 0.05, True), ("binary_accuracy", -0.01, False)]


def test_decay_of_a_lower_is_better_metric():
    rows = monitoring.decay_rows({"rmse": 12.0}, {"rmse": 10.0}, {"rmse": False}, 1.5)
    assert rows[0]["fell_by"] == 2.0 and rows[0]["decayed"]
    rows = monitoring.decay_rows({"rmse": 9.0}, {"rmse": 10.0}, {"rmse": False}, 0.0)
    assert rows[0]["fell_by"] == -1.0 and not rows[0]["decayed"]


def test_a_fall_of_exactly_max_decay_is_not_decay():
    rows = monitoring.decay_rows({"auc": 0.5}, {"auc": 0.75}, {"auc": True}, 0.25)
    assert not rows[0]["decayed"]


def test_an_undefined_metric_is_not_judged():
    """AUC of a span whose examples are all of one class is None (artifact_files.slice_metrics)."""
    assert monitoring.decay_rows({"auc": None, "binary_accuracy": 0.5},
                                 {"auc": 0.95, "binary_accuracy": 0.9}, GATED, 0.02) == [
        {"metric": "binary_accuracy", "value": 0.5, "reference": 0.9,
         "fell_by": pytest.approx(0.4), "decayed": True}]


DECAYED = [{"metric": "auc", "decayed": True}]
FINE = [{"metric": "auc", "decayed": False}]
DRIFTING = [{"feature": "fare", "drifted": True}]
STILL = {"drifted": False}


@pytest.mark.parametrize(("decay", "features", "predictions", "expected"), [
    (FINE, [], STILL, "healthy"),
    (DECAYED, [], STILL, "decayed"),
    (DECAYED, DRIFTING, {"drifted": True}, "decayed"),  # decay says more than drift
    (FINE, DRIFTING, STILL, "drifted"),
    (FINE, [], {"drifted": True}, "drifted"),
    (None, [], STILL, "healthy"),  # no labels: drift alone decides
    (None, DRIFTING, STILL, "drifted"),
    ([], [], None, "healthy"),
])
def test_verdict(decay, features, predictions, expected):
    assert monitoring.verdict(decay, features, predictions) == expected


SKEWED = {"skewed_features": [{"feature": "fare"}], "prediction_drift": STILL}
SCORES_MOVED = {"skewed_features": [], "prediction_drift": {"drifted": True}}
QUIET = {"skewed_features": [], "prediction_drift": STILL}


@pytest.mark.parametrize(("span_verdict", "serving", "expected"), [
    ("healthy", None, "healthy"),  # no logs given
    ("healthy", QUIET, "healthy"),
    ("healthy", SKEWED, "drifted"),
    ("healthy", SCORES_MOVED, "drifted"),
    ("healthy", {**SKEWED, "prediction_drift": None}, "drifted"),  # multi-class: no scores
    ("healthy", {**QUIET, "prediction_drift": None}, "healthy"),
    ("decayed", SKEWED, "decayed"),  # decay says more than skew
    ("drifted", QUIET, "drifted"),
])
def test_verdict_with_serving_logs(span_verdict, serving, expected):
    assert monitoring.with_serving(span_verdict, serving) == expected


def test_exit_codes():
    assert monitoring.exit_code("healthy") == EXIT_OK == 0
    assert monitoring.exit_code("decayed") == monitoring.exit_code("drifted") \
        == EXIT_MONITOR_ALERT == 5


def _csv(path, text):
    path.write_text(text)
    return path


def test_missing_labels(tmp_path):
    label = make_config().label  # big_tipper, from tips and fare
    labelled = _csv(tmp_path / "a.csv", "fare,tips\n10,\n10,3\n")
    assert monitoring.missing_labels([labelled], label) is None
    no_column = _csv(tmp_path / "b.csv", "fare,company\n10,x\n")
    assert monitoring.missing_labels([no_column], label) == "the span has no 'tips' column"
    empty = _csv(tmp_path / "c.csv", "fare,tips\n10,\n11, \n")
    assert monitoring.missing_labels([empty], label) == \
        "the span's 'tips' column is empty in every row"


def test_measurement_rows_come_from_tfdvs_drift_info():
    anomalies = anomalies_pb2.Anomalies()
    kinds = anomalies_pb2.DriftSkewInfo.Measurement
    for name, kind, value, threshold in (("company", kinds.L_INFTY, 0.01, 0.15),
                                         ("fare", kinds.JENSEN_SHANNON_DIVERGENCE, 0.4, 0.2)):
        info = anomalies.drift_skew_info.add()
        info.path.step.append(name)
        info.drift_measurements.add(type=kind, value=value, threshold=threshold)
    assert monitoring.measurement_rows(anomalies) == [
        {"feature": "fare", "comparator": "jensen_shannon_divergence", "value": 0.4,
         "threshold": 0.2, "drifted": True},
        {"feature": "company", "comparator": "l_infty", "value": 0.01, "threshold": 0.15,
         "drifted": False}]


def _result(name: str, span: int, version: int, result_verdict: str) -> dict:
    """A monitor result as `monitoring.monitor` returns it, without the measurements."""
    return {"name": name, "time": name.removeprefix("monitor-")[:10], "span": span,
            "served_version": version, "verdict": result_verdict, "period": "2015",
            "trained_on_spans": [1], "trained_on_periods": {"1": "2013"}, "data_dir": "/d",
            "rows": 10, "decay": None, "not_measured": "performance not measured: x",
            "metrics": {}, "max_decay": 0.02, "drift": [], "drifted_features": [],
            "prediction_drift": {"comparator": "jensen_shannon_divergence", "value": 0.01,
                                 "threshold": 0.1, "drifted": False, "span_mean": 0.2,
                                 "reference_mean": 0.2}}


def test_results_are_recorded_against_the_served_model_and_listed(request):
    """Recorded as Monitor executions with the PushedModel as input, read back by a new
    connection (a later process), and listed by `runs`, `show` and `models`."""
    from pipeline import inspection, metadata
    from tests.test_rollback import PUSHED, _inspect

    folder = request.getfixturevalue("out")
    store = metadata.open_store(folder / "metadata.db")
    pushed = metadata.pushed_artifacts(store)[PUSHED[0]]
    cfg = SimpleNamespace(locations=SimpleNamespace(output_dir=folder))
    first = _result("monitor-2030-01-01T10-00-00.000001", 3, PUSHED[0], "healthy")
    second = _result("monitor-2030-01-02T10-00-00.000001", 4, PUSHED[0], "decayed")
    execution_id = monitoring.record(cfg, store, first, pushed)
    monitoring.record(cfg, store, second, pushed)

    store = metadata.open_store(folder / "metadata.db")
    events = store.get_events_by_execution_ids([execution_id])
    assert [(event.type, event.artifact_id) for event in events] == [
        (events[0].INPUT, pushed.id)]
    records = inspection.monitor_records(store)
    assert [(r["span"], r["verdict"]) for r in records] == [(3, "healthy"), (4, "decayed")]
    assert inspection.monitor_record(store, "monitor-2030-01-01")["span"] == 3
    with pytest.raises(inspection.NoRuns, match="no single monitor result"):
        inspection.monitor_record(store, "monitor-2030")
    rows = {row["version"]: row for row in inspection.models(store)}
    assert [m["verdict"] for m in rows[PUSHED[0]]["monitors"]] == ["healthy", "decayed"]
    assert rows[PUSHED[1]]["monitors"] == []

    listed = json.loads(_inspect(folder, "runs", "--json"))
    assert [row["status"] for row in listed if row["run_id"].startswith("monitor-")] == [
        "monitor: healthy", "monitor: decayed"]
    shown = _inspect(folder, "show", "monitor-2030-01-02")
    assert "span:        span-4 (2015) of /d, 10 rows" in shown
    assert "trained on span-1 (2013)" in shown
    assert "performance: performance not measured: x" in shown
    assert "verdict:     decayed" in shown
    assert "decayed on span-4" in _inspect(folder, "models")


def test_a_served_version_the_pipeline_did_not_push_is_refused(request):
    """The fixture's serving folder holds a version copied in by hand, served as the
    highest: there is no record of its training data or metrics."""
    from pipeline import metadata
    from tests.test_rollback import UNRECORDED

    with pytest.raises(monitoring.MonitorError,
                       match=f"the served version {UNRECORDED} was not pushed by the "
                       "pipeline"):
        monitoring.served_model(metadata.open_store(
            request.getfixturevalue("out") / "metadata.db"))


def test_nothing_served(tmp_path):
    from tests.test_rollback import MODEL

    (tmp_path / "serving" / MODEL).mkdir(parents=True)
    store = _empty_store(tmp_path)
    with pytest.raises(monitoring.MonitorError, match="TF Serving would serve no model"):
        monitoring.served_model(store)


def _empty_store(folder):
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(folder / "metadata.db")
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def test_report_of_a_labelled_result():
    from pipeline import monitor_report

    result = {**_result("monitor-2030-01-01T10-00-00.000001", 3, 7, "decayed"),
              "decay": [{"metric": "auc", "value": 0.7, "reference": 0.95, "fell_by": 0.25,
                         "decayed": True}],
              "slices": [{"slice": "Overall", "model": "candidate", "example_count": 10.0,
                          "auc": 0.7}],
              "reference_slices": [{"slice": "Overall", "model": "candidate",
                                    "example_count": 5.0, "auc": 0.95}]}
    page = monitor_report.render(result)
    assert "<h1>Monitor: version 7 on span-3 (2015)</h1>" in page
    assert "<span class='bad'>decayed</span>" in page
    assert "<td id='trained-on'>span-1 (2013)</td>" in page
    assert "id='decay'" in page and "id='slices'" in page and "<svg" in page
    unlabelled = monitor_report.render(_result("monitor-x", 3, 7, "healthy"))
    assert "<p class='note' id='not-measured'>performance not measured: x</p>" in unlabelled
    assert "<span class='ok'>healthy</span>" in unlabelled
    assert "The served model over time" not in page


def test_report_charts_the_history_with_this_result_last():
    from pipeline import inspection, monitor_report

    earlier = {**_result("monitor-a", 2, 5, "decayed"), "period": "2014",
               "metrics": {"auc": 0.8}}
    result = {**_result("monitor-b", 3, 7, "healthy"), "metrics": {"auc": 0.9}}
    history = [inspection.history_row(earlier, {
        "data_passed": True, "blessed": True, "pushed_new": True, "served_version": 7,
        "run_id": "r"}), inspection.history_row(result)]
    assert [(row["action"], row["served_version"]) for row in history] == [
        (inspection.TRAINED_PUSHED, 7), (inspection.KEPT, 7)]
    page = monitor_report.render(result, history)
    section = page[page.index("<h2>The served model over time</h2>"):]
    assert "up to this result" in section
    assert section.count("class='served'") == 2 and section.count("class='retrain'") == 1
    assert "2015: auc 0.9000 (version 7, healthy)" in section


SERVING = {"log_dir": "/logs", "requests": 4, "instances": 1200,
           "skewed_features": [{"feature": "fare", "measure": "jensen_shannon_divergence",
                                "value": 0.31, "threshold": 0.2}],
           "skew": [{"feature": "fare", "measure": "jensen_shannon_divergence",
                     "value": 0.31, "threshold": 0.2},
                    {"feature": "company", "measure": "l_infinity", "value": 0.05,
                     "threshold": 0.15}],
           "anomalies": [{"feature": "payment_type", "type": "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
                          "description": "Unexpected string values"}],
           "prediction_drift": {"measure": "jensen_shannon_divergence", "value": 0.04,
                                "threshold": 0.1, "drifted": False}}


def test_serving_logs_in_the_text_and_the_report():
    import io

    from pipeline import monitor_cli, monitor_report

    text = io.StringIO()
    monitor_cli.describe_serving(SERVING, text)
    lines = text.getvalue().splitlines()
    assert lines[0] == ("serving:     4 logged calls, 1,200 rows in /logs; 1 of 2 features "
                        "skewed from the training data")
    assert lines[1].split() == ["fare", "jensen_shannon_divergence", "0.3100", "(threshold",
                                "0.2)", "SKEWED"]
    assert "SKEWED" not in lines[2] and lines[2].split()[0] == "company"
    assert "payment_type ENUM_TYPE_UNEXPECTED_STRING_VALUES" in lines[3]
    assert "logged scores: jensen_shannon_divergence 0.0400 (threshold 0.1)" in lines[4]
    assert "DRIFTED" not in lines[4]
    page = monitor_report.render({**_result("monitor-x", 3, 7, "drifted"),
                                  "serving": SERVING})
    assert "id='serving-skew'" in page and "id='serving-anomalies'" in page
    assert "id='serving-scores'" in page
    assert "serving-skew" not in monitor_report.render(_result("monitor-x", 3, 7, "healthy"))


def test_a_column_the_run_excluded_may_hold_anything(tmp_path, monkeypatch):
    """An ID column the run was told to --exclude holds `inf`: monitor's data check lets
    it through, as run's does (the Config of the output directory carries the list);
    a column that is a feature is still refused."""
    data = tmp_path / "data"
    for span in (1, 2):
        (data / f"span-{span}").mkdir(parents=True)
        (data / f"span-{span}" / "data.csv").write_text("id,x,y\ninf,1,2\n")
    served = {"data_dir": str(data), "trained_on_spans": [1]}
    assert monitoring.choose_span(data, None, served, ("id",)) == 2
    with pytest.raises(monitoring.MonitorError, match=r"column 'id' of .* holds no finite"):
        monitoring.choose_span(data, None, served)

    chosen = []
    monkeypatch.setattr(monitoring, "served_model", lambda store: served)
    monkeypatch.setattr(monitoring, "choose_span",
                        lambda *args: chosen.append(args) or (_ for _ in ()).throw(
                            monitoring.MonitorError("stop")))
    cfg = dataclasses.replace(make_config(), excluded_columns=("id",))
    with pytest.raises(monitoring.MonitorError, match="stop"):
        monitoring.monitor(cfg, store=None)
    assert chosen[0][3] == ("id",)
