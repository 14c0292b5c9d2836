"""The ServingPusher's executor, run in-process on hand-made artifacts: what it does with
an unblessed model, and that a version becomes visible in one rename, after its check.

The servable check (`serving.run_check`, a fresh process) is replaced by a hook that
records what the serving folder shows at that moment and then runs the same check
in-process (`serving.check_servable`), so these tests need no TensorFlow start-up."""

import json
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from pipeline import pusher, serving, tflite
from tests.test_serving import SAMPLE, _save_model
from tests.test_tflite import save_unconvertible

MODEL_NAME = "m"
HIDDEN = "answer"


def _with_hidden_column(serialized: bytes) -> bytes:
    example = tf.train.Example.FromString(serialized)
    example.features.feature[HIDDEN].float_list.value.append(1.0)
    return example.SerializeToString()


def _write_gzipped_records(path, records: list[bytes]) -> None:
    """A TFRecord file as ExampleGen writes a split (GZIP)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for record in records:
            writer.write(record)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny SavedModel where the Trainer keeps one (`<model uri>/Format-Serving`)."""
    uri = tmp_path_factory.mktemp("trainer") / "model"
    _save_model(uri / "Format-Serving")
    return uri


@pytest.fixture(scope="module")
def unconvertible_model(tmp_path_factory):
    """A servable SavedModel TFLite's builtins cannot express (tests/test_tflite.py)."""
    uri = tmp_path_factory.mktemp("trainer-regex") / "model"
    save_unconvertible(uri / "Format-Serving")
    return uri


@pytest.fixture
def push(tmp_path, saved_model):
    """Runs the executor on a model (`saved_model` unless `model_uri` says otherwise)
    with the given blessing; returns (pushed artifact, serving folder)."""
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    _write_gzipped_records(tmp_path / "examples" / "Split-eval" / "data_tfrecord-0.gz",
                           [_with_hidden_column(record) for record in SAMPLE])
    model = standard_artifacts.Model()
    model.uri = str(saved_model)
    serving_dir = tmp_path / "serving" / MODEL_NAME
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(serving_dir)))
    exec_properties = {
        "push_destination": proto_utils.proto_to_json(destination),
        "custom_config": json.dumps({"model_name": MODEL_NAME, "hidden_columns": [HIDDEN],
                                     "code_fingerprint": "test", "tflite": True}),
    }

    def run(blessed: int, model_uri=None, tflite=True):
        model.uri = str(model_uri or saved_model)
        exec_properties["custom_config"] = json.dumps(
            {**json.loads(exec_properties["custom_config"]), "tflite": tflite})
        blessing = standard_artifacts.ModelBlessing()
        blessing.uri = str(tmp_path / "blessing")
        blessing.set_int_custom_property("blessed", blessed)
        pushed = standard_artifacts.PushedModel()
        pushed.uri = str(tmp_path / "pushed")
        pusher.Executor().Do(
            {"model": [model], "model_blessing": [blessing], "examples": [examples]},
            {"pushed_model": [pushed]}, dict(exec_properties))
        return pushed

    return run, serving_dir


class _CheckHook:
    """Stands in for the fresh-process check: records the serving folder's entries and
    the checked folder's files at the moment of the check, then checks in-process
    (or returns `result` when a test sets one)."""

    def __init__(self):
        self.calls: list[dict] = []
        self.result: dict | None = None

    def __call__(self, version_dir, reference_dir):
        serving_dir = version_dir.parent
        self.calls.append({
            "entries": sorted(path.name for path in serving_dir.iterdir()),
            "versions": serving.versions(serving_dir),
            "checked": version_dir.name,
            "complete": (version_dir / "saved_model.pb").is_file()
            and (version_dir / serving.WARMUP_FILE).is_file(),
            "tflite": (version_dir / tflite.TFLITE_FILE).is_file(),
        })
        if self.result is not None:
            return self.result
        return serving.check_servable(version_dir, reference_dir)


@pytest.fixture
def check(monkeypatch):
    hook = _CheckHook()
    monkeypatch.setattr(serving, "run_check", hook)
    return hook


@pytest.fixture
def publish_calls(monkeypatch):
    calls = []
    real_publish = serving.publish

    def recording_publish(*args, **kwargs):
        calls.append(args)
        return real_publish(*args, **kwargs)

    monkeypatch.setattr(serving, "publish", recording_publish)
    return calls


def _entries(serving_dir) -> list[str]:
    return sorted(path.name for path in serving_dir.iterdir()) if serving_dir.exists() else []


def test_an_unblessed_model_is_never_published(push, publish_calls, check):
    run, serving_dir = push
    pushed = run(blessed=0)
    assert publish_calls == [] and check.calls == []
    assert pushed.get_int_custom_property("pushed") == 0
    assert serving.versions(serving_dir) == [] and _entries(serving_dir) == []
    assert not serving.models_config_path(serving_dir).exists()


def test_a_blessed_model_is_checked_while_invisible_then_published(push, publish_calls, check):
    run, serving_dir = push
    pushed = run(blessed=1)
    assert len(publish_calls) == 1
    [call] = check.calls
    # While the check runs, TF Serving sees no version: only the staging folder, whose
    # name it ignores, holding the whole model and its warm-up requests.
    assert call["versions"] == [] and call["complete"]
    assert call["entries"] == [call["checked"]]
    assert call["checked"].startswith(serving.STAGING_PREFIX)
    [version] = serving.versions(serving_dir)
    # A fresh staging folder per push (`.staging-<version>-<random>`): a planted one is
    # never reused.
    assert call["checked"].startswith(f"{serving.STAGING_PREFIX}{version}-")
    assert _entries(serving_dir) == [str(version)]
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_version") == str(version)
    assert json.loads(pushed.get_string_custom_property("servable_check"))["problems"] == []
    # The warm-up requests are what a serving client sends: no hidden (label) column.
    for log in serving.read_warmup(serving_dir / str(version)):
        request = log.predict_log.request
        if request.model_spec.signature_name == "from_examples":
            for record in tf.make_ndarray(request.inputs["examples"]).reshape(-1):
                assert HIDDEN not in tf.train.Example.FromString(record).features.feature
    assert "base_path" in serving.models_config_path(serving_dir).read_text()


def test_a_failed_check_leaves_no_version_and_no_partial_folder(push, check):
    run, serving_dir = push
    check.result = {"problems": ["injected by the test"]}
    with pytest.raises(serving.ServingCheckFailed, match="injected by the test"):
        run(blessed=1)
    [call] = check.calls
    assert call["versions"] == []
    assert serving.versions(serving_dir) == [] and _entries(serving_dir) == []
    assert not serving.models_config_path(serving_dir).exists()


def test_the_checked_tflite_model_is_staged_and_published_with_the_version(push, check):
    run, serving_dir = push
    pushed = run(blessed=1)
    [call] = check.calls
    # In the staging folder before the rename, like the rest of the version.
    assert call["tflite"] and call["versions"] == []
    [version] = serving.versions(serving_dir)
    path = serving_dir / str(version) / tflite.TFLITE_FILE
    report = json.loads(pushed.get_string_custom_property("servable_check"))["tflite"]
    assert report["written"] and report["bytes"] == path.stat().st_size
    assert report["examples"] == len(SAMPLE)
    # Not where a TF Serving started with --prefer_tflite_model would load it instead.
    assert not (serving_dir / str(version) / "model.tflite").exists()
    # Pusher's archive copy has it too.
    assert (Path(pushed.uri) / tflite.TFLITE_FILE).is_file()


def test_with_run_no_tflite_no_conversion_is_tried(push, check, monkeypatch):
    def refuse(*_):
        raise AssertionError("converted although the run turned TFLite off (--no-tflite)")

    monkeypatch.setattr(tflite, "export", refuse)
    run, serving_dir = push
    pushed = run(blessed=1, tflite=False)
    [version] = serving.versions(serving_dir)
    assert not (serving_dir / str(version) / tflite.TFLITE_FILE).exists()
    assert "tflite" not in json.loads(pushed.get_string_custom_property("servable_check"))


def test_an_unconvertible_model_is_published_without_tflite_and_says_why(
        push, check, unconvertible_model, caplog):
    run, serving_dir = push
    pushed = run(blessed=1, model_uri=unconvertible_model)
    [version] = serving.versions(serving_dir)
    assert not (serving_dir / str(version) / tflite.TFLITE_FILE).exists()
    assert (serving_dir / str(version) / "saved_model.pb").is_file()
    report = json.loads(pushed.get_string_custom_property("servable_check"))
    assert report["problems"] == []
    assert report["tflite"]["written"] is False
    assert "RegexFullMatch" in report["tflite"]["reason"]
    [warning] = [record.getMessage() for record in caplog.records
                 if record.levelname == "WARNING" and "TFLite" in record.getMessage()]
    assert "\n" not in warning and "RegexFullMatch" in warning


def test_a_tflite_model_that_scores_differently_publishes_nothing(push, check, monkeypatch,
                                                                  tmp_path):
    skewed = tflite.convert(_save_model(tmp_path / "skewed", offset=0.25))
    monkeypatch.setattr(tflite, "convert", lambda saved_model_dir, saved_model=None: skewed)
    run, serving_dir = push
    with pytest.raises(serving.ServingCheckFailed, match="TFLite model's scores differ"):
        run(blessed=1)
    assert check.calls == []
    assert serving.versions(serving_dir) == [] and _entries(serving_dir) == []
    assert not serving.models_config_path(serving_dir).exists()
