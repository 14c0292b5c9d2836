"""Creating files in the data and output directories without following symlinks.

Every file the pipeline writes there (the inferred schema, `dataset.json`, schema
snapshots, reports, `prepare-data`'s CSVs, `models.config`, the run lock and logs) goes
through this module. A symlink planted at a temporary or lock name would otherwise make
a run, possibly as root, overwrite or truncate whatever it points to. A new file is a
fresh temporary file made with O_CREAT|O_EXCL|O_NOFOLLOW in the target's folder,
written, synced and renamed over the target (a rename replaces a symlink at the target
itself, never what it points to). Reading through a symlink is not this module's
concern: a symlinked CSV in a data directory is still read.
"""

import contextlib
import os
import secrets
from pathlib import Path

# Flags of a file that must be new: never an existing file, never through a symlink.
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def create_new(path: Path, mode: int = 0o644) -> int:
    """A descriptor of `path`, created now (FileExistsError when anything, a symlink
    included, is already there)."""
    return os.open(path, _NEW, mode)


def _temporary(path: Path) -> tuple[Path, int]:
    """A fresh hidden file next to `path` and its descriptor."""
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
        try:
            return candidate, create_new(candidate)
        except FileExistsError:
            continue


@contextlib.contextmanager
def replacing(path: Path, text: bool = True, encoding: str = "utf-8", newline=None):
    """Yields a file to write `path`'s new content to; on success it is synced and
    renamed over `path`, so a reader sees the old file or the new one, never half of
    one; on an error the temporary file is removed and `path` is untouched."""
    path = Path(path)
    temporary, fd = _temporary(path)
    try:
        with (os.fdopen(fd, "w", encoding=encoding, newline=newline) if text
              else os.fdopen(fd, "wb")) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Replaces `path` with `text` (see `replacing`)."""
    with replacing(path, encoding=encoding) as handle:
        handle.write(text)


def write_bytes(path: Path, content: bytes) -> None:
    """Replaces `path` with `content` (see `replacing`)."""
    with replacing(path, text=False) as handle:
        handle.write(content)


def open_lock(path: Path) -> int:
    """A read-write descriptor of a lock file, created if missing; OSError (ELOOP)
    when `path` is a symlink, which is never followed."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)


def open_append(path: Path, encoding: str = "utf-8"):
    """A text file appending to `path` (created if missing), never through a symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    return os.fdopen(fd, "a", encoding=encoding)
