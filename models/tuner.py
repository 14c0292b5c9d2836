"""The TFX Tuner entry point (`run --tune`): a KerasTuner random search over the
hyperparameters of `models.model.build_model` that matter (hidden layer sizes, learning
rate, dropout, training steps).

The search space follows the task (a regression network, which learns the
standardized label, gets larger learning rates to try) and the size of the training
split (small data gets smaller layers and more dropout; the step counts are around
what the untuned Trainer trains for, which small data caps). Its first trial is the
untuned model (every hyperparameter at its default), so the best trial is never worse
than the default on the objective. Each trial trains on the training rows and is scored
by the task's metric (`objective_for`) on the pipeline's "tune" split: rows the trials
do not train on and the Evaluator does not judge by (pipeline/definition.py, TUNE).
"""

import keras_tuner
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from models.features import CLASSIFICATION, Label, ModelInputs
from models.model import (
    DROPOUT_KEY,
    HIDDEN_UNITS,
    LEARNING_RATE,
    LEARNING_RATE_KEY,
    STEPS_KEY,
    UNITS_1,
    UNITS_2,
    Hyperparameters,
    _label_scale,
    _raw_batches,
    build_model,
    capped_steps,
    category_sizes,
    count_rows,
    rows_needed,
    training_batches,
    transform_function,
)
from models.preprocessing import INPUTS_KEY

# Training splits below this many rows count as small (the bundled scikit-learn
# datasets have 142-455; the taxi sample has about 12,000).
SMALL_ROWS = 2_000
# The Tuner's custom_config keys (pipeline/definition.py sets them).
TRIALS_KEY, OBJECTIVE_KEY, DIRECTION_KEY = "trials", "objective", "direction"


def objective_for(label: Label) -> tuple[str, str]:
    """The eval-split metric a trial is scored by, and whether higher ("max") or lower
    ("min") is better: AUC for two classes, accuracy for more (what the Evaluator
    gates), RMSE for regression. Keras names them as models.model._head does, with
    `val_` for the validation data."""
    if label.task != CLASSIFICATION:
        return "val_rmse", "min"
    if label.num_classes == 2:
        return "val_auc", "max"
    return "val_sparse_categorical_accuracy", "max"


def _steps_choices(configured: int, train_rows: int) -> tuple[list[int], int]:
    """Half, the same and twice the steps the untuned Trainer trains for (the
    configured steps, capped for small data: models.model.capped_steps), and that
    default. Tuned steps are not capped again: the search measured them."""
    default = capped_steps(configured, train_rows)
    return sorted({max(1, default // 2), default, 2 * default}), default


def search_space(label: Label, train_rows: int,
                 configured_steps: int) -> keras_tuner.HyperParameters:
    """What the Tuner searches for this task and this many training rows. Every
    hyperparameter's default is the untuned model's value (`Hyperparameters()`)."""
    small = train_rows < SMALL_ROWS
    space = keras_tuner.HyperParameters()
    space.Choice(UNITS_1, [16, 32, 64] if small else [32, 64, 128], default=HIDDEN_UNITS[0])
    # 0: no second hidden layer.
    space.Choice(UNITS_2, [0, 16, 32] if small else [0, 32, 64], default=HIDDEN_UNITS[1])
    rates = [3e-4, 1e-3, 3e-3] if label.task == CLASSIFICATION else [1e-3, 3e-3, 1e-2]
    space.Choice(LEARNING_RATE_KEY, rates, default=LEARNING_RATE)
    space.Choice(DROPOUT_KEY, [0.0, 0.2, 0.4] if small else [0.0, 0.1, 0.2], default=0.0)
    steps, default_steps = _steps_choices(configured_steps, train_rows)
    space.Choice(STEPS_KEY, steps, default=default_steps)
    return space


class DefaultFirstOracle(keras_tuner.oracles.RandomSearchOracle):
    """Random search whose first trial is the space's defaults: the untuned model."""

    def populate_space(self, trial_id):
        if not self.trials:
            return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING,
                    "values": {item.name: item.default for item in self.hyperparameters.space}}
        return super().populate_space(trial_id)


class _HyperModel(keras_tuner.HyperModel):
    """build_model with a trial's values; each trial trains for its own steps."""

    def __init__(self, inputs: ModelInputs, sizes: dict, seed: int, label_scale):
        super().__init__()
        self.inputs, self.sizes, self.seed = inputs, sizes, seed
        self.label_scale = label_scale

    def build(self, hp):
        return build_model(self.inputs, self.sizes, seed=self.seed,
                           label_scale=self.label_scale,
                           hyperparameters=Hyperparameters.from_values(hp.values))

    def fit(self, hp, model, *args, **kwargs):
        steps = Hyperparameters.from_values(hp.values).train_steps
        return model.fit(*args, steps_per_epoch=steps, epochs=1, **kwargs)


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """TFX Tuner entry point: the same inputs and Transform graph as the Trainer's
    run_fn; `fn_args.custom_config` names the trials and the objective."""
    config = fn_args.custom_config
    seed = int(config.get("seed", 0))
    inputs = ModelInputs.from_json(config[INPUTS_KEY])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    layer = transform_function(tf_transform_output.transform_features_layer())
    raw = _raw_batches(fn_args, fn_args.train_files, tf_transform_output, seed)
    train = training_batches(raw, layer, inputs.label.name, seed)

    def transform(batch):
        features = layer(batch)
        return features, features.pop(inputs.label.name)

    evaluation = _raw_batches(fn_args, fn_args.eval_files, tf_transform_output, seed).map(
        transform).cache()
    label_scale = _label_scale(train) if inputs.label.task != CLASSIFICATION else (0.0, 1.0)
    # Counted as far as the search space needs: to tell small data, and to cap the
    # configured steps.
    rows = count_rows(raw, max(SMALL_ROWS, rows_needed(fn_args.train_steps)))
    space = search_space(inputs.label, rows, fn_args.train_steps)
    tuner = keras_tuner.Tuner(
        oracle=DefaultFirstOracle(
            objective=keras_tuner.Objective(config[OBJECTIVE_KEY], config[DIRECTION_KEY]),
            # KerasTuner takes a seed of 0 for none and draws one at random: the
            # search would differ from run to run.
            max_trials=int(config[TRIALS_KEY]), seed=seed + 1, hyperparameters=space,
            allow_new_entries=False, tune_new_entries=False),
        hypermodel=_HyperModel(inputs, category_sizes(inputs, tf_transform_output), seed,
                               label_scale),
        directory=fn_args.working_dir, project_name="search", overwrite=True)
    return TunerFnResult(tuner=tuner, fit_kwargs={"x": train, "validation_data": evaluation,
                                                  "verbose": 0})
