"""The offline HTML page of a replay (pipeline/replay.py): the served model's quality on
each span as it arrived, as an inline SVG line chart with the retrains marked, and the
timeline as a table. Built from pipeline/report.py's helpers (the chart is
`report.quality_chart`, which the run report draws too): no scripts, no external files.
"""

from pathlib import Path

from pipeline import report


def render(result: dict) -> str:
    e = report._e
    metric = result["metric"]
    rows = [{**row, "metric": row["metrics"].get(metric) if metric else None,
             "label": report.span_label(row)} for row in result["timeline"]]
    key_numbers = [("policy", result["policy"]), ("training spans", result["training_spans"]),
                   ("data", result["data_dir"]), ("runs", result["runs"]),
                   ("pushes", result["pushes"]), ("seconds", result["seconds"])]
    summary = "".join(f"<tr><th>{e(k)}</th><td id='{e(k.replace(' ', '-'))}'>{e(v)}</td></tr>"
                      for k, v in key_numbers)
    sections = [
        f"<h1>Replay of {e(result['data_dir'])} ({e(result['policy'])})</h1>",
        f"<table id='summary'>{summary}</table>",
        "<h2>The served model's quality span by span</h2>",
        report.quality_chart(result["timeline"], metric),
        "<h2>Timeline</h2>",
        report._table(rows, [("span", "span"), ("period", "label"),
                             ("served before", "served_before"),
                             (f"{metric or 'metric'} on the span", "metric"),
                             ("verdict", "verdict"), ("action", "action"),
                             ("served after", "served_version"), ("run", "run_id"),
                             ("monitor", "monitor"), ("seconds", "seconds")],
                      "timeline", undefined="n/a"),
    ]
    return report.page(f"Replay {result['policy']}", sections)


def write(result: dict, folder: Path) -> Path:
    """Renders the page to `folder/report.html`, replacing it atomically."""
    return report.write_page(folder / "report.html", render(result))
