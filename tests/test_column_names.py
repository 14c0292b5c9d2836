"""Column names as real CSV files have them: the model input name each column gets
(models.signatures.input_name), and the header check that refuses duplicates and
collisions before anything runs (pipeline/data.py)."""

import re

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from models.features import NUMERIC_KEY, Label, SchemaError, from_schema, transformed_name
from models.signatures import input_name
from pipeline import data
from pipeline.config import make_config

# What TensorFlow keeps unchanged as a signature input name (see models/signatures.py).
TF_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

ODD_NAMES = {
    "sepal length (cm)": "sepal_length_cm",
    "Customer ID": "Customer_ID",
    "2nd-plan": "col_2nd_plan",
    "plan.tier": "plan_tier",
    "od280/od315 of diluted wines": "od280_od315_of_diluted_wines",
    "Région": "Region",
    "Größe": "Grosse",
    "naïve_score": "naive_score",
    "地区": "u5730_u533a",
    "城市 2": "u57ce_u5e02_2",
    "_id": "id",
    "% margin": "margin",
    "(total)": "total",
    "42": "col_42",
    "?": "col",
}


@pytest.mark.parametrize(("column", "expected"), sorted(ODD_NAMES.items()))
def test_odd_column_names_get_documented_input_names(column, expected):
    assert input_name(column) == expected
    assert TF_NAME.fullmatch(expected)
    # A name already safe is its own input name, so the mapping is stable.
    assert input_name(expected) == expected


def test_safe_names_and_every_taxi_column_keep_their_name():
    for column in ("fare", "trip_start_hour", "x", "A1", "big_tipper", "a__b_"):
        assert input_name(column) == column
    features = make_config().inputs.features
    assert all(input_name(column) == column for column in features)
    assert transformed_name("fare") == "fare_xf"


def test_tensorflow_keeps_the_input_names_as_signature_inputs(tmp_path):
    import tensorflow as tf

    names = [input_name(column) for column in ODD_NAMES]

    class Module(tf.Module):
        @tf.function(input_signature=[{name: tf.TensorSpec([None], tf.float32, name=name)
                                       for name in names}])
        def serve(self, features):
            return {"probability": tf.add_n(list(features.values()))}

    module = Module()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    loaded = tf.saved_model.load(str(tmp_path))
    _, keywords = loaded.signatures["serving_default"].structured_input_signature
    assert sorted(keywords) == sorted(names)


def _csv(tmp_path, header: str):
    path = tmp_path / "data.csv"
    path.write_text(f"{header}\n" + ",".join("1" for _ in header.split(",")) + "\n",
                    encoding="utf-8")
    return path


def test_a_header_of_odd_names_passes_the_data_check(tmp_path):
    _csv(tmp_path, ",".join(ODD_NAMES))
    assert data.check_data_dir(tmp_path) == ()


def test_a_quoted_header_passes_the_data_check(tmp_path):
    """R's write.csv quotes every name (pipeline/example_gen.py takes the quotes off)."""
    _csv(tmp_path, ",".join(f'"{name}"' for name in ODD_NAMES))
    assert data.check_data_dir(tmp_path) == ()


@pytest.mark.parametrize(("header", "words"), [
    ("id,Customer ID,id", ["two columns named 'id'", "columns 1 and 3"]),
    ("sepal length,sepal_length", ["'sepal length' and 'sepal_length'",
                                   "model input 'sepal_length'", "rename one"]),
    ("Région,Region", ["'Région' and 'Region'", "'Region'"]),
    ("x,,y", ["column 2", "no name"]),
    ('"Sepal.Length","a, b",y', ["'a, b'", "comma in its name"]),
])
def test_duplicate_and_colliding_headers_are_refused_in_one_sentence(tmp_path, header, words):
    path = _csv(tmp_path, header)
    with pytest.raises(data.DataError) as refused:
        data.check_data_dir(tmp_path)
    message = str(refused.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message


def test_columns_that_would_share_a_name_in_the_model_are_refused():
    """A categorical column may not take the name of the numeric columns' matrix."""
    schema = schema_pb2.Schema()
    schema.feature.add(name="x", type=schema_pb2.FLOAT)
    schema.feature.add(name="numeric", type=schema_pb2.BYTES)
    label = schema.feature.add(name="y", type=schema_pb2.INT)
    label.int_domain.min, label.int_domain.max = 0, 1
    with pytest.raises(SchemaError, match=f"'numeric' would be '{NUMERIC_KEY}'"):
        from_schema(schema, Label("y"))
