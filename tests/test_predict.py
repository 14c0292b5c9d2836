"""`predict` on hand-made output directories (tiny SavedModels, no pipeline run, the
Pusher's record of each push written by hand): the training data's own column names in,
which class `probability` is, which output directory holds a model for the data when the
one given (or the default) does not; requests typed as TF Serving's REST API types them
and within predict's size limits, and only versions the Pusher published and checked."""

import io
import json
import shutil

import pytest
import tensorflow as tf

from models.features import CLASSIFICATION, REGRESSION, Label
from pipeline import cli, predict_cli, workspace
from pipeline.config import TAXI_LABEL
from tests.published import record_push

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
    record_push(output_dir, output_dir / "serving" / label / "1")
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


def _shop(root):
    """A fresh shop output directory (for tests that change its serving folder)."""
    return _dataset(root, "shop", SHOP_HEADER, SHOP_SCHEMA, "churned", SHOP_INPUTS)[1]


def _request(path, instances=None, **body):
    path.write_text(json.dumps({"instances": instances} if instances is not None else body,
                               allow_nan=True), encoding="utf-8")
    return path


# The limits README's predict section documents.
MAX_ROWS, MAX_BYTES = 10_000, 8 * 2**20
ROW = {"sepal_length_cm": 2.0, "col_2nd_plan": 1, "Region": "Île"}


def _refused(result, *words):
    code, out, err = result
    assert code == 2 and out == "", err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def no_model_load(monkeypatch):
    """Fails a test that lets TensorFlow load the model (a refusal must come first)."""
    def load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(tf.saved_model, "load", load)


# Each request TF Serving's REST API refuses, and the words predict's sentence holds.
TYPE_ERRORS = {
    "string for a float": ({**ROW, "sepal_length_cm": "2.0"},
                           ["instance 0: input 'sepal_length_cm'", "takes a number",
                            'the string "2.0"']),
    "float for an int": ({**ROW, "col_2nd_plan": 1.0},
                         ["input 'col_2nd_plan' (column '2nd-plan')", "takes an integer",
                          "the decimal number 1.0"]),
    "true for a number": ({**ROW, "sepal_length_cm": True}, ["takes a number, not true"]),
    "true for an int": ({**ROW, "col_2nd_plan": True}, ["takes an integer, not true"]),
    "object for a string": ({**ROW, "Region": {"text": "Île"}},
                            ["takes a string, not the object"]),
    "null for a string": ({**ROW, "Region": None}, ["takes a string, not null"]),
    "a list deeper than the rank": ({**ROW, "sepal_length_cm": [2.0]},
                                    ["takes a single value, not lists 1 deep"]),
    "int64 overflow": ({**ROW, "col_2nd_plan": 2**63}, ["9223372036854775808 overflows int64"]),
    "a float32 that loses precision": ({**ROW, "sepal_length_cm": 2**24},
                                       ["without loss of precision"]),
}


@pytest.mark.parametrize("case", sorted(TYPE_ERRORS))
def test_values_tf_serving_refuses_are_refused_in_one_sentence(datasets, tmp_path, case,
                                                                no_model_load):
    _, (_, output_dir), _ = datasets
    row, words = TYPE_ERRORS[case]
    _refused(_predict(_request(tmp_path / "r.json", [ROW, row]), "--output-dir", output_dir),
             *[word.replace("instance 0", "instance 1") for word in words])


@pytest.mark.parametrize(("column", "words"), [
    ([[2.0], [1.0]], ["input 'sepal_length_cm'", "takes lists 1 deep, not lists 2 deep"]),
    (2.0, ["input 'sepal_length_cm'", "takes a list of values, not the decimal number 2.0"]),
    (["2.0", 1.0], ["takes a number, not the string"]),
])
def test_columnar_values_are_checked_against_the_input_rank(datasets, tmp_path, column, words,
                                                            no_model_load):
    _, (_, output_dir), _ = datasets
    body = {"inputs": {"sepal_length_cm": column, "col_2nd_plan": [1, 1],
                       "Region": ["a", "b"]}}
    _refused(_predict(_request(tmp_path / "r.json", **body), "--output-dir", output_dir),
             *words)


@pytest.mark.parametrize(("text", "words"), [
    ("[" * 200_000 + "]" * 200_000, ["nests lists or objects more than 32 deep"]),
    ('{"instances": [{"sepal_length_cm": 1e400, "col_2nd_plan": 1, "Region": "a"}]}',
     ["the number 1e400 is too large for JSON"]),
    ('{"instances": [{"sepal_length_cm": 1.0, "col_2nd_plan": 1' + "0" * 5000
     + ', "Region": "a"}]}', ["is not a JSON request body TF Serving takes"]),
])
def test_pathological_json_is_refused_in_one_sentence(datasets, tmp_path, text, words,
                                                      no_model_load):
    _, (_, output_dir), _ = datasets
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8")
    _refused(_predict(path, "--output-dir", output_dir), *words)


@pytest.mark.parametrize("name", ["rows.csv", "request.json"])
def test_a_request_that_is_not_utf8_is_refused_as_such(datasets, tmp_path, name, no_model_load):
    _, (_, output_dir), _ = datasets
    path = tmp_path / name
    path.write_bytes(f"{SHOP_HEADER}\n".encode() + b"2.0,1,\xcele,\n")
    _refused(_predict(path, "--output-dir", output_dir), "is not UTF-8 text",
             "save it as UTF-8")


def test_values_tf_serving_takes_are_answered(datasets, tmp_path):
    _, (_, output_dir), _ = datasets
    # An integer for a float, NaN (the missing-value marker), a base64 string.
    rows = [{**ROW, "sepal_length_cm": 2}, {**ROW, "sepal_length_cm": float("nan")},
            {**ROW, "Region": {"b64": "w45sZQ=="}}]
    code, out, err = _predict(_request(tmp_path / "r.json", rows), "--output-dir", output_dir)
    assert code == 0, err
    assert json.loads(out) == {"predictions": [[pytest.approx(0.8807971)], [0.5],
                                               [pytest.approx(0.8807971)]]}


def test_a_request_over_the_row_limit_is_refused_before_tensorflow(datasets, tmp_path,
                                                                   no_model_load):
    _, (_, output_dir), _ = datasets
    count = MAX_ROWS + 1
    _refused(_predict(_request(tmp_path / "r.json", [ROW] * count), "--output-dir",
                      output_dir), f"{count:,} instances", "more than the 10,000")
    rows = tmp_path / "rows.csv"
    rows.write_text(f"{SHOP_HEADER}\n" + "2.0,1,Île,\n" * count, encoding="utf-8")
    _refused(_predict(rows, "--output-dir", output_dir), f"{count:,} rows")
    columnar = {name: [ROW[name]] * count for name in ROW}
    _refused(_predict(_request(tmp_path / "c.json", inputs=columnar), "--output-dir",
                      output_dir), f"{count:,} values for one input")


def test_a_request_over_the_byte_limit_is_refused_before_tensorflow(datasets, tmp_path,
                                                                    no_model_load):
    _, (_, output_dir), _ = datasets
    # A valid one-row body, padded with JSON whitespace past the limit.
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"instances": [ROW]}) + " " * MAX_BYTES)
    _refused(_predict(path, "--output-dir", output_dir), "larger than 8 MiB")


def test_only_versions_the_pusher_published_are_loaded(tmp_path):
    output_dir = _shop(tmp_path)
    model_dir = output_dir / "serving" / "churned"
    request = _request(tmp_path / "r.json", [ROW])
    # A SavedModel dropped into the serving folder: newest, so TF Serving's pick.
    shutil.copytree(model_dir / "1", model_dir / "7")
    _refused(_predict(request, "--output-dir", output_dir),
             f"version 7 in {model_dir} is not one the Pusher published (published: 1)")
    code, out, err = _predict(request, "--output-dir", output_dir, "--version", "1")
    assert code == 0, err
    # A published version whose graph was replaced since.
    _tiny_model(tmp_path / "other", {"sepal_length_cm": tf.float32})
    shutil.copyfile(tmp_path / "other" / "saved_model.pb", model_dir / "1" / "saved_model.pb")
    _refused(_predict(request, "--output-dir", output_dir, "--version", "1"),
             "version 1", "is not as the Pusher published it",
             "saved_model.pb differs from the published one")


def test_a_version_without_a_passed_check_or_a_record_is_refused(tmp_path):
    output_dir = _shop(tmp_path / "a")
    request = _request(tmp_path / "r.json", [ROW])
    (output_dir / "metadata.db").unlink()
    _refused(_predict(request, "--output-dir", output_dir), "records no push")
    (output_dir / "tfx").rename(output_dir / "old")
    record_push(output_dir, output_dir / "serving" / "churned" / "1",
                 check={"problems": ["warm-up request failed"]})
    _refused(_predict(request, "--output-dir", output_dir),
             "has no passed servable check on record")


def test_a_model_that_fails_the_servable_op_check_is_never_run(tmp_path):
    output_dir = _shop(tmp_path)
    version_dir = output_dir / "serving" / "churned" / "2"
    ran = tmp_path / "ran"

    class Model(tf.Module):
        @tf.function(input_signature=[{name: tf.TensorSpec([None], dtype, name=name)
                                       for name, dtype in SHOP_INPUTS.items()}])
        def serve(self, features):
            def touch(value):
                ran.write_text("the model ran")
                return value

            value = tf.py_function(touch, [features["sepal_length_cm"]], tf.float32)
            return {"probability": tf.reshape(value, [-1, 1])}

    model = Model()
    tf.saved_model.save(model, str(version_dir), signatures={"serving_default": model.serve})
    # Even with a (forged) record of a passed check.
    record_push(output_dir, version_dir)
    _refused(_predict(_request(tmp_path / "r.json", [ROW]), "--output-dir", output_dir),
             "version 2", "uses ops a standard TF Serving build does not have (EagerPyFunc)")
    assert not ran.exists()


@pytest.mark.parametrize(("cell", "words"), [
    ("1e30", ["instance 0: input 'col_2nd_plan' (column '2nd-plan')", "overflows int64"]),
    ("inf", [":2: 2nd-plan='inf' is not a int64"]),
])
def test_csv_cells_beyond_an_integer_input_are_refused(datasets, tmp_path, cell, words,
                                                       no_model_load):
    _, (_, output_dir), _ = datasets
    rows = tmp_path / "rows.csv"
    rows.write_text(f"{SHOP_HEADER}\n2.0,{cell},Île,\n", encoding="utf-8")
    _refused(_predict(rows, "--output-dir", output_dir), *words)


def test_help_states_the_request_limits():
    text = " ".join(cli._parser()._subparsers._group_actions[0].choices["predict"]
                    .format_help().split())
    assert "at most 8 MiB and 10,000 rows" in text
