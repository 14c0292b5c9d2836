"""The Evaluator's baseline: the newest blessed model older than the candidate."""

from tfx.types import standard_artifacts

from pipeline.baseline import CANDIDATE_KEY, LatestBlessedBeforeCandidateStrategy


def _model(artifact_id):
    model = standard_artifacts.Model()
    model.id = artifact_id
    return model


def _blessing(artifact_id, model_id, blessed):
    blessing = standard_artifacts.ModelBlessing()
    blessing.id = artifact_id
    blessing.set_int_custom_property("current_model_id", model_id)
    blessing.set_int_custom_property("blessed", int(blessed))
    return blessing


# Model 5 is a fresh candidate: not evaluated yet.
MODELS = [_model(i) for i in range(1, 6)]
BLESSINGS = [_blessing(11, 1, True), _blessing(12, 2, True), _blessing(13, 3, False),
             _blessing(14, 4, True)]


def _baseline(candidate_id):
    candidate = [m for m in MODELS if m.id == candidate_id]
    assert candidate
    result = LatestBlessedBeforeCandidateStrategy().resolve_artifacts(None, {
        CANDIDATE_KEY: candidate,
        "model": list(MODELS),
        "model_blessing": list(BLESSINGS),
    })
    return [m.id for m in result["model"]], [b.id for b in result["model_blessing"]]


def test_new_candidate_is_compared_with_the_newest_blessed_model():
    assert _baseline(5) == ([4], [14])


def test_a_cached_candidate_is_never_its_own_baseline():
    # Model 4 was blessed in an earlier run; rerunning with it cached keeps the baseline
    # it had then, so the Evaluator's inputs (and so its cache entry) do not change.
    assert _baseline(4) == ([2], [12])


def test_unblessed_models_are_skipped():
    assert _baseline(3) == ([2], [12])


def test_first_model_has_no_baseline():
    assert _baseline(1) == ([], [])
