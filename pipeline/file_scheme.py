"""Beam's filesystem for `file://` URIs, so that a pipeline root, data folder or serving
folder on a shared mount can be named the way `gs://...` is, and Beam and TensorFlow
both read it.

TensorFlow's gfile (and so TFX's `fileio`) reads `file:///path` as the local `/path`;
Beam's `LocalFileSystem` has no scheme, and `FileSystems` refuses any path with one it
does not know ("Unable to get filesystem from specified path"). `FileScheme` is
`LocalFileSystem` for the `file` scheme: it removes `file://` before touching the disk
and keeps it in every path it hands back (joins, splits, matches), so a pattern and the
files it matches stay comparable.

Beam finds filesystems among `FileSystem`'s subclasses, so importing this module
registers it. The pipeline imports it where it starts (pipeline/definition.py) and names
it as a Beam plugin for worker processes (pipeline/beam.py: Beam's SDK worker imports
`--beam_plugins` modules before running any step).
"""

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "file"
PREFIX = f"{SCHEME}://"


def local_path(path: str) -> str:
    """The local path of a `file://` URI (other paths as they are)."""
    return path[len(PREFIX):] if path.startswith(PREFIX) else path


class FileScheme(LocalFileSystem):
    """`LocalFileSystem` for `file:///absolute/path` URIs."""

    @classmethod
    def scheme(cls):
        return SCHEME

    def split(self, path):
        head, tail = super().split(local_path(path))
        return PREFIX + head, tail

    def mkdirs(self, path):
        super().mkdirs(local_path(path))

    def _list(self, dir_or_prefix):
        # The listed paths keep the scheme: FileSystem.match compares them with the
        # pattern, which has it.
        for found in super()._list(local_path(dir_or_prefix)):
            yield FileMetadata(PREFIX + found.path, found.size_in_bytes,
                               found.last_updated_in_seconds)

    def create(self, path, *args, **kwargs):
        return super().create(local_path(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(local_path(path), *args, **kwargs)

    def copy(self, source_file_names, destination_file_names):
        super().copy([local_path(p) for p in source_file_names],
                     [local_path(p) for p in destination_file_names])

    def rename(self, source_file_names, destination_file_names):
        super().rename([local_path(p) for p in source_file_names],
                       [local_path(p) for p in destination_file_names])

    def exists(self, path):
        return super().exists(local_path(path))

    def size(self, path):
        return super().size(local_path(path))

    def last_updated(self, path):
        return super().last_updated(local_path(path))

    def checksum(self, path):
        return super().checksum(local_path(path))

    def metadata(self, path):
        found = super().metadata(local_path(path))
        return FileMetadata(path, found.size_in_bytes, found.last_updated_in_seconds)

    def delete(self, paths):
        super().delete([local_path(p) for p in paths])
