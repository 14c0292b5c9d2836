"""What the data gate makes of each bad span of tests/bad_spans.py, decided where it is
decided: CsvExampleGen's conversion turns the file into tf.Examples, TFDV computes
their statistics and validates them against the curated schema as StatisticsGen and
ExampleValidator do, the DataGate reads the validator's SchemaDiff.pb and applies its
rules, and a stopped run's hints name the ways out. tests/e2e/test_bad_input_e2e.py
runs one case of each kind through the real LocalDagRunner."""

import csv
from types import SimpleNamespace

import pytest

from pipeline.config import DEFAULT_SCHEMA_PATH, TAXI_LABEL
from tests.bad_spans import GATE_STOPS, broken_quoting, csv_text, wrong_field_count
from tests.conftest import write_taxi_sample

# Enough rows for every value of the curated schema's domains to turn up.
ROWS = 600
GOOD = "good span"


def _examples_of(path) -> list[bytes]:
    """The CSV file's serialized tf.Examples, as TFX's CsvExampleGen makes them: its
    own reader, parser, column type inference and conversion, called directly rather
    than in a Beam pipeline (the pipeline's executor only renames a header's columns,
    which the taxi header does not need)."""
    from tfx.components.example_gen.csv_example_gen import executor
    from tfx.utils import io_utils
    from tfx_bsl.coders import csv_decoder

    parse = csv_decoder.ParseCSVLine(delimiter=",")
    parse.setup()
    parsed = [cells for line in executor._ReadCsvRecordsFromTextFile().process(str(path))
              for cells, _ in parse.process(line)]
    infer = csv_decoder.ColumnTypeInferrer(io_utils.load_csv_column_names(str(path)),
                                           skip_blank_lines=True)
    types = infer.create_accumulator()
    for cells in parsed:
        types = infer.add_input(types, cells)
    column_infos = infer.extract_output(types)
    to_example = executor._ParsedCsvToTfExample()
    return [example.SerializeToString() for cells in parsed
            for example in to_example.process(cells, column_infos)]


def _validate(examples: list[bytes], out_dir) -> list[dict]:
    """StatisticsGen (no schema: types as the examples have them), ExampleValidator
    (the curated schema), written where ExampleValidator writes, then read back as the
    DataGate reads it."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl
    from tfx_bsl.coders import example_coder

    from pipeline.artifact_files import load_split_anomalies
    from pipeline.gate_rules import anomaly_rows

    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(examples)
    statistics = stats_impl.generate_statistics_in_memory(batch, tfdv.StatsOptions())
    anomalies = tfdv.validate_statistics(statistics, tfdv.load_schema_text(
        str(DEFAULT_SCHEMA_PATH)))
    (out_dir / "Split-train").mkdir(parents=True)
    (out_dir / "Split-train" / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())
    return anomaly_rows(load_split_anomalies(str(out_dir), ["train"]))


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """Each case's anomaly rows (the good span's too)."""
    root = tmp_path_factory.mktemp("bad-spans")
    with write_taxi_sample(root / "taxi", rows=ROWS).open(newline="") as handle:
        rows = list(csv.reader(handle))
    files = {GOOD: csv_text(rows)} | {case: make(rows) for case, (make, _) in
                                      GATE_STOPS.items()}
    found = {}
    for n, (case, text) in enumerate(files.items()):
        path = root / f"case-{n}" / "data.csv"
        path.parent.mkdir()
        path.write_text(text)
        examples = _examples_of(path)
        assert len(examples) == ROWS  # one per data row
        found[case] = _validate(examples, root / f"case-{n}" / "anomalies")
    return found


def _hints(rows, tmp_path):
    from pipeline.summary import gate_hints

    cfg = SimpleNamespace(
        locations=SimpleNamespace(data_dir=tmp_path / "data", output_dir=tmp_path / "out"),
        label=TAXI_LABEL, spans=(1, 2), drift_thresholds=())
    return gate_hints(rows, {"span": 2}, cfg)


def test_a_good_span_has_no_anomalies(verdicts):
    """The control: the same rows unchanged pass, so each case's rows are its own."""
    from pipeline.gate_rules import classify

    assert verdicts[GOOD] == []
    assert classify(verdicts[GOOD], [])["passed"]


@pytest.mark.parametrize("case", list(GATE_STOPS))
def test_bad_span_is_stopped_with_its_reason_and_ways_out(verdicts, case, tmp_path):
    import shlex

    from pipeline.gate_rules import classify

    rows = verdicts[case]
    _, words = GATE_STOPS[case]
    feature = words[0]
    verdict = classify(rows, [])
    assert not verdict["passed"] and verdict["blocking"] == rows
    assert {row["feature"] for row in rows} == {feature}, rows
    text = " ".join(f"{row['feature']} {row['type']} {row['description']}" for row in rows)
    for word in words:
        assert word in text, (word, rows)
    hints = _hints(rows, tmp_path)
    tolerate = shlex.split(next(line for line in hints if line.strip().startswith(
        "--tolerate")))
    assert all(rule.startswith(f"{feature}:") for rule in tolerate[1::2])
    assert classify(rows, tolerate[1::2])["passed"]  # the printed rules let it through
    if feature in TAXI_LABEL.source_columns:
        # The label is computed from it: a schema change would leave no label.
        assert not any("schema-update" in line for line in hints), hints
    else:
        assert any(f"schema-update --feature {feature} " in line for line in hints), hints
    assert any(f"fix or remove {tmp_path / 'data' / 'span-2'}, then run again" in line
               for line in hints), hints


@pytest.mark.parametrize("make, error", [(broken_quoting, "unbalanced quotes"),
                                          (wrong_field_count, "do not match")])
def test_csv_example_gen_fails_on_a_file_it_cannot_parse(make, error, tmp_path):
    """A quote opened and never closed, or a row with too few fields: CsvExampleGen
    fails (and the run exits 1, as the end-to-end catalogue shows for the latter)."""
    path = write_taxi_sample(tmp_path / "taxi", rows=200)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    path.write_text(make(rows))
    with pytest.raises(ValueError, match=error):
        _examples_of(path)
