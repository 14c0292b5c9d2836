"""Input data: materialise the default taxi CSV, check a data directory's layout and
its label column.

The default data is the Chicago taxi CSV that ships inside the installed tfx package; it
becomes span 1 of `data/taxi/` (`span-1/data.csv`). New data arrives as `span-<N>/`
folders next to it and CsvExampleGen picks the latest span. A folder of CSV files
without span folders is one dataset (no spans, no drift check). Files are UTF-8 with or
without a byte-order mark, comma-separated (the only delimiter CsvExampleGen reads).
"""

import csv
import dataclasses
import importlib.util
import io
import math
import re
from pathlib import Path

from models.features import CLASSIFICATION, MAX_COLUMNS, REGRESSION
from models.signatures import input_name
from pipeline import safe_files, uris

TAXI_CSV_IN_TFX = ("examples", "chicago_taxi_pipeline", "data", "simple", "data.csv")
_SPAN_DIR = re.compile(r"^span-(\d+)$")
# What TFX's file matching (tf.io.gfile.glob) reads as a pattern in a data path.
GLOB_CHARACTERS = "*?[]"
# How every CSV is read: UTF-8, with the byte-order mark Excel writes skipped
# (CsvExampleGen skips it too: pipeline/example_gen.py).
ENCODING = "utf-8-sig"
BYTE_ORDER_MARK = b"\xef\xbb\xbf"
# The longest line the checks read (a wide CSV's header of 10,000 columns takes well
# under 1 MiB): a file with no line break, such as a sparse file of zeros, would
# otherwise be read into memory whole.
MAX_LINE_BYTES = 64 * 2**20
# Delimiters of spreadsheet exports that CsvExampleGen does not read, by name.
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs"}


@dataclasses.dataclass(frozen=True)
class Sample:
    """A real dataset bundled with scikit-learn (no download), written as one CSV."""

    loader: str  # the sklearn.datasets function
    label: str  # the label column's name in the CSV
    task: str
    # Write class names instead of class numbers (shows a string label).
    named_classes: bool = False


SAMPLES = {
    "breast-cancer": Sample("load_breast_cancer", "diagnosis", CLASSIFICATION,
                            named_classes=True),
    "wine": Sample("load_wine", "cultivar", CLASSIFICATION),
    "diabetes": Sample("load_diabetes", "progression", REGRESSION),
}


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


def _keep_or_refuse(target: Path, content: bytes, force: bool) -> bool:
    """True when `target` already holds `content` (nothing to write); DataError when it
    holds something else, unless `force`: a user's edited or own data is not replaced
    silently."""
    if not target.exists():
        return False
    if target.is_file() and target.read_bytes() == content:
        return True
    if force:
        return False
    raise DataError(f"{target} exists and differs from the packaged data; move it away or "
                    "pass --force to replace it")


def prepare_default_data(data_dir: Path, force: bool = False) -> Path:
    """Copy the packaged taxi CSV to `data_dir/span-1/data.csv` unless it is there;
    DataError when a different file is there, unless `force`."""
    content = packaged_taxi_csv().read_bytes()
    target = data_dir / "span-1" / "data.csv"
    if _keep_or_refuse(target, content, force):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Replaced in one rename, so a reader never sees half a file.
    safe_files.write_bytes(target, content)
    return target


def prepare_by_period(dataset: str, by: str, data_dir: Path) -> str:
    """Writes the packaged taxi CSV as one span per period (pipeline/periods.py) and
    says what it wrote in one line; DataError for a dataset without timestamps."""
    from pipeline import periods

    if dataset != "taxi":
        raise DataError(f"--by cuts the taxi data by {periods.TIME_COLUMN}; the {dataset} "
                        "data has no time column")
    try:
        written = periods.split_csv(packaged_taxi_csv(), data_dir, by)
    except periods.PeriodError as error:
        raise DataError(str(error)) from None
    first, last = min(written), max(written)
    return (f"{data_dir}: {len(written)} spans by {by}, span-{first} ({written[first]}) to "
            f"span-{last} ({written[last]}); periods in {data_dir / periods.PERIODS_FILE}")


def prepare_sample(name: str, data_dir: Path, force: bool = False) -> Path:
    """Writes scikit-learn's bundled dataset `name` (see SAMPLES) to `data_dir/data.csv`,
    its column names as letters, digits and underscores (any name would do, see
    models.signatures.input_name; these keep results comparable with earlier runs).
    DataError when a different data.csv is there, unless `force`."""
    from sklearn import datasets

    sample = SAMPLES[name]
    loaded = getattr(datasets, sample.loader)(**(
        {"scaled": False} if sample.loader == "load_diabetes" else {}))
    columns = [re.sub(r"[^A-Za-z0-9_]+", "_", column).strip("_")
               for column in loaded.feature_names]
    target = loaded.target
    if sample.named_classes:
        target = [str(loaded.target_names[value]) for value in target]
    target_path = data_dir / "data.csv"
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow([*columns, sample.label])
    for row, label in zip(loaded.data.tolist(), target, strict=True):
        writer.writerow([*(repr(float(value)) for value in row),
                         label.item() if hasattr(label, "item") else label])
    content = text.getvalue().encode("utf-8")
    if _keep_or_refuse(target_path, content, force):
        return target_path
    data_dir.mkdir(parents=True, exist_ok=True)
    safe_files.write_bytes(target_path, content)
    return target_path


def check_no_pattern(path: Path, what: str,
                     fix: str = "move or rename the folder") -> None:
    """DataError when `path` holds a character TFX's and Beam's file functions read as
    a pattern (`*`, `?`, `[`, `]`): they would look for files that match it; or a
    control character such as a line break (a run in such an output directory failed
    in the Trainer with DataLossError)."""
    wildcards = sorted(set(GLOB_CHARACTERS) & set(str(path)))
    control = next((character for character in str(path) if ord(character) < 32), None)
    if control is not None:
        raise DataError(f"the {what}'s path {str(path)!r} holds the control character "
                        f"{control!r}, which TFX's file functions do not take; {fix}")
    if wildcards:
        raise DataError(f"the {what}'s path {path} holds {' and '.join(wildcards)}, which "
                        f"TFX reads as a file pattern; {fix}")


def span_dirs(data_dir: Path) -> dict[int, Path]:
    """The span folders of a data directory by span number."""
    spans = {}
    for child in data_dir.iterdir():
        match = _SPAN_DIR.match(child.name)
        if match and child.is_dir():
            spans[int(match.group(1))] = child
    return spans


def check_data_dir(data_dir: Path, excluded: tuple[str, ...] = ()) -> tuple[int, ...]:
    """The span numbers of a data directory (none for a folder of CSV files), after
    checking that every span's CSVs can be read and that the spans have no gaps;
    DataError if not. `excluded` columns (`--exclude`) are not features: their cells
    need not be finite numbers."""
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist")
    check_no_pattern(data_dir, "data directory")
    spans = span_dirs(data_dir)
    if not spans:
        if not any(data_dir.glob("*.csv")):
            raise DataError(f"{data_dir} has neither .csv files nor span-<N>/ folders of them")
        _check_csvs(data_dir, excluded)
        return ()
    numbers = tuple(sorted(spans))
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if missing:
        raise DataError(f"{data_dir} has no span-{missing[0]}/ between span-{numbers[0]}/ "
                        f"and span-{numbers[-1]}/; number spans without gaps")
    for number in numbers:
        _check_csvs(spans[number], excluded)
    return numbers


def latest_csvs(data_dir: Path, spans: tuple[int, ...]) -> list[Path]:
    """The CSV files of the latest span (or of the folder, when it has no spans)."""
    folder = span_dirs(data_dir)[spans[-1]] if spans else data_dir
    return sorted(folder.glob("*.csv"))


# A classification label with more distinct values than this is most likely a number.
MAX_CLASSES = 100


def check_label(csv_files: list[Path], columns: tuple[str, ...], name: str,
                task: str | None) -> None:
    """DataError, in one sentence, when the label cannot be learned from these files:
    a missing column, no values at all, a single class, too many classes, or text for a
    regression. `columns` are the raw columns the label needs; `name` is the label
    column whose values are checked (None: a derived label, only the columns are)."""
    header = _read_header(csv_files[0])
    for column in columns:
        if column not in header:
            raise DataError(f"{csv_files[0]} has no column {column!r} for the label; its "
                            f"columns are {', '.join(header)}")
    if name is None:
        return
    seen: set[str] = set()
    not_finite: dict[str, str] = {}  # a NaN or infinity: where it was first seen
    for path in csv_files:
        try:
            _scan_label(path, name, task, seen, not_finite)
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise DataError(f"cannot read {path}: {error}") from None
    if not seen and not_finite:
        raise DataError(f"label column {name!r} holds no finite number, only "
                        f"{', '.join(sorted(not_finite))}; a regression needs numbers")
    if not seen:
        raise DataError(f"label column {name!r} is empty in every row of "
                        f"{', '.join(str(path) for path in csv_files)}")
    if len(seen) == 1:
        value = next(iter(seen))
        if task == REGRESSION:
            raise DataError(f"label column {name!r} holds {value!r} in every row; there is "
                            "nothing to learn")
        raise DataError(f"label column {name!r} has a single class ({value!r}); a classifier "
                        "needs at least two")


def check_taxi_columns(csv_file: Path, taxi_columns: tuple[str, ...]) -> None:
    """DataError saying that --label is needed when a run without one (the taxi
    default) is pointed at data that has none of the taxi label's columns."""
    header = _read_header(csv_file)
    if not set(taxi_columns) & set(header):
        raise DataError(f"{csv_file.parent} is not the taxi data (the default without "
                        "--label): name the column to predict with --label COLUMN; its "
                        f"columns are {', '.join(header)}")


def _scan_label(path: Path, name: str, task: str | None, seen: set[str],
                not_finite: dict[str, str]) -> None:
    """Adds the label values of one file to `seen` (for a regression, two at most; its
    NaN and infinities to `not_finite`, with where each was first). A classification
    stops as soon as the verdict is known (more than MAX_CLASSES); a regression reads
    every row, since one NaN or infinity among its numbers makes the training loss NaN
    (and once crashed the report): DataError naming the first one's line."""
    with path.open(newline="", encoding=ENCODING) as handle:
        rows = csv.DictReader(handle)
        for row in rows:
            value = (row.get(name) or "").strip()
            if not value:
                continue
            if task == REGRESSION:
                try:
                    number = float(value)
                except ValueError:
                    raise DataError(
                        f"label column {name!r} holds text such as {value!r}, so it cannot "
                        "be a regression target (use --task classification)") from None
                where = f"line {rows.line_num} of {path}"
                if not math.isfinite(number):
                    if seen:
                        raise DataError(_not_finite(name, value, where))
                    not_finite.setdefault(value, where)
                    continue
                if not_finite:
                    raise DataError(_not_finite(name, *next(iter(not_finite.items()))))
                if len(seen) < 2:
                    seen.add(value)
                continue
            seen.add(value)
            if len(seen) > MAX_CLASSES:
                raise DataError(f"label column {name!r} has more than {MAX_CLASSES} distinct "
                                "values; for a numeric target use --task regression")


def _not_finite(name: str, value: str, where: str) -> str:
    return (f"label column {name!r} holds {value!r} on {where}, next to numbers; a "
            "regression label must be a finite number in every row (NaN or an infinity "
            "would make the training loss NaN): fix or drop that row")


def _check_csvs(span_dir: Path, excluded: tuple[str, ...] = ()) -> None:
    csv_files = sorted(span_dir.glob("*.csv"))
    if not csv_files:
        raise DataError(f"{span_dir} has no .csv files")
    header = None
    for path in csv_files:
        check_rows(path, excluded)
        file_header = _read_header(path)
        if header is not None and file_header != header:
            raise DataError(f"{path} has a different header from {csv_files[0]}")
        header = file_header
    # CsvExampleGen compares the files' headers as they are, byte-order mark included.
    marked = [path.name for path in csv_files if _starts_with_byte_order_mark(path)]
    if marked and len(marked) < len(csv_files):
        raise DataError(f"in {span_dir}, some CSV files start with a byte-order mark "
                        f"({', '.join(marked)}) and others do not; CsvExampleGen needs one "
                        "folder's files to have the same header, so save them with the same "
                        "encoding")


def _decoded_lines(path: Path):
    """The file's lines as text, DataError naming the first line that is not UTF-8 or
    is longer than MAX_LINE_BYTES; NotRegularFile (an OSError) for a folder, a device
    or a named pipe, which a data folder's .csv files must not be (a URI's objects are
    read through TFX's filesystem layer, which has neither)."""
    opened = _opened(path)
    with opened as handle:
        for number, line in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""),
                                      start=1):
            if len(line) > MAX_LINE_BYTES:
                raise DataError(f"line {number} of {path} is longer than "
                                f"{MAX_LINE_BYTES // 2**20} MiB; is it a CSV file?")
            try:
                yield line.decode(ENCODING if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise DataError(
                    f"cannot read {path}: line {number} is not UTF-8 (byte "
                    f"{line[error.start]:#04x} at byte {error.start + 1} of the line); save "
                    "it as UTF-8, e.g. "
                    "\"CSV UTF-8\" in Excel or iconv -f latin1 -t utf-8") from None


def check_rows(path: Path, excluded: tuple[str, ...] = ()) -> None:
    """DataError, in one sentence, for a CSV file CsvExampleGen would split or fail on
    after minutes: bytes that are not UTF-8, a field longer than the CSV reader's limit,
    and a quoted field holding a line break (CsvExampleGen reads line by line, so it
    would cut the row in two there); and one it would read silently but train on to NaN:
    a column of numbers holding a cell that is not a finite number (see
    `_NumericColumns`), unless it is `excluded` from the features.

    Arrow reads the file first (`_rows_pass`): a file it finds none of these in is
    passed in seconds where Python's CSV reader took 47 s for 1.5M taxi rows. Any doubt
    (an error, a suspect cell, a column Arrow cannot parse) sends the file to the row by
    row reading below, which decides and words the refusal."""
    if _rows_pass(path, excluded):
        return
    limit = csv.field_size_limit()
    rows = csv.reader(_decoded_lines(path))
    start = 1
    numeric = None
    while True:
        try:
            row = next(rows, None)
        except safe_files.NotRegularFile as error:
            raise DataError(f"{error}; a data folder's .csv files must be files (or "
                            "symlinks to files)") from None
        except OSError as error:
            raise DataError(f"cannot read {path}: {error.strerror}") from None
        except csv.Error as error:
            if "field limit" in str(error):
                raise DataError(
                    f"line {start} of {path} has a field longer than {limit} characters, "
                    "the most the CSV reader of CsvExampleGen takes") from None
            raise DataError(f"cannot read line {start} of {path}: {error}") from None
        if row is None:
            if numeric:
                numeric.check(path, excluded)
            return
        if rows.line_num > start or any("\n" in field or "\r" in field for field in row):
            raise DataError(
                f"line {start} of {path} has a quoted field holding a line break, which "
                "CsvExampleGen would read as the end of the row; replace the line breaks "
                "inside fields (e.g. with spaces)")
        if numeric is None:
            numeric = _NumericColumns(row)
        else:
            numeric.add(row, start)
        start = rows.line_num + 1


# Arrow's read block when checking rows: memory holds one block at a time.
_CHECK_BLOCK_BYTES = 16 << 20


def _rows_pass(path: Path, excluded: tuple[str, ...]) -> bool:
    """True when Arrow's reading of the file shows that `check_rows`' row by row reading
    would find nothing to refuse; False when in doubt."""
    import pyarrow as pa
    from pyarrow import csv as arrow_csv

    try:
        header = _read_header(path)
    except DataError:
        return False
    numbers = {name: True for name in header if name not in excluded}
    try:
        opened = _opened(path)
        with opened as handle:
            reader = arrow_csv.open_csv(
                handle,
                read_options=arrow_csv.ReadOptions(
                    autogenerate_column_names=True, skip_rows=1,
                    block_size=_CHECK_BLOCK_BYTES),
                parse_options=arrow_csv.ParseOptions(newlines_in_values=True),
                convert_options=arrow_csv.ConvertOptions(
                    column_types={f"f{index}": pa.string() for index in range(len(header))},
                    null_values=[], strings_can_be_null=False))
            if len(reader.schema) != len(header):
                return False
            for block in reader:
                if not _block_passes(block, header, numbers):
                    return False
    except (OSError, ValueError, pa.ArrowException):
        return False
    return True


def _block_passes(block, header: list[str], numbers: dict) -> bool:
    """Whether a block of text cells has no field over the CSV reader's limit, no line
    longer than MAX_LINE_BYTES (a cell takes at most twice its length and three bytes
    more on the line: quotes, doubled quotes, the comma), no line break in a cell, and
    no cell that is not a finite number in a column of numbers (`numbers`, updated: a
    column with a cell that is not a number is no longer one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not block.num_rows:
        return True
    lengths = [pc.binary_length(column) for column in block.columns]
    if any(pc.max(length).as_py() > csv.field_size_limit() for length in lengths):
        return False
    if lengths:
        line = lengths[0]
        for length in lengths[1:]:
            line = pc.add(line, length)
        if pc.max(line).as_py() * 2 + 3 * len(lengths) > MAX_LINE_BYTES:
            return False
    for name, column in zip(header, block.columns, strict=True):
        if pc.any(pc.match_substring_regex(column, "[\r\n]")).as_py():
            return False
        if not numbers.get(name):
            continue
        cells = pc.utf8_trim_whitespace(column)
        cells = pc.filter(cells, pc.not_equal(cells, ""))
        try:
            values = pc.cast(cells, pa.float64())
        except pa.ArrowInvalid:  # a cell Arrow does not parse: Python's float() decides
            values = None
        if values is not None:
            if len(values) and not pc.all(pc.is_finite(values)).as_py():
                return False
            continue
        parsed = []
        for cell in pc.unique(cells).to_pylist():
            try:
                parsed.append(float(cell))
            except ValueError:
                numbers[name] = False
                break
        if numbers[name] and not all(math.isfinite(value) for value in parsed):
            return False
    return True


class _NumericColumns:
    """The cells of a CSV file's numeric columns that are not finite numbers. The CSV
    decoder of CsvExampleGen types a column FLOAT when every cell parses as a number,
    and `NaN`, `inf` or `1e400` (beyond a float's range) do: one such cell makes the
    column's mean, the model's loss and every metric NaN, and the run ends "not
    blessed" with no reason. A column with any text in it holds strings, where `nan` is
    just a word."""

    def __init__(self, header: list[str]):
        self.header = header
        self.numbers = [True] * len(header)  # every non-empty cell so far is a number
        self.finite = [False] * len(header)  # and one of them is finite
        self.first = {}  # column index -> (line, cell) of the first non-finite cell

    def add(self, row: list[str], line: int) -> None:
        for index, cell in enumerate(row[:len(self.header)]):
            if not self.numbers[index] or not cell.strip():
                continue
            try:
                number = float(cell)
            except ValueError:
                self.numbers[index] = False
                continue
            if math.isfinite(number):
                self.finite[index] = True
            elif index not in self.first:
                self.first[index] = (line, cell.strip())

    def check(self, path: Path, excluded: tuple[str, ...] = ()) -> None:
        for index, (line, cell) in sorted(self.first.items()):
            name = self.header[index]
            if not self.numbers[index] or name in excluded:
                continue
            if self.finite[index]:
                raise DataError(
                    f"column {name!r} of {path} holds {cell!r} on line {line}, next to "
                    "numbers: not a finite number, which would make training NaN; fix or "
                    "empty that cell (an empty cell is a missing value)")
            raise DataError(
                f"column {name!r} of {path} holds no finite number, only values such as "
                f"{cell!r} (line {line}), which would make training NaN; empty those cells "
                "or drop the column")


def _starts_with_byte_order_mark(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(BYTE_ORDER_MARK)) == BYTE_ORDER_MARK


def _opened(path: Path):
    """The file, binary; NotRegularFile (an OSError) for a local folder, device or named
    pipe, found without waiting for a writer at the pipe (a URI's objects are read
    through TFX's filesystem layer, which has neither)."""
    return path.open("rb") if uris.is_uri(path) else safe_files.open_regular(path)


def _read_header(path: Path) -> list[str]:
    try:
        with io.TextIOWrapper(_opened(path), encoding=ENCODING, newline="") as handle:
            rows = csv.reader(handle)
            header = next(rows, None)
            first_row = next(rows, None)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot read {path}: {error}") from None
    if not header or not any(name.strip() for name in header):
        raise DataError(f"{path} is empty: expected a header line and data rows")
    if first_row is None:
        raise DataError(f"{path} has a header but no data rows")
    _check_delimiter(path, header)
    check_column_names(path, header)
    return header


def _check_delimiter(path: Path, header: list[str]) -> None:
    """DataError when the header is one field holding `;` or tabs: a file exported
    with another delimiter, which CsvExampleGen would read as one column."""
    if len(header) != 1:
        return
    for delimiter, name in _OTHER_DELIMITERS.items():
        if delimiter in header[0]:
            escaped = delimiter.encode("unicode_escape").decode()
            raise DataError(
                f"{path} seems to separate its columns with {name} (its header is one "
                f"field, {header[0]!r}), and CsvExampleGen in tfx 1.21 reads commas only: "
                f"convert it with python -c \"import csv, sys; csv.writer(sys.stdout)"
                f".writerows(csv.reader(sys.stdin, delimiter='{escaped}'))\" < {path} > "
                f"converted.csv and put converted.csv in place of {path.name}")


def check_column_names(path: Path, header: list[str]) -> None:
    """DataError, in one sentence, for a header the pipeline cannot take: more than
    MAX_COLUMNS columns, a name with a comma, a column without a name, two columns of
    the same name, or two whose model input names (models.signatures.input_name) are
    the same. Any other name is fine."""
    if len(header) > MAX_COLUMNS:
        raise DataError(f"{path} has {len(header):,} columns, more than the {MAX_COLUMNS:,} "
                        "this pipeline runs in reasonable time on one machine (README: Wide "
                        "data); keep only the columns the model needs in the CSV files")
    with path.open(encoding=ENCODING) as handle:
        line = handle.readline()
    # CsvExampleGen splits the header line at every comma (tfx.utils.io_utils.
    # load_csv_column_names; pipeline/example_gen.py then takes the quotes off), unlike
    # the CSV reader: a quoted name holding a comma would shift every name after it.
    if len(line.rstrip("\r\n").split(",")) != len(header):
        quoted = next((name for name in header if "," in name), header[0])
        raise DataError(f"column {quoted!r} of {path} has a comma in its name, which TFX's "
                        "CSV reader cannot take in a header; rename it")
    seen: dict[str, tuple[int, str]] = {}
    for number, name in enumerate(header, start=1):
        if not name.strip():
            raise DataError(f"column {number} of {path} has no name; name every column "
                            "in the header line")
        key = input_name(name)
        if key not in seen:
            seen[key] = (number, name)
            continue
        first_number, first = seen[key]
        if first == name:
            raise DataError(f"{path} has two columns named {name!r} (columns {first_number} "
                            f"and {number}); give each column its own name")
        raise DataError(f"columns {first!r} and {name!r} of {path} would both be the model "
                        f"input {key!r}; rename one of them")
