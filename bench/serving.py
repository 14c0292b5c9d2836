"""In-process serving speed of the newest pushed model: latency of single-example
requests (p50/p99) and throughput at batch 256, through both serving signatures, and
through the version's TFLite model (`assets.extra/model.tflite`, pipeline/tflite.py)
when it has one.

Loads `<output-dir>/serving/big_tipper/<newest version>` (or `--version`) with
`tf.saved_model.load`, as `python -m pipeline predict` does, and feeds it real rows of
the taxi CSV: `serving_default` gets one [batch] tensor per feature (the REST JSON
path, missing values marked as in a JSON request), `from_examples` gets serialized
tf.Examples (the gRPC path). Request tensors are built before the clock starts; a
timed call is the signature call plus reading its output back as numpy. Each signature
is warmed up first (single and batch calls, not timed). No HTTP/gRPC server, request
parsing or network is involved: this is the model's own cost in this process. Prints a
table and JSON.

The TFLite row feeds tf.lite.Interpreter's `serving_default` runner the same numpy
arrays `serving_default` gets (a timed call includes copying them in and the output
out). Another dataset's model (`--model-name`, `--data` its CSV) is measured through
`serving_default` and TFLite only (its rows become JSON instances, not tf.Examples).

    scripts/in-env python bench/serving.py [--output-dir outputs] [--version N]
                                           [--requests 1000] [--batches 200]
                                           [--model-name NAME --data CSV]
"""

import argparse
import csv
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.features import CLASSIFICATION  # noqa: E402
from models.signatures import (  # noqa: E402
    EXAMPLES_INPUT,
    EXAMPLES_SIGNATURE,
    JSON_SIGNATURE,
    output_name,
)
from pipeline import serving, tflite  # noqa: E402
from pipeline.config import DEFAULT_OUTPUT_DIR, Config  # noqa: E402
from pipeline.data import packaged_taxi_csv  # noqa: E402
from tests.conftest import serialize_example  # noqa: E402

# The bench scores the taxi model.
OUTPUT = output_name(CLASSIFICATION)
WARMUP_CALLS = 50
WARMUP_BATCHES = 5


def _rows(path: Path, count: int) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(itertools.islice(csv.DictReader(handle), count))


def _timed(function, requests: list[dict]) -> list[float]:
    """Milliseconds per call, each call's output read back as numpy (TFLite's runner
    returns numpy already)."""
    times = []
    for request in requests:
        started = time.perf_counter()
        output = next(iter(function(**request).values()))
        if hasattr(output, "numpy"):
            output.numpy()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _cycle(items: list, count: int) -> list:
    return [items[index % len(items)] for index in range(count)]


def measure(function, singles: list[dict], batches: list[dict], batch_size: int) -> dict:
    _timed(function, _cycle(singles, WARMUP_CALLS))
    _timed(function, _cycle(batches, WARMUP_BATCHES))
    single = np.array(_timed(function, singles))
    batch = np.array(_timed(function, batches))
    return {
        "single_p50_ms": round(float(np.percentile(single, 50)), 3),
        "single_p99_ms": round(float(np.percentile(single, 99)), 3),
        "single_mean_ms": round(float(single.mean()), 3),
        "batch_p50_ms": round(float(np.percentile(batch, 50)), 2),
        "batch_p99_ms": round(float(np.percentile(batch, 99)), 2),
        "batch_examples_per_s": round(batch_size * len(batch) / (batch.sum() / 1000)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--version", type=int, default=None,
                        help="a pushed version (default: the newest)")
    parser.add_argument("--requests", type=int, default=1000,
                        help="timed single-example requests per signature (default 1000)")
    parser.add_argument("--batches", type=int, default=200,
                        help="timed batches per signature (default 200)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--data", type=Path, default=None,
                        help="CSV rows to send (default: the packaged taxi CSV)")
    parser.add_argument("--model-name", default=Config.model_name,
                        help="the model folder under serving/ (default: the taxi's); "
                        "another dataset's needs --data")
    args = parser.parse_args()
    taxi = args.model_name == Config.model_name
    if not taxi and args.data is None:
        parser.error("--model-name other than the taxi's needs --data (its CSV)")

    model_dir = args.output_dir / "serving" / args.model_name
    available = serving.versions(model_dir)
    if not available:
        print(f"error: no pushed version under {model_dir}: run the pipeline first "
              "(scripts/in-env python -m pipeline run) or pass --output-dir", file=sys.stderr)
        raise SystemExit(2)
    version = args.version if args.version is not None else available[-1]
    if version not in available:
        print(f"error: version {version} is not under {model_dir} "
              f"(there: {', '.join(map(str, available))})", file=sys.stderr)
        raise SystemExit(2)
    version_dir = model_dir / str(version)

    # Distinct real rows: one per single request, and enough for the batches.
    pool = max(args.requests, args.batch_size * min(args.batches, 8))
    inputs = serving.signature_inputs(version_dir, JSON_SIGNATURE)
    if taxi:
        rows = _rows(args.data or packaged_taxi_csv(), pool)
        serialized = [serialize_example(row) for row in rows]
        instances = serving.json_instances(serialized, inputs)
    else:
        instances = serving.csv_instances(args.data, inputs)[:pool]
    starts = [(i * args.batch_size) % len(instances) for i in range(args.batches)]
    batch_rows = [_cycle(instances[start:] + instances[:start], args.batch_size)
                  for start in starts]
    single_arrays = [serving.request_arrays({"instances": [row]}, inputs)[0]
                     for row in _cycle(instances, args.requests)]
    batch_arrays = [serving.request_arrays({"instances": batch}, inputs)[0]
                    for batch in batch_rows]
    requests = {JSON_SIGNATURE: (
        [{name: tf.constant(array) for name, array in arrays.items()}
         for arrays in single_arrays],
        [{name: tf.constant(array) for name, array in arrays.items()}
         for arrays in batch_arrays])}
    if taxi:
        serialized_batches = [_cycle(serialized[start:] + serialized[:start],
                                     args.batch_size) for start in starts]
        requests[EXAMPLES_SIGNATURE] = (
            [{EXAMPLES_INPUT: tf.constant([example])}
             for example in _cycle(serialized, args.requests)],
            [{EXAMPLES_INPUT: tf.constant(batch)} for batch in serialized_batches])

    started = time.perf_counter()
    model = tf.saved_model.load(str(version_dir))
    load_seconds = time.perf_counter() - started
    report = {"model": str(version_dir), "version": version,
              "load_seconds": round(load_seconds, 2), "requests": args.requests,
              "batches": args.batches, "batch_size": args.batch_size,
              "rows": len(instances), "signatures": {}}
    for name, (singles, batches) in requests.items():
        report["signatures"][name] = measure(model.signatures[name], singles, batches,
                                             args.batch_size)
    tflite_path = version_dir / tflite.TFLITE_FILE
    if tflite_path.is_file():
        runner = tflite.load(tflite_path)
        report["tflite_bytes"] = tflite_path.stat().st_size
        report["signatures"]["tflite"] = measure(runner, single_arrays, batch_arrays,
                                                 args.batch_size)
        # The TFLite model must score like the SavedModel, or its speed means nothing.
        report["tflite_max_difference"] = float(np.abs(
            np.asarray(next(iter(runner(**batch_arrays[0]).values()))).reshape(-1)
            - next(iter(model.signatures[JSON_SIGNATURE](
                **requests[JSON_SIGNATURE][1][0]).values())).numpy().reshape(-1)).max())
    if taxi:
        # Both paths must score the same rows alike, or the comparison means nothing.
        report["max_difference"] = float(np.abs(
            model.signatures[JSON_SIGNATURE](**requests[JSON_SIGNATURE][1][0])[OUTPUT]
            .numpy() - model.signatures[EXAMPLES_SIGNATURE](
                **requests[EXAMPLES_SIGNATURE][1][0])[OUTPUT].numpy()).max())

    print(f"version {version} ({version_dir}), loaded in {load_seconds:.1f} s; "
          f"{args.requests} single requests and {args.batches} batches of "
          f"{args.batch_size} per signature, {len(instances)} distinct rows")
    print(f"{'signature':<17}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}"
          f"{f'batch {args.batch_size} p50 ms':>19}{'examples/s':>12}")
    for name, result in report["signatures"].items():
        print(f"{name:<17}{result['single_p50_ms']:>9.2f}{result['single_p99_ms']:>9.2f}"
              f"{result['single_mean_ms']:>9.2f}{result['batch_p50_ms']:>19.2f}"
              f"{result['batch_examples_per_s']:>12,}")
    if "max_difference" in report:
        print(f"largest difference between the two signatures on one batch: "
              f"{report['max_difference']:.1e}")
    if tflite_path.is_file():
        print(f"tflite: {report['tflite_bytes'] / 1024:.0f} KiB; largest difference from "
              f"serving_default on one batch: {report['tflite_max_difference']:.1e}")
    else:
        print(f"tflite: this version has no {tflite.TFLITE_FILE} (the run summary that "
              "pushed it says why)")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
