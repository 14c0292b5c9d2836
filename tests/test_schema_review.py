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
