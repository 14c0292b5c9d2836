"""Which version TF Serving serves (its rule over models.config), models.config's round
trip, and `rollback` against an ML Metadata store built in-process: its refusals, the
pin it writes, the record `models` and `lineage` show, and the way back to latest."""

import io
import json
from pathlib import Path

import pytest
from google.protobuf import text_format
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
from tensorflow_serving.config import model_server_config_pb2

from pipeline import cli, inspection, metadata, rollback, serving, workspace

MODEL = "big_tipper"
# Three versions the Pusher published, then one copied into the folder by hand.
PUSHED = [1700000100, 1700000200, 1700000300]
UNRECORDED = 1700000400


def _config(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, expected", [
    (None, 30),  # no models.config: --model_base_path alone serves the highest
    ('model_config_list { config { name: "big_tipper" base_path: "/m" } }', 30),
    ('model_config_list { config { name: "big_tipper" base_path: "/m" '
     "model_version_policy { latest { num_versions: 2 } } } }", 30),
    ('model_config_list { config { name: "big_tipper" base_path: "/m" '
     "model_version_policy { all {} } } }", 30),
    ('model_config_list { config { name: "other" base_path: "/o" '
     "model_version_policy { specific { versions: 10 } } } }", 30),
    ('model_config_list { config { name: "big_tipper" base_path: "/m" '
     "model_version_policy { specific { versions: 10 } } } }", 10),
    # Two pinned: TF Serving loads both and answers with the higher.
    ('model_config_list { config { name: "big_tipper" base_path: "/m" '
     "model_version_policy { specific { versions: 10 versions: 20 } } } }", 20),
    # A pinned version that is not in the folder is not served: nothing is.
    ('model_config_list { config { name: "big_tipper" base_path: "/m" '
     "model_version_policy { specific { versions: 15 } } } }", None),
])
def test_served_version_follows_tf_serving_rule(tmp_path, text, expected):
    path = tmp_path / "models.config"
    if text is not None:
        _config(path, text)
    pinned = serving.pinned_versions(path, MODEL)
    assert serving.served_version([10, 20, 30], pinned) == expected


def test_no_version_no_served_version():
    assert serving.served_version([], None) is None
    assert serving.served_version([], [10]) is None


def test_unreadable_models_config_is_one_sentence(tmp_path):
    path = _config(tmp_path / "models.config", "model_config_list { config { nme: 1 } }")
    with pytest.raises(serving.ModelsConfigError, match=r"cannot read .*models.config"):
        serving.pinned_versions(path, MODEL)


def _parsed(path):
    return text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())


def test_models_config_round_trip_keeps_a_pin_until_cleared(tmp_path):
    path = tmp_path / "models.config"
    base = tmp_path / "serving" / MODEL
    serving.write_models_config(path, "other", tmp_path / "other")
    serving.write_models_config(path, MODEL, base)
    assert serving.pinned_versions(path, MODEL) is None
    serving.write_models_config(path, MODEL, base, pinned=1700000100)
    assert serving.pinned_versions(path, MODEL) == [1700000100]
    # A setting the user added by hand survives; so does the pin when the Pusher
    # rewrites the entry after a publish.
    config = _parsed(path)
    entry = next(e for e in config.model_config_list.config if e.name == MODEL)
    entry.version_labels["stable"] = 1700000100
    path.write_text(text_format.MessageToString(config))
    serving.write_models_config(path, MODEL, base)
    assert serving.pinned_versions(path, MODEL) == [1700000100]
    serving.write_models_config(path, MODEL, base, pinned=None)
    assert serving.pinned_versions(path, MODEL) is None
    entries = {e.name: e for e in _parsed(path).model_config_list.config}
    assert set(entries) == {"other", MODEL}
    assert entries[MODEL].base_path == str(base)
    assert entries[MODEL].model_platform == "tensorflow"
    assert dict(entries[MODEL].version_labels) == {"stable": 1700000100}
    assert not entries[MODEL].HasField("model_version_policy")
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["models.config"]


@pytest.fixture
def out(tmp_path):
    """An output directory as runs leave it: an ML Metadata store where the Pusher
    published PUSHED (and, in another run, pushed nothing), and the serving folder
    with those versions and one copied in by hand."""
    out = tmp_path / "out"
    model_dir = out / "serving" / MODEL
    model_dir.mkdir(parents=True)
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(out / "metadata.db")
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    context_type = {name: store.put_context_type(pb.ContextType(name=name))
                    for name in ("pipeline", "pipeline_run", "node")}
    pipeline, node = store.put_contexts([
        pb.Context(type_id=context_type["pipeline"], name="taxi"),
        pb.Context(type_id=context_type["node"], name="taxi.Pusher")])
    contexts = store.get_contexts_by_id([pipeline, node])
    pusher = store.put_execution_type(pb.ExecutionType(name="pipeline.pusher.ServingPusher"))
    pushed_model = store.put_artifact_type(pb.ArtifactType(name="PushedModel"))
    for index, version in enumerate([*PUSHED, None]):
        [run] = store.put_contexts([pb.Context(type_id=context_type["pipeline_run"],
                                               name=f"run-{index}")])
        execution = pb.Execution(type_id=pusher, last_known_state=pb.Execution.COMPLETE)
        execution.custom_properties["push_destination"].string_value = json.dumps(
            {"filesystem": {"base_directory": str(model_dir)}})
        execution.custom_properties["custom_config"].string_value = json.dumps(
            {"model_name": MODEL})
        artifact = pb.Artifact(type_id=pushed_model, uri=str(out / "tfx" / str(index)))
        artifact.custom_properties["pushed"].int_value = int(version is not None)
        if version is not None:
            artifact.custom_properties["pushed_version"].string_value = str(version)
            artifact.custom_properties["pushed_destination"].string_value = str(
                model_dir / str(version))
            (model_dir / str(version)).mkdir()
        store.put_execution(execution, [(artifact, pb.Event(type=pb.Event.OUTPUT))],
                            [*contexts, *store.get_contexts_by_id([run])])
    (model_dir / str(UNRECORDED)).mkdir()
    serving.write_models_config(serving.models_config_path(model_dir), MODEL, model_dir)
    return out


def _rollback(out, *args):
    parsed = cli._parser().parse_args(["rollback", *args, "--output-dir", str(out)])
    stdout, stderr = io.StringIO(), io.StringIO()
    code = rollback.main(parsed, stdout, stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def _state(out):
    return inspection.serving_state(metadata.open_store(out / "metadata.db"))


def test_served_version_without_a_rollback_is_the_highest_folder(out):
    state = _state(out)
    assert state["versions"] == [*PUSHED, UNRECORDED]
    assert state["served_version"] == UNRECORDED and state["pinned_version"] is None
    rows = inspection.models(metadata.open_store(out / "metadata.db"))
    assert [(row["version"], row["run_id"], row["served"]) for row in rows] == [
        (PUSHED[0], "run-0", False), (PUSHED[1], "run-1", False),
        (PUSHED[2], "run-2", False), (UNRECORDED, None, True)]


@pytest.mark.parametrize("args, message", [
    (["--to", "1700000250"], "no version 1700000250 in "),
    (["--to", str(UNRECORDED)], f"version {UNRECORDED} in "),
])
def test_rollback_refuses_a_version_the_pipeline_did_not_push(out, args, message):
    before = serving.models_config_path(out / "serving" / MODEL).read_text()
    code, stdout, stderr = _rollback(out, *args)
    assert code == 2 and stdout == ""
    assert stderr.startswith(f"error: {message}") and stderr.count("\n") == 1
    if "not pushed" in stderr:
        assert f"choose one of: {', '.join(map(str, PUSHED))}" in stderr
    assert serving.models_config_path(out / "serving" / MODEL).read_text() == before
    assert inspection.rollbacks(metadata.open_store(out / "metadata.db")) == []


def test_rollback_refuses_when_nothing_is_older_or_nothing_ran(out, tmp_path):
    assert _rollback(out, "--to", str(PUSHED[0]))[0] == 0
    code, _, stderr = _rollback(out)
    assert code == 2 and "nothing to roll back to" in stderr and stderr.count("\n") == 1
    code, _, stderr = _rollback(tmp_path / "empty")
    assert code == 2 and stderr.startswith("error: no runs in ")


def test_rollback_pins_records_and_latest_returns(out):
    model_dir = out / "serving" / MODEL
    config = serving.models_config_path(model_dir)
    # Default: the newest pushed version older than the served one.
    code, stdout, _ = _rollback(out, "--json")
    answer = json.loads(stdout)
    assert code == 0 and answer["changed"]
    assert answer["served_version"] == PUSHED[2] == answer["pinned_version"]
    assert answer["previous_served_version"] == UNRECORDED
    assert serving.pinned_versions(config, MODEL) == [PUSHED[2]]
    code, stdout, _ = _rollback(out, "--to", str(PUSHED[0]))
    assert code == 0 and f"now serves {PUSHED[0]} (was {PUSHED[2]})" in stdout
    assert serving.versions(model_dir) == [*PUSHED, UNRECORDED]  # nothing deleted

    store = metadata.open_store(out / "metadata.db")
    assert [(r["policy"], r["served_version"], r["previous_served_version"])
            for r in inspection.rollbacks(store)] == [
        ("specific", PUSHED[2], UNRECORDED), ("specific", PUSHED[0], PUSHED[2])]
    [execution] = [e for e in store.get_executions_by_type(inspection.ROLLBACK_TYPE)
                   if e.properties["served_version"].int_value == PUSHED[0]]
    [event] = store.get_events_by_execution_ids([execution.id])
    [artifact] = store.get_artifacts_by_id([event.artifact_id])
    assert event.type == pb.Event.INPUT
    assert metadata.custom_str(artifact, "pushed_version") == str(PUSHED[0])
    assert [c.name for c in store.get_contexts_by_execution(execution.id)] == ["taxi"]
    served = {row["version"]: (row["served"], row["pinned"])
              for row in inspection.models(store)}
    assert served[PUSHED[0]] == (True, True) and served[UNRECORDED] == (False, False)
    found = inspection.lineage(store, PUSHED[0])
    assert found["served"] is True
    assert [r["served_version"] for r in found["rollbacks"]] == [PUSHED[0]]
    assert inspection.lineage(store, PUSHED[2])["served"] is False

    code, stdout, _ = _rollback(out, "--to", str(PUSHED[0]))
    assert code == 0 and "nothing changed" in stdout
    code, stdout, _ = _rollback(out, "--to", "latest", "--json")
    answer = json.loads(stdout)
    assert code == 0 and answer["served_version"] == UNRECORDED
    assert answer["pinned_version"] is None and serving.pinned_versions(config, MODEL) is None
    last = inspection.rollbacks(metadata.open_store(out / "metadata.db"))[-1]
    assert (last["policy"], last["served_version"]) == ("latest", UNRECORDED)


def test_rollback_refuses_while_a_run_holds_the_output_dir(out):
    with workspace.exclusive(out):
        code, _, stderr = _rollback(out, "--to", str(PUSHED[0]))
    assert code == 4 and "another run" in stderr
    assert serving.pinned_versions(serving.models_config_path(out / "serving" / MODEL),
                                   MODEL) is None


def test_rollback_refuses_a_uri_serving_folder_and_writes_nothing(out, monkeypatch):
    # A Path made of gs://b/m is the relative gs:/b/m: models.config landed in the cwd.
    state = _state(out)
    monkeypatch.setattr(inspection, "serving_state",
                        lambda store: {**state, "model_dir": "gs://bucket/serving/" + MODEL})
    before = sorted(Path.cwd().iterdir())
    code, stdout, stderr = _rollback(out, "--to", str(PUSHED[0]))
    assert code == 2 and stdout == "" and stderr.count("\n") == 1
    assert stderr.startswith("error: rollback works on a local serving folder; gs://bucket/")
    assert sorted(Path.cwd().iterdir()) == before
    assert inspection.rollbacks(metadata.open_store(out / "metadata.db")) == []


def test_bad_rollback_target_is_a_usage_error(out):
    with pytest.raises(SystemExit) as exit_info:
        cli._parser().parse_args(["rollback", "--to", "yesterday"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("summary, words", [
    ({"pushed_version": 3, "served_version": 3, "pinned_version": None},
     ["3, the pushed version"]),
    ({"pushed_version": 3, "served_version": 1, "pinned_version": 1},
     ["1, pinned by", "the pushed 3 is not served until",
      "python -m pipeline rollback --to latest"]),
    ({"pushed_version": 3, "served_version": 5, "pinned_version": None},
     ["5, newer than the pushed 3", "lineage 5", "rollback --to 3"]),
    ({"pushed_version": None, "served_version": None, "pinned_version": 2},
     ["nothing: models.config pins version 2, which is not in the serving folder"]),
])
def test_served_note_says_why_the_served_version_is_not_the_pushed_one(summary, words):
    note = inspection.served_note(summary)
    for word in words:
        assert word in note, note


def _inspect(out, *args):
    from pipeline import inspect_cli

    parsed = cli._parser().parse_args([*args, "--output-dir", str(out)])
    stdout, stderr = io.StringIO(), io.StringIO()
    assert inspect_cli.main(parsed, stdout, stderr) == 0, stderr.getvalue()
    return stdout.getvalue()


def test_models_runs_and_lineage_show_the_served_version_and_the_rollback(out):
    assert f"TF Serving serves {UNRECORDED}, the highest version" in _inspect(out, "models")
    assert _rollback(out, "--to", str(PUSHED[1]))[0] == 0
    table = _inspect(out, "models")
    row = next(line for line in table.splitlines() if line.startswith(str(PUSHED[1])))
    assert "yes, pinned" in row
    assert f"TF Serving serves {PUSHED[1]}: " in table and "pins it" in table
    assert f"--to {PUSHED[1]}: served {UNRECORDED} -> {PUSHED[1]}" in table
    runs = json.loads(_inspect(out, "runs", "--json"))
    assert [run["served_version"] for run in runs] == [PUSHED[1]] * 4
    assert [run["pinned_version"] for run in runs] == [PUSHED[1]] * 4
    assert runs[0]["newer_versions"] == [PUSHED[1], PUSHED[2], UNRECORDED]
    text = _inspect(out, "lineage", str(PUSHED[1]))
    assert "served by TF Serving now: yes" in text
    assert f"rollback --to {PUSHED[1]}: served {UNRECORDED} -> {PUSHED[1]}" in text
