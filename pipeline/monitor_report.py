"""The offline HTML page of one `monitor` result (pipeline/monitoring.py): the verdict,
the served model's metrics on the span next to those at push time (overall and per
slice), the drift of each feature and of the model's scores, and the features'
distributions on the span and in the training data. Built from pipeline/report.py's
tables and inline SVG charts: no scripts, no external files.
"""

from pathlib import Path
from types import SimpleNamespace

from pipeline import inspection, report
from pipeline.periods import span_name


def _spans(result: dict) -> tuple[str, str]:
    periods = {int(span): period for span, period in result["trained_on_periods"].items()}
    if result["period"] is not None:
        periods[result["span"]] = result["period"]
    trained = ", ".join(span_name(span, periods) for span in result["trained_on_spans"])
    return span_name(result["span"], periods), trained or "-"


def _slice_rows(result: dict) -> list[dict]:
    """Each slice's gated metrics on the span and at push time, side by side."""
    then = {row["slice"]: row for row in result["reference_slices"]}
    names = [row["metric"] for row in result["decay"] or []]
    rows = []
    for row in result["slices"]:
        entry = {"slice": row["slice"], "examples": row.get("example_count"),
                 "push examples": then.get(row["slice"], {}).get("example_count")}
        for name in names:
            entry[name] = row.get(name)
            entry[f"{name} at push"] = then.get(row["slice"], {}).get(name)
        rows.append(entry)
    return rows


def _distributions(result: dict, span: str) -> list[str]:
    """The features' histograms on the span and in the training data (TFDV's)."""
    statistics = result.get("statistics") or {}
    if not statistics.get("span") or not statistics.get("training"):
        return []
    found = [{"label": span, "features": inspection.feature_distributions(
                 SimpleNamespace(uri=statistics["span"]), "span")},
             {"label": "training data", "features": inspection.feature_distributions(
                 SimpleNamespace(uri=statistics["training"]), "training")}]
    charts = "".join(f"<div>{chart}</div>" for chart in report.feature_charts(found))
    return ["<h2>Distributions</h2>",
            f"<p class='note'>Each feature's values on {report._e(span)} and in the served "
            "model's training data (train split), as shares of each one's values.</p>",
            f"<div class='charts' id='distributions'>{charts}</div>"]


def _serving(serving: dict | None) -> list[str]:
    """The logged predict calls against training: skew, anomalies, score drift."""
    if not serving:
        return []
    e = report._e
    over = {row["feature"] for row in serving["skewed_features"]}
    skew = [{**row, "skewed": row["feature"] in over} for row in serving["skew"]]
    scores = serving["prediction_drift"]
    columns = [("feature", "feature"), ("measure", "measure"), ("distance", "value"),
               ("threshold", "threshold")]
    return [
        "<h2>Serving traffic (logged predict calls against the training data)</h2>",
        f"<p class='note'>{serving['requests']:,} calls, {serving['instances']:,} rows, "
        f"from {e(serving['log_dir'])}.</p>",
        report._table(skew, columns + [("skewed", "skewed")], "serving-skew"),
        "<h3>Anomalies at serving</h3>",
        report._table(serving["anomalies"], [("feature", "feature"), ("type", "type"),
                                             ("description", "description")],
                      "serving-anomalies"),
        "<h3>Logged scores against the scores on the eval split</h3>",
        report._table([{"feature": "score", **scores}] if scores else [],
                      columns + [("drifted", "drifted")], "serving-scores"),
    ]


def render(result: dict, history: list[dict] | None = None) -> str:
    """The page; `history`: the served model judged span by span, this result last
    (`inspection.served_history`), charted under the verdict (None: no chart)."""
    e = report._e
    span, trained = _spans(result)
    tone = "ok" if result["verdict"] == "healthy" else "bad"
    predictions = result["prediction_drift"]
    key_numbers = [
        ("verdict", result["verdict"]), ("served version", result["served_version"]),
        ("span", span), ("rows", f"{result['rows']:,}"), ("trained on", trained),
        ("time", result["time"]), ("max decay", result["max_decay"]),
    ]
    summary = "".join(f"<tr><th>{e(k)}</th><td id='{e(k.replace(' ', '-'))}'>"
                      f"{e(inspection.format_value(v))}</td></tr>" for k, v in key_numbers)
    sections = [
        f"<h1>Monitor: version {e(result['served_version'])} on {e(span)}</h1>",
        f"<table id='summary'>{summary}</table>",
        f"<p id='decision'>Verdict: <span class='{tone}'>{e(result['verdict'])}</span></p>",
        "<h2>Performance</h2>",
    ]
    if result["decay"] is None:
        sections.append(f"<p class='note' id='not-measured'>{e(result['not_measured'])}</p>")
    else:
        bars = [bar for row in result["decay"]
                for bar in ((f"{row['metric']} on the span", row["value"], ""),
                            (f"{row['metric']} at push time", row["reference"], ""))]
        if bars:
            sections.append(report.bar_chart(
                "gated metrics: on the span, and on the eval split at push time", bars,
                colours=[report._COLOURS[0], "#8c8c8c"] * len(result["decay"])))
        sections.append(report._table(result["decay"], [
            ("metric", "metric"), ("on the span", "value"), ("at push time", "reference"),
            ("fell by", "fell_by"), ("decayed", "decayed")], "decay"))
        names = [row["metric"] for row in result["decay"]]
        sections.append("<h3>Slices</h3>")
        sections.append(report._table(_slice_rows(result), [
            ("slice", "slice"), ("examples", "examples"),
            ("eval examples at push", "push examples"),
            *((title, key) for name in names
              for title, key in ((name, name), (f"{name} at push", f"{name} at push")))],
            "slices", undefined="n/a"))
    columns = [("feature", "feature"), ("comparator", "comparator"), ("distance", "value"),
               ("threshold", "threshold"), ("drifted", "drifted")]
    sections += ["<h2>Data drift (against the training data)</h2>",
                 report._table(result["drift"], columns, "drift"),
                 "<h2>Prediction drift (against the model's scores on its eval split)</h2>",
                 report._table([{"feature": "score", **predictions}], columns + [
                     ("mean on the span", "span_mean"),
                     ("mean on the eval split", "reference_mean")], "prediction-drift"),
                 *_serving(result.get("serving")),
                 *_distributions(result, span)]
    if history is not None:
        sections += report.history_section(history, "this result")
    return report.page(f"Monitor {result['name']}", sections)


def write(result: dict, folder: Path, history: list[dict] | None = None) -> Path:
    """Renders the page to `folder/report.html`, replacing it atomically."""
    return report.write_page(folder / "report.html", render(result, history))
