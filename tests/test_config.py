import dataclasses
import shutil
from pathlib import Path

import pytest

import models
from pipeline.config import DEFAULT_DATA_DIR, DEFAULT_OUTPUT_DIR, REPO_ROOT, Config, make_config


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
    assert isinstance(variant, Config)


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
