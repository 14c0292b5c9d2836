"""The HTML report from a run's details: self-contained, escaped, with slice charts."""

import re

from pipeline import report

DETAILS = {
    "run_id": "2026-11-26T10:00:00.000001", "status": "not blessed", "span": 3,
    # The data gate's count: the anomaly below and two tolerated drift rows.
    "anomalies": 3, "blocking": 0,
    "rows": {"train": 800, "eval": 200}, "anomalies_list": [
        {"split": "eval", "feature": "company", "type": "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
         "description": "Examples contain <script>alert(1)</script>"}],
    "statistics": [{"split": "train", "feature": "fare", "type": "numeric", "present": 800,
                    "missing": 0, "mean": 12.5, "std": 3.25, "min": 0.0, "max": 80.0}],
    "components": [{"id": "Trainer", "state": "executed", "seconds": 4.2}],
    "drift": None,
    "metrics": [
        {"slice": "Overall", "model": "candidate", "example_count": 200.0, "auc": 0.9512,
         "binary_accuracy": 0.9},
        {"slice": "Overall", "model": "baseline", "example_count": 200.0, "auc": 0.9431},
        {"slice": "trip_start_hour=10", "model": "candidate", "example_count": 9.0, "auc": 0.8},
        {"slice": "trip_start_hour=2", "model": "candidate", "example_count": 7.0, "auc": 0.7},
    ],
    "validation": {"ok": False, "failures": [
        {"metric": "auc", "slice": "Overall", "kind": "value", "value": 0.9512,
         "threshold": 0.999, "message": "auc on Overall is 0.9512, below the lowest value "
         "allowed, 0.999 (--min-auc)"}]},
    "pushed_version": None, "pushed_path": None, "servable_check": None,
}


def test_report_has_the_key_numbers_and_nothing_external():
    page = report.render(DETAILS)
    assert not re.search(r"<script|<link|<img|@import|url\(|\b(src|href)=", page, re.I)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for text in ("2026-11-26T10:00:00.000001", "0.9512", "0.9431",
                 "not blessed</span>: auc on Overall is 0.9512, below the lowest value "
                 "allowed, 0.999 (--min-auc).", "nothing pushed",
                 "not checked: no previous span"):
        assert text in page, text
    # The same count and status as `runs` and the run summary.
    assert "<td id='status'>not blessed</td>" in page
    assert "<td id='anomalies'>3 (0 blocking)</td>" in page


def test_slice_chart_orders_numeric_values_numerically():
    [chart] = report.slice_charts(DETAILS["metrics"], "auc")
    assert chart.startswith("<svg") and "auc by trip_start_hour" in chart
    assert chart.index(">2<") < chart.index(">10<")
    assert "(n=9)" in chart


def test_report_path_is_safe_for_any_run_id(tmp_path):
    path = report.path_for(tmp_path, "2026-11-26T10:00:00.000001")
    assert path == tmp_path / "reports" / "2026-11-26T10-00-00.000001" / "report.html"


def test_the_span_is_named_with_its_period_when_one_is_recorded():
    assert "<td id='span'>3</td>" in report.render(DETAILS)
    assert "<td id='span'>span-3 (2014-Q2)</td>" in report.render(
        {**DETAILS, "period": "2014-Q2"})
