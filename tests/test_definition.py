"""create_pipeline wiring, checked on the DSL objects (no run, no I/O)."""

import dataclasses
import importlib
import json

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx import v1 as tfx
from tfx.dsl.compiler import compiler

from models.features import REGRESSION, Label
from models.preprocessing import INPUTS_KEY
from pipeline.baseline import LatestBlessedBeforeCandidateStrategy
from pipeline.config import make_config
from pipeline.definition import create_pipeline
from pipeline.example_gen import Executor

EXPECTED = [
    "CsvExampleGen", "StatisticsGen", "SchemaGen", "ImportSchemaGen", "ExampleValidator",
    "DataGate", "Transform", "Trainer", "LatestBlessedModelResolver", "Evaluator", "Pusher",
]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    out = tmp_path_factory.mktemp("unused")
    return make_config(output_dir=out / "out", data_dir=out / "data")


@pytest.fixture(scope="module")
def components(cfg):
    return {c.id: c for c in create_pipeline(cfg).components}


def _proto(value, message):
    """An exec property as a proto (TFX keeps some as JSON text)."""
    return json_format.Parse(value, message) if isinstance(value, str) else value


def _producer(channel):
    return channel.producer_component_id, channel.output_key


def test_all_components_are_present(components):
    assert sorted(components) == sorted(EXPECTED)


def test_curated_schema_is_used_downstream_and_inferred_one_only_for_review(components):
    for consumer in ("ExampleValidator", "Transform", "Trainer"):
        assert _producer(components[consumer].inputs["schema"]) == ("ImportSchemaGen", "schema")
    consumers_of_inferred = [
        c.id for c in components.values()
        if any(getattr(ch, "producer_component_id", None) == "SchemaGen"
               for ch in c.inputs.values())
    ]
    assert consumers_of_inferred == []


def test_pusher_is_gated_by_the_evaluator_blessing(components, cfg):
    pusher = components["Pusher"]
    assert _producer(pusher.inputs["model_blessing"]) == ("Evaluator", "blessing")
    assert _producer(pusher.inputs["model"]) == ("Trainer", "model")
    destination = _proto(pusher.exec_properties["push_destination"],
                         tfx.proto.PushDestination())
    assert destination.filesystem.base_directory == str(cfg.model_serving_dir)
    # Warm-up requests and the servable check use the latest span's examples.
    assert _producer(pusher.inputs["examples"]) == ("CsvExampleGen", "examples")
    config = json.loads(pusher.exec_properties["custom_config"])
    assert config == {"model_name": cfg.model_name, "hidden_columns": ["tips"],
                      "code_fingerprint": cfg.fingerprint_of("pipeline.pusher"),
                      "tflite": True}
    # run --no-tflite reaches the Pusher (a cache key too: turning it back on pushes
    # anew).
    without_tflite = create_pipeline(dataclasses.replace(cfg, tflite=False))
    [node] = [c for c in without_tflite.components if c.id == "Pusher"]
    assert json.loads(node.exec_properties["custom_config"])["tflite"] is False


def test_evaluator_compares_with_the_latest_blessed_model(components, cfg):
    evaluator = components["Evaluator"]
    resolver = components["LatestBlessedModelResolver"]
    assert evaluator.inputs["baseline_model"] is resolver.outputs["model"]
    assert _producer(evaluator.inputs["model"]) == ("Trainer", "model")
    # The resolver sees the candidate, so that it never offers it as its own baseline
    # (DataGate is upstream because the resolver runs only when the gate passes).
    assert {node.id for node in resolver.upstream_nodes} == {"Trainer", "DataGate"}
    assert resolver.exec_properties["resolver_class"] is LatestBlessedBeforeCandidateStrategy
    eval_config = _proto(evaluator.exec_properties["eval_config"], tfma.EvalConfig())
    assert eval_config.model_specs[0].label_key == cfg.label.name == "big_tipper"
    by_name = {m.class_name: m.per_slice_thresholds for m in eval_config.metrics_specs[0].metrics}
    # The floors and the no-regression rule concern the whole eval split only.
    for name in ("AUC", "BinaryAccuracy"):
        assert [list(t.slicing_specs) for t in by_name[name]] == [[tfma.SlicingSpec()]]
    thresholds = {name: found[0].threshold for name, found in by_name.items() if found}
    slices = [list(spec.feature_keys) for spec in eval_config.slicing_specs]
    assert slices == [[]] + [[name] for name in cfg.evaluation.slice_features]
    assert thresholds["AUC"].value_threshold.lower_bound.value == cfg.evaluation.min_auc
    accuracy = thresholds["BinaryAccuracy"].value_threshold.lower_bound.value
    assert accuracy == cfg.evaluation.min_accuracy
    # No regression against the baseline: both gated metrics carry a change threshold
    # (a missing one reads as value 0 too, so its presence is checked first).
    for name in ("AUC", "BinaryAccuracy"):
        assert thresholds[name].HasField("change_threshold"), name
        change = thresholds[name].change_threshold
        assert change.HasField("absolute") and not change.HasField("relative"), name
        assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER, name
        allowed = cfg.evaluation.max_regression
        assert change.absolute.value == pytest.approx(-allowed, abs=1e-9), name
    # The mean label per slice tells a one-class slice, whose AUC TFMA reports as 0.
    assert "MeanLabel" in by_name


def test_data_gate_reads_the_validator_and_guards_every_model_component(components, cfg):
    gate = components["DataGate"]
    assert _producer(gate.inputs["anomalies"]) == ("ExampleValidator", "anomalies")
    assert json.loads(gate.exec_properties["tolerated_anomalies"]) == list(
        cfg.tolerated_anomalies)
    assert gate.exec_properties["code_fingerprint"] == cfg.fingerprint_of("pipeline.gate")
    # What LocalDagRunner executes: the compiled IR's per-node conditions.
    ir = compiler.Compiler().compile(create_pipeline(cfg))
    guarded = {"Transform", "Trainer", "LatestBlessedModelResolver", "Evaluator", "Pusher"}
    for node in ir.nodes:
        node_id = node.pipeline_node.node_info.id
        conditions = [str(c) for c in node.pipeline_node.inputs.conditionals.values()]
        if node_id in guarded:
            assert len(conditions) == 1, node_id
            assert "DataGate" in conditions[0] and '"passed"' in conditions[0], conditions
        else:
            assert conditions == [], node_id


def test_user_code_is_referenced_by_importable_dotted_paths(components):
    for component, key in (("Transform", "preprocessing_fn"), ("Trainer", "run_fn")):
        path = components[component].exec_properties[key]
        module, _, name = path.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), path


def _eval_config(cfg) -> tfma.EvalConfig:
    evaluator = {c.id: c for c in create_pipeline(cfg).components}["Evaluator"]
    return _proto(evaluator.exec_properties["eval_config"], tfma.EvalConfig())


def test_multi_class_model_is_gated_on_accuracy_and_reports_macro_auc(cfg):
    wine = dataclasses.replace(cfg, inputs=dataclasses.replace(
        cfg.inputs, label=Label("big_tipper", classes=("0", "1", "2"))),
        evaluation=dataclasses.replace(cfg.evaluation, min_accuracy=0.8))
    gated, per_class, class_shares = _eval_config(wine).metrics_specs
    by_name = {m.class_name: m for m in gated.metrics}
    threshold = by_name["SparseCategoricalAccuracy"].per_slice_thresholds[0].threshold
    assert threshold.value_threshold.lower_bound.value == 0.8
    assert [m.class_name for m in per_class.metrics] == ["AUC"]
    assert not per_class.metrics[0].per_slice_thresholds
    assert list(per_class.binarize.class_ids.values) == [0, 1, 2]
    assert per_class.aggregate.macro_average
    assert dict(per_class.aggregate.class_weights) == {0: 1.0, 1: 1.0, 2: 1.0}
    # Each class's share per slice, which tells where its AUC is undefined (one class).
    assert [m.class_name for m in class_shares.metrics] == ["MeanLabel"]
    assert list(class_shares.binarize.class_ids.values) == [0, 1, 2]
    assert not class_shares.HasField("aggregate")


def test_regression_is_gated_on_rmse_and_mae_ceilings_and_no_regression(cfg):
    regression = dataclasses.replace(cfg, inputs=dataclasses.replace(
        cfg.inputs, label=Label("tips", REGRESSION)),
        evaluation=dataclasses.replace(cfg.evaluation, max_rmse=2.5, max_regression=0.1))
    (spec,) = _eval_config(regression).metrics_specs
    thresholds = {m.class_name: m.per_slice_thresholds[0].threshold
                  for m in spec.metrics if m.per_slice_thresholds}
    assert set(thresholds) == {"RootMeanSquaredError", "MeanAbsoluteError"}
    rmse, mae = thresholds["RootMeanSquaredError"], thresholds["MeanAbsoluteError"]
    assert rmse.value_threshold.upper_bound.value == 2.5
    # No ceiling configured: an infinite one, so that a first model can be blessed.
    assert mae.value_threshold.upper_bound.value == float("inf")
    for threshold in (rmse, mae):
        assert threshold.HasField("change_threshold")
        assert threshold.change_threshold.HasField("absolute")
        assert threshold.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER
        assert threshold.change_threshold.absolute.value == pytest.approx(0.1)


def test_transform_skips_statistics_nobody_reads(components):
    properties = components["Transform"].exec_properties
    assert properties["disable_statistics"] == 1


def test_transform_exports_a_tf1_graph_unless_a_tflite_copy_needs_its_tables(cfg):
    """The TF1 Transform graph is faster, but the TFLite converter leaves the vocabulary
    tables of a wrapped TF1 graph uninitialized: the taxi model (string columns) gets
    a TF2 graph while the TFLite copy is on; a model without a vocabulary feature, or
    a run with --no-tflite, keeps the TF1 graph."""
    from models.features import Encoding

    def tf1(config):
        [transform] = [c for c in create_pipeline(config).components if c.id == "Transform"]
        return transform.exec_properties["force_tf_compat_v1"]

    assert cfg.tflite and tf1(cfg) == 0
    assert tf1(dataclasses.replace(cfg, tflite=False)) == 1
    numeric = dataclasses.replace(cfg.inputs, features={
        name: feature for name, feature in cfg.inputs.features.items()
        if feature.encoding is not Encoding.VOCABULARY})
    assert tf1(dataclasses.replace(cfg, inputs=numeric)) == 1


def test_model_inputs_reach_transform_and_trainer(cfg, components):
    for name in ("Transform", "Trainer"):
        config = json.loads(components[name].exec_properties["custom_config"])
        assert config[INPUTS_KEY] == cfg.inputs.to_json()


def test_model_code_fingerprint_is_in_transform_and_trainer_config(cfg):
    edited = dataclasses.replace(cfg, model_fingerprint="edited")
    for components_of in (cfg, edited):
        for component in create_pipeline(components_of).components:
            if component.id in ("Transform", "Trainer"):
                config = json.loads(component.exec_properties["custom_config"])
                assert config["model_fingerprint"] == components_of.model_fingerprint


def test_pipeline_settings(cfg):
    pipeline = create_pipeline(cfg)
    assert pipeline.enable_cache
    assert pipeline.pipeline_info.pipeline_root == str(cfg.locations.pipeline_root)
    sqlite = pipeline.metadata_connection_config.sqlite
    assert sqlite.filename_uri == str(cfg.locations.metadata_path)
    assert pipeline.beam_pipeline_args == []  # the in-memory profile: Beam's defaults
    # A profile's arguments reach the pipeline (rather than comparing the function's
    # result with itself, a profile whose arguments are known).
    workers = create_pipeline(dataclasses.replace(
        cfg, beam=dataclasses.replace(cfg.beam, profile="multi-processing", workers=3)))
    assert "--direct_num_workers=3" in workers.beam_pipeline_args
    assert "--direct_running_mode=multi_processing" in workers.beam_pipeline_args


def test_create_pipeline_touches_no_files(cfg):
    create_pipeline(cfg)
    assert not cfg.locations.output_dir.exists() and not cfg.locations.data_dir.exists()


def _by_id(cfg):
    return {c.id: c for c in create_pipeline(cfg).components}


def _static_range(component):
    config = _proto(component.exec_properties["range_config"], tfx.proto.RangeConfig())
    return config.static_range.start_span_number, config.static_range.end_span_number


def test_single_span_has_no_drift_check(cfg):
    nodes = _by_id(dataclasses.replace(cfg, spans=(1,)))
    assert "DistributionValidator" not in nodes and "CsvExampleGen_prev1" not in nodes
    assert _static_range(nodes["CsvExampleGen"]) == (1, 1)
    assert "drift" not in nodes["DataGate"].inputs


def test_no_drift_thresholds_means_no_drift_check_and_no_previous_span(cfg):
    nodes = _by_id(dataclasses.replace(cfg, spans=(1, 2), drift_thresholds=()))
    assert "DistributionValidator" not in nodes and "CsvExampleGen_prev1" not in nodes
    assert "drift" not in nodes["DataGate"].inputs


def test_latest_span_is_compared_with_the_previous_one(cfg):
    nodes = _by_id(dataclasses.replace(cfg, spans=(1, 2, 3)))
    assert _static_range(nodes["CsvExampleGen"]) == (3, 3)
    assert _static_range(nodes["CsvExampleGen_prev1"]) == (2, 2)
    assert "CsvExampleGen_prev2" not in nodes
    validator = nodes["DistributionValidator"]
    assert _producer(validator.inputs["statistics"]) == ("StatisticsGen", "statistics")
    assert _producer(validator.inputs["baseline_statistics"]) == (
        "StatisticsGen_prev1", "statistics")
    assert _producer(nodes["StatisticsGen_prev1"].inputs["examples"]) == (
        "CsvExampleGen_prev1", "examples")
    assert _producer(nodes["DataGate"].inputs["drift"]) == ("DistributionValidator",
                                                           "anomalies")
    config = _proto(validator.exec_properties["distribution_validator_config"],
                    tfx.proto.DistributionValidatorConfig())
    comparators = {f.path.step[0]: f.distribution_comparator
                   for f in config.default_slice_config.feature}
    assert set(comparators) == {name for name, _ in cfg.drift_thresholds}
    assert comparators["fare"].jensen_shannon_divergence.threshold == 0.2
    assert comparators["payment_type"].infinity_norm.threshold == 0.1
    # Only the latest span is trained on by default.
    assert _producer(nodes["Transform"].inputs["examples"]) == ("CsvExampleGen", "examples")


def test_training_window_of_several_spans(cfg):
    nodes = _by_id(dataclasses.replace(cfg, spans=(1, 2, 3, 4), training_spans=3))
    assert [_static_range(nodes[f"CsvExampleGen{suffix}"])
            for suffix in ("", "_prev1", "_prev2")] == [(4, 4), (3, 3), (2, 2)]
    for consumer in ("Transform", "Evaluator"):
        channels = nodes[consumer].inputs["examples"].channels
        assert {_producer(c) for c in channels} == {
            ("CsvExampleGen", "examples"), ("CsvExampleGen_prev1", "examples"),
            ("CsvExampleGen_prev2", "examples")}
    # Validation and drift look at the newest span alone.
    assert _producer(nodes["StatisticsGen"].inputs["examples"]) == ("CsvExampleGen",
                                                                    "examples")
    assert _producer(nodes["StatisticsGen_prev1"].inputs["examples"]) == (
        "CsvExampleGen_prev1", "examples")
    # Every span's ExampleGen reads a file with a byte-order mark (test_example_gen.py).
    for suffix in ("", "_prev1", "_prev2"):
        assert nodes[f"CsvExampleGen{suffix}"].executor_spec.executor_class is Executor


def test_latest_blessed_baseline_is_tfx_strategy_without_candidate_input(cfg):
    nodes = _by_id(dataclasses.replace(cfg, evaluation=dataclasses.replace(
        cfg.evaluation, baseline_strategy="latest-blessed")))
    resolver = nodes["LatestBlessedModelResolver"]
    assert (resolver.exec_properties["resolver_class"]
            is tfx.dsl.experimental.LatestBlessedModelStrategy)
    assert set(resolver.inputs) == {"model", "model_blessing"}
    # Inside the Cond, so it still waits for the gate; no longer for the Trainer.
    assert {node.id for node in resolver.upstream_nodes} == {"DataGate"}
    assert nodes["Evaluator"].inputs["baseline_model"] is resolver.outputs["model"]


def test_unknown_baseline_strategy_is_refused(cfg):
    with pytest.raises(ValueError, match="unknown baseline strategy"):
        create_pipeline(dataclasses.replace(cfg, evaluation=dataclasses.replace(
            cfg.evaluation, baseline_strategy="newest")))


def test_uri_locations_reach_the_components_unchanged(cfg):
    uris = dataclasses.replace(cfg, locations=dataclasses.replace(
        cfg.locations, pipeline_root_uri="gs://bucket/root", data_uri="gs://bucket/data",
        schema_uri="gs://bucket/schema.pbtxt", serving_uri="gs://bucket/serving/"))
    pipeline = create_pipeline(uris)
    nodes = {c.id: c for c in pipeline.components}
    assert pipeline.pipeline_info.pipeline_root == "gs://bucket/root"
    assert nodes["CsvExampleGen"].exec_properties["input_base"] == "gs://bucket/data"
    assert nodes["ImportSchemaGen"].exec_properties["schema_file"] == "gs://bucket/schema.pbtxt"
    destination = _proto(nodes["Pusher"].exec_properties["push_destination"],
                         tfx.proto.PushDestination())
    assert destination.filesystem.base_directory == f"gs://bucket/serving/{cfg.model_name}"
