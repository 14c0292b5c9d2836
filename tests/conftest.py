"""Shared test helpers: small slices of the real taxi data."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import DEFAULT_SCHEMA_PATH, REPO_ROOT
from pipeline.data import packaged_taxi_csv


def write_taxi_sample(target_dir: Path, rows: int, span: int = 1, skip: int = 0) -> Path:
    """The header and `rows` data rows of the packaged taxi CSV (after the first `skip`
    rows), as a span."""
    path = target_dir / f"span-{span}" / "data.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with packaged_taxi_csv().open(newline="") as source, path.open("w", newline="") as out:
        reader, writer = csv.reader(source), csv.writer(out)
        writer.writerow(next(reader))
        for index, row in enumerate(reader):
            if index >= skip + rows:
                break
            if index >= skip:
                writer.writerow(row)
    return path


@pytest.fixture(scope="session")
def taxi_rows():
    """The first 60 raw taxi rows as dicts of strings (header order)."""
    with packaged_taxi_csv().open(newline="") as source:
        reader = csv.DictReader(source)
        return [next(reader) for _ in range(60)]


def serialize_example(row: dict) -> bytes:
    """A raw CSV row as the serialized tf.Example a serving client sends (no label)."""
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    from pipeline.config import TAXI_LABEL

    schema = tfdv.load_schema_text(str(DEFAULT_SCHEMA_PATH))
    kinds = {feature.name: feature.type for feature in schema.feature}
    features = {}
    for name, value in row.items():
        if name in TAXI_LABEL.hidden_columns or value == "":
            continue
        if kinds[name] == schema_pb2.BYTES:
            feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif kinds[name] == schema_pb2.FLOAT:
            feature = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        else:
            feature = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(value))]))
        features[name] = feature
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def run_pipeline(data_dir: Path, output_dir: Path, *args: str,
                 code_dir: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """`python -m pipeline run` in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--data-dir", str(data_dir),
         "--output-dir", str(output_dir), *args],
        cwd=code_dir, env={**os.environ, "PYTHONPATH": str(code_dir)},
        capture_output=True, text=True, timeout=900,
    )
