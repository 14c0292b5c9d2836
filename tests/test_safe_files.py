"""No write in the data or output directories follows a planted symlink: the file it
points to, outside, stays as it was, and the write still lands (or, for the run lock, is
refused with one sentence)."""

import json
import os

import pytest

from pipeline import safe_files, serving, workspace

ORIGINAL = "precious content outside the data directory\n"


@pytest.fixture
def outside(tmp_path):
    """A file outside the data and output directories that symlinks point to."""
    path = tmp_path / "outside" / "precious.txt"
    path.parent.mkdir()
    path.write_text(ORIGINAL)
    return path


def _plant(link, target):
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def test_replacing_writes_through_a_fresh_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("old")
    safe_files.write_text(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_a_temporary_name_taken_by_a_symlink_is_never_written(tmp_path, outside,
                                                               monkeypatch):
    tokens = iter(["planted", "fresh"])
    monkeypatch.setattr(safe_files.secrets, "token_hex", lambda _: next(tokens))
    path = tmp_path / "data" / "schema.pbtxt"
    _plant(path.with_name(".schema.pbtxt.planted.partial"), outside)
    safe_files.write_text(path, "feature {}\n")
    assert outside.read_text() == ORIGINAL
    assert path.read_text() == "feature {}\n"


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path, outside):
    path = _plant(tmp_path / "data" / "dataset.json", outside)
    safe_files.write_text(path, "{}\n")
    assert outside.read_text() == ORIGINAL
    assert not path.is_symlink() and path.read_text() == "{}\n"


def test_a_failed_write_leaves_the_target_and_no_temporary(tmp_path):
    path = tmp_path / "report.html"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with safe_files.replacing(path) as handle:
            handle.write("half")
            raise RuntimeError("disk trouble")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert path.read_text() == "old"


def test_inferred_schema_ignores_a_symlink_at_the_old_partial_name(tmp_path, outside):
    from tensorflow_metadata.proto.v0 import schema_pb2

    from pipeline.schema_review import write_curated

    path = tmp_path / "data" / "schema.pbtxt"
    _plant(path.with_suffix(".partial"), outside)
    schema = schema_pb2.Schema()
    schema.feature.add(name="fare", type=schema_pb2.FLOAT)
    write_curated(schema, path, header=["# inferred"])
    assert outside.read_text() == ORIGINAL
    assert "fare" in path.read_text()


def test_dataset_record_ignores_a_symlink_at_the_old_partial_name(tmp_path, outside):
    from pipeline.config import make_config

    cfg = make_config(output_dir=tmp_path / "out")
    _plant(cfg.locations.output_dir / "dataset.partial", outside)
    workspace.claim_dataset(cfg)
    assert outside.read_text() == ORIGINAL
    assert json.loads((cfg.locations.output_dir / "dataset.json").read_text())["task"]


def test_schema_snapshot_ignores_a_symlink_at_the_old_partial_name(tmp_path, outside):
    import hashlib

    from pipeline.config import make_config
    from pipeline.runner import snapshot_schema

    cfg = make_config(output_dir=tmp_path / "out")
    digest = hashlib.sha256(cfg.locations.schema_path.read_bytes()).hexdigest()[:16]
    _plant(cfg.locations.output_dir / "schemas" / digest / "schema.partial", outside)
    snapshot = snapshot_schema(cfg)
    assert outside.read_text() == ORIGINAL
    assert snapshot.read_bytes() == cfg.locations.schema_path.read_bytes()


def test_models_config_ignores_a_symlink_at_a_partial_name(tmp_path, outside,
                                                          monkeypatch):
    import os

    config = tmp_path / "serving" / serving.MODELS_CONFIG
    # The name main's writer used; the helper's own names are checked above.
    _plant(config.with_name(f".{config.name}.{os.getpid()}.partial"), outside)
    serving.write_models_config(config, "m", tmp_path / "serving" / "m")
    assert outside.read_text() == ORIGINAL
    assert 'name: "m"' in config.read_text()


def test_prepared_csv_ignores_a_symlink_at_the_old_partial_name(tmp_path, outside):
    from pipeline import data

    _plant(tmp_path / "data" / "span-1" / "data.csv.partial", outside)
    target = data.prepare_default_data(tmp_path / "data")
    assert outside.read_text() == ORIGINAL
    assert target.read_text().startswith("pickup_community_area,")


def test_a_symlinked_run_lock_is_refused_and_its_target_kept(tmp_path, outside):
    _plant(tmp_path / "out" / workspace.LOCK_FILE, outside)
    with pytest.raises(workspace.OutputDirError, match="symbolic link.*rm "):
        with workspace.exclusive(tmp_path / "out"):
            pass
    assert outside.read_text() == ORIGINAL


def test_a_write_probe_name_taken_by_a_symlink_is_not_followed(tmp_path, outside):
    import os

    out = tmp_path / "out"
    _plant(out / f".write-probe-{os.getpid()}", outside)
    with pytest.raises(workspace.OutputDirError):
        workspace.check_writable(out)
    assert outside.read_text() == ORIGINAL


def test_report_ignores_a_symlink_at_the_old_partial_name(tmp_path, outside, monkeypatch):
    from pipeline import report

    monkeypatch.setattr(report, "render", lambda details: "<html>run</html>")
    path = report.path_for(tmp_path, "run-1")
    _plant(path.with_suffix(".partial"), outside)
    assert report.write({"run_id": "run-1"}, tmp_path) == path
    assert outside.read_text() == ORIGINAL
    assert path.read_text() == "<html>run</html>"


def test_a_hard_linked_run_lock_is_refused_and_its_target_kept(tmp_path, outside):
    # O_NOFOLLOW does not see a hard link: the lock's truncation would reach the file.
    out = tmp_path / "out"
    out.mkdir()
    os.link(outside, out / workspace.LOCK_FILE)
    with pytest.raises(workspace.OutputDirError, match="hard link.*rm "):
        with workspace.exclusive(out):
            pass
    assert outside.read_text() == ORIGINAL


def test_a_hard_linked_log_is_not_appended_to(tmp_path, outside):
    os.link(outside, tmp_path / "run.log")
    with pytest.raises(safe_files.NotRegularFile, match="hard link"):
        safe_files.open_append(tmp_path / "run.log")
    assert outside.read_text() == ORIGINAL



def test_a_log_may_be_a_device():
    with safe_files.open_append(os.devnull) as log:
        log.write("sent away\n")
