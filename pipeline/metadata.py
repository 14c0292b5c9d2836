"""ML Metadata queries: what the runs in an output directory recorded (runs, the
components of a run and their states, their input and output artifacts, who produced
an artifact, where the Pusher publishes). It never changes what is recorded and never
reads an artifact's files (pipeline/artifact_files.py does); pipeline/inspection.py
composes the two into answers. Used by the runner's progress lines too, so it imports
neither TensorFlow nor TFX.
"""

import json
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline import uris

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


def state_name(execution) -> str:
    """'executed', 'cached', 'failed', 'running' (or killed), 'canceled'."""
    return _STATES.get(execution.last_known_state, "unknown")


def run_ids(store) -> list[str]:
    """Oldest first."""
    return [c.name for c in sorted(store.get_contexts_by_type("pipeline_run"),
                                   key=lambda context: context.id)]


def latest_run_id(store) -> str | None:
    """The newest run; each output directory has its own store, so one pipeline."""
    runs = store.get_contexts_by_type("pipeline_run")
    return max(runs, key=lambda context: context.id).name if runs else None


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
    return state_name(max(executions, key=lambda execution: execution.id))


def node_of(store, execution) -> str:
    """The component (node id) that ran an execution ('?' when none is recorded)."""
    node_type = store.get_context_type("node")
    node = next((c for c in store.get_contexts_by_execution(execution.id)
                 if c.type_id == node_type.id), None)
    return node.name.split(".", 1)[1] if node else "?"


def run_of(store, execution) -> str | None:
    """The run an execution belongs to."""
    run_type = store.get_context_type("pipeline_run")
    run = next((c for c in store.get_contexts_by_execution(execution.id)
                if c.type_id == run_type.id), None)
    return run.name if run else None


def components(store, run_id: str) -> list[dict]:
    """Each component of a run in execution order: state, seconds, cached."""
    rows = []
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    node_type = store.get_context_type("node")
    for execution in sorted(store.get_executions_by_context(run.id), key=lambda e: e.id):
        node = next((c for c in store.get_contexts_by_execution(execution.id)
                     if c.type_id == node_type.id), None)
        if node is None:
            continue
        state = state_name(execution)
        rows.append({
            "id": node.name.split(".", 1)[1],
            "state": state,
            "cached": state == "cached",
            "seconds": round((execution.last_update_time_since_epoch
                              - execution.create_time_since_epoch) / 1000, 1),
        })
    return rows


def run_outputs(store, run_id: str) -> dict[str, dict]:
    """For each component of a run: its state, its `custom_config` (`custom_config`),
    and its input and output artifacts by type name (`inputs`, `artifacts`)."""
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
            "state": state_name(execution),
            "custom_config": custom_config(execution),
            "inputs": _artifacts_by_type(store, events, metadata_store_pb2.Event.INPUT),
            "artifacts": _artifacts_by_type(store, events, metadata_store_pb2.Event.OUTPUT),
        }
    return outputs


def output(outputs: dict, node_id: str, type_name: str):
    """The first artifact of `type_name` a component output, in `run_outputs`."""
    found = outputs.get(node_id, {}).get("artifacts", {}).get(type_name, [])
    return found[0] if found else None


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


def producer(store, artifact_id: int):
    """The execution that output an artifact (None: none recorded)."""
    events = [e for e in store.get_events_by_artifact_ids([artifact_id])
              if e.type == metadata_store_pb2.Event.OUTPUT]
    return store.get_executions_by_id([events[0].execution_id])[0] if events else None


def _event_key(event) -> str:
    """The input or output key TFX records as an event's first path step."""
    return event.path.steps[0].key if event.path.steps else ""


def execution_io(store, execution) -> tuple[list[tuple[str, object]], list[tuple[str, object]]]:
    """An execution's input and its output artifacts, each with the key TFX recorded
    it under (`examples`, `baseline_model`, ...)."""
    events = store.get_events_by_execution_ids([execution.id])
    artifacts = {a.id: a for a in store.get_artifacts_by_id(
        [event.artifact_id for event in events])} if events else {}
    return tuple([(_event_key(event), artifacts[event.artifact_id]) for event in events
                  if event.type == kind]
                 for kind in (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.OUTPUT))


def read_by(store, execution, artifact_id: int) -> bool:
    """Whether an execution had the artifact as an input."""
    return any(event.type == metadata_store_pb2.Event.INPUT
               and event.artifact_id == artifact_id
               for event in store.get_events_by_execution_ids([execution.id]))


def type_names(store) -> dict[int, str]:
    """Artifact type names by type id."""
    return {t.id: t.name for t in store.get_artifact_types()}


def spans(artifacts) -> list[int]:
    """The span numbers of Examples artifacts (TFX keeps them as a custom property)."""
    return sorted(a.custom_properties["span"].int_value
                  for a in artifacts if "span" in a.custom_properties)


def split_names(artifact) -> list[str]:
    """The splits of an artifact (`train`, `eval`; a DistributionValidator's pairs)."""
    value = artifact.properties.get("split_names") or artifact.custom_properties.get(
        "split_names")
    return json.loads(value.string_value) if value else []


def custom_int(artifact, key: str) -> int | None:
    value = artifact.custom_properties.get(key)
    return value.int_value if value is not None else None


def custom_str(artifact, key: str) -> str | None:
    value = artifact.custom_properties.get(key)
    return value.string_value if value is not None else None


def pushed_artifacts(store) -> dict[int, object]:
    """The PushedModel artifacts that did publish, by version."""
    return {int(custom_str(artifact, "pushed_version")): artifact
            for artifact in store.get_artifacts_by_type("PushedModel")
            if custom_int(artifact, "pushed")}


def custom_config(execution) -> dict:
    """The custom_config a TFX component ran with ({} when it has none): TFX records
    each execution property, this one as JSON text."""
    value = execution.custom_properties.get("custom_config")
    return json.loads(value.string_value or "null") or {} if value is not None else {}


def serving_location(store) -> tuple[Path | str, str] | None:
    """The model folder the Pusher publishes to (a str when it is a URI) and the model's
    name, as the newest Pusher execution recorded them (None: no Pusher ran yet)."""
    newest = None
    for node in store.get_contexts_by_type("node"):
        if node.name.rsplit(".", 1)[-1] != "Pusher":
            continue
        for execution in store.get_executions_by_context(node.id):
            if "push_destination" in execution.custom_properties and (
                    newest is None or execution.id > newest.id):
                newest = execution
    if newest is None:
        return None
    destination = json.loads(newest.custom_properties["push_destination"].string_value)
    base = destination.get("filesystem", {}).get("base_directory")
    if not base:
        return None
    name = custom_config(newest).get("model_name")
    if uris.is_uri(base):  # a Path would turn file:///x into file:/x
        return base.rstrip("/"), name or base.rstrip("/").rsplit("/", 1)[-1]
    return Path(base), name or Path(base).name
