"""build_model for each task, on random transformed batches (no TFX)."""

import dataclasses

import numpy as np

from models.features import REGRESSION, Encoding, Label, transformed_name
from models.model import build_model
from pipeline.config import make_config

TAXI_INPUTS = make_config().inputs


def _sizes(inputs):
    sizes = {}
    for name, feature in inputs.features.items():
        if feature.encoding is Encoding.NUMERIC and feature.buckets:
            sizes[f"{name}_bucket_xf"] = feature.buckets
        elif feature.encoding is not Encoding.NUMERIC:
            sizes[transformed_name(name)] = feature.num_values + 1
    return sizes


def _batch(inputs, sizes, labels, rows=32, seed=0):
    rng = np.random.default_rng(seed)
    features = {
        transformed_name(name): rng.normal(size=(rows, 1)).astype("float32")
        for name, feature in inputs.features.items() if feature.encoding is Encoding.NUMERIC
    }
    features.update({key: rng.integers(0, size, size=(rows, 1)) for key, size in sizes.items()})
    return features, labels(rng, rows)


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
