"""Replaying a folder of time-ordered spans as if each had just arrived: judge the
served model on it (`monitoring.monitor`), then, by policy, run the pipeline on the
training window ending at it or keep the served model.

The spans arrive in a staging folder, `<output>/replay/data/`, one span folder
(a link to the source's) at a time, with the source's `periods.json`: the pipeline
run on it is the ordinary `run` (`pipeline.run_cli`), so it trains on the latest
`--training-spans` spans there, checks drift against the previous span, gates on
the data and pushes only a model the Evaluator blessed, exactly as a scheduled run
would.

The rules are small pure functions: `should_train` (the policy), `action` (what a
run's summary says happened), `entry` (one timeline row) and `table` (the timeline
as text). `replay` plays the spans; pipeline/replay_cli.py is the command and
pipeline/replay_report.py its HTML page.
"""

import contextlib
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

# The actions, `action` (what a run's summary says a step did) and `headline` (the
# metric a timeline is read by) are inspection's: the run report reads the same steps
# back from ML Metadata (`inspection.served_history`). Imported as replay's own names.
from pipeline import safe_files
from pipeline.inspection import ACTIONS as ACTIONS
from pipeline.inspection import DATA_STOPPED as DATA_STOPPED
from pipeline.inspection import KEPT, TRAINED_PUSHED
from pipeline.inspection import NOT_BLESSED as NOT_BLESSED
from pipeline.inspection import step_action as action
from pipeline.inspection import timeline_metric as headline
from pipeline.periods import PERIODS_FILE, span_name, span_periods

ON_DECAY, EVERY_SPAN = "on-decay", "every-span"
POLICIES = (ON_DECAY, EVERY_SPAN)
# The verdict of a span that arrives while no model is served.
NO_MODEL = "no-model"


class ReplayError(ValueError):
    """Replay cannot start or go on; the message is one sentence for the user, `code`
    the exit code (pipeline/exit_codes.py): 2 bad input, or a failed run's own."""

    def __init__(self, message: str, code: int | None = None):
        from pipeline.exit_codes import EXIT_USAGE

        super().__init__(message)
        self.code = EXIT_USAGE if code is None else code


# ---------------------------------------------------------------- rules


def should_train(policy: str, verdict: str) -> bool:
    """Whether to run the pipeline after the served model was judged on a span:
    always with no served model; with `every-span`, after every span; with
    `on-decay`, only when the model decayed on it (drift alone, which says nothing of
    the model's quality, does not retrain)."""
    if verdict == NO_MODEL or policy == EVERY_SPAN:
        return True
    if policy == ON_DECAY:
        from pipeline.monitoring import DECAYED

        return verdict == DECAYED
    raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")


def entry(span: int, period: str | None, judged: dict | None, step_action: str,
          served_after: int | None, run: dict | None = None, seconds: float = 0.0) -> dict:
    """One timeline row: the span and its period, the verdict on it (`no-model` when
    nothing was served: `judged` None), the served version judged and its metrics
    there (before the action), the action, the version served after the step, and
    the run's id and metrics (the new model's, on its eval split) when there was one."""
    return {
        "span": span,
        "period": period,
        "verdict": judged["verdict"] if judged else NO_MODEL,
        "served_before": judged["served_version"] if judged else None,
        "metrics": judged["metrics"] if judged else {},
        "monitor": judged.get("name") if judged else None,
        "action": step_action,
        "served_version": served_after,
        "run_id": run.get("run_id") if run else None,
        "run_metrics": run.get("metrics", {}) if run else {},
        "seconds": round(seconds, 1),
    }


def _value(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def table(timeline: list[dict]) -> list[str]:
    """The timeline as text lines: span (period), the served model's headline metric
    on it before the action, the verdict, the action and the version served after."""
    metric = headline(timeline) or "metric"
    rows = [("span", f"{metric} (served)", "verdict", "action", "served after")]
    for row in timeline:
        name = span_name(row["span"], {row["span"]: row["period"]} if row["period"] else {})
        served = row["served_before"]
        value = row["metrics"].get(metric)
        shown = f"{_value(value)} (v{served})" if served is not None else "-"
        rows.append((name, shown, row["verdict"], row["action"],
                     "-" if row["served_version"] is None else str(row["served_version"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def totals(timeline: list[dict]) -> dict:
    """How many runs, retrains that pushed, and the seconds the replay took."""
    return {"runs": sum(row["action"] != KEPT for row in timeline),
            "pushes": sum(row["action"] == TRAINED_PUSHED for row in timeline),
            "seconds": round(sum(row["seconds"] for row in timeline), 1)}


# ---------------------------------------------------------------- playing


def stage(source: Path, staging: Path, span: int) -> None:
    """Makes span `span` of `source` arrive in `staging`: a link to its folder, and
    the source's periods file."""
    staging.mkdir(parents=True, exist_ok=True)
    link = staging / f"span-{span}"
    if not link.exists():
        os.symlink((source / f"span-{span}").resolve(), link, target_is_directory=True)
    periods = source / PERIODS_FILE
    if periods.is_file():
        safe_files.write_text(staging / PERIODS_FILE, periods.read_text(encoding="utf-8"))


def _run_parser():
    """run's own parser, as `python -m pipeline run` uses it."""
    import argparse

    from pipeline import run_cli

    parser = argparse.ArgumentParser(prog="python -m pipeline")
    run_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser


def excluded_columns(run_args: list[str]) -> tuple[str, ...]:
    """The columns `run_args` give to `--exclude`: they are not features, so the data
    check lets their cells be anything, as run's own check does. () when run_args do
    not parse (the first run refuses them in its own words)."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            args = _run_parser().parse_args(["run", *run_args])
        except SystemExit:
            return ()
    return tuple(args.exclude or ())


def run_pipeline(staging: Path, output_dir: Path, training_spans: int,
                 run_args: list[str]) -> tuple[int, dict | None, str]:
    """`python -m pipeline run --json` on the staged spans, in this process: (exit
    code, the summary when it printed one, what it printed on stderr)."""
    from pipeline import run_cli

    parser = _run_parser()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser.parse_args(["run", "--data-dir", str(staging), "--output-dir",
                                      str(output_dir), "--training-spans",
                                      str(training_spans), "--json", *run_args])
            code = run_cli.main(args, out, err)
        except SystemExit as stop:  # argparse refusing a flag of run_args
            code = stop.code
    text = out.getvalue().strip()
    return code, json.loads(text) if text else None, err.getvalue()


def _judge(output_dir: Path, staging: Path, span: int, max_decay: float | None
           ) -> dict | None:
    """The served model judged on the span (recorded like `monitor`), or None when no
    model is served yet."""
    from pipeline import metadata, monitoring, workspace

    cfg = workspace.workspace_config(output_dir)
    if not cfg.locations.metadata_path.exists():
        return None
    store = metadata.open_store(cfg.locations.metadata_path)
    try:
        monitoring.served_model(store)
    except monitoring.MonitorError:
        return None
    try:
        return monitoring.monitor(cfg, store, data_dir=staging, span=span,
                                  max_decay=max_decay)
    except monitoring.MonitorError as error:
        raise ReplayError(f"span-{span}: {error}") from None


def replay(data_dir: Path, output_dir: Path, policy: str = ON_DECAY,
           training_spans: int = 1, max_decay: float | None = None,
           run_args: list[str] = (),
           progress: Callable[[dict], None] | None = None) -> dict:
    """Plays every span of `data_dir` in order into a fresh `output_dir` and returns
    the result: policy, training_spans, data_dir, output_dir, timeline (`entry` per
    span), metric (`headline`), runs, pushes and seconds (`totals`). `progress` is
    called with each timeline row as it is made. ReplayError when the data cannot be
    replayed, the output directory was used before, or a run fails."""
    from pipeline import data

    try:
        spans = data.check_data_dir(data_dir, excluded_columns(list(run_args)))
    except data.DataError as error:
        raise ReplayError(str(error)) from None
    if len(spans) < 2:
        raise ReplayError(f"{data_dir} has {len(spans)} span-<N>/ folder"
                          f"{'' if len(spans) == 1 else 's'}; replay needs two or more")
    if output_dir.exists() and any(output_dir.iterdir()):
        raise ReplayError(f"{output_dir} is not empty; replay starts with no served model: "
                          "pass a new --output-dir")
    staging = output_dir / "replay" / "data"
    periods = span_periods(data_dir)
    timeline = []
    for span in spans:
        started = time.monotonic()
        stage(data_dir, staging, span)
        judged = _judge(output_dir, staging, span, max_decay)
        served = judged["served_version"] if judged else None
        summary = None
        if should_train(policy, judged["verdict"] if judged else NO_MODEL):
            code, summary, err = run_pipeline(staging, output_dir, training_spans,
                                              list(run_args))
            if summary is None:
                last = (err.strip().splitlines() or ["no output"])[-1]
                raise ReplayError(f"the run on span-{span} failed (exit {code}): {last}",
                                  code)
            served = summary["served_version"]
        row = entry(span, periods.get(span), judged, action(summary), served, summary,
                    time.monotonic() - started)
        timeline.append(row)
        if progress:
            progress(row)
    return {"policy": policy, "training_spans": training_spans, "data_dir": str(data_dir),
            "output_dir": str(output_dir), "metric": headline(timeline),
            "timeline": timeline, **totals(timeline)}
