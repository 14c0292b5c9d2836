"""A self-contained HTML report of one run: no scripts, no external styles, fonts or
images (charts are inline SVG), so it opens offline and can be mailed or archived.

`render(details)` takes `inspection.run_details`; `write(details, output_dir)` puts the
page at `<output-dir>/reports/<run id>/report.html`.
"""

import bisect
import html
import math
import re
from pathlib import Path

from pipeline import inspection, safe_files, uris
from pipeline.periods import span_name

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 70em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #11691d; font-weight: bold; } .bad { color: #a10d0d; font-weight: bold; }
.note { color: #555; }
.charts { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 0.5em 2em; }
svg { display: block; margin: 0.8em 0; }
"""


def _e(value) -> str:
    return html.escape(str(value))


def _table(rows: list[dict], columns: list[tuple[str, str]], table_id: str,
           undefined: str = "-") -> str:
    """`undefined`: how a value recorded as None shows (a metric the row cannot have)."""
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
            shown = (undefined if value is None and key in row
                     else inspection.format_value(value))
            cells.append(f"<td{kind}>{_e(shown)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<table id='{table_id}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


# Chart colours: the run's data (filled) and what it is compared with (outlined).
_COLOURS = ("#4a78b5", "#d9822b")
_THRESHOLD = "#b3261e"
_BINS = 30
_TOP = 8


def _svg(width: int, height: int, title: str, parts: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'"
            f" viewBox='0 0 {width} {height}' role='img' aria-label='{_e(title)}'>"
            f"<title>{_e(title)}</title>{''.join(parts)}</svg>")


def _text(x: float, y: float, text: str, size: int = 11, **attributes) -> str:
    extra = "".join(f" {key.replace('_', '-')}='{_e(value)}'"
                    for key, value in attributes.items())
    return f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}'{extra}>{_e(text)}</text>"


def _nice_step(span: float) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about five ticks."""
    raw = span / 5
    power = 10 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)


def scale(values: list[float]) -> tuple[float, float]:
    """The axis of a metric chart: from a little below the lowest value to 1 for values
    in [0, 1] (else a little above the highest), on round numbers, so that 0.92 and 0.98
    are far apart; it starts at 0 only when the values come near it."""
    low, high = min(values), max(values)
    bounded = 0 <= low and high <= 1
    if low == high and low >= 0:
        # One value and nothing to compare it with: a zoomed axis would only
        # exaggerate its bar.
        step = _nice_step(high or 1)
        return 0.0, 1.0 if bounded else math.ceil(high / step) * step
    span = max((1.0 if bounded else high) - low, abs(high) * 0.02, 0.02)
    lower = low - span / 4
    upper = 1.0 if bounded else high + span / 10
    if low >= 0 and lower < span / 2:
        lower = 0.0
    step = _nice_step(upper - lower)
    return math.floor(lower / step) * step, math.ceil(upper / step - 1e-9) * step


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def bar_chart(title: str, bars: list[tuple[str, float | None, str]],
              lower: float | None = None, upper: float | None = None,
              lines: list[tuple[float, str]] = (),
              markers: list[float | None] | None = None,
              colours: list[str] | None = None) -> str:
    """Horizontal bars as inline SVG: (label, value, note) each; a value of None is
    drawn as "n/a". `lines`: (value, label) across all bars (thresholds); `markers`:
    a tick per bar (the baseline model's value); `colours`: per bar. The axis is
    `scale` of everything drawn unless `lower` and `upper` are given; its ticks are
    labelled."""
    # A metric TFMA computed as NaN or an infinity (a model trained on such values) has
    # no place on an axis: it is shown as "n/a", like one not computed.
    bars = [(label, _finite(value), note) for label, value, note in bars]
    lines = [(value, label) for value, label in lines if _finite(value) is not None]
    markers = [_finite(marker) for marker in markers or [None] * len(bars)]
    colours = colours or [_COLOURS[0]] * len(bars)
    drawn = [v for _, v, _ in bars if v is not None] + [v for v, _ in lines] + [
        m for m in markers if m is not None]
    if lower is None or upper is None:
        lower, upper = scale(drawn) if drawn else (0.0, 1.0)
    row, label_width, bar_width, top = 18, 200, 360, 24 + 14 * len(lines)
    axis_y = top + row * len(bars) + 4
    height = axis_y + 34

    def x(value: float) -> float:
        share = (value - lower) / max(upper - lower, 1e-12)
        return label_width + max(0.0, min(1.0, share)) * bar_width

    parts, undefined = [_text(0, 14, title, 13, font_weight="bold")], []
    for index, (label, value, note) in enumerate(bars):
        y = top + index * row
        parts.append(_text(0, y + 12, label, 12))
        if value is None:
            # Drawn last, on white: a threshold line may cross it.
            text = f"n/a {note}".strip()
            undefined += [f"<rect x='{label_width + 2}' y='{y}' width='{6.5 * len(text):.0f}'"
                          f" height='{row - 4}' fill='white'/>",
                          _text(label_width + 4, y + 12, text, 12, fill="#555",
                                font_style="italic")]
            continue
        width = x(value) - label_width
        parts.append(f"<rect x='{label_width}' y='{y}' width='{width:.1f}' height='{row - 4}'"
                     f" fill='{colours[index]}'/>")
        if markers[index] is not None:
            parts.append(f"<line x1='{x(markers[index]):.1f}' x2='{x(markers[index]):.1f}'"
                         f" y1='{y - 2}' y2='{y + row - 2}' stroke='#111' stroke-width='2'/>")
        parts.append(_text(label_width + bar_width + 6, y + 12,
                           f"{inspection.format_value(value)} {note}".strip(), 12))
    for index, (value, label) in enumerate(lines):
        parts.append(f"<line x1='{x(value):.1f}' x2='{x(value):.1f}' y1='{22 + 14 * index}'"
                     f" y2='{axis_y}' stroke='{_THRESHOLD}' stroke-width='1.5'"
                     " stroke-dasharray='4 3'/>")
        # Labels of lines in the right half go to their left, inside the chart; a white
        # halo keeps them legible where another line crosses them.
        right = x(value) > label_width + bar_width / 2
        parts.append(_text(x(value) + (-3 if right else 3), 32 + 14 * index, label, 11,
                           fill=_THRESHOLD, text_anchor="end" if right else "start",
                           stroke="white", stroke_width=3, paint_order="stroke"))
    parts.append(f"<line x1='{label_width}' x2='{label_width + bar_width}' y1='{axis_y}'"
                 f" y2='{axis_y}' stroke='#888'/>")
    step = _nice_step(upper - lower)
    tick = lower
    while tick <= upper + step / 1000:
        parts.append(f"<line x1='{x(tick):.1f}' x2='{x(tick):.1f}' y1='{axis_y}'"
                     f" y2='{axis_y + 4}' stroke='#888'/>")
        parts.append(_text(x(tick), axis_y + 15, f"{tick:.6g}", 10, text_anchor="middle",
                           fill="#444"))
        tick += step
    if any(m is not None for m in markers):
        parts.append(_text(label_width, axis_y + 30, "bar: candidate; black tick: "
                           "baseline model", 10, fill="#444"))
    parts += undefined
    return _svg(label_width + bar_width + 170, height, title, parts)


def metric_charts(metrics: list[dict], thresholds: dict[str, dict] | None = None) -> list[str]:
    """One chart per headline metric of the whole eval split: the candidate and the
    baseline model, with the gate's thresholds (`inspection.thresholds`) as lines."""
    overall = {row["model"]: row for row in metrics if row["slice"] == "Overall"}
    charts = []
    for name in inspection.headline_names(metrics):
        bars = [(model, overall[model].get(name), "") for model in ("candidate", "baseline")
                if model in overall and name in overall[model]]
        if not bars:
            continue
        limits = dict((thresholds or {}).get(name, {}))
        lowest = min((value for _, value, _ in bars if value is not None), default=0)
        if limits.get("lower", 1) <= 0 <= lowest:
            del limits["lower"]  # a floor of 0 under a metric that is never negative
        lines = [(limits[key], f"{word} {inspection.format_value(limits[key])}")
                 for key, word in (("lower", "min"), ("upper", "max")) if key in limits]
        baseline = overall.get("baseline", {}).get(name)
        if "change" in limits and baseline is not None:
            limit = baseline + limits["change"]
            lines.append((limit, f"no-regression limit {inspection.format_value(limit)}"))
        charts.append(bar_chart(f"{name}, whole eval split", bars, lines=lines, colours=[
            _COLOURS[0] if model == "candidate" else "#8c8c8c" for model, _, _ in bars]))
    return charts


def slice_charts(metrics: list[dict], metric: str | None = None,
                 thresholds: dict[str, dict] | None = None) -> list[str]:
    """One chart per slicing feature: the candidate's `metric` (default: the task's
    first headline metric, inspection.HEADLINE_METRICS) for each of its values, the
    baseline model's as a tick, the gate's bound on the whole eval split as a line,
    and "n/a" where the slice cannot have the metric (AUC of one class)."""
    metric = metric or next(iter(inspection.headline_names(metrics)), None)
    by_feature: dict[str, list[tuple[str, float | None, str]]] = {}
    baselines = {row["slice"]: row.get(metric) for row in metrics
                 if row["model"] == "baseline"}
    for row in metrics:
        if row["model"] != "candidate" or row["slice"] == "Overall" or metric not in row:
            continue
        feature, _, value = row["slice"].partition("=")
        count = row.get("example_count")
        note = f"(n={count:.0f})" if count is not None else ""
        if row[metric] is None:
            note = f"(n={count:.0f}, one class only)" if count is not None else "(one class)"
        by_feature.setdefault(feature, []).append((value, row[metric], note))
    limits = (thresholds or {}).get(metric, {})
    lines = [(limits[key], f"{word} {inspection.format_value(limits[key])} (gate, whole "
              "eval split)") for key, word in (("lower", "min"), ("upper", "max"))
             if key in limits]

    def order(bar):
        return (0, float(bar[0]), "") if re.fullmatch(r"-?\d+(\.\d+)?", bar[0]) else (1, 0, bar[0])

    charts = []
    for feature, bars in sorted(by_feature.items()):
        bars = sorted(bars, key=order)
        markers = [baselines.get(f"{feature}={label}") for label, _, _ in bars]
        charts.append(bar_chart(f"{metric} by {feature}", bars, lines=lines,
                                markers=markers if any(m is not None for m in markers)
                                else None))
    return charts


def _cdf(distribution: dict) -> list[tuple[float, float]]:
    """A numeric feature's cumulative share of values as (x, share) points, from both
    of TFDV's histograms: the equal-width one covers the range, the quantile one adds
    detail where values crowd (a long tail squeezes them into one equal-width bucket)."""
    points = []
    for key in ("buckets", "quantiles"):
        buckets = distribution.get(key) or []
        total = sum(count for _, _, count in buckets)
        if not total:
            continue
        points.append((buckets[0][0], 0.0))
        running = 0.0
        for _, high, count in buckets:
            running += count
            points.append((high, running / total))
    points.sort()
    monotone, highest = [], 0.0
    for x, share in points:  # the two histograms' rounding may disagree slightly
        highest = max(highest, share)
        monotone.append((x, highest))
    return monotone


def _share_below(cdf: list[tuple[float, float]], x: float, inclusive: bool = True) -> float:
    """The share of values below x (at or below it when `inclusive`), linear between
    the points."""
    xs = [point[0] for point in cdf]
    index = (bisect.bisect_right if inclusive else bisect.bisect_left)(xs, x)
    if index == 0:
        return 0.0
    if index == len(cdf):
        return cdf[-1][1]
    (x0, f0), (x1, f1) = cdf[index - 1], cdf[index]
    return f0 + (f1 - f0) * (x - x0) / (x1 - x0) if x1 > x0 else f1


def _quantile(cdf: list[tuple[float, float]], share: float) -> float:
    for (x0, f0), (x1, f1) in zip(cdf, cdf[1:], strict=False):
        if f1 >= share:
            return x0 + (x1 - x0) * (share - f0) / (f1 - f0) if f1 > f0 else x0
    return cdf[-1][0]


def _axis_range(cdfs: list[list[tuple[float, float]]]) -> tuple[float, float]:
    """The whole range of the values, cut at the 1st and 99th percentiles when the
    remaining 1 % would take more than a quarter of the axis (long tails, outliers)."""
    low, high = min(c[0][0] for c in cdfs), max(c[-1][0] for c in cdfs)
    inner_low = min(_quantile(c, 0.01) for c in cdfs)
    inner_high = max(_quantile(c, 0.99) for c in cdfs)
    span = high - low
    if inner_low - low > span / 4:
        low = inner_low
    if high - inner_high > span / 4:
        high = inner_high
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _series_style(index: int) -> str:
    """The run's data filled, what it is compared with outlined on top of it, so that
    both stay visible where they overlap."""
    return (f"fill='{_COLOURS[0]}' fill-opacity='0.7'" if index == 0 else
            f"fill='{_COLOURS[1]}' fill-opacity='0.15' stroke='{_COLOURS[1]}'"
            " stroke-width='1.5'")


def _percent(share: float) -> str:
    return "0%" if share == 0 else "<0.1%" if share < 0.001 else f"{share:.1%}"


def _legend(series: list[tuple[str, str | None]], y: float,
            width: int) -> tuple[list[str], float]:
    """Each dataset's swatch and label (with a note when it is not drawn), on one line
    or more; returns the parts and the last line's y."""
    parts, x = [], 0.0
    for index, (label, note) in enumerate(series):
        text = f"{label}: {note}" if note else label
        length = 24 + 5.5 * len(text)
        if x and x + length > width:
            x, y = 0.0, y + 14
        parts.append(f"<rect x='{x:.1f}' y='{y - 9}' width='10' height='10'"
                     f" {_series_style(index)}/>")
        parts.append(_text(x + 14, y, text, 10))
        x += length
    return parts, y


def _histogram(present: list[tuple[int, dict]], width: int, top: int,
               height: int) -> list[str]:
    """Overlaid numeric histograms: each dataset's share of values per bin."""
    cdfs = {index: cdf for index, cdf in ((i, _cdf(d)) for i, d in present) if cdf}
    bottom = top + height
    if not cdfs:
        return [_text(0, top + 16, "no values", 12, fill="#555")]
    low, high = _axis_range(list(cdfs.values()))
    bins = _BINS
    whole = all(d.get("integer") for _, d in present) and high - low < 2 * _BINS
    if whole:
        # A bar per whole number (hours, days): equal-width bins would leave some
        # without a whole number in them.
        bins = round(high - low) + 1
        low, high = round(low) - 0.5, round(high) + 0.5
    edges = [low + (high - low) * step / bins for step in range(bins + 1)]
    shares = {index: [_share_below(cdf, edges[1]) - _share_below(cdf, low, False)]
              + [_share_below(cdf, b) - _share_below(cdf, a)
                 for a, b in zip(edges[1:-1], edges[2:], strict=True)]
              for index, cdf in cdfs.items()}
    peak = max(max(values) for values in shares.values()) or 1
    bin_width = width / bins
    parts = []
    for index, values in shares.items():
        for position, share in enumerate(values):
            if share > 0:
                bar = share / peak * height
                # A gap between whole numbers' bars: they are separate values.
                parts.append(f"<rect x='{position * bin_width:.1f}' y='{bottom - bar:.1f}'"
                             f" width='{bin_width - whole:.1f}' height='{bar:.1f}'"
                             f" {_series_style(index)}/>")
    # The axis: its ends (for whole numbers, the first and last bars' numbers under
    # their middles) and the tallest bar's share.
    margin, first, last = ((bin_width / 2, low + 0.5, high - 0.5) if whole
                           else (0, low, high))
    parts += [f"<line x1='0' x2='{width}' y1='{bottom}' y2='{bottom}' stroke='#888'/>",
              _text(margin, bottom + 12, inspection.format_value(first), 10, fill="#444",
                    text_anchor="middle" if whole else "start"),
              _text(width - margin, bottom + 12, inspection.format_value(last), 10,
                    fill="#444", text_anchor="middle" if whole else "end"),
              _text(width + 4, top + 8, _percent(peak), 10, fill="#444"),
              _text(width + 4, bottom, "0", 10, fill="#444")]
    outside = [(index, _share_below(cdf, low, False) + 1 - _share_below(cdf, high))
               for index, cdf in cdfs.items()]
    if any(share >= 0.0005 for _, share in outside):
        shares_text = " | ".join(f"<tspan fill='{_COLOURS[index]}'>{_percent(share)}</tspan>"
                                 for index, share in outside)
        parts.append(f"<text x='{width / 2:.1f}' y='{bottom + 12}' font-size='10'"
                     f" text-anchor='middle' fill='#444'>off the axis: {shares_text}</text>")
    return parts


def _top_values(present: list[tuple[int, dict]], width: int, top: int) -> tuple[list[str], int]:
    """Overlaid most frequent values: each dataset's share of values, paired bars per
    value, the values most frequent in either first. Returns the parts and the height."""
    totals = {index: d["values"] or 1 for index, d in present}
    counts = {index: dict(map(tuple, d["top"])) for index, d in present}
    ranked = sorted({value for found in counts.values() for value in found},
                    key=lambda v: -max(counts[i].get(v, 0) / totals[i] for i in counts))
    shown = ranked[:_TOP]
    if not shown:
        return [_text(0, top + 16, "no values", 12, fill="#555")], 20
    label_width, row = 130, 8 * len(present) + 6
    peak = max(counts[i].get(v, 0) / totals[i] for i in counts for v in shown) or 1
    parts = []
    for position, value in enumerate(shown):
        y = top + position * row
        parts.append(_text(0, y + 9, value if len(value) <= 20 else value[:19] + "…", 10))
        for slot, (index, _) in enumerate(present):
            share = counts[index].get(value, 0) / totals[index]
            bar = share / peak * (width - label_width - 40)
            parts.append(f"<rect x='{label_width}' y='{y + slot * 8}' width='{bar:.1f}'"
                         f" height='7' {_series_style(index)}/>")
            parts.append(_text(label_width + bar + 3, y + slot * 8 + 7, _percent(share), 9,
                               fill="#444"))
    return parts, len(shown) * row


def feature_chart(name: str, series: list[tuple[str, dict | None]]) -> str:
    """One feature's distribution in each dataset of `series` ((label, distribution
    from `inspection.feature_distributions` or None), the run's data first), overlaid
    as shares of each dataset's values so that sizes do not matter: a histogram for a
    numeric feature, the most frequent values for a string one. A dataset without the
    feature, or with values of the other kind (a column empty in one span is a string
    column there), is named in the legend but not drawn."""
    kind = next((d["type"] for _, d in series if d is not None), "numeric")
    present = [(index, d) for index, (_, d) in enumerate(series)
               if d is not None and d["type"] == kind]
    notes = [(label, "no such feature" if d is None
              else None if d["type"] == kind else f"{d['type']} values, not drawn")
             for label, d in series]
    width, top = 360, 22
    parts = [_text(0, 14, f"{name} ({'histogram' if kind == 'numeric' else 'top values'})",
                   12, font_weight="bold")]
    if kind == "numeric":
        parts += _histogram(present, width, top, 110)
        legend_y = top + 110 + 30
    else:
        drawn, height = _top_values(present, width, top)
        parts += drawn
        legend_y = top + height + 14
    legend, last_y = _legend(notes, legend_y, width + 40)
    return _svg(width + 40, int(last_y + 6), f"{name} distribution", parts + legend)


def feature_charts(distributions: list[dict]) -> list[str]:
    """`feature_chart` for every feature of the run's data (`run_details`'s
    `distributions`), overlaid with the dataset it is compared with."""
    if not distributions:
        return []
    first = distributions[0]
    return [feature_chart(name, [(d["label"], d["features"].get(name))
                                 for d in distributions])
            for name in sorted(first["features"])]


# The quality chart's size and margins.
_Q_WIDTH, _Q_HEIGHT, _Q_LEFT, _Q_RIGHT, _Q_TOP, _Q_BOTTOM = 640, 260, 56, 20, 30, 58


def span_label(row: dict) -> str:
    """A timeline row's span as the quality chart names it: its period, else span-N."""
    return row["period"] or f"span-{row['span']}"


def quality_chart(timeline: list[dict], metric: str | None) -> str:
    """The served model's `metric` on each span before the step's action (a point per
    span that had a served model and labels, joined by a line), a dashed line at each
    span after which a retrained model was pushed, and a hollow mark at a run that
    trained a model the pipeline did not push. `timeline`: rows shaped as replay's
    (`replay.entry`) or as `inspection.served_history` reads them from ML Metadata."""
    values = [row["metrics"].get(metric) if metric else None for row in timeline]
    known = [value for value in values if value is not None]
    lower, upper = scale(known) if known else (0.0, 1.0)
    plot_width = _Q_WIDTH - _Q_LEFT - _Q_RIGHT
    plot_height = _Q_HEIGHT - _Q_TOP - _Q_BOTTOM
    step = plot_width / max(len(timeline), 1)

    def x(index: int) -> float:
        return _Q_LEFT + step * (index + 0.5)

    def y(value: float) -> float:
        return _Q_TOP + plot_height * (1 - (value - lower) / ((upper - lower) or 1))

    parts = [f"<line x1='{_Q_LEFT}' y1='{_Q_TOP + plot_height}' x2='{_Q_WIDTH - _Q_RIGHT}' "
             f"y2='{_Q_TOP + plot_height}' stroke='#888'/>",
             f"<line x1='{_Q_LEFT}' y1='{_Q_TOP}' x2='{_Q_LEFT}' y2='{_Q_TOP + plot_height}' "
             "stroke='#888'/>"]
    tick = _nice_step((upper - lower) or 1)
    value = lower
    while value <= upper + 1e-9:
        parts.append(_text(_Q_LEFT - 6, y(value) + 4, f"{value:g}", 10, text_anchor="end"))
        parts.append(f"<line x1='{_Q_LEFT}' y1='{y(value):.1f}' x2='{_Q_WIDTH - _Q_RIGHT}' "
                     f"y2='{y(value):.1f}' stroke='#eee'/>")
        value += tick
    points = []
    for index, (row, measured) in enumerate(zip(timeline, values, strict=True)):
        parts.append(_text(x(index), _Q_TOP + plot_height + 16, span_label(row), 10,
                           text_anchor="middle"))
        if row["action"] == inspection.TRAINED_PUSHED:
            parts.append(f"<line class='retrain' x1='{x(index) + step / 2:.1f}' y1='{_Q_TOP}' "
                         f"x2='{x(index) + step / 2:.1f}' y2='{_Q_TOP + plot_height}' "
                         f"stroke='{_THRESHOLD}' stroke-dasharray='4 3'/>")
            parts.append(_text(x(index) + step / 2, _Q_TOP - 6, f"v{row['served_version']}",
                               10, text_anchor="middle", fill=_THRESHOLD))
        elif row["action"] != inspection.KEPT:
            parts.append(f"<circle class='not-pushed' cx='{x(index) + step / 2:.1f}' "
                         f"cy='{_Q_TOP + 4}' r='4' fill='none' stroke='{_THRESHOLD}'>"
                         f"<title>{_e(row['action'])}</title></circle>")
        if measured is None:
            continue
        points.append((x(index), y(measured)))
        parts.append(f"<circle class='served' cx='{x(index):.1f}' cy='{y(measured):.1f}' "
                     f"r='4' fill='{_COLOURS[0]}'><title>{_e(span_label(row))}: "
                     f"{_e(metric)} {measured:.4f} (version {_e(row['served_before'])}, "
                     f"{_e(row['verdict'])})</title></circle>")
    if len(points) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.insert(2, f"<polyline points='{path}' fill='none' "
                        f"stroke='{_COLOURS[0]}' stroke-width='1.5'/>")
    parts.append(_text(_Q_LEFT, _Q_HEIGHT - 18, f"dots: the served model's {metric} on "
                       "each new span; dashed: retrained and pushed (the new version)", 10))
    parts.append(_text(_Q_LEFT, _Q_HEIGHT - 5, "hollow: trained, not pushed "
                       "(not blessed or stopped by the data gate)", 10))
    return _svg(_Q_WIDTH, _Q_HEIGHT, f"served model's {metric} span by span", parts)


def _distribution_section(distributions: list[dict]) -> list[str]:
    if not distributions:
        return []
    labels = [d["label"] for d in distributions]
    compared = (f" and of {_e(labels[1])}" if len(labels) > 1 else "")
    charts = "".join(f"<div>{chart}</div>" for chart in feature_charts(distributions))
    return ["<h3>Distributions</h3>",
            f"<p class='note'>Each feature's values in {_e(labels[0])}{compared}, as shares "
            "of each one's values (missing values left out), so that different sizes "
            "compare.</p>",
            f"<div class='charts' id='distributions'>{charts}</div>"]


def _one_class_note(metrics: list[dict]) -> list[str]:
    if not any(value is None for row in metrics for value in row.values()):
        return []
    return ["<p class='note'>n/a: the slice's examples are all of one class, so AUC is "
            "undefined (TFMA reports 0 for it).</p>"]


def history_section(history: list[dict], until: str = "this run") -> list[str]:
    """The served model judged span by span (`inspection.served_history`) up to `until`:
    the quality chart, or a sentence when `monitor` never judged it. The run report's
    and the monitor report's."""
    title = "<h2>The served model over time</h2>"
    if not history:
        return [title, "<p class='note' id='served-history'>No monitor results yet: "
                "`python -m pipeline monitor` (or `replay`) judges the served model on each "
                "new span, and this chart shows them.</p>"]
    metric = inspection.timeline_metric(history)
    return [title, f"<p class='note'>The served model's {_e(metric or 'quality')} on each "
            "span `monitor` judged it on, before the pipeline acted on that span, up to "
            f"{_e(until)}.</p>",
            f"<div id='served-history'>{quality_chart(history, metric)}</div>"]


def tuning_section(found: dict | None) -> list[str]:
    """The Tuner's search (`inspection.tuning`): one line, and the trials, best first;
    nothing when the run did not tune."""
    if not found:
        return []
    parts = ["<h2>Tuning</h2>", f"<p id='tuning'>{_e(inspection.tuning_note(found))}</p>"]
    if found["trials"]:
        parts.append(_table(*inspection.trial_table(found), "trials"))
    return parts


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
    shown = inspection.headline_names(details["metrics"])
    metric_columns = [("slice", "slice"), ("model", "model"), ("examples", "example_count"),
                      *((name, name) for name in shown)]
    rows = ", ".join(f"{_e(split)} {count}" for split, count in details["rows"].items())
    key_numbers = [
        ("run", details["run_id"]), ("status", details["status"]),
        ("span", span_name(details["span"], {details["span"]: details["period"]})
                 if details.get("period") else details["span"]), ("rows", rows or "-"),
        # The data gate's rows (anomalies and drift), as `runs` and the run summary
        # count them.
        ("anomalies", f"{inspection.format_value(details['anomalies'])} "
                      f"({inspection.format_value(details['blocking'])} blocking)"),
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
        *_distribution_section(details.get("distributions") or []),
        "<h2>Anomalies (against the curated schema)</h2>",
        _table(details["anomalies_list"], anomaly_columns, "anomalies"),
        "<h2>Drift (against the previous span)</h2>",
        ("<p class='note'>not checked: no previous span</p>" if drift is None
         else _table(drift, anomaly_columns, "drift")),
        *tuning_section(details.get("tuning")),
        "<h2>Evaluation</h2>",
        *metric_charts(details["metrics"], details.get("thresholds")),
        _table(details["metrics"], metric_columns, "metrics", undefined="n/a"),
        *_one_class_note(details["metrics"]),
        *slice_charts(details["metrics"], thresholds=details.get("thresholds")),
        *history_section(details.get("served_history") or []),
    ]
    if details["servable_check"]:
        check = details["servable_check"]
        sections.append(
            f"<p id='servable'>Servable check: {check['warmup_requests']} warm-up requests "
            f"and REST requests answered; scores within {check['max_difference']:.1g} of "
            "the evaluated model.</p>")
    return page(f"Run {details['run_id']}", sections)


def page(title: str, sections: list[str]) -> str:
    """A whole offline HTML page: the title (escaped here), the shared style, the
    sections' markup as given."""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(sections)}</body></html>")


def write_page(path: Path, html_text: str) -> Path:
    """Replaces the page at `path` atomically, never through a symlink (safe_files);
    a URI's page (uris.UriPath) through TFX's filesystem layer."""
    if uris.is_uri(path):
        uris.write_text(str(path), html_text)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    safe_files.write_text(path, html_text)
    return path


def path_for(output_dir: Path, run_id: str) -> Path:
    return output_dir / "reports" / re.sub(r"[^0-9A-Za-z.-]", "-", run_id) / "report.html"


def write(details: dict, output_dir: Path) -> Path:
    """Renders one run's report and replaces the file atomically."""
    return write_page(path_for(output_dir, details["run_id"]), render(details))
