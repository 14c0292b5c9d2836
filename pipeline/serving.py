"""The TF Serving side of a pushed model: the versioned layout, TF Serving's REST JSON
formats, warm-up requests, the servable check every new version passes before it
becomes visible, `models.config` and which version TF Serving serves given it, and
scoring with a pushed version.

The check runs as `python -m pipeline.serving check VERSION_DIR REFERENCE_DIR` in a
fresh process that imports TensorFlow and nothing from TFX, as a model server would.
The runner starts that process as soon as the Trainer has a new model
(`prestart_check`), so the Pusher does not wait for its TensorFlow import.
"""

import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from models.signatures import (
    EXAMPLES_INPUT,
    EXAMPLES_SIGNATURE,
    JSON_SIGNATURE,
    MISSING_VALUES,
    input_name,
)
from pipeline import safe_files, uris

# TF Serving replays every record of this file when it loads a version.
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
# Eval examples in the warm-up requests and in the check's comparison.
SAMPLE_SIZE = 16
# Ops that call back into a Python interpreter: a model server has none.
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
# A pushed version must score like the evaluated model to within float32 noise.
TOLERANCE = 1e-5
# Folders TF Serving ignores (it loads integer names only): where a version is
# assembled and checked before one rename makes it visible.
STAGING_PREFIX = ".staging-"
# TF Serving's --model_config_file, in the serving folder (see `models_config_path`).
MODELS_CONFIG = "models.config"
# write_models_config's default: leave the entry's version policy as it is.
_KEEP_POLICY = object()


class RequestError(ValueError):
    """A request body TF Serving would reject, with its reason."""


class MissingInputs(RequestError):
    """A request that lacks inputs of the model: `missing` of them; `given` are the
    names it does have (the CLI looks for an output directory whose model takes them)."""

    def __init__(self, message: str, missing, given):
        super().__init__(message)
        self.missing, self.given = list(missing), set(given)


class ServingCheckFailed(RuntimeError):
    """A new version failed the servable check and was not published."""


class ModelsConfigError(ValueError):
    """models.config cannot be read; the message says which file and why."""


def versions(model_dir: Path | str) -> list[int]:
    """The published versions under `<serving>/<model_name>/`, oldest first (a local
    folder, or a URI's)."""
    if uris.is_uri(model_dir):
        return sorted(int(name) for name in uris.children(model_dir)
                      if name.isdigit() and uris.is_dir(f"{model_dir}/{name}"))
    if not model_dir.is_dir():
        return []
    return sorted(int(child.name) for child in model_dir.iterdir()
                  if child.name.isdigit() and child.is_dir())


def _meta_graph(saved_model_dir: Path):
    """The `serve` MetaGraphDef, read from saved_model.pb without loading the model."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel.FromString(
        (saved_model_dir / "saved_model.pb").read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ServingCheckFailed(f"{saved_model_dir} has no MetaGraph tagged 'serve'")


def signature_names(saved_model_dir: Path) -> set[str]:
    return set(_meta_graph(saved_model_dir).signature_def)


def signature_inputs(saved_model_dir: Path, signature: str) -> dict[str, str]:
    """Input name -> dtype name ("float32", "int64", "string") of a signature."""
    import tensorflow as tf

    signature_def = _meta_graph(saved_model_dir).signature_def[signature]
    return {name: tf.dtypes.as_dtype(info.dtype).name
            for name, info in signature_def.inputs.items()}


def signature_outputs(saved_model_dir: Path, signature: str) -> dict[str, str]:
    """Output name -> dtype name of a signature."""
    import tensorflow as tf

    signature_def = _meta_graph(saved_model_dir).signature_def[signature]
    return {name: tf.dtypes.as_dtype(info.dtype).name
            for name, info in signature_def.outputs.items()}


def graph_ops(saved_model_dir: Path) -> set[str]:
    """Every op type in the serving graph, including inside its functions."""
    graph = _meta_graph(saved_model_dir).graph_def
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def unservable_ops(saved_model_dir: Path) -> list[str]:
    """Ops a standard TF Serving build lacks: Python callbacks, and ops that core
    TensorFlow does not register (custom-op libraries)."""
    from tensorflow.python.framework import op_def_registry

    return sorted(op for op in graph_ops(saved_model_dir)
                  if op in PYTHON_OPS or op_def_registry.get(op) is None)


def json_instances(serialized_examples: list[bytes], inputs: dict[str, str]) -> list[dict]:
    """Raw tf.Examples as REST row-format instances for the JSON signature: the first
    value of each input feature, or its missing-value marker."""
    import tensorflow as tf

    instances = []
    for serialized in serialized_examples:
        # tf.Examples carry the CSV column names; the signature takes their input_name.
        features = {input_name(column): feature for column, feature in
                    tf.train.Example.FromString(serialized).features.feature.items()}
        instance = {}
        for name, dtype in sorted(inputs.items()):
            feature = features.get(name)
            kind = feature.WhichOneof("kind") if feature is not None else None
            values = getattr(feature, kind).value if kind else []
            if not values:
                instance[name] = MISSING_VALUES[dtype]
            elif dtype == "string":
                instance[name] = values[0].decode("utf-8")
            else:
                instance[name] = values[0] if dtype == "int64" else float(values[0])
        instances.append(instance)
    return instances


def _shown(names, columns: dict[str, str]) -> str:
    """Input names for a message, each with its CSV column name when that differs."""
    return ", ".join(name if columns.get(name, name) == name
                     else f"{name} (column {columns[name]!r})" for name in names)


def request_arrays(body: dict, inputs: dict[str, str],
                   column_names: dict[str, str] | None = None) -> tuple[dict, bool]:
    """TF Serving's JSON-to-tensor step of a Predict request: numpy arrays per input,
    and whether the body used the row ("instances") format. `column_names` (input
    name -> CSV column name) only makes messages name the columns too."""
    import numpy as np

    if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
        raise RequestError(
            'a request has exactly one of "instances" (row format) or "inputs" '
            '(columnar format)')
    row_format = "instances" in body
    if row_format:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError('"instances" must be a non-empty list of objects')
        if not all(isinstance(instance, dict) for instance in instances):
            raise RequestError('every instance must be an object of named inputs')
        names = set().union(*instances)
        incomplete = [i for i, instance in enumerate(instances) if set(instance) != names]
        if incomplete:
            raise RequestError(
                f"instance {incomplete[0]} does not name the same inputs as the others "
                "(TF Serving needs every input in every instance)")
        columns = {name: [instance[name] for instance in instances] for name in names}
    else:
        columns = body["inputs"]
        if not isinstance(columns, dict):
            raise RequestError('"inputs" must be an object of named input lists')
    missing, unknown = sorted(set(inputs) - set(columns)), sorted(set(columns) - set(inputs))
    if missing or unknown:
        message = (f"inputs missing: {_shown(missing, column_names or {}) or 'none'}; "
                   f"unknown: {', '.join(unknown) or 'none'} (a value can be marked missing: "
                   "NaN for numbers, -1 for integers, \"\" for strings)")
        raise MissingInputs(message, missing, columns) if missing else RequestError(message)
    arrays = {}
    for name, dtype in inputs.items():
        values = columns[name]
        try:
            if dtype == "string":
                arrays[name] = np.array([str(value).encode("utf-8") for value in values],
                                        dtype=object)
            else:
                arrays[name] = np.array(values, dtype=dtype)
        except (TypeError, ValueError) as error:
            raise RequestError(f"input {name!r} is not a list of {dtype}: {error}") from None
    lengths = {len(array) for array in arrays.values()}
    if len(lengths) > 1:
        raise RequestError("every input needs one value per instance")
    return arrays, row_format


def _json_values(array):
    """Nested lists of an output, float32 written as its shortest decimal (as TF Serving
    does, rather than the float64 widening's spurious digits)."""
    import numpy as np

    if array.dtype == np.float32:
        return np.vectorize(lambda value: float(str(np.float32(value))), otypes=[object])(
            array).tolist()
    if array.dtype == object:
        return np.vectorize(lambda value: value.decode("utf-8"), otypes=[object])(
            array).tolist()
    return array.tolist()


def response(outputs: dict, row_format: bool) -> dict:
    """The REST response TF Serving builds from a signature's outputs."""
    values = {name: _json_values(tensor.numpy()) for name, tensor in outputs.items()}
    if row_format:
        if len(values) == 1:
            return {"predictions": next(iter(values.values()))}
        count = len(next(iter(values.values())))
        return {"predictions": [{name: value[i] for name, value in values.items()}
                                for i in range(count)]}
    return {"outputs": next(iter(values.values())) if len(values) == 1 else values}


def predict_json(model, inputs: dict[str, str], body: dict,
                 column_names: dict[str, str] | None = None) -> dict:
    """What TF Serving's REST `:predict` answers for `body` (default signature, whose
    `signature_inputs` are `inputs`; `column_names` as for `request_arrays`)."""
    import tensorflow as tf

    arrays, row_format = request_arrays(body, inputs, column_names)
    tensors = {name: tf.constant(array) for name, array in arrays.items()}
    return response(model.signatures[JSON_SIGNATURE](**tensors), row_format)


def input_names_of(names, inputs: dict[str, str]) -> dict[str, str]:
    """The input each of `names` (CSV columns or JSON keys) stands for: an input's own
    name, or a column name whose input_name is one. Names that stand for no input are
    left out; RequestError when two stand for the same input."""
    found, taken = {}, {}
    for name in names:
        target = name if name in inputs else input_name(name)
        if target not in inputs:
            continue
        if target in taken:
            raise RequestError(f"{taken[target]!r} and {name!r} are both the input "
                               f"{target!r}; keep one of them")
        found[name], taken[target] = target, name
    return found


def rename_request(body, inputs: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """A REST body whose keys may be CSV column names, with each key that stands for an
    input (`input_names_of`) renamed to that input's name, as TF Serving needs them;
    and {key: input name} for the keys renamed. Anything else is left for
    `request_arrays` to judge."""
    if not isinstance(body, dict):
        return body, {}
    instances, columns = body.get("instances"), body.get("inputs")
    if isinstance(instances, list) and all(isinstance(row, dict) for row in instances):
        keys = list(dict.fromkeys(key for row in instances for key in row))
        names = input_names_of(keys, inputs)
        body = {**body, "instances": [{names.get(key, key): value for key, value in row.items()}
                                      for row in instances]}
    elif isinstance(columns, dict):
        names = input_names_of(columns, inputs)
        body = {**body, "inputs": {names.get(key, key): value for key, value in columns.items()}}
    else:
        return body, {}
    return body, {key: name for key, name in names.items() if key != name}


def csv_instances(path: Path, inputs: dict[str, str],
                  column_names: dict[str, str] | None = None) -> list[dict]:
    """CSV rows (with a header, as the training data) as row-format instances: empty
    cells get the missing-value marker, columns that are not inputs are ignored. A
    header names a column as in the training data or by its input name;
    `column_names` (input name -> CSV column name) makes messages use the former."""
    column_names = column_names or {}
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first name.
    with path.open(newline="", encoding="utf-8-sig") as source:
        reader = csv.DictReader(source)
        header = reader.fieldnames or []
        cells = {name: column for column, name in input_names_of(header, inputs).items()}
        absent = sorted(column_names.get(name, name) for name in set(inputs) - set(cells))
        if absent:
            raise MissingInputs(f"{path} lacks the columns {', '.join(absent)} "
                                "(an empty cell marks a missing value)", absent, header)
        instances = []
        for line, row in enumerate(reader, start=2):
            instance = {}
            for name, dtype in inputs.items():
                cell = (row[cells[name]] or "").strip()
                try:
                    if not cell:
                        instance[name] = MISSING_VALUES[dtype]
                    elif dtype == "int64":
                        instance[name] = int(float(cell))
                    else:
                        instance[name] = cell if dtype == "string" else float(cell)
                except (ValueError, OverflowError):  # OverflowError: "inf" for an int64
                    raise RequestError(
                        f"{path}:{line}: {cells[name]}={cell!r} is not a {dtype}") from None
            instances.append(instance)
    if not instances:
        raise RequestError(f"{path} has a header but no rows")
    return instances


def warmup_logs(serialized_examples: list[bytes], saved_model_dir: Path, model_name: str):
    """Warm-up PredictionLogs for both serving signatures: one example, then a batch."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    inputs = signature_inputs(saved_model_dir, JSON_SIGNATURE)
    logs = []
    for batch in (serialized_examples[:1], serialized_examples):
        by_signature = {
            EXAMPLES_SIGNATURE: {EXAMPLES_INPUT: tf.constant(batch, tf.string)},
            JSON_SIGNATURE: request_arrays(
                {"instances": json_instances(batch, inputs)}, inputs)[0],
        }
        for signature, tensors in by_signature.items():
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
            for name, value in tensors.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            logs.append(prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup(saved_model_dir: Path, logs) -> None:
    import tensorflow as tf

    path = saved_model_dir / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())


def read_warmup(saved_model_dir: Path):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = saved_model_dir / WARMUP_FILE
    if not path.is_file():
        return []
    return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(str(path))]


def _sole_output(outputs: dict):
    """The one output of a serving signature (its name depends on the task:
    models.signatures.OUTPUTS), as a numpy array."""
    (value,) = outputs.values()
    return value.numpy()


def check_servable(version_dir: Path, reference_dir: Path) -> dict:
    """Serves `version_dir` as TF Serving would and compares it with the model the
    Evaluator scored (`reference_dir`). Returns {"problems": [...], ...numbers}."""
    import numpy as np
    import tensorflow as tf

    report = {"problems": []}
    problems = report["problems"]
    bad_ops = unservable_ops(version_dir)
    if bad_ops:
        # Named as the static scan's finding: with the scan gone, a Python op still
        # fails the warm-up requests, whose message names the op too.
        problems.append("a static scan of the serving graph found ops a standard TF "
                        "Serving build does not have: " + ", ".join(bad_ops))
        return report
    logs = read_warmup(version_dir)
    if not logs:
        problems.append(f"no warm-up requests in {WARMUP_FILE}")
        return report
    model = tf.saved_model.load(str(version_dir), tags=["serve"])
    scores, batch = {}, None
    for log in logs:
        request = log.predict_log.request
        signature = request.model_spec.signature_name or JSON_SIGNATURE
        tensors = {name: tf.constant(tf.make_ndarray(proto))
                   for name, proto in request.inputs.items()}
        try:
            output = _sole_output(model.signatures[signature](**tensors)).reshape(-1)
        except Exception as error:  # any failure here is what TF Serving would hit
            problems.append(f"warm-up request to {signature!r} failed: {error}")
            continue
        scores[signature] = output
        if signature == EXAMPLES_SIGNATURE:
            batch = [bytes(value) for value in tensors[EXAMPLES_INPUT].numpy()]
    report["warmup_requests"] = len(logs)
    if problems or batch is None:
        problems.extend([] if problems else ["no warm-up request uses " + EXAMPLES_SIGNATURE])
        return report
    inputs = signature_inputs(version_dir, JSON_SIGNATURE)
    instances = json_instances(batch, inputs)
    # Through JSON text, as a REST client sends it (NaN is TF Serving's token for it).
    row_body = json.loads(json.dumps({"instances": instances}))
    columnar_body = json.loads(json.dumps(
        {"inputs": {name: [row[name] for row in instances] for name in inputs}}))
    scores["rest_row"] = np.array(predict_json(model, inputs, row_body)["predictions"])
    scores["rest_columnar"] = np.array(predict_json(model, inputs, columnar_body)["outputs"])
    reference = tf.saved_model.load(str(reference_dir), tags=["serve"])
    expected = _sole_output(reference.signatures[EXAMPLES_SIGNATURE](
        **{EXAMPLES_INPUT: tf.constant(batch)})).reshape(-1)
    differences = {name: float(np.max(np.abs(score.reshape(-1) - expected)))
                   for name, score in scores.items()}
    report.update(examples=len(batch), max_difference=max(differences.values()))
    for name, difference in differences.items():
        if not difference <= TOLERANCE:
            problems.append(f"{name} scores differ from the evaluated model by "
                            f"{difference:.3g} (tolerance {TOLERANCE})")
    return report


def _start_check_process():
    """A fresh `python -m pipeline.serving check -`: it imports TensorFlow at once, then
    waits on stdin for the one check it runs."""
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.serving", "check", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)


# The process the next run_check uses, started ahead by prestart_check (None: none).
_prestarted = None


def prestart_check() -> None:
    """Starts the process the next `run_check` in this process will use, so that its
    TensorFlow import (3.4 s of a 5 s check) overlaps with whatever runs before the
    Pusher. The process still imports nothing but TensorFlow and loads the model only
    when the check asks: what it sees is what a model server sees."""
    global _prestarted
    if _prestarted is None:
        _prestarted = _start_check_process()


def discard_prestarted() -> None:
    """Ends a prestarted check process that no check used (no model was pushed)."""
    global _prestarted
    process, _prestarted = _prestarted, None
    if process is not None:
        process.kill()
        process.communicate()


def run_check(version_dir: Path, reference_dir: Path) -> dict:
    """`check_servable` in a fresh Python process (the prestarted one, if any), as a
    model server loads a model."""
    global _prestarted
    process, _prestarted = _prestarted or _start_check_process(), None
    request = json.dumps([str(version_dir), str(reference_dir)]) + "\n"
    try:
        stdout, stderr = process.communicate(request, timeout=900)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    lines = stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"problems": [f"the check process exited {process.returncode}: {tail}"]}


def publish(model_dir: Path, model_serving_dir: Path, model_name: str,
            sample: list[bytes], extra_files: dict[Path, bytes] | None = None
            ) -> tuple[int, dict]:
    """Copies a SavedModel into `<model_serving_dir>/<version>/` with warm-up requests
    (and `extra_files`, by path inside the version), checks it in a fresh process, and
    only then makes it visible with one rename.

    Raises ServingCheckFailed (nothing published) when the check finds a problem.
    A serving folder given as a URI is published to by `_publish_to_uri`.
    """
    if uris.is_uri(model_serving_dir):
        return _publish_to_uri(str(model_dir), str(model_serving_dir), model_name, sample,
                               extra_files)
    model_serving_dir.mkdir(parents=True, exist_ok=True)
    for leftover in model_serving_dir.glob(STAGING_PREFIX + "*"):
        # From a run killed mid-push; a symlink is removed, never what it points to.
        if leftover.is_symlink():
            leftover.unlink()
        else:
            shutil.rmtree(leftover, ignore_errors=True)
    version = max([int(time.time()), *(v + 1 for v in versions(model_serving_dir))])
    # A fresh folder (mkdir never follows a symlink planted at a guessable name).
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{version}-",
                                    dir=model_serving_dir))
    target = model_serving_dir / str(version)
    try:
        report = _assemble(model_dir, staging, version, model_name, sample, extra_files)
        if os.path.lexists(target):
            raise ServingCheckFailed(f"{target} appeared during the push, so version "
                                     f"{version} was not pushed: remove it and run again")
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version, report


def _assemble(model_dir: Path, staging: Path, version: int, model_name: str,
              sample: list[bytes], extra_files: dict[Path, bytes] | None) -> dict:
    """Copies the model into the local folder `staging` with its warm-up requests and
    `extra_files`, and checks it (ServingCheckFailed: not servable)."""
    shutil.copytree(model_dir, staging, dirs_exist_ok=True)
    write_warmup(staging, warmup_logs(sample, staging, model_name))
    for relative, content in (extra_files or {}).items():
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        safe_files.write_bytes(staging / relative, content)
    report = run_check(staging, model_dir)
    if report["problems"]:
        raise ServingCheckFailed(
            f"version {version} is not servable, so it was not pushed: "
            + "; ".join(report["problems"]))
    return report


def _publish_to_uri(model_dir: str, model_serving_dir: str, model_name: str,
                    sample: list[bytes], extra_files: dict[Path, bytes] | None
                    ) -> tuple[int, dict]:
    """`publish` to a serving folder that is a URI (a shared mount as file://, gs://),
    through TFX's filesystem layer. The version is assembled and checked in a local
    temporary folder, copied to a staging name in the serving folder (which TF Serving
    ignores), then renamed to its version number. On a filesystem (file://, a mount) the
    rename is atomic; on an object store it is a copy and a delete per file, so the
    version folder can be seen partly renamed for that long (README: Scaling out)."""
    from tfx.dsl.io import fileio
    from tfx.utils import io_utils

    fileio.makedirs(model_serving_dir)
    for leftover in uris.glob(f"{model_serving_dir}/{STAGING_PREFIX}*"):
        fileio.rmtree(leftover)  # from a run killed mid-push
    version = max([int(time.time()), *(v + 1 for v in versions(model_serving_dir))])
    target = f"{model_serving_dir}/{version}"
    staging = f"{model_serving_dir}/{STAGING_PREFIX}{version}-{secrets.token_hex(6)}"
    with tempfile.TemporaryDirectory(prefix="pipeline-publish-") as local:
        local_model, local_version = Path(local) / "model", Path(local) / "version"
        io_utils.copy_dir(model_dir, str(local_model))
        report = _assemble(local_model, local_version, version, model_name, sample,
                           extra_files)
        try:
            io_utils.copy_dir(str(local_version), staging)
            if fileio.exists(target):
                raise ServingCheckFailed(f"{target} appeared during the push, so version "
                                         f"{version} was not pushed: remove it and run again")
            fileio.rename(staging, target)
        finally:
            if fileio.exists(staging):
                fileio.rmtree(staging)
    return version, report


def models_config_path(model_serving_dir: Path | str) -> Path | str:
    """TF Serving's --model_config_file for a model folder: next to it, in the serving
    folder, shared by the models published there."""
    if uris.is_uri(model_serving_dir):
        return f"{str(model_serving_dir).rstrip('/').rsplit('/', 1)[0]}/{MODELS_CONFIG}"
    return model_serving_dir.parent / MODELS_CONFIG


def _read_models_config(path: Path):
    """The ModelServerConfig in `path` (empty when there is none); ModelsConfigError
    when TF Serving could not read it either."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        raw = (uris.read_bytes(path) if uris.is_uri(path)
               else safe_files.read_regular(path, 2**20))
        text_format.Parse(raw.decode("utf-8"), config)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError, text_format.ParseError) as error:
        raise ModelsConfigError(f"cannot read {path}: {error}") from None
    return config


def pinned_versions(path: Path, model_name: str) -> list[int] | None:
    """The versions `model_name`'s entry in models.config pins with a `specific` version
    policy, or None when TF Serving picks by itself (no file, no entry, or a `latest`
    or `all` policy)."""
    for entry in _read_models_config(path).model_config_list.config:
        if entry.name == model_name:
            policy = entry.model_version_policy
            if policy.WhichOneof("policy_choice") == "specific":
                return sorted(policy.specific.versions)
            return None
    return None


def served_version(available: list[int], pinned: list[int] | None) -> int | None:
    """The version TF Serving uses for a request that names no version, given the
    version folders present and the pinned versions (`pinned_versions`).

    TF Serving loads what the model's version policy aspires to and answers with the
    highest loaded version: with no policy (`--model_base_path` alone, or a models.config
    entry without one) and with `latest` or `all`, that is the highest folder; with
    `specific`, the highest pinned version that is present. A pinned version that is
    not present is not served (TF Serving logs a warning and unloads the model when no
    pinned version is present): None.
    """
    if pinned is None:
        return max(available, default=None)
    return max(set(available) & set(pinned), default=None)


def write_models_config(path: Path, model_name: str, base_path: Path,
                        pinned=_KEEP_POLICY) -> None:
    """TF Serving's --model_config_file, listing `model_name` at `base_path` and keeping
    any other models (and this entry's other settings) already listed there. Replaced
    atomically, so a server polling the file never reads half of it.

    `pinned`: a version for TF Serving to serve whatever else is in the folder (a
    `specific` version policy), or None for the highest version (TF Serving's default
    policy). By default the entry keeps the policy it has: a publish does not undo a
    rollback.
    """
    from google.protobuf import text_format

    config = _read_models_config(path)
    entries = config.model_config_list.config
    entry = next((entry for entry in entries if entry.name == model_name), None)
    if entry is None:
        entry = entries.add(name=model_name)
    entry.base_path = str(base_path)
    entry.model_platform = "tensorflow"
    if pinned is None:
        entry.ClearField("model_version_policy")
    elif pinned is not _KEEP_POLICY:
        entry.model_version_policy.specific.versions[:] = [int(pinned)]
    if uris.is_uri(path):
        uris.write_text(str(path), text_format.MessageToString(config))
    else:
        safe_files.write_text(path, text_format.MessageToString(config))


def _main(argv: list[str]) -> int:
    if argv == ["check", "-"]:
        # Imported before the request arrives: run_check's caller may have started
        # this process ahead (prestart_check). No request (stdin closed): nothing to do.
        import tensorflow  # noqa: F401

        line = sys.stdin.readline()
        if not line.strip():
            return 0
        argv = ["check", *json.loads(line)]
    if len(argv) != 3 or argv[0] != "check":
        print("usage: python -m pipeline.serving check VERSION_DIR REFERENCE_DIR\n"
              "       python -m pipeline.serving check -   (the two paths as a JSON list "
              "on stdin)", file=sys.stderr)
        return 2
    report = check_servable(Path(argv[1]), Path(argv[2]))
    # The caller reads the last line of stdout; TensorFlow's logs go to stderr.
    print(json.dumps(report, allow_nan=True))
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
