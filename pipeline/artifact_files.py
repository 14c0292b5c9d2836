"""Reads the files that TFX's components write (TFDV's statistics and anomalies, TFMA's
metrics and validation result) without importing TensorFlow, TFX or Beam.

TFDV's and TFMA's own loaders (`tfdv.load_stats_binary`, `tfma.load_metrics`, ...) import
TensorFlow, 7-15 s before the first answer; the inspection commands read a few kilobytes.
The files are protocol buffers: TFDV's are tensorflow_metadata's protos, plain files;
TFMA's are TFMA's protos in TFRecord files. This module parses them with those proto
classes and its own reader of the TFRecord framing (`tfrecords`).
"""

import functools
import glob
import importlib.util
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import google_crc32c
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2


@functools.lru_cache(maxsize=16)
def load_statistics(path: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    """A StatisticsGen split's FeatureStats.pb (what `tfdv.load_stats_binary` reads).
    Kept for the next caller: a run's details read each split for its row counts, its
    feature table and its charts, and TFX never rewrites an artifact. Do not modify
    the returned proto."""
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(Path(path).read_bytes())


def load_anomalies(path: str) -> anomalies_pb2.Anomalies:
    """A validator's SchemaDiff.pb (what TFDV's `anomalies_util.load_anomalies_binary`
    reads)."""
    return anomalies_pb2.Anomalies.FromString(Path(path).read_bytes())


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
    with open(path, "rb") as handle:
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
