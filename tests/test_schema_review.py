"""Comparing an inferred schema with the curated one, and taking features over."""

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.schema_review import diff, update, write_curated

CURATED = """
feature { name: "fare" type: FLOAT float_domain { min: 0.0 } }
feature { name: "payment_type" type: BYTES domain: "payment_type" }
feature { name: "old_column" type: INT }
string_domain { name: "payment_type" value: "Cash" value: "Credit Card" value: "Dispute" }
default_environment: "TRAINING"
"""
INFERRED = """
feature { name: "fare" type: BYTES }
feature { name: "payment_type" type: BYTES domain: "payment_type" }
feature { name: "new_column" type: INT }
string_domain { name: "payment_type" value: "Bitcoin" value: "Cash" value: "Credit Card" }
"""


def _schema(text):
    return text_format.Parse(text, schema_pb2.Schema())


def test_diff_names_what_changed_per_feature():
    changes = diff(_schema(CURATED), _schema(INFERRED))
    assert set(changes) == {"fare", "payment_type", "old_column", "new_column"}
    assert "-type: FLOAT" in changes["fare"] and "+type: BYTES" in changes["fare"]
    assert "+domain value: 'Bitcoin'" in changes["payment_type"]
    assert any("1 curated domain values" in line for line in changes["payment_type"])
    assert all(line.startswith("-") for line in changes["old_column"])
    assert all(line.startswith("+") for line in changes["new_column"])


def test_no_differences():
    assert diff(_schema(CURATED), _schema(CURATED)) == {}


def test_update_takes_over_only_the_chosen_features():
    curated, inferred = _schema(CURATED), _schema(INFERRED)
    updated = update(curated, inferred, ["payment_type", "old_column", "new_column"])
    names = [f.name for f in updated.feature]
    assert sorted(names) == ["fare", "new_column", "payment_type"]
    assert next(f for f in updated.feature if f.name == "fare").type == schema_pb2.FLOAT
    domains = {d.name: list(d.value) for d in updated.string_domain}
    assert domains == {"payment_type": ["Bitcoin", "Cash", "Credit Card"]}
    assert list(updated.default_environment) == ["TRAINING"]  # the rest stays curated
    assert [f.name for f in curated.feature] == ["fare", "payment_type", "old_column"]


def test_update_all_and_unknown_features():
    assert update(_schema(CURATED), _schema(INFERRED), None) == _schema(INFERRED)
    try:
        update(_schema(CURATED), _schema(INFERRED), ["nope"])
    except KeyError as error:
        assert "nope" in error.args[0]
    else:
        raise AssertionError("an unknown feature must be refused")


def test_write_keeps_the_curated_header(tmp_path):
    path = tmp_path / "schema.pbtxt"
    path.write_text("# Curated by hand.\n# Second line.\n" + CURATED)
    write_curated(_schema(INFERRED), path)
    text = path.read_text()
    assert text.startswith("# Curated by hand.\n# Second line.\nfeature {")
    assert text_format.Parse(text, schema_pb2.Schema()) == _schema(INFERRED)
    assert not list(tmp_path.glob("*.partial"))


def test_first_schema_is_inferred_with_domains_the_model_needs(tmp_path):
    from models.features import Encoding, Label, from_schema
    from pipeline.config import load_schema
    from pipeline.schema_review import bootstrap

    rows = ["hour,size,city,kind"] + [
        f"{i % 24},{i * 1.5},{'ab'[i % 2]},{'yes' if i % 3 else 'no'}" for i in range(60)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    path = tmp_path / "schema.pbtxt"
    bootstrap([tmp_path / "data.csv"], Label("kind"), path)
    assert path.read_text().startswith("# Inferred by `python -m pipeline run`")
    schema = load_schema(path)
    by_name = {feature.name: feature for feature in schema.feature}
    assert (by_name["hour"].int_domain.min, by_name["hour"].int_domain.max) == (0, 23)
    assert by_name["kind"].presence.min_fraction == 1.0
    inputs = from_schema(schema, Label("kind"))
    assert inputs.label.classes == ("no", "yes")
    assert inputs.features["hour"].encoding is Encoding.INTEGER_CATEGORY
    assert inputs.features["size"].encoding is Encoding.NUMERIC
    assert inputs.features["city"].encoding is Encoding.VOCABULARY


# Columns of a customer table and how CsvExampleGen types them; `None` is an empty cell.
CHURN_TYPES = {"tenure": int, "charges": float, "plan": str, "churned": str}


def _churn_rows(count, empty_every):
    """Rows whose `charges` and `plan` are empty in every `empty_every`-th row (offset
    so they do not coincide); the label is always there. The values are the same for
    every `empty_every`: only which cells are empty changes."""
    import random

    rng = random.Random(0)
    rows = []
    for index in range(count):
        row = {"tenure": rng.randint(1, 72), "charges": round(rng.uniform(20, 120), 2),
               "plan": rng.choice(["basic", "plus"]), "churned": rng.choice(["yes", "no"])}
        if index % empty_every == 0:
            row["charges"] = None
        if index % empty_every == 1:
            row["plan"] = None
        rows.append(row)
    return rows


def _write_csv(path, rows):
    lines = [",".join(CHURN_TYPES)] + [
        ",".join("" if row[name] is None else str(row[name]) for name in CHURN_TYPES)
        for row in rows]
    path.write_text("\n".join(lines) + "\n")


def _statistics_of_examples(rows):
    """TFDV's statistics of the rows as CsvExampleGen stores them (every column in
    every tf.Example, an empty cell as a list of 0 values), computed as StatisticsGen
    does, from the decoded examples."""
    import tensorflow as tf
    from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory
    from tfx_bsl.coders import example_coder

    def feature(kind, value):
        values = [] if value is None else [value]
        if kind is int:
            return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        if kind is float:
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[v.encode() for v in values]))

    serialized = [tf.train.Example(features=tf.train.Features(feature={
        name: feature(kind, row[name]) for name, kind in CHURN_TYPES.items()
    })).SerializeToString() for row in rows]
    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(serialized)
    return generate_statistics_in_memory(batch)


def _anomalies(schema, rows):
    import tensorflow_data_validation as tfdv

    found = tfdv.validate_statistics(_statistics_of_examples(rows), schema).anomaly_info
    return {name: [reason.type for reason in info.reason] for name, info in found.items()}


def test_first_schema_makes_columns_with_empty_cells_optional(tmp_path):
    """The schema inferred from a CSV with empty cells accepts the examples the
    pipeline makes of that CSV, and of a later one with more empty cells; the label
    still needs a value in every row."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    from models.features import Label
    from pipeline.config import load_schema
    from pipeline.schema_review import bootstrap

    first = _churn_rows(200, empty_every=20)  # 5 % empty
    _write_csv(tmp_path / "data.csv", first)
    path = tmp_path / "schema.pbtxt"
    bootstrap([tmp_path / "data.csv"], Label("churned"), path)
    schema = load_schema(path)
    by_name = {feature.name: feature for feature in schema.feature}
    for optional in ("charges", "plan"):
        assert not by_name[optional].value_count.HasField("min")
        assert by_name[optional].value_count.max == 1
    assert by_name["churned"].value_count.min == 1
    assert by_name["churned"].presence.min_fraction == 1.0

    assert _anomalies(schema, first) == {}
    assert _anomalies(schema, _churn_rows(200, empty_every=3)) == {}  # 33 % empty
    unlabelled = _churn_rows(50, empty_every=20)
    unlabelled[7]["churned"] = None
    assert _anomalies(schema, unlabelled) == {
        "churned": [anomalies_pb2.AnomalyInfo.FEATURE_TYPE_LOW_NUMBER_VALUES]}


def test_first_schema_of_a_file_with_a_byte_order_mark(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark; the first column keeps its
    name in the schema (as in the examples CsvExampleGen makes: test_example_gen.py)."""
    from models.features import Label
    from pipeline.config import load_schema
    from pipeline.schema_review import bootstrap

    rows = _churn_rows(60, empty_every=10)
    _write_csv(tmp_path / "data.csv", rows)
    text = (tmp_path / "data.csv").read_text()
    (tmp_path / "data.csv").write_text("\ufeff" + text.replace("\n", "\r\n"), newline="")
    path = tmp_path / "schema.pbtxt"
    bootstrap([tmp_path / "data.csv"], Label("churned"), path)
    schema = load_schema(path)
    assert sorted(feature.name for feature in schema.feature) == sorted(CHURN_TYPES)
    assert _anomalies(schema, rows) == {}
