"""preprocessing_fn through tf.Transform's Beam implementation: real taxi rows, and small
datasets with string, integer and numeric labels."""

import numpy as np
import pytest
import tensorflow_data_validation as tfdv
import tensorflow_transform.beam as tft_beam
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata

from models.features import (
    REGRESSION,
    Encoding,
    Label,
    bucket_name,
    from_schema,
    transformed_name,
)
from models.preprocessing import INPUTS_KEY, preprocessing_fn
from pipeline.config import DEFAULT_SCHEMA_PATH, TAXI_LABEL, make_config

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


def _transform(tmp_dir, rows, schema, inputs):
    metadata = dataset_metadata.DatasetMetadata(schema)
    with tft_beam.Context(temp_dir=str(tmp_dir)):
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


def test_numeric_features_are_scaled_and_missing_values_get_the_mean(transformed):
    rows, outputs = transformed
    fares = np.array([out[transformed_name("fare")] for out in outputs])
    assert abs(fares.mean()) < 1e-4 and abs(fares.std() - 1) < 1e-2
    missing = [out for row, out in zip(rows, outputs, strict=True)
               if row["dropoff_latitude"] == ""]
    assert missing, "the sample should contain a row without dropoff_latitude"
    for out in missing:
        # The mean of the present values scales to 0.
        assert abs(out[transformed_name("dropoff_latitude")]) < 1e-4
    buckets = {out[bucket_name("fare")] for out in outputs}
    assert buckets <= set(range(TAXI_INPUTS.features["fare"].buckets)) and len(buckets) > 3


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


def test_regression_label_stays_a_number(tmp_path):
    schema = _small_schema(schema_pb2.FLOAT)
    inputs = from_schema(schema, Label("target", REGRESSION))
    rows = [{"size": "1", "target": "151.5"}, {"size": "2", "target": "75.0"}]
    outputs = _transform(tmp_path, rows, schema, inputs)
    assert [out["target"] for out in outputs] == pytest.approx([151.5, 75.0])
    # No quantile buckets for a regression model (models/features.py).
    assert set(outputs[0]) == {"target", transformed_name("size")}


def test_a_column_without_any_value_in_training_does_not_poison_the_features(tmp_path):
    schema = _small_schema(schema_pb2.FLOAT)
    empty = schema.feature.add(name="empty", type=schema_pb2.FLOAT)
    empty.value_count.max = 1
    inputs = from_schema(schema, Label("target", REGRESSION))
    rows = [{"size": str(i), "empty": "", "target": str(i * 2.0)} for i in range(5)]
    outputs = _transform(tmp_path, rows, schema, inputs)
    assert all(np.isfinite(out[transformed_name("empty")]) for out in outputs)
