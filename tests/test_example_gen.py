"""The CsvExampleGen the pipeline runs: TFX's examples, splits and order, made by
Arrow and tfx_bsl's encoder, written without a Reshuffle, and a byte-order mark or
quotes that do not become part of a column's name."""

import json

import apache_beam as beam
import pyarrow as pa
import pytest
import tensorflow as tf
from apache_beam.testing.util import assert_that
from tfx.components.example_gen import write_split
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from pipeline import example_gen
from pipeline.example_gen import Executor, SpreadsheetCsvExampleGen

CSV = "id,score,kind\r\n1,0.5,a\r\n2,,b\r\n3,1.5,\r\n"

# Cells where Arrow's parsing and tfx_bsl's rule could part: Python's int() takes
# " 12" and "1_000", an integer beyond int64 makes its column text, "nan" and "1e5"
# are floats, a quoted cell holds a comma or a line break, a column is empty in every
# row, blank lines are skipped.
TRICKY = (
    "id,spaced,underscored,huge,special,text,never,mixed\n"
    "1, 12,1_000,1,nan,\"a, b\",,1\n"
    "\n"
    "2,7,2,99999999999999999999,1e5,\"line\nbreak\",,2.5\n"
    "3,,3,3,-inf,\"say \"\"hi\"\"\",,\n"
    "4,-4,,4,0.1,plain,,x\n"
)


def _tfx_examples(folder) -> list[bytes]:
    """TFX's own CsvExampleGen input step on the folder, deterministically serialized."""
    return _collected(folder, tfx_csv._CsvToExample, "tfx", lambda examples: (
        examples | beam.Map(lambda example: example.SerializeToString(deterministic=True))))


def _collected(folder, to_examples, name, serialize=lambda examples: examples):
    """The records a PTransform makes of the folder's CSV files, in their order."""
    prefix = folder.parent / f"{folder.name}-{name}-records"
    with beam.Pipeline() as pipeline:
        _ = serialize(pipeline | to_examples({"input_base": str(folder)}, "*.csv")) \
            | beam.io.WriteToTFRecord(str(prefix), shard_name_template="")
    return [bytes(record.numpy()) for record in tf.data.TFRecordDataset(str(prefix))]


def _our_examples(folder) -> list[bytes]:
    return _collected(folder, Executor().GetInputSourceToExamplePTransform(), "ours")


# Blocks just larger than the header, so a file is several blocks.
@pytest.mark.parametrize(("text", "block"), [(CSV, 16), (TRICKY, 64)],
                         ids=["plain", "tricky cells"])
def test_record_batches_are_the_decoded_examples(tmp_path, text, block, monkeypatch):
    """What the first run's statistics read (`record_batch`) is what tfx_bsl decodes
    from the examples, column for column, over several blocks."""
    from tfx_bsl.coders.example_coder import (
        ExamplesToRecordBatchDecoder,
        RecordBatchToExamplesEncoder,
    )

    monkeypatch.setattr(example_gen, "BLOCK_BYTES", block)
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8", newline="")
    names = example_gen._file_header(str(path))
    (types,) = example_gen._InferTypes().process(str(path), names)
    examples = list(example_gen._file_examples(
        str(path), names, types, RecordBatchToExamplesEncoder(),
        example_gen._example_parser()))

    batches = [example_gen.record_batch(block, names, types)
               for block in example_gen._blocks(str(path), names)]

    assert len(batches) > 1
    ours = pa.Table.from_batches(batches)
    decoded = pa.Table.from_batches([ExamplesToRecordBatchDecoder().DecodeBatch(examples)])
    assert ours.schema == decoded.schema
    # Compared as text: Arrow's equality fails on the NaN cell, which both hold.
    assert repr(ours.to_pydict()) == repr(decoded.to_pydict())


@pytest.mark.parametrize("text", [CSV, TRICKY], ids=["plain", "tricky cells"])
def test_examples_are_tfx_examples_byte_for_byte_in_file_order(tmp_path, text):
    (tmp_path / "data.csv").write_text(text, encoding="utf-8", newline="")

    ours = _our_examples(tmp_path)

    assert ours == _tfx_examples(tmp_path)
    assert len(ours) == text.count("\n") - 1 - text.count("\n\n") - text.count("\"line\n")


def test_types_are_decided_over_every_block_of_every_file(tmp_path, monkeypatch):
    # A column of integers whose last row, in another block and another file, is a
    # float: every row's value is a float, as TFX's one type per column over the split.
    monkeypatch.setattr(example_gen, "BLOCK_BYTES", 64)
    rows = "".join(f"{n},{n}\n" for n in range(40))
    (tmp_path / "a.csv").write_text("id,value\n" + rows, encoding="utf-8")
    (tmp_path / "b.csv").write_text("id,value\n40,0.5\n", encoding="utf-8")

    examples = [tf.train.Example.FromString(raw) for raw in _our_examples(tmp_path)]

    assert len(examples) == 41
    assert all(example.features.feature["value"].HasField("float_list")
               for example in examples)
    assert _our_examples(tmp_path) == _tfx_examples(tmp_path)


def _as_rows(examples):
    """Per example, each feature's values (bytes decoded)."""
    rows = []
    for raw in examples:
        example = tf.train.Example.FromString(raw)
        row = {}
        for name, feature in example.features.feature.items():
            values = list(getattr(feature, feature.WhichOneof("kind")).value)
            row[name] = [v.decode() if isinstance(v, bytes) else v for v in values]
        rows.append(row)
    return sorted(rows, key=lambda row: row["id"])


# R's write.csv and pandas' QUOTE_ALL quote every name; Excel's "CSV UTF-8" starts with
# a byte-order mark.
QUOTED = CSV.replace("id,score,kind", '"id","score","kind"')


@pytest.mark.parametrize("text", [CSV, "\ufeff" + CSV, QUOTED, "\ufeff" + QUOTED],
                         ids=["plain", "byte-order mark", "quoted", "both"])
def test_examples_have_the_header_names_and_empty_cells_as_empty_lists(tmp_path, text):
    (tmp_path / "data.csv").write_text(text, encoding="utf-8", newline="")

    def check(examples):
        assert _as_rows(examples) == [
            {"id": [1], "score": [0.5], "kind": ["a"]},
            {"id": [2], "score": [], "kind": ["b"]},
            {"id": [3], "score": [1.5], "kind": []},
        ]

    with beam.Pipeline() as pipeline:
        examples = pipeline | Executor().GetInputSourceToExamplePTransform()(
            {"input_base": str(tmp_path)}, "*.csv")
        assert_that(examples, check)


def _run_executor(data, output):
    examples = standard_artifacts.Examples()
    examples.uri = str(output)
    split_config = example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=4),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)])
    properties = {
        standard_component_specs.INPUT_BASE_KEY: str(data),
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
                name="single_split", pattern="*.csv")])),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(split_config=split_config)),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY:
            example_gen_pb2.FORMAT_TF_EXAMPLE,
    }
    Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]}, properties)
    return examples


def _split_records(folder) -> list[bytes]:
    records = []
    for path in sorted(folder.glob("*.gz")):
        records += [bytes(r.numpy()) for r in tf.data.TFRecordDataset(str(path), "GZIP")]
    return records


def test_executor_writes_every_row_once_in_tfx_splits_without_a_reshuffle(tmp_path,
                                                                          monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    rows = "".join(f"{n},{n * 0.25},{'abc'[n % 3]}\n" for n in range(300))
    (data / "data.csv").write_text("id,score,kind\n" + rows, encoding="utf-8")

    def no_reshuffle(*args, **kwargs):
        raise AssertionError("the executor must not reshuffle")

    monkeypatch.setattr(beam.transforms, "Reshuffle", no_reshuffle)
    monkeypatch.setattr(beam, "Reshuffle", no_reshuffle)
    artifact = _run_executor(data, tmp_path / "out")

    train = _split_records(tmp_path / "out" / "Split-train")
    evaluation = _split_records(tmp_path / "out" / "Split-eval")
    expected = _tfx_examples(data)
    split_config = example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=4),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)])
    from tfx.components.example_gen.base_example_gen_executor import _PartitionFn

    assert train == [e for e in expected if _PartitionFn(e, 2, [4, 5], split_config) == 0]
    assert evaluation == [e for e in expected if _PartitionFn(e, 2, [4, 5], split_config)]
    assert len(train) + len(evaluation) == 300 and 30 < len(evaluation) < 90
    assert json.loads(artifact.split_names) == ["train", "eval"]
    assert artifact.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"
    assert write_split.DEFAULT_TF_RECORD_FILE_NAME in next(
        (tmp_path / "out" / "Split-train").glob("*.gz")).name


def test_component_keeps_tfx_csv_example_gen_id_and_parameters():
    from tfx.components import CsvExampleGen

    gen = SpreadsheetCsvExampleGen(input_base="/data")
    assert gen.executor_spec.executor_class is Executor
    assert gen.exec_properties["input_base"] == "/data"
    assert set(CsvExampleGen(input_base="/data").exec_properties) == set(gen.exec_properties)
