"""Serving traffic: predict requests and their responses kept as TF Serving's
`PredictionLog` records, read back, and compared with training.

`append` writes one TFRecord file per predict call, holding one `PredictionLog` whose
`predict_log` is the `PredictRequest` (the `serving_default` inputs as TensorProtos,
one row per instance) and the `PredictResponse` (the signature's output): the format
of TF Serving's warm-up files (`assets.extra/tf_serving_warmup_requests`) and of TFX's
BulkInferrer. The file is written under a temporary name starting with `.` and renamed
into place, so a reader sees whole files or none. `read` gives the logged inputs as an
Arrow RecordBatch (a list column per input, an empty list for a value the request
marked missing, as CsvExampleGen stores an empty cell) and the scores.

`skew_report` is training-serving skew with TFDV: statistics of the logged inputs,
validated against the training statistics with the schema's `skew_comparator`s (the
data gate's comparators and per-feature thresholds), and against the schema in its
SERVING environment; and prediction drift, TFDV statistics of the logged scores
against reference scores with a `drift_comparator`.
"""

import copy
import dataclasses
import errno
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from models.signatures import JSON_SIGNATURE, MISSING_VALUES, input_name
from pipeline import artifact_files, serving

# A log file: `predict-<nanoseconds since the epoch>-<pid>-<random>.tfrecord`, so names
# sort by time and two processes never pick the same one. Readers skip names starting
# with TEMP_PREFIX (files being written).
PREFIX, SUFFIX, TEMP_PREFIX = "predict-", ".tfrecord", "."
# The environment whose data carries no label (TFDV's convention, and the curated
# schema's), and the one every feature of a schema without environments belongs to.
SERVING, TRAINING = "SERVING", "TRAINING"
# The score column of prediction drift ("score_<i>" per class for several outputs).
SCORE = "score"
# Jensen-Shannon divergence of the logged scores against the reference scores above
# which the predictions drifted; the same as the gate's threshold for the numeric
# features whose distribution matters most (fare, trip_seconds).
PREDICTION_DRIFT_THRESHOLD = 0.2
# StatisticsGen's histogram resolution (Config.histogram_buckets), which the drift
# thresholds assume.
DEFAULT_HISTOGRAM_BUCKETS = 50
_MEASURES = {"JENSEN_SHANNON_DIVERGENCE": "jensen_shannon_divergence",
             "L_INFTY": "l_infinity", "NORMALIZED_ABSOLUTE_DIFFERENCE":
             "normalized_abs_difference"}


class LogError(ValueError):
    """A log folder that cannot be read: missing, empty or corrupt; says which."""


@dataclasses.dataclass(frozen=True)
class ServingLog:
    # Predict calls logged (files' PredictionLog records), and the instances they held.
    requests: int
    # A pyarrow.RecordBatch: one row per instance, a list column per input, named as
    # `read` was told.
    inputs: object
    # [instances, output columns] float64: the signature's sole output per instance.
    scores: np.ndarray


def _output_arrays(answer: dict, outputs: dict[str, str]) -> dict[str, np.ndarray]:
    """The signature's outputs as arrays, from the REST answer `serving.response` built
    of them (row format: "predictions"; columnar: "outputs")."""
    if "predictions" in answer:
        rows = answer["predictions"]
        values = ({name: rows for name in outputs} if len(outputs) == 1
                  else {name: [row[name] for row in rows] for name in outputs})
    else:
        values = ({name: answer["outputs"] for name in outputs} if len(outputs) == 1
                  else answer["outputs"])
    arrays = {}
    for name, dtype in outputs.items():
        if dtype == "string":
            arrays[name] = np.vectorize(lambda text: text.encode("utf-8"),
                                        otypes=[object])(np.array(values[name], dtype=object))
        else:
            arrays[name] = np.array(values[name], dtype=dtype)
    return arrays


def prediction_log(version_dir: Path, body: dict, answer: dict, timestamp: float | None = None):
    """The PredictionLog of a `serving_default` request `body` (input names as keys, as
    TF Serving takes them) to the version in `version_dir`, and its REST `answer`."""
    import tensorflow as tf
    from tensorflow_serving.apis import (
        logging_pb2,
        model_pb2,
        predict_pb2,
        prediction_log_pb2,
    )

    spec = model_pb2.ModelSpec(name=version_dir.parent.name, signature_name=JSON_SIGNATURE)
    spec.version.value = int(version_dir.name)
    arrays, _ = serving.request_arrays(body, serving.signature_inputs(version_dir,
                                                                      JSON_SIGNATURE))
    request = predict_pb2.PredictRequest(model_spec=spec)
    for name, array in sorted(arrays.items()):
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    response = predict_pb2.PredictResponse(model_spec=spec)
    outputs = _output_arrays(answer, serving.signature_outputs(version_dir, JSON_SIGNATURE))
    for name, array in outputs.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(array))
    metadata = logging_pb2.LogMetadata(
        model_spec=spec, saved_model_tags=["serve"],
        timestamp_secs=int(time.time() if timestamp is None else timestamp))
    return prediction_log_pb2.PredictionLog(
        log_metadata=metadata,
        predict_log=prediction_log_pb2.PredictLog(request=request, response=response))


def write(log_dir: Path, logs) -> Path:
    """Writes PredictionLog `logs` as one new TFRecord file in `log_dir` (created if
    needed), atomically; returns its path."""
    import tensorflow as tf

    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    name = f"{PREFIX}{time.time_ns()}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
    temp = log_dir / f"{TEMP_PREFIX}{name}"
    try:
        try:
            with tf.io.TFRecordWriter(str(temp)) as writer:
                for log in logs:
                    writer.write(log.SerializeToString())
        except tf.errors.OpError as error:
            # As Python's own file functions report it, for callers that catch OSError.
            raise OSError(errno.EIO, error.message, str(temp)) from None
        # On disk before the rename makes it visible: a crash leaves a temp file, not a
        # visible file with a torn end.
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, log_dir / name)
    finally:
        temp.unlink(missing_ok=True)
    return log_dir / name


def append(log_dir: Path, version_dir: Path, body: dict, answer: dict) -> Path:
    """Logs one predict call: `body` (a REST request with input names as keys) sent to
    the version in `version_dir`, and the `answer` it got, as a new file in `log_dir`."""
    return write(log_dir, [prediction_log(version_dir, body, answer)])


def log_files(log_dir: Path) -> list[Path]:
    """The finished log files of `log_dir`, oldest first (temp files are skipped)."""
    return sorted(path for path in Path(log_dir).glob(f"{PREFIX}*{SUFFIX}")
                  if path.is_file())


def logs(log_dir: Path) -> Iterator:
    """Every PredictionLog with a predict log in `log_dir`, oldest file first; LogError
    when the folder is missing or a file is corrupt."""
    from tensorflow_serving.apis import prediction_log_pb2

    if not Path(log_dir).is_dir():
        raise LogError(f"{log_dir} is not a folder of predict logs")
    for path in log_files(log_dir):
        try:
            for record in artifact_files.tfrecords(str(path)):
                log = prediction_log_pb2.PredictionLog.FromString(record)
                if log.HasField("predict_log"):
                    yield log
        except (artifact_files.CorruptRecord, OSError) as error:
            raise LogError(f"cannot read {path}: {error}") from None


def _cells(array: np.ndarray) -> list:
    """An input's values as list cells: [value], or [] for the missing-value marker
    the request used (models.signatures.MISSING_VALUES)."""
    if array.dtype == object:
        return [[value] if value != b"" else [] for value in array.reshape(-1)]
    if array.dtype.kind == "f":
        return [[] if np.isnan(value) else [value] for value in array.reshape(-1)]
    marker = MISSING_VALUES["int64"]
    return [[] if value == marker else [int(value)] for value in array.reshape(-1)]


def read(log_dir: Path, column_names: Mapping[str, str] | None = None) -> ServingLog:
    """The logged inputs and scores of every predict call in `log_dir`. Input columns
    are named by `column_names` (input name -> CSV column name; default: the input
    names). An input some requests lack is a null cell in theirs. LogError when there
    is nothing to read."""
    import pyarrow as pa
    import tensorflow as tf

    column_names = column_names or {}
    types = {"f": pa.float32(), "i": pa.int64(), "u": pa.int64(), "O": pa.binary()}
    columns: dict[str, list] = {}
    kinds: dict[str, pa.DataType] = {}
    scores, requests, rows = [], 0, 0
    for log in logs(log_dir):
        request, response = log.predict_log.request, log.predict_log.response
        if len(response.outputs) != 1:
            raise LogError(f"a log in {log_dir} has {len(response.outputs)} outputs; the "
                           "pipeline's models have one")
        score = tf.make_ndarray(next(iter(response.outputs.values())))
        score = score.reshape(len(score), -1).astype(np.float64)
        for name, tensor in request.inputs.items():
            array = tf.make_ndarray(tensor)
            column = column_names.get(name, name)
            kinds.setdefault(column, types[array.dtype.kind])
            columns.setdefault(column, [None] * rows).extend(_cells(array))
        rows += len(score)
        for cells in columns.values():
            cells.extend([None] * (rows - len(cells)))
        scores.append(score)
        requests += 1
    if not requests:
        raise LogError(f"{log_dir} holds no predict logs ({PREFIX}*{SUFFIX} files)")
    widths = {score.shape[1] for score in scores}
    if len(widths) > 1:
        raise LogError(f"the logs in {log_dir} have outputs of different widths "
                       f"({', '.join(map(str, sorted(widths)))}); keep one model per folder")
    batch = pa.RecordBatch.from_arrays(
        [pa.array(cells, type=pa.list_(kinds[name])) for name, cells in columns.items()],
        list(columns))
    return ServingLog(requests, batch, np.concatenate(scores))


def _statistics(record_batch, buckets: int):
    """TFDV's statistics of an in-memory RecordBatch, with StatisticsGen's options."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl

    return stats_impl.generate_statistics_in_memory(
        record_batch, tfdv.StatsOptions(num_histogram_buckets=buckets))


def serving_schema(schema, served_columns):
    """A copy of `schema` with a SERVING environment in which exactly the schema's
    columns that are not in `served_columns` (the label, columns excluded from the
    model) are absent; the environments a schema already has are kept."""
    schema = copy.deepcopy(schema)
    environments = list(schema.default_environment)
    if SERVING not in environments:
        # Without environments every feature is in every environment; keep the rest of
        # the schema in TRAINING, as it was.
        if not environments:
            schema.default_environment.append(TRAINING)
        schema.default_environment.append(SERVING)
    for feature in schema.feature:
        if feature.name not in served_columns and SERVING not in feature.not_in_environment:
            feature.not_in_environment.append(SERVING)
            if SERVING in feature.in_environment:
                feature.in_environment.remove(SERVING)
    return schema


def _is_numeric(feature) -> bool:
    """Whether the data gate compares `feature` with Jensen-Shannon divergence (its
    model encoding is numeric) rather than L-infinity distance (definition.drift_config)."""
    from models.features import Encoding, _feature_from_schema

    encoded = _feature_from_schema(feature, 0)
    return encoded is not None and encoded.encoding is Encoding.NUMERIC


def _measurements(anomalies, kind: str) -> list[dict]:
    """Every skew or drift measurement of a TFDV validation, over its threshold or not."""
    found = []
    for info in anomalies.drift_skew_info:
        for measurement in getattr(info, f"{kind}_measurements"):
            name = type(measurement).Type.Name(measurement.type)
            found.append({"feature": ".".join(info.path.step),
                          "measure": _MEASURES.get(name, name.lower()),
                          "value": float(measurement.value),
                          "threshold": float(measurement.threshold)})
    return found


def _prediction_drift(scores: np.ndarray, reference_scores, threshold: float,
                      buckets: int) -> dict:
    """TFDV's Jensen-Shannon divergence of each score column's distribution, logged
    against reference."""
    import pandas as pd
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    reference = np.asarray(reference_scores, dtype=np.float64)
    if not len(reference):
        raise LogError("the reference scores are empty")
    reference = reference.reshape(len(reference), -1)
    if reference.shape[1] != scores.shape[1]:
        raise LogError(f"the reference scores have {reference.shape[1]} columns; the "
                       f"logged scores have {scores.shape[1]}")
    names = ([SCORE] if scores.shape[1] == 1
             else [f"{SCORE}_{i}" for i in range(scores.shape[1])])
    options = tfdv.StatsOptions(num_histogram_buckets=buckets)
    logged, previous = (tfdv.generate_statistics_from_dataframe(
        pd.DataFrame(values, columns=names), options) for values in (scores, reference))
    schema = schema_pb2.Schema()
    for name in names:
        feature = schema.feature.add(name=name, type=schema_pb2.FLOAT)
        feature.drift_comparator.jensen_shannon_divergence.threshold = threshold
    measured = _measurements(tfdv.validate_statistics(
        logged, schema, previous_statistics=previous), "drift")
    values = {row["feature"]: row["value"] for row in measured}
    value = max(values.values())
    return {"measure": "jensen_shannon_divergence", "value": value, "threshold": threshold,
            "drifted": value > threshold, "columns": values, "scores": len(scores),
            "reference_scores": len(reference)}


def skew_report(log_dir: Path, schema, training_statistics, reference_scores=None, *,
                thresholds: Mapping[str, float] | None = None,
                score_threshold: float = PREDICTION_DRIFT_THRESHOLD,
                histogram_buckets: int = DEFAULT_HISTOGRAM_BUCKETS) -> dict:
    """What the predict calls logged in `log_dir` say against training.

    `schema`: the curated schema (a TFMD Schema); `training_statistics`: TFDV statistics
    (DatasetFeatureStatisticsList) of the model's training data, e.g. StatisticsGen's
    train split; `reference_scores`: the model's scores on data it was judged on (its
    eval split), one row per example (a column per output), or None for no prediction
    drift; `thresholds`: feature -> skew threshold, `Config.drift_thresholds` (default:
    the taxi data's); `histogram_buckets`: those of the training statistics
    (StatisticsGen's, `Config.histogram_buckets`): TFDV's Jensen-Shannon divergence
    between histograms of different resolutions is inflated (1,000 logged taxi fares
    against statistics of the other half of the trips with 10 buckets: 0.39; with 50,
    as the logged ones: below 0.2).

    Returns a dict: `requests` (predict calls logged), `instances` (rows they held),
    `skewed_features` (feature, measure, value, threshold for each feature whose skew
    is over its threshold), `skew` (every feature measured), `anomalies` (feature,
    type, description: the logged inputs validated against the schema in its SERVING
    environment, where the label and the columns the model does not take are absent),
    `prediction_drift` (measure, value, threshold, drifted, columns, scores,
    reference_scores; None without `reference_scores`). LogError when the folder
    cannot be read or the reference scores do not fit the logged ones."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    from pipeline.config import TAXI

    thresholds = dict(TAXI["drift_thresholds"] if thresholds is None else thresholds)
    columns = {input_name(feature.name): feature.name for feature in schema.feature}
    logged = read(log_dir, columns)
    serving_stats = _statistics(logged.inputs, histogram_buckets)
    served = set(logged.inputs.schema.names)

    skew_schema = serving_schema(schema, served)
    for feature in skew_schema.feature:
        threshold = thresholds.get(feature.name)
        if threshold is None or feature.name not in served:
            continue
        if _is_numeric(feature):
            feature.skew_comparator.jensen_shannon_divergence.threshold = threshold
        else:
            feature.skew_comparator.infinity_norm.threshold = threshold
    # The training statistics are validated in TRAINING (where the label is present);
    # the skew measurements compare them with the serving statistics.
    environment = TRAINING if TRAINING in skew_schema.default_environment else None
    skew = _measurements(tfdv.validate_statistics(
        training_statistics, skew_schema, environment=environment,
        serving_statistics=serving_stats), "skew")

    found = tfdv.validate_statistics(serving_stats, skew_schema, environment=SERVING)
    anomalies = [{"feature": name, "type": anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
                  "description": reason.description.strip()}
                 for name, info in sorted(found.anomaly_info.items())
                 for reason in info.reason]
    anomalies += [{"feature": "(dataset)",
                   "type": anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
                   "description": reason.description.strip()}
                  for reason in found.dataset_anomaly_info.reason]
    return {
        "requests": logged.requests,
        "instances": len(logged.scores),
        "skewed_features": [row for row in skew if row["value"] > row["threshold"]],
        "skew": skew,
        "anomalies": anomalies,
        "prediction_drift": None if reference_scores is None else _prediction_drift(
            logged.scores, reference_scores, score_threshold, histogram_buckets),
    }
