"""The tf.Transform `preprocessing_fn`: raw columns in, model-ready tensors out.

Everything here runs inside the Transform graph, so training, evaluation and serving
apply exactly the same encoding (no training/serving skew). Which columns there are and
how each is encoded comes from `custom_config["inputs"]` (models.features.ModelInputs).
"""

from collections.abc import Mapping

import tensorflow as tf
import tensorflow_transform as tft

from models.features import (
    CLASSIFICATION,
    NUMERIC_BUCKETS_KEY,
    NUMERIC_KEY,
    Encoding,
    Feature,
    Label,
    ModelInputs,
    bucket_offsets,
    bucketed_columns,
    numeric_columns,
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


def _numeric_matrix(inputs, names: tuple[str, ...]):
    """The numeric columns `names` as one [batch, columns] float32 matrix (missing
    values as 0) and the matching matrix of presence (1.0 where a value is there).

    Built with a few ops per column (a size, and a cast for integer columns) and
    one scatter for all optional columns together, so the graph grows slowly with the
    column count; an optional column holds at most one value (models.features)."""
    sparse = [index for index, name in enumerate(names)
              if isinstance(inputs[name], tf.sparse.SparseTensor)]
    dense = sorted(set(range(len(names))) - set(sparse))
    parts, presence, order = [], [], []
    if sparse:
        columns = [inputs[names[index]] for index in sparse]
        batch = columns[0].dense_shape[0]
        # One slice of all the indices, not one per column (4 graph ops each).
        rows = tf.concat([column.indices for column in columns], axis=0)[:, 0]
        counts = tf.stack([tf.size(column.values, out_type=tf.int64) for column in columns])
        positions = tf.repeat(tf.range(len(columns), dtype=tf.int64), counts)
        indices = tf.stack([rows, positions], axis=1)
        values = tf.concat([tf.cast(column.values, tf.float32) for column in columns], axis=0)
        shape = tf.stack([batch, len(columns)])
        parts.append(tf.scatter_nd(indices, values, shape))
        presence.append(tf.scatter_nd(indices, tf.ones_like(values), shape))
        order += sparse
    if dense:
        matrix = tf.stack([tf.cast(tf.reshape(inputs[names[index]], [-1]), tf.float32)
                           for index in dense], axis=1)
        parts.append(matrix)
        presence.append(tf.ones_like(matrix))
        order += dense
    matrix, present = tf.concat(parts, axis=1), tf.concat(presence, axis=1)
    if order != sorted(order):
        # Back to the order of `names`: column j of the result is names[j].
        where = [order.index(index) for index in range(len(names))]
        matrix, present = tf.gather(matrix, where, axis=1), tf.gather(present, where, axis=1)
    return matrix, present


def _bucketize(matrix, count: int):
    """Each column's quantile bucket (0 to count - 1), int64, like
    `tft.bucketize(matrix, count, elementwise=True)` (same analyzer, same epsilon, the
    same bucket as the `tf.searchsorted(side="right")` of its `apply_buckets`) but in a
    few ops:
    tft.bucketize applies the boundaries column by column in a Python loop, about 40
    graph ops per column, which made it most of the Transform graph of wide data
    (bench/WIDE.md)."""
    columns = matrix.shape[1]
    boundaries = tft.quantiles(matrix, count, epsilon=min(1.0 / count, 0.01),
                               reduce_instance_dims=False)
    boundaries = tf.reshape(boundaries, [columns, -1])
    # searchsorted(side="right") is the number of boundaries <= the value; counted
    # here as a comparison and a sum, because searchsorted (UpperBound) is not a TFLite
    # builtin and this graph is also the TFLite model's (pipeline/tflite.py).
    above = tf.cast(matrix[:, :, tf.newaxis] >= boundaries[tf.newaxis], tf.int64)
    return tf.reduce_sum(above, axis=2)


def _numeric(inputs, features: Mapping[str, Feature], outputs: dict) -> None:
    """Every numeric column at once, as the columns of the NUMERIC_KEY matrix: missing
    values get the mean of the present ones (0 for a column without any), then z-score;
    quantile buckets where the Feature asks for them, as the NUMERIC_BUCKETS_KEY
    matrix of ids. One elementwise analyzer per statistic instead of one per column,
    and two output tensors instead of one or two per column: Transform's and the
    Trainer's cost grew with the number of analyzers and of tensors (30 numeric
    columns took 50 s with one analyzer each; see bench/WIDE.md for 2,000)."""
    names = numeric_columns(features)
    position = {name: index for index, name in enumerate(names)}
    matrix, present = _numeric_matrix(inputs, names)
    mean = tf.math.divide_no_nan(tft.sum(matrix * present, reduce_instance_dims=False),
                                 tft.sum(present, reduce_instance_dims=False))
    filled = tf.where(present > 0, matrix, mean)
    outputs[NUMERIC_KEY] = tft.scale_to_z_score(filled, elementwise=True)
    bucketed = bucketed_columns(features)
    if not bucketed:
        return
    offsets, _ = bucket_offsets(features)
    ids = []
    # One quantiles analyzer per distinct bucket count (one for the taxi data).
    for count in sorted({features[name].buckets for name in bucketed}):
        group = [index for index, name in enumerate(bucketed) if features[name].buckets == count]
        columns = [position[bucketed[index]] for index in group]
        buckets = _bucketize(tf.gather(filled, columns, axis=1), count)
        ids.append((group, buckets))
    order = [index for group, _ in ids for index in group]
    matrix = tf.concat([buckets for _, buckets in ids], axis=1)
    if order != sorted(order):
        matrix = tf.gather(matrix, [order.index(index) for index in range(len(bucketed))],
                           axis=1)
    outputs[NUMERIC_BUCKETS_KEY] = tf.cast(matrix, tf.int64) + tf.constant(offsets, tf.int64)


def _vocabulary_ids(x, vocabulary_file):
    """tft.apply_vocabulary's `lookup_fn`: each row's string as its line in the
    vocabulary file, and as the line count (the out-of-vocabulary id) when it is not
    in the file or the row has no value; and the number of ids.

    The ids `compute_and_apply_vocabulary(_to_dense(x, ""), num_oov_buckets=1)` gives
    (its one bucket is the id after the vocabulary; a tf.Transform vocabulary never
    holds the empty string), but built from ops TFLite has as builtins, as this graph
    is also the TFLite model's (pipeline/tflite.py): a hash table with a default
    instead of hashing into the one bucket (StringToHashBucketFast), and the lookup
    on the present values before densifying (TFLite's SparseToDense has no string
    kernel)."""
    table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            vocabulary_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
        default_value=-1)
    size = table.size()
    if isinstance(x, tf.sparse.SparseTensor):
        ids = _to_dense(tf.SparseTensor(x.indices, table.lookup(x.values), x.dense_shape),
                        tf.constant(-1, tf.int64))
    else:
        ids = table.lookup(tf.reshape(x, [-1]))
    return tf.where(ids < 0, size, ids), size + 1


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
    if numeric_columns(model_inputs.features):
        _numeric(inputs, model_inputs.features, outputs)
    for name, feature in model_inputs.features.items():
        column = inputs[name]
        if feature.encoding is Encoding.NUMERIC:
            continue
        if feature.encoding is Encoding.VOCABULARY:
            # tf.Transform would turn `a.b` and `a b` into the same file name. The
            # analyzer drops empty strings, so the missing values, which were the
            # empty string when the column was densified first, are not counted.
            vocabulary = tft.vocabulary(column, top_k=feature.num_values,
                                        vocab_filename=input_name(name))
            outputs[transformed_name(name)] = tft.apply_vocabulary(
                column, vocabulary, lookup_fn=_vocabulary_ids)
        else:
            value = tf.cast(_to_dense(column, -1), tf.int64)
            # Missing and out-of-range values share the one extra category.
            in_range = (value >= 0) & (value < feature.num_values)
            outputs[transformed_name(name)] = tf.where(
                in_range, value, tf.constant(feature.num_values, tf.int64))
    outputs[model_inputs.label.name] = _label(inputs, model_inputs.label)
    return outputs
