"""Command line: `python -m pipeline COMMAND`. `_parser` defines the commands and
their flags; `--help` prints the exit codes of pipeline/exit_codes.py.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from models.features import CLASSIFICATION, TASKS
from pipeline import inspect_cli, monitor_cli, replay_cli, rollback
from pipeline.beam import PROFILES
from pipeline.compile import DEFAULT_OUTPUT, IMAGE_SCHEMA_PATH, TARGETS
from pipeline.data import SAMPLES
from pipeline.exit_codes import (
    EXIT_BUSY,
    EXIT_CODES,
    EXIT_DATA_BLOCKED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from pipeline.periods import PERIODS


def _help_epilog() -> str:
    """The exit codes, for the end of `--help`."""
    import textwrap

    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES:
        lines += textwrap.wrap(meaning, width=78, initial_indent=f"  {code:<5}",
                               subsequent_indent=" " * 7)
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def _number(convert, noun: str, is_valid, requirement: str):
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


_positive_int = _number(int, "whole number", lambda value: value >= 1, "must be at least 1")
_non_negative_int = _number(int, "whole number", lambda value: value >= 0,
                            "must not be negative")
# AUC and accuracy lie in [0, 1]: a floor outside it would bless every model or none.
_fraction = _number(float, "number", lambda value: 0.0 <= value <= 1.0,
                    "is not between 0 and 1 (AUC and accuracy are fractions, e.g. 0.94)")
_non_negative = _number(float, "number", lambda value: 0.0 <= value < float("inf"),
                        "must be a finite number, not negative")


def _span_list(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated span numbers, e.g. `1,2`."""
    try:
        spans = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of span numbers") from None
    if spans[0] < 0:
        raise argparse.ArgumentTypeError(f"{text!r} has a negative span number")
    return tuple(spans)


def _add_dataset_flags(parser) -> None:
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


def _dataset_overrides(args) -> dict:
    """make_config arguments from the flags of _add_dataset_flags."""
    return {"label": args.label, "task": args.task, "schema_path": args.schema,
            "excluded_columns": tuple(args.exclude) if args.exclude else None}


def _add_model_flags(parser) -> None:
    """The Trainer, Evaluator and data gate settings `run` and `compile` share."""
    parser.add_argument("--train-steps", type=_positive_int,
                        help="Trainer steps (default: 200; at most 30 passes over the "
                        "training split)")
    parser.add_argument("--min-auc", type=_fraction,
                        help="Evaluator gate, classification: lowest eval AUC that can be "
                        "blessed, 0 to 1 (default: taxi 0.94, else 0.5)")
    parser.add_argument("--min-accuracy", type=_fraction,
                        help="Evaluator gate, classification: lowest eval accuracy that can "
                        "be blessed (default: taxi 0.88, else none)")
    parser.add_argument("--max-rmse", type=_non_negative, metavar="X",
                        help="Evaluator gate, regression: highest eval RMSE that can be "
                        "blessed (default: none)")
    parser.add_argument("--max-mae", type=_non_negative, metavar="X",
                        help="Evaluator gate, regression: highest eval MAE that can be "
                        "blessed (default: none)")
    parser.add_argument("--max-regression", type=_non_negative, metavar="X",
                        help="Evaluator gate: how much a gated metric may be worse than the "
                        "latest blessed model's (default: 0.0)")
    parser.add_argument("--tolerate", action="append", metavar="RULE",
                        help="let an anomaly warn instead of stop the run: a feature, an "
                        "anomaly type, or FEATURE:TYPE (repeatable)")
    parser.add_argument("--drift-warn", action="store_true",
                        help="let drift between the latest and the previous span warn "
                        "instead of stop the run")


def _model_overrides(args) -> dict:
    """Config overrides from the flags of _add_model_flags (None: keep the default)."""
    return {"train_steps": args.train_steps, "min_auc": args.min_auc,
            "min_accuracy": args.min_accuracy, "max_rmse": args.max_rmse,
            "max_mae": args.max_mae, "max_regression": args.max_regression,
            "tolerated_anomalies": tuple(args.tolerate) if args.tolerate else None,
            "drift_blocks": False if args.drift_warn else None}


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pipeline", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A TFX pipeline for CSV data: validate it, train, evaluate and push a "
        "model,\nthen inspect the runs. `python -m pipeline COMMAND --help` shows a "
        "command's flags.", epilog=_help_epilog())
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                     title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run the pipeline end to end")
    run.add_argument("--data-dir", help="folder of CSV files, or of span-<N>/ folders of them "
                     "(default: data/taxi, prepared from the tfx package when missing)")
    run.add_argument("--output-dir",
                     help="pipeline root, metadata.db and serving/ (default: outputs for the "
                     "taxi data, else outputs/<data folder name>)")
    _add_dataset_flags(run)
    _add_model_flags(run)
    run.add_argument("--training-spans", type=_positive_int, metavar="N",
                     help="train on the latest N spans (default: 1)")
    beam = run.add_argument_group("where Beam runs (see README: Scaling out)")
    beam.add_argument("--beam", choices=PROFILES, dest="beam_profile",
                      help="Beam runner profile (default: in-memory)")
    beam.add_argument("--beam-workers", type=_non_negative_int, metavar="N",
                      help="multi-processing: worker processes, 0 = one per core (default: 0)")
    beam.add_argument("--job-endpoint", metavar="HOST:PORT",
                      help="flink/spark: the job server to submit to")
    beam.add_argument("--beam-environment", metavar="TYPE",
                      help="flink/spark: SDK worker environment, DOCKER, PROCESS, EXTERNAL or "
                      "LOOPBACK (default: DOCKER)")
    beam.add_argument("--beam-environment-config", metavar="CONFIG",
                      help="flink/spark: e.g. the SDK container image for DOCKER")
    beam.add_argument("--dataflow-project", metavar="PROJECT")
    beam.add_argument("--dataflow-region", metavar="REGION")
    beam.add_argument("--temp-location", metavar="URI", help="dataflow: gs:// staging folder")
    run.add_argument("--wait", action="store_true",
                     help="when another run is using the output directory, wait for it "
                     "instead of exiting with code 4")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    run.add_argument("--verbose", action="store_true", help="show TensorFlow/TFX/Beam logs")

    prepare = commands.add_parser(
        "prepare-data", help="write a packaged dataset as CSV: the taxi data from the tfx "
        "package, or a real dataset bundled with scikit-learn")
    prepare.add_argument("--dataset", choices=("taxi", *SAMPLES), default="taxi",
                         help="the dataset (default: taxi)")
    prepare.add_argument("--data-dir", help="destination (default: data/DATASET, with --by "
                         "data/taxi-by-PERIOD)")
    prepare.add_argument("--by", choices=PERIODS, help="taxi only: one span per year, "
                         "quarter or month of trip_start_timestamp, in time order")

    predict = commands.add_parser(
        "predict", help="score a TF Serving REST JSON body or CSV rows with a pushed version")
    predict.add_argument("file", type=Path, help="a .json request body ({\"instances\": "
                         "[...]} or {\"inputs\": {...}}) or a .csv with a header row")
    predict.add_argument("--version", type=_positive_int,
                         help="the version to use (default: the one TF Serving serves: "
                         "the newest, unless `rollback` pinned one)")
    predict.add_argument("--output-dir", help="the runs to read (default: outputs)")
    predict.add_argument("--log-dir", type=Path, metavar="DIR",
                         help="also append the request and its response to DIR as a "
                         "PredictionLog TFRecord file (a refused request is not logged)")

    inspect_cli.add_parsers(commands)
    rollback.add_parser(commands)
    monitor_cli.add_parser(commands)
    replay_cli.add_parser(commands)

    schema_diff = commands.add_parser(
        "schema-diff", help="where the latest run's data does not meet the curated schema, "
        "and what schema-update would change")
    schema_update = commands.add_parser(
        "schema-update", help="take what the latest data needs into the curated schema "
        "(merging; --dry-run previews)")
    choice = schema_update.add_mutually_exclusive_group(required=True)
    choice.add_argument("--feature", action="append", metavar="NAME",
                        help="merge what the latest data needs into this feature's curated "
                        "definition: new domain values, a wider range, optional presence, "
                        "a changed type; a new column is added, a vanished one removed "
                        "(repeatable)")
    choice.add_argument("--all", action="store_true",
                        help="merge every feature schema-diff lists")
    schema_update.add_argument("--replace", action="store_true",
                               help="take SchemaGen's inferred definition as it is instead "
                               "of merging (drops that feature's curation: ranges, "
                               "environments, presence); with --all, the whole inferred "
                               "schema")
    schema_update.add_argument("--dry-run", action="store_true",
                               help="print what would change in the curated file; write "
                               "nothing")
    for command in (schema_diff, schema_update):
        command.add_argument("--output-dir", help="the runs to read (default: outputs)")
        command.add_argument("--json", action="store_true", help="print JSON")

    comp = commands.add_parser(
        "compile", help="write the pipeline as a Kubeflow Pipelines V2 / Vertex AI job spec "
        "(needs the kubeflow extra; reads no data)")
    comp.add_argument("--target", choices=TARGETS, default=TARGETS[0],
                      help="the orchestrator: kubeflow-v2, TFX's KubeflowV2DagRunner (default "
                      "and only choice)")
    comp.add_argument("--pipeline-root", required=True, metavar="URI",
                      help="required, no default (it names your bucket): where the job writes "
                      "its artifacts, e.g. gs://BUCKET/taxi")
    comp.add_argument("--image", required=True,
                      help="required, no default (TFX's own image lacks this project's code): "
                      "the image every task runs, built from deploy/Dockerfile")
    comp.add_argument("--data-uri", metavar="URI",
                      help="folder of span-<N>/ CSV folders (default: PIPELINE_ROOT/data)")
    comp.add_argument("--serving-uri", metavar="URI",
                      help="where the Pusher publishes <model>/<version>/ (default: "
                      "PIPELINE_ROOT/serving)")
    comp.add_argument("--schema-uri", metavar="URI",
                      help=f"the curated schema (default: the image's copy, {IMAGE_SCHEMA_PATH})")
    comp.add_argument("--spans", type=_span_list, metavar="N,N...",
                      help="span numbers under the data URI, fixed in the spec: the latest is "
                      "trained on and, with two or more, checked for drift against the "
                      "previous (default: none; the newest span found when the job runs, no "
                      "drift check)")
    _add_dataset_flags(comp)
    _add_model_flags(comp)
    comp.add_argument("--output", type=Path, metavar="FILE",
                      help=".json: a Vertex AI PipelineJob; .yaml: the PipelineSpec a Kubeflow "
                      "Pipelines cluster takes (default: outputs/kubeflow/taxi_pipeline.json)")
    return parser


def _anomaly_table(rows: list[dict], out) -> None:
    widths = [max([len(title)] + [len(str(row[key])) for row in rows])
              for title, key in (("split", "split"), ("feature", "feature"), ("type", "type"))]
    print(f"  {'split':<{widths[0]}}  {'feature':<{widths[1]}}  {'anomaly type':<{widths[2]}}"
          "  description", file=out)
    for row in rows:
        print(f"  {row['split']:<{widths[0]}}  {row['feature']:<{widths[1]}}  "
              f"{row['type']:<{widths[2]}}  {row['description'].strip()}", file=out)


def _gate_hints(rows: list[dict], summary: dict, cfg) -> list[str]:
    """The ways out of a stopped gate for these blocking rows: `schema-update` for the
    features whose anomaly a schema change accepts, `--drift-warn` or the threshold for
    drift, each row's exact `--tolerate` rule, and the span folder to fix or remove."""
    import shlex

    from pipeline.gate import is_drift, schema_can_accept, tolerate_rule

    lines = ["each row needs one of these ways out:"]
    features = list(dict.fromkeys(row["feature"] for row in rows
                                  if schema_can_accept(row, cfg.label.source_columns)))
    if features:
        lines += [f"- the schema should change ({', '.join(features)}: the data is right; "
                  "add --dry-run to preview):",
                  "    " + _schema_update_command(features, cfg.output_dir)]
    drifted = list(dict.fromkeys(row["feature"] for row in rows if is_drift(row)))
    if drifted:
        thresholds = dict(cfg.drift_thresholds)
        limits = ", ".join(f"{name} {thresholds[name]}" for name in drifted
                           if name in thresholds)
        lines.append("- the drift is expected: run again with --drift-warn, or raise "
                     f"drift_thresholds in pipeline/config.py ({limits})")
    rules = list(dict.fromkeys(tolerate_rule(row) for row in rows))
    lines += ["- let these rows through this time: run again with",
              "    " + " ".join(f"--tolerate {shlex.quote(rule)}" for rule in rules)]
    if cfg.spans and summary["span"] is not None:
        folder = cfg.data_dir / f"span-{summary['span']}"
        lines.append(f"- the data is wrong: fix or remove {folder}, then run again")
    else:
        lines.append(f"- the data is wrong: fix the CSV files in {cfg.data_dir}, then run "
                     "again")
    return lines


def _four(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _print_summary(summary: dict, out, spans: bool = True, cfg=None) -> None:
    """`spans`: the data has span folders (else TFX's span 0 is not worth a mention);
    `cfg`: the run's Config, for the ways out of a stopped gate."""
    rows = ", ".join(f"{split} {count}" for split, count in summary["rows"].items())
    span = f" (span-{summary['span']})" if summary["span"] is not None and spans else ""
    print(f"rows in:    {rows or 'n/a'}{span}", file=out)
    print(f"anomalies:  {len(summary['blocking_anomalies'])} blocking, "
          f"{len(summary['tolerated_anomalies'])} tolerated", file=out)
    if summary["tolerated_anomalies"]:
        _anomaly_table(summary["tolerated_anomalies"], out)
    if not summary["data_passed"]:
        print("data gate:  STOPPED: Transform, Trainer, Evaluator and Pusher did not run",
              file=out)
        _anomaly_table(summary["blocking_anomalies"], out)
        if cfg is not None:
            hints = _gate_hints(summary["blocking_anomalies"], summary, cfg)
            print(f"what now:   {hints[0]}", file=out)
            for line in hints[1:]:
                print(f"            {line}", file=out)
    if summary["training_spans"] and spans:
        trained = ", ".join(f"span-{span}" for span in summary["training_spans"])
        print(f"trained on: {trained}", file=out)
    from pipeline.results import headline_names

    shown = headline_names([summary["metrics"]])
    # None: an AUC that a one-class eval split cannot have (results.slice_metrics).
    metrics = [f"{name} {_four(summary['metrics'][name])}" for name in shown]
    if "example_count" in summary["metrics"]:
        metrics.append(f"example_count {summary['metrics']['example_count']:.0f}")
    print(f"eval:       {'  '.join(metrics) or 'n/a'}", file=out)
    baseline = summary["baseline_metrics"]
    if baseline:
        print("baseline:   " + "  ".join(
            f"{name} {_four(baseline[name])}" for name in shown if name in baseline), file=out)
    print(f"blessed:    {'yes' if summary['blessed'] else 'no'}", file=out)
    for reason in summary["not_blessed_reasons"]:
        print(f"  {reason['message']}", file=out)
    pushed = summary["pushed_path"] if summary["pushed"] else "no"
    if summary["pushed"] and not summary["pushed_new"]:
        pushed += " (published by an earlier run; nothing new)"
    print(f"pushed:     {pushed}", file=out)
    from pipeline.inspection import served_note

    print(f"served:     {served_note(summary)}", file=out)
    check = summary.get("servable_check")
    if check:
        print(f"servable:   yes ({check['warmup_requests']} warm-up and 2 REST requests; "
              f"scores within {check['max_difference']:.1g} of the evaluated model)", file=out)
    print(f"report:     {summary['report']}", file=out)
    print(f"log:        {summary['log']}", file=out)


def _os_error_recovery(error: BaseException, output_dir: Path) -> str | None:
    """The recovery step for a disk that filled up or turned read-only mid-run."""
    from pipeline import workspace

    while error is not None:
        reason = workspace.describe_os_error(error, output_dir)
        if reason:
            return reason
        error = error.__cause__ or error.__context__
    return None


def _dataset_config(args):
    """The run's Config, after checking the data, the label and the schema (inferring
    and saving the schema on a dataset's first run); DataError in one sentence if any
    of them is unusable."""
    from models.features import SchemaError
    from pipeline import data
    from pipeline.config import DEFAULT_DATA_DIR, FLAT_PATTERN, dataset_defaults, make_config

    data_dir = Path(args.data_dir).expanduser().resolve() if args.data_dir else DEFAULT_DATA_DIR
    if args.data_dir is None and not data_dir.is_dir():
        target = data.prepare_default_data(data_dir)
        print(f"prepared the default data: {target}", file=sys.stderr)
    spans = data.check_data_dir(data_dir)
    if args.training_spans and args.training_spans > max(len(spans), 1):
        raise data.DataError(f"--training-spans {args.training_spans} asks for more spans "
                             f"than {data_dir} has ({len(spans)})")
    try:
        defaults = dataset_defaults(data_dir, args.label, args.task)
    except ValueError as error:
        raise data.DataError(str(error)) from None
    _check_gate_flags(args, defaults["label"].task)
    label = defaults["label"]
    csv_files = data.latest_csvs(data_dir, spans)
    if args.label is None:
        data.check_taxi_columns(csv_files[0], label.source_columns)
    data.check_label(csv_files, label.source_columns, None if label.ratio else label.name,
                     label.task)
    schema_path = (Path(args.schema).expanduser().resolve() if args.schema
                   else defaults["schema_path"])
    if args.label and args.schema is None and not schema_path.is_file():
        # Imported here: TFDV imports TensorFlow, which the checks above do not need.
        from pipeline import schema_review
        from pipeline.runner import captured_output

        # TFDV's Beam and TensorFlow start-up lines would bury the progress lines.
        with captured_output(Path(os.devnull), verbose=args.verbose):
            schema_review.bootstrap(csv_files, label, schema_path)
        print(f"inferred a schema from {csv_files[0].parent} and saved it for review: "
              f"{schema_path}", file=sys.stderr)
    overrides = {**_dataset_overrides(args), **_model_overrides(args),
                 **{name: getattr(args, name) for name in (
                     "beam_profile", "beam_workers", "job_endpoint", "beam_environment",
                     "beam_environment_config", "dataflow_project", "dataflow_region",
                     "temp_location")}}
    try:
        cfg = make_config(data_dir=data_dir, spans=spans, output_dir=args.output_dir,
                          training_spans=args.training_spans,
                          input_pattern=None if spans else FLAT_PATTERN, **overrides)
    except SchemaError as error:
        raise data.DataError(f"{error} (schema: {schema_path})") from None
    except FileNotFoundError as error:
        raise data.DataError(f"no schema at {error.filename}; pass --schema FILE") from None
    if cfg.label.num_classes > 2 and args.min_auc is not None:
        raise data.DataError(f"--min-auc gates two-class models; {cfg.label.name!r} has "
                             f"{cfg.label.num_classes} classes, so use --min-accuracy")
    return cfg


def _check_gate_flags(args, task: str) -> None:
    """DataError when a gate flag concerns the other task (it would do nothing)."""
    from pipeline import data

    other = (("--max-rmse", args.max_rmse), ("--max-mae", args.max_mae)) \
        if task == CLASSIFICATION else (("--min-auc", args.min_auc),
                                           ("--min-accuracy", args.min_accuracy))
    given = [flag for flag, value in other if value is not None]
    if given:
        raise data.DataError(f"{' and '.join(given)} gate{'s' if len(given) == 1 else ''} "
                             f"the other task; this is a {task}")
    if task == CLASSIFICATION and args.max_regression is not None and args.max_regression > 1:
        # AUC and accuracy cannot fall by more than 1: the comparison would do nothing.
        raise data.DataError(f"--max-regression {args.max_regression:g} is more than AUC or "
                             "accuracy can fall (at most 1)")


def _run(args) -> int:
    from pipeline import beam, data

    try:
        cfg = _dataset_config(args)
    except data.DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        beam.beam_pipeline_args(cfg)
    except beam.ProfileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    from pipeline import runner, workspace

    progress = sys.stderr if args.json else sys.stdout
    window = ", ".join(f"span-{span}" for span in cfg.training_window) or "its CSV files"
    label = cfg.label.name if cfg.label.ratio else f"{cfg.label.name}, {cfg.label.task}"
    print(f"running pipeline '{cfg.pipeline_name}' on {cfg.data_dir} ({window}; label "
          f"{label}) -> {cfg.output_dir}", file=progress)
    try:
        summary = runner.run(cfg, verbose=args.verbose, progress_to_stderr=args.json,
                             wait=args.wait)
    except workspace.Busy as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BUSY
    except workspace.OutputDirError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except runner.ComponentFailed as error:
        first_line = str(error).strip().splitlines()[0]
        if len(first_line) > 400:  # e.g. TFMA quoting a whole signature map
            first_line = first_line[:400] + " [...]"
        print(f"error: {first_line} (log: {error.log_path})", file=sys.stderr)
        if error.report_path:
            print(f"report: {error.report_path}", file=sys.stderr)
        recovery = _os_error_recovery(error, cfg.output_dir)
        if recovery:
            print(f"error: {recovery}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:  # before the run: the schema or the output folder
        print(f"error: {error.strerror}: {error.filename}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary, sys.stdout, spans=bool(cfg.spans), cfg=cfg)
    return EXIT_OK if summary["data_passed"] else EXIT_DATA_BLOCKED


def _prepare(args) -> int:
    from pipeline import data
    from pipeline.config import DEFAULT_DATA_DIR

    folder = f"{args.dataset}-by-{args.by}" if args.by else args.dataset
    data_dir = (Path(args.data_dir) if args.data_dir
                else DEFAULT_DATA_DIR.parent / folder).expanduser().resolve()
    try:
        if args.by:
            print(data.prepare_by_period(args.dataset, args.by, data_dir))
            return EXIT_OK
        if args.dataset == "taxi":
            print(data.prepare_default_data(data_dir))
            return EXIT_OK
        print(data.prepare_sample(args.dataset, data_dir))
    except (data.DataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    sample = data.SAMPLES[args.dataset]
    print(f"train on it with: python -m pipeline run --data-dir {data_dir} "
          f"--label {sample.label} --task {sample.task}", file=sys.stderr)
    return EXIT_OK


def _workspace_config(output_dir):
    from pipeline import workspace
    from pipeline.config import DEFAULT_OUTPUT_DIR

    return workspace.workspace_config(
        Path(output_dir or DEFAULT_OUTPUT_DIR).expanduser().resolve())


def _schema_review(args, err):
    """The workspace's Config, the curated schema, the latest inferred schema and
    statistics with their paths, or None after a one-line error."""
    from models.features import SchemaError
    from pipeline import schema_review, workspace
    from pipeline.config import load_schema

    try:
        cfg = _workspace_config(args.output_dir)
        inferred, inferred_path = schema_review.latest_inferred_schema(
            cfg.metadata_path, cfg.pipeline_name)
        statistics, statistics_uri = schema_review.latest_statistics(
            cfg.metadata_path, cfg.pipeline_name)
        curated = load_schema(cfg.schema_path)
    except (schema_review.NoInferredSchema, workspace.OutputDirError, SchemaError,
            OSError) as error:
        print(f"error: {error}", file=err)
        return None
    return {"cfg": cfg, "curated": curated, "inferred": inferred,
            "inferred_path": inferred_path, "statistics": statistics,
            "statistics_uri": statistics_uri}


def _schema_update_command(features: list[str], output_dir: Path) -> str:
    """The `schema-update` command line that merges `features`, to copy and paste."""
    import shlex

    from pipeline.config import DEFAULT_OUTPUT_DIR

    words = ["python", "-m", "pipeline", "schema-update"]
    for name in features:
        words += ["--feature", name]
    if Path(output_dir) != DEFAULT_OUTPUT_DIR:
        words += ["--output-dir", str(output_dir)]
    return shlex.join(words)


def _schema_diff(args, out, err) -> int:
    from pipeline import schema_review

    found = _schema_review(args, err)
    if found is None:
        return EXIT_USAGE
    cfg = found["cfg"]
    changes = schema_review.diff(found["curated"], found["statistics"], found["inferred"])
    mergeable = [name for name, change in changes.items() if change["changes"]]
    command = _schema_update_command(mergeable, cfg.output_dir) if mergeable else None
    if args.json:
        print(json.dumps({"curated": str(cfg.schema_path),
                          "statistics": found["statistics_uri"],
                          "inferred": found["inferred_path"], "changes": changes,
                          "update_command": command}, indent=2), file=out)
        return EXIT_OK
    print(f"curated:    {cfg.schema_path}\nstatistics: {found['statistics_uri']} (the "
          "latest run's data)", file=out)
    if not changes:
        print("no differences: the latest data meets the curated schema", file=out)
    for name, change in changes.items():
        print(f"\n{name}", file=out)
        for anomaly in change["anomalies"]:
            print(f"  {anomaly['type']} ({', '.join(anomaly['splits'])}): "
                  f"{anomaly['description']}", file=out)
        if change["changes"]:
            print(f"  schema-update --feature {name} would change:", file=out)
            for line in change["changes"]:
                print(f"    {line}", file=out)
        else:
            print("  no feature's definition can accept this; fix the data", file=out)
    if command:
        print(f"\nTake these changes into the curated schema (add --dry-run to preview):"
              f"\n  {command}", file=out)
    return EXIT_OK


def _schema_update(args, out, err) -> int:
    import difflib

    from pipeline import schema_review

    found = _schema_review(args, err)
    if found is None:
        return EXIT_USAGE
    cfg, curated, statistics = found["cfg"], found["curated"], found["statistics"]
    features = None if args.all else args.feature
    try:
        updated = schema_review.update(curated, found["inferred"], statistics, features,
                                       replace=args.replace)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=err)
        return EXIT_USAGE
    changed = updated != curated
    before = cfg.schema_path.read_text(encoding="utf-8")
    lines = list(difflib.unified_diff(
        before.splitlines(), schema_review.curated_text(updated, cfg.schema_path).splitlines(),
        str(cfg.schema_path), f"{cfg.schema_path} (updated)", lineterm="")) if changed else []
    if changed and not args.dry_run:
        schema_review.write_curated(updated, cfg.schema_path)
    # What the data still does not meet: only when a change was not enough (a
    # dataset-level constraint), or the feature was not asked for.
    left = sorted(name for name in schema_review.anomalies(updated, statistics)
                  if features is None or name in features)
    taken = "every feature the data does not meet" if args.all else ", ".join(args.feature)
    if args.json:
        print(json.dumps({"curated": str(cfg.schema_path),
                          "statistics": found["statistics_uri"],
                          "inferred": found["inferred_path"],
                          "updated": features, "replace": args.replace,
                          "dry_run": args.dry_run, "changed": changed, "diff": lines,
                          "still_not_met": left}, indent=2), file=out)
        return EXIT_OK
    for line in lines:
        print(line, file=out)
    if not changed:
        print(f"no change: the latest data already meets the curated definition of "
              f"{taken}", file=out)
    elif args.dry_run:
        print(f"dry run: nothing written to {cfg.schema_path}", file=out)
    else:
        how = "replaced by the inferred definition" if args.replace else "merged"
        print(f"updated {cfg.schema_path}: {taken} {how} from the latest data "
              f"({found['statistics_uri']})", file=out)
    if left:
        print(f"note: the latest data still does not meet {', '.join(left)}: see "
              "python -m pipeline schema-diff", file=out)
    return EXIT_OK


def _model_elsewhere(path: Path, names, cfg) -> Path | None:
    """Another output directory than `cfg`'s with a model for the data `path` belongs
    to (or, with `names`, for those columns), for predict's errors; None: none found."""
    from pipeline import workspace
    from pipeline.config import DEFAULT_OUTPUT_DIR

    found = [directory for directory in workspace.model_dirs_for(
        path, names, [DEFAULT_OUTPUT_DIR, cfg.output_dir.parent])
        if directory != cfg.output_dir]
    return found[0] if found else None


def _csv_columns(path: Path) -> set[str] | None:
    """The column names of a CSV file's header (None: not a CSV file that can be read)."""
    import csv

    if path.suffix.lower() != ".csv":
        return None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return set(next(csv.reader(handle), []))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def _answer_note(label) -> str:
    """What the numbers of a predict answer are (the answer itself keeps TF Serving's
    format): for a classifier, which class each probability is."""
    from models.signatures import output_name

    output = output_name(label.task)
    if label.task != CLASSIFICATION:
        return f"{output}: the predicted {label.name}"
    if label.num_classes > 2:
        return (f"{output}: one column per class of {label.name}, in the order "
                f"{', '.join(label.classes)}")
    meaning = ""
    if label.ratio:
        meaning = (f"; {label.name} is {label.classes[1]} when {label.ratio.numerator} > "
                   f"{label.ratio.threshold:g} x {label.ratio.denominator}")
    return (f"{output}: P({label.name} = {label.classes[1]}), per row (the other class: "
            f"{label.classes[0]}){meaning}")


def _predict(args, out, err) -> int:
    """Prints what TF Serving's REST `:predict` would answer, as JSON, and on stderr
    what its numbers are."""
    from models.features import SchemaError
    from models.signatures import input_name
    from pipeline import serving, workspace

    try:
        cfg = _workspace_config(args.output_dir)
    except (workspace.OutputDirError, SchemaError, OSError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    available = serving.versions(cfg.model_serving_dir)
    if not available:
        elsewhere = _model_elsewhere(args.file, _csv_columns(args.file), cfg)
        print(f"error: no pushed model in {cfg.model_serving_dir}: " + (
            f"{elsewhere} holds one for this data, pass --output-dir {elsewhere}"
            if elsewhere else "run the pipeline first"), file=err)
        return EXIT_USAGE
    try:
        # Without --version, the version TF Serving would answer with (a rollback may
        # have pinned an older one).
        served = serving.served_version(available, serving.pinned_versions(
            serving.models_config_path(cfg.model_serving_dir), cfg.model_name))
    except serving.ModelsConfigError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    version = args.version or served or available[-1]
    if version not in available:
        print(f"error: no version {version} in {cfg.model_serving_dir} (pushed: "
              f"{', '.join(map(str, available))})", file=err)
        return EXIT_USAGE
    version_dir = cfg.model_serving_dir / str(version)
    if args.file.is_dir():
        elsewhere = _model_elsewhere(args.file, None, cfg)
        hint = f" ({elsewhere} holds a model for it: pass --output-dir {elsewhere})" \
            if elsewhere else ""
        print(f"error: {args.file} is a folder; give one of its CSV files or a JSON "
              f"request body{hint}", file=err)
        return EXIT_USAGE
    # The model's inputs by input name, with the CSV column each comes from.
    columns = {input_name(column): column for column in cfg.inputs.features}
    renamed = {}
    try:
        inputs = serving.signature_inputs(version_dir, serving.JSON_SIGNATURE)
        if args.file.suffix.lower() == ".csv":
            body = {"instances": serving.csv_instances(args.file, inputs, columns)}
        else:
            body, renamed = serving.rename_request(
                json.loads(args.file.read_text(encoding="utf-8")), inputs)
        import tensorflow as tf

        model = tf.saved_model.load(str(version_dir), tags=["serve"])
        answer = serving.predict_json(model, inputs, body, columns)
        if args.log_dir:
            from pipeline import serving_logs

            serving_logs.append(args.log_dir.expanduser(), version_dir, body, answer)
    except OSError as error:
        print(f"error: {error.strerror}: {error.filename}", file=err)
        return EXIT_USAGE
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        print(f"error: {args.file} is not a JSON request body: {error}", file=err)
        return EXIT_USAGE
    except serving.MissingInputs as error:
        elsewhere = _model_elsewhere(args.file, error.given, cfg)
        if elsewhere:
            print(f"error: {args.file} lacks {len(error.missing)} of the {len(inputs)} "
                  f"inputs of the model in {cfg.output_dir}; {elsewhere} holds a model for "
                  f"this data: pass --output-dir {elsewhere}", file=err)
        else:
            print(f"error: {error}; if another run trained on this data, pass its "
                  "--output-dir", file=err)
        return EXIT_USAGE
    except serving.RequestError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    print(json.dumps(answer), file=out)
    if renamed:
        print("note: TF Serving itself takes the input names: " + ", ".join(
            f"{name} for {key!r}" for key, name in renamed.items()), file=err)
    print(_answer_note(cfg.label), file=err)
    return EXIT_OK


def _compile(args, out, err) -> int:
    from models.features import SchemaError
    from pipeline import compile as compiler

    output = (args.output or DEFAULT_OUTPUT).expanduser().resolve()
    if args.label and not (args.schema and args.schema_uri):
        print("error: compile --label needs --schema FILE, the dataset's reviewed schema the "
              "model's inputs are derived from (a local run infers one next to the data), and "
              "--schema-uri, where the job reads it", file=err)
        return EXIT_USAGE
    try:
        cfg = compiler.kubeflow_config(
            args.pipeline_root, data_uri=args.data_uri, serving_uri=args.serving_uri,
            schema_uri=args.schema_uri, spans=args.spans, **_dataset_overrides(args),
            **_model_overrides(args))
        job = compiler.compile_kubeflow_v2(cfg, args.image, output)
    except (compiler.CompileError, SchemaError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    except FileNotFoundError as error:
        print(f"error: no schema at {error.filename}", file=err)
        return EXIT_USAGE
    except ImportError as error:
        print(f"error: compile needs the kubeflow extra (pip install '.[kubeflow]'): {error}",
              file=err)
        return EXIT_USAGE
    except OSError as error:
        print(f"error: cannot write {output}: {error.strerror or error}", file=err)
        return EXIT_USAGE
    except (ValueError, TypeError, NotImplementedError) as error:
        print(f"error: TFX's Kubeflow V2 compiler refused the pipeline: "
              f"{str(error).strip().splitlines()[0]}", file=err)
        return EXIT_FAILED
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    data = (f"{cfg.data_location} (span-{cfg.latest_span})" if cfg.spans
            else f"{cfg.data_location} (the newest span-<N>/ when the job runs)")
    print(f"wrote {output}: pipeline '{cfg.pipeline_name}', {len(tasks)} tasks", file=out)
    print(f"  image:         {args.image}", file=out)
    root_note = ("" if output.suffix == ".json"
                 else " (not in a .yaml PipelineSpec: give it when submitting)")
    print(f"  pipeline root: {cfg.pipeline_root_location}{root_note}", file=out)
    print(f"  data:          {data}", file=out)
    print(f"  schema:        {cfg.schema_location}", file=out)
    print(f"  serving:       {cfg.model_serving_location}", file=out)
    if "://" in cfg.model_serving_location:
        print("note: the Pusher publishes with local file operations, so this serving "
              "location fails at run time; see README (Kubeflow Pipelines / Vertex AI)",
              file=out)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        quiet = {"schema-diff": _schema_diff, "schema-update": _schema_update,
                 "predict": _predict, "compile": _compile, "rollback": rollback.main,
                 "monitor": monitor_cli.main, "replay": replay_cli.main,
                 **dict.fromkeys(inspect_cli.COMMANDS, inspect_cli.main)}
        if args.command in quiet:
            from pipeline.runner import captured_output

            # TensorFlow's start-up lines would bury the answer: send fds 1 and 2 away.
            with captured_output(Path(os.devnull), verbose=False) as streams:
                return quiet[args.command](args, *streams)
        return {"run": _run, "prepare-data": _prepare}[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (say `| head`) stopped reading: nothing is wrong with the command.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
