"""The schema review commands: `schema-diff` (where the latest run's data does not
meet the curated schema, and what `schema-update` would change) and `schema-update`
(take what the latest data needs into the curated schema), both reading
`pipeline.schema_review`."""

import json
from pathlib import Path

from pipeline.exit_codes import EXIT_OK, EXIT_USAGE

COMMANDS = ("schema-diff", "schema-update")


def add_parsers(commands) -> None:
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


def _schema_review(args, err):
    """The workspace's Config, the curated schema, the latest inferred schema and
    statistics with their paths, or None after a one-line error."""
    from models.features import SchemaError
    from pipeline import schema_review, workspace
    from pipeline.schema_file import load_schema

    try:
        cfg = workspace.flag_config(args.output_dir)
        inferred, inferred_path = schema_review.latest_inferred_schema(
            cfg.locations.metadata_path, cfg.pipeline_name)
        statistics, statistics_uri = schema_review.latest_statistics(
            cfg.locations.metadata_path, cfg.pipeline_name)
        curated = load_schema(cfg.locations.schema_path)
    except (schema_review.NoInferredSchema, workspace.OutputDirError, SchemaError,
            OSError) as error:
        print(f"error: {error}", file=err)
        return None
    return {"cfg": cfg, "curated": curated, "inferred": inferred,
            "inferred_path": inferred_path, "statistics": statistics,
            "statistics_uri": statistics_uri}


def schema_update_command(features: list[str], output_dir: Path) -> str:
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
    command = schema_update_command(mergeable, cfg.locations.output_dir) if mergeable else None
    if args.json:
        print(json.dumps({"curated": str(cfg.locations.schema_path),
                          "statistics": found["statistics_uri"],
                          "inferred": found["inferred_path"], "changes": changes,
                          "update_command": command}, indent=2), file=out)
        return EXIT_OK
    print(f"curated:    {cfg.locations.schema_path}\nstatistics: {found['statistics_uri']} (the "
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
    before = cfg.locations.schema_path.read_text(encoding="utf-8")
    path = cfg.locations.schema_path
    lines = list(difflib.unified_diff(
        before.splitlines(), schema_review.curated_text(updated, path).splitlines(),
        str(path), f"{path} (updated)", lineterm="")) if changed else []
    if changed and not args.dry_run:
        schema_review.write_curated(updated, cfg.locations.schema_path)
    # What the data still does not meet: only when a change was not enough (a
    # dataset-level constraint), or the feature was not asked for.
    left = sorted(name for name in schema_review.anomalies(updated, statistics)
                  if features is None or name in features)
    taken = "every feature the data does not meet" if args.all else ", ".join(args.feature)
    if args.json:
        print(json.dumps({"curated": str(cfg.locations.schema_path),
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
        print(f"dry run: nothing written to {cfg.locations.schema_path}", file=out)
    else:
        how = "replaced by the inferred definition" if args.replace else "merged"
        print(f"updated {cfg.locations.schema_path}: {taken} {how} from the latest data "
              f"({found['statistics_uri']})", file=out)
    if left:
        print(f"note: the latest data still does not meet {', '.join(left)}: see "
              "python -m pipeline schema-diff", file=out)
    return EXIT_OK


def main(args, out, err) -> int:
    """Runs `schema-diff` or `schema-update`; 2 when the output directory has no run
    to read or the curated schema cannot be read."""
    return {"schema-diff": _schema_diff, "schema-update": _schema_update}[args.command](
        args, out, err)
