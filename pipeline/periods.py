"""Time-ordered spans: the taxi CSV cut into one span per year, quarter or month of
`trip_start_timestamp`, and the record of which period each span holds.

`prepare-data --by PERIOD` writes `data/taxi-by-<period>/span-<N>/data.csv`, span 1
the oldest period, rows in time order, and `periods.json` next to the spans
(`{"by": "quarter", "spans": {"1": "2013-Q1", ...}}`). Whatever names a span (`monitor`,
`replay`) reads the period from there with `span_periods`. The timestamps are seconds
since the epoch read as UTC: so read, each trip's month is the CSV's own
`trip_start_month` for every row of the taxi data.
"""

import csv
import datetime
import json
from pathlib import Path

from pipeline import safe_files, uris

PERIODS = ("year", "quarter", "month")
TIME_COLUMN = "trip_start_timestamp"
PERIODS_FILE = "periods.json"


class PeriodError(ValueError):
    """Data that cannot be cut by period; the message is one sentence for the user."""


def period_of(timestamp: int, by: str) -> str:
    """The period a timestamp (seconds since the epoch, UTC) falls in: `2014`,
    `2014-Q2` or `2014-05`."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    if by == "year":
        return f"{moment.year}"
    if by == "quarter":
        return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"
    if by == "month":
        return f"{moment.year}-{moment.month:02d}"
    raise ValueError(f"unknown period {by!r}; choose one of {', '.join(PERIODS)}")


def group_by_period(rows: list[list[str]], time_index: int, by: str
                    ) -> list[tuple[str, list[list[str]]]]:
    """The rows grouped by period, oldest period first, each group in time order (rows
    of the same timestamp keep their order). PeriodError for a row without a
    timestamp: it belongs to no span."""
    keyed = []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        text = row[time_index].strip() if time_index < len(row) else ""
        try:
            timestamp = int(float(text))
        except ValueError:
            raise PeriodError(f"line {number} has no {TIME_COLUMN} ({text!r}), so it "
                              "belongs to no period") from None
        keyed.append((timestamp, row))
    keyed.sort(key=lambda pair: pair[0])
    groups: dict[str, list[list[str]]] = {}
    for timestamp, row in keyed:
        groups.setdefault(period_of(timestamp, by), []).append(row)
    return list(groups.items())


def split_csv(source: Path, data_dir: Path, by: str) -> dict[int, str]:
    """Writes `source`'s rows as `data_dir/span-<N>/data.csv`, one span per period in
    time order, and `data_dir/periods.json`; returns the period of each span. Spans
    written by an earlier call that this one does not make are removed, so the
    folder holds exactly these spans."""
    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or TIME_COLUMN not in header:
            raise PeriodError(f"{source} has no {TIME_COLUMN} column to order its rows by")
        rows = list(reader)
    groups = group_by_period(rows, header.index(TIME_COLUMN), by)
    # A folder of the user's own spans is never overwritten or emptied: only one an
    # earlier call wrote (periods.json says so) is replaced.
    if any(data_dir.glob("span-*")) and not (data_dir / PERIODS_FILE).is_file():
        raise PeriodError(f"{data_dir} already holds span folders that prepare-data --by "
                          "did not write; choose another --data-dir")
    linked = [data_dir / f"span-{span}" for span in range(1, len(groups) + 1)
              if (data_dir / f"span-{span}").is_symlink()]
    if linked:
        raise PeriodError(f"{linked[0]} is a symbolic link; prepare-data --by writes only "
                          "into folders of its own")
    data_dir.mkdir(parents=True, exist_ok=True)
    periods = {}
    for span, (period, members) in enumerate(groups, start=1):
        target = data_dir / f"span-{span}" / "data.csv"
        target.parent.mkdir(exist_ok=True)
        # Renamed into place so a reader never sees half a file.
        with safe_files.replacing(target, newline="") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(members)
        periods[span] = period
    for stale in data_dir.glob("span-*"):
        number = stale.name.removeprefix("span-")
        if not number.isdigit() or int(number) in periods:
            continue
        if stale.is_symlink():
            # The link goes, never what it points to.
            stale.unlink()
        elif stale.is_dir():
            for path in stale.iterdir():
                path.unlink()
            stale.rmdir()
    record = data_dir / PERIODS_FILE
    safe_files.write_text(record, json.dumps({"by": by, "column": TIME_COLUMN, "spans": {
        str(span): period for span, period in periods.items()}}, indent=2) + "\n")
    return periods


def span_periods(data_dir: Path) -> dict[int, str]:
    """The period each span of `data_dir` holds, from its periods.json ({}: none
    recorded, or unreadable: the spans are then named by number alone)."""
    try:
        record = uris.read_json(uris.join(data_dir, PERIODS_FILE))
        return {int(span): str(period) for span, period in record["spans"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def span_name(span: int | None, periods: dict[int, str]) -> str:
    """How output names a span: `span-3 (2015)`, or `span-3` when its period is not
    recorded."""
    if span is None:
        return "-"
    return f"span-{span} ({periods[span]})" if span in periods else f"span-{span}"
