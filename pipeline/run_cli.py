"""The `run` command: checks the data, the label and the flags, runs the pipeline
(`pipeline.runner`) and prints its summary (`pipeline.summary`) or one line saying why
it could not."""

import json
from pathlib import Path

from pipeline.beam import PROFILES
from pipeline.exit_codes import (
    EXIT_BUSY,
    EXIT_DATA_BLOCKED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
)
from pipeline.flags import add_dataset_flags, add_model_flags, non_negative_int, positive_int
from pipeline.scale import DEFAULT_MAX_EVAL_ROWS


def add_parser(commands) -> None:
    run = commands.add_parser("run", help="run the pipeline end to end")
    run.add_argument("--data-dir", help="folder of CSV files, or of span-<N>/ folders of them, "
                     "a path or a file:// or gs:// URI (default: data/taxi, prepared from "
                     "the tfx package when missing)")
    run.add_argument("--output-dir",
                     help="pipeline root, metadata.db and serving/ (default: outputs for the "
                     "taxi data, else outputs/<data folder name>); a file:// or gs:// URI "
                     "keeps metadata.db, the lock and the logs in a local folder "
                     "(README: Scaling out)")
    run.add_argument("--serving-dir", metavar="DIR",
                     help="where the Pusher publishes <model>/<version>/ and models.config, "
                     "a path or URI (default: serving/ in the output directory)")
    add_dataset_flags(run)
    add_model_flags(run)
    run.add_argument("--training-spans", type=positive_int, metavar="N",
                     help="train on the latest N spans (default: 1)")
    run.add_argument("--max-eval-rows", type=non_negative_int, metavar="N",
                     help="cap the eval split at about N rows, the rest trains (default: "
                     f"{DEFAULT_MAX_EVAL_ROWS:,}; 0: a fifth of the rows, however many; "
                     "README: Large data)")
    beam = run.add_argument_group("where Beam runs (see README: Scaling out)")
    # No argparse choices: a profile name of an earlier version (flink, spark) gets one
    # sentence naming its replacement (pipeline/beam.py), not a usage dump.
    beam.add_argument("--beam", metavar="PROFILE", dest="beam_profile",
                      help=f"Beam runner profile: {', '.join(PROFILES)} (default: chosen by "
                      "the data's size, README: Large data)")
    beam.add_argument("--beam-workers", type=non_negative_int, metavar="N",
                      help="multi-processing: worker processes, 0 = one per core (default: 0)")
    beam.add_argument("--job-endpoint", metavar="HOST:PORT",
                      help="portable: the job server to submit to")
    beam.add_argument("--beam-environment", metavar="TYPE",
                      help="portable: SDK worker environment, DOCKER, PROCESS, EXTERNAL or "
                      "LOOPBACK (default: DOCKER)")
    beam.add_argument("--beam-environment-config", metavar="CONFIG",
                      help="portable: e.g. the SDK container image for DOCKER, or "
                      "HOST:PORT of the worker pool for EXTERNAL")
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


def main(args, out, err) -> int:
    """Runs the pipeline; the exit code says how it ended (pipeline/exit_codes.py)."""
    from pipeline import beam, data
    from pipeline.config import validated_config

    try:
        cfg = validated_config(args, log=err)
    except data.DataError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    try:
        beam.beam_pipeline_args(cfg)
    except beam.ProfileError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    from pipeline import runner, scale, workspace
    from pipeline.summary import print_summary

    progress = err if args.json else out
    window = ", ".join(f"span-{span}" for span in cfg.training_window) or "its CSV files"
    label = cfg.label.name if cfg.label.ratio else f"{cfg.label.name}, {cfg.label.task}"
    print(f"running pipeline '{cfg.pipeline_name}' on {cfg.locations.data_dir} ({window}; label "
          f"{label}) -> {cfg.locations.output_uri or cfg.locations.output_dir}", file=progress)
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
        recovery = _os_error_recovery(error, cfg.locations.output_dir)
        if recovery:
            print(f"error: {recovery}", file=err)
        return EXIT_FAILED
    except OSError as error:  # before the run: the schema or the output folder
        print(f"error: {error.strerror}: {error.filename}", file=err)
        return EXIT_USAGE
    summary["scale"] = scale.describe(cfg)
    if args.json:
        print(json.dumps(summary, indent=2), file=out)
    else:
        print_summary(summary, out, spans=bool(cfg.spans), cfg=cfg)
    return EXIT_OK if summary["data_passed"] else EXIT_DATA_BLOCKED
