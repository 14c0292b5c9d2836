"""The offline HTML page of a replay (pipeline/replay.py): the served model's quality on
each span as it arrived, as an inline SVG line chart with the retrains marked, and the
timeline as a table. Built from pipeline/report.py's helpers: no scripts, no external
files.
"""

from pathlib import Path

from pipeline import report
from pipeline.replay import KEPT, TRAINED_PUSHED

_WIDTH, _HEIGHT, _LEFT, _RIGHT, _TOP, _BOTTOM = 640, 260, 56, 20, 30, 58


def _label(row: dict) -> str:
    return row["period"] or f"span-{row['span']}"


def quality_chart(timeline: list[dict], metric: str | None) -> str:
    """The served model's `metric` on each span before the step's action (a point per
    span that had a served model and labels, joined by a line), a dashed line at each
    span after which a retrained model was pushed, and a hollow mark at a run that
    trained a model the pipeline did not push."""
    e = report._e
    values = [row["metrics"].get(metric) if metric else None for row in timeline]
    known = [value for value in values if value is not None]
    lower, upper = report.scale(known) if known else (0.0, 1.0)
    plot_width = _WIDTH - _LEFT - _RIGHT
    plot_height = _HEIGHT - _TOP - _BOTTOM
    step = plot_width / max(len(timeline), 1)

    def x(index: int) -> float:
        return _LEFT + step * (index + 0.5)

    def y(value: float) -> float:
        return _TOP + plot_height * (1 - (value - lower) / ((upper - lower) or 1))

    parts = [f"<line x1='{_LEFT}' y1='{_TOP + plot_height}' x2='{_WIDTH - _RIGHT}' "
             f"y2='{_TOP + plot_height}' stroke='#888'/>",
             f"<line x1='{_LEFT}' y1='{_TOP}' x2='{_LEFT}' y2='{_TOP + plot_height}' "
             "stroke='#888'/>"]
    tick = report._nice_step((upper - lower) or 1)
    value = lower
    while value <= upper + 1e-9:
        parts.append(report._text(_LEFT - 6, y(value) + 4, f"{value:g}", 10,
                                  text_anchor="end"))
        parts.append(f"<line x1='{_LEFT}' y1='{y(value):.1f}' x2='{_WIDTH - _RIGHT}' "
                     f"y2='{y(value):.1f}' stroke='#eee'/>")
        value += tick
    points = []
    for index, (row, measured) in enumerate(zip(timeline, values, strict=True)):
        parts.append(report._text(x(index), _TOP + plot_height + 16, _label(row), 10,
                                  text_anchor="middle"))
        if row["action"] == TRAINED_PUSHED:
            parts.append(f"<line class='retrain' x1='{x(index) + step / 2:.1f}' y1='{_TOP}' "
                         f"x2='{x(index) + step / 2:.1f}' y2='{_TOP + plot_height}' "
                         f"stroke='{report._THRESHOLD}' stroke-dasharray='4 3'/>")
            parts.append(report._text(x(index) + step / 2, _TOP - 6,
                                      f"v{row['served_version']}", 10,
                                      text_anchor="middle", fill=report._THRESHOLD))
        elif row["action"] != KEPT:
            parts.append(f"<circle class='not-pushed' cx='{x(index) + step / 2:.1f}' "
                         f"cy='{_TOP + 4}' r='4' fill='none' stroke='{report._THRESHOLD}'>"
                         f"<title>{e(row['action'])}</title></circle>")
        if measured is None:
            continue
        points.append((x(index), y(measured)))
        parts.append(f"<circle class='served' cx='{x(index):.1f}' cy='{y(measured):.1f}' "
                     f"r='4' fill='{report._COLOURS[0]}'><title>{e(_label(row))}: "
                     f"{e(metric)} {measured:.4f} (version {e(row['served_before'])}, "
                     f"{e(row['verdict'])})</title></circle>")
    if len(points) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.insert(2, f"<polyline points='{path}' fill='none' "
                        f"stroke='{report._COLOURS[0]}' stroke-width='1.5'/>")
    parts.append(report._text(_LEFT, _HEIGHT - 18, f"dots: the served model's {metric} on "
                              "each new span; dashed: retrained and pushed (the new "
                              "version)", 10))
    parts.append(report._text(_LEFT, _HEIGHT - 5, "hollow: trained, not pushed "
                              "(not blessed or stopped by the data gate)", 10))
    return report._svg(_WIDTH, _HEIGHT, f"served model's {metric} span by span", parts)


def render(result: dict) -> str:
    e = report._e
    metric = result["metric"]
    rows = [{**row, "metric": row["metrics"].get(metric) if metric else None,
             "label": _label(row)} for row in result["timeline"]]
    key_numbers = [("policy", result["policy"]), ("training spans", result["training_spans"]),
                   ("data", result["data_dir"]), ("runs", result["runs"]),
                   ("pushes", result["pushes"]), ("seconds", result["seconds"])]
    summary = "".join(f"<tr><th>{e(k)}</th><td id='{e(k.replace(' ', '-'))}'>{e(v)}</td></tr>"
                      for k, v in key_numbers)
    sections = [
        f"<h1>Replay of {e(result['data_dir'])} ({e(result['policy'])})</h1>",
        f"<table id='summary'>{summary}</table>",
        "<h2>The served model's quality span by span</h2>",
        quality_chart(result["timeline"], metric),
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
