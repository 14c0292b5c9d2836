import numpy as np

from models.features import FEATURES, Encoding, transformed_name
from models.model import build_model


def _batch(sizes, rows=32, seed=0):
    rng = np.random.default_rng(seed)
    features = {
        transformed_name(name): rng.normal(size=(rows, 1)).astype("float32")
        for name, feature in FEATURES.items() if feature.encoding is Encoding.NUMERIC
    }
    features.update({key: rng.integers(0, size, size=(rows, 1)) for key, size in sizes.items()})
    return features, rng.integers(0, 2, size=(rows,))


def _sizes():
    sizes = {}
    for name, feature in FEATURES.items():
        if feature.encoding is Encoding.NUMERIC and feature.buckets:
            sizes[f"{name}_bucket_xf"] = feature.buckets
        elif feature.encoding is not Encoding.NUMERIC:
            sizes[transformed_name(name)] = feature.num_values + 1
    return sizes


def test_model_builds_and_fits_one_step():
    sizes = _sizes()
    model = build_model(sizes)
    features, labels = _batch(sizes)
    before = [weight.copy() for weight in model.get_weights()]
    history = model.fit(features, labels, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    predictions = model.predict(features, verbose=0)
    assert predictions.shape == (32, 1)
    assert ((predictions >= 0) & (predictions <= 1)).all()


def test_same_seed_gives_the_same_initial_model():
    sizes = _sizes()
    first, second = build_model(sizes, seed=3), build_model(sizes, seed=3)
    assert all(np.array_equal(a, b)
               for a, b in zip(first.get_weights(), second.get_weights(), strict=True))
