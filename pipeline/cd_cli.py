"""The continuous-delivery commands that follow a training run, in the train-deploy
workflow and in `make cd`:

- `evaluate [RUN]`: whether the run's model may be deployed: the gated metrics against
  their thresholds and the baseline model, the blessing, the pushed version and the
  reasons it was not blessed. Text, or `--json`; under GitHub Actions also step outputs
  (`$GITHUB_OUTPUT`) and a Markdown job summary (`$GITHUB_STEP_SUMMARY`). It reports and
  gates nothing: it exits 0 whatever the verdict.
- `deploy [RUN] --to STORE`: copies the run's pushed version to STORE/<model>/<version>/
  (a folder, or any URI TensorFlow's file system writes), only when the run's data gate
  passed and its model was blessed; otherwise it deploys nothing and exits 3 or 6.

Both read the run from ML Metadata through `pipeline.inspection`, as `show` does.
"""

import json
import os
import uuid
from pathlib import Path

from pipeline.exit_codes import (
    EXIT_DATA_BLOCKED,
    EXIT_FAILED,
    EXIT_NOT_BLESSED,
    EXIT_OK,
    EXIT_USAGE,
)

COMMANDS = ("evaluate", "deploy")


def add_parsers(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="a run's deploy decision: gated metrics vs thresholds vs the "
        "baseline model, blessed, pushed version (GitHub Actions: step outputs and summary)")
    deploy = commands.add_parser(
        "deploy", help="copy a run's pushed version to a model store, only when it was "
        "blessed (exit 6 when not, 3 when the data gate stopped the run)")
    deploy.add_argument("--to", required=True, metavar="STORE",
                        help="the model store: a folder or a URI TensorFlow's file system "
                        "writes (gs://...); the version lands in STORE/<model>/<version>/")
    for parser in (evaluate, deploy):
        parser.add_argument("run", nargs="?",
                            help="run id or a unique prefix (default: the newest)")
        parser.add_argument("--output-dir", help="the runs to read (default: outputs)")
        parser.add_argument("--json", action="store_true", help="print JSON")


def _gated_metrics(details: dict) -> list[dict]:
    """Each metric the Evaluator gated on the whole eval split: this model's value, the
    threshold, the baseline model's value and the limit it sets, and whether it passed."""
    from pipeline import artifact_files

    overall = artifact_files.overall_metrics(details["metrics"])
    candidate, baseline = overall.get("candidate", {}), overall.get("baseline", {})
    failures = details["validation"]["failures"] if details["validation"] else []
    failed = {reason["metric"] for reason in failures if reason["slice"] == "Overall"}
    rows = []
    for name, limits in details["thresholds"].items():
        base = baseline.get(name)
        change = limits.get("change")
        rows.append({
            "metric": name, "value": candidate.get(name),
            "lower": limits.get("lower"), "upper": limits.get("upper"),
            "baseline": base,
            # TFMA's change threshold is signed: baseline + change is the limit.
            "baseline_limit": None if change is None or base is None else base + change,
            "passed": name not in failed})
    return rows


def decision(details: dict) -> dict:
    """What `evaluate` reports for one run (`inspection.run_details`); `deployable`
    is the condition `deploy` applies."""
    verdict = details["verdict"]
    pushed_path = details["pushed_path"]
    reasons = ([reason["message"] for reason in details["validation"]["failures"]]
               if details["validation"] and not details["blessed"] else [])
    return {
        "run_id": details["run_id"],
        "data_passed": bool(verdict.get("passed")),
        "blocking_anomalies": verdict.get("blocking", []),
        "blessed": bool(details["blessed"]),
        "metrics": _gated_metrics(details),
        "not_blessed_reasons": reasons,
        "pushed_version": details["pushed_version"],
        "pushed_path": pushed_path,
        # False: the Pusher was cached, an earlier run published this version.
        "pushed_new": details["pushed_new"],
        "model": Path(pushed_path).parent.name if pushed_path else None,
        "deployable": bool(verdict.get("passed")) and bool(details["blessed"])
        and details["pushed_version"] is not None,
    }


def _number(value) -> str:
    from pipeline.inspection import format_value

    return format_value(value)


def _threshold(row: dict) -> str:
    bounds = []
    if row["lower"] is not None:
        bounds.append(f">= {_number(row['lower'])}")
    if row["upper"] is not None:
        bounds.append(f"<= {_number(row['upper'])}")
    return ", ".join(bounds) or "-"


def _baseline_limit(row: dict) -> str:
    if row["baseline_limit"] is None:
        return "-"
    # A limit below the baseline's value is a floor (higher is better), above a ceiling.
    sign = ">=" if row["baseline_limit"] <= (row["baseline"] or 0.0) else "<="
    return f"{sign} {_number(row['baseline_limit'])}"


def markdown(found: dict) -> str:
    """The job summary: the metrics table and the verdict, in GitHub's Markdown."""
    lines = [f"### Run `{found['run_id']}`", ""]
    if not found["data_passed"]:
        lines += [f"**Data gate: stopped** ({len(found['blocking_anomalies'])} blocking "
                  "anomalies or drift); nothing was trained, evaluated or deployed.", "",
                  "| split | feature | type | description |", "|---|---|---|---|"]
        lines += [f"| {row.get('split', '-')} | {row.get('feature', '-')} | "
                  f"{row.get('type', '-')} | {row.get('description', '-')} |"
                  for row in found["blocking_anomalies"]]
        return "\n".join(lines) + "\n"
    if found["metrics"]:
        lines += ["| metric | this model | threshold | baseline model | limit from the "
                  "baseline | passed |", "|---|---|---|---|---|---|"]
        lines += [f"| {row['metric']} | {_number(row['value'])} | {_threshold(row)} | "
                  f"{_number(row['baseline'])} | {_baseline_limit(row)} | "
                  f"{'yes' if row['passed'] else '**no**'} |" for row in found["metrics"]]
        lines.append("")
    lines.append(f"**Blessed:** {'yes' if found['blessed'] else 'no'}")
    for reason in found["not_blessed_reasons"]:
        lines.append(f"- {reason}")
    if found["deployable"]:
        note = "" if found["pushed_new"] else " (published by an earlier run)"
        lines += ["", f"**Pushed version:** {found['pushed_version']}{note}: deploy runs"]
    elif found["blessed"]:
        lines += ["", "**Deploy:** skipped, the model was blessed but not pushed (see the "
                  "run's log)"]
    else:
        lines += ["", "**Deploy:** skipped, the model was not blessed"]
    return "\n".join(lines) + "\n"


def _write_outputs(path: str, values: dict) -> None:
    """Appends step outputs in GitHub's `name<<DELIMITER` form, which takes any value
    (the not-blessed reasons span lines); the delimiter is random so that no value can
    end it early."""
    with open(path, "a", encoding="utf-8") as handle:
        for name, value in values.items():
            delimiter = f"EOF_{uuid.uuid4().hex}"
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def _flag(value: bool) -> str:
    """A boolean as the workflow's `fromJSON` reads it."""
    return "true" if value else "false"


def _evaluate(found: dict, args, out) -> int:
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    output_path = os.environ.get("GITHUB_OUTPUT")
    if output_path:
        _write_outputs(output_path, {
            "run-id": found["run_id"], "data-passed": _flag(found["data_passed"]),
            "blessed": _flag(found["blessed"]), "deployable": _flag(found["deployable"]),
            "pushed-version": found["pushed_version"] or "",
            "metrics": json.dumps({row["metric"]: row for row in found["metrics"]}),
            "not-blessed-reasons": "\n".join(found["not_blessed_reasons"])})
    text = markdown(found)
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as handle:
            handle.write(text)
    print(json.dumps(found, indent=2) if args.json else text.rstrip(), file=out)
    return EXIT_OK


def _publish(source: str, store: str, model: str, version: int) -> tuple[str, bool]:
    """Copies the version folder to STORE/<model>/<version>/ through a staging name, so
    a reader of the store never sees half a version; (destination, False) when the
    store already holds it."""
    from tfx.dsl.io import fileio
    from tfx.utils import io_utils

    model_dir = f"{store.rstrip('/')}/{model}"
    destination = f"{model_dir}/{version}"
    if fileio.exists(destination):
        return destination, False
    staging = f"{model_dir}/.partial-{version}-{uuid.uuid4().hex[:8]}"
    fileio.makedirs(model_dir)
    io_utils.copy_dir(source, staging)
    fileio.rename(staging, destination)
    return destination, True


def _deploy(found: dict, args, out, err) -> int:
    run_id = found["run_id"]
    if not found["data_passed"]:
        print(f"deploy skipped: the data gate stopped run {run_id}, so nothing was trained "
              f"(python -m pipeline anomalies {run_id})", file=err)
        return EXIT_DATA_BLOCKED
    if not found["blessed"]:
        reasons = "; ".join(found["not_blessed_reasons"]) or "see python -m pipeline show"
        print(f"deploy skipped: the model of run {run_id} was not blessed: {reasons}",
              file=err)
        return EXIT_NOT_BLESSED
    if not found["deployable"]:
        print(f"error: the model of run {run_id} was blessed but not pushed; see its log",
              file=err)
        return EXIT_FAILED
    if not Path(found["pushed_path"]).is_dir():
        print(f"error: {found['pushed_path']}, the version run {run_id} pushed, is gone",
              file=err)
        return EXIT_USAGE
    try:
        destination, new = _publish(found["pushed_path"], args.to, found["model"],
                                    found["pushed_version"])
    except OSError as error:
        print(f"error: cannot publish to {args.to}: {error.strerror or error}", file=err)
        return EXIT_USAGE
    except Exception as error:  # TensorFlow's file system errors (a gs:// store) share no base
        print(f"error: cannot publish to {args.to}: {str(error).strip().splitlines()[0]}",
              file=err)
        return EXIT_USAGE
    if os.environ.get("GITHUB_OUTPUT"):
        _write_outputs(os.environ["GITHUB_OUTPUT"], {
            "model": found["model"], "version": found["pushed_version"],
            "path": destination, "new": _flag(new)})
    result = {"run_id": run_id, "model": found["model"], "version": found["pushed_version"],
              "source": found["pushed_path"], "destination": destination, "new": new}
    if args.json:
        print(json.dumps(result, indent=2), file=out)
    elif new:
        print(f"deployed version {found['pushed_version']} of {found['model']}: "
              f"{destination}", file=out)
    else:
        print(f"version {found['pushed_version']} of {found['model']} is already in the "
              f"store: {destination}", file=out)
    return EXIT_OK


def main(args, out, err) -> int:
    """Runs `evaluate` or `deploy`; 2 when there is no run to read."""
    from pipeline import artifact_files, inspection, workspace

    try:
        _, store = workspace.open_runs(args.output_dir)
        found = decision(inspection.run_details(store, inspection.resolve_run(store,
                                                                               args.run)))
    except (inspection.NoRuns, workspace.OutputDirError) as error:
        print(f"error: {error.args[0] if error.args else error}", file=err)
        return EXIT_USAGE
    except (artifact_files.CorruptRecord, FileNotFoundError) as error:
        print(f"error: {workspace.unreadable_artifacts(error)}", file=err)
        return EXIT_USAGE
    if args.command == "evaluate":
        return _evaluate(found, args, out)
    return _deploy(found, args, out, err)
