"""Reading a curated schema file: the one place a schema.pbtxt is parsed, with one
sentence for a file that is not a schema. It imports only the pipeline's file
helpers (pipeline/safe_files.py), so the configuration and the schema review can both
use it."""

from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from models.features import SchemaError
from pipeline import uris
from pipeline.safe_files import NotRegularFile, read_regular

# A schema of 10,000 features takes about 2 MiB; a larger file is not a schema.
MAX_SCHEMA_BYTES = 64 * 2**20


def load_schema(path: Path) -> schema_pb2.Schema:
    """A TFMD schema from its text form (FileNotFoundError when there is none; SchemaError,
    in one sentence, for a folder, a device, a named pipe, a file larger than
    MAX_SCHEMA_BYTES or a file that is not a schema)."""
    if uris.is_dir(path):
        raise SchemaError(f"{path} is a folder; a schema is a schema.pbtxt file")
    try:
        raw = (uris.read_bytes(path) if uris.is_uri(path)
               else read_regular(Path(path), MAX_SCHEMA_BYTES))
        return text_format.Parse(raw.decode("utf-8"), schema_pb2.Schema())
    except FileNotFoundError:
        raise
    except NotRegularFile as error:
        raise SchemaError(f"the schema {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SchemaError(f"cannot read the schema {path}: {error}") from None
    except text_format.ParseError as error:
        raise SchemaError(f"{path} is not a TFMD schema in protobuf text format "
                          f"({error})") from None
