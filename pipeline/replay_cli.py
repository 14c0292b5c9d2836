"""The `replay` command: plays the spans of a data folder in order as if each had just
arrived, judging the served model on each and retraining by policy
(pipeline/replay.py does the work), prints the timeline as a table or `--json`, and
writes the replay's HTML page (pipeline/replay_report.py). Exit code 0 when every span
was played, 2 bad input, or the code of a pipeline run that failed."""

import json
import shlex
from pathlib import Path

# Flags replay sets on every run itself.
_OWN_RUN_FLAGS = ("--data-dir", "--output-dir", "--training-spans", "--json")


def _positive(text: str) -> int:
    import argparse

    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def add_parser(commands) -> None:
    from pipeline.flags import non_negative
    from pipeline.replay import ON_DECAY, POLICIES

    parser = commands.add_parser(
        "replay", help="play a folder's spans in order as if each had just arrived: "
        "monitor the served model on each, retrain by policy; print the timeline")
    parser.add_argument("--data-dir", required=True,
                        help="folder of span-<N>/ CSV folders in time order (e.g. "
                        "prepare-data --by year)")
    parser.add_argument("--output-dir", help="a new or empty folder for the runs and "
                        "serving/ (default: outputs/replay-<data folder>-<policy>)")
    parser.add_argument("--policy", choices=POLICIES, default=ON_DECAY,
                        help="when to run the pipeline after a span was judged: when the "
                        "served model decayed on it, or after every span (default: "
                        f"{ON_DECAY}); a span arriving with no model served always trains")
    parser.add_argument("--training-spans", type=_positive, default=1, metavar="N",
                        help="each run trains on the latest N spans that arrived "
                        "(default: 1)")
    parser.add_argument("--max-decay", type=non_negative, metavar="X",
                        help="as for monitor (default: the config's)")
    parser.add_argument("--run-args", default="", metavar="'FLAGS'",
                        help="more flags for every run, in one quoted string, e.g. "
                        "'--train-steps 500 --min-auc 0.8' (one flag alone: "
                        "--run-args=--drift-warn)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON "
                        "object")


def main(args, out, err) -> int:
    """Runs `replay`: 0 when every span was played."""
    from pipeline import replay, replay_report, safe_files
    from pipeline.config import DEFAULT_OUTPUT_DIR
    from pipeline.exit_codes import EXIT_OK, EXIT_USAGE

    data_dir = Path(args.data_dir).expanduser().resolve()
    output_dir = Path(args.output_dir or DEFAULT_OUTPUT_DIR
                      / f"replay-{data_dir.name}-{args.policy}").expanduser().resolve()
    try:
        run_args = shlex.split(args.run_args)
    except ValueError as error:
        print(f"error: --run-args cannot be split: {error}", file=err)
        return EXIT_USAGE
    own = [flag for flag in run_args if flag.split("=")[0] in _OWN_RUN_FLAGS]
    if own:
        print(f"error: --run-args cannot set {own[0]}: replay sets it on every run",
              file=err)
        return EXIT_USAGE

    def progress(row: dict) -> None:
        if not args.json:
            print(f"span-{row['span']}: {row['verdict']}, {row['action']} "
                  f"({row['seconds']:.0f} s)", file=err, flush=True)

    try:
        result = replay.replay(data_dir, output_dir, args.policy, args.training_spans,
                               args.max_decay, run_args, progress)
    except replay.ReplayError as error:
        print(f"error: {error}", file=err)
        return error.code
    except OSError as error:
        print(f"error: {error.strerror or error}: {error.filename}", file=err)
        return EXIT_USAGE
    folder = output_dir / "replay"
    result["report"] = str(replay_report.write(result, folder))
    safe_files.write_text(folder / "timeline.json", json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2), file=out)
        return EXIT_OK
    print(f"replay of {data_dir} ({args.policy}, training on the latest "
          f"{args.training_spans} span{'s' if args.training_spans > 1 else ''}) into "
          f"{output_dir}", file=out)
    for line in replay.table(result["timeline"]):
        print(f"  {line}", file=out)
    print(f"runs: {result['runs']}, pushes: {result['pushes']}, "
          f"{result['seconds']:.0f} s", file=out)
    print(f"report: {result['report']}", file=out)
    return EXIT_OK
