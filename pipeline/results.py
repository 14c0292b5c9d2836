"""Reads what a run did from ML Metadata and its artifacts: component states, rows,
anomalies, evaluation metrics, blessing and push. It never changes what is recorded.
Used by the runner's progress lines and summary."""

import json
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline import artifact_files

# The DataGate's output (pipeline/gate.py): its artifact type and the file it writes.
# Here rather than in gate.py, whose TFX imports the inspection commands must not pay for.
DATA_VERDICT_TYPE = "taxi_pipeline.DataVerdict"
VERDICT_FILE = "verdict.json"
# The feature name anomaly rows give a dataset-level anomaly.
DATASET_FEATURE = "(dataset)"

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "executed",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}


def open_store(metadata_path: Path) -> metadata_store.MetadataStore:
    """A connection that never creates the file. Not READONLY: after a killed run
    SQLite has to roll back the run's leftover journal before anyone can read, and only
    a writable connection may do that."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    return metadata_store.MetadataStore(config)


def node_state(store, pipeline_name: str, node_id: str, run_id: str) -> str:
    """What one component did in one run: 'executed', 'cached', 'failed', ... or
    'skipped' (a false tfx.dsl.Cond, or the run stopped before it)."""
    node = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node_id}")
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    if node is None or run is None:
        return "skipped"
    in_run = {execution.id for execution in store.get_executions_by_context(run.id)}
    executions = [e for e in store.get_executions_by_context(node.id) if e.id in in_run]
    if not executions:
        return "skipped"
    newest = max(executions, key=lambda execution: execution.id)
    return _STATES.get(newest.last_known_state, "unknown")


def latest_run_id(store) -> str | None:
    """The newest run; each output directory has its own store, so one pipeline."""
    runs = store.get_contexts_by_type("pipeline_run")
    return max(runs, key=lambda context: context.id).name if runs else None


def run_outputs(store, run_id: str) -> dict[str, dict]:
    """For each component of a run: its state, and its input and output artifacts by
    type name (`inputs`, `artifacts`)."""
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    executions = store.get_executions_by_context(run.id)
    node_type = store.get_context_type("node")
    outputs = {}
    for execution in sorted(executions, key=lambda e: e.id):
        node = next(
            (c for c in store.get_contexts_by_execution(execution.id)
             if c.type_id == node_type.id),
            None,
        )
        if node is None:
            continue
        events = store.get_events_by_execution_ids([execution.id])
        outputs[node.name.split(".", 1)[1]] = {
            "state": _STATES.get(execution.last_known_state, "unknown"),
            "inputs": _artifacts_by_type(store, events, metadata_store_pb2.Event.INPUT),
            "artifacts": _artifacts_by_type(store, events, metadata_store_pb2.Event.OUTPUT),
        }
    return outputs


def _artifacts_by_type(store, events, event_type) -> dict[str, list]:
    ids = [event.artifact_id for event in events if event.type == event_type]
    artifacts = store.get_artifacts_by_id(ids) if ids else []
    if not artifacts:
        return {}
    types = {t.id: t.name for t in store.get_artifact_types_by_id(
        sorted({a.type_id for a in artifacts}))}
    by_type: dict[str, list] = {}
    for artifact in artifacts:
        by_type.setdefault(types[artifact.type_id], []).append(artifact)
    return by_type


def newest_output(store, pipeline_name: str, node_id: str, type_name: str):
    """The newest artifact of `type_name` that a component has output in any run."""
    node = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node_id}")
    if node is None:
        return None
    execution_ids = [e.id for e in store.get_executions_by_context(node.id)]
    if not execution_ids:
        return None
    events = store.get_events_by_execution_ids(execution_ids)
    found = _artifacts_by_type(store, events, metadata_store_pb2.Event.OUTPUT).get(type_name)
    return max(found, key=lambda artifact: artifact.id) if found else None


def spans(artifacts) -> list[int]:
    """The span numbers of Examples artifacts (TFX keeps them as a custom property)."""
    return sorted(a.custom_properties["span"].int_value
                  for a in artifacts if "span" in a.custom_properties)


def state_name(execution) -> str:
    """'executed', 'cached', 'failed', 'running' (or killed), 'canceled'."""
    return _STATES.get(execution.last_known_state, "unknown")


def split_names(artifact) -> list[str]:
    value = artifact.properties.get("split_names") or artifact.custom_properties.get(
        "split_names")
    return json.loads(value.string_value) if value else []


def row_counts(statistics) -> dict[str, int]:
    counts = {}
    for split in split_names(statistics):
        stats = artifact_files.load_statistics(
            f"{statistics.uri}/Split-{split}/FeatureStats.pb")
        counts[split] = int(stats.datasets[0].num_examples)
    return counts


def anomalies(example_anomalies) -> list[dict]:
    """The anomalies of an ExampleAnomalies MLMD artifact (see `anomaly_rows`)."""
    return anomaly_rows(example_anomalies.uri, split_names(example_anomalies))


def anomaly_rows(uri: str, split_names: list[str], split_dir: str = "Split-") -> list[dict]:
    """One row per (split, feature, anomaly type), with TFDV's description.

    ExampleValidator writes `Split-<split>/`; DistributionValidator writes
    `SplitPair-<split>_<baseline split>/` (pass split_dir="SplitPair-")."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    rows = []
    for split in split_names:
        found = artifact_files.load_anomalies(f"{uri}/{split_dir}{split}/SchemaDiff.pb")
        shown = drift_split_name(split) if split_dir == "SplitPair-" else split
        for feature, info in sorted(found.anomaly_info.items()):
            for reason in info.reason or [None]:
                rows.append({
                    "split": shown,
                    "feature": feature,
                    "type": anomalies_pb2.AnomalyInfo.Type.Name(reason.type) if reason else None,
                    "description": reason.description if reason else info.description,
                })
        if found.HasField("dataset_anomaly_info"):
            for reason in found.dataset_anomaly_info.reason:
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


def _slice_value(key):
    value = getattr(key, key.WhichOneof("kind"))
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def slice_name(slice_key) -> str:
    """A TFMA SliceKey as tables show it: 'Overall', or `feature=value`, comma-joined."""
    return ", ".join(f"{key.column}={_slice_value(key)}"
                     for key in slice_key.single_slice_keys) or "Overall"


# Overall metrics worth a column, in display order; a run has those of its task
# (pipeline/definition.py, _metrics_specs).
HEADLINE_METRICS = ("auc", "binary_accuracy", "sparse_categorical_accuracy", "macro_auc",
                    "rmse", "mean_absolute_error")


def headline_names(rows: list[dict]) -> list[str]:
    """The HEADLINE_METRICS that any of these metric rows has."""
    return [name for name in HEADLINE_METRICS if any(name in row for row in rows)]


def metric_name(key) -> str:
    """A metric key's name: `auc`, `macro_auc` for a macro average, `auc/class_2` for
    one class of a multi-class model."""
    if key.HasField("aggregation_type"):
        return f"macro_{key.name}"
    if key.HasField("sub_key") and key.sub_key.HasField("class_id"):
        return f"{key.name}/class_{key.sub_key.class_id.value}"
    return key.name


def slice_metrics(evaluation) -> list[dict]:
    """Every slice's metrics: {slice, model ('candidate'/'baseline'), metric: value}.
    The overall slice is named 'Overall'; others `feature=value`, values in order.
    A metric that the slice cannot have (AUC of one class) is None."""
    rows: dict[tuple[str, str], dict] = {}
    for metrics_for_slice in artifact_files.load_metrics(evaluation.uri):
        name = slice_name(metrics_for_slice.slice_key)
        for entry in metrics_for_slice.metric_keys_and_values:
            if entry.key.is_diff or not entry.value.HasField("double_value"):
                continue
            model = entry.key.model_name or "candidate"
            row = rows.setdefault((name, model), {"slice": name, "model": model})
            row[metric_name(entry.key)] = entry.value.double_value.value

    def order(row):
        feature, _, value = row["slice"].partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        return (row["slice"] != "Overall", feature, number is None, number or 0, value,
                row["model"])

    return sorted((_without_one_class_auc(row) for row in rows.values()), key=order)


def _without_one_class_auc(row: dict) -> dict:
    """None for an AUC that a slice's labels leave undefined: TFMA reports 0 when all
    of a slice's examples are of one class, which a mean label of 0 or 1 shows (per
    class with more than two: `mean_label/class_2`). A macro average over a class
    without both outcomes is undefined too."""
    one_class = [name for name, value in row.items()
                 if name.partition("/")[0] == "mean_label" and value in (0.0, 1.0)]
    for name in one_class:
        auc = "auc" + name.removeprefix("mean_label")
        if auc in row:
            row[auc] = None
    if one_class and "macro_auc" in row:
        row["macro_auc"] = None
    return row


def overall_metrics(slice_rows: list[dict]) -> dict[str, dict[str, float]]:
    """The 'Overall' rows of `slice_metrics`, by model."""
    return {row["model"]: {k: v for k, v in row.items() if k not in ("slice", "model")}
            for row in slice_rows if row["slice"] == "Overall"}


def metrics(evaluation) -> dict[str, dict[str, float]]:
    """Overall-slice metrics by model ('candidate', and 'baseline' when there is one)."""
    return overall_metrics(slice_metrics(evaluation))


def verdict(data_verdict) -> dict:
    """The DataGate's decision: passed, blocking and tolerated anomaly rows."""
    with open(f"{data_verdict.uri}/{VERDICT_FILE}", encoding="utf-8") as handle:
        return json.load(handle)


def custom_int(artifact, key: str) -> int | None:
    value = artifact.custom_properties.get(key)
    return value.int_value if value is not None else None


def custom_str(artifact, key: str) -> str | None:
    value = artifact.custom_properties.get(key)
    return value.string_value if value is not None else None
