"""The tf.Transform `preprocessing_fn`: raw columns in, model-ready tensors out.

Everything here runs inside the Transform graph, so training, evaluation and serving
apply exactly the same encoding (no training/serving skew). Which columns there are and
how each is encoded comes from `custom_config["inputs"]` (models.features.ModelInputs).
"""

import tensorflow as tf
import tensorflow_transform as tft

from models.features import (
    CLASSIFICATION,
    Encoding,
    Feature,
    Label,
    ModelInputs,
    bucket_name,
    transformed_name,
)
from models.signatures import input_name

INPUTS_KEY = "inputs"


def _to_dense(x, default):
    """A rank-1 dense tensor from a possibly sparse (optional) rank-2 column."""
    if isinstance(x, tf.sparse.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
    return tf.reshape(x, [-1])


def _value_and_presence(x):
    """A rank-1 float32 column (missing values as 0) and whether each value is there."""
    if isinstance(x, tf.sparse.SparseTensor):
        present = _to_dense(tf.SparseTensor(x.indices, tf.ones_like(x.values, tf.float32),
                                            x.dense_shape), 0.0)
        return _to_dense(tf.SparseTensor(x.indices, tf.cast(x.values, tf.float32),
                                         x.dense_shape), 0.0), present
    value = tf.cast(_to_dense(x, 0), tf.float32)
    return value, tf.ones_like(value)


def _numeric(inputs, features: dict[str, Feature], outputs: dict) -> None:
    """Every numeric column at once, as the columns of one [batch, columns] matrix:
    missing values get the mean of the present ones (0 for a column without any), then
    z-score, and quantile buckets where the Feature asks for them. One elementwise
    analyzer per statistic instead of one per column: Transform's cost grows with the
    number of analyzers (30 numeric columns took 50 s with one each)."""
    names = list(features)
    pairs = [_value_and_presence(inputs[name]) for name in names]
    matrix = tf.stack([value for value, _ in pairs], axis=1)
    present = tf.stack([presence for _, presence in pairs], axis=1)
    mean = tf.math.divide_no_nan(tft.sum(matrix * present, reduce_instance_dims=False),
                                 tft.sum(present, reduce_instance_dims=False))
    filled = tf.where(present > 0, matrix, mean)
    scaled = tft.scale_to_z_score(filled, elementwise=True)
    for index, name in enumerate(names):
        outputs[transformed_name(name)] = scaled[:, index]
    for count in sorted({feature.buckets for feature in features.values()} - {0}):
        bucketed = [name for name in names if features[name].buckets == count]
        columns = [names.index(name) for name in bucketed]
        buckets = tft.bucketize(tf.gather(filled, columns, axis=1), count, elementwise=True)
        for index, name in enumerate(bucketed):
            outputs[bucket_name(name)] = buckets[:, index]


def _label(inputs, label: Label):
    """The label tensor: a class index (int64) or a regression target (float32)."""
    if label.ratio:
        numerator = tf.cast(_to_dense(inputs[label.ratio.numerator], 0.0), tf.float32)
        denominator = tf.cast(_to_dense(inputs[label.ratio.denominator], 0.0), tf.float32)
        return tf.cast(numerator > label.ratio.threshold * denominator, tf.int64)
    column = inputs[label.name]
    if label.task != CLASSIFICATION:
        return tf.cast(_to_dense(column, 0.0), tf.float32)
    # Class names -> indices through a table built from the schema's domain, so the
    # order is the documented one (sorted) and not the training data's frequencies.
    dense = _to_dense(column, "" if column.dtype == tf.string else -1)
    names = dense if dense.dtype == tf.string else tf.strings.as_string(dense)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(label.classes), tf.range(label.num_classes, dtype=tf.int64)),
        default_value=-1)
    return table.lookup(names)


def preprocessing_fn(inputs, custom_config):
    """Encodes every feature of the ModelInputs and computes the label."""
    model_inputs = ModelInputs.from_json(custom_config[INPUTS_KEY])
    outputs = {}
    numeric = {name: feature for name, feature in model_inputs.features.items()
               if feature.encoding is Encoding.NUMERIC}
    if numeric:
        _numeric(inputs, numeric, outputs)
    for name, feature in model_inputs.features.items():
        column = inputs[name]
        if feature.encoding is Encoding.NUMERIC:
            continue
        if feature.encoding is Encoding.VOCABULARY:
            outputs[transformed_name(name)] = tft.compute_and_apply_vocabulary(
                _to_dense(column, ""), top_k=feature.num_values, num_oov_buckets=1,
                # tf.Transform would turn `a.b` and `a b` into the same file name.
                vocab_filename=input_name(name))
        else:
            value = tf.cast(_to_dense(column, -1), tf.int64)
            # Missing and out-of-range values share the one extra category.
            in_range = (value >= 0) & (value < feature.num_values)
            outputs[transformed_name(name)] = tf.where(
                in_range, value, tf.constant(feature.num_values, tf.int64))
    outputs[model_inputs.label.name] = _label(inputs, model_inputs.label)
    return outputs
