"""How much the gated metrics and the score distribution of one model vary between two
random halves of the same data: the noise `monitor --max-decay` and the prediction
drift threshold must stay above, so that a span drawn from the training distribution
is not called decayed or drifted.

    scripts/in-env python bench/monitor_decay.py --output-dir OUT --data-dir D --span N
        [--splits 200] [--sizes 500,1500,3000,all]

Scores the span once with the served version's `from_examples` signature and takes its
labels from the model's own `transform_features` signature (the label the Evaluator
sees). Then, for each size (rows per half; `all` = half the span), draws `--splits`
random disjoint pairs of halves and measures each half's AUC and accuracy (at 0.5)
with scikit-learn (TFMA per half would take minutes each; its AUC agrees to about
1e-3), and, for the first 20 pairs, TFDV's Jensen-Shannon divergence between the two
halves' scores, as `monitor` computes prediction drift. Prints a table and one JSON line.
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _labels(version_dir: Path, label_name: str, patterns: list[str]) -> list[float]:
    import tensorflow as tf

    from models.signatures import TRANSFORM_SIGNATURE
    from pipeline.monitoring import _serialized

    model = tf.saved_model.load(str(version_dir), tags=["serve"])
    transform = model.signatures[TRANSFORM_SIGNATURE]
    found = []
    for batch in _serialized(patterns):
        found += [float(v) for v in transform(examples=batch)[label_name].numpy().reshape(-1)]
    return found


def _quantiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median": statistics.median(ordered),
            "p95": ordered[int(0.95 * (len(ordered) - 1))], "max": ordered[-1]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--span", type=int, required=True)
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--sizes", default="500,1500,3000,all")
    args = parser.parse_args()

    from sklearn.metrics import accuracy_score, roc_auc_score

    from pipeline import metadata, monitoring, workspace

    cfg = workspace.workspace_config(Path(args.output_dir).resolve())
    served = monitoring.served_model(metadata.open_store(cfg.locations.metadata_path))
    folder = Path(args.data_dir).resolve() / f"span-{args.span}"
    with tempfile.TemporaryDirectory() as temp:
        examples, _ = monitoring.span_examples(cfg, folder, Path(temp))
        scores = monitoring.scores(served["version_dir"], cfg.label, [examples])
        labels = _labels(served["version_dir"], cfg.label.name, [examples])
    rows, generator = [], random.Random(0)
    indices = list(range(len(scores)))
    for size_text in args.sizes.split(","):
        size = len(indices) // 2 if size_text == "all" else int(size_text)
        if 2 * size > len(indices):
            continue
        auc, accuracy, divergence = [], [], []
        for split in range(args.splits):
            generator.shuffle(indices)
            halves = [indices[:size], indices[size:2 * size]]
            values = [[scores[i] for i in half] for half in halves]
            truths = [[labels[i] for i in half] for half in halves]
            auc.append(abs(roc_auc_score(truths[0], values[0])
                           - roc_auc_score(truths[1], values[1])))
            accuracy.append(abs(
                accuracy_score(truths[0], [v > 0.5 for v in values[0]])
                - accuracy_score(truths[1], [v > 0.5 for v in values[1]])))
            if split < 20:
                divergence.append(monitoring.prediction_drift(values[0], values[1], cfg)["value"])
        rows.append({"rows_per_half": size, "auc_difference": _quantiles(auc),
                     "accuracy_difference": _quantiles(accuracy),
                     "score_jsd": _quantiles(divergence)})
    print(f"version {served['version']} on span-{args.span} of {args.data_dir} "
          f"({len(scores)} rows), {args.splits} random pairs of halves per size")
    print(f"{'rows/half':>9}  {'|AUC a-b| median p95 max':>26}  "
          f"{'|accuracy a-b| median p95 max':>31}  {'score JSD median p95 max':>26}")
    for row in rows:
        cells = [" ".join(f"{row[key][q]:.4f}" for q in ("median", "p95", "max"))
                 for key in ("auc_difference", "accuracy_difference", "score_jsd")]
        print(f"{row['rows_per_half']:>9}  {cells[0]:>26}  {cells[1]:>31}  {cells[2]:>26}")
    print(json.dumps({"version": served["version"], "span": args.span, "rows": len(scores),
                      "splits": args.splits, "sizes": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
