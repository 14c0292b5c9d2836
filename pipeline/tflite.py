"""The TFLite (edge) copy of a pushed version: `assets.extra/model.tflite`, converted
from the SavedModel's `serving_default` signature, so it takes the same raw features as
a REST request (missing values marked as in JSON) and runs the Transform graph itself.

Where: inside the version folder, under `assets.extra/`, the SavedModel folder for
files that travel with a model but that no loader reads. TF Serving reads only
`assets.extra/tf_serving_warmup_requests` there; a `model.tflite` at the top of the
version folder would be loaded *instead of* the SavedModel by a server started with
`--prefer_tflite_model` (tensorflow_serving/servables/tensorflow/
saved_model_bundle_factory.cc), so it does not go there. Being inside the version
folder, it is published by the same rename as the version (`serving.publish`).

Ops: TFLite builtins only. The SELECT_TF_OPS fallback (TensorFlow kernels inside the
TFLite runtime) is not used: tf.lite.Interpreter in this TensorFlow build has no Flex
delegate, so such a model could not be checked here, and a model that was not checked
is not published. The template's models are built from ops TFLite has as builtins
(models/preprocessing.py, models/model.py; the taxi model's vocabularies need a TF2
Transform graph, pipeline/definition.py). A model that needs others (or fails to
convert at all) is published for TF Serving without a TFLite file, and the report says
why.

The check: the TFLite model scores the Pusher's sample examples through
tf.lite.Interpreter and must agree with the SavedModel's `serving_default` on the same
requests to within TOLERANCE; otherwise nothing is published (ServingCheckFailed).
"""

import math
import re
import time
import warnings
from pathlib import Path

from models.signatures import JSON_SIGNATURE
from pipeline import serving

# Inside the version folder (see the module docstring for why not at its top).
TFLITE_FILE = Path("assets.extra") / "model.tflite"
# TFLite's kernels (fused ops, another summation order, XNNPACK) may round differently
# from TensorFlow's: scores must agree to ABSOLUTE + RELATIVE x |SavedModel score|.
# Measured on the taxi model: about 1e-7 (bench/RESULTS.md, "TFLite").
ABSOLUTE_TOLERANCE = 1e-4
RELATIVE_TOLERANCE = 1e-4
OPS = "TFLITE_BUILTINS"


class NotConvertible(Exception):
    """The SavedModel cannot become a TFLite model this pipeline can check; the message
    is one sentence saying why."""


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _unsupported_ops(message: str) -> list[str]:
    """The TensorFlow ops a converter error names as missing from TFLite's builtins."""
    found = set(re.findall(r"'tf\.([A-Za-z0-9_]+)' op is neither a custom op nor a flex op",
                           message))
    for listed in re.findall(r"(?:TF Select ops|Flex ops): ([^\n]+)", message):
        found.update(name.strip() for name in listed.split(",") if name.strip())
    return sorted(found)


def convert(saved_model_dir: Path, saved_model=None) -> bytes:
    """The `serving_default` signature of a SavedModel (`saved_model`: the same folder
    already loaded, to spare loading it again) as a TFLite flatbuffer with builtin ops
    only; NotConvertible when that is impossible."""
    import tensorflow as tf

    if saved_model is None:
        saved_model = tf.saved_model.load(str(saved_model_dir))
    # From the loaded signature, not from_saved_model: that path left the Keras
    # model's weights as resource variables nothing initializes in the TFLite model,
    # whose scores were then NaN; a concrete function's are frozen into constants.
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [saved_model.signatures[JSON_SIGNATURE]], saved_model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        return converter.convert()
    except Exception as error:  # the converter raises several types, all meaning "no"
        ops = _unsupported_ops(str(error))
        if ops:
            raise NotConvertible(
                f"the model needs TensorFlow ops TFLite's builtins lack ({', '.join(ops)}), "
                "and tf.lite.Interpreter here cannot run TF select ops") from None
        raise NotConvertible(f"the TFLite converter failed: {_first_line(error)}") from None


def load(model: bytes | Path):
    """A tf.lite.Interpreter's `serving_default` runner for a TFLite model (its bytes or
    its file)."""
    import tensorflow as tf

    if isinstance(model, Path):
        model = model.read_bytes()
    # TensorFlow announces the interpreter's move to another package on every
    # construction; the warning is about TensorFlow's future, not this model.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_content=model)
    return interpreter.get_signature_runner(JSON_SIGNATURE)


def run(runner, arrays: dict) -> dict:
    """The runner's outputs (numpy arrays) for one request: numpy arrays by input
    name, as `serving.request_arrays` makes them (strings as bytes objects, which the
    interpreter takes as they are)."""
    return runner(**arrays)


def predict_json(runner, inputs: dict[str, str], body: dict,
                 column_names: dict[str, str] | None = None) -> dict:
    """What `serving.predict_json` answers for `body`, scored by the TFLite model."""
    import tensorflow as tf

    arrays, row_format = serving.request_arrays(body, inputs, column_names)
    outputs = run(runner, arrays)
    return serving.response({name: tf.constant(value) for name, value in outputs.items()},
                            row_format)


def differences(runner, saved_model, inputs: dict[str, str],
                serialized_examples: list[bytes]) -> tuple[float, float]:
    """(largest absolute difference, largest difference beyond the tolerance) between
    the TFLite and SavedModel scores of the examples, one request per example (the
    edge's single-example case) and one batch of all of them."""
    import numpy as np
    import tensorflow as tf

    instances = serving.json_instances(serialized_examples, inputs)
    worst, excess = 0.0, -float("inf")
    for batch in [*([instance] for instance in instances), instances]:
        arrays, _ = serving.request_arrays({"instances": batch}, inputs)
        saved = saved_model.signatures[JSON_SIGNATURE](
            **{name: tf.constant(array) for name, array in arrays.items()})
        lite = run(runner, arrays)
        if sorted(saved) != sorted(lite):
            return float("inf"), float("inf")
        # Outputs by name: the two dicts need not list them in the same order.
        expected = np.concatenate([saved[name].numpy().reshape(-1) for name in sorted(saved)])
        got = np.concatenate([np.asarray(lite[name]).reshape(-1) for name in sorted(lite)])
        if got.shape != expected.shape:
            return float("inf"), float("inf")
        difference = np.abs(got.astype(np.float64) - expected)
        allowed = ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * np.abs(expected)
        # NaN in either score counts as a difference beyond any tolerance.
        difference = np.where(np.isnan(difference), np.inf, difference)
        worst = max(worst, float(difference.max()))
        excess = max(excess, float((difference - allowed).max()))
    return worst, excess


def export(saved_model_dir: Path, serialized_examples: list[bytes]) -> tuple[bytes | None,
                                                                            dict]:
    """The checked TFLite model of a SavedModel and a report for the run summary:
    {"written": True, "ops", "bytes", "examples", "max_difference", "tolerance",
    "seconds"}, or (None, {"written": False, "reason"}) when it cannot be converted or
    run. Raises serving.ServingCheckFailed when it runs but scores differently."""
    import tensorflow as tf

    started = time.perf_counter()
    # Loaded once for the conversion and the comparison: at 200 inputs each load took
    # about 3 s of the Pusher's 15 (bench/WIDE.md).
    saved_model = tf.saved_model.load(str(saved_model_dir))
    try:
        model = convert(saved_model_dir, saved_model)
    except NotConvertible as error:
        return None, {"written": False, "reason": str(error)}
    inputs = serving.signature_inputs(saved_model_dir, JSON_SIGNATURE)
    try:
        runner = load(model)
        worst, excess = differences(runner, saved_model, inputs, serialized_examples)
    except (RuntimeError, ValueError) as error:
        # The converter wrote ops the interpreter cannot prepare or invoke.
        return None, {"written": False, "reason": "tf.lite.Interpreter cannot run the "
                      f"converted model: {_first_line(error)}"}
    tolerance = f"{ABSOLUTE_TOLERANCE:g} + {RELATIVE_TOLERANCE:g} x |score|"
    if not excess <= 0:
        # `differences` counts NaN scores and outputs of another name or shape as an
        # infinite difference; "by up to inf" would not say which.
        by = (f"by up to {worst:.3g}" if math.isfinite(worst)
              else "(NaN scores, or outputs of another name or shape)")
        raise serving.ServingCheckFailed(
            f"the TFLite model's scores differ from the SavedModel's {by} "
            f"on {len(serialized_examples)} sample examples (tolerance {tolerance}), so "
            "the version was not pushed")
    return model, {"written": True, "path": str(TFLITE_FILE), "ops": OPS,
                   "bytes": len(model), "examples": len(serialized_examples),
                   "max_difference": worst, "tolerance": tolerance,
                   "seconds": round(time.perf_counter() - started, 2)}


def summary_line(report: dict) -> str:
    """The run summary's line about the TFLite copy (`export`'s report)."""
    if not report["written"]:
        return f"none written: {report['reason']}"
    return (f"{report['path']} ({report['bytes'] / 1024:.0f} KiB, builtin ops only; "
            f"scores within {report['max_difference']:.1g} of the SavedModel's on "
            f"{report['examples']} examples; converted and checked in "
            f"{report['seconds']:.1f} s)")
