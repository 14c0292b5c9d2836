"""preprocessing_fn on real taxi rows through tf.Transform's Beam implementation."""

import numpy as np
import pytest
import tensorflow_data_validation as tfdv
import tensorflow_transform.beam as tft_beam
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata

from models.features import FEATURES, LABEL, Encoding, bucket_name, transformed_name
from models.preprocessing import preprocessing_fn
from pipeline.config import DEFAULT_SCHEMA_PATH


def _typed(rows, schema):
    """CSV strings -> the instance dicts tf.Transform reads (missing value -> [])."""
    kinds = {feature.name: feature.type for feature in schema.feature}
    cast = {schema_pb2.INT: lambda v: int(float(v)), schema_pb2.FLOAT: float,
            schema_pb2.BYTES: lambda v: v.encode()}
    return [
        {name: [cast[kinds[name]](value)] if value != "" else [] for name, value in row.items()}
        for row in rows
    ]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory, taxi_rows):
    rows = taxi_rows
    schema = tfdv.load_schema_text(str(DEFAULT_SCHEMA_PATH))
    metadata = dataset_metadata.DatasetMetadata(schema)
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        (outputs, _), _ = (_typed(rows, schema), metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing_fn)
    return rows, outputs


def test_label_is_big_tipper(transformed):
    rows, outputs = transformed
    for row, out in zip(rows, outputs, strict=True):
        expected = float(row["tips"]) > LABEL.tip_fraction * float(row["fare"])
        assert out[LABEL.key] == int(expected)
    assert {out[LABEL.key] for out in outputs} == {0, 1}


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
    assert buckets <= set(range(FEATURES["fare"].buckets)) and len(buckets) > 3


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
    size = FEATURES["dropoff_community_area"].num_values
    assert FEATURES["dropoff_community_area"].encoding is Encoding.INTEGER_CATEGORY
    for row, out in zip(rows, outputs, strict=True):
        value = out[transformed_name("dropoff_community_area")]
        if row["dropoff_community_area"] == "":
            assert value == size
        else:
            assert value == int(float(row["dropoff_community_area"]))
    assert not {LABEL.tips_column, transformed_name(LABEL.tips_column)} & set(outputs[0])
