"""The inspection commands: `runs`, `show [RUN]`, `anomalies [RUN]`, `models`,
`lineage VERSION|latest`. Text tables by default, `--json` for scripts; all read
`pipeline.inspection` (and say which version TF Serving would serve now)."""

import json

from pipeline.exit_codes import EXIT_OK, EXIT_USAGE, version_or_latest

COMMANDS = ("runs", "show", "anomalies", "models", "lineage")


def add_parsers(commands) -> None:
    parsers = {
        "runs": commands.add_parser("runs", help="list the runs in the output directory"),
        "show": commands.add_parser("show", help="one run: components, data, anomalies, "
                                    "drift, metrics per slice, blessing, push; or one "
                                    "monitor result"),
        "anomalies": commands.add_parser("anomalies", help="a run's anomalies and drift"),
        "models": commands.add_parser("models", help="pushed versions with their metrics, "
                                      "and which one TF Serving serves"),
        "lineage": commands.add_parser(
            "lineage", help="from a pushed version back to the data span it was trained on"),
    }
    for name in ("show", "anomalies"):
        parsers[name].add_argument("run", nargs="?",
                                   help="run id or a unique prefix (default: the newest)")

    parsers["lineage"].add_argument("version", type=version_or_latest,
                                    help="a pushed version, or `latest` (the newest)")
    for parser in parsers.values():
        parser.add_argument("--output-dir", help="the runs to read (default: outputs)")
        parser.add_argument("--json", action="store_true", help="print JSON")


def _table(rows: list[dict], columns: list[tuple[str, str]], out) -> None:
    from pipeline.inspection import format_value

    cells = [[format_value(row.get(key)) for _, key in columns] for row in rows]
    widths = [max([len(title)] + [len(row[i]) for row in cells])
              for i, (title, _) in enumerate(columns)]
    print("  ".join(title.ljust(w) for (title, _), w in zip(columns, widths, strict=True))
          .rstrip(), file=out)
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(),
              file=out)


RUN_COLUMNS = [("run id", "run_id"), ("start", "start"), ("seconds", "seconds"),
               ("status", "status"), ("span", "span"), ("period", "period"),
               # The data gate's rows (anomalies and drift), as the run summary counts them.
               ("anomalies", "anomalies"), ("blocking", "blocking"),
               ("blessed", "blessed"), ("pushed version", "pushed_version"),
               ("served version", "served_version")]
ANOMALY_COLUMNS = [("split", "split"), ("feature", "feature"), ("type", "type"),
                   ("description", "description")]


def _run_columns(rows: list[dict]) -> list[tuple[str, str]]:
    """RUN_COLUMNS, without the period column when no row's span has a recorded period
    (data not made by `prepare-data --by`)."""
    if any(row.get("period") for row in rows):
        return RUN_COLUMNS
    return [column for column in RUN_COLUMNS if column[1] != "period"]


def _listing(rows: list[dict], empty: str, columns, args, out) -> None:
    from pipeline import inspection

    if not rows:
        raise inspection.NoRuns(empty)
    if args.json:
        print(json.dumps(rows, indent=2), file=out)
    else:
        _table(rows, columns, out)


def _runs(store, args, out) -> None:
    from pipeline import inspection

    # Monitor results are listed among the runs, in time order.
    rows = sorted(inspection.runs(store) + inspection.monitor_runs(store),
                  key=lambda row: row["start"])
    _listing(rows, "no runs yet: run `python -m pipeline run` first", _run_columns(rows),
             args, out)


def _show(store, args, out) -> None:
    from pipeline import inspection

    if args.run and args.run.startswith("monitor"):
        from pipeline.monitor_cli import describe

        record = inspection.monitor_record(store, args.run)
        if args.json:
            print(json.dumps(record, indent=2), file=out)
        else:
            describe(record, out)
        return
    details = inspection.run_details(store, inspection.resolve_run(store, args.run))
    if args.json:
        print(json.dumps(details, indent=2), file=out)
        return
    _table([details], _run_columns([details]), out)
    print("\ncomponents", file=out)
    _table(details["components"], [("id", "id"), ("state", "state"),
                                   ("seconds", "seconds")], out)
    rows = ", ".join(f"{split} {count}" for split, count in details["rows"].items())
    print(f"\nrows: {rows or '-'}", file=out)
    _features(details["statistics"], out)
    # The run table's count is the data gate's: these rows and the drift rows below.
    print(f"anomalies against the schema: {len(details['anomalies_list'])}", file=out)
    if details["anomalies_list"]:
        _table(details["anomalies_list"], ANOMALY_COLUMNS, out)
    drift = details["drift"]
    print(f"drift against the previous span: {'not checked' if drift is None else len(drift)}",
          file=out)
    if drift:
        _table(drift, ANOMALY_COLUMNS, out)
    if details["tuning"]:
        _tuning(details["tuning"], out)
    if details["metrics"]:
        from pipeline.inspection import headline_names

        print("\nmetrics", file=out)
        _table(details["metrics"], [("slice", "slice"), ("model", "model"),
                                    ("examples", "example_count")] + [
            (name, name) for name in headline_names(details["metrics"])], out)
    validation = details["validation"]
    if validation:
        print(f"\nblessed: {'yes' if validation['ok'] else 'no'}", file=out)
        for failure in validation["failures"]:
            print(f"  failed: {failure['message']}", file=out)
    print(f"pushed: {details['pushed_path'] or 'no'}", file=out)
    print(f"served: {inspection.served_note(details)}", file=out)


def _tuning(found: dict, out) -> None:
    """The Tuner's line (`inspection.tuning_note`) and its trials, best first."""
    from pipeline.inspection import trial_table, tuning_note

    print(f"\ntuning: {tuning_note(found)}", file=out)
    if found["trials"]:
        _table(*trial_table(found), out)


def _share(part: int, whole: int) -> str | None:
    """A percentage that is 0% or 100% only when exactly so."""
    if not whole:
        return None
    text = f"{part / whole:.1%}"
    if part and text == "0.0%":
        return "<0.1%"
    if part < whole and text == "100.0%":
        return ">99.9%"
    return text


def _features(statistics: list[dict], out) -> None:
    """One line per feature: rows without a value over all splits (what a user checks
    first on a new CSV), and the first split's values."""
    if not statistics:
        return
    splits = list(dict.fromkeys(row["split"] for row in statistics))
    features: dict[str, dict] = {}
    for row in statistics:
        entry = features.setdefault(row["feature"], {
            "feature": row["feature"], "type": row["type"], "present": 0, "missing": 0})
        entry["present"] += row["present"]
        entry["missing"] += row["missing"]
        if row["split"] == splits[0]:
            entry.update({key: row.get(key) for key in ("mean", "min", "max", "top")})
    for entry in features.values():
        entry["missing_share"] = _share(entry["missing"], entry["present"] + entry["missing"])
        entry["present"], entry["missing"] = f"{entry['present']:,}", f"{entry['missing']:,}"
    print(f"features: missing = rows with no value, over {' + '.join(splits)}; "
          f"values of {splits[0]}", file=out)
    _table(list(features.values()), [
        ("feature", "feature"), ("type", "type"), ("present", "present"),
        ("missing", "missing"), ("missing %", "missing_share"), ("mean", "mean"),
        ("min", "min"), ("max", "max"), ("most frequent", "top")], out)


def _anomalies(store, args, out) -> None:
    from pipeline import inspection

    details = inspection.run_details(store, inspection.resolve_run(store, args.run))
    if args.json:
        print(json.dumps({"run_id": details["run_id"], "anomalies": details["anomalies_list"],
                          "drift": details["drift"]}, indent=2), file=out)
        return
    print(f"run {details['run_id']} ({_span(details['span'], details['period'])})", file=out)
    if details["anomalies_list"]:
        _table(details["anomalies_list"], ANOMALY_COLUMNS, out)
    else:
        print("no anomalies against the curated schema", file=out)
    if details["drift"] is None:
        print("drift: not checked (no previous span)", file=out)
    elif details["drift"]:
        _table(details["drift"], ANOMALY_COLUMNS, out)
    else:
        print("no drift against the previous span", file=out)


def _models(store, args, out) -> None:
    from pipeline import inspection

    rows = inspection.models(store)
    shown = inspection.headline_names([row["metrics"] for row in rows])
    if not args.json:
        rows = [{**row, **{name: row["metrics"].get(name) for name in shown},
                 "serving": ("yes, pinned" if row["pinned"] else "yes" if row["served"]
                             else "no" if row["present"] else "deleted"),
                 "monitored": _last_monitor(row["monitors"])}
                for row in rows]
    _listing(rows, "no model has been pushed yet",
             [("version", "version"), ("run id", "run_id"),
              *((name, name) for name in shown), ("served", "serving"),
              ("monitored", "monitored"), ("path", "path")],
             args, out)
    if not args.json:
        _serving_footer(inspection.serving_state(store), inspection.rollbacks(store), out)


def _last_monitor(monitors: list[dict]) -> str | None:
    """The newest `monitor` verdict on a version, for the `models` table."""
    if not monitors:
        return None
    last = monitors[-1]
    return f"{last['verdict']} on {_span(last['span'], last.get('period'))}"


def _span(span: int | None, period: str | None) -> str:
    """A span as output names it: `span-3 (2013-Q3)`, or `span-3` without a period."""
    from pipeline.periods import span_name

    return span_name(span, {span: period} if period else {})


def _serving_footer(state: dict, rollbacks: list[dict], out) -> None:
    """Under `models`: what TF Serving serves and why, and the last rollback."""
    served, pinned = state["served_version"], state["pinned_version"]
    if state["problem"]:
        print(f"\nTF Serving serves nothing: {state['problem']}", file=out)
    elif served is None and pinned is None:
        print(f"\nTF Serving serves nothing: no version in {state['model_dir']}", file=out)
    elif served is None:
        print(f"\nTF Serving serves nothing: {state['models_config']} pins version "
              f"{pinned}, which is not in {state['model_dir']}", file=out)
    elif pinned is not None:
        print(f"\nTF Serving serves {served}: {state['models_config']} pins it "
              "(`python -m pipeline rollback --to latest` serves the newest)", file=out)
    else:
        print(f"\nTF Serving serves {served}, the highest version in {state['model_dir']}",
              file=out)
    if rollbacks:
        last = rollbacks[-1]
        to = "latest" if last["policy"] == "latest" else last["served_version"]
        print(f"last rollback: {last['time']}, --to {to}: served "
              f"{_previous(last)} -> {last['served_version'] or 'nothing'}", file=out)


def _previous(record: dict) -> str:
    """What TF Serving served before a rollback."""
    return str(record["previous_served_version"] or "nothing")


def _lineage(store, args, out) -> None:
    from pipeline import inspection

    found = inspection.lineage(store, args.version)
    if args.json:
        print(json.dumps(found, indent=2), file=out)
        return
    periods = found["periods"]
    spans = ", ".join(_span(span, periods.get(str(span))) for span in found["spans"]) or "-"
    print(f"version {found['version']} was trained on {spans}", file=out)
    baseline = found["baseline"]
    if baseline:
        # A reference only: the baseline's own steps are another model's history.
        which = (f"version {baseline['version']}" if baseline["version"]
                 else "an unpushed model")
        history = f"; its history: `lineage {baseline['version']}`" if baseline["version"] \
            else ""
        print(f"judged against the baseline {which} (trained in run {baseline['run_id']}"
              f"{history})", file=out)
    elif any(step["component"] == "Evaluator" for step in found["steps"]):
        print("judged without a baseline (no blessed model before it)", file=out)
    if found["tuning"]:
        print(f"hyperparameters tuned in run {found['tuning']['run_id']}: "
              f"{inspection.tuning_note(found['tuning'])}", file=out)
    else:
        print("hyperparameters: the defaults (not tuned)", file=out)
    for step in found["steps"]:
        source = f" reading {step['input_base']}" if "input_base" in step else ""
        print(f"\n{step['component']} (run {step['run_id']}){source}", file=out)
        for artifact in step["outputs"]:
            span = (f" {_span(artifact['span'], periods.get(str(artifact['span'])))}"
                    if "span" in artifact else "")
            print(f"  -> {artifact['type']}{span}: {artifact['uri']}", file=out)
    print(f"\nserved by TF Serving now: {'yes' if found['served'] else 'no'}", file=out)
    for record in found["rollbacks"]:
        to = "latest" if record["policy"] == "latest" else record["served_version"]
        print(f"  {record['time']} rollback --to {to}: served {_previous(record)} "
              f"-> {record['served_version'] or 'nothing'}", file=out)


def main(args, out, err) -> int:
    """Runs one inspection command; 2 when there is nothing to show or its files are
    unreadable."""
    from pipeline import artifact_files, inspection, workspace
    try:
        _, store = workspace.open_runs(args.output_dir)
        {"runs": _runs, "show": _show, "anomalies": _anomalies, "models": _models,
         "lineage": _lineage}[args.command](store, args, out)
    except (inspection.NoRuns, workspace.OutputDirError) as error:
        print(f"error: {error.args[0] if error.args else error}", file=err)
        return EXIT_USAGE
    except (artifact_files.CorruptRecord, FileNotFoundError) as error:
        print(f"error: {workspace.unreadable_artifacts(error)}", file=err)
        return EXIT_USAGE
    return EXIT_OK
