"""The flag types and flag groups several commands share: number checks for argparse,
the dataset and model flags of `run` and `compile` with the Config overrides they
make, and the Config of the output directory an `--output-dir` flag names."""

import argparse
from pathlib import Path

from models.features import TASKS


def number(convert, noun: str, is_valid, requirement: str):
    """An argparse type: `convert` the text, then insist on `is_valid`."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}") from None
        if not is_valid(value):
            raise argparse.ArgumentTypeError(f"{text!r} {requirement}")
        return value

    return parse


positive_int = number(int, "whole number", lambda value: value >= 1, "must be at least 1")
non_negative_int = number(int, "whole number", lambda value: value >= 0,
                          "must not be negative")
# AUC and accuracy lie in [0, 1]: a floor outside it would bless every model or none.
fraction = number(float, "number", lambda value: 0.0 <= value <= 1.0,
                  "is not between 0 and 1 (AUC and accuracy are fractions, e.g. 0.94)")
non_negative = number(float, "number", lambda value: 0.0 <= value < float("inf"),
                      "must be a finite number, not negative")


def writable_folder(text: str) -> Path:
    """An argparse type: a folder the command creates or writes into; a path that exists
    and is not a folder (a file, /dev/null) is refused now, before any work is done, not
    after it when the write fails."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
    return path


def span_list(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated span numbers, e.g. `1,2`."""
    try:
        spans = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of span numbers") from None
    if spans[0] < 0:
        raise argparse.ArgumentTypeError(f"{text!r} has a negative span number")
    return tuple(spans)


def add_dataset_flags(parser) -> None:
    """Which column is the label, and how to read the rest (`run` and `compile`)."""
    group = parser.add_argument_group(
        "your own dataset (default: the taxi data and its big-tipper label)")
    group.add_argument("--label", metavar="COLUMN",
                       help="the CSV column to predict; every other typed column of the "
                       "schema becomes a feature")
    group.add_argument("--task", choices=TASKS,
                       help="with --label: what the label is (default: classification)")
    group.add_argument("--exclude", action="append", metavar="COLUMN",
                       help="with --label: a column that is not a feature, e.g. an ID "
                       "(repeatable)")
    group.add_argument("--schema", metavar="FILE",
                       help="the curated schema (default: schema/schema.pbtxt for the taxi "
                       "data, else DATA_DIR/schema.pbtxt, inferred on the first run)")


def dataset_overrides(args) -> dict:
    """make_config arguments from the flags of add_dataset_flags."""
    return {"label": args.label, "task": args.task, "schema_path": args.schema,
            "excluded_columns": tuple(args.exclude) if args.exclude else None}


def add_model_flags(parser) -> None:
    """The Trainer, Evaluator and data gate settings `run` and `compile` share."""
    parser.add_argument("--train-steps", type=positive_int,
                        help="Trainer steps (default: 200; at most 30 passes over the "
                        "training split)")
    parser.add_argument("--min-auc", type=fraction,
                        help="Evaluator gate, classification: lowest eval AUC that can be "
                        "blessed, 0 to 1 (default: taxi 0.94, else 0.5)")
    parser.add_argument("--min-accuracy", type=fraction,
                        help="Evaluator gate, classification: lowest eval accuracy that can "
                        "be blessed (default: taxi 0.88, else none)")
    parser.add_argument("--max-rmse", type=non_negative, metavar="X",
                        help="Evaluator gate, regression: highest eval RMSE that can be "
                        "blessed (default: none)")
    parser.add_argument("--max-mae", type=non_negative, metavar="X",
                        help="Evaluator gate, regression: highest eval MAE that can be "
                        "blessed (default: none)")
    parser.add_argument("--max-regression", type=non_negative, metavar="X",
                        help="Evaluator gate: how much a gated metric may be worse than the "
                        "latest blessed model's (default: 0.0)")
    parser.add_argument("--tolerate", action="append", metavar="RULE",
                        help="let an anomaly warn instead of stop the run: a feature, an "
                        "anomaly type, or FEATURE:TYPE (repeatable)")
    parser.add_argument("--drift-warn", action="store_true",
                        help="let drift between the latest and the previous span warn "
                        "instead of stop the run")
    parser.add_argument("--tune", action="store_true",
                        help="search the model's hyperparameters with TFX's Tuner before "
                        "training (see README: Tuning)")
    # The range is Config's (config.Tuning): validated_config says when N is too many.
    parser.add_argument("--tune-trials", type=positive_int, metavar="N",
                        help="with --tune: models the Tuner trains, at most 50 (default: 10)")
    parser.add_argument("--tflite", action=argparse.BooleanOptionalAction,
                        help="give each pushed version a checked TFLite copy "
                        "(assets.extra/model.tflite; default: on, --no-tflite turns it "
                        "off; see README: The TFLite copy)")


def model_overrides(args) -> dict:
    """Config overrides from the flags of add_model_flags (None: keep the default)."""
    return {"train_steps": args.train_steps, "min_auc": args.min_auc,
            "min_accuracy": args.min_accuracy, "max_rmse": args.max_rmse,
            "max_mae": args.max_mae, "max_regression": args.max_regression,
            "tolerated_anomalies": tuple(args.tolerate) if args.tolerate else None,
            "drift_blocks": False if args.drift_warn else None,
            "tflite": getattr(args, "tflite", None),
            "tune": True if getattr(args, "tune", False) else None,
            "tune_trials": getattr(args, "tune_trials", None)}

