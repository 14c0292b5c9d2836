"""build_model for each task, on random transformed batches, and the Trainer's input
pipeline (no TFX)."""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from models.features import (
    NUMERIC_BUCKETS_KEY,
    NUMERIC_KEY,
    REGRESSION,
    Encoding,
    Feature,
    Label,
    ModelInputs,
    bucket_offsets,
    numeric_columns,
    transformed_name,
)
from models.model import (
    BATCH_SIZE,
    MAX_EPOCHS,
    MIN_STEPS,
    build_model,
    train_steps,
    training_batches,
)
from pipeline.config import make_config

TAXI_INPUTS = make_config().inputs


def _sizes(inputs):
    """Categorical input -> number of indices, as category_sizes gives them."""
    return {transformed_name(name): feature.num_values + 1
            for name, feature in inputs.features.items()
            if feature.encoding is not Encoding.NUMERIC}


def _batch(inputs, sizes, labels, rows=32, seed=0):
    """A random transformed batch as the Transform graph gives it: the numeric matrix,
    the bucket ids (column i's in [offset_i, offset_i + buckets_i)) and categories."""
    rng = np.random.default_rng(seed)
    features = inputs.features
    numeric = numeric_columns(features)
    batch = {NUMERIC_KEY: rng.normal(size=(rows, len(numeric))).astype("float32")}
    offsets, _ = bucket_offsets(features)
    if offsets:
        counts = [features[name].buckets for name in numeric if features[name].buckets]
        batch[NUMERIC_BUCKETS_KEY] = np.stack(
            [offset + rng.integers(0, count, size=rows)
             for offset, count in zip(offsets, counts, strict=True)], axis=1)
    batch.update({key: rng.integers(0, size, size=(rows, 1)) for key, size in sizes.items()})
    return batch, labels(rng, rows)


def test_binary_model_fits_one_step_and_outputs_probabilities():
    sizes = _sizes(TAXI_INPUTS)
    model = build_model(TAXI_INPUTS, sizes)
    features, labels = _batch(TAXI_INPUTS, sizes, lambda rng, n: rng.integers(0, 2, size=(n,)))
    before = [weight.copy() for weight in model.get_weights()]
    history = model.fit(features, labels, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    predictions = model.predict(features, verbose=0)
    assert predictions.shape == (32, 1)
    assert ((predictions >= 0) & (predictions <= 1)).all()


def test_multi_class_model_outputs_one_probability_per_class():
    inputs = dataclasses.replace(
        TAXI_INPUTS, label=Label("kind", classes=("a", "b", "c")))
    sizes = _sizes(inputs)
    model = build_model(inputs, sizes)
    features, labels = _batch(inputs, sizes, lambda rng, n: rng.integers(0, 3, size=(n,)))
    model.fit(features, labels, epochs=1, steps_per_epoch=1, verbose=0)
    predictions = model.predict(features, verbose=0)
    assert predictions.shape == (32, 3)
    assert np.allclose(predictions.sum(axis=1), 1.0, atol=1e-5)


def test_regression_output_is_in_the_label_units():
    inputs = dataclasses.replace(TAXI_INPUTS, label=Label("tips", REGRESSION))
    sizes = _sizes(inputs)
    model = build_model(inputs, sizes, label_scale=(150.0, 40.0))
    features, labels = _batch(inputs, sizes, lambda rng, n: rng.normal(150, 40, size=(n,)))
    history = model.fit(features, labels, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    predictions = model.predict(features, verbose=0)
    assert predictions.shape == (32, 1)
    # An untrained network outputs about 0 standardized units: about the label mean.
    assert 50 < float(np.median(predictions)) < 250


def test_same_seed_gives_the_same_initial_model():
    sizes = _sizes(TAXI_INPUTS)
    first = build_model(TAXI_INPUTS, sizes, seed=3)
    second = build_model(TAXI_INPUTS, sizes, seed=3)
    assert all(np.array_equal(a, b)
               for a, b in zip(first.get_weights(), second.get_weights(), strict=True))


def _raw_batches(rows: int, sparse: bool = False) -> tf.data.Dataset:
    """One pass of `rows` raw rows {"x": row index} in batches, as dense [batch] or as
    the [batch, 1] sparse columns TFXIO gives for optional features."""
    batches = tf.data.Dataset.from_tensor_slices(
        {"x": tf.range(rows, dtype=tf.float32)}).batch(BATCH_SIZE)
    if sparse:
        batches = batches.map(
            lambda batch: {"x": tf.sparse.from_dense(tf.reshape(batch["x"], [-1, 1]))})
    return batches


def test_training_batches_transform_each_row_once_and_reshuffle_every_pass():
    rows = 600
    transformed_rows = tf.Variable(0, dtype=tf.int64)

    def transform_layer(batch):
        transformed_rows.assign_add(tf.shape(batch["x"], out_type=tf.int64)[0])
        return {"x_xf": batch["x"] * 2, "label": batch["x"] + 1}

    per_pass = math.ceil(rows / BATCH_SIZE)
    batches = list(training_batches(_raw_batches(rows), transform_layer, "label", seed=0)
                   .take(3 * per_pass))
    passes = [np.concatenate([labels.numpy() for _, labels in batches[i:i + per_pass]])
              for i in range(0, len(batches), per_pass)]
    for labels in passes:
        assert sorted(labels) == list(range(1, rows + 1))  # every row once per pass
    assert not np.array_equal(passes[0], passes[1])  # in a new order each pass
    for features, labels in batches:
        assert set(features) == {"x_xf"}  # the label is not an input
        assert np.array_equal(features["x_xf"].numpy(), (labels.numpy() - 1) * 2)
    assert int(transformed_rows.numpy()) == rows  # later passes come from the cache


def test_train_steps_stop_small_data_after_max_passes():
    rows = 100
    assert train_steps(200, _raw_batches(rows, sparse=True)) == max(
        MIN_STEPS, math.ceil(MAX_EPOCHS * rows / BATCH_SIZE))
    assert train_steps(50, _raw_batches(rows)) == 50  # fewer asked for: fewer run
    enough = math.ceil(200 * BATCH_SIZE / MAX_EPOCHS)
    assert train_steps(200, _raw_batches(enough, sparse=True)) == 200


def test_taxi_model_takes_the_numeric_columns_as_two_matrices_and_categories_one_each():
    sizes = _sizes(TAXI_INPUTS)
    model = build_model(TAXI_INPUTS, sizes)
    numeric = numeric_columns(TAXI_INPUTS.features)
    _, total = bucket_offsets(TAXI_INPUTS.features)
    shapes = {tensor.name.split(":")[0]: tuple(tensor.shape) for tensor in model.inputs}
    assert shapes[NUMERIC_KEY] == (None, len(numeric))
    assert shapes[NUMERIC_BUCKETS_KEY] == (None, len(numeric))  # classifier: all bucketed
    assert {key: shapes[key] for key in sizes} == {key: (None, 1) for key in sizes}
    assert len(shapes) == 2 + len(sizes)
    # The first hidden layer sees every numeric value, every bucket id and every category.
    first = next(layer for layer in model.layers if isinstance(layer, tf.keras.layers.Dense))
    assert first.kernel.shape[0] == len(numeric) + total + sum(sizes.values())


def _wide_inputs(columns: int, buckets: int) -> ModelInputs:
    features = {f"x{index:04d}": Feature(Encoding.NUMERIC, buckets=buckets)
                for index in range(columns)}
    return ModelInputs(features, Label("target", classes=("0", "1")))


def test_a_wide_model_has_a_fixed_number_of_layers_whatever_the_column_count():
    narrow, wide = build_model(_wide_inputs(20, 10), {}), build_model(_wide_inputs(2000, 10), {})
    assert len(narrow.layers) == len(wide.layers)
    assert [tuple(tensor.shape) for tensor in wide.inputs] == [(None, 2000), (None, 2000)]


def test_every_numeric_column_and_bucket_moves_the_output():
    """Changing one column's value, or only its bucket id, changes the prediction: no
    column of the matrices is dropped on the way to the first layer."""
    columns, buckets = 50, 4
    inputs = _wide_inputs(columns, buckets)
    model = build_model(inputs, {})
    features, _ = _batch(inputs, {}, lambda rng, n: rng.integers(0, 2, size=(n,)), rows=1)
    offsets, _ = bucket_offsets(inputs.features)
    # Row 0 as drawn; row 1 + i: column i's value moved; row 1 + columns + i: its bucket.
    rows = {key: np.repeat(array, 1 + 2 * columns, axis=0) for key, array in features.items()}
    for column in range(columns):
        rows[NUMERIC_KEY][1 + column, column] += 3.0
        ids = rows[NUMERIC_BUCKETS_KEY]
        ids[1 + columns + column, column] = offsets[column] + (
            ids[0, column] - offsets[column] + 1) % buckets
    predictions = model.predict(rows, verbose=0)[:, 0]
    assert (np.abs(predictions[1:] - predictions[0]) > 1e-7).all()


def test_a_regression_model_without_buckets_has_no_bucket_input():
    inputs = dataclasses.replace(_wide_inputs(30, 0), label=Label("target", REGRESSION))
    model = build_model(inputs, {})
    assert [tensor.name.split(":")[0] for tensor in model.inputs] == [NUMERIC_KEY]
    features, labels = _batch(inputs, {}, lambda rng, n: rng.normal(size=(n,)))
    history = model.fit(features, labels, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_one_hot_layer_equals_category_encoding():
    """models.model.OneHot (TFLite builtins) gives CategoryEncoding's one-hot vector of
    one id per row and its multi-hot vector of several distinct ids per row."""
    from models.model import OneHot

    rng = np.random.default_rng(0)
    single = rng.integers(0, 7, size=(50, 1))
    assert np.array_equal(
        OneHot(7)(single).numpy(),
        tf.keras.layers.CategoryEncoding(7, output_mode="one_hot")(single).numpy())
    # Distinct ids per row, as the bucket ids of several columns are (bucket_offsets).
    several = np.stack([rng.integers(0, 4, size=50), 4 + rng.integers(0, 4, size=50)], axis=1)
    assert np.array_equal(
        OneHot(8)(several).numpy(),
        tf.keras.layers.CategoryEncoding(8, output_mode="multi_hot")(several).numpy())


def test_bucket_one_hot_equals_the_one_hot_of_all_ids():
    """BucketOneHot gives OneHot(total)'s multi-hot vector of the bucket ids, for equal
    bucket counts and for unequal ones (padding dropped), without its
    [batch, columns, total] intermediate (bench/WIDE.md)."""
    from models.model import BucketOneHot, OneHot

    rng = np.random.default_rng(0)
    for counts in ([10, 10, 10, 10], [3, 10, 1, 7]):
        offsets = np.cumsum([0, *counts[:-1]])
        ids = np.stack([offset + rng.integers(0, count, size=64)
                        for offset, count in zip(offsets, counts, strict=True)], axis=1)
        expected = OneHot(sum(counts))(ids).numpy()
        assert np.array_equal(BucketOneHot(offsets, counts)(ids).numpy(), expected)


def test_a_wide_models_bucket_encoding_grows_linearly_with_the_columns():
    """The bucket layer's largest tensor is [batch, columns, buckets]: 2,000 columns fit
    one step in memory (the one-hot over all ids would be 10 GB per 256 rows)."""
    from models.model import BucketOneHot

    inputs = _wide_inputs(2000, 10)
    layer = next(layer for layer in build_model(inputs, {}).layers
                 if isinstance(layer, BucketOneHot))
    ids = tf.constant(np.arange(2000, dtype=np.int64)[np.newaxis].repeat(256, axis=0) * 10)
    graph = tf.function(layer.call).get_concrete_function(ids).graph
    largest = max(np.prod([d or 1 for d in op.outputs[0].shape])
                  for op in graph.get_operations() if op.outputs and op.outputs[0].shape.rank)
    assert largest <= 256 * 2000 * 10
