"""Locations that are URIs (`gs://bucket/x`, `file:///shared/x`) rather than local
paths: telling them apart, refusing a scheme the pipeline cannot use, and reading and
writing them through TFX's filesystem layer (`tfx.dsl.io.fileio`, TensorFlow's gfile).

A local path keeps the project's local rules (pathlib, safe_files' symlink-safe writes):
`fileio` is imported only for a URI, because it imports TensorFlow, which the
inspection commands do without. A leaf module: it imports nothing from the project, so
that artifact_files (another leaf) and every command can use it.
"""

import contextlib
import errno
import io
import json
import re
import secrets
from pathlib import Path

# RFC 3986's scheme, as Beam's FileSystems reads it.
_URI = re.compile(r"^(?P<scheme>[a-zA-Z][-a-zA-Z0-9+.]*)://")
# Schemes a run can read and write: TensorFlow's gfile (TFX's fileio, the Trainer, the
# Pusher) and Beam's FileSystems (ExampleGen, StatisticsGen, Transform, the Evaluator) must
# both know them. `file` is Beam's through pipeline/file_scheme.py; `gs` needs Beam's gcp
# extra, which the environment installs (`apache-beam[gcp]` for the Dataflow profile).
SCHEMES = ("file", "gs")


class UnsupportedLocation(ValueError):
    """A location that is a URI the pipeline cannot read or write; one sentence."""


def is_uri(location) -> bool:
    """Whether `location` (a str, Path or UriPath) names a URI rather than a local
    path."""
    if isinstance(location, UriPath):
        return True
    return isinstance(location, str) and _URI.match(location) is not None


def scheme(location: str) -> str | None:
    match = _URI.match(location)
    return match.group("scheme").lower() if match else None


def checked(location: str, flag: str) -> str:
    """`location` with no trailing slash when it is a URI the pipeline can use;
    UnsupportedLocation (one sentence naming `flag`) when not."""
    name = scheme(location)
    if name not in SCHEMES:
        raise UnsupportedLocation(
            f"{flag} {location}: the {name}:// scheme is not supported; use a local path, "
            f"{' or '.join(s + '://' for s in SCHEMES)}")
    if name == "file" and not location.startswith("file:///"):
        raise UnsupportedLocation(
            f"{flag} {location}: a file:// URI names an absolute path, file:///folder "
            "(no host)")
    if not location.split("://", 1)[1].strip("/"):
        raise UnsupportedLocation(f"{flag} {location}: name a folder, not the whole store")
    return location.rstrip("/")


def join(location, *parts: str):
    """`location`/`parts`: a str for a URI, a Path for a local path."""
    if is_uri(location):
        return "/".join([str(location).rstrip("/"), *parts])
    return Path(location).joinpath(*parts)


def _fileio():
    from tfx.dsl.io import fileio

    return fileio


@contextlib.contextmanager
def _os_errors(location: str):
    """TensorFlow's errors from a store (PermissionDenied, Unavailable, ...) as OSError:
    TFX's filesystem layer turns only NotFound into one, and every caller answers an
    unreadable file with OSError's one sentence."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as error:
        raise OSError(errno.EIO, error.message, location) from None


def read_bytes(location) -> bytes:
    """A file's content; FileNotFoundError when it is not there (for a URI too)."""
    if not is_uri(location):
        return Path(location).read_bytes()
    location, fileio = str(location), _fileio()
    if not fileio.exists(location):
        raise FileNotFoundError(2, "No such file or directory", location)
    with _os_errors(location), fileio.open(location, "rb") as handle:
        return handle.read()


def read_json(location):
    return json.loads(read_bytes(location).decode("utf-8"))


def exists(location) -> bool:
    return _fileio().exists(str(location)) if is_uri(location) else Path(location).exists()


def is_dir(location) -> bool:
    return _fileio().isdir(str(location)) if is_uri(location) else Path(location).is_dir()


def glob(pattern: str) -> list[str]:
    """Sorted matches of a pattern in a URI folder (`fileio.glob`)."""
    return sorted(_fileio().glob(str(pattern)))


def children(location: str) -> list[str]:
    """The names in a URI folder (no trailing slashes; [] when it is missing)."""
    location, fileio = str(location), _fileio()
    if not fileio.isdir(location):
        return []
    return sorted(name.rstrip("/") for name in fileio.listdir(location))


def write_bytes(location: str, content: bytes) -> None:
    """Replaces a URI's file: written under a fresh hidden name in the same folder,
    then renamed over it. Atomic where the store's rename is (a local or mounted
    filesystem); on an object store (gs://) a rename is a copy and a delete, but a
    reader still never sees a partly written object."""
    fileio = _fileio()
    folder, name = location.rsplit("/", 1)
    fileio.makedirs(folder)
    temporary = f"{folder}/.{name}.{secrets.token_hex(6)}.partial"
    try:
        with _os_errors(location), fileio.open(temporary, "wb") as handle:
            handle.write(content)
        with _os_errors(location):
            fileio.rename(temporary, location, overwrite=True)
    except BaseException:
        if fileio.exists(temporary):
            fileio.remove(temporary)
        raise


def write_text(location: str, text: str) -> None:
    write_bytes(location, text.encode("utf-8"))


class _GFileReader(io.RawIOBase):
    """A binary GFile as a raw stream, so that io's buffered and text readers (and the
    csv module) read a URI's file as it streams, not all at once."""

    def __init__(self, handle):
        super().__init__()
        self._handle = handle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        with _os_errors(self._handle.name):
            data = self._handle.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._handle.close()
        super().close()


class UriPath:
    """The part of pathlib's API the data checks use (pipeline/data.py: `/`, name,
    parent, is_dir, iterdir, glob, open), for a folder or file named by a URI, read
    through TFX's filesystem layer. No `__fspath__`: a plain `open()` of it fails
    rather than reading a local path of the same name."""

    def __init__(self, uri: str):
        self.uri = uri.rstrip("/")

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"UriPath({self.uri!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, UriPath) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __lt__(self, other) -> bool:
        return self.uri < other.uri

    def __truediv__(self, name: str) -> "UriPath":
        return UriPath(f"{self.uri}/{name}")

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    @property
    def parent(self) -> "UriPath":
        return UriPath(self.uri.rsplit("/", 1)[0])

    def exists(self) -> bool:
        return exists(self.uri)

    def is_dir(self) -> bool:
        return is_dir(self.uri)

    def is_file(self) -> bool:
        return exists(self.uri) and not is_dir(self.uri)

    def iterdir(self):
        return [self / name for name in children(self.uri)]

    def glob(self, pattern: str):
        return [UriPath(match) for match in glob(f"{self.uri}/{pattern}")]

    def read_bytes(self) -> bytes:
        return read_bytes(self.uri)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def open(self, mode: str = "r", newline=None, encoding=None):
        if mode not in ("r", "rb"):
            raise ValueError(f"{self.uri}: UriPath opens files for reading only")
        if not exists(self.uri):
            raise FileNotFoundError(2, "No such file or directory", self.uri)
        with _os_errors(self.uri):
            handle = _fileio().open(self.uri, "rb")
        raw = io.BufferedReader(_GFileReader(handle))
        if mode == "rb":
            return raw
        return io.TextIOWrapper(raw, encoding=encoding or "utf-8", newline=newline)


def as_path(location: str):
    """An artifact's path as a UriPath when it is a URI, else a Path (a Path would
    turn file:///x into file:/x)."""
    return UriPath(location) if is_uri(location) else Path(location)


def location(text: str, flag: str):
    """A location flag's value: a checked URI as a UriPath, else a local Path made
    absolute (UnsupportedLocation for a URI the pipeline cannot use)."""
    if is_uri(text):
        return UriPath(checked(text, flag))
    return Path(text).expanduser().resolve()
