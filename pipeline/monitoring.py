"""Watching the served model on new data: `monitor(cfg, ...)` judges the version TF
Serving would serve now on a span, and returns (and records) the result as a dict.

What it measures, each with the library that does it:
- performance (when the span has labels): TFMA on the whole span through the served
  SavedModel's `from_examples` signature, with the Evaluator's own EvalConfig
  (`definition.eval_config`: the task's metrics and slices), next to the metrics the
  Evaluator measured when the model was pushed;
- data drift: TFDV statistics of the span against those of the model's training
  span(s) (their train split), with the gate's per-feature comparators and
  thresholds (`definition.drift_config`);
- prediction drift: TFDV statistics of the model's scores on the span against its
  scores on its own eval split, compared with a Jensen-Shannon divergence (a
  probability or a regression's prediction) or an L-infinity distance (the class a
  multi-class model picks).

The verdict rules are the small pure functions `decay_rows` and `verdict`. Each
result is recorded in ML Metadata as an execution of type `Monitor` with the served
PushedModel as input (`record`, read back by `inspection.monitor_records`), and written as an
offline HTML report. The CLI is pipeline/monitor_cli.py; `replay` calls `monitor`.
"""

import csv
import datetime
import json
import math
import re
from pathlib import Path

from pipeline import artifact_files, inspection, metadata, safe_files
from pipeline.inspection import MONITOR_TYPE
from pipeline.periods import span_periods

HEALTHY, DECAYED, DRIFTED = "healthy", "decayed", "drifted"
VERDICTS = (HEALTHY, DECAYED, DRIFTED)
# The column the model's scores are in when TFDV computes their statistics.
SCORE_FEATURE = "score"
# Scores are computed in batches of this many examples.
_BATCH = 1024


class MonitorError(ValueError):
    """Monitoring cannot be done; the message is one sentence for the user."""


# ---------------------------------------------------------------- verdict rules


def gated_metrics(eval_config) -> dict[str, bool]:
    """The metrics the Evaluator gates on (those with thresholds on the whole eval
    split) and whether higher is better, from an EvalConfig
    (`definition.eval_config`). Named as TFMA names them: the `name` in the metric's
    config, else its class in snake case."""
    from tensorflow_model_analysis.proto import config_pb2

    higher = config_pb2.MetricDirection.HIGHER_IS_BETTER
    found = {}
    for spec in eval_config.metrics_specs:
        if spec.HasField("binarize") or spec.HasField("aggregate"):
            continue
        for metric in spec.metrics:
            if not metric.per_slice_thresholds:
                continue
            name = (json.loads(metric.config or "{}").get("name")
                    or re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", metric.class_name).lower())
            threshold = metric.per_slice_thresholds[0].threshold
            found[name] = threshold.change_threshold.direction == higher
    return found


def decay_rows(metrics: dict, reference: dict, gated: dict[str, bool],
               max_decay: float) -> list[dict]:
    """One row per gated metric both results have: its value on the span, at push
    time, how much worse it is now (`fell_by`, in the metric's units; negative: better)
    and whether that is more than `max_decay` (`decayed`). A metric the span leaves
    undefined (None, e.g. AUC of one class) is not judged."""
    rows = []
    for name, higher_is_better in gated.items():
        now, then = metrics.get(name), reference.get(name)
        if now is None or then is None or not (math.isfinite(now) and math.isfinite(then)):
            continue
        fell_by = (then - now) if higher_is_better else (now - then)
        rows.append({"metric": name, "value": now, "reference": then,
                     "fell_by": fell_by, "decayed": fell_by > max_decay})
    return rows


def verdict(decay: list[dict] | None, drifted_features: list[dict],
            prediction_drift: dict | None) -> str:
    """`decayed` when a gated metric fell by more than allowed; else `drifted` when a
    feature or the model's scores drifted; else `healthy`. `decay` None: the span has
    no labels, so only drift is judged."""
    if decay and any(row["decayed"] for row in decay):
        return DECAYED
    if drifted_features or (prediction_drift and prediction_drift["drifted"]):
        return DRIFTED
    return HEALTHY


def with_serving(span_verdict: str, serving: dict | None) -> str:
    """The verdict once logged traffic (`serving_check`) is judged too: `drifted` when
    the logged inputs skew from the training data or the logged scores drifted from
    those on the eval split, unless the span already says worse (`decayed`)."""
    if span_verdict != HEALTHY or not serving:
        return span_verdict
    scores = serving.get("prediction_drift")
    if serving["skewed_features"] or (scores and scores["drifted"]):
        return DRIFTED
    return span_verdict


def exit_code(result_verdict: str) -> int:
    from pipeline.exit_codes import EXIT_MONITOR_ALERT, EXIT_OK

    return EXIT_OK if result_verdict == HEALTHY else EXIT_MONITOR_ALERT


def missing_labels(csv_files: list[Path], label) -> str | None:
    """Why the span's CSV files give no label (None: they do): a column the label is
    read from is absent, or empty in every row."""
    from pipeline.data import ENCODING

    for column in label.hidden_columns:
        found = False
        for path in csv_files:
            with path.open(newline="", encoding=ENCODING) as handle:
                reader = csv.DictReader(handle)
                if column not in (reader.fieldnames or []):
                    return f"the span has no {column!r} column"
                if any((row.get(column) or "").strip() for row in reader):
                    found = True
                    break
        if not found:
            return f"the span's {column!r} column is empty in every row"
    return None


def measurement_rows(anomalies, thresholds: dict[str, float] | None = None) -> list[dict]:
    """Every comparison TFDV made (`Anomalies.drift_skew_info`): feature, comparator,
    value, threshold and whether the value is over it (`drifted`)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    kinds = anomalies_pb2.DriftSkewInfo.Measurement.Type
    rows = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for measurement in info.drift_measurements:
            threshold = measurement.threshold
            if thresholds and feature in thresholds:
                threshold = thresholds[feature]
            rows.append({"feature": feature,
                         "comparator": kinds.Name(measurement.type).lower(),
                         "value": measurement.value, "threshold": threshold,
                         "drifted": measurement.value > threshold})
    return sorted(rows, key=lambda row: (not row["drifted"], row["feature"]))


# ---------------------------------------------------------------- the served model


def served_model(store) -> dict:
    """The version TF Serving would serve now and what ML Metadata knows of it: its
    folder, the PushedModel artifact, the spans and data folder it was trained on,
    its training Examples artifacts' folders and its push-time evaluation's folder.
    MonitorError when nothing is served or the pipeline did not push it."""
    state = inspection.serving_state(store)
    if state["problem"]:
        raise MonitorError(state["problem"])
    version = state["served_version"]
    if version is None:
        where = state["model_dir"] or "the serving folder"
        raise MonitorError(f"TF Serving would serve no model from {where}: run the "
                           "pipeline until it pushes one (or `rollback --to latest`)")
    pushed = metadata.pushed_artifacts(store)
    if version not in pushed:
        raise MonitorError(f"the served version {version} was not pushed by the pipeline, "
                           "so there is no record of its training data and metrics")
    lineage = inspection.lineage(store, version)
    trainer = next((step for step in lineage["steps"] if step["component"] == "Trainer"),
                   None)
    evaluator = next((step for step in lineage["steps"]
                      if step["component"] == "Evaluator"), None)
    gens = [step for step in lineage["steps"] if "input_base" in step]
    if trainer is None or evaluator is None:
        raise MonitorError(f"ML Metadata has no Trainer or Evaluator record of the served "
                           f"version {version}")
    evaluation = next(row["uri"] for row in evaluator["outputs"]
                      if row["type"] == "ModelEvaluation")
    return {
        "version": version,
        "version_dir": Path(state["model_dir"]) / str(version),
        "model_name": state["model_name"],
        "pushed_model": pushed[version],
        "trained_on_spans": lineage["spans"],
        "training_examples": [row["uri"] for row in trainer["inputs"]
                              if row["key"] == "examples"],
        "data_dir": Path(gens[0]["input_base"]) if gens else None,
        "evaluation_uri": evaluation,
    }


# ---------------------------------------------------------------- measuring


def _beam_options(cfg):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.beam import beam_pipeline_args

    return PipelineOptions(beam_pipeline_args(cfg))


def _stats_options(cfg):
    import tensorflow_data_validation as tfdv

    # The resolution StatisticsGen uses, which the drift thresholds assume.
    return tfdv.StatsOptions(num_histogram_buckets=cfg.histogram_buckets)


def span_examples(cfg, folder: Path, work_dir: Path) -> tuple[str, object]:
    """The span's CSV files as the tf.Examples CsvExampleGen makes of them (its
    executor, pipeline/example_gen.py), written as gzipped TFRecords, and TFDV's
    statistics of them, in one Beam pipeline: (the files' pattern, the statistics)."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from tfx_bsl.public import tfxio

    from pipeline.example_gen import Executor

    to_examples = Executor().GetInputSourceToExamplePTransform()
    prefix = work_dir / "examples" / "span"
    statistics = work_dir / "statistics" / "Split-span" / "FeatureStats.pb"
    statistics.parent.mkdir(parents=True, exist_ok=True)
    with beam.Pipeline(options=_beam_options(cfg)) as pipeline:
        serialized = (pipeline
                      | "CsvToExample" >> to_examples({"input_base": str(folder)}, "*.csv"))
        _ = serialized | "Write" >> beam.io.WriteToTFRecord(str(prefix),
                                                             file_name_suffix=".gz")
        _ = (serialized
             | "Decode" >> tfxio.TFExampleBeamRecord(
                 physical_format="inmem", telemetry_descriptors=["monitor"]).BeamSource()
             | "Statistics" >> tfdv.GenerateStatistics(_stats_options(cfg))
             | "WriteStatistics" >> tfdv.WriteStatisticsToBinaryFile(str(statistics)))
    return f"{prefix}*.gz", tfdv.load_stats_binary(str(statistics))


def _examples_statistics(cfg, patterns: list[str], path: Path):
    """TFDV's statistics of the tf.Examples in the TFRecord files `patterns`, written to
    `path` (and kept: a later monitor of the same model reads them)."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from tfx_bsl.public import tfxio

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with beam.Pipeline(options=_beam_options(cfg)) as pipeline:
        _ = (pipeline
             | "Read" >> tfxio.TFExampleRecord(
                 file_pattern=patterns, telemetry_descriptors=["monitor"]).BeamSource()
             | "Statistics" >> tfdv.GenerateStatistics(_stats_options(cfg))
             | "Write" >> tfdv.WriteStatisticsToBinaryFile(str(partial)))
    partial.replace(path)
    return tfdv.load_stats_binary(str(path))


def evaluate(cfg, version_dir: Path, examples: str, output: Path) -> list[dict]:
    """TFMA's metrics per slice (`artifact_files.slice_metrics`) of the SavedModel on the
    examples, with the Evaluator's EvalConfig: the same signature, label, metrics and
    slices. The gate's thresholds are left out: with no baseline model TFMA refuses
    change thresholds, and monitoring judges by --max-decay instead."""
    import tensorflow_model_analysis as tfma

    from pipeline.definition import eval_config

    config = without_thresholds(eval_config(cfg))
    shared = tfma.default_eval_shared_model(eval_saved_model_path=str(version_dir),
                                            eval_config=config)
    tfma.run_model_analysis(eval_shared_model=shared, eval_config=config,
                            data_location=examples, file_format="tfrecords",
                            output_path=str(output), pipeline_options=_beam_options(cfg))
    return artifact_files.slice_metrics(str(output))


def without_thresholds(config):
    """A copy of an EvalConfig without its metrics' thresholds."""
    copy = type(config)()
    copy.CopyFrom(config)
    for spec in copy.metrics_specs:
        for metric in spec.metrics:
            metric.ClearField("threshold")
            metric.ClearField("per_slice_thresholds")
            metric.ClearField("cross_slice_thresholds")
    return copy


def _serialized(patterns: list[str]):
    """The serialized tf.Examples of (gzipped) TFRecord files, in batches."""
    import tensorflow as tf

    files = sorted({path for pattern in patterns for path in tf.io.gfile.glob(pattern)})
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(_BATCH)
    yield from dataset


def scores(version_dir: Path, label, patterns: list[str]) -> list:
    """The model's answer to each tf.Example of the files, through its `from_examples`
    signature: P(second class) for two classes, the most likely class's name for more,
    the prediction for a regression."""
    import tensorflow as tf

    from models.features import CLASSIFICATION
    from models.signatures import EXAMPLES_INPUT, EXAMPLES_SIGNATURE, output_name

    model = tf.saved_model.load(str(version_dir), tags=["serve"])
    signature = model.signatures[EXAMPLES_SIGNATURE]
    found = []
    for batch in _serialized(patterns):
        output = signature(**{EXAMPLES_INPUT: batch})[output_name(label.task)].numpy()
        if label.task == CLASSIFICATION and label.num_classes > 2:
            found += [label.classes[index] for index in output.argmax(axis=1)]
        else:
            found += [float(value) for value in output[:, 0]]
    return found


def score_statistics(values: list, cfg):
    """TFDV's statistics of the scores, as one feature (SCORE_FEATURE)."""
    import pandas as pd
    import tensorflow_data_validation as tfdv

    return tfdv.generate_statistics_from_dataframe(
        pd.DataFrame({SCORE_FEATURE: values}), _stats_options(cfg), n_jobs=1)


def prediction_drift(span_scores, reference_scores, cfg) -> dict:
    """TFDV's distance between the two score distributions (statistics of each, and a
    drift comparator on the score feature), with cfg.prediction_drift_threshold."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    numeric = bool(span_scores) and isinstance(span_scores[0], float)
    schema = schema_pb2.Schema()
    feature = schema.feature.add(name=SCORE_FEATURE,
                                 type=schema_pb2.FLOAT if numeric else schema_pb2.BYTES)
    comparator = (feature.drift_comparator.jensen_shannon_divergence if numeric
                  else feature.drift_comparator.infinity_norm)
    comparator.threshold = cfg.prediction_drift_threshold
    anomalies = tfdv.validate_statistics(score_statistics(span_scores, cfg), schema,
                                         previous_statistics=score_statistics(
                                             reference_scores, cfg))
    rows = measurement_rows(anomalies)
    row = rows[0] if rows else {"comparator": None, "value": None,
                                "threshold": cfg.prediction_drift_threshold,
                                "drifted": False}
    return {"comparator": row["comparator"], "value": row["value"],
            "threshold": row["threshold"], "drifted": row["drifted"],
            "span_mean": _mean(span_scores), "reference_mean": _mean(reference_scores)}


def _mean(values: list) -> float | None:
    numbers = [value for value in values if isinstance(value, float)]
    return sum(numbers) / len(numbers) if numbers else None


def feature_drift(cfg, span_statistics, training_statistics) -> list[dict]:
    """TFDV's distance of each feature the gate checks for drift, between the span and
    the training data, with the gate's comparators and thresholds
    (`definition.drift_config`)."""
    import tensorflow_data_validation as tfdv

    from pipeline.definition import drift_config
    from pipeline.schema_file import load_schema

    schema = load_schema(cfg.locations.schema_path)
    comparators = {step.path.step[0]: step.distribution_comparator
                   for step in drift_config(cfg).default_slice_config.feature}
    for feature in schema.feature:
        feature.ClearField("drift_comparator")
        if feature.name in comparators:
            feature.drift_comparator.CopyFrom(comparators[feature.name])
    # Presence and domains are ExampleValidator's business, not drift's.
    schema.ClearField("default_environment")
    for feature in schema.feature:
        feature.ClearField("not_in_environment")
    anomalies = tfdv.validate_statistics(span_statistics, schema,
                                         previous_statistics=training_statistics)
    return measurement_rows(anomalies)


# ---------------------------------------------------------------- serving logs


def serving_check(cfg, compared: dict, log_dir: Path) -> dict:
    """The predict calls logged in `log_dir` (`predict --log-dir`) against the served
    model's training data and its scores on its eval split (`reference`):
    `serving_logs.skew_report` with the gate's per-feature thresholds and the
    statistics' histogram resolution. A multi-class model's eval scores are class
    names, not the logged probabilities, so its logged scores are not compared
    (`prediction_drift` None). MonitorError when the folder cannot be read."""
    from pipeline import serving_logs
    from pipeline.schema_file import load_schema

    eval_scores = compared["eval_scores"]
    numeric = bool(eval_scores) and all(isinstance(value, float) for value in eval_scores)
    try:
        found = serving_logs.skew_report(
            Path(log_dir), load_schema(cfg.locations.schema_path), compared["training_statistics"],
            eval_scores if numeric else None, thresholds=dict(cfg.drift_thresholds),
            score_threshold=cfg.prediction_drift_threshold,
            histogram_buckets=cfg.histogram_buckets)
    except serving_logs.LogError as error:
        raise MonitorError(str(error)) from None
    return {"log_dir": str(log_dir), **found}


# ---------------------------------------------------------------- monitor


def reference(cfg, served: dict) -> dict:
    """What the served model (`served_model`) is compared with: TFDV statistics of its
    training data (`training_statistics`, the train split of its training spans) and
    its scores on its own eval split (`eval_scores`), computed once per version and
    kept under <output>/monitor/reference-<version>/. Also what training-serving skew
    of logged requests is measured against."""
    folder = cfg.locations.output_dir / "monitor" / f"reference-{served['version']}"
    statistics_path = folder / "statistics" / "Split-training" / "FeatureStats.pb"
    scores_path = folder / "eval_scores.json"
    import tensorflow_data_validation as tfdv

    if statistics_path.is_file():
        training = tfdv.load_stats_binary(str(statistics_path))
    else:
        training = _examples_statistics(
            cfg, [f"{uri}/Split-train/*" for uri in served["training_examples"]],
            statistics_path)
    if scores_path.is_file():
        reference_scores = json.loads(scores_path.read_text(encoding="utf-8"))
    else:
        reference_scores = scores(served["version_dir"], cfg.label,
                                  [f"{uri}/Split-eval/*" for uri in
                                   served["training_examples"]])
        safe_files.write_text(scores_path, json.dumps(reference_scores))
    return {"training_statistics": training, "eval_scores": reference_scores,
            "training_statistics_uri": str(folder / "statistics")}


def choose_span(data_dir: Path, span: int | None, served: dict,
                excluded: tuple[str, ...] = ()) -> int:
    """The span to judge: `span`, or the newest; MonitorError when it is missing or is
    one the model was trained on (of the same data folder). `excluded`: the columns the
    run excluded, which the data check lets be anything, as run's does."""
    from pipeline import data

    try:
        spans = data.check_data_dir(data_dir, excluded)
    except data.DataError as error:
        raise MonitorError(str(error)) from None
    if not spans:
        raise MonitorError(f"{data_dir} has no span-<N>/ folders; monitor judges a span")
    if span is None:
        span = spans[-1]
    elif span not in spans:
        raise MonitorError(f"{data_dir} has no span-{span}/ (spans: "
                           f"{', '.join(map(str, spans))})")
    same_data = served["data_dir"] is not None and (
        Path(served["data_dir"]).resolve() == Path(data_dir).resolve())
    if same_data and span in served["trained_on_spans"]:
        raise MonitorError(f"the served version {served['version']} was trained on "
                           f"span-{span} of {data_dir}; add a new span or name one with "
                           "--span")
    return span


def monitor(cfg, store, data_dir: Path | None = None, span: int | None = None,
            max_decay: float | None = None, record_result: bool = True,
            serving_logs: Path | None = None) -> dict:
    """Judges the served version on one span of `data_dir` (default: the data it was
    trained on; the newest span) and returns the result: verdict, served_version,
    span, period, trained_on_spans, rows, labelled (and why not), metrics and
    reference_metrics (overall), slices and reference_slices, decay, drifted_features
    and drift (every feature compared), prediction_drift, max_decay, and, when
    recorded, execution_id, name and report. MonitorError in one sentence when it
    cannot judge. `record_result` False: no report and no ML Metadata record (the
    result's folder under <output>/monitor/ is still written). Recording takes the
    output directory's lock (`record`): a caller holding it must pass False and call
    `record` itself once it lets go, or the two would wait for each other.
    `serving_logs`: a folder of logged predict calls, judged as well (`serving`:
    `serving_check`; None without it)."""
    max_decay = cfg.max_decay if max_decay is None else max_decay
    served = served_model(store)
    data_dir = Path(data_dir or served["data_dir"] or cfg.locations.data_dir).expanduser().resolve()
    span = choose_span(data_dir, span, served, cfg.excluded_columns)
    periods = span_periods(data_dir)
    now = datetime.datetime.now()
    # Named as run ids are (a time without colons), and so is its folder.
    name = f"monitor-{now.strftime('%Y-%m-%dT%H-%M-%S.%f')}"
    work_dir = cfg.locations.output_dir / "monitor" / name
    folder = data_dir / f"span-{span}"
    csv_files = sorted(folder.glob("*.csv"))
    unlabelled = missing_labels(csv_files, cfg.label)
    examples, span_statistics = span_examples(cfg, folder, work_dir)
    compared = reference(cfg, served)
    reference_slices = artifact_files.slice_metrics(served["evaluation_uri"])
    reference_metrics = artifact_files.overall_metrics(reference_slices).get("candidate", {})
    slices, metrics, decay = [], {}, None
    if unlabelled is None:
        from pipeline.definition import eval_config

        slices = evaluate(cfg, served["version_dir"], examples, work_dir / "evaluation")
        metrics = artifact_files.overall_metrics(slices).get("candidate", {})
        decay = decay_rows(metrics, reference_metrics, gated_metrics(eval_config(cfg)),
                           max_decay)
    drift = feature_drift(cfg, span_statistics, compared["training_statistics"])
    predictions = prediction_drift(
        scores(served["version_dir"], cfg.label, [examples]), compared["eval_scores"], cfg)
    drifted = [row for row in drift if row["drifted"]]
    serving = None if serving_logs is None else serving_check(cfg, compared, serving_logs)
    result = {
        "verdict": with_serving(verdict(decay, drifted, predictions), serving),
        "served_version": served["version"],
        "model_name": served["model_name"],
        "data_dir": str(data_dir),
        "span": span,
        "period": periods.get(span),
        "trained_on_spans": served["trained_on_spans"],
        "trained_on_periods": {str(s): periods[s] for s in served["trained_on_spans"]
                               if s in periods and served["data_dir"] is not None
                               and Path(served["data_dir"]).resolve() == data_dir},
        "rows": int(span_statistics.datasets[0].num_examples),
        "labelled": unlabelled is None,
        "not_measured": None if unlabelled is None else (
            f"performance not measured: {unlabelled}"),
        "metrics": metrics,
        "reference_metrics": reference_metrics,
        "slices": [row for row in slices if row["model"] == "candidate"],
        "reference_slices": [row for row in reference_slices if row["model"] == "candidate"],
        "decay": decay,
        "max_decay": max_decay,
        "drifted_features": drifted,
        "drift": drift,
        "prediction_drift": predictions,
        "serving": serving,
        "statistics": {"span": str(work_dir / "statistics"),
                       "training": compared["training_statistics_uri"]},
        "time": now.isoformat(timespec="seconds"),
        "name": name,
    }
    if record_result:
        from pipeline import monitor_report

        # The served model's history as ML Metadata has it, and this result.
        history = inspection.served_history(store) + [inspection.history_row(result)]
        result["report"] = str(monitor_report.write(result, work_dir, history))
        result["execution_id"] = record(cfg, store, result, served["pushed_model"])
    return result


# ---------------------------------------------------------------- ML Metadata


def record(cfg, store, result: dict, pushed_model) -> int:
    """Records a monitor result in ML Metadata: an execution of type Monitor in the
    pipeline's context, with the served PushedModel as input; the whole result as
    JSON in its `result` property. Under the output directory's lock (waiting for a
    running pipeline), so that it never writes while a run does."""
    from ml_metadata.proto import metadata_store_pb2 as kinds

    from pipeline import workspace

    with workspace.exclusive(cfg.locations.output_dir, wait=True):
        type_id = store.put_execution_type(kinds.ExecutionType(
            name=MONITOR_TYPE,
            properties={"span": kinds.INT, "verdict": kinds.STRING,
                        "served_version": kinds.INT, "result": kinds.STRING}))
        execution = kinds.Execution(type_id=type_id, name=result["name"],
                                    last_known_state=kinds.Execution.COMPLETE)
        execution.properties["span"].int_value = result["span"]
        execution.properties["verdict"].string_value = result["verdict"]
        execution.properties["served_version"].int_value = result["served_version"]
        execution.properties["result"].string_value = json.dumps(result)
        event = kinds.Event(type=kinds.Event.INPUT)
        event.path.steps.add().key = "served_model"
        execution_id, _, _ = store.put_execution(
            execution, [(pushed_model, event)], store.get_contexts_by_type("pipeline"))
    return execution_id

