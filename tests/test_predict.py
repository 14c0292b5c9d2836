"""`predict` on hand-made output directories (tiny SavedModels, no pipeline run): the
training data's own column names in, which class `probability` is, and which output
directory holds a model for the data when the one given (or the default) does not."""

import io
import json
import shutil

import pytest
import tensorflow as tf

from models.features import CLASSIFICATION, REGRESSION, Label
from pipeline import cli, predict_cli, workspace
from pipeline.config import TAXI_LABEL

SHOP_HEADER = "sepal length (cm),2nd-plan,Région,churned"
SHOP_SCHEMA = """
feature { name: "sepal length (cm)" type: FLOAT }
feature { name: "2nd-plan" type: INT int_domain { min: 0 max: 3 } }
feature { name: "Région" type: BYTES }
feature { name: "churned" type: BYTES string_domain { value: "no" value: "yes" } }
"""
# The serving_default inputs of a model trained on SHOP_HEADER (models.signatures).
SHOP_INPUTS = {"sepal_length_cm": tf.float32, "col_2nd_plan": tf.int64, "Region": tf.string}
OTHER_SCHEMA = """
feature { name: "a" type: FLOAT }
feature { name: "b" type: FLOAT }
feature { name: "y" type: INT int_domain { min: 0 max: 1 } }
"""


def _tiny_model(path, inputs):
    """A serving_default over `inputs` whose probability grows with the float ones."""

    class Model(tf.Module):
        @tf.function(input_signature=[{name: tf.TensorSpec([None], dtype, name=name)
                                       for name, dtype in inputs.items()}])
        def serve(self, features):
            floats = [tf.where(tf.math.is_nan(value), 0.0, value)
                      for value in features.values() if value.dtype == tf.float32]
            return {"probability": tf.reshape(tf.sigmoid(tf.add_n(floats)), [-1, 1])}

    model = Model()
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.serve})


def _dataset(root, name, header, schema, label, inputs):
    """A data folder with one CSV and its schema, and an output directory whose
    dataset.json records it, with version 1 of a model pushed."""
    data_dir, output_dir = root / "data" / name, root / "outs" / name
    data_dir.mkdir(parents=True)
    (data_dir / "data.csv").write_text(f"{header}\n" + ",".join(
        "1" for _ in header.split(",")) + "\n", encoding="utf-8")
    (data_dir / "schema.pbtxt").write_text(schema, encoding="utf-8")
    output_dir.mkdir(parents=True)
    (output_dir / workspace.DATASET_FILE).write_text(json.dumps({
        "label": label, "task": CLASSIFICATION, "data_dir": str(data_dir),
        "schema_path": str(data_dir / "schema.pbtxt"), "excluded_columns": []}))
    _tiny_model(output_dir / "serving" / label / "1", inputs)
    return data_dir, output_dir


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    shop = _dataset(root, "shop", SHOP_HEADER, SHOP_SCHEMA, "churned", SHOP_INPUTS)
    other = _dataset(root, "other", "a,b,y", OTHER_SCHEMA, "y",
                     {"a": tf.float32, "b": tf.float32})
    return root, shop, other


def _predict(*args):
    out, err = io.StringIO(), io.StringIO()
    code = predict_cli.main(cli._parser().parse_args(["predict", *map(str, args)]), out, err)
    return code, out.getvalue(), err.getvalue()


def test_csv_with_the_training_header_is_answered_and_the_class_is_named(datasets, tmp_path):
    _, (data_dir, output_dir), _ = datasets
    rows = tmp_path / "rows.csv"
    rows.write_text(f"{SHOP_HEADER}\n2.0,1,Île,\n,,,\n", encoding="utf-8")
    code, out, err = _predict(rows, "--output-dir", output_dir)
    assert code == 0, err
    # TF Serving's response, unchanged; the missing cells count as missing (0 here).
    assert json.loads(out) == {"predictions": [[pytest.approx(0.8807971)], [0.5]]}
    assert err.splitlines() == ["probability: P(churned = yes), per row (the other class: no)"]


def test_json_with_column_names_is_answered_and_the_input_names_are_given(datasets, tmp_path):
    _, (_, output_dir), _ = datasets
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": [
        {"sepal length (cm)": 2.0, "2nd-plan": 1, "Région": "Île"}]}), encoding="utf-8")
    code, out, err = _predict(request, "--output-dir", output_dir)
    assert code == 0, err
    assert json.loads(out) == {"predictions": [[pytest.approx(0.8807971)]]}
    assert ("note: TF Serving itself takes the input names: sepal_length_cm for "
            "'sepal length (cm)', col_2nd_plan for '2nd-plan', Region for 'Région'") in err


def test_the_wrong_output_dir_names_the_one_that_fits_the_data(datasets, tmp_path):
    _, (data_dir, shop_dir), (_, other_dir) = datasets
    code, out, err = _predict(data_dir / "data.csv", "--output-dir", other_dir)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"error: {data_dir / 'data.csv'} lacks 2 of the 2 inputs of the model in "
        f"{other_dir}; {shop_dir} holds a model for this data: pass --output-dir {shop_dir}"]
    # A copy outside the data folder is recognised by its columns.
    copy = tmp_path / "copy.csv"
    shutil.copyfile(data_dir / "data.csv", copy)
    code, _, err = _predict(copy, "--output-dir", other_dir)
    assert code == 2 and f"pass --output-dir {shop_dir}" in err


def test_a_data_folder_is_refused_naming_the_output_dir_for_it(datasets):
    _, (data_dir, shop_dir), (_, other_dir) = datasets
    code, _, err = _predict(data_dir, "--output-dir", other_dir)
    assert code == 2
    assert err.splitlines() == [
        f"error: {data_dir} is a folder; give one of its CSV files or a JSON request body "
        f"({shop_dir} holds a model for it: pass --output-dir {shop_dir})"]


def test_an_output_dir_without_a_model_names_the_one_that_fits_the_data(datasets, tmp_path):
    root, (data_dir, shop_dir), _ = datasets
    copy = tmp_path / "copy.csv"
    shutil.copyfile(data_dir / "data.csv", copy)
    # Found by the data folder the file is in, or by the columns of a copy elsewhere.
    for path in (data_dir / "data.csv", copy):
        code, _, err = _predict(path, "--output-dir", root / "outs" / "empty")
        assert code == 2
        assert err.startswith("error: no pushed model in ")
        assert err.strip().endswith(f"{shop_dir} holds one for this data, pass --output-dir "
                                    f"{shop_dir}")


def test_data_no_model_fits_says_to_pass_the_output_dir(datasets, tmp_path):
    _, (_, shop_dir), _ = datasets
    rows = tmp_path / "rows.csv"
    rows.write_text("colour,weight\nred,1\n")
    code, _, err = _predict(rows, "--output-dir", shop_dir)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "lacks the columns 2nd-plan, Région, sepal length (cm)" in err
    assert err.strip().endswith("if another run trained on this data, pass its --output-dir")


@pytest.mark.parametrize(("label", "note"), [
    (TAXI_LABEL, "probability: P(big_tipper = 1), per row (the other class: 0); big_tipper "
                 "is 1 when tips > 0.2 x fare"),
    (Label("diagnosis", CLASSIFICATION, ("benign", "malignant")),
     "probability: P(diagnosis = malignant), per row (the other class: benign)"),
    (Label("cultivar", CLASSIFICATION, ("0", "1", "2")),
     "probability: one column per class of cultivar, in the order 0, 1, 2"),
    (Label("progression", REGRESSION), "prediction: the predicted progression"),
])
def test_the_answer_note_says_what_the_numbers_are(label, note):
    assert predict_cli._answer_note(label) == note
