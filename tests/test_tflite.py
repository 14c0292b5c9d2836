"""pipeline.tflite on tiny hand-made SavedModels: conversion of the raw-feature
signature, the score check against the SavedModel (and its refusal of a perturbed
TFLite model), the unconvertible path, and scoring a REST body with the TFLite model;
and on a taxi model exported as the Trainer exports it (models/), which must convert
with builtin ops only and score like its SavedModel."""

import numpy as np
import pytest
import tensorflow as tf

from pipeline import serving, tflite
from tests.test_serving import INPUTS, SAMPLE, _save_model


def save_unconvertible(path):
    """A SavedModel TF Serving serves but TFLite's builtins cannot express: its score
    uses a regular expression (tf.strings.regex_full_match, a TF-only op); both
    serving signatures score alike, so the servable check passes."""

    def score(x, s):
        match = tf.cast(tf.strings.regex_full_match(s, "a+"), tf.float32)
        return tf.reshape(tf.sigmoid(x + match), [-1, 1])

    class Scorer(tf.Module):
        @tf.function(input_signature=[{name: tf.TensorSpec([None], dtype, name=name)
                                       for name, dtype in INPUTS.items()}])
        def serve_json(self, features):
            x = tf.where(tf.math.is_nan(features["x"]), 0.0, features["x"])
            return {"probability": score(x, features["s"])}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(self, serialized):
            parsed = tf.io.parse_example(serialized, {
                "x": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
                "s": tf.io.FixedLenFeature([], tf.string, default_value=""),
            })
            return {"probability": score(parsed["x"], parsed["s"])}

    module = Scorer()
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.serve_json, "from_examples": module.serve_examples})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tflite-models")
    return {"good": _save_model(root / "good"),
            # Same inputs, every score 0.25 higher: a TFLite model that drifted.
            "skewed": _save_model(root / "skewed", offset=0.25),
            "unconvertible": save_unconvertible(root / "unconvertible")}


def test_a_convertible_model_is_exported_with_builtin_ops_and_matching_scores(models):
    model, report = tflite.export(models["good"], SAMPLE)
    assert model is not None and report["written"]
    assert report["ops"] == "TFLITE_BUILTINS" and report["bytes"] == len(model)
    assert report["examples"] == len(SAMPLE)
    assert report["max_difference"] <= tflite.ABSOLUTE_TOLERANCE
    # The TFLite model takes the raw, JSON-marked inputs of serving_default.
    runner = tflite.load(model)
    assert set(runner.get_input_details()) == set(INPUTS)


def test_tflite_answers_a_rest_body_as_the_saved_model_does(models):
    model, _ = tflite.export(models["good"], SAMPLE)
    body = {"instances": serving.json_instances(SAMPLE, INPUTS)}
    saved_model = tf.saved_model.load(str(models["good"]))
    expected = serving.predict_json(saved_model, INPUTS, body)["predictions"]
    answer = tflite.predict_json(tflite.load(model), INPUTS, body)["predictions"]
    assert np.allclose(answer, expected, atol=1e-6)
    # Not a constant answer: the three examples score differently.
    assert len({round(row[0], 4) for row in answer}) == 3
    columnar = {"inputs": {name: [row[name] for row in body["instances"]] for name in INPUTS}}
    assert np.allclose(tflite.predict_json(tflite.load(model), INPUTS, columnar)["outputs"],
                       expected, atol=1e-6)


def test_a_tflite_model_that_scores_differently_is_refused(models, monkeypatch):
    skewed = tflite.convert(models["skewed"])
    monkeypatch.setattr(tflite, "convert", lambda saved_model_dir, saved_model=None: skewed)
    with pytest.raises(serving.ServingCheckFailed, match=r"differ .* by up to 0\.25"):
        tflite.export(models["good"], SAMPLE)


def test_nan_tflite_scores_are_refused_and_named(models, monkeypatch):
    """A TFLite model whose scores are NaN (as from_saved_model's conversion of the
    pipeline's Keras models gave, with uninitialized weights) is refused in words, not
    as a difference of `inf`."""
    monkeypatch.setattr(tflite, "differences", lambda *_: (float("inf"), float("inf")))
    with pytest.raises(serving.ServingCheckFailed, match=r"differ from the SavedModel's "
                       r"\(NaN scores, or outputs of another name or shape\) on 3 sample"):
        tflite.export(models["good"], SAMPLE)


def test_a_difference_within_the_tolerance_passes_and_beyond_it_fails(models):
    saved_model = tf.saved_model.load(str(models["good"]))
    runner = tflite.load(tflite.convert(models["good"]))
    worst, excess = tflite.differences(runner, saved_model, INPUTS, SAMPLE)
    assert worst < 1e-5 and excess < 0
    skewed = tflite.load(tflite.convert(_save_model_offset(models, 5e-5)))
    worst, excess = tflite.differences(skewed, saved_model, INPUTS, SAMPLE)
    assert worst == pytest.approx(5e-5, rel=0.05) and excess < 0
    skewed = tflite.load(tflite.convert(_save_model_offset(models, 1e-3)))
    worst, excess = tflite.differences(skewed, saved_model, INPUTS, SAMPLE)
    assert worst == pytest.approx(1e-3, rel=0.05) and excess > 0


def _save_model_offset(models, offset: float):
    path = models["good"].parent / f"offset-{offset:g}"
    return path if path.exists() else _save_model(path, offset=offset)


def test_an_unconvertible_model_gets_a_reason_naming_the_op(models):
    model, report = tflite.export(models["unconvertible"], SAMPLE)
    assert model is None
    assert report == {"written": False, "reason": report["reason"]}
    assert "RegexFullMatch" in report["reason"]
    assert "\n" not in report["reason"]
    # TF Serving still serves it: the servable check of the same model passes.
    assert serving.unservable_ops(models["unconvertible"]) == []


def test_the_run_summary_says_where_the_tflite_model_is_or_why_there_is_none():
    import io

    from pipeline.summary import print_summary
    from tests.test_summary import SUMMARY

    def printed(report):
        out = io.StringIO()
        check = {"problems": [], "warmup_requests": 4, "max_difference": 1e-8,
                 "tflite": report}
        print_summary({**SUMMARY, "servable_check": check}, out)
        return [line for line in out.getvalue().splitlines() if line.startswith("tflite:")]

    assert printed({"written": False, "reason": "the model needs TensorFlow ops TFLite's "
                    "builtins lack (UpperBound)"}) == [
        "tflite:     none written: the model needs TensorFlow ops TFLite's builtins lack "
        "(UpperBound)"]
    [line] = printed({"written": True, "path": "assets.extra/model.tflite", "bytes": 3140,
                      "examples": 16, "max_difference": 6e-8, "seconds": 1.2})
    assert line.startswith("tflite:     assets.extra/model.tflite (3 KiB, builtin ops only")
    assert "16 examples" in line


def test_predict_tflite_answers_like_predict_and_refuses_a_version_without_one(tmp_path):
    import json

    from tests.test_predict import SHOP_HEADER, SHOP_INPUTS, SHOP_SCHEMA, _dataset, _predict

    _, output_dir = _dataset(tmp_path, "shop", SHOP_HEADER, SHOP_SCHEMA, "churned",
                             SHOP_INPUTS)
    rows = tmp_path / "rows.csv"
    rows.write_text(f"{SHOP_HEADER}\n2.0,1,Île,\n,,,\n-1.5,0,x,\n", encoding="utf-8")
    version_dir = output_dir / "serving" / "churned" / "1"
    code, _, err = _predict(rows, "--output-dir", output_dir, "--tflite")
    assert code == 2
    assert err.splitlines() == [
        f"error: version 1 has no TFLite model ({tflite.TFLITE_FILE}): the run that pushed "
        "it turned it off (run --no-tflite), or its model did not convert (`show` says "
        "why)"]
    # As the Pusher leaves it: in the version and in its archive copy, which predict
    # compares file for file (pipeline/predict_guard.py).
    converted = tflite.convert(version_dir)
    archive = output_dir / "tfx" / "Pusher" / "pushed_model" / "1"
    for folder in (version_dir, archive):
        (folder / tflite.TFLITE_FILE).parent.mkdir(parents=True, exist_ok=True)
        (folder / tflite.TFLITE_FILE).write_bytes(converted)
    code, saved_model_out, _ = _predict(rows, "--output-dir", output_dir)
    assert code == 0
    code, tflite_out, err = _predict(rows, "--output-dir", output_dir, "--tflite")
    assert code == 0, err
    expected = json.loads(saved_model_out)["predictions"]
    assert np.allclose(json.loads(tflite_out)["predictions"], expected, atol=1e-6)
    assert len({round(row[0], 4) for row in expected}) == 3
    # A request TF Serving would refuse is refused the same way.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"instances": [{"sepal_length_cm": "tall"}]}))
    code, out, err = _predict(bad, "--output-dir", output_dir, "--tflite")
    assert code == 2 and out == "" and err.startswith("error: ")


# Rows of the taxi CSV the taxi model's Transform analyzes and trains on.
TAXI_MODEL_ROWS = 300


@pytest.fixture(scope="module")
def taxi_model(tmp_path_factory):
    """A taxi SavedModel as models.model.run_fn exports it (its signatures over the
    Transform graph, `models.model._signatures`), from tf.Transform on the first
    TAXI_MODEL_ROWS taxi rows and one pass of training, without TFX: a pushed taxi
    version in small. Returns its folder and the raw rows."""
    import csv

    import tensorflow_data_validation as tfdv
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    from models import model as taxi_model_code
    from models.preprocessing import INPUTS_KEY, preprocessing_fn
    from pipeline.config import DEFAULT_SCHEMA_PATH, make_config
    from pipeline.data import packaged_taxi_csv
    from tests.test_preprocessing import _typed

    root = tmp_path_factory.mktemp("taxi-model")
    inputs = make_config().inputs
    schema = tfdv.load_schema_text(str(DEFAULT_SCHEMA_PATH))
    with packaged_taxi_csv().open(newline="") as source:
        reader = csv.DictReader(source)
        rows = [next(reader) for _ in range(TAXI_MODEL_ROWS)]
    metadata = dataset_metadata.DatasetMetadata(schema)
    with tft_beam.Context(temp_dir=str(root / "tmp")):
        (transformed, _), transform_fn = (_typed(rows, schema), metadata) \
            | tft_beam.AnalyzeAndTransformDataset(
                lambda columns: preprocessing_fn(columns, {INPUTS_KEY: inputs.to_json()}))
        _ = transform_fn | tft_beam.WriteTransformFn(str(root / "transform"))
    # The raw schema, which TFX's Transform writes next to the transform graph.
    metadata_io.write_metadata(metadata, str(root / "transform" / "metadata"))
    transform_output = tft.TFTransformOutput(str(root / "transform"))
    model = taxi_model_code.build_model(
        inputs, taxi_model_code.category_sizes(inputs, transform_output))
    label = inputs.label.name
    features = {key: np.stack([np.reshape(row[key], [-1]) for row in transformed])
                for key in transformed[0] if key != label}
    model.fit(features, np.array([row[label] for row in transformed]), epochs=1, verbose=0)
    tf.saved_model.save(model, str(root / "model"), signatures=taxi_model_code._signatures(
        model, inputs, transform_output))
    return root / "model", rows


def _taxi_sample(rows):
    """16 serialized taxi examples as the Pusher samples them (no label columns),
    with what the Transform graph must handle besides plain rows: strings the
    vocabulary has not seen, and rows without a company, a payment type or a number."""
    from tests.conftest import serialize_example

    sample = [dict(row) for row in rows[:16]]
    sample[0].update(payment_type="Bitcoin", company="Unheard-of Cabs")
    sample[1].update(payment_type="", company="", trip_miles="", dropoff_latitude="")
    sample[2].update({name: "" for name in sample[2] if name != "fare"})
    return [serialize_example(row) for row in sample]


@pytest.fixture(scope="module")
def taxi_export(taxi_model):
    """`tflite.export` of the taxi model on its sample: the checked model and the report
    (one conversion for the two tests below)."""
    model_dir, rows = taxi_model
    return tflite.export(model_dir, _taxi_sample(rows))


def test_the_taxi_model_converts_with_builtin_ops_and_scores_like_its_saved_model(
        taxi_model, taxi_export):
    model_dir, _ = taxi_model
    model, report = taxi_export
    assert model is not None, report.get("reason")
    assert report["written"] and report["ops"] == "TFLITE_BUILTINS"
    assert report["max_difference"] <= 1e-5
    # It takes the raw features of a REST request: one input per feature column.
    inputs = serving.signature_inputs(model_dir, "serving_default")
    assert set(tflite.load(model).get_input_details()) == set(inputs)
    assert {"payment_type", "company", "trip_miles", "trip_start_hour"} <= set(inputs)


def test_the_taxi_tflite_model_answers_rest_bodies_with_missing_and_unseen_values(
        taxi_model, taxi_export):
    model_dir, rows = taxi_model
    model, report = taxi_export
    assert model is not None, report.get("reason")
    inputs = serving.signature_inputs(model_dir, "serving_default")
    body = {"instances": serving.json_instances(_taxi_sample(rows), inputs)}
    saved_model = tf.saved_model.load(str(model_dir))
    expected = np.array(serving.predict_json(saved_model, inputs, body)["predictions"])
    answer = np.array(tflite.predict_json(tflite.load(model), inputs, body)["predictions"])
    assert answer.shape == expected.shape == (16, 1)
    assert np.allclose(answer, expected, atol=1e-5)
    # The rows score differently: the features reach the network.
    assert len({round(float(score), 4) for score in expected[:, 0]}) > 8


def test_the_taxi_model_holds_no_keras_trace_of_the_transform_layer(taxi_model):
    """Saving traced the (tf_keras) Transform layer once more when the signatures had
    called it as a layer: a copy of the pruned Transform graph that nothing calls, and
    the largest part of the Trainer's time on wide data (bench/WIDE.md). The
    signatures call its `call` (models.model.transform_function), so there is none."""
    from tensorflow.core.protobuf import saved_model_pb2

    model_dir, _ = taxi_model
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((model_dir / "saved_model.pb").read_bytes())
    names = [function.signature.name
             for function in saved.meta_graphs[0].graph_def.library.function]
    assert names and not [name for name in names
                          if "call_and_return_conditional_losses" in name]
