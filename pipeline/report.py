"""A self-contained HTML report of one run: no scripts, no external styles, fonts or
images (charts are inline SVG), so it opens offline and can be mailed or archived.

`render(details)` takes `inspection.run_details`; `write(details, output_dir)` puts the
page at `<output-dir>/reports/<run id>/report.html`.
"""

import html
import re
from pathlib import Path

from pipeline import inspection, results

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 70em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #11691d; font-weight: bold; } .bad { color: #a10d0d; font-weight: bold; }
.note { color: #555; }
"""


def _e(value) -> str:
    return html.escape(str(value))


def _table(rows: list[dict], columns: list[tuple[str, str]], table_id: str) -> str:
    if not rows:
        return "<p class='note'>none</p>"
    head = "".join(f"<th>{_e(title)}</th>" for title, _ in columns)
    body = []
    for row in rows:
        cells = []
        for _, key in columns:
            value = row.get(key)
            kind = " class='num'" if isinstance(value, int | float) and not isinstance(
                value, bool) else ""
            cells.append(f"<td{kind}>{_e(inspection.format_value(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<table id='{table_id}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def bar_chart(title: str, bars: list[tuple[str, float, str]], lower: float = 0.0,
              upper: float = 1.0) -> str:
    """Horizontal bars as inline SVG: (label, value, note) each."""
    row, label_width, bar_width = 18, 230, 360
    height = row * len(bars) + 30
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{label_width + bar_width + 160}'"
             f" height='{height}' role='img' aria-label='{_e(title)}'>",
             f"<text x='0' y='14' font-size='13' font-weight='bold'>{_e(title)}</text>"]
    for index, (label, value, note) in enumerate(bars):
        y = 24 + index * row
        span = max(upper - lower, 1e-9)
        width = max(0.0, min(1.0, (value - lower) / span)) * bar_width
        parts.append(f"<text x='0' y='{y + 12}' font-size='12'>{_e(label)}</text>")
        parts.append(f"<rect x='{label_width}' y='{y}' width='{width:.1f}' height='{row - 4}'"
                     " fill='#4a78b5'/>")
        parts.append(f"<text x='{label_width + width + 4:.1f}' y='{y + 12}' font-size='12'>"
                     f"{_e(inspection.format_value(value))} {_e(note)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def slice_charts(metrics: list[dict], metric: str | None = None) -> list[str]:
    """One chart per slicing feature: the candidate's `metric` (default: the task's
    first headline metric, results.HEADLINE_METRICS) for each of its values."""
    metric = metric or next(iter(results.headline_names(metrics)), None)
    by_feature: dict[str, list[tuple[str, float, str]]] = {}
    for row in metrics:
        if row["model"] != "candidate" or row["slice"] == "Overall" or metric not in row:
            continue
        feature, _, value = row["slice"].partition("=")
        count = row.get("example_count")
        by_feature.setdefault(feature, []).append(
            (value, row[metric], f"(n={count:.0f})" if count is not None else ""))

    def order(bar):
        return (0, float(bar[0]), "") if re.fullmatch(r"-?\d+(\.\d+)?", bar[0]) else (1, 0, bar[0])

    return [bar_chart(f"{metric} by {feature}", sorted(bars, key=order))
            for feature, bars in sorted(by_feature.items())]


def render(details: dict) -> str:
    overall = {row["model"]: row for row in details["metrics"] if row["slice"] == "Overall"}
    candidate, baseline = overall.get("candidate", {}), overall.get("baseline")
    validation = details["validation"]
    if validation is None:
        decision = "<span class='bad'>not evaluated</span> (the data gate stopped the run " \
                   "or an earlier component failed)"
    elif validation["ok"]:
        decision = "<span class='ok'>blessed</span>"
    else:
        decision = "<span class='bad'>not blessed</span>: " + "; ".join(
            _e(failure["message"]) for failure in validation["failures"])
    pushed = (f"version {details['pushed_version']} at <code>{_e(details['pushed_path'])}</code>"
              if details["pushed_version"] else "nothing pushed")
    anomaly_columns = [("split", "split"), ("feature", "feature"), ("type", "type"),
                       ("description", "description")]
    drift = details["drift"]
    stats_columns = [("split", "split"), ("feature", "feature"), ("type", "type"),
                     ("present", "present"), ("missing", "missing"), ("mean", "mean"),
                     ("std", "std"), ("min", "min"), ("max", "max"), ("unique", "unique"),
                     ("most frequent", "top")]
    shown = results.headline_names(details["metrics"])
    metric_columns = [("slice", "slice"), ("model", "model"), ("examples", "example_count"),
                      *((name, name) for name in shown)]
    rows = ", ".join(f"{_e(split)} {count}" for split, count in details["rows"].items())
    key_numbers = [
        ("run", details["run_id"]), ("status", details["status"]),
        ("span", details["span"]), ("rows", rows or "-"),
        ("anomalies", len(details["anomalies_list"])),
        *((f"eval {name}", inspection.format_value(candidate.get(name))) for name in shown),
        (f"baseline {shown[0]}", inspection.format_value(baseline.get(shown[0])))
        if baseline and shown else ("baseline", "no baseline"),
    ]
    summary = "".join(f"<tr><th>{_e(k)}</th><td id='{_e(k.replace(' ', '-'))}'>{_e(v)}</td></tr>"
                      for k, v in key_numbers)
    sections = [
        f"<h1>Run {_e(details['run_id'])}</h1>",
        f"<table id='summary'>{summary}</table>",
        f"<p id='decision'>Decision: {decision}. Push: {pushed}.</p>",
        "<h2>Components</h2>",
        _table(details["components"], [("component", "id"), ("state", "state"),
                                       ("seconds", "seconds")], "components"),
        "<h2>Data</h2>",
        _table(details["statistics"], stats_columns, "statistics"),
        "<h2>Anomalies (against the curated schema)</h2>",
        _table(details["anomalies_list"], anomaly_columns, "anomalies"),
        "<h2>Drift (against the previous span)</h2>",
        ("<p class='note'>not checked: no previous span</p>" if drift is None
         else _table(drift, anomaly_columns, "drift")),
        "<h2>Evaluation</h2>",
        _table(details["metrics"], metric_columns, "metrics"),
        *slice_charts(details["metrics"]),
    ]
    if details["servable_check"]:
        check = details["servable_check"]
        sections.append(
            f"<p id='servable'>Servable check: {check['warmup_requests']} warm-up requests "
            f"and REST requests answered; scores within {check['max_difference']:.1g} of "
            "the evaluated model.</p>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Run {_e(details['run_id'])}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(sections)}</body></html>")


def path_for(output_dir: Path, run_id: str) -> Path:
    return output_dir / "reports" / re.sub(r"[^0-9A-Za-z.-]", "-", run_id) / "report.html"


def write(details: dict, output_dir: Path) -> Path:
    """Renders one run's report and replaces the file atomically."""
    path = path_for(output_dir, details["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(render(details), encoding="utf-8")
    partial.replace(path)
    return path
