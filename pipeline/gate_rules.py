"""What the data gate decides and the names it writes it under: validator anomalies as
rows (split, feature, type, description), which rows block and which only warn, and the
DataGate's verdict artifact type and file.

A leaf: it imports nothing from the project, so the DataGate component
(pipeline/gate.py), the inspection commands and the CLI's hints share one set of rules
without importing each other, and the gate's code fingerprint covers it (it is among
the modules gate.py imports; pipeline/config.py, `code_fingerprint`).
"""

from collections.abc import Iterable

from tensorflow_metadata.proto.v0 import anomalies_pb2

# The DataGate's output: its artifact type and the file it writes. `<namespace>.<Title>`:
# the form Kubeflow V2 / Vertex accept for custom types.
DATA_VERDICT_TYPE = "taxi_pipeline.DataVerdict"
VERDICT_FILE = "verdict.json"
# The verdict's custom property (1 or 0) that the pipeline's Cond checks.
PASSED = "passed"
# The feature name anomaly rows give a dataset-level anomaly.
DATASET_FEATURE = "(dataset)"
# The anomaly type of a string value outside the schema's domain (a new category).
NEW_STRING_VALUES = "ENUM_TYPE_UNEXPECTED_STRING_VALUES"


def anomaly_rows(found: Iterable[tuple[str, anomalies_pb2.Anomalies]]) -> list[dict]:
    """One row per (split, feature, anomaly type), with TFDV's description, from
    (split as tables name it, Anomalies proto) pairs (artifact_files reads them)."""
    rows = []
    for shown, anomalies in found:
        for feature, info in sorted(anomalies.anomaly_info.items()):
            for reason in info.reason or [None]:
                rows.append({
                    "split": shown,
                    "feature": feature,
                    "type": anomalies_pb2.AnomalyInfo.Type.Name(reason.type) if reason else None,
                    "description": reason.description if reason else info.description,
                })
        if anomalies.HasField("dataset_anomaly_info"):
            for reason in anomalies.dataset_anomaly_info.reason:
                rows.append({
                    "split": shown,
                    "feature": DATASET_FEATURE,
                    "type": anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
                    "description": reason.description,
                })
    return rows


def drift_split_name(pair: str) -> str:
    """How every table names a DistributionValidator split pair: `train_train`, the
    latest span's train split against the previous span's, is `train/prev`."""
    return f"{pair.split('_')[0]}/prev"


def drift_anomaly_rows(found: Iterable[tuple[str, anomalies_pb2.Anomalies]]) -> list[dict]:
    """`anomaly_rows` of a DistributionValidator's (split pair, Anomalies) pairs, each
    pair named by `drift_split_name`."""
    return anomaly_rows((drift_split_name(pair), anomalies) for pair, anomalies in found)


def fold_missing_columns(rows: list[dict], drift_rows: list[dict]) -> tuple[list, list]:
    """A column missing from the latest span (SCHEMA_MISSING_COLUMN) has no statistics
    to compare with the previous span, so the DistributionValidator adds a
    STATS_NOT_AVAILABLE row for it: one cause, one row. Returns (rows, drift_rows) with
    such drift rows left out and said in the missing-column row's description."""
    missing = {row["feature"] for row in rows if row["type"] == "SCHEMA_MISSING_COLUMN"}
    folded = {row["feature"] for row in drift_rows
              if row["type"] == "STATS_NOT_AVAILABLE" and row["feature"] in missing}
    note = "; so there is no drift check for it either (STATS_NOT_AVAILABLE)"
    rows = [{**row, "description": row["description"].rstrip(". ") + note}
            if row["type"] == "SCHEMA_MISSING_COLUMN" and row["feature"] in folded else row
            for row in rows]
    return rows, [row for row in drift_rows if not (
        row["type"] == "STATS_NOT_AVAILABLE" and row["feature"] in folded)]


def is_tolerated(row: dict, tolerated: list[str]) -> bool:
    """A rule names a feature, an anomaly type, or one type of one feature (`feature:TYPE`)."""
    keys = {row["feature"], row["type"], f"{row['feature']}:{row['type']}"}
    return any(rule in keys for rule in tolerated)


def tolerate_rule(row: dict) -> str:
    """The narrowest rule `is_tolerated` lets this row through with: `feature:TYPE`."""
    return f"{row['feature']}:{row['type']}" if row["type"] else row["feature"]


def is_drift(row: dict) -> bool:
    """A DistributionValidator row (split `train/prev`, `drift_split_name`): a
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
