"""What the model is given and what it predicts, derived from the dataset's schema.

`ModelInputs` maps each raw CSV column the model uses to how it is encoded and says
what the label is. `from_schema` derives it from a TFMD schema (curated, or inferred on
the first run): FLOAT -> numeric, BYTES -> vocabulary, INT with a small non-negative
`int_domain` -> one category per value, other INT -> numeric. The pipeline builds it
once (pipeline/config.py) and hands it to Transform and Trainer as JSON in their
`custom_config`, so changing the schema or the label invalidates their cache entries.
Columns keep their CSV names here; their names inside TensorFlow (transformed data,
Keras inputs, serving inputs) are derived by `models.signatures.input_name`.
"""

import dataclasses
import enum
import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from tensorflow_metadata.proto.v0 import schema_pb2

from models.signatures import input_name

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)

# Quantile buckets per numeric feature of a classifier, so the network can learn
# non-monotonic effects cheaply.
NUMERIC_BUCKETS = 10
# Most frequent strings kept per vocabulary feature (the rest share one bucket).
VOCABULARY_SIZE = 1000
# An INT column whose int_domain is within [0, this) is categorical (hour of day, day
# of week, area codes); larger or unbounded domains are numeric.
MAX_CATEGORY_VALUES = 100
# Most columns a CSV file may have. CsvExampleGen, StatisticsGen and the first run's
# schema inference pay for every cell in Python, and saving the model traces a few ops
# per column for each serving signature: at 2,000 numeric columns x 10k rows the
# schema inference alone took 941 s on the 2-core machine, far beyond the 6-minute
# target. The limit is the widest data measured to run end to end (499 numeric columns
# and a label x 10k rows: 7.3 min on the shared machine, bench/WIDE.md);
# pipeline/data.py refuses wider files before any of that work.
MAX_COLUMNS = 500


class Encoding(enum.Enum):
    # Float or large-domain int: missing values get the training mean, then z-score,
    # plus quantile buckets for a classifier.
    NUMERIC = "numeric"
    # String column: vocabulary computed on the training data, out-of-vocabulary bucket.
    VOCABULARY = "vocabulary"
    # Small integer domain: one category per value in [0, num_values), plus one for
    # missing and out-of-range values.
    INTEGER_CATEGORY = "integer_category"


@dataclasses.dataclass(frozen=True)
class Feature:
    encoding: Encoding
    # NUMERIC: number of quantile buckets (0 = none).
    buckets: int = 0
    # INTEGER_CATEGORY: size of the value range; VOCABULARY: strings kept.
    num_values: int = 0


@dataclasses.dataclass(frozen=True)
class Ratio:
    """A label derived from two numeric columns: 1 when numerator > threshold x
    denominator (the taxi "big tipper": tips > 0.2 x fare)."""

    numerator: str
    denominator: str
    threshold: float


@dataclasses.dataclass(frozen=True)
class Label:
    # The label's name in the transformed data and in TFMA; the CSV column itself
    # unless the label is derived (`ratio`).
    name: str
    task: str = CLASSIFICATION
    # Classification: the class names in index order (the model's output i is the
    # probability of classes[i]); a raw value maps to its index in the Transform graph.
    classes: tuple[str, ...] = ()
    ratio: Ratio | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def hidden_columns(self) -> tuple[str, ...]:
        """Raw columns that carry the answer: never model inputs, absent at serving."""
        return (self.ratio.numerator,) if self.ratio else (self.name,)

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Raw columns the label is computed from."""
        return (self.ratio.numerator, self.ratio.denominator) if self.ratio else (self.name,)


@dataclasses.dataclass(frozen=True)
class ModelInputs:
    features: Mapping[str, Feature]
    label: Label

    def to_json(self) -> str:
        return json.dumps({
            "features": {name: {"encoding": f.encoding.value, "buckets": f.buckets,
                                "num_values": f.num_values}
                         for name, f in self.features.items()},
            "label": {"name": self.label.name, "task": self.label.task,
                      "classes": list(self.label.classes),
                      "ratio": dataclasses.asdict(self.label.ratio) if self.label.ratio
                      else None},
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelInputs":
        data = json.loads(text)
        label = data["label"]
        return cls(
            features=MappingProxyType({
                name: Feature(Encoding(f["encoding"]), f["buckets"], f["num_values"])
                for name, f in data["features"].items()}),
            label=Label(label["name"], label["task"], tuple(label["classes"]),
                        Ratio(**label["ratio"]) if label["ratio"] else None),
        )


class SchemaError(ValueError):
    """The schema and the label do not give a model to train; one sentence."""


def _feature_from_schema(feature: schema_pb2.Feature, buckets: int) -> Feature | None:
    if feature.type == schema_pb2.FLOAT:
        return Feature(Encoding.NUMERIC, buckets=buckets)
    if feature.type == schema_pb2.BYTES:
        return Feature(Encoding.VOCABULARY, num_values=VOCABULARY_SIZE)
    if feature.type == schema_pb2.INT:
        domain = feature.int_domain
        if (feature.HasField("int_domain") and domain.HasField("min") and domain.HasField("max")
                and 0 <= domain.min <= domain.max < MAX_CATEGORY_VALUES):
            return Feature(Encoding.INTEGER_CATEGORY, num_values=domain.max + 1)
        return Feature(Encoding.NUMERIC, buckets=buckets)
    return None  # no type: the column never had a value


def _label_classes(schema: schema_pb2.Schema, feature: schema_pb2.Feature) -> tuple[str, ...]:
    """The classes of a classification label column, from its schema domain: the
    string domain's values, or every integer of its int_domain; sorted."""
    column = feature.name
    if feature.type == schema_pb2.BYTES:
        domain = feature.string_domain
        if feature.HasField("domain"):
            domain = next((d for d in schema.string_domain if d.name == feature.domain), None)
        if domain is None or not domain.value:
            raise SchemaError(f"the schema gives label {column!r} no string domain, so its "
                              "classes are unknown; list them in the schema")
        return tuple(sorted(domain.value))
    if feature.type == schema_pb2.INT:
        domain = feature.int_domain
        if not (domain.HasField("min") and domain.HasField("max")):
            raise SchemaError(f"the schema gives label {column!r} no int_domain min and max, "
                              "so its classes are unknown; add them to the schema")
        return tuple(str(value) for value in range(domain.min, domain.max + 1))
    raise SchemaError(f"label {column!r} holds decimal numbers; for a classification "
                      "task it must hold class names or integers (or use --task regression)")


def from_schema(schema: schema_pb2.Schema, label: Label,
                excluded: Iterable[str] = ()) -> ModelInputs:
    """Every typed column of the schema except the label's hidden columns and
    `excluded` becomes a feature; SchemaError if none does or the label is unusable."""
    by_name = {feature.name: feature for feature in schema.feature}
    for column in label.source_columns:
        if column not in by_name:
            raise SchemaError(f"the schema has no column {column!r} for the label")
    if label.ratio is None:
        kind = by_name[label.name].type
        if label.task == REGRESSION and kind not in (schema_pb2.FLOAT, schema_pb2.INT):
            raise SchemaError(f"label {label.name!r} is not numeric, so it cannot be a "
                              "regression target (use --task classification)")
        if label.task == CLASSIFICATION and not label.classes:
            label = dataclasses.replace(
                label, classes=_label_classes(schema, by_name[label.name]))
    if label.task == CLASSIFICATION and label.num_classes < 2:
        raise SchemaError(f"label {label.name!r} has a single class "
                          f"({', '.join(label.classes) or 'none'}); a classifier needs two")
    skipped = set(label.hidden_columns) | set(excluded)
    # Quantile buckets make a regression network overfit small data (diabetes, 353
    # training rows: eval RMSE 12% worse with them, 4% better without).
    buckets = NUMERIC_BUCKETS if label.task == CLASSIFICATION else 0
    features = {}
    for name in sorted(by_name):
        feature = _feature_from_schema(by_name[name], buckets)
        if name not in skipped and feature is not None:
            features[name] = feature
    if not features:
        raise SchemaError(f"no usable features: the data has no typed column besides the "
                          f"label {label.name!r}")
    _check_model_names(features, label)
    return ModelInputs(MappingProxyType(features), label)


def _check_model_names(features: Mapping[str, Feature], label: Label) -> None:
    """SchemaError when two columns would get the same name in the transformed data
    (and so as Keras inputs), e.g. categorical columns `a b` and `a_b`, or when a
    categorical column would take the name of the numeric columns' matrices."""
    numeric = numeric_columns(features)
    matrices = {NUMERIC_KEY: bool(numeric), NUMERIC_BUCKETS_KEY: bool(bucketed_columns(features))}
    owners = {label.name: label.name}
    for name in features:
        if name in numeric:
            continue
        key = transformed_name(name)
        if matrices.get(key):
            raise SchemaError(f"column {name!r} would be {key!r} in the model, the name of "
                              "the numeric columns' matrix; rename it")
        if key in owners:
            raise SchemaError(f"columns {owners[key]!r} and {name!r} would both be "
                              f"{key!r} in the model; rename one of them")
        owners[key] = name
    if matrices.get(label.name):
        raise SchemaError(f"label {label.name!r} takes the name of the numeric columns' "
                          "matrix in the model; rename it")


def transformed_name(column: str) -> str:
    """The name a categorical column's index has in the transformed data (and as a Keras
    input): built on its `input_name`, as any name there must be a TF name."""
    return f"{input_name(column)}_xf"


# Every NUMERIC column is one column of these [batch, columns] matrices in the
# transformed data (and one Keras input each), in `numeric_columns` order: cost that
# grows with the column count stays inside a few ops instead of thousands of tensors.
# The z-scored values, float32:
NUMERIC_KEY = "numeric_xf"
# The quantile-bucket ids of the `bucketed_columns`, int64: column i's bucket b is id
# `bucket_offsets(...)[i] + b`, so the ids of all columns are distinct and one multi-hot
# encoding of them equals the one-hot encodings of each column side by side.
NUMERIC_BUCKETS_KEY = "numeric_bucket_xf"


def numeric_columns(features: Mapping[str, Feature]) -> tuple[str, ...]:
    """The NUMERIC columns in the order of NUMERIC_KEY's columns (the features' order)."""
    return tuple(name for name, feature in features.items()
                 if feature.encoding is Encoding.NUMERIC)


def bucketed_columns(features: Mapping[str, Feature]) -> tuple[str, ...]:
    """The NUMERIC columns with quantile buckets, in the order of NUMERIC_BUCKETS_KEY's."""
    return tuple(name for name in numeric_columns(features) if features[name].buckets)


def bucket_offsets(features: Mapping[str, Feature]) -> tuple[tuple[int, ...], int]:
    """Where each bucketed column's ids start, and the number of ids in all."""
    offsets, total = [], 0
    for name in bucketed_columns(features):
        offsets.append(total)
        total += features[name].buckets
    return tuple(offsets), total
