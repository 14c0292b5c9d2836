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
  so memory grew with the data, and it kept the order anyway. Each input file's
  examples are written, per split, by TensorFlow's gzip TFRecord writer as they are
  made (`_WriteSplits`), not one Beam element at a time.
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
import itertools
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from tfx.components.example_gen import utils, write_split
from tfx.components.example_gen.base_example_gen_executor import _PartitionFn
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


def _file_examples(path: str, names: list[str], types: dict, encoder, parse):
    """A file's rows as serialized tf.Examples, deterministically (as TFX's split
    hashes them and as they are written), in file order."""
    typed = [name for name in names if types[name] != ColumnType.UNKNOWN]
    # A column empty in every row: a feature of no kind in every example, as TFX's
    # executor writes it (the encoder cannot).
    untyped = [name for name in names if name not in typed]
    for block in _blocks(path, names):
        columns = [_lists(block.column(name), types[name]) for name in typed]
        encoded = (encoder.encode(pa.RecordBatch.from_arrays(columns, typed)) if typed
                   else [b""] * block.num_rows)
        for raw in encoded:
            example = parse(raw)
            for name in untyped:
                example.features.feature[name].Clear()
            yield example.SerializeToString(deterministic=True)


def _example_parser():
    from tensorflow.core.example import example_pb2

    return example_pb2.Example.FromString


class _ToExamples(beam.DoFn):
    """A file's rows as serialized tf.Examples (`_file_examples`)."""

    def setup(self):
        self._encoder, self._parse = RecordBatchToExamplesEncoder(), _example_parser()

    def process(self, path: str, names: list[str], types: dict):
        yield from _file_examples(path, names, types, self._encoder, self._parse)


def _typed_files(pipeline, exec_properties: dict, split_pattern: str):
    """The split's CSV files (a PCollection of (index, path)), their column names, and
    their column types over all of them (a singleton side input)."""
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                           split_pattern)
    csv_files = sorted(fileio.glob(pattern))
    if not csv_files:
        raise RuntimeError(f"Split pattern {pattern} does not match any files.")
    names = _file_header(csv_files[0])
    if any(_file_header(path) != names for path in csv_files[1:]):
        raise RuntimeError(f"Files in same split {pattern} have different header.")
    files = pipeline | "CsvFiles" >> beam.Create(list(enumerate(csv_files)))
    types = beam.pvalue.AsSingleton(
        files
        | "Paths" >> beam.Values()
        | "InferColumnTypes" >> beam.ParDo(_InferTypes(), names)
        | "MergeColumnTypes" >> beam.CombineGlobally(_MergeTypes()))
    return files, names, types, len(csv_files)


@beam.ptransform_fn
def csv_to_examples(pipeline, exec_properties: dict, split_pattern: str):
    """The split's CSV files as serialized tf.Examples (TFX's CsvExampleGen input
    PTransform, `GetInputSourceToExamplePTransform`), file after file in file order."""
    files, names, types, _ = _typed_files(pipeline, exec_properties, split_pattern)
    return (files
            | "FilePaths" >> beam.Values()
            | "ToExamples" >> beam.ParDo(_ToExamples(), names, types))


def record_batch(block: pa.RecordBatch, names: list[str], types: dict) -> pa.RecordBatch:
    """A block's rows as tfx_bsl's decoder makes a record batch of their tf.Examples
    (`_file_examples`): a column per name in the examples' order (by name, as they are
    serialized), each row's list of 0 or 1 values, a column empty in every row as nulls
    (a feature of no kind)."""
    columns = []
    for name in sorted(names):
        if types[name] == ColumnType.UNKNOWN:
            columns.append(pa.nulls(block.num_rows))
            continue
        lists = _lists(block.column(name), types[name])
        values = (pc.cast(lists.values, pa.large_binary())
                  if types[name] == ColumnType.STRING else lists.values)
        columns.append(pa.LargeListArray.from_arrays(pc.cast(lists.offsets, pa.int64()),
                                                     values))
    return pa.RecordBatch.from_arrays(columns, sorted(names))


class _ToRecordBatches(beam.DoFn):
    def process(self, path: str, names: list[str], types: dict):
        for block in _blocks(path, names):
            yield record_batch(block, names, types)


@beam.ptransform_fn
def csv_to_record_batches(pipeline, exec_properties: dict, split_pattern: str):
    """The split's CSV files as the record batches TFDV computes statistics of when it
    reads the examples `csv_to_examples` makes (`record_batch`), without making them:
    no tf.Example is built, serialized and decoded again. The statistics are those of
    the examples, but for the sketches behind quantile histograms, which depend on how
    the rows are batched."""
    files, names, types, _ = _typed_files(pipeline, exec_properties, split_pattern)
    return (files
            | "FilePaths" >> beam.Values()
            | "ToRecordBatches" >> beam.ParDo(_ToRecordBatches(), names, types))


class _WriteSplits(beam.DoFn):
    """Converts one CSV file and writes each of its examples to its split's folder, in
    file order: one gzipped TFRecord file per split and input file, named as Beam's
    sink names shards (`data_tfrecord-00000-of-00001.gz`), written by TensorFlow's C++
    writer (Beam's sink compressed and checksummed each record in Python: a third of
    the component's time). A retried file rewrites the same files. Yields (split,
    examples written)."""

    def __init__(self, split_config, split_uris: dict, file_count: int):
        self._split_config = split_config
        self._split_uris = split_uris
        self._file_count = file_count

    def setup(self):
        self._encoder, self._parse = RecordBatchToExamplesEncoder(), _example_parser()

    def process(self, indexed_path, names: list[str], types: dict):
        import tensorflow as tf

        index, path = indexed_path
        splits = self._split_config.splits
        buckets = list(itertools.accumulate(split.hash_buckets for split in splits))
        shard = (f"{write_split.DEFAULT_TF_RECORD_FILE_NAME}-{index:05d}-of-"
                 f"{self._file_count:05d}.gz")
        writers = [tf.io.TFRecordWriter(os.path.join(self._split_uris[split.name], shard),
                                        options="GZIP") for split in splits]
        counts = [0] * len(splits)
        try:
            for record in _file_examples(path, names, types, self._encoder, self._parse):
                split = _PartitionFn(record, len(buckets), buckets, self._split_config)
                writers[split].write(record)
                counts[split] += 1
        finally:
            for writer in writers:
                writer.close()
        yield from zip((split.name for split in splits), counts, strict=True)


class Executor(executor.Executor):
    """TFX's CSV executor (its parameters, split rule, artifact and properties), its
    input and writing done by `_typed_files` and `_WriteSplits`."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return csv_to_examples

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        """TFX's BaseExampleGenExecutor.Do for one input split hashed into output
        splits (the only layout the pipeline configures)."""
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                                  input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
                                  output_config)
        if len(input_config.splits) != 1 or not output_config.split_config.splits:
            raise ValueError("this CsvExampleGen hashes one input split into output splits")
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        artifact_utils.get_single_instance(examples).split_names = (
            artifact_utils.encode_split_names(
                utils.generate_output_split_names(input_config, output_config)))
        split_config = output_config.split_config
        split_uris = {split.name: artifact_utils.get_split_uri(examples, split.name)
                      for split in split_config.splits}
        for uri in split_uris.values():
            fileio.makedirs(uri)
        with self._make_beam_pipeline() as pipeline:
            files, names, types, count = _typed_files(pipeline, exec_properties,
                                                      input_config.splits[0].pattern)
            _ = files | "WriteSplits" >> beam.ParDo(
                _WriteSplits(split_config, split_uris, count), names, types)
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
