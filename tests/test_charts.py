"""The charts of the report and the notebooks: feature distributions read from TFDV
statistics and overlaid for two datasets, metric bars on a readable scale with the
gate's thresholds, and "n/a" for a metric a one-class slice cannot have."""

import json
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline import artifact_files, inspection, report
from tests.test_report import DETAILS

SVG = "{http://www.w3.org/2000/svg}"


def _statistics(root, split: str, fares: list[tuple[float, float, float]],
                payments: dict[str, int]):
    """An ExampleStatistics artifact with one split as StatisticsGen writes it: a
    numeric feature with equal-width and quantile histograms, a string feature with
    its rank histogram."""
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=sum(payments.values()))
    fare = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.FLOAT)
    fare.path.step.append("fare")
    fare.num_stats.common_stats.tot_num_values = int(sum(c for _, _, c in fares))
    standard = fare.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    for low, high, count in fares:
        standard.buckets.add(low_value=low, high_value=high, sample_count=count)
    quantiles = fare.num_stats.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
    quantiles.buckets.add(low_value=fares[0][0], high_value=fares[-1][1],
                          sample_count=sum(c for _, _, c in fares))
    payment = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    payment.path.step.append("payment_type")
    payment.string_stats.common_stats.tot_num_values = sum(payments.values())
    for value, count in sorted(payments.items(), key=lambda item: item[1]):
        payment.string_stats.rank_histogram.buckets.add(label=value, sample_count=count)
    (root / f"Split-{split}").mkdir(parents=True)
    (root / f"Split-{split}" / "FeatureStats.pb").write_bytes(stats.SerializeToString())
    return SimpleNamespace(uri=str(root))


def _svgs(page: str) -> list[ET.Element]:
    """Every chart of a page, parsed: a chart that is not well-formed XML fails here
    (IPython's SVG display needs it too)."""
    return [ET.fromstring(svg) for svg in re.findall(r"<svg\b.*?</svg>", page, re.S)]


def _title(svg: ET.Element) -> str:
    return svg.find(f"{SVG}title").text


def test_feature_distributions_read_tfdv_histograms_and_top_values(tmp_path):
    statistics = _statistics(tmp_path, "train", [(0.0, 10.0, 30.0), (10.0, 20.0, 10.0)],
                             {"Cash": 25, "Credit Card": 15})
    found = inspection.feature_distributions(statistics, "train")
    assert found["fare"] == {
        "type": "numeric", "integer": False, "values": 40,
        "buckets": [[0.0, 10.0, 30.0], [10.0, 20.0, 10.0]], "quantiles": [[0.0, 20.0, 40.0]]}
    assert found["payment_type"] == {"type": "string", "values": 40,
                                     "top": [["Cash", 25], ["Credit Card", 15]]}


def test_thresholds_are_the_gates_bounds_on_the_whole_eval_split(tmp_path):
    """Read from the EvalConfig the Evaluator wrote: an infinite bound (no bound set)
    and a per-slice threshold on another slice are not the gate's."""
    config = {"evalConfig": {"metricsSpecs": [{"metrics": [
        {"className": "ExampleCount"},
        {"className": "AUC", "perSliceThresholds": [{"slicingSpecs": [{}], "threshold": {
            "valueThreshold": {"lowerBound": 0.94},
            "changeThreshold": {"direction": "HIGHER_IS_BETTER", "absolute": -0.01}}}]},
        {"className": "BinaryAccuracy", "perSliceThresholds": [{"slicingSpecs": [{}],
         "threshold": {"valueThreshold": {"lowerBound": "-Infinity"}}}]},
        {"className": "MeanAbsoluteError", "perSliceThresholds": [
            {"slicingSpecs": [{"featureKeys": ["hour"]}],
             "threshold": {"valueThreshold": {"upperBound": 3.0}}}]},
        {"className": "RootMeanSquaredError", "config": "{\"name\": \"rmse\"}",
         "perSliceThresholds": [{"slicingSpecs": [{}],
                                 "threshold": {"valueThreshold": {"upperBound": 2.5}}}]},
    ]}]}}
    (tmp_path / "eval_config.json").write_text(json.dumps(config))
    assert inspection.thresholds(SimpleNamespace(uri=str(tmp_path))) == {
        "auc": {"lower": 0.94, "change": -0.01}, "rmse": {"upper": 2.5}}


def test_auc_of_a_one_class_slice_is_undefined_not_zero():
    """TFMA reports AUC 0 where a slice's labels are all one class (mean label 0 or 1)."""
    rows = [
        {"slice": "payment_type=Cash", "model": "candidate", "auc": 0.0, "mean_label": 0.0},
        {"slice": "payment_type=Credit Card", "model": "candidate", "auc": 0.0,
         "mean_label": 1.0},
        {"slice": "payment_type=Card", "model": "candidate", "auc": 0.0, "mean_label": 0.5},
        {"slice": "hour=3", "model": "candidate", "macro_auc": 0.6, "auc/class_0": 0.8,
         "auc/class_1": 0.0, "mean_label/class_0": 0.4, "mean_label/class_1": 0.0},
    ]
    cash, card_only, mixed, hour = [artifact_files._without_one_class_auc(dict(r)) for r in rows]
    assert cash["auc"] is None and card_only["auc"] is None
    assert mixed["auc"] == 0.0  # both classes: a real (if bad) AUC
    assert hour["auc/class_1"] is None and hour["macro_auc"] is None
    assert hour["auc/class_0"] == 0.8


def _details(tmp_path) -> dict:
    this = _statistics(tmp_path / "this", "train", [(0.0, 10.0, 30.0), (10.0, 20.0, 10.0)],
                       {"Cash": 25, "Credit Card": 15})
    previous = _statistics(tmp_path / "previous", "train",
                           [(0.0, 15.0, 100.0), (15.0, 30.0, 100.0)],
                           {"Cash": 50, "Credit Card": 140, "Dispute": 10})
    metrics = [
        {"slice": "Overall", "model": "candidate", "example_count": 200.0, "auc": 0.92,
         "binary_accuracy": 0.91},
        {"slice": "Overall", "model": "baseline", "example_count": 200.0, "auc": 0.98,
         "binary_accuracy": 0.93},
        {"slice": "payment_type=Cash", "model": "candidate", "example_count": 120.0,
         "auc": None, "binary_accuracy": 0.99},
        {"slice": "payment_type=Credit Card", "model": "candidate", "example_count": 80.0,
         "auc": 0.95, "binary_accuracy": 0.9},
    ]
    return {**DETAILS, "metrics": metrics,
            "thresholds": {"auc": {"lower": 0.94, "change": -0.01}},
            "distributions": [
                {"label": "span-2 train",
                 "features": inspection.feature_distributions(this, "train")},
                {"label": "span-1 train (previous span)",
                 "features": inspection.feature_distributions(previous, "train")}]}


def test_report_overlays_each_features_distribution_on_the_previous_span(tmp_path):
    page = report.render(_details(tmp_path))
    charts = {_title(svg): svg for svg in _svgs(page)}
    for feature in ("fare", "payment_type"):
        svg = charts[f"{feature} distribution"]
        shapes = [ET.tostring(rect, encoding="unicode") for rect in svg.iter(f"{SVG}rect")]
        # Bars of both datasets (filled and outlined) and a legend naming each.
        assert any("fill-opacity=\"0.7\"" in shape for shape in shapes), feature
        assert any("stroke=\"#d9822b\"" in shape for shape in shapes), feature
        text = " ".join(svg.itertext())
        assert "span-2 train" in text and "span-1 train (previous span)" in text
    # Shares, not counts: Cash is 62.5 % of this span's values and 25 % of the previous.
    payment = " ".join(charts["payment_type distribution"].itertext())
    assert "62.5%" in payment and "25.0%" in payment and "Dispute" in payment


def _bars(svg: ET.Element) -> dict[str, float]:
    """Bar widths by the label on their row (white: the backdrop of an "n/a")."""
    labels = {round(float(t.get("y")) - 12): t.text for t in svg.iter(f"{SVG}text")
              if t.get("x") == "0.0"}
    return {labels[round(float(r.get("y")))]: float(r.get("width"))
            for r in svg.iter(f"{SVG}rect") if r.get("fill") != "white"}


def test_metric_bars_zoom_in_and_draw_the_threshold_and_baseline(tmp_path):
    page = report.render(_details(tmp_path))
    auc = next(svg for svg in _svgs(page) if _title(svg) == "auc, whole eval split")
    texts = [t.text for t in auc.iter(f"{SVG}text")]
    ticks = [float(t.text) for t in auc.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    assert min(ticks) >= 0.85 and max(ticks) == 1.0  # not an axis from 0
    bars = _bars(auc)
    # 0.92 against 0.98: on a 0-1 axis 6 % of the width apart, here over a third.
    assert bars["baseline"] - bars["candidate"] > 0.3 * bars["baseline"]
    assert "min 0.94" in texts and "no-regression limit 0.97" in texts
    dashed = [line for line in auc.iter(f"{SVG}line") if line.get("stroke-dasharray")]
    assert len(dashed) == 2


def test_a_metric_a_slice_cannot_have_shows_na_not_zero(tmp_path):
    page = report.render(_details(tmp_path))
    cash_row = re.search(r"<tr><td>payment_type=Cash</td>.*?</tr>", page).group(0)
    assert "<td class='num'>n/a</td>" in cash_row or "<td>n/a</td>" in cash_row
    chart = next(svg for svg in _svgs(page) if _title(svg) == "auc by payment_type")
    assert set(_bars(chart)) == {"Credit Card"}  # no bar for Cash
    assert any(t.text.startswith("n/a") for t in chart.iter(f"{SVG}text") if t.text)
    assert "min 0.94 (gate, whole eval split)" in " ".join(chart.itertext())


def test_a_feature_of_another_kind_in_the_other_dataset_is_named_not_drawn(tmp_path):
    """A column empty in every row of one span is a string column there."""
    numeric = {"type": "numeric", "integer": False, "values": 10,
               "buckets": [[0.0, 1.0, 10.0]], "quantiles": []}
    empty = {"type": "string", "values": 0, "top": []}
    svg = ET.fromstring(report.feature_chart("tract", [("span-2 train", numeric),
                                                      ("span-1 train", empty)]))
    text = " ".join(svg.itertext())
    assert "tract (histogram)" in text and "span-1 train: string values, not drawn" in text
    assert "no such feature" in " ".join(ET.fromstring(report.feature_chart(
        "tract", [("span-2 train", numeric), ("span-1 train", None)])).itertext())


def test_the_metric_axis_zooms_only_when_there_is_something_to_compare():
    assert report.scale([0.92, 0.98]) == (0.9, 1.0)
    assert report.scale([2.3, 2.5]) == (2.2, 2.6)  # an error metric: above the highest
    # One value alone: its bar from 0 (a zoomed axis would only exaggerate it).
    assert report.scale([0.9965]) == (0.0, 1.0) and report.scale([54.97]) == (0.0, 60)


def test_a_nan_or_infinite_metric_is_drawn_as_na():
    # A model trained on a NaN label scored rmse NaN; drawing it crashed the report.
    svg = report.bar_chart("rmse, whole eval split",
                           [("candidate", float("nan"), ""), ("baseline", float("inf"), "")],
                           lines=[(float("nan"), "max nan")], markers=[float("-inf"), None])
    chart = ET.fromstring(svg)
    assert _bars(chart) == {}
    assert [t.text for t in chart.iter(f"{SVG}text") if t.text and t.text.startswith("n/a")] \
        == ["n/a", "n/a"]
