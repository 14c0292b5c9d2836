"""`run --tune`: the Tuner's search space (models/tuner.py), the hyperparameters it
hands to build_model and the Trainer, its configuration and wiring, and how its trials
are read back (artifact_files, inspection) and shown (summary, show, report). No run:
tests/e2e/test_tuner_e2e.py runs the Tuner."""

import dataclasses
import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import keras_tuner
import pytest
import tensorflow as tf
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner import executor as tuner_executor
from tfx.types import standard_artifacts

from models.features import REGRESSION, Label
from models.model import Hyperparameters, build_model, capped_steps, trainer_hyperparameters
from models.preprocessing import INPUTS_KEY
from models.tuner import (
    SMALL_ROWS,
    DefaultFirstOracle,
    _HyperModel,
    objective_for,
    search_space,
)
from pipeline import artifact_files, inspection, report
from pipeline.config import MAX_TUNE_TRIALS, Tuning, make_config
from pipeline.definition import create_pipeline
from pipeline.summary import print_summary
from tests.conftest import cli_in_process, write_taxi_sample
from tests.test_model import _batch, _sizes

TAXI = make_config()
TAXI_INPUTS = TAXI.inputs
REGRESSION_INPUTS = dataclasses.replace(TAXI_INPUTS, label=Label("fare", REGRESSION))
THREE_CLASSES = dataclasses.replace(
    TAXI_INPUTS, label=Label("payment_type", classes=("Cash", "Credit Card", "Other")))


def _choices(space: keras_tuner.HyperParameters) -> dict[str, list]:
    return {item.name: list(item.values) for item in space.space}


def test_the_search_space_follows_the_task_and_the_data_size():
    large = _choices(search_space(TAXI_INPUTS.label, 12_000, 200))
    small = _choices(search_space(TAXI_INPUTS.label, 455, 200))
    regression = _choices(search_space(REGRESSION_INPUTS.label, 12_000, 200))
    # Small data: smaller layers, more dropout.
    assert large["units_1"] == [32, 64, 128] and small["units_1"] == [16, 32, 64]
    assert large["dropout"] == [0.0, 0.1, 0.2] and small["dropout"] == [0.0, 0.2, 0.4]
    # Regression learns a standardized label: larger learning rates to try.
    assert large["learning_rate"] == [3e-4, 1e-3, 3e-3]
    assert regression["learning_rate"] == [1e-3, 3e-3, 1e-2]
    # Steps around what the untuned Trainer trains: 200 for taxi; 455 rows cap 200
    # steps at MIN_STEPS (models.model.capped_steps).
    assert large["train_steps"] == [100, 200, 400]
    assert small["train_steps"] == [50, 100, 200]
    assert capped_steps(200, 455) == 100
    # The boundary between small and large.
    assert _choices(search_space(TAXI_INPUTS.label, SMALL_ROWS, 200))["units_1"] == [32, 64, 128]


@pytest.mark.parametrize("rows", [300, 12_000])
@pytest.mark.parametrize("label", [TAXI_INPUTS.label, REGRESSION_INPUTS.label])
def test_every_default_of_the_search_space_is_the_untuned_model(rows, label):
    space = search_space(label, rows, 200)
    assert Hyperparameters.from_values(space.values) == dataclasses.replace(
        Hyperparameters(), train_steps=capped_steps(200, rows))


@pytest.mark.parametrize(("label", "objective"), [
    (TAXI_INPUTS.label, ("val_auc", "max")),
    (THREE_CLASSES.label, ("val_sparse_categorical_accuracy", "max")),
    (REGRESSION_INPUTS.label, ("val_rmse", "min"))])
def test_trials_are_scored_by_the_metric_the_evaluator_gates(label, objective):
    assert objective_for(label) == objective


@pytest.mark.parametrize(("inputs", "labels"), [
    (TAXI_INPUTS, lambda rng, rows: rng.integers(0, 2, size=(rows, 1))),
    (THREE_CLASSES, lambda rng, rows: rng.integers(0, 3, size=(rows, 1))),
    (REGRESSION_INPUTS, lambda rng, rows: rng.normal(size=(rows, 1)).astype("float32"))])
def test_the_objective_is_a_metric_the_model_logs_on_validation_data(inputs, labels):
    """KerasTuner scores a trial by the fit history's value of the objective: it must
    be what Keras logs for this task's model on validation data."""
    sizes = _sizes(inputs)
    x, y = _batch(inputs, sizes, labels)
    history = build_model(inputs, sizes).fit(x, y, validation_data=(x, y), epochs=1,
                                             verbose=0).history
    assert objective_for(inputs.label)[0] in history


def _layers(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_the_untuned_model_is_unchanged():
    """build_model without hyperparameters is the model from before tuning existed: two
    hidden layers of 64 and 32, no dropout, Adam at 0.001, the same initial weights."""
    model = build_model(TAXI_INPUTS, _sizes(TAXI_INPUTS))
    assert [layer.units for layer in _layers(model, tf.keras.layers.Dense)] == [64, 32, 1]
    assert not _layers(model, tf.keras.layers.Dropout)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    explicit = build_model(TAXI_INPUTS, _sizes(TAXI_INPUTS), hyperparameters=Hyperparameters())
    for a, b in zip(model.get_weights(), explicit.get_weights(), strict=True):
        assert (a == b).all()


def test_a_trials_values_flow_into_build_model():
    """What KerasTuner hands the hypermodel (a trial's values) builds that network."""
    space = search_space(TAXI_INPUTS.label, 12_000, 200)
    space.values.update(units_1=128, units_2=0, learning_rate=3e-3, dropout=0.2)
    hypermodel = _HyperModel(TAXI_INPUTS, _sizes(TAXI_INPUTS), 0, (0.0, 1.0))
    model = hypermodel.build(space)
    assert [layer.units for layer in _layers(model, tf.keras.layers.Dense)] == [128, 1]
    assert [layer.rate for layer in _layers(model, tf.keras.layers.Dropout)] == [0.2]
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-3)


def test_a_trial_trains_for_its_own_steps():
    space = search_space(TAXI_INPUTS.label, 12_000, 200)
    space.values["train_steps"] = 400
    fitted = {}
    model = SimpleNamespace(fit=lambda *args, **kwargs: fitted.update(kwargs))
    _HyperModel(TAXI_INPUTS, {}, 0, (0.0, 1.0)).fit(space, model, "data", verbose=0)
    assert fitted["steps_per_epoch"] == 400 and fitted["epochs"] == 1


def test_the_trainer_reads_the_tuners_best_hyperparameters():
    """TFX hands the Trainer KerasTuner's HyperParameters config (what the Tuner wrote
    to best_hyperparameters.txt); without a Tuner it hands None: the defaults."""
    space = search_space(TAXI_INPUTS.label, 12_000, 200)
    space.values.update(units_1=32, units_2=64, learning_rate=3e-4, dropout=0.1,
                        train_steps=400)
    tuned = trainer_hyperparameters(FnArgs(hyperparameters=json.loads(json.dumps(
        space.get_config()))))
    # The class as models.model holds it now: TFX's Trainer and Tuner reload the user
    # module in place (an in-process e2e run before this test gives it a new class).
    current = sys.modules["models.model"].Hyperparameters
    assert tuned == current(hidden_units=(32, 64), learning_rate=3e-4, dropout=0.1,
                            train_steps=400)
    assert trainer_hyperparameters(FnArgs(hyperparameters=None)) == current()


def test_the_first_trial_is_the_untuned_model(tmp_path):
    """So the search's best is never worse on the objective than not tuning."""
    space = search_space(TAXI_INPUTS.label, 12_000, 200)
    oracle = DefaultFirstOracle(objective=keras_tuner.Objective("val_auc", "max"),
                                max_trials=3, seed=0, hyperparameters=space)
    oracle._set_project_dir(str(tmp_path), "search")
    first = oracle.create_trial("tuner0")
    assert first.hyperparameters.values == space.values
    oracle.update_trial(first.trial_id, {"val_auc": 0.5})
    oracle.end_trial(first)
    second = oracle.create_trial("tuner0")
    assert second.hyperparameters.values != space.values


def test_tuning_is_off_by_default_and_its_trials_are_bounded():
    assert not TAXI.tuning.enabled
    for trials in (0, MAX_TUNE_TRIALS + 1):
        with pytest.raises(ValueError, match="between 1 and"):
            Tuning(enabled=True, trials=trials)
    cfg = make_config(tune=True, tune_trials=3)
    assert cfg.tuning == Tuning(enabled=True, trials=3)


@pytest.mark.parametrize(("flags", "message"), [
    (("--tune-trials", "3"),
     "error: --tune-trials needs --tune (it sets how many models the Tuner trains)"),
    (("--tune", "--tune-trials", str(MAX_TUNE_TRIALS + 1)),
     f"error: tuning trials must be between 1 and {MAX_TUNE_TRIALS}, not "
     f"{MAX_TUNE_TRIALS + 1}")])
def test_bad_tuning_flags_get_one_sentence_and_the_usage_exit_code(tmp_path, flags, message):
    write_taxi_sample(tmp_path / "data", rows=20)
    result = cli_in_process("run", "--data-dir", str(tmp_path / "data"), "--output-dir",
                            str(tmp_path / "out"), *flags)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert not (tmp_path / "out").exists()


def test_the_help_states_the_configs_trials():
    from pipeline.config import DEFAULT_TUNE_TRIALS

    result = cli_in_process("run", "--help")
    text = " ".join(result.stdout.split())
    assert f"at most {MAX_TUNE_TRIALS} (default: {DEFAULT_TUNE_TRIALS})" in text


def _components(cfg):
    return {c.id: c for c in create_pipeline(cfg).components}


def test_tuning_puts_the_tuner_between_transform_and_trainer(tmp_path):
    cfg = make_config(output_dir=tmp_path / "out", tune=True, tune_trials=4)
    components = _components(cfg)
    ids = list(components)
    assert ids.index("Transform") < ids.index("Tuner") < ids.index("Trainer")
    tuner, trainer = components["Tuner"], components["Trainer"]
    assert tuner.inputs["transform_graph"].producer_component_id == "Transform"
    hyperparameters = trainer.inputs["hyperparameters"]
    assert (hyperparameters.producer_component_id, hyperparameters.output_key) == (
        "Tuner", "best_hyperparameters")
    config = json.loads(tuner.exec_properties["custom_config"])
    # What makes the Tuner's cache entry follow the code, the schema, the budget.
    assert config["model_fingerprint"] == cfg.model_fingerprint
    assert config[INPUTS_KEY] == cfg.inputs.to_json()
    assert (config["trials"], config["objective"], config["direction"]) == (4, "val_auc", "max")
    assert tuner.exec_properties["tuner_fn"] == "models.tuner.tuner_fn"
    untuned = _components(dataclasses.replace(cfg, tuning=Tuning()))
    assert "Tuner" not in untuned and "hyperparameters" not in untuned["Trainer"].inputs


def _splits(component, key: str) -> list:
    return json.loads(component.exec_properties[key] or "{}").get("splits", [])


@pytest.mark.parametrize(("buckets", "expected"), [
    ({}, [("train", 3), ("tune", 1), ("eval", 1)]),
    # Large data: the tune bucket comes out of train_more, so Transform analyzes the
    # same rows.
    ({"train_buckets": 75, "eval_buckets": 1, "analyzed_buckets": 10},
     [("train", 10), ("train_more", 64), ("tune", 1), ("eval", 1)]),
])
def test_the_tuner_scores_its_trials_on_rows_neither_trained_on_nor_evaluated(
        tmp_path, buckets, expected):
    cfg = dataclasses.replace(make_config(output_dir=tmp_path / "out", tune=True), **buckets)
    components = _components(cfg)
    output = json.loads(components["CsvExampleGen"].exec_properties["output_config"])
    splits = [(split["name"], split["hash_buckets"])
              for split in output["split_config"]["splits"]]
    assert splits == expected
    untuned = json.loads(_components(dataclasses.replace(cfg, tuning=Tuning()))[
        "CsvExampleGen"].exec_properties["output_config"])
    # The eval split is the last bucket of the same total either way: the same rows.
    assert untuned["split_config"]["splits"][-1] == output["split_config"]["splits"][-1]
    assert sum(s["hash_buckets"] for s in untuned["split_config"]["splits"]) == sum(
        count for _, count in expected)
    training = [name for name, _ in expected if name != "eval"]
    tuner, trainer = components["Tuner"], components["Trainer"]
    assert _splits(tuner, "eval_args") == ["tune"]
    assert (_splits(tuner, "train_args") or ["train"]) == [n for n in training if n != "tune"]
    # The chosen network then trains on every training row, the tune split's too.
    assert _splits(trainer, "train_args") == training
    # Transform analyzes "train" only (its default), never the tune rows.
    assert not components["Transform"].exec_properties.get("splits_config")


# --- reading the Tuner's artifacts back ---------------------------------------------------


def _tuner_output(tmp_path: Path, scores: list[float]) -> dict:
    """A Tuner's outputs written by TFX's own writer (executor.write_best_hyperparameters)
    from a KerasTuner oracle whose trials scored `scores` (the first: the untuned
    model), as `metadata.run_outputs` lists them."""
    space = search_space(TAXI_INPUTS.label, 12_000, 200)
    oracle = DefaultFirstOracle(objective=keras_tuner.Objective("val_auc", "max"),
                                max_trials=len(scores), seed=0, hyperparameters=space)
    oracle._set_project_dir(str(tmp_path / "work"), "search")
    for score in scores:
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(trial.trial_id, {"val_auc": score})
        trial.status = keras_tuner.engine.trial.TrialStatus.COMPLETED
        oracle.end_trial(trial)
    tuner = SimpleNamespace(oracle=oracle, get_best_hyperparameters=lambda: [
        trial.hyperparameters for trial in oracle.get_best_trials(1)])
    best, results = standard_artifacts.HyperParameters(), standard_artifacts.TunerResults()
    best.uri, results.uri = str(tmp_path / "best"), str(tmp_path / "results")
    for artifact in (best, results):
        Path(artifact.uri).mkdir()
    tuner_executor.write_best_hyperparameters(
        tuner, {"best_hyperparameters": [best], "tuner_results": [results]})
    return {"state": "executed", "custom_config": {"objective": "val_auc", "direction": "max"},
            "artifacts": {"HyperParameters": [best], "TunerResults": [results]},
            "untuned": oracle.trials[min(oracle.trials)].hyperparameters.values}


def test_the_trials_are_read_from_the_tuners_artifacts(tmp_path):
    node = _tuner_output(tmp_path, [0.80, 0.85, 0.70])
    found = inspection.tuning(node)
    assert [trial["score"] for trial in found["trials"]] == [0.85, 0.80, 0.70]
    assert (found["objective"], found["direction"]) == ("val_auc", "max")
    assert found["best_score"] == 0.85 and found["default_score"] == 0.80
    assert [trial["chosen"] for trial in found["trials"]] == [True, False, False]
    assert [trial["default"] for trial in found["trials"]] == [False, True, False]
    assert found["trials"][1]["hyperparameters"] == node["untuned"]
    assert found["best"] == found["trials"][0]["hyperparameters"]
    assert set(found["best"]) == {"units_1", "units_2", "learning_rate", "dropout",
                                  "train_steps"}
    # The raw files, as artifact_files reads them.
    results = artifact_files.load_tuner_results(node["artifacts"]["TunerResults"][0].uri)
    assert [row["score"] for row in results] == [0.85, 0.80, 0.70]
    assert inspection.tuning(None) is None


def test_summary_show_and_report_list_the_trials_and_the_chosen_values(tmp_path):
    found = inspection.tuning(_tuner_output(tmp_path, [0.80, 0.85]))
    best = found["best"]
    note = inspection.tuning_note(found)
    assert note.startswith("2 trials by val_auc (higher is better): best 0.85, the untuned "
                           "model 0.8; chosen: ")
    assert f"units_1 {best['units_1']}" in note and f"train_steps {best['train_steps']}" in note
    rows, columns = inspection.trial_table(found)
    assert [row["note"] for row in rows] == ["chosen", "untuned"]
    assert columns[1] == ("val_auc", "score")
    # The run summary.
    from tests.test_summary import SUMMARY

    out = io.StringIO()
    print_summary({**SUMMARY, "tuning": found}, out, spans=False)
    assert f"tuning:     {note}" in out.getvalue()
    out = io.StringIO()
    print_summary(SUMMARY, out, spans=False)
    assert "tuning:" not in out.getvalue()
    # `show`.
    from pipeline.inspect_cli import _tuning

    out = io.StringIO()
    _tuning(found, out)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["", f"tuning: {note}"]
    assert lines[2].split() == ["trial", "val_auc", "units_1", "units_2", "learning_rate",
                                "dropout", "train_steps"]
    assert lines[3].split()[1] == "0.85" and lines[3].endswith("chosen")
    assert lines[4].split()[1] == "0.8" and lines[4].endswith("untuned")
    # The report.
    html_text = "".join(report.tuning_section(found))
    assert "<h2>Tuning</h2>" in html_text and "id='trials'" in html_text
    assert html_text.count("<tr>") == 3  # the head and two trials
    assert report.tuning_section(None) == []


def test_a_cached_search_says_so(tmp_path):
    found = inspection.tuning({**_tuner_output(tmp_path, [0.8]), "state": "cached"})
    assert "(cached: searched by an earlier run)" in inspection.tuning_note(found)


def test_the_models_package_gets_keras_3_whatever_is_imported_first():
    """KerasTuner takes Keras 3 models only. tensorflow_transform makes `tf.keras` Keras 2
    when it is imported before anything touches `tf.keras` (importing models.tuner or
    models.model first did); models/__init__.py settles it. A fresh process: this one
    has resolved `tf.keras` long ago."""
    import subprocess
    import sys

    from pipeline.config import REPO_ROOT

    probe = ("import keras_tuner, models.tuner, tensorflow as tf; "
             "print(tf.keras.Model.__module__)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, check=True,
                            capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1].startswith("keras.src.")
