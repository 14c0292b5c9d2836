"""Reading a curated schema file: the one place a schema.pbtxt is parsed, with one
sentence for a file that is not a schema. A leaf: it imports nothing of the pipeline's,
so the configuration and the schema review can both use it."""

from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from models.features import SchemaError
from pipeline import uris


def load_schema(path: Path) -> schema_pb2.Schema:
    """A TFMD schema from its text form (FileNotFoundError when there is none; SchemaError,
    in one sentence, for a folder or a file that is not a schema)."""
    if uris.is_dir(path):
        raise SchemaError(f"{path} is a folder; a schema is a schema.pbtxt file")
    try:
        return text_format.Parse(uris.read_bytes(path).decode("utf-8"), schema_pb2.Schema())
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as error:
        raise SchemaError(f"cannot read the schema {path}: {error}") from None
    except text_format.ParseError as error:
        raise SchemaError(f"{path} is not a TFMD schema in protobuf text format "
                          f"({error})") from None
