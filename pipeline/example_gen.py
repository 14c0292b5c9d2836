"""CsvExampleGen for CSV files as spreadsheets and data tools save them, fast enough for
millions of rows: TFX's component and its examples, made by Apache Arrow's CSV reader
and tfx_bsl's C++ encoder instead of one Python tf.Example per row, written without the
Reshuffle that holds every example in memory.

What stays TFX's (tfx/components/example_gen/csv_example_gen/executor.py): a column's
type is the highest of INT, FLOAT and STRING its non-empty cells parse as over the whole
split (tfx_bsl's `_InferValueType`: Python's int() within int64, else float(), else
text), an empty cell is an empty value list, a column empty in every row is a feature
of no kind, blank lines are skipped, every file of a split has the same header, and the
split of a row is TFX's (`_PartitionFn` on the example's deterministic serialization,
which is what is written). So the examples, their splits and their order are those of
TFX's executor on the in-memory runner, whose Reshuffle keeps the order there.

What differs:
- Speed. TFX parses each line with Python's csv module, infers the types from a copy of
  every parsed row that the in-memory runner keeps for the side input, and builds each
  tf.Example in Python: 239 s and most of 5 GB at 1.5M taxi rows. Here each file is read
  twice in blocks of `BLOCK_BYTES` (Arrow: the first pass infers the types, the second
  converts), and the encoder builds the examples; Python touches each row once, to
  serialize it deterministically.
- No Reshuffle before writing (TFX's write_split.WriteSplit): on the in-memory
  DirectRunner its GroupByKey buffers a split's every example in the runner process,
  so memory grew with the data, and it kept the order anyway.
- The column names are the header's as a CSV reader reads it. TFX 1.21 splits the
  header text at every comma, so a file saved as "CSV UTF-8" by Excel yields a first
  column named "\\ufeffid", and a header written with quotes (R's write.csv, pandas
  with QUOTE_ALL) names with the quotes in them. (A quoted name holding a comma is
  refused before a run, by pipeline/data.py.)

Arrow decides a type where it can parse every cell of a block; a cell it cannot parse
(say " 12" or "1_000", which Python's int() takes) sends the block's column to
tfx_bsl's own rule, cell by distinct cell, so the types are TFX's either way.
"""

import csv
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from tfx.components.example_gen import utils, write_split
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen import executor
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders import csv_decoder
from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder

BYTE_ORDER_MARK = "\ufeff"
# Arrow's read block: about 130k taxi rows. Larger blocks spend less per block in
# Python; memory holds one block's text, arrays and examples at a time.
BLOCK_BYTES = 16 << 20
ColumnType = csv_decoder.ColumnType
INTEGER = pa.int64()
DOUBLE = pa.float64()


def header_names(line: str) -> list[str]:
    """A CSV header line's column names as a CSV reader reads them: no byte-order mark,
    no quotes."""
    return next(csv.reader([line.removeprefix(BYTE_ORDER_MARK).rstrip("\r\n")]), [])


def _file_header(path: str) -> list[str]:
    with fileio.open(path) as handle:
        line = handle.readline()
    return header_names(line.decode("utf-8") if isinstance(line, bytes) else line)


def _blocks(path: str, names: list[str]):
    """The file's rows after the header, as Arrow record batches of text columns (an
    empty cell is an empty string, never null)."""
    with beam.io.filesystems.FileSystems.open(path) as handle:
        reader = arrow_csv.open_csv(
            handle,
            read_options=arrow_csv.ReadOptions(column_names=names, skip_rows=1,
                                               block_size=BLOCK_BYTES),
            # A quoted cell may hold a line break, as TFX's reader allows.
            parse_options=arrow_csv.ParseOptions(newlines_in_values=True),
            convert_options=arrow_csv.ConvertOptions(
                column_types={name: pa.string() for name in names}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False))
        yield from reader


def _present(column: pa.Array) -> pa.Array:
    return pc.filter(column, pc.not_equal(column, ""))


def _python_type(values: pa.Array) -> ColumnType:
    """tfx_bsl's type of a column of non-empty cells, cell by distinct cell."""
    found = ColumnType.UNKNOWN
    for value in pc.unique(values).to_pylist():
        found = max(found, csv_decoder._InferValueType(value.encode()))
        if found == ColumnType.STRING:
            break
    return found


def _cast(values: pa.Array, kind: pa.DataType) -> pa.Array | None:
    try:
        return pc.cast(values, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def column_type(column: pa.Array) -> ColumnType:
    """The type tfx_bsl infers for a block's column of cells (`_InferValueType` of each
    non-empty cell, the highest of them)."""
    values = _present(column)
    if not len(values):
        return ColumnType.UNKNOWN
    if _cast(values, INTEGER) is not None:
        return ColumnType.INT
    # An integer beyond int64 makes the column text in tfx_bsl; Arrow would read it as
    # a float.
    integers = pc.filter(values, pc.match_substring_regex(values, r"^[+-]?[0-9]+$"))
    if _cast(integers, INTEGER) is None:
        return ColumnType.STRING
    if _cast(values, DOUBLE) is not None:
        return ColumnType.FLOAT
    return _python_type(values)


def _merge(types: dict, other: dict) -> dict:
    return {name: max(types.get(name, ColumnType.UNKNOWN), kind)
            for name, kind in {**types, **other}.items()}


class _InferTypes(beam.DoFn):
    """A file's column types (name -> ColumnType), over all its rows."""

    def process(self, path: str, names: list[str]):
        types = dict.fromkeys(names, ColumnType.UNKNOWN)
        for block in _blocks(path, names):
            for name, column in zip(names, block.columns, strict=True):
                if types[name] != ColumnType.STRING:
                    types[name] = max(types[name], column_type(column))
        yield types


class _MergeTypes(beam.CombineFn):
    def create_accumulator(self):
        return {}

    def add_input(self, types, file_types):
        return _merge(types, file_types)

    def merge_accumulators(self, accumulators):
        merged = {}
        for types in accumulators:
            merged = _merge(merged, types)
        return merged

    def extract_output(self, types):
        return types


def _values(column: pa.Array, kind: ColumnType) -> pa.Array:
    """A column's non-empty cells as the values TFX's handlers make of them: int(),
    float() stored as float32, or the UTF-8 text."""
    values = _present(column)
    if kind == ColumnType.INT:
        converted = _cast(values, INTEGER)
        return converted if converted is not None else pa.array(
            [int(value) for value in values.to_pylist()], INTEGER)
    if kind == ColumnType.FLOAT:
        converted = _cast(values, DOUBLE)
        if converted is None:
            converted = pa.array([float(value) for value in values.to_pylist()], DOUBLE)
        # float() then float32, as protobuf's FloatList stores a Python float.
        return pc.cast(converted, pa.float32(), safe=False)
    return pc.cast(values, pa.binary())


def _lists(column: pa.Array, kind: ColumnType) -> pa.Array:
    """One list per row: the cell's value, or none for an empty cell."""
    lengths = pc.cast(pc.not_equal(column, ""), pa.int32())
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(lengths)])
    return pa.ListArray.from_arrays(offsets, _values(column, kind))


class _ToExamples(beam.DoFn):
    """A file's rows as serialized tf.Examples (deterministic, as TFX's split hashes
    them), in file order."""

    def setup(self):
        from tensorflow.core.example import example_pb2

        self._parse = example_pb2.Example.FromString
        self._encoder = RecordBatchToExamplesEncoder()

    def process(self, path: str, names: list[str], types: dict):
        typed = [name for name in names if types[name] != ColumnType.UNKNOWN]
        # A column empty in every row: a feature of no kind in every example, as TFX's
        # executor writes it (the encoder cannot).
        untyped = [name for name in names if name not in typed]
        for block in _blocks(path, names):
            columns = [_lists(block.column(name), types[name]) for name in typed]
            batch = pa.RecordBatch.from_arrays(columns, typed) if typed else None
            encoded = (self._encoder.encode(batch) if batch is not None
                       else [b""] * block.num_rows)
            for raw in encoded:
                example = self._parse(raw)
                for name in untyped:
                    example.features.feature[name].Clear()
                yield example.SerializeToString(deterministic=True)


@beam.ptransform_fn
def csv_to_examples(pipeline, exec_properties: dict, split_pattern: str):
    """The split's CSV files as serialized tf.Examples (TFX's CsvExampleGen input
    PTransform, `GetInputSourceToExamplePTransform`)."""
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                           split_pattern)
    csv_files = sorted(fileio.glob(pattern))
    if not csv_files:
        raise RuntimeError(f"Split pattern {pattern} does not match any files.")
    names = _file_header(csv_files[0])
    if any(_file_header(path) != names for path in csv_files[1:]):
        raise RuntimeError(f"Files in same split {pattern} have different header.")
    files = pipeline | "CsvFiles" >> beam.Create(csv_files)
    types = beam.pvalue.AsSingleton(
        files
        | "InferColumnTypes" >> beam.ParDo(_InferTypes(), names)
        | "MergeColumnTypes" >> beam.CombineGlobally(_MergeTypes()))
    return files | "ToExamples" >> beam.ParDo(_ToExamples(), names, types)


@beam.ptransform_fn
def _write(examples, output_split_path: str):
    """TFX's WriteSplit of serialized examples, without its Reshuffle."""
    return examples | "Write" >> beam.io.WriteToTFRecord(
        os.path.join(output_split_path, write_split.DEFAULT_TF_RECORD_FILE_NAME),
        file_name_suffix=".gz")


class Executor(executor.Executor):
    """TFX's CSV executor (its splitting, artifact and properties) with the input and
    write steps above."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return csv_to_examples

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        """TFX's BaseExampleGenExecutor.Do, each split written by `_write`."""
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                                  input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
                                  output_config)
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        artifact_utils.get_single_instance(examples).split_names = (
            artifact_utils.encode_split_names(
                utils.generate_output_split_names(input_config, output_config)))
        with self._make_beam_pipeline() as pipeline:
            for name, split in self.GenerateExamplesByBeam(pipeline, exec_properties).items():
                _ = split | f"WriteSplit[{name}]" >> _write(
                    artifact_utils.get_split_uri(examples, name))
        payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
        for artifact in examples:
            if payload_format:
                examples_utils.set_payload_format(artifact, payload_format)
            if file_format:
                examples_utils.set_file_format(artifact,
                                               write_split.to_file_format_str(file_format))


class SpreadsheetCsvExampleGen(FileBasedExampleGen):
    """TFX's CsvExampleGen with the executor above: the same parameters and outputs,
    and `custom_config` (which TFX's CsvExampleGen does not pass on), where the
    pipeline puts the executor's code fingerprint so that edited code is not cached."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
