"""The data gate: stops the pipeline when ExampleValidator finds anomalies or the
DistributionValidator finds drift.

TFX 1.21's validators only report. `DataGate` reads their anomalies, sets aside the ones
the configuration tolerates (they become warnings; so does drift when drift does not
block), and writes a `DataVerdict`
artifact whose `passed` property the pipeline's `Cond` checks before Transform,
Trainer, Evaluator and Pusher may run. The verdict's `verdict.json` lists every anomaly
(split, feature, type, description) for the CLI's table.
"""

import json
import os

# From their modules rather than tfx.v1, whose import pulls in google-cloud-aiplatform
# (3 s of every run's start-up; see pipeline/definition.py).
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact
from tfx.types.standard_artifacts import ExampleAnomalies

from pipeline.results import (
    DATA_VERDICT_TYPE,
    DATASET_FEATURE,
    VERDICT_FILE,
    anomaly_rows,
    fold_missing_columns,
)

PASSED = "passed"
# The anomaly type of a string value outside the schema's domain (a new category).
NEW_STRING_VALUES = "ENUM_TYPE_UNEXPECTED_STRING_VALUES"


class DataVerdict(Artifact):
    """Whether a span's data may be used; `passed` is 1 or 0."""

    # `<namespace>.<Title>`: the form Kubeflow V2 / Vertex accept for custom types.
    TYPE_NAME = DATA_VERDICT_TYPE


def is_tolerated(row: dict, tolerated: list[str]) -> bool:
    """A rule names a feature, an anomaly type, or one type of one feature (`feature:TYPE`)."""
    keys = {row["feature"], row["type"], f"{row['feature']}:{row['type']}"}
    return any(rule in keys for rule in tolerated)


def tolerate_rule(row: dict) -> str:
    """The narrowest rule `is_tolerated` lets this row through with: `feature:TYPE`."""
    return f"{row['feature']}:{row['type']}" if row["type"] else row["feature"]


def is_drift(row: dict) -> bool:
    """A DistributionValidator row (split `train/prev`, results.drift_split_name): a
    distance between spans over its threshold, or a feature it could not compare."""
    return row["split"].endswith("/prev")


def schema_can_accept(row: dict, label_columns=()) -> bool:
    """Whether `schema-update --feature` can make the curated schema accept this
    ExampleValidator row (a new value or column, a type, range, presence or value
    count the data no longer meets); not drift, nor a dataset-level constraint. For a
    column the label is computed from, only a new class value: a label column that
    went missing, or changed its type, would leave nothing to train on."""
    if is_drift(row) or row["feature"] == DATASET_FEATURE:
        return False
    return row["feature"] not in label_columns or row["type"] == NEW_STRING_VALUES


def classify(rows: list[dict], tolerated: list[str], drift_rows: list[dict] = (),
             drift_blocks: bool = True) -> dict:
    """Splits validation and drift anomaly rows into blocking and tolerated ones (a
    missing column's drift row folded into its missing-column row first)."""
    rows, drift_rows = fold_missing_columns(list(rows), list(drift_rows))
    may_block = [*rows, *drift_rows] if drift_blocks else list(rows)
    blocking = [row for row in may_block if not is_tolerated(row, tolerated)]
    warnings = [row for row in [*rows, *drift_rows] if row not in blocking]
    return {PASSED: not blocking, "blocking": blocking, "tolerated": warnings}


def _validation_rows(anomalies) -> list[dict]:
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    return anomaly_rows(anomalies.uri, splits)


def _drift_rows(anomalies) -> list[dict]:
    """DistributionValidator's rows, split pairs named as every table names them
    (`results.drift_split_name`)."""
    # The validator names its split pairs only in its per-pair "blessed" property.
    pairs = anomalies.get_json_value_custom_property("blessed") or {}
    return anomaly_rows(anomalies.uri, sorted(pairs), split_dir="SplitPair-")


@component
def DataGate(  # noqa: N802 - TFX names components like classes
    anomalies: InputArtifact[ExampleAnomalies],
    verdict: OutputArtifact[DataVerdict],
    tolerated_anomalies: Parameter[str],
    drift_blocks: Parameter[int],
    code_fingerprint: Parameter[str],
    drift: InputArtifact[ExampleAnomalies] = None,
) -> None:
    """`tolerated_anomalies` is a JSON list of rules (see `is_tolerated`); `drift` is the
    DistributionValidator's output (absent for the first span); `code_fingerprint` ties
    the cache entry to this file's content."""
    del code_fingerprint
    result = classify(_validation_rows(anomalies), json.loads(tolerated_anomalies),
                      _drift_rows(drift) if drift is not None else [], bool(drift_blocks))
    os.makedirs(verdict.uri, exist_ok=True)
    with open(os.path.join(verdict.uri, VERDICT_FILE), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    verdict.set_int_custom_property(PASSED, int(result[PASSED]))
