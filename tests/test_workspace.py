"""The output directory's lock and pre-run checks."""

import errno

import pytest

from pipeline import workspace


def test_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
    with workspace.exclusive(tmp_path):
        with pytest.raises(workspace.Busy, match=r"another run \(pid \d+, started "):
            with workspace.exclusive(tmp_path):
                pass
    with workspace.exclusive(tmp_path):  # released on exit
        pass


def test_lock_is_released_when_the_run_raises(tmp_path):
    with pytest.raises(RuntimeError):
        with workspace.exclusive(tmp_path):
            raise RuntimeError("component failed")
    with workspace.exclusive(tmp_path):
        pass


def test_output_dir_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "outputs"
    target.write_text("not a folder")
    with pytest.raises(workspace.OutputDirError, match="cannot use"):
        workspace.check_writable(target)


def test_writable_dir_is_created(tmp_path):
    workspace.check_writable(tmp_path / "new" / "outputs")
    assert list((tmp_path / "new" / "outputs").iterdir()) == []


def test_unreadable_metadata_is_refused_with_the_recovery(tmp_path):
    metadata = tmp_path / "metadata.db"
    metadata.write_bytes(b"garbage" * 1000)
    with pytest.raises(workspace.OutputDirError) as raised:
        workspace.check_metadata(metadata)
    assert f"mv {metadata} {metadata}.broken" in str(raised.value)
    workspace.check_metadata(tmp_path / "absent.db")
    assert workspace.missing_artifacts(tmp_path / "absent.db") == 0


@pytest.mark.parametrize(("error", "expected"), [
    (OSError(errno.ENOSPC, "No space left on device"), "no space left"),
    (RuntimeError("database or disk is full"), "no space left"),
    (OSError(errno.EROFS, "Read-only file system"), "cannot write to"),
    (OSError(errno.ENOENT, "No such file"), None),
])
def test_disk_errors_get_a_recovery_step(tmp_path, error, expected):
    reason = workspace.describe_os_error(error, tmp_path)
    assert (reason is None) if expected is None else (expected in reason)


def _locations(tmp_path, **uris):
    from pipeline.config import Locations

    return Locations(data_dir=tmp_path / "data", output_dir=tmp_path / "out",
                     schema_path=tmp_path / "schema.pbtxt", **uris)


def _old_outputs(root):
    output = root / "Transform" / "transform_graph" / "1"
    output.mkdir(parents=True)
    (output / "saved_model.pb").write_bytes(b"old")


def _store(metadata_path, runs):
    """An ML Metadata SQLite file recording `runs` pipeline runs."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = \
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    type_id = store.put_context_type(metadata_store_pb2.ContextType(name="pipeline_run"))
    store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name=f"run-{i}")
                        for i in range(runs)])


@pytest.mark.parametrize("history", ["no file", "empty store"])
def test_a_pipeline_root_no_history_records_is_moved_aside_whole(tmp_path, history):
    """The documented recovery moves metadata.db away; TFX's new history numbers its
    executions from 1 again and would fail on the old <component>/<output>/1 folders."""
    locations = _locations(tmp_path)
    _old_outputs(locations.pipeline_root)
    if history == "empty store":
        _store(locations.metadata_path, runs=0)
    moved = workspace.set_aside_orphaned_root(locations)
    assert moved is not None and moved.parent == locations.output_dir
    assert moved.name.startswith("tfx.orphaned-")
    assert not locations.pipeline_root.exists()
    assert (moved / "Transform" / "transform_graph" / "1" / "saved_model.pb").read_bytes() \
        == b"old"


def test_a_pipeline_root_of_a_recorded_history_stays(tmp_path):
    locations = _locations(tmp_path)
    _old_outputs(locations.pipeline_root)
    _store(locations.metadata_path, runs=1)
    assert workspace.set_aside_orphaned_root(locations) is None
    assert (locations.pipeline_root / "Transform").is_dir()
    assert sorted(p.name for p in locations.output_dir.iterdir()) == ["metadata.db", "tfx"]


def test_a_missing_or_empty_pipeline_root_is_left_alone(tmp_path):
    locations = _locations(tmp_path)
    assert workspace.set_aside_orphaned_root(locations) is None
    locations.pipeline_root.mkdir(parents=True)
    assert workspace.set_aside_orphaned_root(locations) is None
    assert sorted(p.name for p in locations.output_dir.iterdir()) == ["tfx"]


def test_an_orphaned_uri_pipeline_root_is_refused_with_what_to_do(tmp_path):
    """A store's rename copies every object, so a URI root is the user's to move."""
    root = f"file://{tmp_path}/bucket/tfx"
    locations = _locations(tmp_path, pipeline_root_uri=root)
    _old_outputs(tmp_path / "bucket" / "tfx")
    with pytest.raises(workspace.OutputDirError,
                       match=f"{root} holds the outputs of a history .* move or delete"):
        workspace.set_aside_orphaned_root(locations)
    (tmp_path / "bucket" / "tfx" / "Transform").rename(tmp_path / "elsewhere")
    assert workspace.set_aside_orphaned_root(locations) is None
