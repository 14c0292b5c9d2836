"""The CsvExampleGen the pipeline runs: TFX's examples, and a byte-order mark that does
not become part of the first column's name."""

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that

from pipeline.example_gen import Executor, SpreadsheetCsvExampleGen

CSV = "id,score,kind\r\n1,0.5,a\r\n2,,b\r\n3,1.5,\r\n"


def _examples_of(folder, check):
    to_examples = Executor().GetInputSourceToExamplePTransform()
    with beam.Pipeline() as pipeline:
        examples = pipeline | to_examples({"input_base": str(folder)}, "*.csv")
        assert_that(examples, check)


def _as_rows(examples):
    """Per example, each feature's values (bytes decoded)."""
    rows = []
    for example in examples:
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

    _examples_of(tmp_path, check)


def test_component_keeps_tfx_csv_example_gen_id_and_parameters():
    from tfx.components import CsvExampleGen

    gen = SpreadsheetCsvExampleGen(input_base="/data")
    assert gen.executor_spec.executor_class is Executor
    assert gen.exec_properties["input_base"] == "/data"
    assert set(CsvExampleGen(input_base="/data").exec_properties) == set(gen.exec_properties)
