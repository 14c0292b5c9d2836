"""Calibrates `skew_report` (pipeline/serving_logs.py) on a pushed taxi model: how
much training-serving skew and prediction drift random taxi trips measure, by the
number of logged instances, and what a shifted-fare stream measures.

The packaged taxi trips are shuffled and halved: half A is the reference (the model's
scores on it are the reference scores), half B the pool serving requests are drawn
from. Each draw logs its rows as predict calls of 250 rows through
`serving_logs.append` and runs `skew_report` against the run's StatisticsGen train
statistics. Both halves overlap the training data (the model trained on 80 % of the
same trips); the measured spread is sampling noise of the logged sample, which is what
the thresholds must stay above. Prints a table and JSON.

    scripts/in-env python bench/serving_logs.py --output-dir DIR [--draws 10]
"""

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.signatures import JSON_SIGNATURE  # noqa: E402
from pipeline import schema_review, serving, serving_logs  # noqa: E402
from pipeline.config import DEFAULT_OUTPUT_DIR, DEFAULT_SCHEMA_PATH  # noqa: E402
from pipeline.data import packaged_taxi_csv  # noqa: E402
from pipeline.schema_file import load_schema  # noqa: E402
from tests.conftest import serialize_example  # noqa: E402

SIZES = (100, 300, 1000, 3000)
CALL_ROWS = 250


def _scores(model, inputs, serialized) -> np.ndarray:
    body = {"instances": serving.json_instances(serialized, inputs)}
    return np.array(serving.predict_json(model, inputs, body)["predictions"])[:, 0]


def _report(version_dir, model, inputs, serialized, reference, schema, statistics) -> dict:
    with tempfile.TemporaryDirectory() as log_dir:
        for start in range(0, len(serialized), CALL_ROWS):
            body = {"instances": serving.json_instances(serialized[start:start + CALL_ROWS],
                                                        inputs)}
            serving_logs.append(Path(log_dir), version_dir, body,
                                serving.predict_json(model, inputs, body))
        return serving_logs.skew_report(Path(log_dir), schema, statistics, reference)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--draws", type=int, default=10)
    args = parser.parse_args()
    output_dir = args.output_dir.resolve()
    model_dir = output_dir / "serving" / "big_tipper"
    version_dir = model_dir / str(serving.versions(model_dir)[-1])
    model = tf.saved_model.load(str(version_dir), tags=["serve"])
    inputs = serving.signature_inputs(version_dir, JSON_SIGNATURE)
    statistics = schema_review.latest_statistics(output_dir / "metadata.db", "taxi")[0]["train"]
    schema = load_schema(DEFAULT_SCHEMA_PATH)

    rows = pd.read_csv(packaged_taxi_csv(), dtype=str, keep_default_na=False)
    rows = rows.sample(frac=1.0, random_state=0).to_dict("records")
    half = len(rows) // 2
    reference = _scores(model, inputs, [serialize_example(row) for row in rows[:half]])
    pool = [serialize_example(row) for row in rows[half:]]
    rng = np.random.default_rng(0)

    results = {"reference_rows": half, "draws": args.draws, "random": {}}
    for size in SIZES:
        found = collections.defaultdict(list)
        for _ in range(args.draws):
            picked = [pool[i] for i in rng.choice(len(pool), size, replace=False)]
            report = _report(version_dir, model, inputs, picked, reference, schema,
                             statistics)
            for row in report["skew"]:
                found[row["feature"]].append(row["value"])
            found["score"].append(report["prediction_drift"]["value"])
        results["random"][size] = {name: [round(min(v), 3), round(max(v), 3)]
                                   for name, v in found.items()}
    shifted = [dict(row, fare=str(float(row["fare"] or 0) * 3)) for row in rows[half:]]
    picked = [serialize_example(shifted[i]) for i in rng.choice(len(shifted), 1000,
                                                                 replace=False)]
    report = _report(version_dir, model, inputs, picked, reference, schema, statistics)
    results["fares_tripled_1000"] = {
        **{row["feature"]: round(row["value"], 3) for row in report["skew"]},
        "score": round(report["prediction_drift"]["value"], 3)}

    names = list(results["random"][SIZES[0]])
    print("instances  " + "  ".join(f"{name:>17}" for name in names))
    for size, found in results["random"].items():
        print(f"{size:>9}  " + "  ".join(f"{found[name][0]:.3f}-{found[name][1]:.3f}".rjust(17)
                                          for name in names))
    print("fares x3, 1000 instances: " + ", ".join(
        f"{name} {value}" for name, value in results["fares_tripled_1000"].items()))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
