"""The run summary as text: what `run` prints when it ends (rows, the data gate's
anomalies with the ways out of a stopped gate, metrics, blessing, push), from the
summary `pipeline.runner` reads back from ML Metadata (`--json` prints it as is)."""

from pipeline.schema_cli import schema_update_command


def anomaly_table(rows: list[dict], out) -> None:
    widths = [max([len(title)] + [len(str(row[key])) for row in rows])
              for title, key in (("split", "split"), ("feature", "feature"), ("type", "type"))]
    print(f"  {'split':<{widths[0]}}  {'feature':<{widths[1]}}  {'anomaly type':<{widths[2]}}"
          "  description", file=out)
    for row in rows:
        print(f"  {row['split']:<{widths[0]}}  {row['feature']:<{widths[1]}}  "
              f"{row['type']:<{widths[2]}}  {row['description'].strip()}", file=out)


def gate_hints(rows: list[dict], summary: dict, cfg) -> list[str]:
    """The ways out of a stopped gate for these blocking rows: `schema-update` for the
    features whose anomaly a schema change accepts, `--drift-warn` or the threshold for
    drift, each row's exact `--tolerate` rule, and the span folder to fix or remove."""
    import shlex

    from pipeline.gate_rules import is_drift, schema_can_accept, tolerate_rule

    lines = ["each row needs one of these ways out:"]
    features = list(dict.fromkeys(row["feature"] for row in rows
                                  if schema_can_accept(row, cfg.label.source_columns)))
    if features:
        lines += [f"- the schema should change ({', '.join(features)}: the data is right; "
                  "add --dry-run to preview):",
                  "    " + schema_update_command(features, cfg.locations.output_dir)]
    drifted = list(dict.fromkeys(row["feature"] for row in rows if is_drift(row)))
    if drifted:
        thresholds = dict(cfg.drift_thresholds)
        limits = ", ".join(f"{name} {thresholds[name]}" for name in drifted
                           if name in thresholds)
        lines.append("- the drift is expected: run again with --drift-warn, or raise "
                     f"drift_thresholds in pipeline/config.py ({limits})")
    rules = list(dict.fromkeys(tolerate_rule(row) for row in rows))
    lines += ["- let these rows through this time: run again with",
              "    " + " ".join(f"--tolerate {shlex.quote(rule)}" for rule in rules)]
    if cfg.spans and summary["span"] is not None:
        folder = cfg.locations.data_dir / f"span-{summary['span']}"
        lines.append(f"- the data is wrong: fix or remove {folder}, then run again")
    else:
        lines.append(f"- the data is wrong: fix the CSV files in {cfg.locations.data_dir}, "
                     "then run again")
    return lines


def four(value) -> str:
    """A metric as printed: four decimals, n/a when there is none."""
    return "n/a" if value is None else f"{value:.4f}"


def scale_line(scale: dict) -> str:
    """How the run fitted the data's size (pipeline/scale.py): the Beam profile, how it
    was chosen, and the eval split."""
    rows = scale["estimated_rows"]
    size = f"about {rows:,} rows" if rows is not None else "rows not estimated"
    line = (f"{size}: Beam {scale['beam_profile']} ({scale['beam_profile_chosen']}), "
            f"eval split {scale['eval_fraction']} of the rows")
    if scale.get("analyzed_fraction") and scale["analyzed_fraction"] != scale.get(
            "train_fraction"):
        line += f", Transform analyzes {scale['analyzed_fraction']}"
    return line


def print_summary(summary: dict, out, spans: bool = True, cfg=None) -> None:
    """`spans`: the data has span folders (else TFX's span 0 is not worth a mention);
    `cfg`: the run's Config, for the ways out of a stopped gate and the period each span
    holds (`prepare-data --by`)."""
    from pipeline.periods import span_name, span_periods

    periods = span_periods(cfg.locations.data_dir) if cfg is not None else {}
    rows = ", ".join(f"{split} {count}" for split, count in summary["rows"].items())
    span = (f" ({span_name(summary['span'], periods)})"
            if summary["span"] is not None and spans else "")
    print(f"rows in:    {rows or 'n/a'}{span}", file=out)
    if summary.get("scale"):
        print(f"scale:      {scale_line(summary['scale'])}", file=out)
    print(f"anomalies:  {len(summary['blocking_anomalies'])} blocking, "
          f"{len(summary['tolerated_anomalies'])} tolerated", file=out)
    if summary["tolerated_anomalies"]:
        anomaly_table(summary["tolerated_anomalies"], out)
    if not summary["data_passed"]:
        print("data gate:  STOPPED: Transform, Trainer, Evaluator and Pusher did not run",
              file=out)
        anomaly_table(summary["blocking_anomalies"], out)
        if cfg is not None:
            hints = gate_hints(summary["blocking_anomalies"], summary, cfg)
            print(f"what now:   {hints[0]}", file=out)
            for line in hints[1:]:
                print(f"            {line}", file=out)
    if summary["training_spans"] and spans:
        trained = ", ".join(span_name(span, periods) for span in summary["training_spans"])
        print(f"trained on: {trained}", file=out)
    from pipeline.inspection import headline_names, tuning_note

    if summary.get("tuning"):
        print(f"tuning:     {tuning_note(summary['tuning'])}", file=out)

    shown = headline_names([summary["metrics"]])
    # None: an AUC that a one-class eval split cannot have (artifact_files.slice_metrics).
    metrics = [f"{name} {four(summary['metrics'][name])}" for name in shown]
    if "example_count" in summary["metrics"]:
        metrics.append(f"example_count {summary['metrics']['example_count']:.0f}")
    print(f"eval:       {'  '.join(metrics) or 'n/a'}", file=out)
    baseline = summary["baseline_metrics"]
    if baseline:
        print("baseline:   " + "  ".join(
            f"{name} {four(baseline[name])}" for name in shown if name in baseline), file=out)
    print(f"blessed:    {'yes' if summary['blessed'] else 'no'}", file=out)
    for reason in summary["not_blessed_reasons"]:
        print(f"  {reason['message']}", file=out)
    pushed = summary["pushed_path"] if summary["pushed"] else "no"
    if summary["pushed"] and not summary["pushed_new"]:
        pushed += " (published by an earlier run; nothing new)"
    print(f"pushed:     {pushed}", file=out)
    from pipeline.inspection import served_note

    print(f"served:     {served_note(summary)}", file=out)
    check = summary.get("servable_check")
    if check:
        print(f"servable:   yes ({check['warmup_requests']} warm-up and 2 REST requests; "
              f"scores within {check['max_difference']:.1g} of the evaluated model)", file=out)
        if check.get("tflite"):
            from pipeline.tflite import summary_line

            print(f"tflite:     {summary_line(check['tflite'])}", file=out)
    print(f"report:     {summary['report']}", file=out)
    print(f"log:        {summary['log']}", file=out)

