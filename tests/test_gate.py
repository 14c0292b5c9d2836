"""Which anomalies stop the pipeline and which only warn."""

import pytest

from pipeline.gate import classify, is_tolerated

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
