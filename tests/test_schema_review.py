"""Where the latest data does not meet the curated schema, and taking what it needs
into the curated file: with the curated taxi schema and statistics of the taxi data
computed the way the pipeline sees it."""

import csv

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.config import DEFAULT_SCHEMA_PATH
from pipeline.data import packaged_taxi_csv
from pipeline.schema_file import load_schema
from pipeline.schema_review import anomalies, diff, update, write_curated

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


@pytest.fixture(scope="module")
def taxi():
    """3,000 packaged taxi rows (dicts of strings) and the curated schema."""
    with packaged_taxi_csv().open(newline="") as source:
        return list(csv.DictReader(source))[:3000], load_schema(DEFAULT_SCHEMA_PATH)


def _statistics(rows, kinds):
    """TFDV statistics of CSV rows as the pipeline computes them: CsvExampleGen stores
    an empty cell as a feature with no values; a column's type is `kinds` (schema
    types). Two splits, as StatisticsGen writes them."""
    import pyarrow as pa
    from tensorflow_data_validation.statistics import stats_impl

    convert = {schema_pb2.INT: (lambda value: int(float(value)), pa.int64()),
               schema_pb2.FLOAT: (float, pa.float32()),
               schema_pb2.BYTES: (str.encode, pa.binary())}
    columns = []
    for name in rows[0]:
        parse, kind = convert[kinds.get(name, schema_pb2.BYTES)]
        columns.append(pa.array([[parse(row[name])] if row[name] != "" else []
                                 for row in rows], type=pa.list_(kind)))
    batch = pa.RecordBatch.from_arrays(columns, list(rows[0]))
    return {"train": stats_impl.generate_statistics_in_memory(batch[: len(rows) * 4 // 5]),
            "eval": stats_impl.generate_statistics_in_memory(batch[len(rows) * 4 // 5:])}


def _inferred(statistics):
    """The schema SchemaGen infers from these statistics."""
    import tensorflow_data_validation as tfdv

    schema = tfdv.infer_schema(statistics["train"], infer_feature_shape=False)
    return tfdv.update_schema(schema, statistics["eval"])


def _changed(taxi, change, kinds=None):
    """The taxi rows with `change(row, index)` applied, and their statistics."""
    rows, curated = taxi
    changed = [change(dict(row), index) for index, row in enumerate(rows)]
    types = {feature.name: feature.type for feature in curated.feature}
    statistics = _statistics(changed, {**types, **(kinds or {})})
    return statistics, _inferred(statistics)


def _set(name, value, every=1):
    def change(row, index):
        if index % every == 0:
            row[name] = value
        return row
    return change


def _without(schema, name):
    """The schema without feature `name`'s definition (and its string domain)."""
    result = schema_pb2.Schema()
    result.CopyFrom(schema)
    index = [f.name for f in result.feature].index(name)
    del result.feature[index]
    result.ClearField("string_domain")
    result.string_domain.extend(d for d in schema.string_domain if d.name != name)
    return result


def test_unchanged_data_has_no_differences_from_curation(taxi):
    curated = taxi[1]
    statistics, inferred = _changed(taxi, lambda row, index: row)
    # The inferred schema lacks every range, environment and domain mass the curated
    # one has; none of that changes validation, so none of it is a difference.
    assert inferred != curated
    assert diff(curated, statistics, inferred) == {}
    assert update(curated, inferred, statistics, None) == curated


def test_a_new_category_is_reported_and_merged_keeping_curation(taxi):
    curated = taxi[1]
    statistics, inferred = _changed(taxi, _set("payment_type", "Mobile", every=4))
    changes = diff(curated, statistics, inferred)
    assert list(changes) == ["payment_type"]
    [found] = changes["payment_type"]["anomalies"]
    assert found["type"] == "ENUM_TYPE_UNEXPECTED_STRING_VALUES"
    assert found["splits"] == ["train", "eval"] and "Mobile" in found["description"]
    assert changes["payment_type"]["changes"] == ["+domain value: 'Mobile'"]

    updated = update(curated, inferred, statistics, ["payment_type"])
    assert anomalies(updated, statistics) == {}
    domains = {d.name: list(d.value) for d in updated.string_domain}
    assert domains["payment_type"] == [*next(
        d.value for d in curated.string_domain if d.name == "payment_type"), "Mobile"]
    # Everything else stays curated: environments, ranges, presence, company's domain.
    assert _without(updated, "payment_type") == _without(curated, "payment_type")
    assert list(updated.default_environment) == ["TRAINING", "SERVING"]
    tips = next(f for f in updated.feature if f.name == "tips")
    assert list(tips.not_in_environment) == ["SERVING"]


@pytest.mark.parametrize("name, change, kinds, check", [
    ("trip_start_hour", _set("trip_start_hour", "30", every=7), None,
     lambda feature, domains: (feature.int_domain.min, feature.int_domain.max) == (0, 30)),
    ("fare", _set("fare", "n/a", every=2), {"fare": schema_pb2.BYTES},
     lambda feature, domains: feature.type == schema_pb2.BYTES
     and not feature.HasField("float_domain") and feature.presence.min_fraction == 1.0),
    ("company", lambda row, index: {k: v for k, v in row.items() if k != "company"}, None,
     lambda feature, domains: feature is None and "company" not in domains),
    ("driver_rating", lambda row, index: {**row, "driver_rating": str(index % 5)},
     {"driver_rating": schema_pb2.INT},
     lambda feature, domains: feature.type == schema_pb2.INT
     and feature.presence.min_fraction == 1.0),
    ("trip_miles", _set("trip_miles", "", every=3), None,
     lambda feature, domains: feature.value_count.min == 0
     and feature.float_domain.HasField("min")),
], ids=["out of range", "type change", "missing column", "new column", "now optional"])
def test_update_merges_what_the_data_needs(taxi, name, change, kinds, check):
    curated = taxi[1]
    statistics, inferred = _changed(taxi, change, kinds)
    changes = diff(curated, statistics, inferred)
    assert list(changes) == [name] and changes[name]["changes"]
    updated = update(curated, inferred, statistics, [name])
    assert anomalies(updated, statistics) == {}  # the next run passes the gate
    feature = next((f for f in updated.feature if f.name == name), None)
    assert check(feature, {d.name for d in updated.string_domain})
    others = [f for f in updated.feature if f.name != name]
    assert others == [f for f in curated.feature if f.name != name]
    assert list(updated.default_environment) == ["TRAINING", "SERVING"]


def test_update_only_what_is_asked(taxi):
    curated = taxi[1]
    statistics, inferred = _changed(taxi, lambda row, index: {
        **_set("payment_type", "Mobile", every=4)(row, index), "trip_start_hour": "30"})
    assert set(diff(curated, statistics, inferred)) == {"payment_type", "trip_start_hour"}
    updated = update(curated, inferred, statistics, ["trip_start_hour"])
    assert set(anomalies(updated, statistics)) == {"payment_type"}
    assert set(anomalies(update(curated, inferred, statistics, None), statistics)) == set()


def test_replace_takes_the_inferred_definition(taxi):
    curated = taxi[1]
    statistics, inferred = _changed(taxi, _set("trip_start_hour", "30", every=7))
    updated = update(curated, inferred, statistics, ["trip_start_hour"], replace=True)
    feature = next(f for f in updated.feature if f.name == "trip_start_hour")
    assert feature == next(f for f in inferred.feature if f.name == "trip_start_hour")
    assert not feature.HasField("int_domain")  # the curated range is gone
    assert update(curated, inferred, statistics, None, replace=True) == inferred


def test_replace_with_hand_made_schemas():
    curated, inferred = _schema(CURATED), _schema(INFERRED)
    updated = update(curated, inferred, {}, ["payment_type", "old_column", "new_column"],
                     replace=True)
    names = [f.name for f in updated.feature]
    assert names == ["fare", "payment_type", "new_column"]
    assert next(f for f in updated.feature if f.name == "fare").type == schema_pb2.FLOAT
    domains = {d.name: list(d.value) for d in updated.string_domain}
    assert domains == {"payment_type": ["Bitcoin", "Cash", "Credit Card"]}
    assert list(updated.default_environment) == ["TRAINING"]  # the rest stays curated
    assert [f.name for f in curated.feature] == ["fare", "payment_type", "old_column"]


def test_unknown_features_are_refused():
    with pytest.raises(KeyError, match="nope"):
        update(_schema(CURATED), _schema(INFERRED), {}, ["nope"])


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
    from pipeline.schema_file import load_schema
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


def test_first_statistics_infer_the_schema_of_the_examples(tmp_path):
    """The first run's statistics, made without building examples, infer the schema
    TFDV infers from the examples CsvExampleGen makes (feature order included)."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from tfx_bsl.public import tfxio

    from pipeline.example_gen import Executor
    from pipeline.schema_review import example_statistics

    rows = _churn_rows(300, empty_every=7)
    _write_csv(tmp_path / "data.csv", rows)
    with (tmp_path / "data.csv").open("a") as handle:
        handle.write("5,99999999999999999999,basic,no\n")  # an integer beyond int64
    output = str(tmp_path / "examples.stats")
    with beam.Pipeline() as pipeline:
        _ = (pipeline
             | Executor().GetInputSourceToExamplePTransform()(
                 {"input_base": str(tmp_path)}, "*.csv")
             | tfxio.TFExampleBeamRecord(physical_format="inmem").BeamSource()
             | tfdv.GenerateStatistics(tfdv.StatsOptions())
             | tfdv.WriteStatisticsToBinaryFile(output))
    of_examples = tfdv.infer_schema(tfdv.load_stats_binary(output), infer_feature_shape=False)

    ours = example_statistics(tmp_path)

    assert ours.datasets[0].num_examples == len(rows) + 1
    assert tfdv.infer_schema(ours, infer_feature_shape=False) == of_examples


def test_first_schema_of_a_file_with_a_byte_order_mark(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark; the first column keeps its
    name in the schema (as in the examples CsvExampleGen makes: test_example_gen.py)."""
    from models.features import Label
    from pipeline.schema_file import load_schema
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


def _without_sketch_output(statistics):
    """A copy of `statistics` without what TFDV derives from its quantile sketches:
    the median, the numeric histograms and the value-count histograms."""
    result = type(statistics)()
    result.CopyFrom(statistics)
    for dataset in result.datasets:
        for feature in dataset.features:
            kind = feature.WhichOneof("stats")
            getattr(feature, kind).common_stats.ClearField("num_values_histogram")
            if kind == "num_stats":
                feature.num_stats.ClearField("median")
                feature.num_stats.ClearField("histograms")
    return result


def test_first_statistics_are_the_defaults_without_the_quantile_sketches(tmp_path,
                                                                         monkeypatch):
    """The first run's statistics (`inference_options`) hold every statistic of TFDV's
    defaults but the sketches' output (string top values and uniques, rank
    histograms, presence, value counts, min/max/mean of a spreadsheet-like CSV with a
    byte-order mark, empty cells, small integers, an ID column and a string label),
    and `bootstrap` writes the same schema, byte for byte, from either."""
    import tensorflow_data_validation as tfdv

    from models.features import Label
    from pipeline import schema_review

    rows = ["age,plan,score,customer_id,churned"] + [
        f"{'' if i % 11 == 0 else i % 37},{'' if i % 13 == 0 else 'abc'[i % 3]},"
        f"{i * 0.37 - 5:.2f},C{1000 + i},{'yes' if i % 4 else 'no'}" for i in range(150)]
    data = tmp_path / "data"
    data.mkdir()
    (data / "data.csv").write_text("\ufeff" + "\r\n".join(rows) + "\r\n", newline="")

    ours = schema_review.example_statistics(data)
    defaults = schema_review.example_statistics(data, tfdv.StatsOptions())
    assert _without_sketch_output(ours) == _without_sketch_output(defaults)
    # The sketches are off (what makes the inference cheaper), and the comparison
    # above is not vacuous: the defaults' statistics have string top values.
    features = {f.path.step[0]: f for f in ours.datasets[0].features}
    assert not any(f.num_stats.histograms for f in features.values())
    assert len(features["plan"].string_stats.top_values) == 3
    assert features["customer_id"].string_stats.unique == 150

    bootstrap = schema_review.bootstrap
    bootstrap([data / "data.csv"], Label("churned"), tmp_path / "ours.pbtxt")
    monkeypatch.setattr(schema_review, "inference_options", tfdv.StatsOptions)
    bootstrap([data / "data.csv"], Label("churned"), tmp_path / "defaults.pbtxt")
    assert (tmp_path / "ours.pbtxt").read_bytes() == (tmp_path / "defaults.pbtxt").read_bytes()


def _schema_update(taxi, tmp_path, monkeypatch, *flags):
    """`schema-update FLAGS` against a copy of the curated taxi schema and taxi data
    with a new payment type: the exit code, the output, the copy's text before."""
    import io
    from types import SimpleNamespace

    from pipeline import cli, schema_cli

    statistics, inferred = _changed(taxi, _set("payment_type", "Mobile", every=4))
    path = tmp_path / "schema.pbtxt"
    path.write_text(DEFAULT_SCHEMA_PATH.read_text())
    monkeypatch.setattr(schema_cli, "_schema_review", lambda args, err: {
        "cfg": SimpleNamespace(locations=SimpleNamespace(schema_path=path, output_dir=tmp_path)),
        "curated": taxi[1],
        "inferred": inferred, "inferred_path": "inferred.pbtxt", "statistics": statistics,
        "statistics_uri": "statistics"})
    out, err = io.StringIO(), io.StringIO()
    code = schema_cli.main(cli._parser().parse_args(["schema-update", *flags]), out, err)
    return code, out.getvalue() + err.getvalue(), path


def test_dry_run_prints_the_change_and_writes_nothing(taxi, tmp_path, monkeypatch):
    code, output, path = _schema_update(taxi, tmp_path, monkeypatch,
                                        "--feature", "payment_type", "--dry-run")
    assert code == 0, output
    assert path.read_text() == DEFAULT_SCHEMA_PATH.read_text()
    assert list(tmp_path.iterdir()) == [path]
    added = [line for line in output.splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    assert added == ['+  value: "Mobile"']
    assert not any(line.startswith("-") and not line.startswith("---")
                   for line in output.splitlines())
    assert f"dry run: nothing written to {path}" in output


def test_update_writes_the_merge(taxi, tmp_path, monkeypatch):
    code, output, path = _schema_update(taxi, tmp_path, monkeypatch, "--all")
    assert code == 0, output
    written = path.read_text()
    assert written.startswith("# Curated schema")  # the file's comment block stays
    statistics, inferred = _changed(taxi, _set("payment_type", "Mobile", every=4))
    assert load_schema(path) == update(taxi[1], inferred, statistics, ["payment_type"])
    code, output, path = _schema_update(taxi, tmp_path, monkeypatch, "--feature", "fare")
    assert "no change" in output and path.read_text() == DEFAULT_SCHEMA_PATH.read_text()
