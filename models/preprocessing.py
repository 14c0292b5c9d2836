"""The tf.Transform `preprocessing_fn`: raw taxi columns in, model-ready tensors out.

Everything here runs inside the Transform graph, so training, evaluation and serving
apply exactly the same encoding (no training/serving skew).
"""

import tensorflow as tf
import tensorflow_transform as tft

from models.features import FEATURES, LABEL, Encoding, bucket_name, transformed_name


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
        return _to_dense(x, tft.mean(values))
    return _to_dense(values, 0.0)


def preprocessing_fn(inputs):
    """Encodes every feature in FEATURES and derives the label (see models.features)."""
    outputs = {}
    for name, feature in FEATURES.items():
        column = inputs[name]
        if feature.encoding is Encoding.NUMERIC:
            value = _numeric(column)
            if feature.log:
                value = tf.math.log1p(tf.maximum(value, 0.0))
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

    tips = tf.cast(_to_dense(inputs[LABEL.tips_column], 0.0), tf.float32)
    fare = tf.cast(_to_dense(inputs[LABEL.fare_column], 0.0), tf.float32)
    outputs[LABEL.key] = tf.cast(tips > LABEL.tip_fraction * fare, tf.int64)
    return outputs
