"""Input data: materialise the default taxi CSV and check a data directory's layout.

The default data is the Chicago taxi CSV that ships inside the installed tfx package; it
becomes span 1 of `data/taxi/` (`span-1/data.csv`). New data arrives as `span-<N>/`
folders next to it and CsvExampleGen picks the latest span.
"""

import csv
import importlib.util
import re
import shutil
from pathlib import Path

TAXI_CSV_IN_TFX = ("examples", "chicago_taxi_pipeline", "data", "simple", "data.csv")
_SPAN_DIR = re.compile(r"^span-(\d+)$")


class DataError(Exception):
    """Input data that cannot be used; the message is one sentence for the user."""


def packaged_taxi_csv() -> Path:
    spec = importlib.util.find_spec("tfx")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the tfx package is not installed, so its taxi CSV cannot be copied")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*TAXI_CSV_IN_TFX)
    if not path.is_file():
        raise DataError(f"the installed tfx package has no taxi CSV at {path}")
    return path


def prepare_default_data(data_dir: Path) -> Path:
    """Copy the packaged taxi CSV to `data_dir/span-1/data.csv` unless it is there."""
    source = packaged_taxi_csv()
    target = data_dir / "span-1" / "data.csv"
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".csv.partial")
    shutil.copyfile(source, partial)
    # Renamed into place so a reader never sees half a file.
    partial.replace(target)
    return target


def span_dirs(data_dir: Path) -> dict[int, Path]:
    """The span folders of a data directory by span number."""
    spans = {}
    for child in data_dir.iterdir():
        match = _SPAN_DIR.match(child.name)
        if match and child.is_dir():
            spans[int(match.group(1))] = child
    return spans


def check_data_dir(data_dir: Path) -> tuple[int, ...]:
    """The span numbers of a data directory, after checking that every span's CSVs can
    be read and that the spans have no gaps; DataError if not."""
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist")
    spans = span_dirs(data_dir)
    if not spans:
        raise DataError(
            f"{data_dir} has no span folders; put CSV files in {data_dir}/span-1/")
    numbers = tuple(sorted(spans))
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if missing:
        raise DataError(f"{data_dir} has no span-{missing[0]}/ between span-{numbers[0]}/ "
                        f"and span-{numbers[-1]}/; number spans without gaps")
    for number in numbers:
        _check_csvs(spans[number])
    return numbers


def _check_csvs(span_dir: Path) -> None:
    csv_files = sorted(span_dir.glob("*.csv"))
    if not csv_files:
        raise DataError(f"{span_dir} has no .csv files")
    header = None
    for path in csv_files:
        file_header = _read_header(path)
        if header is not None and file_header != header:
            raise DataError(f"{path} has a different header from {csv_files[0]}")
        header = file_header


def _read_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            header = next(rows, None)
            first_row = next(rows, None)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot read {path}: {error}") from None
    if not header or not any(name.strip() for name in header):
        raise DataError(f"{path} is empty: expected a header line and data rows")
    if first_row is None:
        raise DataError(f"{path} has a header but no data rows")
    return header
