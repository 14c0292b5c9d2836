"""The Keras model and the TFX Trainer entry point.

`build_model` is a plain function of the category sizes, so tests can build and fit it
without TFX. `run_fn` is the thin adapter TFX calls: read the transformed data, fit,
export a SavedModel whose signatures apply the Transform graph to raw inputs.
"""

from collections.abc import Mapping

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public.tfxio import TensorFlowDatasetOptions

from models.features import FEATURES, LABEL, Encoding, bucket_name, transformed_name
from models.signatures import (
    EXAMPLES_INPUT,
    EXAMPLES_SIGNATURE,
    JSON_SIGNATURE,
    MISSING_VALUES,
    OUTPUT,
    TRANSFORM_SIGNATURE,
)

BATCH_SIZE = 256
LEARNING_RATE = 1e-3
HIDDEN_UNITS = (64, 32)


def category_sizes(tf_transform_output: tft.TFTransformOutput) -> dict[str, int]:
    """Number of distinct indices of every categorical input of the model."""
    sizes = {}
    for name, feature in FEATURES.items():
        if feature.encoding is Encoding.NUMERIC and feature.buckets:
            sizes[bucket_name(name)] = feature.buckets
        elif feature.encoding is Encoding.VOCABULARY:
            # +1 for the out-of-vocabulary bucket.
            sizes[transformed_name(name)] = tf_transform_output.vocabulary_size_by_name(name) + 1
        elif feature.encoding is Encoding.INTEGER_CATEGORY:
            # +1 for the missing/out-of-range category.
            sizes[transformed_name(name)] = feature.num_values + 1
    return sizes


def build_model(sizes: Mapping[str, int], seed: int = 0) -> tf.keras.Model:
    """A feed-forward network over z-scored numerics and one-hot categories."""
    tf.keras.utils.set_random_seed(seed)
    inputs, encoded = {}, []
    for name, feature in FEATURES.items():
        if feature.encoding is Encoding.NUMERIC:
            key = transformed_name(name)
            inputs[key] = tf.keras.Input(shape=(1,), name=key, dtype=tf.float32)
            encoded.append(inputs[key])
    for key, size in sizes.items():
        inputs[key] = tf.keras.Input(shape=(1,), name=key, dtype=tf.int64)
        encoded.append(tf.keras.layers.CategoryEncoding(size, output_mode="one_hot")(inputs[key]))
    x = tf.keras.layers.Concatenate()(encoded)
    for units in HIDDEN_UNITS:
        x = tf.keras.layers.Dense(units, activation="relu")(x)
    output = tf.keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    model = tf.keras.Model(inputs=inputs, outputs=output)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(LEARNING_RATE),
        loss="binary_crossentropy",
        metrics=[tf.keras.metrics.AUC(name="auc"), tf.keras.metrics.BinaryAccuracy()],
    )
    return model


def _dataset(fn_args: FnArgs, files, tf_transform_output, seed) -> tf.data.Dataset:
    return fn_args.data_accessor.tf_dataset_factory(
        files,
        TensorFlowDatasetOptions(batch_size=BATCH_SIZE, label_key=LABEL.key, shuffle_seed=seed),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


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


def _signatures(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput) -> dict:
    """Three signatures over the same Transform graph; none takes the label.

    serving_default: one [batch] tensor per model feature (what TF Serving's REST API
    builds from plain JSON); from_examples: serialized tf.Examples of raw columns;
    transform_features: lets TFMA compute the label from raw examples.
    """
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    serving_spec = {
        name: spec for name, spec in raw_spec.items() if name != LABEL.tips_column
    }
    json_spec = {
        name: tf.TensorSpec([None], raw_spec[name].dtype, name=name) for name in FEATURES
    }

    @tf.function(input_signature=[json_spec])
    def serve_json(features):
        raw = {name: _as_optional_column(value) for name, value in features.items()}
        return {OUTPUT: model(model.tft_layer(raw))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def serve_examples(serialized):
        features = model.tft_layer(tf.io.parse_example(serialized, serving_spec))
        return {OUTPUT: model(features)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def transform_features(serialized):
        return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

    return {
        JSON_SIGNATURE: serve_json,
        EXAMPLES_SIGNATURE: serve_examples,
        TRANSFORM_SIGNATURE: transform_features,
    }


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point."""
    seed = int(fn_args.custom_config.get("seed", 0)) if fn_args.custom_config else 0
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    model = build_model(category_sizes(tf_transform_output), seed=seed)
    model.fit(
        _dataset(fn_args, fn_args.train_files, tf_transform_output, seed),
        steps_per_epoch=fn_args.train_steps,
        validation_data=_dataset(fn_args, fn_args.eval_files, tf_transform_output, seed),
        validation_steps=fn_args.eval_steps,
        verbose=0,
    )
    tf.saved_model.save(
        model, fn_args.serving_model_dir, signatures=_signatures(model, tf_transform_output))
