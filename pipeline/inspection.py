"""What the runs in an output directory did, read from ML Metadata and the artifacts:
the one inspection API behind the CLI's `runs`/`show`/`anomalies`/`models`/`lineage`,
the notebooks and the HTML report.

Every function takes an open store (`metadata.open_store(cfg.locations.metadata_path)`) and
returns plain dicts and lists, ready for JSON, pandas or HTML. It composes the ML
Metadata queries of pipeline/metadata.py, the artifact files pipeline/artifact_files.py
reads and the gate's rows and rules (pipeline/gate_rules.py) into those answers.
"""

import datetime
import json
import math
import re

from pipeline import artifact_files, gate_rules, metadata, serving, uris
from pipeline.periods import span_periods

# The ML Metadata execution type of a `rollback` (pipeline/rollback.py writes it): in
# the pipeline's context, with the PushedModel it made TF Serving serve as input.
ROLLBACK_TYPE = "Rollback"
# The ML Metadata execution type of a `monitor` result (pipeline/monitoring.py writes
# it): in the pipeline's context, with the served PushedModel as input, the result as
# JSON in its `result` property.
MONITOR_TYPE = "Monitor"
# What the pipeline did after `monitor` judged the served model on a span (a step of
# replay's timeline; `served_history` reads the same from ML Metadata): a run trained
# and pushed a new version, trained one the Evaluator did not bless (or that was
# already pushed), was stopped by the data gate, or no run: the served model was kept.
TRAINED_PUSHED, NOT_BLESSED, DATA_STOPPED, KEPT = (
    "trained-pushed", "trained-not-blessed", "data-stopped", "kept")
ACTIONS = (TRAINED_PUSHED, NOT_BLESSED, DATA_STOPPED, KEPT)


class NoRuns(LookupError):
    """The output directory has no runs (or not the one asked for)."""


def format_value(value) -> str:
    """How tables (terminal, notebook, report) show a value: floats from 1,000 up and
    whole floats with thousands separators and no decimals, others with 4 significant
    digits, never in exponent notation (a census tract or a timestamp is not
    `1.703e+10`); ints as they are (versions and spans are typed into commands); '-'
    for nothing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 1000 or value.is_integer():
            return f"{value:,.0f}"
        text = f"{value:.4g}"
        if "e" in text:  # below 0.0001: the same 4 significant digits, positionally
            digits = 3 - math.floor(math.log10(abs(value)))
            text = f"{value:.{digits}f}".rstrip("0")
        return text
    return str(value)


def _time(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000).isoformat(timespec="seconds")


# Overall metrics worth a column, in display order; a run has those of its task
# (pipeline/definition.py, _metrics_specs).
HEADLINE_METRICS = ("auc", "binary_accuracy", "sparse_categorical_accuracy", "macro_auc",
                    "rmse", "mean_absolute_error")


def headline_names(rows: list[dict]) -> list[str]:
    """The HEADLINE_METRICS that any of these metric rows has."""
    return [name for name in HEADLINE_METRICS if any(name in row for row in rows)]


def read_verdict(data_verdict) -> dict:
    """The DataGate's decision (pipeline/gate.py): passed, blocking and tolerated
    anomaly rows."""
    # A pipeline root given as a URI is read through TFX's filesystem layer (uris).
    return uris.read_json(f"{data_verdict.uri.rstrip('/')}/{gate_rules.VERDICT_FILE}")


def resolve_run(store, run_id: str | None) -> str:
    """`run_id`, or the newest run when None; also accepts a unique prefix."""
    ids = metadata.run_ids(store)
    if not ids:
        raise NoRuns("no runs yet: run `python -m pipeline run` first")
    if run_id is None:
        return ids[-1]
    matches = [i for i in ids if i == run_id] or [i for i in ids if i.startswith(run_id)]
    if len(matches) != 1:
        raise NoRuns(f"no single run matches {run_id!r} (see `python -m pipeline runs`)")
    return matches[0]


def _status(states: set[str], verdict: dict, blessing, pushed) -> str:
    """What became of a run, in the words of the run summary."""
    if "failed" in states:
        return "failed"
    if "running" in states:
        return "incomplete"
    if verdict and not verdict.get("passed"):
        return "stopped by data gate"
    if blessing and not metadata.custom_int(blessing, "blessed"):
        return "not blessed"
    return "pushed" if pushed and metadata.custom_int(pushed, "pushed") else "finished"


def run_summary(store, run_id: str, outputs: dict | None = None,
                verdict: dict | None = None, served: dict | None = None) -> dict:
    """One line of `runs`: when, how long, which span, what was found and decided, and
    which version TF Serving would serve now. `anomalies` and `blocking` count the data
    gate's rows (anomalies and drift), as the run summary does. `outputs`, `verdict`
    (`read_verdict`) and `served` (`serving_state`) spare a caller that has them a
    second read."""
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    executions = store.get_executions_by_context(run.id)
    outputs = metadata.run_outputs(store, run_id) if outputs is None else outputs
    examples = outputs.get("CsvExampleGen", {}).get("artifacts", {}).get("Examples", [])
    if verdict is None:
        gate = metadata.output(outputs, "DataGate", gate_rules.DATA_VERDICT_TYPE)
        verdict = read_verdict(gate) if gate else {}
    blessing = metadata.output(outputs, "Evaluator", "ModelBlessing")
    pushed = metadata.output(outputs, "Pusher", "PushedModel")
    states = {metadata.state_name(e) for e in executions}
    start = min((e.create_time_since_epoch for e in executions),
                default=run.create_time_since_epoch)
    end = max((e.last_update_time_since_epoch for e in executions), default=start)
    served = serving_state(store) if served is None else served
    pushed_version = (int(metadata.custom_str(pushed, "pushed_version"))
                      if pushed and metadata.custom_int(pushed, "pushed") else None)
    span = (metadata.spans(examples) or [None])[-1]
    return {
        "run_id": run_id,
        "start": _time(start),
        "seconds": round((end - start) / 1000, 1),
        "status": _status(states, verdict, blessing, pushed),
        "span": span,
        # The period the span holds (`prepare-data --by`), from the periods.json of
        # the folder the run's CsvExampleGen read; None when none is recorded.
        "period": _periods(input_base(e) for e in executions).get(span),
        "anomalies": (len(verdict.get("blocking", [])) + len(verdict.get("tolerated", []))
                      if verdict else None),
        "blocking": len(verdict.get("blocking", [])) if verdict else None,
        "blessed": bool(metadata.custom_int(blessing, "blessed")) if blessing else None,
        "pushed_version": pushed_version,
        "served_version": served["served_version"],
        "pinned_version": served["pinned_version"],
        # Versions in the serving folder newer than the one this run pushed (or found
        # pushed): TF Serving serves the highest unless a version is pinned.
        "newer_versions": [version for version in served["versions"]
                           if pushed_version and version > pushed_version],
    }


def input_base(execution) -> str | None:
    """The data folder an ExampleGen execution read (None for other executions)."""
    for properties in (execution.properties, execution.custom_properties):
        if "input_base" in properties:
            return properties["input_base"].string_value
    return None


def _periods(folders) -> dict[int, str]:
    """The periods of the spans of these data folders (`periods.span_periods`; a later
    folder's record wins for a span both name)."""
    found = {}
    for folder in folders:
        if folder:
            found.update(span_periods(folder))
    return found


def runs(store) -> list[dict]:
    """`run_summary` of every run, oldest first."""
    served = serving_state(store)
    return [run_summary(store, run_id, served=served) for run_id in metadata.run_ids(store)]


def missing_rows(common) -> int:
    """Rows in which a feature has no value, from its TFDV CommonStatistics.

    TFDV counts a row as missing (`num_missing`) only when the feature is absent from it.
    CsvExampleGen stores an empty CSV cell as an empty value list, which TFDV counts as
    present with 0 values: those rows show only in the value counts. With at most one
    value per row (every CSV column), rows with a value = `tot_num_values`. A feature
    with several values in some rows and none in others has no exact count of the
    empty ones in its statistics; then only the absent rows are counted."""
    if common.min_num_values >= 1 or common.max_num_values > 1:
        return int(common.num_missing)
    return int(common.num_non_missing + common.num_missing - common.tot_num_values)


def feature_statistics(statistics) -> list[dict]:
    """Per split and feature: type, rows with a value (`present`) and without
    (`missing`, see `missing_rows`), and numeric or string summaries of the values."""
    rows = []
    for split in metadata.split_names(statistics):
        stats = artifact_files.load_statistics(
            f"{statistics.uri}/Split-{split}/FeatureStats.pb")
        dataset = stats.datasets[0]
        for feature in dataset.features:
            kind = feature.WhichOneof("stats")
            common = (feature.num_stats.common_stats if kind == "num_stats"
                      else feature.string_stats.common_stats)
            missing = missing_rows(common)
            row = {
                "split": split,
                "feature": feature.path.step[0] if feature.path.step else feature.name,
                "type": "numeric" if kind == "num_stats" else "string",
                "present": int(common.num_non_missing + common.num_missing) - missing,
                "missing": missing,
            }
            # A split in which the feature has no value at all has no mean, std, min or
            # max (TFDV leaves zeros there).
            has_values = common.tot_num_values > 0
            if kind == "num_stats":
                num = feature.num_stats
                row.update(mean=num.mean, std=num.std_dev, min=num.min, max=num.max,
                           zeros=int(num.num_zeros))
                if not has_values:
                    row.update(mean=None, std=None, min=None, max=None)
            else:
                top = feature.string_stats.top_values
                row.update(unique=int(feature.string_stats.unique),
                           top=top[0].value if top else None)
                # The three most frequent values with their share of all values.
                total = common.tot_num_values or sum(value.frequency for value in top)
                row["top_values"] = ", ".join(
                    f"{value.value} {value.frequency / total:.0%}"
                    for value in top[:3]) if total else None
            rows.append(row)
    return rows


# The `run` flag behind each gated metric's bound (pipeline/flags.py, add_model_flags).
_BOUND_FLAGS = {"auc": "--min-auc", "binary_accuracy": "--min-accuracy",
                "sparse_categorical_accuracy": "--min-accuracy", "rmse": "--max-rmse",
                "mean_absolute_error": "--max-mae"}
def feature_distributions(statistics, split: str, top: int = 50) -> dict[str, dict]:
    """What the charts draw for one split of an ExampleStatistics artifact, per feature:
    numeric: TFDV's equal-width and quantile histograms as [low, high, count] buckets
    (`buckets`, `quantiles`) and whether its values are `integer`; string: the `top`
    most frequent values as [value, count] (TFDV's rank histogram). `values`: how many
    values there are (missing ones aside)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    dataset = artifact_files.load_statistics(
        f"{statistics.uri}/Split-{split}/FeatureStats.pb").datasets[0]
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
    if statistics is None or "train" not in metadata.split_names(statistics):
        return []

    def named(span_number, split):  # data without span folders is TFX's span 0
        return f"span-{span_number} {split}" if span else split

    found = [{"label": named(span, "train"),
              "features": feature_distributions(statistics, "train")}]
    previous = metadata.output(outputs, "StatisticsGen_prev1", "ExampleStatistics")
    if previous is not None and "train" in metadata.split_names(previous):
        previous_span = (metadata.spans(outputs["StatisticsGen_prev1"]["inputs"].get(
            "Examples", [])) or [None])[-1]
        found.append({"label": named(previous_span, "train") + " (previous span)",
                      "features": feature_distributions(previous, "train")})
    elif "eval" in metadata.split_names(statistics):
        found.append({"label": named(span, "eval"),
                      "features": feature_distributions(statistics, "eval")})
    return found


def thresholds(evaluation) -> dict[str, dict]:
    """The gate's thresholds on the whole eval split, per metric, from the EvalConfig the
    Evaluator ran with: `lower` or `upper` (a finite value bound) and `change` (the
    allowed difference from the baseline model, signed as TFMA applies it: baseline +
    change is the limit)."""
    config = uris.read_json(f"{evaluation.uri}/eval_config.json")["evalConfig"]
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




def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a value TFMA could not compute is None."""
    return value if value is not None and math.isfinite(value) else None


def failure_reasons(result, metrics: list[dict]) -> list[dict]:
    """Why TFMA did not bless: one dict per failed threshold of a ValidationResult,
    with metric, slice and the candidate's value, and `threshold` (a value threshold's
    bound) or `baseline` (the baseline model's value, for a change threshold), and
    `message`, the sentence that says it. TFMA's own message is empty for a plain
    failure, so the numbers come from the failure's key, value and threshold, and the
    baseline's value from `metrics` (`artifact_files.slice_metrics` of the same evaluation)."""
    values = {(row["slice"], row["model"]): row for row in metrics}
    reasons = []
    for per_slice in result.metric_validations_per_slice:
        where = artifact_files.slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            metric = artifact_files.metric_name(failure.metric_key)
            measured = (failure.metric_value.double_value.value
                        if failure.HasField("metric_value") else None)
            reason = {"metric": metric, "slice": where, "kind": "value", "value": None}
            threshold = failure.metric_threshold
            if threshold.HasField("change_threshold"):
                change = threshold.change_threshold
                directions = change.DESCRIPTOR.fields_by_name["direction"].enum_type
                higher = change.direction == directions.values_by_name["HIGHER_IS_BETTER"].number
                candidate = values.get((where, failure.metric_key.model_name or "candidate"),
                                       {}).get(metric)
                baseline = values.get((where, "baseline"), {}).get(metric)
                # TFMA compares candidate - baseline with the absolute bound; the
                # pipeline widens it by 1e-10 so that an equal model passes.
                allowed = round(abs(change.absolute.value), 9)
                reason.update(kind="change", value=_finite(candidate),
                              baseline=_finite(baseline), change=_finite(measured),
                              allowed_change=allowed)
                worse = abs(measured) if measured is not None else None
                reason["message"] = (
                    f"{metric} on {where} is {format_value(_finite(candidate))}, "
                    f"{format_value(_finite(worse))} {'below' if higher else 'above'} the "
                    f"baseline model's {format_value(_finite(baseline))}; allowed: "
                    f"{format_value(allowed)} (--max-regression)")
            else:
                bounds = threshold.value_threshold
                lower = bounds.HasField("lower_bound")
                bound = (bounds.lower_bound if lower else bounds.upper_bound).value
                reason.update(value=_finite(measured), threshold=_finite(bound))
                flag = _BOUND_FLAGS.get(metric.removeprefix("macro_"))
                reason["message"] = (
                    f"{metric} on {where} is {format_value(_finite(measured))}, "
                    f"{'below the lowest' if lower else 'above the highest'} value allowed, "
                    f"{format_value(_finite(bound))}" + (f" ({flag})" if flag else ""))
            if measured is None or not math.isfinite(measured):
                # "Metric not found." and the like: TFMA's message is the reason.
                reason["message"] = (f"{metric} on {where}: "
                                     f"{failure.message.strip() or 'could not be computed'}")
            reasons.append(reason)
    if not result.validation_ok and not reasons:
        missing = ", ".join(str(spec) for spec in result.missing_slices) or "-"
        reasons.append({"metric": None, "slice": None, "kind": None, "value": None,
                        "message": "TFMA had no thresholds to check" if
                        result.missing_thresholds else f"no examples in slice {missing}"})
    return reasons


def validation(evaluation, metrics: list[dict] | None = None) -> dict:
    """TFMA's blessing decision: ok, and the failed thresholds (`failure_reasons`).
    `metrics`, `artifact_files.slice_metrics(evaluation.uri)`, spares a caller that has it a
    second read."""
    result = artifact_files.load_validation_result(evaluation.uri)
    if metrics is None:
        metrics = artifact_files.slice_metrics(evaluation.uri)
    return {"ok": bool(result.validation_ok), "failures": failure_reasons(result, metrics)}


def _drift_values(latest: list[dict], previous: list[dict], latest_span: int | None,
                  previous_span: int | None):
    """A function that gives a drift row (split `train/prev`) the feature's value on
    both spans, `latest` and `previous`, and says them after the distance in its
    description: a numeric feature's mean, a categorical one's top values, from the
    two spans' `feature_statistics` rows. Other rows pass unchanged."""

    def summary(rows, split, feature):
        row = next((r for r in rows if r["split"] == split and r["feature"] == feature), None)
        if row is None:
            return None
        return (f"mean {format_value(row['mean'])}" if row["type"] == "numeric"
                else row.get("top_values"))

    def name(span, fallback):
        return f"span-{span}" if span is not None else fallback

    def with_values(row):
        if not gate_rules.is_drift(row):
            return row
        split = row["split"].removesuffix("/prev")
        now = summary(latest, split, row["feature"])
        before = summary(previous, split, row["feature"])
        if now is None and before is None:
            return row
        return {**row, "latest": now, "previous": before,
                "description": f"{row['description'].rstrip()} ({name(latest_span, 'latest')}: "
                               f"{now or '-'}; {name(previous_span, 'previous')}: "
                               f"{before or '-'})"}

    return with_values


def tuning(node: dict | None) -> dict | None:
    """What a run's Tuner did, from its `run_outputs` entry (None: no Tuner ran): the
    objective and its direction (from the Tuner's custom_config), every completed
    trial, best first, with its score and values and whether it is the untuned model
    (all values at the search space's defaults), and the chosen values (`best`)."""
    if not node:
        return None
    results = metadata.output({"Tuner": node}, "Tuner", "TunerResults")
    best = metadata.output({"Tuner": node}, "Tuner", "HyperParameters")
    if results is None or best is None:
        return {"state": node["state"], "trials": [], "best": None, "objective": None,
                "direction": None, "uri": None}
    config = artifact_files.load_best_hyperparameters(best.uri)
    # A Choice, Int, ... has a `default`; a Fixed hyperparameter only its `value`.
    defaults = {item["config"]["name"]: item["config"].get("default",
                                                           item["config"].get("value"))
                for item in config.get("space", [])}
    trials = [{**trial, "default": trial["hyperparameters"] == defaults}
              for trial in artifact_files.load_tuner_results(results.uri)]
    chosen = config.get("values", {})
    for trial in trials:
        trial["chosen"] = trial["hyperparameters"] == chosen
    default_trial = next((trial for trial in trials if trial["default"]), None)
    return {
        "state": node["state"],
        "objective": node["custom_config"].get("objective"),
        "direction": node["custom_config"].get("direction"),
        "trials": trials,
        "best": chosen,
        "best_score": trials[0]["score"] if trials else None,
        # The untuned model's score on the same objective (the search's first trial).
        "default_score": default_trial["score"] if default_trial else None,
        "uri": best.uri,
    }


def hyperparameter_text(values: dict) -> str:
    """Hyperparameter values as one line: `units_1 64, learning_rate 0.001, ...`."""
    return ", ".join(f"{name} {format_value(value)}" for name, value in values.items())


def tuning_note(found: dict) -> str:
    """One line on a run's tuning (`tuning`): trials, objective, the best and the
    untuned model's score, the chosen values; cached: an earlier run searched."""
    if not found["trials"]:
        return f"{found['state']}, no completed trial"
    better = "higher" if found["direction"] == "max" else "lower"
    default = (f", the untuned model {format_value(found['default_score'])}"
               if found["default_score"] is not None else "")
    cached = " (cached: searched by an earlier run)" if found["state"] == "cached" else ""
    return (f"{len(found['trials'])} trials by {found['objective']} ({better} is better): "
            f"best {format_value(found['best_score'])}{default}{cached}; chosen: "
            f"{hyperparameter_text(found['best'])}")


def trial_table(found: dict) -> tuple[list[dict], list[tuple[str, str]]]:
    """The trials of a `tuning` as table rows, best first, and their (title, key)
    columns: trial id, score (titled by the objective), one column per hyperparameter,
    and a note naming the chosen trial and the untuned one."""
    names = list(dict.fromkeys(name for trial in found["trials"]
                               for name in trial["hyperparameters"]))
    rows = [{**trial["hyperparameters"], "trial_id": trial["trial_id"],
             "score": trial["score"],
             "note": ", ".join(word for word, yes in (("chosen", trial["chosen"]),
                                                      ("untuned", trial["default"])) if yes)}
            for trial in found["trials"]]
    return rows, [("trial", "trial_id"), (found["objective"] or "score", "score"),
                  *((name, name) for name in names), ("", "note")]


def run_details(store, run_id: str) -> dict:
    """Everything `show`, the notebooks, the report and the run summary present about
    one run, each artifact read once."""
    outputs = metadata.run_outputs(store, run_id)
    statistics = metadata.output(outputs, "StatisticsGen", "ExampleStatistics")
    anomalies = metadata.output(outputs, "ExampleValidator", "ExampleAnomalies")
    drift = metadata.output(outputs, "DistributionValidator", "ExampleAnomalies")
    evaluation = metadata.output(outputs, "Evaluator", "ModelEvaluation")
    pushed = metadata.output(outputs, "Pusher", "PushedModel")
    curated = metadata.output(outputs, "ImportSchemaGen", "Schema")
    inferred = metadata.output(outputs, "SchemaGen", "Schema")
    verdict = metadata.output(outputs, "DataGate", gate_rules.DATA_VERDICT_TYPE)
    verdict = read_verdict(verdict) if verdict else {}
    anomaly_rows = gate_rules.anomaly_rows(artifact_files.load_split_anomalies(
        anomalies.uri, metadata.split_names(anomalies))) if anomalies else []
    drift_rows = gate_rules.drift_anomaly_rows(artifact_files.load_split_anomalies(
        drift.uri, metadata.split_names(drift), pairs=True)) if drift else None
    if drift_rows is not None:
        anomaly_rows, drift_rows = gate_rules.fold_missing_columns(anomaly_rows, drift_rows)
    summary = run_summary(store, run_id, outputs, verdict)
    statistics_rows = feature_statistics(statistics) if statistics else []
    if drift_rows or any(gate_rules.is_drift(row)
                         for row in verdict.get("blocking", []) + verdict.get("tolerated", [])):
        previous = metadata.output(outputs, "StatisticsGen_prev1", "ExampleStatistics")
        previous_examples = outputs.get("StatisticsGen_prev1", {}).get("inputs", {}).get(
            "Examples", [])
        values = _drift_values(
            statistics_rows, feature_statistics(previous) if previous else [],
            summary["span"], (metadata.spans(previous_examples) or [None])[-1])
        drift_rows = [values(row) for row in drift_rows]
        verdict = {**verdict, **{key: [values(row) for row in verdict[key]]
                                 for key in ("blocking", "tolerated")}}
    check = metadata.custom_str(pushed, "servable_check") if pushed else None
    metrics = artifact_files.slice_metrics(evaluation.uri) if evaluation else []
    return {
        **summary,
        "components": metadata.components(store, run_id),
        "rows": (artifact_files.row_counts(statistics.uri, metadata.split_names(statistics))
                 if statistics else {}),
        "statistics": statistics_rows,
        "statistics_uri": statistics.uri if statistics else None,
        # Per-feature histograms and top values of the run's data and of what it is
        # compared with (`_distributions`), for the charts.
        "distributions": _distributions(outputs, statistics, summary["span"]),
        "schema": {"curated": f"{curated.uri}/schema.pbtxt" if curated else None,
                   "inferred": f"{inferred.uri}/schema.pbtxt" if inferred else None},
        "anomalies_list": anomaly_rows,
        "anomalies_uri": anomalies.uri if anomalies else None,
        # The DataGate's decision: passed, blocking and tolerated anomaly rows.
        "verdict": verdict,
        "drift": drift_rows,
        "training_spans": metadata.spans(
            outputs.get("Transform", {}).get("inputs", {}).get("Examples", [])),
        "metrics": metrics,
        "validation": validation(evaluation, metrics) if evaluation else None,
        "thresholds": thresholds(evaluation) if evaluation else {},
        "pushed_path": (metadata.custom_str(pushed, "pushed_destination")
                        if summary["pushed_version"] else None),
        # False when the Pusher was cached: the version was published by an earlier run.
        "pushed_new": bool(summary["pushed_version"])
                      and outputs.get("Pusher", {}).get("state") == "executed",
        "servable_check": json.loads(check) if check else None,
        # The Tuner's trials and chosen hyperparameters (`tuning`; None: not tuned).
        "tuning": tuning(outputs.get("Tuner")),
        # The served model judged span by span up to this run (`served_history`).
        "served_history": served_history(store, run_id),
    }


def serving_state(store) -> dict:
    """What TF Serving would serve now, read from the model folder and models.config
    with TF Serving's rule (`serving.served_version`): the versions present, the
    pinned version (None: TF Serving picks the highest) and the served version."""
    location = metadata.serving_location(store)
    state = {"model_dir": None, "model_name": None, "models_config": None, "versions": [],
             "pinned_version": None, "served_version": None, "problem": None}
    if location is None:
        return state
    model_dir, model_name = location
    config = serving.models_config_path(model_dir)
    available = serving.versions(model_dir)
    state.update(model_dir=str(model_dir), model_name=model_name, models_config=str(config),
                 versions=available)
    try:
        pinned = serving.pinned_versions(config, model_name)
    except serving.ModelsConfigError as error:
        # TF Serving would not start with this file: nothing is served.
        state["problem"] = str(error)
        return state
    state.update(pinned_version=max(pinned, default=None) if pinned else None,
                 served_version=serving.served_version(available, pinned))
    return state


def served_note(summary: dict) -> str:
    """One line on what TF Serving would serve now next to what a run pushed, from a
    `run_summary` (or the run's --json summary)."""
    served, pushed = summary.get("served_version"), summary.get("pushed_version")
    pinned = summary.get("pinned_version")
    latest = "`python -m pipeline rollback --to latest`"
    if served is None:
        if pinned is not None:
            return (f"nothing: models.config pins version {pinned}, which is not in the "
                    f"serving folder; {latest} serves the newest")
        return "nothing: no version in the serving folder"
    if pinned is not None:
        note = f"{served}, pinned by `python -m pipeline rollback`"
        if pushed is not None and pushed != served:
            return (f"{note}: the pushed {pushed} is not served until {latest}")
        return f"{note} ({latest} serves the newest)"
    if pushed is None:
        return f"{served}, the highest version"
    if pushed == served:
        return f"{served}, the pushed version"
    if served > pushed:
        return (f"{served}, newer than the pushed {pushed} (see `python -m pipeline "
                f"lineage {served}`; `python -m pipeline rollback --to {pushed}` serves "
                f"{pushed})")
    return f"{served}: the pushed {pushed} is no longer in the serving folder"


def rollbacks(store) -> list[dict]:
    """Every `rollback` recorded in ML Metadata, oldest first: when, the policy it set
    ('specific': pinned; 'latest': the highest version), what TF Serving served before
    and after."""
    found = []
    # An empty list when no rollback ever registered the type.
    for execution in sorted(store.get_executions_by_type(ROLLBACK_TYPE),
                            key=lambda e: e.id):
        properties = execution.properties
        found.append({
            "time": _time(execution.create_time_since_epoch),
            "policy": properties["policy"].string_value,
            "served_version": properties["served_version"].int_value or None,
            "previous_served_version": (properties["previous_served_version"].int_value
                                        or None),
        })
    return found


def monitor_records(store) -> list[dict]:
    """Every recorded `monitor` result, oldest first (`monitoring.monitor`'s dict, with
    its execution's id); [] when none was ever recorded."""
    found = []
    for execution in sorted(store.get_executions_by_type(MONITOR_TYPE), key=lambda e: e.id):
        result = json.loads(execution.properties["result"].string_value or "{}")
        found.append({**result, "execution_id": execution.id})
    return found


def monitor_runs(store) -> list[dict]:
    """The recorded `monitor` results as rows of the `runs` table (their name as run
    id, `monitor: VERDICT` as status), oldest first."""
    return [{"run_id": record["name"], "start": record["time"], "seconds": None,
             "status": f"monitor: {record['verdict']}", "span": record["span"],
             "period": record.get("period"),
             "anomalies": None, "blocking": None, "blessed": None, "pushed_version": None,
             "served_version": record["served_version"], "pinned_version": None,
             "newer_versions": []} for record in monitor_records(store)]


def monitor_record(store, name: str) -> dict:
    """The recorded `monitor` result named `name` (or a unique prefix of it)."""
    records = monitor_records(store)
    matches = ([r for r in records if r["name"] == name]
               or [r for r in records if r["name"].startswith(name)])
    if len(matches) != 1:
        raise NoRuns(f"no single monitor result matches {name!r} (see `python -m pipeline "
                     "runs`)")
    return matches[0]


def step_action(summary: dict | None) -> str:
    """What a step did, from its run's summary (`run --json`, or `_run_step`; None: no
    run): the data gate stopped it, or it trained and pushed a new version, or it
    trained a model the Evaluator did not bless (or one the serving folder already
    holds), or it kept the served model."""
    if summary is None:
        return KEPT
    if not summary["data_passed"]:
        return DATA_STOPPED
    if summary["blessed"] and summary["pushed_new"]:
        return TRAINED_PUSHED
    return NOT_BLESSED


def _run_step(store, run_id: str) -> dict | None:
    """A run as `step_action` reads it (data_passed, blessed, pushed_new, the
    served_version it pushed); None for a run that failed or has not finished: it did
    nothing to the served model."""
    outputs = metadata.run_outputs(store, run_id)
    summary = run_summary(store, run_id, outputs, served={
        "served_version": None, "pinned_version": None, "versions": []})
    if summary["status"] in ("failed", "incomplete"):
        return None
    return {"data_passed": summary["status"] != "stopped by data gate",
            "blessed": bool(summary["blessed"]),
            # False when the Pusher was cached: an earlier run published the version.
            "pushed_new": bool(summary["pushed_version"])
                          and outputs.get("Pusher", {}).get("state") == "executed",
            "served_version": summary["pushed_version"], "run_id": run_id}


def timeline_metric(timeline: list[dict]) -> str | None:
    """The metric a timeline (replay's, `served_history`) is read by: AUC when it was
    measured, else the first metric measured on a span."""
    names = [name for row in timeline for name in row["metrics"] if name != "example_count"]
    if "auc" in names:
        return "auc"
    return names[0] if names else None


def served_history(store, until_run: str | None = None) -> list[dict]:
    """The served model's quality span by span, from ML Metadata: one row per recorded
    `monitor` result (by `monitor` or `replay`), oldest first, shaped as replay's
    timeline rows: span, period, verdict, served_before (the version judged), metrics
    (on the span), monitor (the result's name), then `action`: what the runs started
    after it and before the next result did (`step_action`; of several, a push counts
    first, then a run not blessed, then one the data gate stopped), and
    served_version: the version pushed, else the one judged. `until_run`: only what
    was recorded before that run ended, so that a run's report shows the history as
    it stood then. [] when nothing was ever monitored."""
    monitors = sorted(store.get_executions_by_type(MONITOR_TYPE), key=lambda e: e.id)
    if not monitors:
        return []
    runs_started = []
    cutoff = None
    for context in sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.id):
        executions = store.get_executions_by_context(context.id)
        start = min((e.create_time_since_epoch for e in executions),
                    default=context.create_time_since_epoch)
        runs_started.append((start, context.name))
        if context.name == until_run:
            cutoff = max((e.last_update_time_since_epoch for e in executions), default=start)
    if cutoff is not None:
        monitors = [e for e in monitors if e.create_time_since_epoch <= cutoff]
        runs_started = [(start, name) for start, name in runs_started if start <= cutoff]
    rank = {TRAINED_PUSHED: 3, NOT_BLESSED: 2, DATA_STOPPED: 1, KEPT: 0}
    history = []
    for index, execution in enumerate(monitors):
        result = json.loads(execution.properties["result"].string_value or "{}")
        begin = execution.create_time_since_epoch
        end = (monitors[index + 1].create_time_since_epoch if index + 1 < len(monitors)
               else math.inf)
        steps = [step for step in (_run_step(store, name) for start, name in runs_started
                                   if begin <= start < end) if step is not None]
        chosen = max(steps, key=lambda step: (rank[step_action(step)],
                                              step["served_version"] or 0), default=None)
        history.append(history_row(result, chosen))
    return history


def history_row(result: dict, step: dict | None = None) -> dict:
    """One row of `served_history`: a monitor result (`monitoring.monitor`'s dict) and
    the run that acted on it (`_run_step`; None: no run, the model was kept)."""
    taken = step_action(step)
    return {
        "span": result.get("span"), "period": result.get("period"),
        "verdict": result.get("verdict"), "served_before": result.get("served_version"),
        "metrics": result.get("metrics") or {}, "monitor": result.get("name"),
        "time": result.get("time"), "action": taken,
        "served_version": (step["served_version"] if taken == TRAINED_PUSHED
                           else result.get("served_version")),
        "run_id": step["run_id"] if step else None,
    }


def models(store) -> list[dict]:
    """Every pushed version, oldest first, with the run that pushed it and that run's
    overall metrics, and what TF Serving would do with it now: `served`, `pinned`
    (served because a `rollback` pinned it), `present` (still in the serving folder).
    A version folder ML Metadata has no record of is listed too, with no run."""
    state = serving_state(store)
    found = []
    for artifact in store.get_artifacts_by_type("PushedModel"):
        if not metadata.custom_int(artifact, "pushed"):
            continue
        execution = metadata.producer(store, artifact.id)
        run_id = metadata.run_of(store, execution) if execution else None
        metrics = {}
        if run_id:
            evaluation = metadata.output(metadata.run_outputs(store, run_id), "Evaluator",
                                "ModelEvaluation")
            metrics = (artifact_files.overall_metrics(artifact_files.slice_metrics(
                evaluation.uri)).get("candidate", {}) if evaluation else {})
        found.append({
            "version": int(metadata.custom_str(artifact, "pushed_version")),
            "path": metadata.custom_str(artifact, "pushed_destination"),
            "run_id": run_id,
            "metrics": metrics,
        })
    recorded = {row["version"] for row in found}
    found.extend({"version": version, "path": str(uris.join(state["model_dir"], str(version))),
                  "run_id": None, "metrics": {}}
                 for version in state["versions"] if version not in recorded)
    monitored = monitor_records(store)
    for row in found:
        # What `monitor` found of this version, oldest first.
        row["monitors"] = [{"name": record["name"], "time": record["time"],
                            "span": record["span"], "period": record.get("period"),
                            "verdict": record["verdict"]}
                           for record in monitored
                           if record["served_version"] == row["version"]]
        row["served"] = row["version"] == state["served_version"]
        row["pinned"] = row["served"] and state["pinned_version"] is not None
        row["present"] = row["version"] in state["versions"]
    return sorted(found, key=lambda row: row["version"])


def lineage(store, version: int | str) -> dict:
    """From a pushed version (or "latest", the newest) back to the data: the upstream
    components' executions in pipeline order, each with its input and output artifacts;
    the spans the Trainer was trained on (its own Examples inputs, not those the drift
    check compared); and the baseline model the Evaluator compared it with, as a
    reference: that model's history is not this one's, so it is not followed; and the
    Tuner's search that chose its hyperparameters (None: it was not tuned)."""
    pushed = metadata.pushed_artifacts(store)
    if version == "latest":
        if not pushed:
            raise NoRuns("no model has been pushed yet")
        version = max(pushed)
    if version not in pushed:
        raise NoRuns(f"no pushed version {version} (see `python -m pipeline models`)")
    types = metadata.type_names(store)
    steps, seen, frontier = [], set(), [pushed[version].id]
    spans, baseline, tuned = [], None, None
    while frontier:
        execution = metadata.producer(store, frontier.pop(0))
        if execution is None or execution.id in seen:
            continue
        seen.add(execution.id)
        inputs, outputs = metadata.execution_io(store, execution)

        def describe(key, artifact):
            row = {"key": key, "type": types.get(artifact.type_id), "uri": artifact.uri}
            if "span" in artifact.custom_properties:
                row["span"] = artifact.custom_properties["span"].int_value
            return row

        node = metadata.node_of(store, execution)
        step = {"component": node, "run_id": metadata.run_of(store, execution),
                "state": metadata.state_name(execution),
                "inputs": [describe(key, a) for key, a in inputs],
                "outputs": [describe(key, a) for key, a in outputs],
                "execution_id": execution.id}
        if input_base(execution) is not None:
            step["input_base"] = input_base(execution)
        if node == "Tuner":
            artifacts = {}
            for _, artifact in outputs:
                artifacts.setdefault(types.get(artifact.type_id), []).append(artifact)
            tuned = {**tuning({"state": step["state"], "artifacts": artifacts,
                               "custom_config": metadata.custom_config(execution)}),
                     "run_id": step["run_id"]}
        steps.append(step)
        for key, artifact in inputs:
            if node == "Trainer" and key == "examples":
                spans.extend(metadata.spans([artifact]))
            if node == "Evaluator" and key == "baseline_model":
                baseline = _baseline_reference(store, artifact, pushed)
                continue
            frontier.append(artifact.id)
    # Pipeline order: the order the components ran in the run that pushed the version
    # (LocalDagRunner runs them one by one in the pipeline's topological order).
    order = [row["id"] for row in metadata.components(store, steps[0]["run_id"])] if steps else []
    steps.sort(key=lambda step: (order.index(step["component"]) if step["component"] in order
                                 else len(order), step["execution_id"]))
    for step in steps:
        del step["execution_id"]
    # The rollbacks that made TF Serving serve this version or stop serving it.
    history = [record for record in rollbacks(store)
               if version in (record["served_version"], record["previous_served_version"])]
    periods = _periods(step.get("input_base") for step in steps)
    return {"version": version, "spans": sorted(set(spans)),
            # The period each span named here holds (`prepare-data --by`), by span.
            "periods": {str(span): periods[span] for span in sorted(
                set(spans) | {row["span"] for step in steps
                              for row in step["inputs"] + step["outputs"] if "span" in row})
                        if span in periods},
            "baseline": baseline,
            # The search that chose the model's hyperparameters (`tuning`, with the run
            # it ran in); None: the model was trained untuned.
            "tuning": tuned,
            "steps": steps, "served": serving_state(store)["served_version"] == version,
            "rollbacks": history}


def _baseline_reference(store, model, pushed: dict) -> dict:
    """The baseline Model the Evaluator read: where it is, the run that trained it, and
    the version it was pushed as (None when it never was)."""
    trainer = metadata.producer(store, model.id)
    version = None
    for number, artifact in pushed.items():
        pusher = metadata.producer(store, artifact.id)
        if pusher and metadata.read_by(store, pusher, model.id):
            version = max(version or 0, number)
    return {"version": version, "run_id": metadata.run_of(store, trainer) if trainer else None,
            "uri": model.uri}
