"""Reads the files that TFX's components write (TFDV's statistics and anomalies, TFMA's
metrics and validation result) without importing TensorFlow, TFX or Beam, and turns
TFMA's metrics into rows. Given an artifact's URI (and its splits), never ML Metadata
(pipeline/metadata.py finds the artifacts); a leaf that imports nothing from the
project but pipeline.uris (another leaf), so that every component and command can use
it. An artifact under a pipeline root given as a URI is read through TFX's filesystem
layer (`uris`), which does import TensorFlow.

TFDV's and TFMA's own loaders (`tfdv.load_stats_binary`, `tfma.load_metrics`, ...) import
TensorFlow, 7-15 s before the first answer; the inspection commands read a few kilobytes.
The files are protocol buffers: TFDV's are tensorflow_metadata's protos, plain files;
TFMA's are TFMA's protos in TFRecord files. This module parses them with those proto
classes and its own reader of the TFRecord framing (`tfrecords`).
"""

import functools
import glob
import importlib.util
import io
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import google_crc32c
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from pipeline import uris


@functools.lru_cache(maxsize=16)
def load_statistics(path: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    """A StatisticsGen split's FeatureStats.pb (what `tfdv.load_stats_binary` reads).
    Kept for the next caller: a run's details read each split for its row counts, its
    feature table and its charts, and TFX never rewrites an artifact. Do not modify
    the returned proto."""
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(uris.read_bytes(path))


def row_counts(uri: str, splits: list[str]) -> dict[str, int]:
    """Rows per split of a StatisticsGen artifact, from its statistics."""
    return {split: int(load_statistics(f"{uri}/Split-{split}/FeatureStats.pb")
                       .datasets[0].num_examples)
            for split in splits}


def load_anomalies(path: str) -> anomalies_pb2.Anomalies:
    """A validator's SchemaDiff.pb (what TFDV's `anomalies_util.load_anomalies_binary`
    reads)."""
    return anomalies_pb2.Anomalies.FromString(uris.read_bytes(path))


def load_split_anomalies(uri: str, names: list[str], pairs: bool = False
                         ) -> list[tuple[str, anomalies_pb2.Anomalies]]:
    """(name, Anomalies) for each split of a validator's ExampleAnomalies artifact:
    ExampleValidator writes `Split-<split>/`, DistributionValidator (`pairs`)
    `SplitPair-<split>_<baseline split>/`."""
    folder = "SplitPair-" if pairs else "Split-"
    return [(name, load_anomalies(f"{uri}/{folder}{name}/SchemaDiff.pb")) for name in names]


class CorruptRecord(ValueError):
    """A TFRecord file that is truncated or fails its checksum."""


def _masked_crc(data: bytes) -> int:
    # TFRecord's masked CRC-32C (tensorflow/core/lib/hash/crc32c.h, Mask).
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecords(path: str) -> Iterator[bytes]:
    """The records of a TFRecord file (uncompressed, as TFMA writes them), each checked
    against its CRC-32C like TensorFlow's reader does. Each record is framed as
    uint64 length, uint32 masked CRC of the length, the data, uint32 masked CRC of the
    data; all little-endian."""
    # A pipeline root given as a URI: the whole file through TFX's filesystem layer
    # (TFMA's files are small); a local file is read as it streams.
    with (io.BytesIO(uris.read_bytes(path)) if uris.is_uri(path)
          else open(path, "rb")) as handle:
        while True:
            header = handle.read(12)
            if not header:
                return
            if len(header) < 12:
                raise CorruptRecord(f"{path}: truncated record header")
            length, length_crc = struct.unpack("<QI", header)
            if _masked_crc(header[:8]) != length_crc:
                raise CorruptRecord(f"{path}: record length fails its checksum")
            data = handle.read(length)
            footer = handle.read(4)
            if len(data) < length or len(footer) < 4:
                raise CorruptRecord(f"{path}: truncated record")
            if _masked_crc(data) != struct.unpack("<I", footer)[0]:
                raise CorruptRecord(f"{path}: record data fails its checksum")
            yield data


def tfma_protos():
    """TFMA's metrics_for_slice_pb2 and validation_result_pb2 modules.

    Importing them by their names runs `tensorflow_model_analysis/__init__.py`, which
    imports TensorFlow and Beam; the generated modules themselves need only protobuf.
    When TFMA is not imported yet, they are loaded from its files under private names.
    Their descriptors go into protobuf's default pool either way, so a later import of
    TFMA adds identical files, which the pool accepts."""
    names = ("config", "metrics_for_slice", "validation_result")  # dependency order
    imported = [sys.modules.get(f"tensorflow_model_analysis.proto.{name}_pb2")
                for name in names]
    if all(imported):
        return imported[1], imported[2]
    if "_pipeline_tfma_validation_result_pb2" not in sys.modules:
        # The generated files do not import the protos they depend on.
        from google.protobuf import wrappers_pb2  # noqa: F401

        spec = importlib.util.find_spec("tensorflow_model_analysis")
        folder = Path(list(spec.submodule_search_locations)[0]) / "proto"
        for name in names:
            private = f"_pipeline_tfma_{name}_pb2"
            module_spec = importlib.util.spec_from_file_location(
                private, folder / f"{name}_pb2.py")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            sys.modules[private] = module
    return (sys.modules["_pipeline_tfma_metrics_for_slice_pb2"],
            sys.modules["_pipeline_tfma_validation_result_pb2"])


def _evaluator_files(uri: str, prefix: str) -> list[str]:
    # TFMA's file patterns (metrics_plots_and_validations_writer): `metrics*.tfrecord`,
    # else `metrics*`; `validations*`.
    if uris.is_uri(uri):
        return (uris.glob(f"{uri}/{prefix}*.tfrecord") or uris.glob(f"{uri}/{prefix}*"))
    return (sorted(glob.glob(f"{glob.escape(uri)}/{prefix}*.tfrecord"))
            or sorted(glob.glob(f"{glob.escape(uri)}/{prefix}*")))


def load_metrics(uri: str) -> Iterator:
    """The MetricsForSlice records of an Evaluator's ModelEvaluation (`tfma.load_metrics`)."""
    metrics_for_slice_pb2, _ = tfma_protos()
    for path in _evaluator_files(uri, "metrics"):
        for record in tfrecords(path):
            yield metrics_for_slice_pb2.MetricsForSlice.FromString(record)


def load_validation_result(uri: str):
    """The ValidationResult of an Evaluator's ModelEvaluation
    (`tfma.load_validation_result`)."""
    _, validation_result_pb2 = tfma_protos()
    records = [record for path in _evaluator_files(uri, "validations")
               for record in tfrecords(path)]
    if len(records) != 1:
        raise CorruptRecord(f"{uri}: expected one validation result, found {len(records)}")
    return validation_result_pb2.ValidationResult.FromString(records[0])


def _slice_value(key):
    value = getattr(key, key.WhichOneof("kind"))
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def slice_name(slice_key) -> str:
    """A TFMA SliceKey as tables show it: 'Overall', or `feature=value`, comma-joined."""
    return ", ".join(f"{key.column}={_slice_value(key)}"
                     for key in slice_key.single_slice_keys) or "Overall"


def metric_name(key) -> str:
    """A metric key's name: `auc`, `macro_auc` for a macro average, `auc/class_2` for
    one class of a multi-class model."""
    if key.HasField("aggregation_type"):
        return f"macro_{key.name}"
    if key.HasField("sub_key") and key.sub_key.HasField("class_id"):
        return f"{key.name}/class_{key.sub_key.class_id.value}"
    return key.name


def slice_metrics(uri: str) -> list[dict]:
    """Every slice's metrics in an Evaluator's ModelEvaluation at `uri`: {slice, model
    ('candidate'/'baseline'), metric: value}. The overall slice is named 'Overall';
    others `feature=value`, values in order. A metric that the slice cannot have (AUC
    of one class) is None."""
    rows: dict[tuple[str, str], dict] = {}
    for metrics_for_slice in load_metrics(uri):
        name = slice_name(metrics_for_slice.slice_key)
        for entry in metrics_for_slice.metric_keys_and_values:
            if entry.key.is_diff or not entry.value.HasField("double_value"):
                continue
            model = entry.key.model_name or "candidate"
            row = rows.setdefault((name, model), {"slice": name, "model": model})
            row[metric_name(entry.key)] = entry.value.double_value.value

    def order(row):
        feature, _, value = row["slice"].partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        return (row["slice"] != "Overall", feature, number is None, number or 0, value,
                row["model"])

    return sorted((_without_one_class_auc(row) for row in rows.values()), key=order)


def _without_one_class_auc(row: dict) -> dict:
    """None for an AUC that a slice's labels leave undefined: TFMA reports 0 when all
    of a slice's examples are of one class, which a mean label of 0 or 1 shows (per
    class with more than two: `mean_label/class_2`). A macro average over a class
    without both outcomes is undefined too."""
    one_class = [name for name, value in row.items()
                 if name.partition("/")[0] == "mean_label" and value in (0.0, 1.0)]
    for name in one_class:
        auc = "auc" + name.removeprefix("mean_label")
        if auc in row:
            row[auc] = None
    if one_class and "macro_auc" in row:
        row["macro_auc"] = None
    return row


def overall_metrics(slice_rows: list[dict]) -> dict[str, dict[str, float]]:
    """The 'Overall' rows of `slice_metrics`, by model ('candidate', and 'baseline'
    when there is one)."""
    return {row["model"]: {k: v for k, v in row.items() if k not in ("slice", "model")}
            for row in slice_rows if row["slice"] == "Overall"}


# The files TFX's Tuner executor writes (tfx/components/tuner/executor.py,
# write_best_hyperparameters): the best trial's KerasTuner HyperParameters config
# ({"space": [...], "values": {...}}) and every completed trial as a record
# ({"trial_id", "score", **values}), best first.
BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.txt"
TUNER_RESULTS_FILE = "tuner_results.json"


def load_best_hyperparameters(uri: str) -> dict:
    """A Tuner's best_hyperparameters artifact: KerasTuner's HyperParameters config."""
    return uris.read_json(uris.join(uri, BEST_HYPERPARAMETERS_FILE))


def load_tuner_results(uri: str) -> list[dict]:
    """A Tuner's tuner_results artifact: the completed trials, best first, each as
    {trial_id, score, hyperparameters: {name: value}}."""
    records = uris.read_json(uris.join(uri, TUNER_RESULTS_FILE))
    return [{"trial_id": str(record["trial_id"]), "score": record["score"],
             "hyperparameters": {name: value for name, value in record.items()
                                 if name not in ("trial_id", "score")}}
            for record in records]
