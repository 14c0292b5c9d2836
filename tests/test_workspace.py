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
