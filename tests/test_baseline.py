"""The Evaluator's baseline: the newest blessed, loadable model older than the
candidate."""

import shutil

import pytest
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from pipeline.baseline import CANDIDATE_KEY, LatestBlessedBeforeCandidateStrategy


def _write_saved_model(uri, signatures=("serving_default", "from_examples")):
    """A saved_model.pb with the given signature names, where TFX keeps it."""
    meta_graph = meta_graph_pb2.MetaGraphDef(
        meta_info_def=meta_graph_pb2.MetaGraphDef.MetaInfoDef(tags=["serve"]))
    for name in signatures:
        meta_graph.signature_def[name].method_name = "tensorflow/serving/predict"
    path = path_utils.serving_model_path(str(uri))
    shutil.rmtree(path, ignore_errors=True)
    (uri / "Format-Serving").mkdir(parents=True)
    (uri / "Format-Serving" / "saved_model.pb").write_bytes(
        saved_model_pb2.SavedModel(meta_graphs=[meta_graph]).SerializeToString())


@pytest.fixture(autouse=True)
def _model_files(tmp_path):
    for model in MODELS:
        model.uri = str(tmp_path / f"model-{model.id}")
        _write_saved_model(tmp_path / f"model-{model.id}")


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


def test_a_blessed_model_whose_files_are_gone_is_passed_over(tmp_path):
    shutil.rmtree(tmp_path / "model-4")
    assert _baseline(5) == ([2], [12])


def test_a_model_exported_without_the_eval_signature_is_passed_over(tmp_path):
    _write_saved_model(tmp_path / "model-4", signatures=("serving_default",))
    (tmp_path / "model-2" / "Format-Serving" / "saved_model.pb").write_bytes(b"not a proto")
    assert _baseline(5) == ([1], [11])


def test_no_loadable_baseline_means_no_baseline(tmp_path):
    for model_id in (1, 2, 4):
        shutil.rmtree(tmp_path / f"model-{model_id}")
    assert _baseline(5) == ([], [])
