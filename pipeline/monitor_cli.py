"""The `monitor` command: judges the model TF Serving would serve now on a span it was
not trained on (pipeline/monitoring.py does the work) and prints the result, as text
or `--json`. Exit code 0 healthy, 5 decayed or drifted, 2 bad input or no served
model."""

import json
from pathlib import Path

from pipeline.exit_codes import EXIT_USAGE
from pipeline.flags import non_negative
from pipeline.summary import four


def _span(text: str) -> int:
    import argparse

    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a span number")
    return int(text)


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "monitor", help="judge the served model on a new span: its metrics there against "
        "those at push time, data drift against its training data, drift of its scores")
    parser.add_argument("--data-dir", help="folder of span-<N>/ CSV folders (default: the "
                        "one the served model was trained on)")
    parser.add_argument("--output-dir", help="the runs and serving folder to read "
                        "(default: outputs)")
    parser.add_argument("--span", type=_span, metavar="N",
                        help="the span to judge (default: the newest)")
    from pipeline.config import Config

    parser.add_argument("--max-decay", type=non_negative, metavar="X",
                        help="decayed when a gated metric is worse than at push time by "
                        f"more than X, in the metric's units (default: {Config.max_decay})")
    parser.add_argument("--serving-logs", type=Path, metavar="DIR",
                        help="also judge the predict calls logged in DIR (`predict "
                        "--log-dir`): training-serving skew of their inputs, drift of "
                        "their scores")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON "
                        "object")


def describe(result: dict, out) -> None:
    """The result as text: what was judged, performance, drift, the verdict."""
    from pipeline.periods import span_name

    periods = {int(span): period for span, period in result["trained_on_periods"].items()}
    if result["period"] is not None:
        periods[result["span"]] = result["period"]
    trained = ", ".join(span_name(span, periods) for span in result["trained_on_spans"])
    print(f"served:      version {result['served_version']}, trained on {trained or '-'}",
          file=out)
    print(f"span:        {span_name(result['span'], periods)} of {result['data_dir']}, "
          f"{result['rows']:,} rows", file=out)
    if result["decay"] is None:
        print(f"performance: {result['not_measured']}", file=out)
    else:
        print(f"performance: on the whole span (TFMA), against the model's eval split at "
              f"push time; decayed when worse by more than {result['max_decay']:g}", file=out)
        width = max((len(row["metric"]) for row in result["decay"]), default=0)
        for row in result["decay"]:
            mark = "  DECAYED" if row["decayed"] else ""
            print(f"  {row['metric']:<{width}}  {four(row['value'])}  at push "
                  f"{four(row['reference'])}  worse by {row['fell_by']:+.4f}{mark}", file=out)
        count = result["metrics"].get("example_count")
        if count is not None:
            print(f"  example_count {count:.0f}; per slice: see the report", file=out)
    drift, drifted = result["drift"], result["drifted_features"]
    print(f"data drift:  {len(drifted)} of {len(drift)} features over their gate "
          "threshold (against the training data)", file=out)
    width = max((len(row["feature"]) for row in drift), default=0)
    for row in drift:
        mark = "  DRIFTED" if row["drifted"] else ""
        print(f"  {row['feature']:<{width}}  {row['comparator']} {four(row['value'])} "
              f"(threshold {row['threshold']:g}){mark}", file=out)
    predictions = result["prediction_drift"]
    means = ""
    if predictions["span_mean"] is not None:
        means = (f"; mean score {four(predictions['span_mean'])} vs "
                 f"{four(predictions['reference_mean'])}")
    print(f"predictions: {predictions['comparator']} {four(predictions['value'])} "
          f"(threshold {predictions['threshold']:g}) against the scores on the model's "
          f"eval split{means}{'  DRIFTED' if predictions['drifted'] else ''}", file=out)
    if result.get("serving"):
        describe_serving(result["serving"], out)
    print(f"verdict:     {result['verdict']}", file=out)
    if result.get("report"):
        print(f"report:      {result['report']}", file=out)


def describe_serving(serving: dict, out) -> None:
    """The logged traffic's part of a result (`monitoring.serving_check`) as text."""
    skewed = serving["skewed_features"]
    print(f"serving:     {serving['requests']:,} logged calls, {serving['instances']:,} "
          f"rows in {serving['log_dir']}; {len(skewed)} of {len(serving['skew'])} "
          "features skewed from the training data", file=out)
    over = {row["feature"] for row in skewed}
    width = max((len(row["feature"]) for row in serving["skew"]), default=0)
    for row in serving["skew"]:
        mark = "  SKEWED" if row["feature"] in over else ""
        print(f"  {row['feature']:<{width}}  {row['measure']} {four(row['value'])} "
              f"(threshold {row['threshold']:g}){mark}", file=out)
    for row in serving["anomalies"]:
        print(f"  anomaly at serving: {row['feature']} {row['type']}: "
              f"{row['description']}", file=out)
    scores = serving["prediction_drift"]
    if scores is None:
        print("  logged scores: not compared (no numeric scores on the eval split)",
              file=out)
    else:
        print(f"  logged scores: {scores['measure']} {four(scores['value'])} (threshold "
              f"{scores['threshold']:g}) against the scores on the model's eval split"
              f"{'  DRIFTED' if scores['drifted'] else ''}", file=out)


def main(args, out, err) -> int:
    """Runs `monitor`: 0 healthy, 5 decayed or drifted, 2 when it cannot judge."""
    from models.features import SchemaError
    from pipeline import metadata, monitoring, workspace
    from pipeline.config import DEFAULT_OUTPUT_DIR

    output_dir = Path(args.output_dir or DEFAULT_OUTPUT_DIR).expanduser().resolve()
    try:
        cfg = workspace.workspace_config(output_dir)
        if not cfg.locations.metadata_path.exists():
            raise monitoring.MonitorError(
                f"no model is served from {output_dir}: no run has been made there "
                "(run `python -m pipeline run` first, or pass --output-dir)")
        workspace.check_metadata(cfg.locations.metadata_path)
        store = metadata.open_store(cfg.locations.metadata_path)
        result = monitoring.monitor(
            cfg, store, data_dir=Path(args.data_dir) if args.data_dir else None,
            span=args.span, max_decay=args.max_decay,
            serving_logs=args.serving_logs.expanduser() if args.serving_logs else None)
    except (monitoring.MonitorError, workspace.OutputDirError, SchemaError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    except OSError as error:
        print(f"error: {error.strerror or error}: {error.filename}", file=err)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(result, indent=2), file=out)
    else:
        describe(result, out)
    return monitoring.exit_code(result["verdict"])
