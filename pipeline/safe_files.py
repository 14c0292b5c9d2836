"""Creating files in the data and output directories without following symlinks.

Every file the pipeline writes there (the inferred schema, `dataset.json`, schema
snapshots, reports, `prepare-data`'s CSVs, `models.config`, the run lock and logs) goes
through this module. A symlink planted at a temporary or lock name would otherwise make
a run, possibly as root, overwrite or truncate whatever it points to. A new file is a
fresh temporary file made with O_CREAT|O_EXCL|O_NOFOLLOW in the target's folder,
written, synced and renamed over the target (a rename replaces a symlink at the target
itself, never what it points to). The run lock and logs, opened in place, must be a
file of their own: never a symlink, and never a hard link to a file elsewhere.

Reading through a symlink is allowed (a symlinked CSV in a data directory is still
read), but what the pipeline reads from a user's folder must be a regular file:
`open_regular` refuses a folder, a device such as /dev/zero, or a named pipe (which
would block the reader forever), without blocking on the pipe.
"""

import contextlib
import errno
import os
import secrets
import stat
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


class NotRegularFile(OSError):
    """A path the pipeline reads or writes in place is not a regular file of its own;
    str() is one sentence naming it."""

    def __str__(self) -> str:
        return f"{self.filename} is {self.strerror}"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _own_file(fd: int, path: Path, devices: bool = False) -> None:
    """NotRegularFile, the descriptor closed, unless `fd` is a regular file with no other
    name (or, with `devices`, a device: quiet commands log to /dev/null): a hard link
    planted at a lock or log name would otherwise let a write in place change the file
    it shares its content with, outside the output directory."""
    info = os.fstat(fd)
    reason = None
    if not stat.S_ISREG(info.st_mode) and not (devices and stat.S_ISCHR(info.st_mode)):
        reason = f"{_kind(info.st_mode)}, not a regular file"
    elif stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        reason = ("a hard link to another file, which a run never writes through: "
                  f"remove it (rm {path}) and run again")
    if reason:
        os.close(fd)
        raise NotRegularFile(errno.EINVAL, reason, str(path))


def open_lock(path: Path) -> int:
    """A read-write descriptor of a lock file, created if missing; OSError (ELOOP)
    when `path` is a symlink, which is never followed, NotRegularFile when it is a
    hard link or not a regular file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                 0o644)
    _own_file(fd, path)
    os.set_blocking(fd, True)
    return fd


def open_append(path: Path, encoding: str = "utf-8"):
    """A text file appending to `path` (created if missing; a device such as /dev/null
    is fine), never through a symlink or a hard link (NotRegularFile)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                 | os.O_CLOEXEC, 0o644)
    _own_file(fd, path, devices=True)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "a", encoding=encoding)


def open_regular(path: Path):
    """A binary file reading `path`, a regular file or a symlink to one; NotRegularFile
    for a folder, a device or a named pipe, found without reading the device or
    waiting for a writer at the pipe."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegularFile(errno.EINVAL, f"{_kind(mode)}, not a regular file", str(path))
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of `path` (see `open_regular`), at most `limit` (read no further):
    NotRegularFile when it holds more."""
    with open_regular(path) as handle:
        content = handle.read(limit + 1)
    if len(content) > limit:
        raise NotRegularFile(errno.EFBIG, f"larger than {limit // 2**20} MiB, more than "
                             "this file can sensibly hold", str(path))
    return content
