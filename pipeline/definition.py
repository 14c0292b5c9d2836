"""`create_pipeline(cfg)`: the TFX DAG, and nothing else (no I/O, no globals).

CsvExampleGen (training window of spans) -> StatisticsGen -> SchemaGen (inferred, for
review) and ImportSchemaGen (the dataset's curated schema, used downstream) ->
ExampleValidator, and with two or more spans and drift thresholds a
DistributionValidator comparing the latest span with the previous one -> DataGate;
only when the gate passes: Transform -> (with --tune: Tuner, models/tuner.py) ->
Trainer -> latest-blessed-model Resolver ->
Evaluator (the task's metrics) -> Pusher (gated by the blessing; publishes a checked,
servable version atomically: pipeline/pusher.py).
"""

import json
import math

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from google.protobuf import wrappers_pb2
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import path_pb2, schema_pb2
from tensorflow_model_analysis.proto import config_pb2

# TFX's classes from the modules tfx.v1 re-exports them from: importing tfx.v1 pulls in
# its Google Cloud extensions and google-cloud-aiplatform, 3 of the 9 s a run spends
# importing before its first component (the warm rerun takes 9.5 s in all).
from tfx.components import (
    Evaluator,
    ExampleValidator,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
    Tuner,
)

# TFX 1.21 ships DistributionValidator but does not export it in tfx.v1 yet.
from tfx.components.distribution_validator.component import DistributionValidator
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import distribution_validator_pb2, example_gen_pb2, range_config_pb2, trainer_pb2
from tfx.types import channel_utils, standard_artifacts
from tfx.types.channel import Channel

# Registers Beam's filesystem for file:// URIs in this process, where LocalDagRunner
# runs the components (workers import it as a Beam plugin: pipeline/beam.py).
import pipeline.file_scheme  # noqa: F401
from models.features import CLASSIFICATION, Encoding
from models.model import run_fn
from models.preprocessing import INPUTS_KEY, preprocessing_fn
from models.signatures import EXAMPLES_SIGNATURE, TRANSFORM_SIGNATURE
from models.tuner import DIRECTION_KEY, OBJECTIVE_KEY, TRIALS_KEY, objective_for, tuner_fn
from pipeline.baseline import CANDIDATE_KEY, LatestBlessedBeforeCandidateStrategy
from pipeline.beam import beam_pipeline_args
from pipeline.config import BASELINE_STRATEGIES, Config
from pipeline.example_gen import SpreadsheetCsvExampleGen
from pipeline.gate import DataGate
from pipeline.gate_rules import PASSED
from pipeline.pusher import ServingPusher


def dotted_path(fn) -> str:
    """How TFX finds user code: `package.module.function`, taken from the function."""
    return f"{fn.__module__}.{fn.__qualname__}"


def _gate(cfg: Config, bound: float | None, higher_is_better: bool) -> list:
    """A value bound (None: none) and a no-regression change threshold, on the whole
    eval split only."""
    overall = tfma.SlicingSpec()
    direction = (tfma.MetricDirection.HIGHER_IS_BETTER if higher_is_better
                 else tfma.MetricDirection.LOWER_IS_BETTER)
    # TFMA's bounds are strict; the epsilon lets an equal model pass.
    allowed = cfg.evaluation.max_regression + 1e-10
    threshold = tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
        direction=direction, absolute={"value": -allowed if higher_is_better else allowed}))
    if bound is None:
        # No bound still needs a value threshold: a first model (no baseline, so change
        # thresholds do not apply) with none at all is never blessed by TFMA.
        bound = -math.inf if higher_is_better else math.inf
    threshold.value_threshold.CopyFrom(tfma.GenericValueThreshold(
        **{"lower_bound" if higher_is_better else "upper_bound": {"value": bound}}))
    # Per-slice form on purpose: TFMA applies a MetricConfig's plain `threshold` to every
    # slice, and a small slice (say, one hour of the day) would then block the model.
    return [config_pb2.PerSliceMetricThreshold(slicing_specs=[overall], threshold=threshold)]


def _metrics_specs(cfg: Config) -> list:
    """The metrics the task is judged by, with the gate's thresholds: AUC and accuracy
    for two classes; accuracy (gated) and per-class and macro-averaged AUC for more;
    RMSE and MAE for regression. Classification adds the mean label (per class for
    more than two): TFMA reports AUC 0 for a slice whose examples are all one class,
    and a mean label of 0 or 1 is how artifact_files.slice_metrics tells that AUC is undefined."""
    count = tfma.MetricConfig(class_name="ExampleCount")
    mean_label = tfma.MetricConfig(class_name="MeanLabel")
    label = cfg.label
    if label.task != CLASSIFICATION:
        return [tfma.MetricsSpec(metrics=[
            count,
            tfma.MetricConfig(class_name="RootMeanSquaredError", config='{"name": "rmse"}',
                              per_slice_thresholds=_gate(cfg, cfg.evaluation.max_rmse, False)),
            tfma.MetricConfig(class_name="MeanAbsoluteError",
                              per_slice_thresholds=_gate(cfg, cfg.evaluation.max_mae, False)),
        ])]
    if label.num_classes == 2:
        return [tfma.MetricsSpec(metrics=[
            count,
            tfma.MetricConfig(class_name="AUC",
                              per_slice_thresholds=_gate(cfg, cfg.evaluation.min_auc, True)),
            tfma.MetricConfig(class_name="BinaryAccuracy",
                              per_slice_thresholds=_gate(cfg, cfg.evaluation.min_accuracy, True)),
            mean_label,
        ])]
    return [
        tfma.MetricsSpec(metrics=[
            count,
            tfma.MetricConfig(class_name="SparseCategoricalAccuracy",
                              per_slice_thresholds=_gate(cfg, cfg.evaluation.min_accuracy, True)),
        ]),
        tfma.MetricsSpec(
            metrics=[tfma.MetricConfig(class_name="AUC")],
            binarize=config_pb2.BinarizationOptions(
                class_ids={"values": list(range(label.num_classes))}),
            # Every class counts the same in the macro average.
            aggregate=config_pb2.AggregationOptions(
                macro_average=True,
                class_weights={index: 1.0 for index in range(label.num_classes)}),
        ),
        # Not in the macro-averaged spec: the average of the class shares means nothing.
        tfma.MetricsSpec(
            metrics=[mean_label],
            binarize=config_pb2.BinarizationOptions(
                class_ids={"values": list(range(label.num_classes))})),
    ]


def eval_config(cfg: Config) -> tfma.EvalConfig:
    """The task's metrics (`_metrics_specs`) on the whole eval split, with the gate's
    thresholds there; the same metrics per value of each `cfg.evaluation.slice_features`."""
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=EXAMPLES_SIGNATURE,
                label_key=cfg.label.name,
                preprocessing_function_names=[TRANSFORM_SIGNATURE],
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), *(tfma.SlicingSpec(feature_keys=[name])
                                             for name in cfg.evaluation.slice_features)],
        metrics_specs=_metrics_specs(cfg),
    )


def _code_fingerprint(cfg: Config, component) -> str:
    """The code fingerprint of a component whose executor is this project's code: that
    of the executor's module (`Config.fingerprint_of`)."""
    return cfg.fingerprint_of(component.EXECUTOR_SPEC.executor_class.__module__)


def _fingerprint_config(fingerprint: str) -> example_gen_pb2.CustomConfig:
    """ExampleGen's custom_config (a protobuf Any) holding a code fingerprint: the
    executor ignores it, and TFX's cache key includes it."""
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(wrappers_pb2.StringValue(value=fingerprint))
    return config


# The split of the training rows that Transform does not analyze (pipeline/scale.py).
TRAIN_MORE = "train_more"
# With --tune, the training rows the Tuner scores its trials on: not the rows the
# trials train on, nor the eval split the Evaluator judges the chosen model by (scored
# there, the search would pick the trial that best fits those rows, and the gate would
# see a flattered model).
TUNE = "tune"


def _training_splits(cfg: Config) -> list[tuple[str, int]]:
    """The training splits and their hash buckets: train, or for large data train (the
    rows Transform analyzes) and train_more; with tuning, one bucket of the last of
    them becomes the Tuner's `TUNE` split, so the analyzed rows stay the same."""
    if not cfg.analyzed_buckets:
        splits = [("train", cfg.train_buckets)]
    else:
        splits = [("train", cfg.analyzed_buckets),
                  (TRAIN_MORE, cfg.train_buckets - cfg.analyzed_buckets)]
    if cfg.tuning.enabled:
        name, buckets = splits[-1]
        splits[-1:] = [(name, buckets - 1), (TUNE, 1)]
    return [(name, buckets) for name, buckets in splits if buckets]


def _split_buckets(cfg: Config) -> list[tuple[str, int]]:
    """ExampleGen's hash split: the training splits (`_training_splits`), then eval.
    The eval buckets come last either way, so the eval rows depend neither on the
    analyzed share nor on tuning."""
    return [*_training_splits(cfg), ("eval", cfg.eval_buckets)]


def _train_args(cfg: Config, exclude: str | None = None) -> trainer_pb2.TrainArgs:
    """The Trainer's steps over every training split (after a search, the Tuner's rows
    too), or the Tuner's over all of them but `exclude`."""
    splits = [name for name, _ in _training_splits(cfg) if name != exclude]
    # TFX's default is ["train"]; left implicit, so the Trainer's cache key is the one
    # it always had.
    return trainer_pb2.TrainArgs(num_steps=cfg.train_steps,
                                 splits=[] if splits == ["train"] else splits)


def _example_gen(cfg: Config, span: int | None) -> SpreadsheetCsvExampleGen:
    """CsvExampleGen over one span (ExampleGen reads one span per component), or over
    the latest span found when no spans are configured; it reads a file that starts
    with a byte-order mark too (pipeline/example_gen.py)."""
    range_config = None
    if span is not None:
        range_config = range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span))
    return SpreadsheetCsvExampleGen(
        input_base=cfg.locations.data_location,
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=cfg.input_pattern)]
        ),
        output_config=example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(splits=[
                example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                for name, buckets in _split_buckets(cfg)])),
        range_config=range_config,
        # The executor is this project's code: its fingerprint makes a cached run of
        # edited code re-execute.
        custom_config=_fingerprint_config(_code_fingerprint(cfg, SpreadsheetCsvExampleGen)),
    ).with_id("CsvExampleGen")


def _older_span_gens(cfg: Config) -> dict[int, SpreadsheetCsvExampleGen]:
    """One ExampleGen per span before the latest that the run needs (the rest of the
    training window, and the previous span when there is a drift check), keyed by
    distance from the latest: `CsvExampleGen_prev1` reads the previous span,
    `CsvExampleGen_prev2` the one before."""
    needed = set(cfg.training_window[:-1])
    if cfg.previous_span is not None and cfg.drift_thresholds:
        needed.add(cfg.previous_span)
    return {
        cfg.latest_span - span: _example_gen(cfg, span).with_id(
            f"CsvExampleGen_prev{cfg.latest_span - span}")
        for span in sorted(needed, reverse=True)
    }


def drift_config(cfg: Config) -> distribution_validator_pb2.DistributionValidatorConfig:
    """Per-feature drift comparators: Jensen-Shannon divergence for numeric features,
    L-infinity distance for categorical ones."""
    features = []
    for name, threshold in cfg.drift_thresholds:
        comparator = schema_pb2.FeatureComparator()
        if cfg.inputs.features[name].encoding is Encoding.NUMERIC:
            comparator.jensen_shannon_divergence.threshold = threshold
        else:
            comparator.infinity_norm.threshold = threshold
        features.append(distribution_validator_pb2.FeatureComparator(
            path=path_pb2.Path(step=[name]), distribution_comparator=comparator))
    return distribution_validator_pb2.DistributionValidatorConfig(
        default_slice_config=distribution_validator_pb2.DistributionValidatorConfig.DatasetConfig(
            feature=features))


def _drift_validator(cfg: Config, latest_statistics, previous_gen):
    """Compares the latest span's statistics with the previous span's; None when there
    is no previous span (the first span has no baseline) or no drift threshold."""
    if previous_gen is None or not cfg.drift_thresholds:
        return None, []
    previous_stats = StatisticsGen(
        examples=previous_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(num_histogram_buckets=cfg.histogram_buckets),
    ).with_id("StatisticsGen_prev1")
    validator = DistributionValidator(
        statistics=latest_statistics,
        baseline_statistics=previous_stats.outputs["statistics"],
        config=drift_config(cfg),
    )
    return validator, [previous_stats, validator]


def _baseline_resolver(cfg: Config, candidate) -> Resolver:
    """The latest blessed model for the Evaluator to compare with. "before-candidate"
    sees the candidate so it never offers it as its own baseline; "latest-blessed" is
    TFX's strategy, which Kubeflow V2 compiles (it takes no extra input)."""
    if cfg.evaluation.baseline_strategy not in BASELINE_STRATEGIES:
        raise ValueError(f"unknown baseline strategy {cfg.evaluation.baseline_strategy!r}; "
                         f"choose one of {', '.join(BASELINE_STRATEGIES)}")
    if cfg.evaluation.baseline_strategy == "latest-blessed":
        strategy, extra_inputs = LatestBlessedModelStrategy, {}
    else:
        strategy, extra_inputs = LatestBlessedBeforeCandidateStrategy, {CANDIDATE_KEY: candidate}
    return Resolver(
        strategy_class=strategy,
        **extra_inputs,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModelResolver")


def create_pipeline(cfg: Config) -> Pipeline:
    # Statistics, validation and drift concern the latest span: the new data. Older
    # spans of the training window were checked when they were the latest.
    example_gen = _example_gen(cfg, cfg.latest_span)
    older_gens = _older_span_gens(cfg)
    window = [example_gen] + [older_gens[cfg.latest_span - span]
                              for span in cfg.training_window[:-1]]
    training_examples = (
        example_gen.outputs["examples"] if len(window) == 1
        else channel_utils.union([gen.outputs["examples"] for gen in window]))
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(num_histogram_buckets=cfg.histogram_buckets),
    )
    inferred_schema = SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=False
    )
    curated_schema = ImportSchemaGen(schema_file=cfg.locations.schema_location)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=curated_schema.outputs["schema"],
    )
    drift_validator, drift_nodes = _drift_validator(
        cfg, statistics_gen.outputs["statistics"], older_gens.get(1))
    gate = DataGate(
        anomalies=example_validator.outputs["anomalies"],
        drift=drift_validator.outputs["anomalies"] if drift_validator else None,
        tolerated_anomalies=json.dumps(list(cfg.tolerated_anomalies)),
        drift_blocks=int(cfg.drift_blocks),
        code_fingerprint=_code_fingerprint(cfg, DataGate),
    )
    with Cond(gate.outputs["verdict"].future()[0].custom_property(PASSED) == 1):
        model_components = _model_components(
            cfg, training_examples, example_gen.outputs["examples"], curated_schema)
    return Pipeline(
        pipeline_name=cfg.pipeline_name,
        pipeline_root=cfg.locations.pipeline_root_location,
        components=[
            example_gen,
            *older_gens.values(),
            statistics_gen,
            inferred_schema,
            curated_schema,
            example_validator,
            *drift_nodes,
            gate,
            *model_components,
        ],
        enable_cache=cfg.enable_cache,
        # Built directly: TFX's sqlite_metadata_connection_config helper creates the
        # folder, and defining a pipeline must not touch the disk.
        metadata_connection_config=metadata_store_pb2.ConnectionConfig(
            sqlite=metadata_store_pb2.SqliteMetadataSourceConfig(
                filename_uri=str(cfg.locations.metadata_path),
                connection_mode=metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE,
            )
        ),
        beam_pipeline_args=beam_pipeline_args(cfg),
    )


def tf1_transform_graph(cfg: Config) -> bool:
    """Whether Transform exports a TF1 graph (`force_tf_compat_v1`): it analyzes and
    exports faster than tracing a TF2 one (the Transform graph serves the same), but
    the Trainer loads it as a wrapped TF1 graph whose vocabulary tables the TFLite
    converter leaves uninitialized (the interpreter refuses to look anything up). So
    a TF2 graph when the Pusher writes a TFLite copy of a model with a vocabulary
    feature; numeric and integer-category models convert from either."""
    vocabulary = any(feature.encoding is Encoding.VOCABULARY
                     for feature in cfg.inputs.features.values())
    return not (cfg.tflite and vocabulary)


def _tuner(cfg: Config, examples, transform, curated_schema, code_config: dict) -> Tuner:
    """TFX's Tuner: `cfg.tuning.trials` models of models/tuner.py's search space, each
    trained on the training splits but `TUNE` and scored on `TUNE` by the task's
    objective.
    Its custom_config holds the models/ fingerprint, the inputs and the trials, so a
    change of code, schema, label or budget tunes again (and so do new examples)."""
    objective, direction = objective_for(cfg.label)
    return Tuner(
        tuner_fn=dotted_path(tuner_fn),
        examples=examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=curated_schema.outputs["schema"],
        train_args=_train_args(cfg, exclude=TUNE),
        eval_args=trainer_pb2.EvalArgs(splits=[TUNE]),
        custom_config={**code_config, "seed": cfg.seed, TRIALS_KEY: cfg.tuning.trials,
                       OBJECTIVE_KEY: objective, DIRECTION_KEY: direction},
    )


def _model_components(cfg: Config, examples, latest_examples, curated_schema) -> list:
    """Transform -> (Tuner) -> Trainer -> baseline Resolver -> Evaluator -> Pusher; the
    Pusher's warm-up requests and servable check use the latest span's eval examples."""
    code_config = {"model_fingerprint": cfg.model_fingerprint,
                   INPUTS_KEY: cfg.inputs.to_json()}
    transform = Transform(
        examples=examples,
        schema=curated_schema.outputs["schema"],
        preprocessing_fn=dotted_path(preprocessing_fn),
        custom_config=code_config,
        # Its pre- and post-transform statistics repeat StatisticsGen's work for no
        # reader, and tf.Transform analyzes and exports a TF1 graph faster than it traces
        # a TF2 one, where TFLite allows (`tf1_transform_graph`). Taxi: 17-21 s -> 11-13 s.
        disable_statistics=True,
        force_tf_compat_v1=tf1_transform_graph(cfg),
        # No transformed copy of the examples: the Trainer applies the graph as it
        # reads raw ones (models/model.py, training_batches). Taxi: 11-12 s -> 8-9.5 s.
        materialize=False,
    )
    tuner = (_tuner(cfg, examples, transform, curated_schema, code_config)
             if cfg.tuning.enabled else None)
    trainer = Trainer(
        run_fn=dotted_path(run_fn),
        examples=examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=curated_schema.outputs["schema"],
        train_args=_train_args(cfg),
        # The search's best values (models.model.trainer_hyperparameters reads them).
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        custom_config={**code_config, "seed": cfg.seed},
    )
    baseline_resolver = _baseline_resolver(cfg, trainer.outputs["model"])
    evaluator = Evaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"],
        eval_config=eval_config(cfg),
    )
    pusher = ServingPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        examples=latest_examples,
        model_serving_dir=cfg.model_serving_location,
        model_name=cfg.model_name,
        hidden_columns=list(cfg.label.hidden_columns),
        code_fingerprint=_code_fingerprint(cfg, ServingPusher),
        tflite=cfg.tflite,
    ).with_id("Pusher")
    return [transform, *([tuner] if tuner else []), trainer, baseline_resolver, evaluator,
            pusher]
