"""The Keras model and the TFX Trainer entry point.

`build_model` is a plain function of the model inputs, category sizes and
`Hyperparameters`, so tests can build and fit it without TFX. `run_fn` is the thin
adapter TFX calls: read the raw examples through the Transform graph, fit (with the
Tuner's best hyperparameters when the pipeline tunes, models/tuner.py), export a
SavedModel whose signatures apply the same graph to raw inputs.
"""

import dataclasses
import math
from collections.abc import Mapping

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public.tfxio import TensorFlowDatasetOptions

from models.features import (
    CLASSIFICATION,
    NUMERIC_BUCKETS_KEY,
    NUMERIC_KEY,
    Encoding,
    ModelInputs,
    bucket_offsets,
    bucketed_columns,
    numeric_columns,
    transformed_name,
)
from models.preprocessing import INPUTS_KEY
from models.signatures import (
    EXAMPLES_INPUT,
    EXAMPLES_SIGNATURE,
    JSON_SIGNATURE,
    MISSING_VALUES,
    TRANSFORM_SIGNATURE,
    input_name,
    output_name,
)

BATCH_SIZE = 256
LEARNING_RATE = 1e-3
HIDDEN_UNITS = (64, 32)
# Small datasets train for at most this many passes (but at least MIN_STEPS steps):
# 200 steps are 145 passes over diabetes' 353 training rows, and its RMSE suffers.
# Datasets of 1,707 training rows or more keep the default 200 steps.
MAX_EPOCHS = 30
MIN_STEPS = 100
# Rows of the shuffle buffer between training passes.
SHUFFLE_ROWS = 10_000
# The names of the hyperparameters in KerasTuner's values (models/tuner.py searches
# them; `Hyperparameters.from_values` reads them back). UNITS_2 0: one hidden layer.
UNITS_1, UNITS_2 = "units_1", "units_2"
LEARNING_RATE_KEY, DROPOUT_KEY, STEPS_KEY = "learning_rate", "dropout", "train_steps"


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    """What the Tuner searches. The defaults are the untuned model."""

    hidden_units: tuple[int, ...] = HIDDEN_UNITS
    learning_rate: float = LEARNING_RATE
    # Dropout after each hidden layer; 0 adds no layer, so the untuned model is the same
    # network (and the same random initialization) as before tuning existed.
    dropout: float = 0.0
    # Training steps; None: the Trainer's configured steps (Config.train_steps), capped
    # for small data (`train_steps`).
    train_steps: int | None = None

    @classmethod
    def from_values(cls, values: Mapping) -> "Hyperparameters":
        """From KerasTuner's `HyperParameters.values` (a name is missing: its default)."""
        default = cls()
        units = tuple(int(values[key]) for key in (UNITS_1, UNITS_2) if values.get(key))
        steps = values.get(STEPS_KEY)
        return cls(hidden_units=units or default.hidden_units,
                   learning_rate=float(values.get(LEARNING_RATE_KEY, default.learning_rate)),
                   dropout=float(values.get(DROPOUT_KEY, default.dropout)),
                   train_steps=int(steps) if steps else None)


def category_sizes(inputs: ModelInputs,
                   tf_transform_output: tft.TFTransformOutput) -> dict[str, int]:
    """Number of distinct indices of every categorical (VOCABULARY, INTEGER_CATEGORY)
    input of the model; the numeric columns' buckets are counted by `bucket_offsets`."""
    sizes = {}
    for name, feature in inputs.features.items():
        if feature.encoding is Encoding.VOCABULARY:
            # +1 for the out-of-vocabulary bucket.
            sizes[transformed_name(name)] = tf_transform_output.vocabulary_size_by_name(
                input_name(name)) + 1
        elif feature.encoding is Encoding.INTEGER_CATEGORY:
            # +1 for the missing/out-of-range category.
            sizes[transformed_name(name)] = feature.num_values + 1
    return sizes


def _head(inputs: ModelInputs, label_scale: tuple[float, float]):
    """Output layer, loss and metrics for the task. A regression network learns the
    standardized label; `label_scale` (mean, std) turns its output back into units."""
    label = inputs.label
    if label.task != CLASSIFICATION:
        mean, std = label_scale

        def head(x):
            x = tf.keras.layers.Dense(1)(x)
            return tf.keras.layers.Rescaling(std, offset=mean, name=output_name(label.task))(x)

        return head, "mse", [tf.keras.metrics.RootMeanSquaredError(name="rmse")]
    if label.num_classes == 2:
        return (tf.keras.layers.Dense(1, activation="sigmoid", name=output_name(label.task)),
                "binary_crossentropy",
                [tf.keras.metrics.AUC(name="auc"), tf.keras.metrics.BinaryAccuracy()])
    return (tf.keras.layers.Dense(label.num_classes, activation="softmax",
                                  name=output_name(label.task)),
            "sparse_categorical_crossentropy",
            [tf.keras.metrics.SparseCategoricalAccuracy()])


class OneHot(tf.keras.layers.Layer):
    """The one-hot (one id per row) or multi-hot (several distinct ids per row) vector
    of `size` of int64 ids [batch, ids], as tf.keras.layers.CategoryEncoding gives it,
    but from one_hot and a max: CategoryEncoding counts with bincount (DenseBincount),
    which is not a TFLite builtin, and the model is also exported to TFLite
    (pipeline/tflite.py)."""

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, ids):
        return tf.reduce_max(tf.one_hot(ids, self.size, dtype=self.compute_dtype), axis=1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class BucketOneHot(tf.keras.layers.Layer):
    """The multi-hot vector of the numeric columns' bucket ids [batch, columns] (column
    i's id in [offsets[i], offsets[i] + counts[i]), models.features.bucket_offsets):
    each column's one-hot vector side by side, the vector `OneHot(sum(counts))` gives.
    Built per column (one_hot of id - offset, at most max(counts) wide) instead of one
    one-hot of every id over all ids: that was a [batch, columns, columns x buckets]
    tensor, 2.5 GB per batch of 256 at 500 columns, growing with the square of the
    column count (bench/WIDE.md). TFLite builtins only (one_hot, reshape, gather)."""

    def __init__(self, offsets, counts, **kwargs):
        super().__init__(**kwargs)
        self.offsets, self.counts = [int(o) for o in offsets], [int(c) for c in counts]

    def call(self, ids):
        width = max(self.counts)
        local = ids - tf.constant(self.offsets, dtype=ids.dtype)
        hot = tf.one_hot(local, width, dtype=self.compute_dtype)
        flat = tf.reshape(hot, [-1, len(self.offsets) * width])
        if all(count == width for count in self.counts):
            return flat
        # Columns with fewer buckets: drop the padding positions.
        keep = [index * width + bucket for index, count in enumerate(self.counts)
                for bucket in range(count)]
        return tf.gather(flat, keep, axis=1)

    def get_config(self):
        return {**super().get_config(), "offsets": self.offsets, "counts": self.counts}


def build_model(model_inputs: ModelInputs, sizes: Mapping[str, int], seed: int = 0,
                label_scale: tuple[float, float] = (0.0, 1.0),
                hyperparameters: Hyperparameters = Hyperparameters()) -> tf.keras.Model:
    """A feed-forward network over z-scored numerics and one-hot categories, with the
    hidden layers, dropout and learning rate of `hyperparameters`.

    All numeric columns come in as one [batch, columns] input and their bucket ids as
    one more, multi-hot encoded in one layer (the same vector as a one-hot per column
    side by side): a Keras input and layer per column made building, tracing and
    saving the model grow with the column count (bench/WIDE.md). Each categorical
    column (`sizes`) keeps its own input and one-hot encoding."""
    tf.keras.utils.set_random_seed(seed)
    features = model_inputs.features
    inputs, encoded = {}, []
    numeric = numeric_columns(features)
    if numeric:
        inputs[NUMERIC_KEY] = tf.keras.Input(shape=(len(numeric),), name=NUMERIC_KEY,
                                             dtype=tf.float32)
        encoded.append(inputs[NUMERIC_KEY])
    bucketed = bucketed_columns(features)
    if bucketed:
        offsets, _ = bucket_offsets(features)
        inputs[NUMERIC_BUCKETS_KEY] = tf.keras.Input(
            shape=(len(bucketed),), name=NUMERIC_BUCKETS_KEY, dtype=tf.int64)
        encoded.append(BucketOneHot(offsets, [features[name].buckets for name in bucketed])(
            inputs[NUMERIC_BUCKETS_KEY]))
    for key, size in sizes.items():
        inputs[key] = tf.keras.Input(shape=(1,), name=key, dtype=tf.int64)
        encoded.append(OneHot(size)(inputs[key]))
    x = tf.keras.layers.Concatenate()(encoded) if len(encoded) > 1 else encoded[0]
    for units in hyperparameters.hidden_units:
        x = tf.keras.layers.Dense(units, activation="relu")(x)
        if hyperparameters.dropout:
            x = tf.keras.layers.Dropout(hyperparameters.dropout, seed=seed)(x)
    head, loss, metrics = _head(model_inputs, label_scale)
    model = tf.keras.Model(inputs=inputs, outputs=head(x))
    model.compile(optimizer=tf.keras.optimizers.Adam(hyperparameters.learning_rate),
                  loss=loss, metrics=metrics)
    return model


def _raw_batches(fn_args: FnArgs, files, tf_transform_output: tft.TFTransformOutput,
                 seed: int) -> tf.data.Dataset:
    """One shuffled pass over raw examples in batches, parsed with the schema the
    Transform component read them with."""
    return fn_args.data_accessor.tf_dataset_factory(
        files,
        TensorFlowDatasetOptions(batch_size=BATCH_SIZE, shuffle_seed=seed, num_epochs=1),
        tf_transform_output.raw_metadata.schema,
    )


def training_batches(raw: tf.data.Dataset, transform_layer, label_key: str,
                     seed: int) -> tf.data.Dataset:
    """(features, label) batches of `raw` through the Transform graph, repeated forever.

    The Transform component does not write transformed copies of the examples
    (materialize=False): writing them took 3 s of the 15k-row taxi run, more than
    transforming here. Each row is transformed once; the transformed rows are cached
    in memory (as far as training reads them) and reshuffled row by row every pass.
    """
    def transform(batch):
        features = transform_layer(batch)
        return features, features.pop(label_key)

    return (raw.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
            .cache()
            .unbatch()
            .shuffle(SHUFFLE_ROWS, seed=seed, reshuffle_each_iteration=True)
            .batch(BATCH_SIZE)
            .repeat()
            .prefetch(tf.data.AUTOTUNE))


def _batch_rows(batch: Mapping[str, tf.Tensor]) -> int:
    """Number of rows in a batch of raw features (dense, sparse or ragged)."""
    value = next(iter(batch.values()))
    if isinstance(value, tf.SparseTensor):
        return int(value.dense_shape[0])
    if isinstance(value, tf.RaggedTensor):
        return int(value.nrows())
    return int(tf.shape(value)[0])


def rows_needed(configured: int) -> int:
    """Training rows from which `configured` steps are at most MAX_EPOCHS passes."""
    return math.ceil(configured * BATCH_SIZE / MAX_EPOCHS)


def capped_steps(configured: int, rows: int) -> int:
    """`configured`, capped at MAX_EPOCHS passes over `rows` training rows (but at
    least MIN_STEPS steps)."""
    if rows >= rows_needed(configured):
        return configured
    return min(configured, max(MIN_STEPS, math.ceil(MAX_EPOCHS * rows / BATCH_SIZE)))


def count_rows(raw: tf.data.Dataset, cap: int) -> int:
    """Rows in the one-pass batches `raw`, counted up to `cap` (a large dataset is
    not read to its end)."""
    rows = 0
    for batch in raw:
        rows += _batch_rows(batch)
        if rows >= cap:
            break
    return rows


def train_steps(configured: int, raw: tf.data.Dataset) -> int:
    """`configured`, capped at MAX_EPOCHS passes over the one-pass batches `raw`
    (counted only as far as the cap matters, so large datasets are not read)."""
    return capped_steps(configured, count_rows(raw, rows_needed(configured)))


def transform_function(layer):
    """The Transform layer's `call`, not the layer itself: a (tf_keras) layer called as
    a layer records its input signature, and saving the model then traces it once more
    for Keras, pruning the whole Transform graph to the raw columns each time (the
    Trainer's largest cost on wide data: bench/WIDE.md). Nothing loads the model as a
    Keras model; serving, TFMA and TFLite call its signatures."""
    return layer.call


def _present(value: tf.Tensor) -> tf.Tensor:
    """Which entries of a JSON-signature input carry a value (see MISSING_VALUES)."""
    if value.dtype.is_floating:
        return tf.logical_not(tf.math.is_nan(value))
    return tf.not_equal(value, MISSING_VALUES[value.dtype.name])


def _as_optional_column(value: tf.Tensor) -> tf.SparseTensor:
    """A dense [batch] input as the [batch, 1] sparse column tf.io.parse_example gives
    for an optional feature: marked entries become absent values."""
    rows = tf.where(_present(value))
    return tf.SparseTensor(
        indices=tf.concat([rows, tf.zeros_like(rows)], axis=1),
        values=tf.gather_nd(value, rows),
        dense_shape=tf.stack([tf.shape(value, out_type=tf.int64)[0], 1]),
    )


def _label_scale(dataset: tf.data.Dataset, batches: int = 40) -> tuple[float, float]:
    """Mean and standard deviation of the label over a sample of training batches."""
    labels = tf.concat([tf.reshape(tf.cast(y, tf.float32), [-1])
                        for _, y in dataset.take(batches)], axis=0)
    return float(tf.reduce_mean(labels)), float(tf.math.reduce_std(labels)) or 1.0


def _signatures(model: tf.keras.Model, inputs: ModelInputs,
                tf_transform_output: tft.TFTransformOutput) -> dict:
    """Three signatures over the same Transform graph; none takes the label.

    serving_default: one [batch] tensor per model feature, named by its `input_name`
    (what TF Serving's REST API builds from plain JSON); from_examples: serialized
    tf.Examples of raw columns, under their CSV names; transform_features: lets TFMA
    compute the label from raw examples.
    """
    model.tft_layer = tf_transform_output.transform_features_layer()
    transform = transform_function(model.tft_layer)
    raw_spec = tf_transform_output.raw_feature_spec()
    # Raw column -> TF name. Inside TF functions columns go by their TF names; only the
    # Transform graph and tf.Example parsing see the CSV names.
    names = {column: input_name(column) for column in inputs.features}
    json_spec = {
        name: tf.TensorSpec([None], raw_spec[column].dtype, name=name)
        for column, name in names.items()
    }
    # Both serving signatures hand the model's raw features to `score` as optional
    # columns, so the Transform graph and the model are traced once for the two
    # (tracing them is most of the time saving takes).
    optional_spec = {column: tf.io.VarLenFeature(raw_spec[column].dtype) for column in names}
    output = output_name(inputs.label.task)

    @tf.function(input_signature=[{
        names[column]: tf.SparseTensorSpec([None, None], spec.dtype)
        for column, spec in optional_spec.items()}])
    def score(features):
        raw = {column: features[name] for column, name in names.items()}
        return {output: model(transform(raw))}

    @tf.function(input_signature=[json_spec])
    def serve_json(features):
        return score({name: _as_optional_column(value) for name, value in features.items()})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def serve_examples(serialized):
        parsed = tf.io.parse_example(serialized, optional_spec)
        return score({names[column]: value for column, value in parsed.items()})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def transform_features(serialized):
        return transform(tf.io.parse_example(serialized, raw_spec))

    return {
        JSON_SIGNATURE: serve_json,
        EXAMPLES_SIGNATURE: serve_examples,
        TRANSFORM_SIGNATURE: transform_features,
    }


def trainer_hyperparameters(fn_args: FnArgs) -> Hyperparameters:
    """The Tuner's best hyperparameters when the Trainer has them (TFX hands over
    KerasTuner's `HyperParameters.get_config()`), else the untuned defaults."""
    if not fn_args.hyperparameters:
        return Hyperparameters()
    return Hyperparameters.from_values(fn_args.hyperparameters.get("values", {}))


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point: raw examples in (`fn_args.train_files`), the Transform
    graph applied here (see `training_batches`)."""
    seed = int(fn_args.custom_config.get("seed", 0))
    inputs = ModelInputs.from_json(fn_args.custom_config[INPUTS_KEY])
    hyperparameters = trainer_hyperparameters(fn_args)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    raw = _raw_batches(fn_args, fn_args.train_files, tf_transform_output, seed)
    train = training_batches(
        raw, transform_function(tf_transform_output.transform_features_layer()),
        inputs.label.name, seed)
    label_scale = (0.0, 1.0)
    if inputs.label.task != CLASSIFICATION:
        label_scale = _label_scale(train)
    model = build_model(inputs, category_sizes(inputs, tf_transform_output), seed=seed,
                        label_scale=label_scale, hyperparameters=hyperparameters)
    # No validation pass: nothing would read its numbers. The Evaluator measures the
    # model on the eval split, sliced and against the thresholds.
    # Tuned steps as they are: the search measured them on the eval split, where the
    # MAX_EPOCHS cap is a guess for untuned training. The rows are counted either way:
    # each pass over `raw` reshuffles it, and counting keeps the Trainer's passes (and
    # so its row order) those of an untuned run and of the Tuner's trials.
    untuned_steps = train_steps(fn_args.train_steps, raw)
    model.fit(train, steps_per_epoch=hyperparameters.train_steps or untuned_steps, verbose=0)
    tf.saved_model.save(model, fn_args.serving_model_dir,
                        signatures=_signatures(model, inputs, tf_transform_output))
