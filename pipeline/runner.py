"""Runs the pipeline with LocalDagRunner: quiet logs, one progress line per component,
and a summary of the run read back from ML Metadata."""

import dataclasses
import datetime
import hashlib
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from pipeline import (
    artifact_files,
    beam_construction,
    metadata,
    quiet,
    safe_files,
    serving,
    workspace,
)
from pipeline.config import Config

_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."


class ComponentFailed(Exception):
    def __init__(self, node_id: str | None, error: BaseException, log_path: Path,
                 report_path: Path | None = None):
        super().__init__(f"{node_id or 'the pipeline'} failed: {type(error).__name__}: {error}")
        self.log_path = log_path
        self.report_path = report_path


def _write_report(cfg: Config) -> Path | None:
    """The newest run's HTML report; None when not even that can be read (a failing
    disk, a run that failed before ML Metadata recorded it)."""
    from pipeline import inspection, report

    try:
        store = metadata.open_store(cfg.locations.metadata_path)
        run_id = metadata.latest_run_id(store)
        return report.write(inspection.run_details(store, run_id), cfg.locations.report_dir) \
            if run_id else None
    except Exception:  # the run's own error is the one to report
        traceback.print_exc()
        return None


class _Progress(logging.Handler):
    """Turns LocalDagRunner's per-component log records into progress lines."""

    def __init__(self, cfg: Config, out):
        super().__init__(logging.INFO)
        self.cfg, self.out = cfg, out
        self.current: str | None = None
        self.started = 0.0
        self.components: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg not in (_RUNNING, _FINISHED) or not record.args:
            return
        node_id = str(record.args[0])
        if record.msg == _RUNNING:
            self.current, self.started = node_id, time.monotonic()
            return
        seconds = time.monotonic() - self.started
        store = metadata.open_store(self.cfg.locations.metadata_path)
        # The run being executed is the newest: its context exists from its first node.
        run_id = metadata.latest_run_id(store)
        state = metadata.node_state(store, self.cfg.pipeline_name, node_id, run_id)
        self.components.append({"id": node_id, "state": state, "seconds": round(seconds, 1)})
        if node_id == "Trainer" and state == "executed":
            # A new model is on its way to the Evaluator and, if blessed, the Pusher:
            # the servable check's process imports TensorFlow meanwhile.
            serving.prestart_check()
        print(f"  {node_id:<28} {state:<9} {seconds:6.1f} s", file=self.out, flush=True)
        self.current = None


def snapshot_schema(cfg: Config) -> Path:
    """A content-addressed copy of the curated schema under the output directory.

    ImportSchemaGen's cache key is the schema file's path, not its content; importing
    from a path that changes with the content makes an edited schema re-run everything
    downstream of it, and keeps every version that a run used.
    """
    content = cfg.locations.schema_path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()[:16]
    snapshot = cfg.locations.output_dir / "schemas" / digest / cfg.locations.schema_path.name
    if not snapshot.is_file():
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        safe_files.write_bytes(snapshot, content)
    return snapshot


def run(cfg: Config, *, verbose: bool = False, progress_to_stderr: bool = False,
        wait: bool = False) -> dict:
    """Runs the pipeline once and returns its summary (see `summarize`).

    Raises workspace.OutputDirError before writing anything when the output directory
    cannot be used, workspace.Busy when another run holds it (unless `wait`), and
    ComponentFailed when a component fails.
    """
    workspace.check_writable(cfg.locations.output_dir, cfg.locations.output_uri)
    with workspace.exclusive(cfg.locations.output_dir, wait=wait):
        # Under the lock: a running pipeline's open transaction is not damage.
        workspace.check_metadata(cfg.locations.metadata_path)
        workspace.claim_dataset(cfg)
        return _run_exclusive(cfg, verbose, progress_to_stderr)


def _run_exclusive(cfg: Config, verbose: bool, progress_to_stderr: bool) -> dict:
    notes = sys.stderr if progress_to_stderr else sys.stdout
    missing = workspace.missing_artifacts(cfg.locations.metadata_path)
    if missing:
        print(f"note: {missing} artifacts of the previous run are gone from disk; the "
              "components that made them run again", file=notes, flush=True)
    orphaned = workspace.set_aside_orphaned_root(cfg.locations)
    if orphaned:
        print(f"note: {cfg.locations.metadata_path} records no run, so the outputs in "
              f"{cfg.locations.pipeline_root} belong to no history; moved to {orphaned} "
              "(delete it when you no longer need them)", file=notes, flush=True)
    cfg.locations.log_dir.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(cfg, locations=dataclasses.replace(
        cfg.locations, schema_path=snapshot_schema(cfg)))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = cfg.locations.log_dir / f"run-{stamp}-{os.getpid()}.log"
    with quiet.captured_output(log_path, verbose) as (out, err):
        # Imported here: TensorFlow's import prints to fd 2, which is now the log.
        from absl import logging as absl_logging
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner

        from pipeline.definition import create_pipeline

        absl_logging.set_verbosity(absl_logging.INFO)
        beam_construction.install()
        progress = _Progress(cfg, err if progress_to_stderr else out)
        absl_logger = logging.getLogger("absl")
        absl_logger.addHandler(progress)
        try:
            LocalDagRunner().run(create_pipeline(cfg))
        except Exception as error:
            # The full traceback goes to the log (stderr is the log file here); the CLI
            # shows one line that points to it.
            traceback.print_exc()
            raise ComponentFailed(progress.current, error, log_path,
                                  _write_report(cfg)) from error
        finally:
            absl_logger.removeHandler(progress)
            serving.discard_prestarted()
        from pipeline import inspection, report

        store = metadata.open_store(cfg.locations.metadata_path)
        details = inspection.run_details(store, metadata.latest_run_id(store))
        summary = summarize(details, progress.components)
        summary["report"] = str(report.write(details, cfg.locations.report_dir))
    summary["log"] = str(log_path)
    return summary


def summarize(details: dict, components: list[dict]) -> dict:
    """What a run read, found, measured, decided and pushed, from
    `inspection.run_details` (which the report renders too)."""
    metrics = artifact_files.overall_metrics(details["metrics"])
    verdict = details["verdict"]
    return {
        "run_id": details["run_id"],
        # Rows and validation are about the newest span; training may use a window.
        "span": details["span"],
        "rows": details["rows"],
        "training_spans": details["training_spans"],
        "anomalies": details["anomalies_list"],
        "data_passed": bool(verdict.get("passed")),
        "blocking_anomalies": verdict.get("blocking", []),
        "tolerated_anomalies": verdict.get("tolerated", []),
        "metrics": metrics.get("candidate", {}),
        "baseline_metrics": metrics.get("baseline", {}),
        "blessed": bool(details["blessed"]),
        # Each failed threshold with its numbers (inspection.failure_reasons).
        "not_blessed_reasons": (details["validation"]["failures"]
                                if details["validation"] and not details["blessed"] else []),
        "pushed": details["pushed_path"] is not None,
        "pushed_new": details["pushed_new"],
        "pushed_path": details["pushed_path"],
        "pushed_version": details["pushed_version"],
        # What TF Serving would serve now, next to what was pushed (inspection.run_summary).
        "served_version": details["served_version"],
        "pinned_version": details["pinned_version"],
        "newer_versions": details["newer_versions"],
        "servable_check": details["servable_check"],
        # The Tuner's trials and chosen hyperparameters (inspection.tuning); None: the
        # run did not tune.
        "tuning": details["tuning"],
        "components": components,
    }
