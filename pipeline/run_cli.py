"""The `run` command: checks the data, the label and the flags, runs the pipeline
(`pipeline.runner`) and prints its summary (`pipeline.summary`) or one line saying why
it could not."""

import json
import os
import sys
from pathlib import Path

from models.features import CLASSIFICATION
from pipeline.beam import PROFILES
from pipeline.exit_codes import (
    EXIT_BUSY,
    EXIT_DATA_BLOCKED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
)
from pipeline.flags import (
    add_dataset_flags,
    add_model_flags,
    dataset_overrides,
    model_overrides,
    non_negative_int,
    positive_int,
)


def add_parser(commands) -> None:
    run = commands.add_parser("run", help="run the pipeline end to end")
    run.add_argument("--data-dir", help="folder of CSV files, or of span-<N>/ folders of them "
                     "(default: data/taxi, prepared from the tfx package when missing)")
    run.add_argument("--output-dir",
                     help="pipeline root, metadata.db and serving/ (default: outputs for the "
                     "taxi data, else outputs/<data folder name>)")
    add_dataset_flags(run)
    add_model_flags(run)
    run.add_argument("--training-spans", type=positive_int, metavar="N",
                     help="train on the latest N spans (default: 1)")
    beam = run.add_argument_group("where Beam runs (see README: Scaling out)")
    beam.add_argument("--beam", choices=PROFILES, dest="beam_profile",
                      help="Beam runner profile (default: in-memory)")
    beam.add_argument("--beam-workers", type=non_negative_int, metavar="N",
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
    overrides = {**dataset_overrides(args), **model_overrides(args),
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


def main(args, out, err) -> int:
    """Runs the pipeline; the exit code says how it ended (pipeline/exit_codes.py)."""
    from pipeline import beam, data

    try:
        cfg = _dataset_config(args)
    except data.DataError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    try:
        beam.beam_pipeline_args(cfg)
    except beam.ProfileError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    from pipeline import runner, workspace
    from pipeline.summary import print_summary

    progress = err if args.json else out
    window = ", ".join(f"span-{span}" for span in cfg.training_window) or "its CSV files"
    label = cfg.label.name if cfg.label.ratio else f"{cfg.label.name}, {cfg.label.task}"
    print(f"running pipeline '{cfg.pipeline_name}' on {cfg.data_dir} ({window}; label "
          f"{label}) -> {cfg.output_dir}", file=progress)
    try:
        summary = runner.run(cfg, verbose=args.verbose, progress_to_stderr=args.json,
                             wait=args.wait)
    except workspace.Busy as error:
        print(f"error: {error}", file=err)
        return EXIT_BUSY
    except workspace.OutputDirError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    except runner.ComponentFailed as error:
        first_line = str(error).strip().splitlines()[0]
        if len(first_line) > 400:  # e.g. TFMA quoting a whole signature map
            first_line = first_line[:400] + " [...]"
        print(f"error: {first_line} (log: {error.log_path})", file=err)
        if error.report_path:
            print(f"report: {error.report_path}", file=err)
        recovery = _os_error_recovery(error, cfg.output_dir)
        if recovery:
            print(f"error: {recovery}", file=err)
        return EXIT_FAILED
    except OSError as error:  # before the run: the schema or the output folder
        print(f"error: {error.strerror}: {error.filename}", file=err)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(summary, indent=2), file=out)
    else:
        print_summary(summary, out, spans=bool(cfg.spans), cfg=cfg)
    return EXIT_OK if summary["data_passed"] else EXIT_DATA_BLOCKED
