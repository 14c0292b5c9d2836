"""Our model's eval metrics next to a scikit-learn RandomForest on the very same split.

Reads the newest run of an output directory: the Evaluator's metrics, and the
train/eval examples CsvExampleGen wrote, on which it fits a RandomForest (300 trees)
over the same raw columns and the same label (pipeline/config.py: the taxi big-tipper
label, or the run's --label column and task). Prints a table and JSON.

    scripts/in-env python bench/quality.py [--output-dir outputs]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.features import CLASSIFICATION, Label  # noqa: E402
from pipeline import artifact_files, metadata, workspace  # noqa: E402
from pipeline.config import DEFAULT_OUTPUT_DIR  # noqa: E402

TREES = 300


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


def _labels(columns: dict[str, list], label: Label) -> np.ndarray:
    """The label as the Transform graph computes it (models/preprocessing.py)."""
    if label.ratio:
        numerator = np.array([v or 0.0 for v in columns[label.ratio.numerator]])
        denominator = np.array([v or 0.0 for v in columns[label.ratio.denominator]])
        return (numerator > label.ratio.threshold * denominator).astype(int)
    values = columns[label.name]
    if label.task != CLASSIFICATION:
        return np.array(values, dtype=float)
    names = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    return np.array([label.classes.index(name) for name in names])


def compare(output_dir: Path) -> dict:
    """Our candidate's overall eval metrics and the forest's, on the newest run's split."""
    cfg = workspace.workspace_config(output_dir)
    store = metadata.open_store(cfg.locations.metadata_path)
    outputs = metadata.run_outputs(store, metadata.latest_run_id(store))
    examples = outputs["CsvExampleGen"]["artifacts"]["Examples"][0]
    evaluation = outputs["Evaluator"]["artifacts"]["ModelEvaluation"][0]
    ours = artifact_files.overall_metrics(
        artifact_files.slice_metrics(evaluation.uri))["candidate"]

    train, eval_split = (_split_table(examples.uri, s) for s in ("train", "eval"))
    names = sorted(cfg.inputs.features)
    codes: dict = {}
    x_train, x_eval = _matrix(train, names, codes), _matrix(eval_split, names, codes)
    y_train, y_eval = _labels(train, cfg.label), _labels(eval_split, cfg.label)
    report = {"dataset": cfg.pipeline_name, "task": cfg.label.task,
              "train_rows": int(len(y_train)), "eval_rows": int(len(y_eval))}
    if cfg.label.task != CLASSIFICATION:
        forest = RandomForestRegressor(n_estimators=TREES, n_jobs=-1, random_state=0)
        predicted = forest.fit(x_train, y_train).predict(x_eval)
        report["ours"] = {"rmse": ours["rmse"], "mae": ours["mean_absolute_error"]}
        report["random_forest"] = {
            "rmse": float(np.sqrt(np.mean((predicted - y_eval) ** 2))),
            "mae": float(mean_absolute_error(y_eval, predicted))}
        report["predict_the_mean"] = {
            "rmse": float(np.sqrt(np.mean((y_train.mean() - y_eval) ** 2)))}
        return report
    forest = RandomForestClassifier(n_estimators=TREES, n_jobs=-1, random_state=0)
    probabilities = forest.fit(x_train, y_train).predict_proba(x_eval)
    if cfg.label.num_classes == 2:
        auc = roc_auc_score(y_eval, probabilities[:, 1])
        report["ours"] = {"auc": ours["auc"], "accuracy": ours["binary_accuracy"]}
    else:
        auc = roc_auc_score(y_eval, probabilities, multi_class="ovr", average="macro",
                            labels=forest.classes_)
        report["ours"] = {"auc": ours["macro_auc"],
                          "accuracy": ours["sparse_categorical_accuracy"]}
    report["random_forest"] = {
        "auc": float(auc),
        "accuracy": float(accuracy_score(y_eval, forest.classes_[probabilities.argmax(1)]))}
    report["majority_class_accuracy"] = float(np.bincount(y_eval).max() / len(y_eval))
    return report


def print_table(reports: list[dict]) -> None:
    print(f"{'dataset':<16}{'task':<16}{'eval rows':>10}  {'metric':<10}{'ours':>10}"
          f"{'forest':>10}{'ours-forest':>13}")
    for report in reports:
        for metric in report["ours"]:
            ours, forest = report["ours"][metric], report["random_forest"][metric]
            print(f"{report['dataset']:<16}{report['task']:<16}{report['eval_rows']:>10}  "
                  f"{metric:<10}{ours:>10.4f}{forest:>10.4f}{ours - forest:>+13.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    args = parser.parse_args()
    report = compare(args.output_dir.expanduser().resolve())
    print_table([report])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
