"""What the runs in an output directory did, read from ML Metadata and the artifacts:
the one inspection API behind the CLI's `runs`/`show`/`anomalies`/`models`/`lineage`,
the notebooks and the HTML report.

Every function takes an open store (`results.open_store(cfg.metadata_path)`) and
returns plain dicts and lists, ready for JSON, pandas or HTML.
"""

import datetime
import json
import math
import re

from ml_metadata.proto import metadata_store_pb2

from pipeline import results


class NoRuns(LookupError):
    """The output directory has no runs (or not the one asked for)."""


def format_value(value) -> str:
    """How tables (terminal, notebook, report) show a value: 4 significant digits,
    whole numbers without decimals, '-' for nothing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 1000 or value.is_integer():
            return f"{value:.0f}"
        return f"{value:.4g}"
    return str(value)


def _time(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000).isoformat(timespec="seconds")


def run_ids(store) -> list[str]:
    """Oldest first."""
    return [c.name for c in sorted(store.get_contexts_by_type("pipeline_run"),
                                   key=lambda context: context.id)]


def resolve_run(store, run_id: str | None) -> str:
    """`run_id`, or the newest run when None; also accepts a unique prefix."""
    ids = run_ids(store)
    if not ids:
        raise NoRuns("no runs yet: run `python -m pipeline run` first")
    if run_id is None:
        return ids[-1]
    matches = [i for i in ids if i == run_id] or [i for i in ids if i.startswith(run_id)]
    if len(matches) != 1:
        raise NoRuns(f"no single run matches {run_id!r} (see `python -m pipeline runs`)")
    return matches[0]


def components(store, run_id: str) -> list[dict]:
    """Each component of a run in execution order: state, seconds, cached."""
    rows = []
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    node_type = store.get_context_type("node")
    for execution in sorted(store.get_executions_by_context(run.id), key=lambda e: e.id):
        node = next((c for c in store.get_contexts_by_execution(execution.id)
                     if c.type_id == node_type.id), None)
        if node is None:
            continue
        state = results.state_name(execution)
        rows.append({
            "id": node.name.split(".", 1)[1],
            "state": state,
            "cached": state == "cached",
            "seconds": round((execution.last_update_time_since_epoch
                              - execution.create_time_since_epoch) / 1000, 1),
        })
    return rows


def output(outputs: dict, node_id: str, type_name: str):
    """The first artifact of `type_name` a component output, in `results.run_outputs`."""
    found = outputs.get(node_id, {}).get("artifacts", {}).get(type_name, [])
    return found[0] if found else None


def run_summary(store, run_id: str, outputs: dict | None = None,
                anomaly_count: int | None = None) -> dict:
    """One line of `runs`: when, how long, which span, what was found and decided.
    `outputs` and `anomaly_count` spare a caller that has them a second read."""
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    executions = store.get_executions_by_context(run.id)
    outputs = results.run_outputs(store, run_id) if outputs is None else outputs
    examples = outputs.get("CsvExampleGen", {}).get("artifacts", {}).get("Examples", [])
    if anomaly_count is None:
        anomalies = output(outputs, "ExampleValidator", "ExampleAnomalies")
        anomaly_count = len(results.anomalies(anomalies)) if anomalies else None
    blessing = output(outputs, "Evaluator", "ModelBlessing")
    pushed = output(outputs, "Pusher", "PushedModel")
    states = {results.state_name(e) for e in executions}
    start = min((e.create_time_since_epoch for e in executions),
                default=run.create_time_since_epoch)
    end = max((e.last_update_time_since_epoch for e in executions), default=start)
    return {
        "run_id": run_id,
        "start": _time(start),
        "seconds": round((end - start) / 1000, 1),
        "status": ("failed" if "failed" in states
                   else "incomplete" if "running" in states else "finished"),
        "span": (results.spans(examples) or [None])[-1],
        "anomalies": anomaly_count,
        "blessed": bool(results.custom_int(blessing, "blessed")) if blessing else None,
        "pushed_version": (int(results.custom_str(pushed, "pushed_version"))
                           if pushed and results.custom_int(pushed, "pushed") else None),
    }


def runs(store) -> list[dict]:
    """`run_summary` of every run, oldest first."""
    return [run_summary(store, run_id) for run_id in run_ids(store)]


def feature_statistics(statistics) -> list[dict]:
    """Per split and feature: type, count, missing, and numeric or string summaries."""
    import tensorflow_data_validation as tfdv

    rows = []
    for split in results.split_names(statistics):
        stats = tfdv.load_stats_binary(f"{statistics.uri}/Split-{split}/FeatureStats.pb")
        dataset = stats.datasets[0]
        for feature in dataset.features:
            kind = feature.WhichOneof("stats")
            common = (feature.num_stats.common_stats if kind == "num_stats"
                      else feature.string_stats.common_stats)
            row = {
                "split": split,
                "feature": feature.path.step[0] if feature.path.step else feature.name,
                "type": "numeric" if kind == "num_stats" else "string",
                "present": int(common.num_non_missing),
                "missing": int(common.num_missing),
            }
            if kind == "num_stats":
                num = feature.num_stats
                row.update(mean=num.mean, std=num.std_dev, min=num.min, max=num.max,
                           zeros=int(num.num_zeros))
            else:
                top = feature.string_stats.top_values
                row.update(unique=int(feature.string_stats.unique),
                           top=top[0].value if top else None)
            rows.append(row)
    return rows


def feature_distributions(statistics, split: str, top: int = 50) -> dict[str, dict]:
    """What the charts draw for one split of an ExampleStatistics artifact, per feature:
    numeric: TFDV's equal-width and quantile histograms as [low, high, count] buckets
    (`buckets`, `quantiles`) and whether its values are `integer`; string: the `top`
    most frequent values as [value, count] (TFDV's rank histogram). `values`: how many
    values there are (missing ones aside)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    with open(f"{statistics.uri}/Split-{split}/FeatureStats.pb", "rb") as handle:
        dataset = statistics_pb2.DatasetFeatureStatisticsList.FromString(
            handle.read()).datasets[0]
    kinds = {statistics_pb2.Histogram.STANDARD: "buckets",
             statistics_pb2.Histogram.QUANTILES: "quantiles"}
    found = {}
    for feature in dataset.features:
        name = feature.path.step[0] if feature.path.step else feature.name
        if feature.WhichOneof("stats") == "num_stats":
            row = {"type": "numeric", "buckets": [], "quantiles": [],
                   "integer": feature.type == statistics_pb2.FeatureNameStatistics.INT,
                   "values": int(feature.num_stats.common_stats.tot_num_values)}
            for histogram in feature.num_stats.histograms:
                if histogram.type in kinds:
                    # Buckets at +-inf (infinite values) have no place on an axis.
                    row[kinds[histogram.type]] = [
                        [b.low_value, b.high_value, round(b.sample_count, 3)]
                        for b in histogram.buckets
                        if math.isfinite(b.low_value) and math.isfinite(b.high_value)]
            found[name] = row
        elif feature.WhichOneof("stats") == "string_stats":
            stats = feature.string_stats
            ranked = ([[b.label, b.sample_count] for b in stats.rank_histogram.buckets]
                      or [[v.value, v.frequency] for v in stats.top_values])
            found[name] = {"type": "string",
                           "top": sorted(ranked, key=lambda pair: -pair[1])[:top],
                           "values": int(stats.common_stats.tot_num_values)}
    return found


def _distributions(outputs: dict, statistics, span) -> list[dict]:
    """The run's data and what to compare it with, for the charts: the previous span's
    train split when the run checked drift (StatisticsGen_prev1), else the run's eval
    split next to its train split."""
    if statistics is None or "train" not in results.split_names(statistics):
        return []

    def named(span_number, split):  # data without span folders is TFX's span 0
        return f"span-{span_number} {split}" if span else split

    found = [{"label": named(span, "train"),
              "features": feature_distributions(statistics, "train")}]
    previous = output(outputs, "StatisticsGen_prev1", "ExampleStatistics")
    if previous is not None and "train" in results.split_names(previous):
        previous_span = (results.spans(outputs["StatisticsGen_prev1"]["inputs"].get(
            "Examples", [])) or [None])[-1]
        found.append({"label": named(previous_span, "train") + " (previous span)",
                      "features": feature_distributions(previous, "train")})
    elif "eval" in results.split_names(statistics):
        found.append({"label": named(span, "eval"),
                      "features": feature_distributions(statistics, "eval")})
    return found


def thresholds(evaluation) -> dict[str, dict]:
    """The gate's thresholds on the whole eval split, per metric, from the EvalConfig the
    Evaluator ran with: `lower` or `upper` (a finite value bound) and `change` (the
    allowed difference from the baseline model, signed as TFMA applies it: baseline +
    change is the limit)."""
    with open(f"{evaluation.uri}/eval_config.json", encoding="utf-8") as handle:
        config = json.load(handle)["evalConfig"]
    found = {}
    for spec in config.get("metricsSpecs", []):
        if "binarize" in spec or "aggregate" in spec:
            continue
        for metric in spec.get("metrics", []):
            # TFMA names a metric by its `name` config, else by its class in snake case.
            name = (json.loads(metric.get("config") or "{}").get("name")
                    or re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", metric["className"]).lower())
            for per_slice in metric.get("perSliceThresholds", []):
                if {} not in per_slice.get("slicingSpecs", []):
                    continue
                threshold, limits = per_slice["threshold"], {}
                for bound, key in (("lowerBound", "lower"), ("upperBound", "upper")):
                    value = float(threshold.get("valueThreshold", {}).get(bound, "nan"))
                    if math.isfinite(value):
                        limits[key] = value
                change = threshold.get("changeThreshold", {}).get("absolute")
                if change is not None:
                    limits["change"] = float(change)
                if limits:
                    found[name] = limits
    return found


def validation(evaluation) -> dict:
    """TFMA's blessing decision: ok, and the failed thresholds (metric, slice, value)."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_validation_result(evaluation.uri)
    failures = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            failures.append({
                "metric": failure.metric_key.name,
                "diff": failure.metric_key.is_diff,
                "value": failure.metric_value.double_value.value,
                "message": failure.message,
            })
    return {"ok": bool(result.validation_ok), "failures": failures}


def run_details(store, run_id: str) -> dict:
    """Everything `show`, the notebooks, the report and the run summary present about
    one run, each artifact read once."""
    outputs = results.run_outputs(store, run_id)
    statistics = output(outputs, "StatisticsGen", "ExampleStatistics")
    anomalies = output(outputs, "ExampleValidator", "ExampleAnomalies")
    drift = output(outputs, "DistributionValidator", "ExampleAnomalies")
    evaluation = output(outputs, "Evaluator", "ModelEvaluation")
    pushed = output(outputs, "Pusher", "PushedModel")
    curated = output(outputs, "ImportSchemaGen", "Schema")
    inferred = output(outputs, "SchemaGen", "Schema")
    from pipeline.gate import DataVerdict  # imports TFX

    verdict = output(outputs, "DataGate", DataVerdict.TYPE_NAME)
    anomaly_rows = results.anomalies(anomalies) if anomalies else []
    summary = run_summary(store, run_id, outputs,
                          len(anomaly_rows) if anomalies else None)
    check = results.custom_str(pushed, "servable_check") if pushed else None
    return {
        **summary,
        "components": components(store, run_id),
        "rows": results.row_counts(statistics) if statistics else {},
        "statistics": feature_statistics(statistics) if statistics else [],
        "statistics_uri": statistics.uri if statistics else None,
        # Per-feature histograms and top values of the run's data and of what it is
        # compared with (`_distributions`), for the charts.
        "distributions": _distributions(outputs, statistics, summary["span"]),
        "schema": {"curated": f"{curated.uri}/schema.pbtxt" if curated else None,
                   "inferred": f"{inferred.uri}/schema.pbtxt" if inferred else None},
        "anomalies_list": anomaly_rows,
        "anomalies_uri": anomalies.uri if anomalies else None,
        # The DataGate's decision: passed, blocking and tolerated anomaly rows.
        "verdict": results.verdict(verdict) if verdict else {},
        "drift": (results.anomaly_rows(drift.uri, results.split_names(drift),
                                       split_dir="SplitPair-") if drift else None),
        "training_spans": results.spans(
            outputs.get("Transform", {}).get("inputs", {}).get("Examples", [])),
        "metrics": results.slice_metrics(evaluation) if evaluation else [],
        "validation": validation(evaluation) if evaluation else None,
        "thresholds": thresholds(evaluation) if evaluation else {},
        "pushed_path": (results.custom_str(pushed, "pushed_destination")
                        if summary["pushed_version"] else None),
        # False when the Pusher was cached: the version was published by an earlier run.
        "pushed_new": bool(summary["pushed_version"])
                      and outputs.get("Pusher", {}).get("state") == "executed",
        "servable_check": json.loads(check) if check else None,
    }


def _producer(store, artifact_id: int):
    events = [e for e in store.get_events_by_artifact_ids([artifact_id])
              if e.type == metadata_store_pb2.Event.OUTPUT]
    return store.get_executions_by_id([events[0].execution_id])[0] if events else None


def _node_of(store, execution) -> str:
    node_type = store.get_context_type("node")
    node = next((c for c in store.get_contexts_by_execution(execution.id)
                 if c.type_id == node_type.id), None)
    return node.name.split(".", 1)[1] if node else "?"


def _run_of(store, execution) -> str | None:
    run_type = store.get_context_type("pipeline_run")
    run = next((c for c in store.get_contexts_by_execution(execution.id)
                if c.type_id == run_type.id), None)
    return run.name if run else None


def models(store) -> list[dict]:
    """Every pushed version, oldest first, with the run that pushed it and that run's
    overall metrics."""
    found = []
    for artifact in store.get_artifacts_by_type("PushedModel"):
        if not results.custom_int(artifact, "pushed"):
            continue
        execution = _producer(store, artifact.id)
        run_id = _run_of(store, execution) if execution else None
        metrics = {}
        if run_id:
            evaluation = output(results.run_outputs(store, run_id), "Evaluator",
                                "ModelEvaluation")
            metrics = results.metrics(evaluation).get("candidate", {}) if evaluation else {}
        found.append({
            "version": int(results.custom_str(artifact, "pushed_version")),
            "path": results.custom_str(artifact, "pushed_destination"),
            "run_id": run_id,
            "metrics": metrics,
        })
    return sorted(found, key=lambda row: row["version"])


def lineage(store, version: int) -> dict:
    """From a pushed version back to the data: each upstream component's execution with
    its input and output artifacts, nearest first, and the spans the model saw."""
    pushed = [a for a in store.get_artifacts_by_type("PushedModel")
              if results.custom_str(a, "pushed_version") == str(version)
              and results.custom_int(a, "pushed")]
    if not pushed:
        raise NoRuns(f"no pushed version {version} (see `python -m pipeline models`)")
    steps, seen, frontier = [], set(), [pushed[0].id]
    types = {t.id: t.name for t in store.get_artifact_types()}
    while frontier:
        execution = _producer(store, frontier.pop(0))
        if execution is None or execution.id in seen:
            continue
        seen.add(execution.id)
        events = store.get_events_by_execution_ids([execution.id])
        by_kind = {metadata_store_pb2.Event.INPUT: [], metadata_store_pb2.Event.OUTPUT: []}
        for event in events:
            if event.type in by_kind:
                by_kind[event.type].append(event.artifact_id)
        inputs = store.get_artifacts_by_id(by_kind[metadata_store_pb2.Event.INPUT])
        outputs = store.get_artifacts_by_id(by_kind[metadata_store_pb2.Event.OUTPUT])

        def describe(artifact):
            row = {"type": types.get(artifact.type_id), "uri": artifact.uri}
            if "span" in artifact.custom_properties:
                row["span"] = artifact.custom_properties["span"].int_value
            return row

        node = _node_of(store, execution)
        step = {"component": node, "run_id": _run_of(store, execution),
                "state": results.state_name(execution),
                "inputs": [describe(a) for a in inputs],
                "outputs": [describe(a) for a in outputs]}
        if "input_base" in execution.properties or "input_base" in execution.custom_properties:
            value = (execution.properties.get("input_base")
                     or execution.custom_properties.get("input_base"))
            step["input_base"] = value.string_value
        steps.append(step)
        frontier.extend(a.id for a in inputs)
    spans = sorted({o["span"] for s in steps if s["component"].startswith("CsvExampleGen")
                    for o in s["outputs"] if "span" in o})
    return {"version": version, "spans": spans, "steps": steps}
