"""The period split of `prepare-data --by`: periods of timestamps, time order within and
across spans, the record of each span's period, and the refusals."""

import csv
import datetime
import json
import subprocess
import sys

import pytest

from pipeline import periods
from pipeline.config import REPO_ROOT


def _stamp(*moment) -> int:
    return int(datetime.datetime(*moment, tzinfo=datetime.UTC).timestamp())


@pytest.mark.parametrize(("by", "expected"), [
    ("year", "2014"), ("quarter", "2014-Q2"), ("month", "2014-05")])
def test_period_of(by, expected):
    assert periods.period_of(_stamp(2014, 5, 31, 23, 59), by) == expected


def test_quarters_start_in_january_april_july_october():
    assert [periods.period_of(_stamp(2015, month, 1), "quarter")
            for month in (1, 3, 4, 6, 7, 9, 10, 12)] == [
        "2015-Q1", "2015-Q1", "2015-Q2", "2015-Q2", "2015-Q3", "2015-Q3", "2015-Q4",
        "2015-Q4"]


def test_unknown_period():
    with pytest.raises(ValueError, match="unknown period 'week'"):
        periods.period_of(0, "week")


def test_groups_are_in_time_order_within_and_across_periods():
    rows = [["c", str(_stamp(2014, 3, 1))], ["a", str(_stamp(2013, 7, 1))],
            ["b", str(_stamp(2013, 2, 1))], ["d", str(_stamp(2014, 1, 1))],
            ["e", str(_stamp(2013, 7, 1))]]
    groups = periods.group_by_period(rows, 1, "year")
    assert [(period, [row[0] for row in members]) for period, members in groups] == [
        ("2013", ["b", "a", "e"]), ("2014", ["d", "c"])]


def test_a_row_without_timestamp_is_refused():
    with pytest.raises(periods.PeriodError, match="line 3 has no trip_start_timestamp"):
        periods.group_by_period([["a", "1400000000"], ["b", ""]], 1, "year")


def test_split_csv_writes_spans_and_their_periods(tmp_path):
    source = tmp_path / "all.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fare", "trip_start_timestamp"])
        for fare, moment in ((1, (2015, 2, 1)), (2, (2013, 1, 1)), (3, (2015, 1, 1)),
                             (4, (2013, 12, 31))):
            writer.writerow([fare, _stamp(*moment)])
    data_dir = tmp_path / "by-year"
    (data_dir / "span-7").mkdir(parents=True)  # left from an earlier split
    (data_dir / "span-7" / "data.csv").write_text("x\n1\n")
    (data_dir / "periods.json").write_text('{"by": "year", "spans": {"7": "2019"}}')
    assert periods.split_csv(source, data_dir, "year") == {1: "2013", 2: "2015"}
    fares = {span: [row[0] for row in csv.reader((data_dir / f"span-{span}" /
                                                    "data.csv").open())]
             for span in (1, 2)}
    assert fares == {1: ["fare", "2", "4"], 2: ["fare", "3", "1"]}
    assert not (data_dir / "span-7").exists()
    assert json.loads((data_dir / "periods.json").read_text())["spans"] == {
        "1": "2013", "2": "2015"}
    assert periods.span_periods(data_dir) == {1: "2013", 2: "2015"}
    assert periods.span_name(2, periods.span_periods(data_dir)) == "span-2 (2015)"
    assert periods.span_name(3, {}) == "span-3"


def test_no_record_no_periods(tmp_path):
    assert periods.span_periods(tmp_path) == {}
    (tmp_path / "periods.json").write_text("not json")
    assert periods.span_periods(tmp_path) == {}


def test_prepare_data_by_quarter(tmp_path):
    """The taxi CSV cut by quarter through the CLI: 16 spans from 2013-Q1 to 2016-Q4
    holding every row once, in time order."""
    target = tmp_path / "taxi-by-quarter"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "prepare-data", "--by", "quarter", "--data-dir",
         str(target)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "16 spans by quarter, span-1 (2013-Q1) to span-16 (2016-Q4)" in result.stdout
    found = periods.span_periods(target)
    assert len(found) == 16 and found[5] == "2014-Q1"
    total, last = 0, 0
    for span in sorted(found):
        with (target / f"span-{span}" / "data.csv").open(newline="") as handle:
            stamps = [int(row["trip_start_timestamp"]) for row in csv.DictReader(handle)]
        assert stamps == sorted(stamps) and stamps[0] >= last
        assert {periods.period_of(stamp, "quarter") for stamp in stamps} == {found[span]}
        total, last = total + len(stamps), stamps[-1]
    assert total == 15002


def test_prepare_data_by_needs_the_taxi_data(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "prepare-data", "--dataset", "wine", "--by",
         "year", "--data-dir", str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 2
    assert result.stderr == ("error: --by cuts the taxi data by trip_start_timestamp; the "
                             "wine data has no time column\n")


def test_a_folder_of_the_users_own_spans_is_left_alone(tmp_path):
    source = tmp_path / "all.csv"
    source.write_text(f"fare,trip_start_timestamp\n1,{_stamp(2015, 2, 1)}\n")
    data_dir = tmp_path / "mine"
    (data_dir / "span-1").mkdir(parents=True)
    (data_dir / "span-1" / "data.csv").write_text("x\n1\n")
    with pytest.raises(periods.PeriodError, match="span folders that prepare-data --by did not"):
        periods.split_csv(source, data_dir, "year")
    assert (data_dir / "span-1" / "data.csv").read_text() == "x\n1\n"


def test_a_linked_span_is_never_written_through_nor_emptied(tmp_path):
    """A span folder that is a symbolic link (as `replay` stages them) is refused as a
    destination, and a stale one loses the link, never the files it points to."""
    source = tmp_path / "all.csv"
    source.write_text(f"fare,trip_start_timestamp\n1,{_stamp(2015, 2, 1)}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "data.csv").write_text("x\n1\n")
    data_dir = tmp_path / "by-year"
    data_dir.mkdir()
    (data_dir / "periods.json").write_text('{"by": "year", "spans": {"1": "2015"}}')
    (data_dir / "span-1").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(periods.PeriodError, match="span-1 is a symbolic link"):
        periods.split_csv(source, data_dir, "year")
    (data_dir / "span-1").unlink()
    (data_dir / "span-5").symlink_to(elsewhere, target_is_directory=True)
    assert periods.split_csv(source, data_dir, "year") == {1: "2015"}
    assert not (data_dir / "span-5").exists() and not (data_dir / "span-5").is_symlink()
    assert (elsewhere / "data.csv").read_text() == "x\n1\n"
