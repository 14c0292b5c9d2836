"""The DataGate component's body, run in-process by its TFX executor on the files the
validators write: ExampleValidator's `Split-<split>/SchemaDiff.pb` and the
DistributionValidator's `SplitPair-<pair>/SchemaDiff.pb` with its per-pair `blessed`
property. What it reads, which rows block, and the verdict it writes."""

import json

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import writer_utils

from pipeline.gate import DataGate, DataVerdict

Type = anomalies_pb2.AnomalyInfo.Type
NEW_CATEGORY = ("payment_type", Type.ENUM_TYPE_UNEXPECTED_STRING_VALUES,
                "Examples contain values missing from the schema: Bitcoin (<1%).")
MISSING_COLUMN = ("company", Type.SCHEMA_MISSING_COLUMN, "Column is completely missing.")
FEW_ROWS = Type.DATASET_LOW_NUM_EXAMPLES
DRIFT = ("fare", Type.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
         "The approximate Jensen-Shannon divergence between current and previous is 0.48 "
         "(up to six significant digits), above the threshold 0.2.")
NO_STATS = ("company", Type.STATS_NOT_AVAILABLE, "Validation could not be done.")


def _anomalies(*features, dataset=None) -> anomalies_pb2.Anomalies:
    found = anomalies_pb2.Anomalies()
    for feature, kind, description in features:
        info = found.anomaly_info[feature]
        info.description = description
        info.reason.add(type=kind, description=description)
    if dataset is not None:
        found.dataset_anomaly_info.reason.add(type=dataset, description="Low num examples")
    return found


def _validator_output(folder, by_split: dict) -> standard_artifacts.ExampleAnomalies:
    """ExampleValidator's artifact: one SchemaDiff.pb per split."""
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(folder)
    artifact.split_names = artifact_utils.encode_split_names(list(by_split))
    for split, found in by_split.items():
        writer_utils.write_anomalies(str(folder / f"Split-{split}" / "SchemaDiff.pb"), found)
    return artifact


def _drift_output(folder, by_pair: dict) -> standard_artifacts.ExampleAnomalies:
    """DistributionValidator's artifact: one SchemaDiff.pb per split pair, and the
    pairs named only in its `blessed` property (0: drift found)."""
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(folder)
    artifact.split_names = artifact_utils.encode_split_names(list(by_pair))
    for pair, found in by_pair.items():
        writer_utils.write_anomalies(str(folder / f"SplitPair-{pair}" / "SchemaDiff.pb"),
                                     found)
    artifact.set_json_value_custom_property(
        "blessed", {pair: 0 if found.anomaly_info else 1 for pair, found in by_pair.items()})
    return artifact


@pytest.fixture
def gate(tmp_path):
    """Runs DataGate's executor; returns the verdict artifact and its verdict.json."""

    def run(by_split, by_pair=None, tolerated=(), drift_blocks=True):
        inputs = {"anomalies": [_validator_output(tmp_path / "anomalies", by_split)]}
        if by_pair is not None:
            inputs["drift"] = [_drift_output(tmp_path / "drift", by_pair)]
        verdict = DataVerdict()
        verdict.uri = str(tmp_path / "verdict")
        DataGate.EXECUTOR_SPEC.executor_class().Do(inputs, {"verdict": [verdict]}, {
            "tolerated_anomalies": json.dumps(list(tolerated)),
            "drift_blocks": int(drift_blocks), "code_fingerprint": "test"})
        written = json.loads((tmp_path / "verdict" / "verdict.json").read_text())
        assert verdict.get_int_custom_property("passed") == int(written["passed"])
        return verdict, written

    return run


def _row(split, feature, kind, description):
    return {"split": split, "feature": feature, "type": Type.Name(kind),
            "description": description}


def test_clean_data_without_a_previous_span_passes(gate):
    verdict, written = gate({"train": _anomalies(), "eval": _anomalies()})
    assert verdict.get_int_custom_property("passed") == 1
    assert written == {"passed": True, "blocking": [], "tolerated": []}


def test_every_split_and_drift_pair_is_read_and_blocks(gate):
    verdict, written = gate(
        {"train": _anomalies(NEW_CATEGORY), "eval": _anomalies(dataset=FEW_ROWS)},
        {"train_train": _anomalies(DRIFT)})
    assert verdict.get_int_custom_property("passed") == 0
    assert written["blocking"] == [
        _row("train", *NEW_CATEGORY),
        {"split": "eval", "feature": "(dataset)", "type": "DATASET_LOW_NUM_EXAMPLES",
         "description": "Low num examples"},
        # Drift rows are named as every table names them: the split against the
        # previous span's.
        _row("train/prev", *DRIFT),
    ]
    assert written["tolerated"] == []


@pytest.mark.parametrize("rule", [
    "payment_type", "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
    "payment_type:ENUM_TYPE_UNEXPECTED_STRING_VALUES"])
def test_a_tolerated_anomaly_is_a_warning(gate, rule):
    verdict, written = gate({"train": _anomalies(NEW_CATEGORY)}, tolerated=[rule])
    assert verdict.get_int_custom_property("passed") == 1
    assert written["blocking"] == [] and written["tolerated"] == [_row("train", *NEW_CATEGORY)]


@pytest.mark.parametrize("rule", ["company", "payment_type:SCHEMA_MISSING_COLUMN",
                                  "payment", "FEATURE_TYPE_LOW_NUMBER_VALUES"])
def test_a_rule_for_something_else_tolerates_nothing(gate, rule):
    verdict, written = gate({"train": _anomalies(NEW_CATEGORY)}, tolerated=[rule])
    assert verdict.get_int_custom_property("passed") == 0
    assert written["blocking"] == [_row("train", *NEW_CATEGORY)]


def test_drift_warns_when_it_does_not_block(gate):
    verdict, written = gate({"train": _anomalies()}, {"train_train": _anomalies(DRIFT)},
                            drift_blocks=False)
    assert verdict.get_int_custom_property("passed") == 1
    assert written["tolerated"] == [_row("train/prev", *DRIFT)]
    # The same drift blocks by default.
    assert gate({"train": _anomalies()}, {"train_train": _anomalies(DRIFT)})[1][
        "blocking"] == [_row("train/prev", *DRIFT)]


def test_drift_does_not_make_a_blocking_anomaly_pass(gate):
    verdict, written = gate({"train": _anomalies(NEW_CATEGORY)},
                            {"train_train": _anomalies(DRIFT)}, drift_blocks=False)
    assert verdict.get_int_custom_property("passed") == 0
    assert written["blocking"] == [_row("train", *NEW_CATEGORY)]


def test_a_tolerated_missing_column_takes_its_drift_row_along(gate):
    verdict, written = gate({"train": _anomalies(MISSING_COLUMN)},
                            {"train_train": _anomalies(NO_STATS)},
                            tolerated=["company:SCHEMA_MISSING_COLUMN"])
    assert verdict.get_int_custom_property("passed") == 1
    [row] = written["tolerated"]
    assert (row["feature"], row["type"]) == ("company", "SCHEMA_MISSING_COLUMN")
    assert "STATS_NOT_AVAILABLE" in row["description"]
