"""CsvExampleGen for CSV files as spreadsheets and data tools save them: TFX's
component and executor, except that the column names are the header's as a CSV reader
reads it.

TFX 1.21's CsvExampleGen reads the header as text and splits it at every comma, so a
file saved as "CSV UTF-8" by Excel yields a first column named "\\ufeffid", and a header
written with quotes (R's write.csv, pandas with QUOTE_ALL) yields names with the quotes
in them, in every tf.Example (and so in the statistics, the schema and the model's
inputs). The data rows are parsed as CSV and are not affected. The executor below
renames those features; everything else is TFX's own code. (A quoted name holding a
comma would also shift TFX's names; pipeline/data.py refuses it before a run.) The
first schema of a dataset is inferred from the same examples (schema_review.py).
"""

import csv
import os

import apache_beam as beam
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen import executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs
from tfx.utils import io_utils

BYTE_ORDER_MARK = "\ufeff"


def header_names(line: str) -> list[str]:
    """A CSV header line's column names as a CSV reader reads them: no byte-order mark,
    no quotes."""
    return next(csv.reader([line.removeprefix(BYTE_ORDER_MARK).rstrip("\r\n")]), [])


def _renamed(example, names: dict[str, str]):
    """A copy of the tf.Example with each feature `old` of `names` called `new`."""
    result = type(example)()
    result.CopyFrom(example)
    features = result.features.feature
    for old, new in names.items():
        features[new].CopyFrom(features[old])
        del features[old]
    return result


def _with_header_names(to_examples):
    """`to_examples` (TFX's CSV-to-tf.Example PTransform) with the features named as
    `header_names` reads the split's first file (TFX takes the column names from that
    file and requires the others' header lines to be the same)."""

    @beam.ptransform_fn
    def transform(pipeline, exec_properties, split_pattern):
        examples = pipeline | "CsvToExample" >> to_examples(exec_properties, split_pattern)
        csv_files = fileio.glob(os.path.join(
            exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern))
        if not csv_files:
            return examples
        tfx_names = io_utils.load_csv_column_names(csv_files[0])
        with fileio.open(csv_files[0]) as handle:
            names = header_names(handle.readline())
        renames = {old: new for old, new in zip(tfx_names, names, strict=False) if old != new}
        if len(names) != len(tfx_names) or not renames:
            return examples
        return examples | "HeaderNames" >> beam.Map(_renamed, renames)

    return transform


class Executor(executor.Executor):
    """TFX's CSV executor; the column names as a CSV reader reads the header."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _with_header_names(super().GetInputSourceToExamplePTransform())


class SpreadsheetCsvExampleGen(FileBasedExampleGen):
    """TFX's CsvExampleGen with the executor above: the same parameters and outputs,
    and `custom_config` (which TFX's CsvExampleGen does not pass on), where the
    pipeline puts the executor's code fingerprint so that edited code is not cached."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
