"""The command line's exit codes, and what each means: the one list every command
returns from and `python -m pipeline --help` prints. Imports nothing."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DATA_BLOCKED, EXIT_BUSY = 0, 1, 2, 3, 4
EXIT_MONITOR_ALERT = 5
# deploy: the run's model was not blessed, so nothing was deployed (the Evaluator's gate
# held, which `make cd` and scripts must tell apart from a failure).
EXIT_NOT_BLESSED = 6
EXIT_INTERRUPTED = 130  # the shell's code for a process ended by SIGINT (Ctrl-C)

EXIT_CODES = (
    (EXIT_OK, "done; for run: the run finished, whether or not the Evaluator let the "
     "model be pushed"),
    (EXIT_FAILED, "run: a component failed (one line with the reason and the log's path); "
     "compile: TFX's compiler refused the pipeline"),
    (EXIT_USAGE, "bad usage or unusable input data (one line)"),
    (EXIT_DATA_BLOCKED, "run: the data gate stopped the run on anomalies or drift that are "
     "not tolerated (a table, then the ways out); nothing was trained or pushed; deploy: "
     "the run's data gate stopped it, nothing deployed"),
    (EXIT_BUSY, "run, rollback: another run is using the output directory (see --wait)"),
    (EXIT_MONITOR_ALERT, "monitor: the served model decayed on the span, or the span's "
     "data or the model's predictions on it drifted (verdict `decayed` or `drifted`)"),
    (EXIT_NOT_BLESSED, "deploy: the run's model was not blessed (the reasons on stderr); "
     "nothing deployed"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)

LATEST = "latest"


def version_or_latest(text: str):
    """An argparse type for commands that name a pushed version: a version number, or
    `latest`."""
    import argparse

    if text == LATEST:
        return LATEST
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r} is neither a version number nor 'latest'")
