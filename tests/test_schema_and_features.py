"""Model inputs derived from a schema (models/features.py), and the taxi configuration
that the curated schema gives."""

import csv
import dataclasses

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from models.features import (
    REGRESSION,
    Encoding,
    Feature,
    Label,
    ModelInputs,
    SchemaError,
    from_schema,
)
from pipeline.config import DEFAULT_SCHEMA_PATH, TAXI_LABEL, make_config
from pipeline.data import packaged_taxi_csv

SCHEMA = tfdv.load_schema_text(str(DEFAULT_SCHEMA_PATH))
BY_NAME = {feature.name: feature for feature in SCHEMA.feature}
TAXI_INPUTS = make_config().inputs


def _schema(**columns) -> schema_pb2.Schema:
    """A schema of `name=type` columns; an int given as (min, max) gets that int_domain,
    a BYTES column given as a tuple of strings gets that string domain."""
    schema = schema_pb2.Schema()
    for name, kind in columns.items():
        feature = schema.feature.add(name=name)
        if isinstance(kind, tuple) and isinstance(kind[0], int):
            feature.type = schema_pb2.INT
            feature.int_domain.min, feature.int_domain.max = kind
        elif isinstance(kind, tuple):
            feature.type = schema_pb2.BYTES
            feature.string_domain.value.extend(kind)
        else:
            feature.type = kind
    return schema


def test_encodings_follow_the_schema_types_and_domains():
    schema = _schema(size=schema_pb2.FLOAT, city=schema_pb2.BYTES, hour=(0, 23),
                     year=(1990, 2030), count=schema_pb2.INT, empty=schema_pb2.TYPE_UNKNOWN,
                     target=("no", "yes"))
    inputs = from_schema(schema, Label("target"))
    encodings = {name: feature.encoding for name, feature in inputs.features.items()}
    assert encodings == {"size": Encoding.NUMERIC, "city": Encoding.VOCABULARY,
                         "hour": Encoding.INTEGER_CATEGORY, "year": Encoding.NUMERIC,
                         "count": Encoding.NUMERIC}
    assert inputs.features["hour"].num_values == 24
    assert inputs.features["size"].buckets > 0
    assert inputs.label.classes == ("no", "yes")


def test_label_classes_come_sorted_from_the_schema_domain():
    string_label = from_schema(_schema(x=schema_pb2.FLOAT, y=("virginica", "setosa", "versicolor")),
                               Label("y"))
    assert string_label.label.classes == ("setosa", "versicolor", "virginica")
    int_label = from_schema(_schema(x=schema_pb2.FLOAT, y=(1, 3)), Label("y"))
    assert int_label.label.classes == ("1", "2", "3")


def test_excluded_and_label_columns_are_not_features():
    schema = _schema(id=schema_pb2.INT, x=schema_pb2.FLOAT, y=schema_pb2.FLOAT)
    inputs = from_schema(schema, Label("y", REGRESSION), excluded=["id"])
    assert list(inputs.features) == ["x"]


@pytest.mark.parametrize(("schema", "label", "message"), [
    (_schema(x=schema_pb2.FLOAT), Label("y"), "no column 'y'"),
    (_schema(y=("a", "b")), Label("y"), "no usable features"),
    (_schema(x=schema_pb2.FLOAT, y=("a",)), Label("y"), "single class"),
    (_schema(x=schema_pb2.FLOAT, y=schema_pb2.BYTES), Label("y"), "no string domain"),
    (_schema(x=schema_pb2.FLOAT, y=schema_pb2.INT), Label("y"), "no int_domain"),
    (_schema(x=schema_pb2.FLOAT, y=schema_pb2.FLOAT), Label("y"), "decimal numbers"),
    (_schema(x=schema_pb2.FLOAT, y=("a", "b")), Label("y", REGRESSION), "not numeric"),
])
def test_unusable_schemas_and_labels_are_refused_in_one_sentence(schema, label, message):
    with pytest.raises(SchemaError, match=message) as error:
        from_schema(schema, label)
    assert "\n" not in str(error.value)


def test_model_inputs_survive_the_json_in_custom_config():
    assert ModelInputs.from_json(TAXI_INPUTS.to_json()) == TAXI_INPUTS
    regression = dataclasses.replace(TAXI_INPUTS, label=Label("tips", REGRESSION))
    assert ModelInputs.from_json(regression.to_json()) == regression


def test_schema_describes_every_taxi_csv_column():
    with packaged_taxi_csv().open(newline="") as handle:
        header = next(csv.reader(handle))
    assert sorted(BY_NAME) == sorted(header)


def test_taxi_inputs_derived_from_the_curated_schema():
    features = TAXI_INPUTS.features
    assert features["fare"] == Feature(Encoding.NUMERIC, buckets=10)
    assert features["payment_type"].encoding is Encoding.VOCABULARY
    assert features["trip_start_hour"] == Feature(Encoding.INTEGER_CATEGORY, num_values=24)
    assert features["pickup_community_area"].num_values == 78
    # A timestamp is an unbounded int: numeric.
    assert features["trip_start_timestamp"].encoding is Encoding.NUMERIC
    # The label's source is never an input; the almost always empty tracts are excluded.
    assert not {"tips", "pickup_census_tract", "dropoff_census_tract"} & set(features)
    assert TAXI_INPUTS.label == TAXI_LABEL


def test_label_comes_from_training_only_columns():
    assert TAXI_LABEL.name not in BY_NAME  # derived in the Transform graph
    tips = BY_NAME[TAXI_LABEL.ratio.numerator]
    assert list(tips.not_in_environment) == ["SERVING"]
    assert set(SCHEMA.default_environment) == {"TRAINING", "SERVING"}


def test_curated_constraints_are_present():
    assert set(tfdv.get_domain(SCHEMA, "payment_type").value) >= {"Cash", "Credit Card"}
    assert tfdv.get_domain(SCHEMA, "company").value
    assert (BY_NAME["trip_start_hour"].int_domain.min,
            BY_NAME["trip_start_hour"].int_domain.max) == (0, 23)
    assert all(feature.value_count.max == 1 for feature in SCHEMA.feature)
