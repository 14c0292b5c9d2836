import dataclasses
import shutil
from pathlib import Path

import pytest

import models
from pipeline.config import DEFAULT_DATA_DIR, DEFAULT_OUTPUT_DIR, REPO_ROOT, make_config


def test_defaults_point_into_the_checkout_and_outputs_stay_out_of_git():
    cfg = make_config()
    assert cfg.data_dir == DEFAULT_DATA_DIR == REPO_ROOT / "data" / "taxi"
    assert cfg.output_dir == DEFAULT_OUTPUT_DIR
    assert cfg.pipeline_root.parent == cfg.metadata_path.parent == cfg.output_dir
    assert cfg.model_serving_dir == cfg.output_dir / "serving" / cfg.model_name
    gitignore = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert "/outputs/" in gitignore and "/data/*/" in gitignore


def test_overrides_are_applied_and_paths_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = make_config(output_dir="runs", train_steps=7, data_dir=None)
    assert cfg.output_dir == tmp_path / "runs"
    assert cfg.train_steps == 7
    assert cfg.data_dir == DEFAULT_DATA_DIR  # None means "keep the default"


def test_config_is_frozen_and_variants_come_from_replace():
    cfg = make_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train_steps = 1
    variant = dataclasses.replace(cfg, min_auc=0.5)
    assert variant.min_auc == 0.5 and cfg.min_auc != 0.5


def test_split_ratio_is_four_to_one():
    cfg = make_config()
    assert (cfg.train_buckets, cfg.eval_buckets) == (4, 1)


def test_model_fingerprint_follows_the_model_code(tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(Path(models.__file__).parent, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = models.fingerprint(copy)
    assert before == models.fingerprint()
    assert make_config().model_fingerprint == before
    with (copy / "model.py").open("a") as handle:
        handle.write("\n# an edit\n")
    assert models.fingerprint(copy) != before


def test_locations_are_the_local_paths_unless_uris_are_given():
    cfg = make_config()
    assert cfg.baseline_strategy == "before-candidate"
    assert (cfg.pipeline_root_location, cfg.data_location, cfg.schema_location,
            cfg.model_serving_location) == (str(cfg.pipeline_root), str(cfg.data_dir),
                                            str(cfg.schema_path), str(cfg.model_serving_dir))
    uris = make_config(pipeline_root_uri="gs://b/root", data_uri="gs://b/data",
                       schema_uri="/pipeline/schema/schema.pbtxt", serving_uri="gs://b/serving")
    # Strings stay strings: a Path would make gs://b/x into gs:/b/x.
    assert uris.pipeline_root_location == "gs://b/root"
    assert uris.data_location == "gs://b/data"
    assert uris.schema_location == "/pipeline/schema/schema.pbtxt"
    assert uris.model_serving_location == f"gs://b/serving/{uris.model_name}"


def _dataset(tmp_path, name="wine"):
    data = tmp_path / name
    data.mkdir()
    (data / "schema.pbtxt").write_text(
        'feature { name: "alcohol" type: FLOAT }\n'
        'feature { name: "magnesium" type: FLOAT }\n'
        'feature { name: "cultivar" type: INT int_domain { min: 0 max: 2 } }\n')
    return data


def test_a_label_column_gives_a_dataset_of_its_own(tmp_path):
    data = _dataset(tmp_path)
    cfg = make_config(data_dir=data, label="cultivar")
    assert (cfg.pipeline_name, cfg.model_name) == ("wine", "cultivar")
    assert cfg.schema_path == data / "schema.pbtxt"
    assert cfg.output_dir == DEFAULT_OUTPUT_DIR / "wine"
    assert cfg.label.classes == ("0", "1", "2")
    assert list(cfg.inputs.features) == ["alcohol", "magnesium"]
    # Taxi settings do not leak into another dataset.
    assert cfg.slice_features == () and cfg.drift_thresholds == ()
    assert (cfg.min_auc, cfg.min_accuracy) == (0.5, 0.0)
    taxi = make_config()
    assert (taxi.min_auc, taxi.min_accuracy) == (0.94, 0.88)


def test_regression_task_and_thresholds_come_from_arguments(tmp_path):
    cfg = make_config(data_dir=_dataset(tmp_path), label="alcohol", task="regression",
                      max_rmse=0.5, excluded_columns=("cultivar",))
    assert cfg.label.task == "regression" and cfg.max_rmse == 0.5
    assert list(cfg.inputs.features) == ["magnesium"]
    # A regression model has no quantile buckets (they overfit small datasets).
    assert cfg.inputs.features["magnesium"].buckets == 0


def test_taxi_config_refuses_a_regression_task():
    with pytest.raises(ValueError, match="name a --label column"):
        make_config(task="regression")


def test_output_dir_keeps_to_one_label(tmp_path):
    from pipeline import workspace

    data = _dataset(tmp_path)
    cfg = make_config(data_dir=data, label="cultivar", output_dir=tmp_path / "out")
    (tmp_path / "out").mkdir()
    workspace.claim_dataset(cfg)
    workspace.claim_dataset(cfg)  # the same dataset again: fine
    recorded = workspace.recorded_dataset(cfg.output_dir)
    assert recorded["label"] == "cultivar" and recorded["data_dir"] == str(data)
    assert make_config(output_dir=cfg.output_dir, **{
        key: recorded[key] for key in ("data_dir", "label", "task", "schema_path")}) == cfg
    other = make_config(data_dir=data, label="alcohol", task="regression",
                        excluded_columns=("cultivar",), output_dir=tmp_path / "out")
    with pytest.raises(workspace.OutputDirError, match="predict cultivar .*another --output-dir"):
        workspace.claim_dataset(other)


def test_taxi_output_dir_records_no_checkout_paths(tmp_path):
    from pipeline import workspace

    cfg = make_config(output_dir=tmp_path)
    workspace.claim_dataset(cfg)
    assert workspace.recorded_dataset(tmp_path) == {"label": None, "task": "classification"}
    assert workspace.workspace_config(tmp_path) == cfg
