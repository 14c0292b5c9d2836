"""The served model's quality span by span as the run report reads it back from ML
Metadata (`inspection.served_history`): recorded `monitor` results and the runs
between them, and the report's chart of it (or a sentence when nothing was
monitored)."""

import json
import time
from types import SimpleNamespace

import pytest

from pipeline import inspection, monitoring, report
from pipeline.gate_rules import DATA_VERDICT_TYPE, VERDICT_FILE
from tests.test_inspection import RUN_ID, _Recorder
from tests.test_report import DETAILS

FIRST, SECOND = 1796100000, 1796200000


class _History:
    """Runs and monitor results recorded in time order into one output directory."""

    def __init__(self, out):
        self.out, self.record, self.runs, self.pushed = out, _Recorder(out), 0, {}

    def run(self, span: int, passed: bool = True, blessed: bool = True,
            version: int | None = None) -> str:
        """One pipeline run on `span`: stopped by the data gate, or trained and judged,
        pushing `version` when blessed. Returns its run id."""
        record, number = self.record, self.runs
        run_id = RUN_ID if number == 0 else f"2026-12-0{number + 1}T10:00:00.000001"
        if number:
            record.start_run(run_id)
        self.runs += 1
        time.sleep(0.02)  # ML Metadata's times are in milliseconds
        [examples] = record.execution(
            "CsvExampleGen", outputs=[record.artifact("Examples", f"{number}/examples",
                                                      span=span)],
            input_base=str(self.out / "data"))
        verdict = record.artifact(DATA_VERDICT_TYPE, f"{number}/verdict", passed=int(passed))
        (record.root / f"{number}/verdict" / VERDICT_FILE).write_text(
            json.dumps({"passed": passed, "blocking": [] if passed else [{"x": 1}],
                        "tolerated": []}))
        record.execution("DataGate", [examples], [verdict])
        if not passed:
            return run_id
        [model] = record.execution("Trainer", [examples],
                                   [record.artifact("Model", f"{number}/model")])
        [blessing] = record.execution("Evaluator", [model], [record.artifact(
            "ModelBlessing", f"{number}/blessing", blessed=int(blessed))])
        pushed = record.artifact("PushedModel", f"{number}/pushed", pushed=0)
        if blessed:
            pushed = record.artifact(
                "PushedModel", f"{number}/pushed", pushed=1, pushed_version=str(version),
                pushed_destination=str(self.out / "serving" / "m" / str(version)))
        [pushed] = record.execution("Pusher", [model, blessing], [pushed])
        if blessed:
            self.pushed[version] = pushed
        return run_id

    def monitor(self, span: int, verdict: str, served: int, auc: float) -> None:
        """A monitor result recorded as `monitor` records it (monitoring.record)."""
        time.sleep(0.02)
        cfg = SimpleNamespace(locations=SimpleNamespace(output_dir=self.out))
        result = {"name": f"monitor-{span}", "span": span, "period": f"2014-Q{span - 1}",
                  "verdict": verdict, "served_version": served,
                  "metrics": {"auc": auc, "example_count": 100.0},
                  "time": "2026-12-02T10:00:00"}
        monitoring.record(cfg, self.record.store, result, self.pushed[served])


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """The model's life: trained and pushed on span 1; decayed on span 2, so retrained
    and pushed; healthy on span 3, a run that was not blessed; drifted on span 4, a run
    the data gate stopped; healthy on span 5, no run."""
    found = _History(tmp_path_factory.mktemp("history"))
    runs = [found.run(1, version=FIRST)]
    found.monitor(2, "decayed", FIRST, 0.61)
    runs.append(found.run(2, version=SECOND))
    found.monitor(3, "healthy", SECOND, 0.93)
    runs.append(found.run(3, blessed=False))
    found.monitor(4, "drifted", SECOND, 0.91)
    runs.append(found.run(4, passed=False))
    found.monitor(5, "healthy", SECOND, 0.92)
    return found.record.store, runs


def test_history_pairs_each_monitor_result_with_what_the_next_runs_did(history):
    store, _ = history
    rows = inspection.served_history(store)
    assert [(row["span"], row["period"], row["verdict"], row["served_before"],
             row["action"], row["served_version"]) for row in rows] == [
        (2, "2014-Q1", "decayed", FIRST, inspection.TRAINED_PUSHED, SECOND),
        (3, "2014-Q2", "healthy", SECOND, inspection.NOT_BLESSED, SECOND),
        (4, "2014-Q3", "drifted", SECOND, inspection.DATA_STOPPED, SECOND),
        (5, "2014-Q4", "healthy", SECOND, inspection.KEPT, SECOND)]
    assert [row["metrics"]["auc"] for row in rows] == [0.61, 0.93, 0.91, 0.92]
    assert rows[0]["run_id"] is not None and rows[-1]["run_id"] is None
    assert inspection.timeline_metric(rows) == "auc"


def test_a_runs_history_stops_at_that_run(history):
    store, runs = history
    # Nothing was monitored before the first run ended.
    assert inspection.served_history(store, runs[0]) == []
    [row] = inspection.served_history(store, runs[1])
    assert (row["span"], row["action"], row["served_version"]) == (
        2, inspection.TRAINED_PUSHED, SECOND)
    assert [row["action"] for row in inspection.served_history(store, runs[3])] == [
        inspection.TRAINED_PUSHED, inspection.NOT_BLESSED, inspection.DATA_STOPPED]


def test_run_details_carry_the_history_up_to_the_run(history):
    store, runs = history
    details = inspection.run_details(store, runs[1])
    assert [row["span"] for row in details["served_history"]] == [2]


def test_the_run_report_charts_the_history_with_the_retrains(history):
    store, _ = history
    page = report.render({**DETAILS, "served_history": inspection.served_history(store)})
    section = page[page.index("<h2>The served model over time</h2>"):]
    chart = section[section.index("<svg"):section.index("</svg>")]
    assert chart.count("class='served'") == 4 and chart.count("<polyline") == 1
    assert "2014-Q1: auc 0.6100 (version 1796100000, decayed)" in chart
    assert chart.count("class='retrain'") == 1 and f">v{SECOND}</text>" in chart
    assert chart.count("class='not-pushed'") == 2
    assert "<script" not in page


def test_without_monitor_results_the_report_says_so_without_a_chart():
    page = report.render({**DETAILS, "served_history": []})
    section = page[page.index("<h2>The served model over time</h2>"):]
    assert "No monitor results yet" in section
    assert "class='served'" not in page and "class='retrain'" not in page
