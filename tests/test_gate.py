"""Which anomalies stop the pipeline and which only warn."""

import pytest

from pipeline.gate_rules import classify, is_tolerated

NEW_CATEGORY = {"split": "train", "feature": "payment_type",
                "type": "ENUM_TYPE_UNEXPECTED_STRING_VALUES", "description": "Bitcoin"}
MISSING = {"split": "eval", "feature": "company", "type": "FEATURE_TYPE_LOW_NUMBER_VALUES",
           "description": "fewer values"}


@pytest.mark.parametrize("rule, tolerated", [
    ("payment_type", True),
    ("ENUM_TYPE_UNEXPECTED_STRING_VALUES", True),
    ("payment_type:ENUM_TYPE_UNEXPECTED_STRING_VALUES", True),
    ("payment_type:FEATURE_TYPE_LOW_NUMBER_VALUES", False),
    ("company", False),
    ("payment", False),
])
def test_rules(rule, tolerated):
    assert is_tolerated(NEW_CATEGORY, [rule]) is tolerated


def test_no_anomalies_pass():
    assert classify([], []) == {"passed": True, "blocking": [], "tolerated": []}


def test_any_untolerated_anomaly_blocks():
    result = classify([NEW_CATEGORY, MISSING], ["payment_type"])
    assert result == {"passed": False, "blocking": [MISSING], "tolerated": [NEW_CATEGORY]}


def test_all_tolerated_pass_with_warnings():
    result = classify([NEW_CATEGORY, MISSING], ["payment_type", "company"])
    assert result["passed"] and result["tolerated"] == [NEW_CATEGORY, MISSING]


DRIFT = {"split": "train/prev", "feature": "fare",
         "type": "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH", "description": "0.48 > 0.2"}


def test_drift_blocks_like_an_anomaly():
    result = classify([], [], [DRIFT], drift_blocks=True)
    assert result == {"passed": False, "blocking": [DRIFT], "tolerated": []}


def test_drift_can_be_set_to_warn():
    result = classify([MISSING], [], [DRIFT], drift_blocks=False)
    assert result == {"passed": False, "blocking": [MISSING], "tolerated": [DRIFT]}
    assert classify([], [], [DRIFT], drift_blocks=False)["passed"]


def test_first_span_without_drift_check_passes():
    assert classify([], [], [], drift_blocks=True)["passed"]


def test_a_vanished_column_is_one_row_with_its_drift_check_folded_in():
    """The DistributionValidator cannot compare a column that is gone: its
    STATS_NOT_AVAILABLE row is the missing-column row's consequence, not a second cause
    (so tolerating the missing column is enough)."""
    missing = {"split": "train", "feature": "company", "type": "SCHEMA_MISSING_COLUMN",
               "description": "Column is completely missing."}
    no_stats = {"split": "train/prev", "feature": "company", "type": "STATS_NOT_AVAILABLE",
                "description": "Validation could not be done."}
    result = classify([missing], ["company:SCHEMA_MISSING_COLUMN"], [no_stats, DRIFT])
    assert result["blocking"] == [DRIFT]
    [folded] = result["tolerated"]
    assert folded["type"] == "SCHEMA_MISSING_COLUMN" and folded["feature"] == "company"
    assert folded["description"] == ("Column is completely missing; so there is no drift "
                                     "check for it either (STATS_NOT_AVAILABLE)")
    # Without a missing column, a STATS_NOT_AVAILABLE row stands on its own.
    assert classify([], [], [no_stats])["blocking"] == [no_stats]


# The ways out a stopped run prints after its table (pipeline/summary.py, gate_hints).
MISSING_COLUMN = {"split": "train", "feature": "driver rating", "type": "SCHEMA_MISSING_COLUMN",
                  "description": "Column is completely missing"}
DATASET = {"split": "train", "feature": "(dataset)", "type": "DATASET_LOW_NUM_EXAMPLES",
           "description": "Low num examples"}
EVAL_NEW_CATEGORY = {**NEW_CATEGORY, "split": "eval"}


def _hints(rows, tmp_path, spans=(1, 2), output_dir=None):
    from types import SimpleNamespace

    from pipeline.config import TAXI_LABEL
    from pipeline.summary import gate_hints

    cfg = SimpleNamespace(locations=SimpleNamespace(data_dir=tmp_path / "data",
                                                    output_dir=output_dir or tmp_path / "out"),
                          label=TAXI_LABEL,
                          spans=spans, drift_thresholds=(("fare", 0.2), ("company", 0.15)))
    return gate_hints(rows, {"span": spans[-1] if spans else None}, cfg)


def _tolerate_rules(hints):
    import shlex

    line = next(line for line in hints if line.strip().startswith("--tolerate"))
    words = shlex.split(line)
    return [words[i + 1] for i, word in enumerate(words) if word == "--tolerate"]


@pytest.mark.parametrize("rows", [
    [NEW_CATEGORY, EVAL_NEW_CATEGORY],
    [NEW_CATEGORY, MISSING, DRIFT],
    [MISSING_COLUMN, DATASET],
    [{**MISSING, "type": None}],
])
def test_the_printed_tolerate_rules_let_exactly_these_rows_through(rows, tmp_path):
    rules = _tolerate_rules(_hints(rows, tmp_path))
    assert len(rules) == len({(row["feature"], row["type"]) for row in rows})
    assert classify(rows, rules, [], drift_blocks=True)["passed"]
    # Each rule is as narrow as a rule can be: it lets no other anomaly of that feature
    # or that type through.
    others = [{**NEW_CATEGORY, "type": "FEATURE_TYPE_LOW_NUMBER_VALUES"},
              {**MISSING, "feature": "trip_miles"}]
    assert not classify(others, rules, [], drift_blocks=True)["tolerated"]


def test_a_schema_change_is_offered_for_what_the_schema_can_accept(tmp_path):
    hints = _hints([NEW_CATEGORY, EVAL_NEW_CATEGORY, MISSING_COLUMN, DRIFT, DATASET],
                   tmp_path)
    command = next(line.strip() for line in hints if "schema-update" in line)
    assert command == (f"python -m pipeline schema-update --feature payment_type "
                       f"--feature 'driver rating' --output-dir {tmp_path / 'out'}")
    assert not any("schema-update" in line for line in _hints([DRIFT, DATASET], tmp_path))
    # The label is computed from `tips` and `fare`: a schema without them trains nothing.
    gone_tips = {**MISSING_COLUMN, "feature": "tips"}
    text_fare = {**NEW_CATEGORY, "feature": "fare", "type": "FLOAT_TYPE_STRING_NOT_FLOAT"}
    assert not any("schema-update" in line for line in _hints([gone_tips, text_fare],
                                                               tmp_path))
    # A drift row the validator could not compute is drift too, not a schema matter.
    unknown = {**DRIFT, "type": "STATS_NOT_AVAILABLE"}
    assert not any("schema-update" in line for line in _hints([unknown], tmp_path))


def test_the_span_folder_and_drift_settings_are_named(tmp_path):
    hints = _hints([DRIFT], tmp_path)
    assert any("--drift-warn" in line and "drift_thresholds" in line and "fare 0.2" in line
               for line in hints)
    assert any(f"fix or remove {tmp_path / 'data' / 'span-2'}" in line for line in hints)
    assert not any("--drift-warn" in line for line in _hints([NEW_CATEGORY], tmp_path))
    flat = _hints([NEW_CATEGORY], tmp_path, spans=())
    assert any(f"fix the CSV files in {tmp_path / 'data'}" in line for line in flat)


def test_the_default_output_dir_is_not_repeated(tmp_path):
    from pipeline.config import DEFAULT_OUTPUT_DIR

    hints = _hints([NEW_CATEGORY], tmp_path, output_dir=DEFAULT_OUTPUT_DIR)
    assert "python -m pipeline schema-update --feature payment_type" in [
        line.strip() for line in hints]


def test_a_new_class_of_a_label_column_is_a_schema_change():
    from pipeline.gate_rules import schema_can_accept

    new_class = {**NEW_CATEGORY, "feature": "churned"}
    assert schema_can_accept(new_class, label_columns=("churned",))
    gone = {**MISSING_COLUMN, "feature": "churned"}
    assert not schema_can_accept(gone, label_columns=("churned",))


@pytest.mark.parametrize("uri_form", ["path", "file-uri"])
def test_verdict_file_is_written_and_read_through_a_uri(tmp_path, uri_form):
    # A pipeline root on a filesystem all workers see is named by a URI; the verdict
    # goes through TFX's filesystem layer both ways (a file:// URI here).
    import json
    import types

    from pipeline.gate import write_verdict
    from pipeline.gate_rules import VERDICT_FILE
    from pipeline.inspection import read_verdict

    folder = tmp_path / "DataGate" / "verdict" / "7"
    uri = str(folder) if uri_form == "path" else f"file://{folder}"
    result = {"passed": False, "blocking": [{"feature": "fare", "type": "NEW_VALUES"}],
              "tolerated": []}
    write_verdict(uri, result)
    assert json.loads((folder / VERDICT_FILE).read_text()) == result
    assert read_verdict(types.SimpleNamespace(uri=uri)) == result
