"""CsvExampleGen for CSV files as spreadsheets save them: TFX's component and executor,
except that a UTF-8 byte-order mark does not become part of the first column's name.

TFX 1.21's CsvExampleGen reads the header as text and splits it on commas, so a file
saved as "CSV UTF-8" by Excel yields a first column named "\\ufeffid" in every
tf.Example (and so in the statistics, the schema and the model's inputs). The data
rows are read after the header and are not affected. The executor below renames that
one feature back; everything else is TFX's own code. The first schema of a dataset is
inferred from the same examples (pipeline/schema_review.py).
"""

import os

import apache_beam as beam
from tfx.components.example_gen.csv_example_gen import component, executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs
from tfx.utils import io_utils

BYTE_ORDER_MARK = "\ufeff"


def _renamed(example, old: str, new: str):
    """A copy of the tf.Example with feature `old` called `new`."""
    result = type(example)()
    result.CopyFrom(example)
    features = result.features.feature
    features[new].CopyFrom(features[old])
    del features[old]
    return result


def _without_byte_order_mark(to_examples):
    """`to_examples` (TFX's CSV-to-tf.Example PTransform) with the byte-order mark
    taken off the first column's name, when the split's first file has one (TFX takes
    the column names from that file and requires the others to match it)."""

    @beam.ptransform_fn
    def transform(pipeline, exec_properties, split_pattern):
        examples = pipeline | "CsvToExample" >> to_examples(exec_properties, split_pattern)
        csv_files = fileio.glob(os.path.join(
            exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern))
        first = io_utils.load_csv_column_names(csv_files[0])[0] if csv_files else ""
        if not first.startswith(BYTE_ORDER_MARK):
            return examples
        return examples | "DropByteOrderMark" >> beam.Map(
            _renamed, first, first[len(BYTE_ORDER_MARK):])

    return transform


class Executor(executor.Executor):
    """TFX's CSV executor; the first column's name without a byte-order mark."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _without_byte_order_mark(super().GetInputSourceToExamplePTransform())


class ByteOrderMarkCsvExampleGen(component.CsvExampleGen):
    """TFX's CsvExampleGen with the executor above (same parameters and outputs)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
