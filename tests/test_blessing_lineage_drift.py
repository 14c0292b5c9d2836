"""What the inspection API answers, from protos and an ML Metadata store built here:
why a model was not blessed, a version's lineage, a run's status, drift rows' values."""

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_model_analysis.proto import config_pb2, validation_result_pb2

from pipeline import inspection

METRICS = [
    {"slice": "Overall", "model": "candidate", "auc": 0.9412, "binary_accuracy": 0.9},
    {"slice": "Overall", "model": "baseline", "auc": 0.9561, "binary_accuracy": 0.9},
    {"slice": "payment_type=Cash", "model": "candidate", "rmse": 2.5},
]


def _failure(per_slice, name, value, **threshold):
    failure = per_slice.failures.add()
    failure.metric_key.name = name
    failure.metric_key.model_name = "candidate"
    if value is not None:
        failure.metric_value.double_value.value = value
    if "change" in threshold:
        failure.metric_key.is_diff = True
        failure.metric_threshold.change_threshold.CopyFrom(threshold["change"])
    else:
        failure.metric_threshold.value_threshold.CopyFrom(threshold["bound"])
    return failure


def _result():
    result = validation_result_pb2.ValidationResult(validation_ok=False)
    overall = result.metric_validations_per_slice.add()
    overall.slice_key.SetInParent()
    # What TFMA writes for `--min-auc 0.999`: key, value and threshold, no message.
    _failure(overall, "auc", 0.9412, bound=config_pb2.GenericValueThreshold(
        lower_bound={"value": 0.999}))
    # A regression against the baseline: TFMA records candidate - baseline.
    _failure(overall, "auc", 0.9412 - 0.9561, change=config_pb2.GenericChangeThreshold(
        direction=config_pb2.MetricDirection.HIGHER_IS_BETTER,
        absolute={"value": -(0.0 + 1e-10)}))
    cash = result.metric_validations_per_slice.add()
    key = cash.slice_key.single_slice_keys.add()
    key.column, key.bytes_value = "payment_type", b"Cash"
    _failure(cash, "rmse", 2.5, bound=config_pb2.GenericValueThreshold(
        upper_bound={"value": 2.0}))
    _failure(cash, "mean_absolute_error", None, bound=config_pb2.GenericValueThreshold(
        upper_bound={"value": 1.0})).message = "Metric not found."
    return result


def test_each_failed_threshold_is_named_with_its_numbers():
    value, change, upper, not_found = inspection.failure_reasons(_result(), METRICS)
    assert value == {"metric": "auc", "slice": "Overall", "kind": "value", "value": 0.9412,
                     "threshold": 0.999, "message": "auc on Overall is 0.9412, below the "
                     "lowest value allowed, 0.999 (--min-auc)"}
    assert change["kind"] == "change" and change["slice"] == "Overall"
    assert change["value"] == 0.9412 and change["baseline"] == 0.9561
    assert change["change"] == pytest.approx(-0.0149) and change["allowed_change"] == 0
    assert change["message"] == ("auc on Overall is 0.9412, 0.0149 below the baseline "
                                 "model's 0.9561; allowed: 0 (--max-regression)")
    assert upper["slice"] == "payment_type=Cash" and upper["threshold"] == 2.0
    assert upper["message"] == ("rmse on payment_type=Cash is 2.5, above the highest value "
                                "allowed, 2 (--max-rmse)")
    assert not_found["value"] is None
    assert not_found["message"] == "mean_absolute_error on payment_type=Cash: Metric not found."


def test_a_blessed_result_has_no_reasons():
    ok = validation_result_pb2.ValidationResult(validation_ok=True)
    assert inspection.failure_reasons(ok, METRICS) == []


def test_drift_rows_get_both_spans_values():
    latest = [{"split": "train", "feature": "fare", "type": "numeric", "mean": 35.55},
              {"split": "train", "feature": "payment_type", "type": "string",
               "top_values": "Credit Card 66%, Cash 33%"}]
    previous = [{"split": "train", "feature": "fare", "type": "numeric", "mean": 11.8},
                {"split": "train", "feature": "payment_type", "type": "string",
                 "top_values": "Cash 66%, Credit Card 33%"}]
    values = inspection._drift_values(latest, previous, 3, 2)
    fare = values({"split": "train/prev", "feature": "fare",
                   "type": "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
                   "description": "The divergence is 0.24, above the threshold 0.2."})
    assert (fare["latest"], fare["previous"]) == ("mean 35.55", "mean 11.8")
    assert fare["description"].endswith("0.2. (span-3: mean 35.55; span-2: mean 11.8)")
    payment = values({"split": "train/prev", "feature": "payment_type",
                      "type": "COMPARATOR_L_INFTY_HIGH", "description": "0.33 > 0.1"})
    assert payment["latest"] == "Credit Card 66%, Cash 33%"
    assert payment["previous"] == "Cash 66%, Credit Card 33%"
    schema_row = {"split": "train", "feature": "fare", "type": "X", "description": "d"}
    assert values(schema_row) == schema_row


# An ML Metadata store as TFX leaves it: node and run contexts, executions, and events
# whose path starts with the input or output key.
class _Store:
    def __init__(self):
        config = metadata_store_pb2.ConnectionConfig()
        config.fake_database.SetInParent()
        self.store = metadata_store.MetadataStore(config)
        self.context_types = {name: self.store.put_context_type(
            metadata_store_pb2.ContextType(name=name)) for name in ("node", "pipeline_run")}
        self.execution_type = self.store.put_execution_type(
            metadata_store_pb2.ExecutionType(name="Component"))
        self.types, self.contexts = {}, {}

    def _context(self, kind, name):
        context = metadata_store_pb2.Context(type_id=self.context_types[kind], name=name)
        if (kind, name) not in self.contexts:
            [self.contexts[kind, name]] = self.store.put_contexts([context])
        context.id = self.contexts[kind, name]
        return context

    def artifact(self, type_name, **custom):
        if type_name not in self.types:
            self.types[type_name] = self.store.put_artifact_type(
                metadata_store_pb2.ArtifactType(name=type_name))
        artifact = metadata_store_pb2.Artifact(type_id=self.types[type_name],
                                               uri=f"/tfx/{type_name}/{len(self.types)}")
        for key, value in custom.items():
            if isinstance(value, int):
                artifact.custom_properties[key].int_value = value
            else:
                artifact.custom_properties[key].string_value = value
        [artifact.id] = self.store.put_artifacts([artifact])
        return artifact

    def execute(self, run, node, inputs=(), outputs=()):
        execution = metadata_store_pb2.Execution(
            type_id=self.execution_type, last_known_state=metadata_store_pb2.Execution.COMPLETE)
        pairs = []
        for kind, items in ((metadata_store_pb2.Event.INPUT, inputs),
                            (metadata_store_pb2.Event.OUTPUT, outputs)):
            for key, artifact in items:
                event = metadata_store_pb2.Event(type=kind)
                event.path.steps.add().key = key
                event.path.steps.add().index = 0
                pairs.append((artifact, event))
        self.store.put_execution(execution, pairs, [self._context("node", f"taxi.{node}"),
                                                    self._context("pipeline_run", run)])


def _two_runs():
    """Run 1 trains on span-1 and pushes version 1. Run 2 trains on span-2 only, checks
    its drift against span-1, and is judged against version 1 before pushing version 2."""
    s = _Store()
    span1 = s.artifact("Examples", span=1)
    schema = s.artifact("Schema")
    model1 = s.artifact("Model")
    blessing1 = s.artifact("ModelBlessing", blessed=1)
    s.execute("run-1", "CsvExampleGen", outputs=[("examples", span1)])
    s.execute("run-1", "ImportSchemaGen", outputs=[("schema", schema)])
    s.execute("run-1", "Trainer", [("examples", span1), ("schema", schema)],
              [("model", model1)])
    s.execute("run-1", "Evaluator", [("examples", span1), ("model", model1)],
              [("blessing", blessing1)])
    s.execute("run-1", "Pusher", [("model", model1), ("model_blessing", blessing1)],
              [("pushed_model", s.artifact("PushedModel", pushed=1, pushed_version="1"))])

    span2, previous = s.artifact("Examples", span=2), s.artifact("Examples", span=1)
    stats, previous_stats = s.artifact("ExampleStatistics"), s.artifact("ExampleStatistics")
    drift, verdict = s.artifact("ExampleAnomalies"), s.artifact("taxi_pipeline.DataVerdict")
    graph, model2 = s.artifact("TransformGraph"), s.artifact("Model")
    blessing2 = s.artifact("ModelBlessing", blessed=1)
    # In the order LocalDagRunner runs them; ImportSchemaGen is cached from run 1.
    s.execute("run-2", "CsvExampleGen", outputs=[("examples", span2)])
    s.execute("run-2", "CsvExampleGen_prev1", outputs=[("examples", previous)])
    s.execute("run-2", "ImportSchemaGen", outputs=[("schema", schema)])
    s.execute("run-2", "StatisticsGen", [("examples", span2)], [("statistics", stats)])
    s.execute("run-2", "StatisticsGen_prev1", [("examples", previous)],
              [("statistics", previous_stats)])
    s.execute("run-2", "DistributionValidator", [("statistics", stats),
                                                 ("baseline_statistics", previous_stats)],
              [("anomalies", drift)])
    s.execute("run-2", "DataGate", [("drift", drift)], [("verdict", verdict)])
    gated = ("_DataGate.verdict", verdict)  # the Cond's predicate, an input to each node
    s.execute("run-2", "Transform", [gated, ("examples", span2), ("schema", schema)],
              [("transform_graph", graph)])
    s.execute("run-2", "Trainer", [gated, ("examples", span2), ("transform_graph", graph)],
              [("model", model2)])
    s.execute("run-2", "Evaluator", [gated, ("examples", span2), ("model", model2),
                                     ("baseline_model", model1)], [("blessing", blessing2)])
    s.execute("run-2", "Pusher", [gated, ("model", model2), ("model_blessing", blessing2)],
              [("pushed_model", s.artifact("PushedModel", pushed=1, pushed_version="2"))])
    return s.store


def test_lineage_names_the_spans_the_trainer_read_and_the_baseline_as_a_reference():
    store = _two_runs()
    found = inspection.lineage(store, 2)
    assert found["spans"] == [2]
    assert found["baseline"] | {"uri": None} == {"version": 1, "run_id": "run-1", "uri": None}
    assert [step["component"] for step in found["steps"]] == [
        "CsvExampleGen", "CsvExampleGen_prev1", "ImportSchemaGen", "StatisticsGen",
        "StatisticsGen_prev1", "DistributionValidator", "DataGate", "Transform", "Trainer",
        "Evaluator", "Pusher"]
    # The baseline's own history (run 1's Trainer and Pusher) is not this model's.
    assert {step["run_id"] for step in found["steps"]
            if step["component"] != "ImportSchemaGen"} == {"run-2"}
    assert inspection.lineage(store, "latest") == found
    assert inspection.lineage(store, 1)["baseline"] is None


@pytest.mark.parametrize("states, verdict, blessed, pushed, status", [
    ({"executed", "failed"}, {"passed": True}, None, None, "failed"),
    ({"executed", "running"}, {}, None, None, "incomplete"),
    ({"executed"}, {"passed": False, "blocking": [{}]}, None, None, "stopped by data gate"),
    ({"executed"}, {"passed": True}, 0, None, "not blessed"),
    ({"executed", "cached"}, {"passed": True}, 1, 1, "pushed"),
])
def test_run_status_says_what_became_of_the_run(states, verdict, blessed, pushed, status):
    def artifact(**values):
        found = metadata_store_pb2.Artifact()
        for key, value in values.items():
            found.custom_properties[key].int_value = value
        return found

    blessing = artifact(blessed=blessed) if blessed is not None else None
    pushed_model = artifact(pushed=pushed) if pushed is not None else None
    assert inspection._status(states, verdict, blessing, pushed_model) == status
