"""`create_pipeline(cfg)`: the TFX DAG, and nothing else (no I/O, no globals).

CsvExampleGen -> StatisticsGen -> SchemaGen (inferred, for review) and ImportSchemaGen
(curated schema/schema.pbtxt, used downstream) -> ExampleValidator -> DataGate; only
when the gate passes: Transform -> Trainer -> latest-blessed-model Resolver ->
Evaluator -> Pusher (gated by the blessing).
"""

import json

import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from models.features import LABEL
from models.model import run_fn
from models.preprocessing import preprocessing_fn
from pipeline.baseline import CANDIDATE_KEY, LatestBlessedBeforeCandidateStrategy
from pipeline.config import Config
from pipeline.gate import PASSED, DataGate


def dotted_path(fn) -> str:
    """How TFX finds user code: `package.module.function`, taken from the function."""
    return f"{fn.__module__}.{fn.__qualname__}"


def eval_config(cfg: Config) -> tfma.EvalConfig:
    """AUC and accuracy, each with a value floor and a no-regression change threshold."""
    def threshold(floor: float) -> tfma.MetricThreshold:
        return tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": floor}),
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                # TFMA's lower bound is strict; the epsilon lets an equal model pass.
                absolute={"value": -cfg.max_regression - 1e-10},
            ),
        )

    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                label_key=LABEL.key,
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="AUC", threshold=threshold(cfg.min_auc)),
                    tfma.MetricConfig(
                        class_name="BinaryAccuracy", threshold=threshold(cfg.min_accuracy)),
                ]
            )
        ],
    )


def create_pipeline(cfg: Config) -> tfx.dsl.Pipeline:
    example_gen = tfx.components.CsvExampleGen(
        input_base=str(cfg.data_dir),
        input_config=tfx.proto.Input(
            splits=[tfx.proto.Input.Split(name="single_split", pattern=cfg.input_pattern)]
        ),
        output_config=tfx.proto.Output(
            split_config=tfx.proto.SplitConfig(
                splits=[
                    tfx.proto.SplitConfig.Split(name="train", hash_buckets=cfg.train_buckets),
                    tfx.proto.SplitConfig.Split(name="eval", hash_buckets=cfg.eval_buckets),
                ]
            )
        ),
    )
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    inferred_schema = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=False
    )
    curated_schema = tfx.components.ImportSchemaGen(schema_file=str(cfg.schema_path))
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=curated_schema.outputs["schema"],
    )
    gate = DataGate(
        anomalies=example_validator.outputs["anomalies"],
        tolerated_anomalies=json.dumps(list(cfg.tolerated_anomalies)),
        code_fingerprint=cfg.gate_fingerprint,
    )
    with tfx.dsl.Cond(gate.outputs["verdict"].future()[0].custom_property(PASSED) == 1):
        model_components = _model_components(cfg, example_gen, curated_schema)
    return tfx.dsl.Pipeline(
        pipeline_name=cfg.pipeline_name,
        pipeline_root=str(cfg.pipeline_root),
        components=[
            example_gen,
            statistics_gen,
            inferred_schema,
            curated_schema,
            example_validator,
            gate,
            *model_components,
        ],
        enable_cache=cfg.enable_cache,
        # Built directly: TFX's sqlite_metadata_connection_config helper creates the
        # folder, and defining a pipeline must not touch the disk.
        metadata_connection_config=metadata_store_pb2.ConnectionConfig(
            sqlite=metadata_store_pb2.SqliteMetadataSourceConfig(
                filename_uri=str(cfg.metadata_path),
                connection_mode=metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE,
            )
        ),
        beam_pipeline_args=list(cfg.beam_pipeline_args),
    )


def _model_components(cfg: Config, example_gen, curated_schema) -> list:
    """Transform -> Trainer -> baseline Resolver -> Evaluator -> Pusher."""
    code_config = {"model_fingerprint": cfg.model_fingerprint}
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=curated_schema.outputs["schema"],
        preprocessing_fn=dotted_path(preprocessing_fn),
        custom_config=code_config,
    )
    trainer = tfx.components.Trainer(
        run_fn=dotted_path(run_fn),
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=curated_schema.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=cfg.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=cfg.eval_steps),
        custom_config={**code_config, "seed": cfg.seed},
    )
    baseline_resolver = tfx.dsl.Resolver(
        strategy_class=LatestBlessedBeforeCandidateStrategy,
        **{CANDIDATE_KEY: trainer.outputs["model"]},
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModelResolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"],
        eval_config=eval_config(cfg),
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=str(cfg.model_serving_dir)
            )
        ),
    )
    return [transform, trainer, baseline_resolver, evaluator, pusher]
