"""Our model's eval metrics next to a scikit-learn RandomForest on the very same split.

Reads the newest run of an output directory: the Evaluator's AUC/accuracy, and the
train/eval examples CsvExampleGen wrote, on which it fits a RandomForest (300 trees)
over the same raw columns (label: tips > 20% of fare). Prints a table and JSON.

    scripts/in-env python bench/quality.py [--output-dir outputs]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.features import LABEL  # noqa: E402
from pipeline import results  # noqa: E402
from pipeline.config import DEFAULT_OUTPUT_DIR  # noqa: E402


def _split_table(examples_uri: str, split: str) -> dict[str, list]:
    files = tf.io.gfile.glob(f"{examples_uri}/Split-{split}/*")
    columns: dict[str, list] = {}
    for index, record in enumerate(tf.data.TFRecordDataset(files, compression_type="GZIP")):
        example = tf.train.Example.FromString(record.numpy())
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            values = getattr(feature, kind).value if kind else []
            columns.setdefault(name, [None] * index)
            columns[name].append(values[0] if values else None)
        for values in columns.values():
            values.extend([None] * (index + 1 - len(values)))
    return columns


def _matrix(columns, names, codes):
    matrix = []
    for name in names:
        values = columns[name]
        if any(isinstance(v, bytes) for v in values):
            mapping = codes.setdefault(name, {})
            matrix.append([mapping.setdefault(v, len(mapping)) if v is not None else -1
                           for v in values])
        else:
            matrix.append([v if v is not None else -1 for v in values])
    return np.array(matrix, dtype=float).T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    args = parser.parse_args()

    store = results.open_store(args.output_dir / "metadata.db")
    outputs = results.run_outputs(store, results.latest_run_id(store))
    examples = outputs["CsvExampleGen"]["artifacts"]["Examples"][0]
    evaluation = outputs["Evaluator"]["artifacts"]["ModelEvaluation"][0]
    ours = results.metrics(evaluation)["candidate"]

    train, evaluation_split = (_split_table(examples.uri, s) for s in ("train", "eval"))
    names = sorted(n for n in train if n != LABEL.tips_column)
    codes: dict = {}
    labels = {}
    for split, columns in (("train", train), ("eval", evaluation_split)):
        tips = np.array([v or 0.0 for v in columns[LABEL.tips_column]])
        fare = np.array([v or 0.0 for v in columns[LABEL.fare_column]])
        labels[split] = (tips > LABEL.tip_fraction * fare).astype(int)
    forest = RandomForestClassifier(n_estimators=300, n_jobs=-1, random_state=0)
    forest.fit(_matrix(train, names, codes), labels["train"])
    scores = forest.predict_proba(_matrix(evaluation_split, names, codes))[:, 1]
    report = {
        "eval_rows": int(len(labels["eval"])),
        "ours": {"auc": ours["auc"], "accuracy": ours["binary_accuracy"]},
        "random_forest": {"auc": float(roc_auc_score(labels["eval"], scores)),
                          "accuracy": float(accuracy_score(labels["eval"], scores > 0.5))},
        "majority_class_accuracy": float(max(labels["eval"].mean(), 1 - labels["eval"].mean())),
    }
    print(f"{'model':<16}{'AUC':>8}{'accuracy':>10}   (eval rows: {report['eval_rows']})")
    for name in ("ours", "random_forest"):
        print(f"{name:<16}{report[name]['auc']:>8.4f}{report[name]['accuracy']:>10.4f}")
    print(f"{'majority class':<16}{'':>8}{report['majority_class_accuracy']:>10.4f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
