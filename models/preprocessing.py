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
    Label,
    ModelInputs,
    bucket_name,
    transformed_name,
)

INPUTS_KEY = "inputs"


def _to_dense(x, default):
    """A rank-1 dense tensor from a possibly sparse (optional) rank-2 column."""
    if isinstance(x, tf.sparse.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
    return tf.reshape(x, [-1])


def _numeric(x):
    """Floats with missing values replaced by the mean of the present values."""
    values = x.values if isinstance(x, tf.sparse.SparseTensor) else x
    values = tf.cast(values, tf.float32)
    if isinstance(x, tf.sparse.SparseTensor):
        x = tf.SparseTensor(x.indices, values, x.dense_shape)
        mean = tft.mean(values)
        # A column with no value at all in the training data has no mean (NaN): fill
        # with 0 so the column is merely useless instead of poisoning every prediction.
        return _to_dense(x, tf.where(tf.math.is_nan(mean), 0.0, mean))
    return _to_dense(values, 0.0)


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
    for name, feature in model_inputs.features.items():
        column = inputs[name]
        if feature.encoding is Encoding.NUMERIC:
            value = _numeric(column)
            outputs[transformed_name(name)] = tft.scale_to_z_score(value)
            if feature.buckets:
                outputs[bucket_name(name)] = tft.bucketize(value, feature.buckets)
        elif feature.encoding is Encoding.VOCABULARY:
            outputs[transformed_name(name)] = tft.compute_and_apply_vocabulary(
                _to_dense(column, ""), top_k=feature.num_values, num_oov_buckets=1,
                vocab_filename=name)
        else:
            value = tf.cast(_to_dense(column, -1), tf.int64)
            # Missing and out-of-range values share the one extra category.
            in_range = (value >= 0) & (value < feature.num_values)
            outputs[transformed_name(name)] = tf.where(
                in_range, value, tf.constant(feature.num_values, tf.int64))
    outputs[model_inputs.label.name] = _label(inputs, model_inputs.label)
    return outputs
