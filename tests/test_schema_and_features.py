"""The feature facts in models/features.py agree with the curated schema."""

import csv

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from models.features import FEATURES, LABEL, Encoding
from pipeline.config import DEFAULT_SCHEMA_PATH
from pipeline.data import packaged_taxi_csv

SCHEMA = tfdv.load_schema_text(str(DEFAULT_SCHEMA_PATH))
BY_NAME = {feature.name: feature for feature in SCHEMA.feature}


def test_schema_describes_every_csv_column():
    with packaged_taxi_csv().open(newline="") as handle:
        header = next(csv.reader(handle))
    assert sorted(BY_NAME) == sorted(header)


def test_every_model_feature_has_a_compatible_type():
    allowed = {
        Encoding.NUMERIC: {schema_pb2.FLOAT, schema_pb2.INT},
        Encoding.VOCABULARY: {schema_pb2.BYTES},
        Encoding.INTEGER_CATEGORY: {schema_pb2.INT},
    }
    for name, feature in FEATURES.items():
        assert name in BY_NAME, name
        assert BY_NAME[name].type in allowed[feature.encoding], name


def test_integer_categories_cover_their_schema_domain():
    for name, feature in FEATURES.items():
        if feature.encoding is Encoding.INTEGER_CATEGORY:
            domain = BY_NAME[name].int_domain
            assert 0 <= domain.min and domain.max < feature.num_values, name


def test_label_comes_from_training_only_columns():
    assert LABEL.key not in BY_NAME  # derived in the Transform graph
    assert LABEL.tips_column not in FEATURES  # the label's source is never an input
    tips = BY_NAME[LABEL.tips_column]
    assert list(tips.not_in_environment) == ["SERVING"]
    assert set(SCHEMA.default_environment) == {"TRAINING", "SERVING"}


def test_curated_constraints_are_present():
    assert set(tfdv.get_domain(SCHEMA, "payment_type").value) >= {"Cash", "Credit Card"}
    assert tfdv.get_domain(SCHEMA, "company").value
    assert (BY_NAME["trip_start_hour"].int_domain.min,
            BY_NAME["trip_start_hour"].int_domain.max) == (0, 23)
    assert all(feature.value_count.max == 1 for feature in SCHEMA.feature)
