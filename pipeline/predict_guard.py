"""What `predict` checks before TensorFlow sees a request or loads a model, so that it
is no more lenient than TF Serving: the size of the request (bytes and rows), TF
Serving's REST typing rules for each value, and that the version is one this output
directory's Pusher published and checked, unchanged since, with no op a model server
lacks.

The typing rules are those of TF Serving's JSON-to-tensor step,
tensorflow_serving/util/json_tensor.cc (`AddValueToTensor`, `IsLosslessDecimal`,
`FillTensorProto`, `JsonDecodeBase64Object`; `ParseJson` parses with rapidjson's
kParseNanAndInfFlag):
- DT_FLOAT/DT_DOUBLE take a JSON number (`IsNumber`: no string, no `true`), NaN and
  Infinity included, and refuse one they cannot hold without loss: an integer beyond
  2^24 - 1 (float) or 2^53 - 1 (double), a decimal beyond the type's range;
- DT_INT64 takes an integer literal in int64's range (`IsInt64`: `1.0`, `1e3`, `true`
  and 2^63 are refused), DT_INT32 one in int32's range (`IsInt`);
- DT_STRING takes a JSON string, or `{"b64": "..."}` (base64, decoded); any other
  object, and null, are refused;
- every value sits at the level of the input's rank (in the row format, the rank less
  the batch dimension): a list nested deeper, or a single value where a list belongs,
  is refused.
rapidjson itself refuses a number too large for a double (JSON `1e400`); Python's
`json` would read it as Infinity, so it is refused here. The depth and size limits are
predict's own: TF Serving's parser has no depth limit (json_tensor.cc leaves "custom
stack ... against deep nested structures" as a TODO), so predict sets one rather than
recurse on hostile input.
"""

import json
import math
import os
import re
from pathlib import Path

from pipeline import uris

# A request body (JSON or CSV file) larger than this is refused before it is parsed.
MAX_BODY_BYTES = 8 * 2**20
# More instances (JSON rows, CSV rows, or values per input of the columnar format).
MAX_ROWS = 10_000
# Lists and objects nested deeper than this (a valid body needs 4 for rank-1 inputs).
MAX_DEPTH = 32
# Integers a dtype holds exactly (json_tensor.cc, IsLosslessDecimal: 2^digits - 1).
_EXACT_INTEGERS = {"float32": 2**24 - 1, "float64": 2**53 - 1}
_FLOAT_MAX = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}
_INT_RANGES = {"int64": (-2**63, 2**63 - 1), "int32": (-2**31, 2**31 - 1)}
# A JSON string token (escapes included), to find nesting outside strings.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class Unpublished(ValueError):
    """A version predict does not score: the message says why, in one sentence."""


def _refused(message: str):
    """serving.RequestError, the error predict reports for a refused request; imported
    here only when raised, so that the parser's import of this module stays light."""
    from pipeline.serving import RequestError as error

    return error(message)


def read_body(path: Path) -> bytes:
    """The bytes of a request file, at most MAX_BODY_BYTES (read no further, so a
    device or a growing file cannot fill memory); RequestError when it holds more."""
    from pipeline.safe_files import NotRegularFile, open_regular

    # A named pipe would block the read, a device never end it: refused unread.
    try:
        with open_regular(path) as handle:
            data = handle.read(MAX_BODY_BYTES + 1)
    except NotRegularFile as error:
        raise _refused(f"{error}; a request body is a .json or .csv file") from None
    if len(data) > MAX_BODY_BYTES:
        raise _refused(f"{path} is larger than {MAX_BODY_BYTES // 2**20} MiB, the "
                       "largest request predict takes; split it into smaller ones")
    return data


def check_rows(count: int, what: str = "instances") -> None:
    if count > MAX_ROWS:
        raise _refused(f"the request has {count:,} {what}, more than the {MAX_ROWS:,} "
                       "predict takes in one request; split it into smaller ones")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        # rapidjson: "Number too big to be stored in double".
        raise _refused(f"the number {text[:40]} is too large for JSON (TF Serving's "
                       "parser refuses it too)")
    return value


def parse_json(data: bytes, path: Path):
    """A JSON request body, with lists and objects nested at most MAX_DEPTH deep;
    RequestError for anything TF Serving's parser would not take."""
    text = data.decode("utf-8")
    depth = 0
    # Brackets inside strings do not nest; an unterminated string is json's to report.
    for bracket in _BRACKETS.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise _refused(f"{path} nests lists or objects more than {MAX_DEPTH} deep; "
                           "a request body needs at most 4 levels")
    try:
        return json.loads(text, parse_float=_parse_float)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as error:
        # Python's own limits, e.g. an integer of more than 4,300 digits.
        from pipeline.serving import RequestError as refused

        if isinstance(error, refused):
            raise
        raise _refused(f"{path} is not a JSON request body TF Serving takes: "
                       f"{error}") from None


def signature_ranks(saved_model_dir: Path, signature: str) -> dict[str, int | None]:
    """Input name -> rank of a signature's inputs (None: unknown rank), read from
    saved_model.pb without loading the model."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel.FromString(
        (saved_model_dir / "saved_model.pb").read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            inputs = meta_graph.signature_def[signature].inputs
            return {name: None if info.tensor_shape.unknown_rank
                    else len(info.tensor_shape.dim) for name, info in inputs.items()}
    return {}


def _shown(value) -> str:
    text = json.dumps(value, allow_nan=True, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return f"the string {_shown(value)}"
    if isinstance(value, dict):
        return f"the object {_shown(value)}"
    if isinstance(value, float):
        return f"the decimal number {_shown(value)}"
    return f"the number {_shown(value)}"


def _scalar(value, dtype: str, where: str):
    """`value` as TF Serving's AddValueToTensor takes it for `dtype` (a b64 object
    decoded), or RequestError with TF Serving's reason."""
    refused = f"{where} takes {_TAKES.get(dtype, dtype)}, not {_kind(value)}"
    if dtype in _EXACT_INTEGERS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refused(f"{refused} (TF Serving refuses it too)")
        if isinstance(value, int) and -2**63 <= value < 2**64:
            # rapidjson keeps an integer literal in (u)int64's range an integer.
            if abs(value) > _EXACT_INTEGERS[dtype]:
                raise _refused(f"{where}: {value} cannot be a {dtype} without loss of "
                               "precision (TF Serving refuses it too)")
            return float(value)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number) and abs(number) > _FLOAT_MAX[dtype] or (
                isinstance(value, int) and math.isinf(number)):
            raise _refused(f"{where}: {_shown(value)} is outside the range of "
                           f"{dtype} (TF Serving refuses it too)")
        # As a double, as rapidjson holds it (numpy takes no int beyond int64).
        return number
    if dtype in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refused(f"{refused} (TF Serving refuses it too)")
        low, high = _INT_RANGES[dtype]
        if not low <= value <= high:
            raise _refused(f"{where}: {_shown(value)} overflows {dtype} (TF Serving "
                           "refuses it too)")
        return value
    if dtype == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and list(value) == ["b64"] and isinstance(
                value["b64"], str):
            import base64
            import binascii

            try:
                decoded = base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise _refused(f"{where}: {_shown(value)} is not valid base64 (TF "
                               "Serving refuses it too)") from None
            try:
                return decoded.decode("utf-8")
            except UnicodeDecodeError:
                # The model's strings come from UTF-8 CSV text; other bytes match none.
                raise _refused(f"{where}: {_shown(value)} decodes to bytes that are "
                               "not UTF-8 text, which predict does not take") from None
        raise _refused(f"{refused} (TF Serving refuses it too)")
    return value


_TAKES = {"float32": "a number", "float64": "a number", "int64": "an integer",
          "int32": "an integer", "string": "a string"}


def _value(value, dtype: str, rank: int | None, where: str, level: int = 0):
    """A value of an input whose tensor has `rank` dimensions, checked as
    FillTensorProto does: lists down to level `rank`, single values there."""
    if isinstance(value, list):
        if rank is not None and level >= rank:
            expected = "a single value" if rank == 0 else f"lists {rank} deep"
            raise _refused(f"{where} takes {expected}, not lists {level + 1} deep "
                           "(TF Serving refuses it too)")
        return [_value(item, dtype, rank, where, level + 1) for item in value]
    if rank is not None and level != rank:
        raise _refused(f"{where} takes a list of values, not {_kind(value)} (TF "
                       "Serving refuses it too)")
    return _scalar(value, dtype, where)


def _named(name: str, columns: dict[str, str]) -> str:
    column = columns.get(name, name)
    return f"input {name!r}" if column == name else f"input {name!r} (column {column!r})"


def strict_body(body, inputs: dict[str, str], ranks: dict[str, int | None],
                columns: dict[str, str] | None = None):
    """`body` (a REST request with input names as keys) checked value by value as TF
    Serving types it, with `{"b64": ...}` strings decoded; RequestError naming the
    first value TF Serving would refuse, or a request over MAX_ROWS. Shapes of the
    body itself (which keys, which inputs) are left to serving.request_arrays."""
    columns = columns or {}
    if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
        return body
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list):
            return body
        check_rows(len(rows))
        checked = []
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                return body
            # An instance holds one value per input: its rank less the batch dimension.
            checked.append({name: _value(
                value, inputs[name], None if ranks.get(name) is None else
                max(ranks[name] - 1, 0), f"instance {index}: {_named(name, columns)}")
                if name in inputs else value for name, value in row.items()})
        return {**body, "instances": checked}
    given = body["inputs"]
    if not isinstance(given, dict):
        return body
    for value in given.values():
        if isinstance(value, list):
            check_rows(len(value), "values for one input")
    return {**body, "inputs": {name: _value(value, inputs[name], ranks.get(name),
                                            _named(name, columns))
                               if name in inputs else value
                               for name, value in given.items()}}


def _uri_tree_problem(version_dir: str, archive: str) -> str | None:
    """`_tree_problem` for a version in a serving folder given as a URI, read through
    TFX's filesystem layer (a URI has no symbolic links to refuse)."""
    from tfx.dsl.io import fileio

    if not fileio.isdir(archive):
        return f"the Pusher's copy to compare it with, {archive}, is gone"
    trees = []
    for root in (version_dir, archive):
        files = set()
        for folder, _, names in fileio.walk(root):
            relative = str(folder)[len(root):].strip("/")
            files.update(f"{relative}/{name}".lstrip("/") for name in names)
        trees.append(files)
    if trees[0] != trees[1]:
        changed = sorted(trees[0] ^ trees[1])
        return f"its files differ from the published ones ({changed[0]})"
    for name in sorted(trees[0]):
        if uris.read_bytes(f"{version_dir}/{name}") != uris.read_bytes(f"{archive}/{name}"):
            return f"{name} differs from the published one"
    return None


def _tree_problem(version_dir: Path, archive: Path) -> str | None:
    """Why `version_dir` is not file for file the Pusher's archived copy (None: it
    is)."""
    if uris.is_uri(version_dir) or uris.is_uri(archive):
        return _uri_tree_problem(str(version_dir), str(archive))
    if version_dir.is_symlink():
        return "it is a symbolic link"
    if not archive.is_dir():
        return f"the Pusher's copy to compare it with, {archive}, is gone"
    trees = []
    for root in (version_dir, archive):
        files = set()
        for folder, folders, names in os.walk(root):
            for name in folders + names:
                path = Path(folder, name)
                if root is version_dir and path.is_symlink():
                    return f"it holds a symbolic link, {path}"
            files.update(str(Path(folder, name).relative_to(root)) for name in names)
        trees.append(files)
    import filecmp

    if trees[0] != trees[1]:
        changed = sorted(trees[0] ^ trees[1])
        return f"its files differ from the published ones ({changed[0]})"
    for name in sorted(trees[0]):
        if not filecmp.cmp(version_dir / name, archive / name, shallow=False):
            return f"{name} differs from the published one"
    return None


def check_published(cfg, version: int, version_dir: Path) -> None:
    """Unpublished unless `version_dir` is a version this output directory's Pusher
    published (ML Metadata holds its PushedModel, whose `servable_check` found no
    problem), file for file as the Pusher archived it, and free of ops a standard TF
    Serving build lacks (checked on the files, before anything loads them)."""
    from pipeline import metadata, serving

    model_dir, metadata_path = cfg.model_serving_dir, cfg.locations.metadata_path
    refuse = f"version {version} in {model_dir} is not one the Pusher published"
    if not metadata_path.is_file():
        raise Unpublished(f"{refuse}: {metadata_path} records no push (predict scores only "
                          "versions the pipeline pushed and checked)")
    try:
        pushed = metadata.pushed_artifacts(metadata.open_store(metadata_path))
    except Exception as error:  # MLMD raises its own error types, or a bare RuntimeError
        raise Unpublished(f"cannot read {metadata_path} to check that version {version} "
                          f"was published ({error})") from None
    artifact = pushed.get(version)
    if artifact is None:
        others = ", ".join(map(str, sorted(pushed))) or "none"
        raise Unpublished(f"{refuse} (published: {others}); predict scores only versions "
                          "the pipeline pushed and checked")
    try:
        check = json.loads(metadata.custom_str(artifact, "servable_check") or "null")
    except ValueError:
        check = None
    if not isinstance(check, dict) or check.get("problems") != []:
        raise Unpublished(f"version {version} in {model_dir} has no passed servable check "
                          "on record, so predict does not load it")
    problem = _tree_problem(version_dir, artifact.uri if uris.is_uri(artifact.uri)
                            else Path(artifact.uri))
    if problem:
        raise Unpublished(f"version {version} in {model_dir} is not as the Pusher published "
                          f"it ({problem}), so predict does not load it")
    try:
        bad_ops = serving.unservable_ops(version_dir)
    except Exception as error:  # a damaged saved_model.pb: protobuf's DecodeError & co.
        raise Unpublished(f"cannot read the graph of version {version} in {model_dir} "
                          f"({error})") from None
    if bad_ops:
        raise Unpublished(f"version {version} in {model_dir} uses ops a standard TF Serving "
                          f"build does not have ({', '.join(bad_ops)}), so predict does "
                          "not load it")
