"""preprocessing_fn through tf.Transform's Beam implementation: real taxi rows, and small
datasets with string, integer and numeric labels."""

from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow_data_validation as tfdv
import tensorflow_transform.beam as tft_beam
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata

from models.features import (
    NUMERIC_BUCKETS_KEY,
    NUMERIC_KEY,
    REGRESSION,
    Encoding,
    Feature,
    Label,
    ModelInputs,
    bucket_offsets,
    from_schema,
    numeric_columns,
    transformed_name,
)
from models.preprocessing import INPUTS_KEY, preprocessing_fn
from pipeline.config import DEFAULT_SCHEMA_PATH, TAXI_LABEL, make_config
from pipeline.definition import tf1_transform_graph

TAXI_INPUTS = make_config().inputs


def _typed(rows, schema):
    """CSV strings -> the instance dicts tf.Transform reads (missing value -> [])."""
    kinds = {feature.name: feature.type for feature in schema.feature}
    cast = {schema_pb2.INT: lambda v: int(float(v)), schema_pb2.FLOAT: float,
            schema_pb2.BYTES: lambda v: v.encode()}
    return [
        {name: [cast[kinds[name]](value)] if value != "" else [] for name, value in row.items()}
        for row in rows
    ]


def _tf1_graph(inputs):
    """Whether the pipeline's Transform runs `preprocessing_fn` for these inputs as a TF1
    graph (pipeline/definition.py, with the TFLite copy at its default, on): so each
    test traces it as a run would, and the TF1 graph, where a run uses it, analyzes in
    about half the time (40 numeric columns: 5 s of CPU against 10.5 s)."""
    return tf1_transform_graph(SimpleNamespace(tflite=True, inputs=inputs))


def _transform(tmp_dir, rows, schema, inputs):
    metadata = dataset_metadata.DatasetMetadata(schema)
    with tft_beam.Context(temp_dir=str(tmp_dir), force_tf_compat_v1=_tf1_graph(inputs)):
        (outputs, _), _ = (_typed(rows, schema), metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda columns: preprocessing_fn(columns, {INPUTS_KEY: inputs.to_json()}))
    return outputs


@pytest.fixture(scope="module")
def transformed(tmp_path_factory, taxi_rows):
    schema = tfdv.load_schema_text(str(DEFAULT_SCHEMA_PATH))
    return taxi_rows, _transform(tmp_path_factory.mktemp("tft"), taxi_rows, schema, TAXI_INPUTS)


def test_label_is_big_tipper(transformed):
    rows, outputs = transformed
    ratio = TAXI_LABEL.ratio
    for row, out in zip(rows, outputs, strict=True):
        expected = float(row[ratio.numerator]) > ratio.threshold * float(row[ratio.denominator])
        assert out[TAXI_LABEL.name] == int(expected)
    assert {out[TAXI_LABEL.name] for out in outputs} == {0, 1}


def _column(outputs, key, inputs, name):
    """Column `name` of the numeric matrix `key`, one value per row."""
    index = numeric_columns(inputs.features).index(name)
    return np.array([out[key][index] for out in outputs])


def test_numeric_features_are_scaled_and_missing_values_get_the_mean(transformed):
    rows, outputs = transformed
    numeric = numeric_columns(TAXI_INPUTS.features)
    assert np.shape(outputs[0][NUMERIC_KEY]) == (len(numeric),)
    fares = _column(outputs, NUMERIC_KEY, TAXI_INPUTS, "fare")
    assert abs(fares.mean()) < 1e-4 and abs(fares.std() - 1) < 1e-2
    # The matrix's columns are the numeric columns in order: fare's is not another's.
    miles = _column(outputs, NUMERIC_KEY, TAXI_INPUTS, "trip_miles")
    raw = np.array([float(row["fare"]) for row in rows])
    assert np.corrcoef(fares, raw)[0, 1] > 0.999 and not np.allclose(fares, miles)
    missing = [index for index, row in enumerate(rows) if row["dropoff_latitude"] == ""]
    assert missing, "the sample should contain a row without dropoff_latitude"
    latitudes = _column(outputs, NUMERIC_KEY, TAXI_INPUTS, "dropoff_latitude")
    # The mean of the present values scales to 0.
    assert (abs(latitudes[missing]) < 1e-4).all()
    offsets, _ = bucket_offsets(TAXI_INPUTS.features)
    count = TAXI_INPUTS.features["fare"].buckets
    offset = offsets[numeric.index("fare")]
    buckets = set(_column(outputs, NUMERIC_BUCKETS_KEY, TAXI_INPUTS, "fare"))
    assert buckets <= set(range(offset, offset + count)) and len(buckets) > 3
    # Buckets follow the value: a larger fare never gets a smaller bucket.
    ids = _column(outputs, NUMERIC_BUCKETS_KEY, TAXI_INPUTS, "fare")
    assert (np.diff(ids[np.argsort(raw, kind="stable")]) >= 0).all()


def test_strings_get_vocabulary_indices_by_frequency(transformed):
    rows, outputs = transformed
    index = {}
    for row, out in zip(rows, outputs, strict=True):
        index.setdefault(row["payment_type"], set()).add(out[transformed_name("payment_type")])
    assert all(len(values) == 1 for values in index.values())
    most_common = max(index, key=lambda value: sum(r["payment_type"] == value for r in rows))
    assert index[most_common] == {0}


def test_integer_categories_map_missing_to_the_extra_category(transformed):
    rows, outputs = transformed
    feature = TAXI_INPUTS.features["dropoff_community_area"]
    assert feature.encoding is Encoding.INTEGER_CATEGORY
    for row, out in zip(rows, outputs, strict=True):
        value = out[transformed_name("dropoff_community_area")]
        if row["dropoff_community_area"] == "":
            assert value == feature.num_values
        else:
            assert value == int(float(row["dropoff_community_area"]))
    assert not {"tips", transformed_name("tips")} & set(outputs[0])


def _small_schema(label_type, label_domain=()):
    schema = schema_pb2.Schema()
    size = schema.feature.add(name="size", type=schema_pb2.FLOAT)
    size.value_count.max = 1
    label = schema.feature.add(name="target", type=label_type)
    label.value_count.max = 1
    if label_type == schema_pb2.BYTES:
        label.string_domain.value.extend(label_domain)
    elif label_domain:
        label.int_domain.min, label.int_domain.max = label_domain
    return schema


@pytest.mark.parametrize(("label_type", "domain", "values", "expected"), [
    # String classes map to their index in sorted order, whatever their frequency.
    (schema_pb2.BYTES, ("malignant", "benign"), ["malignant", "benign", "benign"], [1, 0, 0]),
    # Integer classes map to their position in the int_domain (here 1..3).
    (schema_pb2.INT, (1, 3), ["3", "1", "2"], [2, 0, 1]),
])
def test_class_labels_map_to_indices_in_the_transform_graph(
        tmp_path, label_type, domain, values, expected):
    schema = _small_schema(label_type, domain)
    inputs = from_schema(schema, Label("target"))
    rows = [{"size": str(i), "target": value} for i, value in enumerate(values)]
    outputs = _transform(tmp_path, rows, schema, inputs)
    assert [out["target"] for out in outputs] == expected


@pytest.fixture(scope="module")
def regression_with_an_empty_column(tmp_path_factory):
    """A regression dataset with a column that has no value in any training row: one
    tf.Transform run read by the two tests below."""
    schema = _small_schema(schema_pb2.FLOAT)
    empty = schema.feature.add(name="empty", type=schema_pb2.FLOAT)
    empty.value_count.max = 1
    inputs = from_schema(schema, Label("target", REGRESSION))
    rows = [{"size": "1", "empty": "", "target": "151.5"},
            {"size": "2", "empty": "", "target": "75.0"},
            {"size": "4", "empty": "", "target": "20.25"}]
    return inputs, _transform(tmp_path_factory.mktemp("tft"), rows, schema, inputs)


def test_regression_label_stays_a_number(regression_with_an_empty_column):
    _, outputs = regression_with_an_empty_column
    assert [out["target"] for out in outputs] == pytest.approx([151.5, 75.0, 20.25])
    # No quantile buckets for a regression model (models/features.py).
    assert set(outputs[0]) == {"target", NUMERIC_KEY}


def test_a_column_without_any_value_in_training_does_not_poison_the_features(
        regression_with_an_empty_column):
    inputs, outputs = regression_with_an_empty_column
    assert set(numeric_columns(inputs.features)) == {"size", "empty"}
    assert all(np.isfinite(out[NUMERIC_KEY]).all() for out in outputs)
    # The column with values is still scaled as its own (it did not become NaN or 0).
    sizes = _column(outputs, NUMERIC_KEY, inputs, "size")
    assert np.allclose(sizes, (np.array([1, 2, 4]) - 7 / 3) / np.std([1, 2, 4]), atol=1e-4)


def test_wide_numeric_columns_each_get_their_own_column_and_buckets(tmp_path):
    """40 columns, integer and float, each optional with gaps in different rows, and a
    column that is never missing: column j of both matrices is column j's own encoding,
    whatever order sparse and dense columns came in. (120 columns cost this test 19 s
    against 9 s for 40 and guard nothing more: the graph is built the same way for any
    width; bench/WIDE.md measures width.)"""
    columns = 40
    schema = schema_pb2.Schema()
    names = [f"x{index:03d}" for index in range(columns)]
    for index, name in enumerate(names):
        feature = schema.feature.add(
            name=name, type=schema_pb2.INT if index % 3 == 0 else schema_pb2.FLOAT)
        feature.value_count.max = 1
        if index == 7:  # required: a dense column among the optional (sparse) ones
            feature.shape.dim.add().size = 1
            feature.presence.min_fraction = 1.0
    label = schema.feature.add(name="target", type=schema_pb2.INT)
    label.value_count.max = 1
    label.int_domain.min, label.int_domain.max = 0, 1
    rng = np.random.default_rng(0)
    values = rng.integers(-50, 50, size=(40, columns)) * (1 + np.arange(columns))
    rows = [{**{name: "" if (r + j) % 11 == 0 and j != 7 else str(values[r, j])
                for j, name in enumerate(names)}, "target": str(r % 2)} for r in range(40)]
    inputs = ModelInputs({name: Feature(Encoding.NUMERIC, buckets=4) for name in names},
                         Label("target", classes=("0", "1")))
    outputs = _transform(tmp_path, rows, schema, inputs)
    assert set(outputs[0]) == {NUMERIC_KEY, NUMERIC_BUCKETS_KEY, "target"}
    offsets, total = bucket_offsets(inputs.features)
    assert total == 4 * columns
    for j, name in enumerate(names):
        present = np.array([row[name] != "" for row in rows])
        raw = values[present, j].astype(float)
        # Missing values get the mean of the present ones, then all are z-scored.
        filled = np.where(present, values[:, j], raw.mean())
        scaled = _column(outputs, NUMERIC_KEY, inputs, name)
        assert np.allclose(scaled, (filled - filled.mean()) / filled.std(), atol=1e-4), name
        ids = _column(outputs, NUMERIC_BUCKETS_KEY, inputs, name)
        assert set(ids) <= set(range(offsets[j], offsets[j] + 4)), name
        order = np.argsort(raw, kind="stable")
        assert (np.diff(ids[present][order]) >= 0).all(), name


def test_bucket_ids_equal_tft_bucketize_elementwise(tmp_path):
    """models.preprocessing._bucketize gives tft.bucketize's elementwise buckets, with
    ties, a constant column and a value above every boundary in the data."""
    import tensorflow as tf
    import tensorflow_transform as tft

    from models.preprocessing import _bucketize

    rng = np.random.default_rng(1)
    matrix = np.column_stack([
        rng.normal(size=200), np.round(rng.exponential(size=200)), np.full(200, 3.0),
        rng.integers(0, 5, size=200).astype(float)]).astype("float32")
    schema = schema_pb2.Schema()
    feature = schema.feature.add(name="m", type=schema_pb2.FLOAT)
    feature.shape.dim.add().size = 4
    feature.presence.min_fraction = 1.0

    def fn(inputs):
        x = tf.reshape(inputs["m"], [-1, 4])
        return {"ours": _bucketize(x, 10), "tft": tft.bucketize(x, 10, elementwise=True)}

    metadata = dataset_metadata.DatasetMetadata(schema)
    # Numeric columns alone: a run traces them as a TF1 graph (`_tf1_graph`).
    with tft_beam.Context(temp_dir=str(tmp_path), force_tf_compat_v1=True):
        (outputs, _), _ = ([{"m": row} for row in matrix], metadata) \
            | tft_beam.AnalyzeAndTransformDataset(fn)
    ours = np.array([out["ours"] for out in outputs])
    theirs = np.array([out["tft"] for out in outputs])
    assert np.array_equal(ours, theirs)
    assert len(set(ours[:, 0])) == 10 and set(ours[:, 2]) <= {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}


def test_vocabulary_ids_equal_compute_and_apply_vocabulary_with_one_oov_bucket(tmp_path):
    """models.preprocessing._vocabulary_ids gives the ids tft.compute_and_apply_vocabulary
    with one out-of-vocabulary bucket gives the densified column: the vocabulary's
    strings by frequency, strings cut by top_k and missing values all in the bucket
    after the vocabulary (the TFLite-friendly lookup computes what the old one did)."""
    import tensorflow_transform as tft

    from models.preprocessing import _to_dense, _vocabulary_ids

    schema = schema_pb2.Schema()
    feature = schema.feature.add(name="s", type=schema_pb2.BYTES)
    feature.value_count.max = 1
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + [""] * 3

    def fn(inputs):
        column = inputs["s"]
        return {
            "ours": tft.apply_vocabulary(
                column, tft.vocabulary(column, top_k=2, vocab_filename="ours"),
                lookup_fn=_vocabulary_ids),
            "tft": tft.compute_and_apply_vocabulary(
                _to_dense(column, ""), top_k=2, num_oov_buckets=1, vocab_filename="tft"),
        }

    rows = [{"s": [value.encode()] if value else []} for value in values]
    metadata = dataset_metadata.DatasetMetadata(schema)
    # A vocabulary: a run traces it as a TF2 function (`_tf1_graph`).
    with tft_beam.Context(temp_dir=str(tmp_path), force_tf_compat_v1=False):
        (outputs, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
    ours = [out["ours"] for out in outputs]
    assert ours == [out["tft"] for out in outputs]
    # a and b are the vocabulary; c, d (cut by top_k) and missing values share id 2.
    assert ours == [0] * 5 + [1] * 4 + [2] * 8
