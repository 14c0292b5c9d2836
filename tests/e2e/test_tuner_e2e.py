"""`run --tune` end to end on a tiny budget (600 taxi rows, 2 trials of 20 and 40 steps):
the Tuner runs between Transform and Trainer, its trials reach the run summary and
`show`, the Trainer trains the chosen network, an unchanged rerun reuses the search,
and `lineage` names it."""

import json

import keras_tuner
import pytest

from pipeline import metadata
from tests.conftest import cli_in_process, run_pipeline_in_process, write_taxi_sample

pytestmark = pytest.mark.e2e

ARGS = ("--tune", "--tune-trials", "2", "--train-steps", "20", "--min-auc", "0.5",
        "--min-accuracy", "0.5", "--json")


# What the search's random draw is replaced with: a point of the real search space (470
# training rows are small data, whose choices for 20 configured steps are 10, 20, 40)
# that clearly beats the untuned first trial (layers of 64 and 32 at 0.001 for 20 steps
# scores a validation AUC of about 0.73; 40 steps at 0.003 more than 0.8). A Trainer
# that ignored the Tuner would train the default layers of 64 and 32.
STRONG = {"units_1": 32, "units_2": 0, "learning_rate": 3e-3, "dropout": 0.0,
          "train_steps": 40}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """Two runs of the same data and flags, the second one a rerun. The Tuner runs in
    this process (LocalDagRunner), where KerasTuner's random draw is replaced by
    STRONG, so that the winner is known; the first trial is still the untuned model.
    (TFX reloads models/tuner.py before calling tuner_fn, so the patch is on
    KerasTuner's class.) tests/test_tuner.py checks the random search space."""
    root = tmp_path_factory.mktemp("tuned")
    data, out = root / "data", root / "out"
    write_taxi_sample(data, rows=600)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras_tuner.oracles.RandomSearchOracle, "populate_space",
                      lambda self, trial_id: {"status": "RUNNING", "values": dict(STRONG)})
        first = run_pipeline_in_process(data, out, *ARGS)
        assert first.returncode == 0, first.stderr[-3000:]
        again = run_pipeline_in_process(data, out, *ARGS)
        assert again.returncode == 0, again.stderr[-3000:]
    return {"out": out, "first": _summary(first.stdout), "again": _summary(again.stdout)}


def _summary(stdout: str) -> dict:
    """The `--json` summary. In this process the lines KerasTuner and TFX's Tuner
    executor print (search space, trial results) reach the captured stdout ahead of it:
    a fresh process writes them to the run's log."""
    return json.loads(stdout[stdout.index('{\n  "run_id"'):])


def _states(summary: dict) -> dict[str, str]:
    return {row["id"]: row["state"] for row in summary["components"]}


def _hidden_widths(model_uri: str) -> list[int]:
    """The widths of a trained model's hidden Dense layers, from its checkpoint: each
    Dense kernel is [inputs, units]; the output layer's (1 unit) is left out."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(f"{model_uri}/Format-Serving/variables/variables")
    shapes = reader.get_variable_to_shape_map()
    kernels = sorted((name, shape) for name, shape in shapes.items()
                     if "kernel" in name and len(shape) == 2 and "OPTIMIZER" not in name)
    return sorted(shape[1] for _, shape in kernels if shape[1] != 1)


def test_the_tuner_runs_between_transform_and_trainer_and_lists_its_trials(tuned):
    summary = tuned["first"]
    states = _states(summary)
    order = [row["id"] for row in summary["components"]]
    assert states["Tuner"] == "executed"
    assert order.index("Transform") < order.index("Tuner") < order.index("Trainer")
    # The trials were scored on a split of their own, about a fifth of the rows; the
    # Evaluator judged the chosen model on the eval rows alone.
    rows = summary["rows"]
    assert set(rows) == {"train", "tune", "eval"} and 60 < rows["tune"] < 180
    assert summary["metrics"]["example_count"] == rows["eval"]
    tuning = summary["tuning"]
    assert (tuning["objective"], tuning["direction"]) == ("val_auc", "max")
    assert len(tuning["trials"]) == 2
    assert all(0.0 <= trial["score"] <= 1.0 for trial in tuning["trials"])
    assert [trial["chosen"] for trial in tuning["trials"]] == [True, False]
    # The first trial was the untuned model, and lost to STRONG.
    assert [trial["default"] for trial in tuning["trials"]] == [False, True]
    assert tuning["best"] == STRONG
    shown = cli_in_process("show", "--output-dir", str(tuned["out"]),
                           tuned["first"]["run_id"])
    assert shown.returncode == 0, shown.stderr
    assert "tuning: 2 trials by val_auc (higher is better)" in shown.stdout


def test_the_trainer_trains_the_chosen_network(tuned):
    best = tuned["first"]["tuning"]["best"]
    store = metadata.open_store(tuned["out"] / "metadata.db")
    model = metadata.output(metadata.run_outputs(store, tuned["first"]["run_id"]),
                            "Trainer", "Model")
    assert best == STRONG
    assert _hidden_widths(model.uri) == [32]


def test_an_unchanged_rerun_reuses_the_search_and_lineage_names_it(tuned):
    states = _states(tuned["again"])
    assert states["Tuner"] == "cached" and states["Trainer"] == "cached"
    assert tuned["again"]["tuning"]["best"] == tuned["first"]["tuning"]["best"]
    lineage = cli_in_process("lineage", "latest", "--output-dir", str(tuned["out"]), "--json")
    assert lineage.returncode == 0, lineage.stderr
    found = json.loads(lineage.stdout)
    assert found["tuning"]["run_id"] == tuned["first"]["run_id"]
    assert found["tuning"]["best"] == tuned["first"]["tuning"]["best"]
    assert "Tuner" in [step["component"] for step in found["steps"]]
    text = cli_in_process("lineage", "latest", "--output-dir", str(tuned["out"]))
    assert f"hyperparameters tuned in run {tuned['first']['run_id']}: 2 trials" in text.stdout
