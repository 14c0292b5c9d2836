import dataclasses
import shutil
from pathlib import Path

import pytest

import models
from pipeline.config import DEFAULT_DATA_DIR, DEFAULT_OUTPUT_DIR, REPO_ROOT, make_config


def test_defaults_point_into_the_checkout_and_outputs_stay_out_of_git():
    cfg = make_config()
    assert cfg.locations.data_dir == DEFAULT_DATA_DIR == REPO_ROOT / "data" / "taxi"
    assert cfg.locations.output_dir == DEFAULT_OUTPUT_DIR
    where = cfg.locations
    assert where.pipeline_root.parent == where.metadata_path.parent == where.output_dir
    assert cfg.model_serving_dir == cfg.locations.output_dir / "serving" / cfg.model_name
    gitignore = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert "/outputs/" in gitignore and "/data/*/" in gitignore


def test_overrides_are_applied_and_paths_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = make_config(output_dir="runs", train_steps=7, data_dir=None)
    assert cfg.locations.output_dir == tmp_path / "runs"
    assert cfg.train_steps == 7
    assert cfg.locations.data_dir == DEFAULT_DATA_DIR  # None means "keep the default"


def test_config_is_frozen_and_variants_come_from_replace():
    cfg = make_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train_steps = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.evaluation.min_auc = 0.1
    variant = dataclasses.replace(
        cfg, evaluation=dataclasses.replace(cfg.evaluation, min_auc=0.5))
    assert variant.evaluation.min_auc == 0.5 and cfg.evaluation.min_auc != 0.5
    assert variant.evaluation.min_accuracy == cfg.evaluation.min_accuracy


def test_make_config_keywords_reach_their_group():
    # make_config keeps the flags' flat names; Config groups them.
    cfg = make_config(min_auc=0.7, baseline_strategy="latest-blessed", output_dir="runs",
                      beam_profile="multi-processing", beam_workers=3, job_endpoint="h:1")
    assert (cfg.evaluation.min_auc, cfg.evaluation.baseline_strategy) == (0.7, "latest-blessed")
    assert cfg.evaluation.min_accuracy == 0.88  # the taxi default, not the group's
    assert cfg.locations.output_dir == Path("runs").resolve()
    assert (cfg.beam.profile, cfg.beam.workers, cfg.beam.job_endpoint) == (
        "multi-processing", 3, "h:1")
    with pytest.raises(TypeError):
        make_config(no_such_setting=1)


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
    assert cfg.evaluation.baseline_strategy == "before-candidate"
    where = cfg.locations
    assert (where.pipeline_root_location, where.data_location, where.schema_location,
            cfg.model_serving_location) == (str(where.pipeline_root), str(where.data_dir),
                                            str(where.schema_path), str(cfg.model_serving_dir))
    uris = make_config(pipeline_root_uri="gs://b/root", data_uri="gs://b/data",
                       schema_uri="/pipeline/schema/schema.pbtxt", serving_uri="gs://b/serving")
    # Strings stay strings: a Path would make gs://b/x into gs:/b/x.
    assert uris.locations.pipeline_root_location == "gs://b/root"
    assert uris.locations.data_location == "gs://b/data"
    assert uris.locations.schema_location == "/pipeline/schema/schema.pbtxt"
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
    assert cfg.locations.schema_path == data / "schema.pbtxt"
    assert cfg.locations.output_dir == DEFAULT_OUTPUT_DIR / "wine"
    assert cfg.label.classes == ("0", "1", "2")
    assert list(cfg.inputs.features) == ["alcohol", "magnesium"]
    # Taxi settings do not leak into another dataset.
    assert cfg.evaluation.slice_features == () and cfg.drift_thresholds == ()
    assert (cfg.evaluation.min_auc, cfg.evaluation.min_accuracy) == (0.5, 0.0)
    taxi = make_config()
    assert (taxi.evaluation.min_auc, taxi.evaluation.min_accuracy) == (0.94, 0.88)


def test_regression_task_and_thresholds_come_from_arguments(tmp_path):
    cfg = make_config(data_dir=_dataset(tmp_path), label="alcohol", task="regression",
                      max_rmse=0.5, excluded_columns=("cultivar",))
    assert cfg.label.task == "regression" and cfg.evaluation.max_rmse == 0.5
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
    recorded = workspace.recorded_dataset(cfg.locations.output_dir)
    assert recorded["label"] == "cultivar" and recorded["data_dir"] == str(data)
    assert make_config(output_dir=cfg.locations.output_dir, **{
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


def _parsed(command, data, *flags):
    """The parsed command line of `run` or `compile` on the dataset in `data`."""
    from pipeline import cli

    where = (["--output-dir", str(data.parent / "out")] if command == "run" else
             ["--pipeline-root", "gs://b/p", "--image", "i", "--schema-uri", "gs://b/s"])
    return cli._parser().parse_args([command, "--data-dir", str(data), *where, *flags])


def _build(command, data, *flags):
    """The Config `command` builds from these flags (compile_cli.config_for is what
    `compile` calls; validated_config what `run` calls)."""
    import io

    from pipeline import compile_cli
    from pipeline.config import validated_config

    args = _parsed(command, data, *flags)
    if command == "run":
        return validated_config(args, log=io.StringIO())
    return compile_cli.config_for(args, io.StringIO())


@pytest.mark.parametrize("rows, flags, message", [
    ("x,y\n1,a\n2,b\n", ["--label", "y", "--max-rmse", "3"],
     "--max-rmse gates the other task; this is a classification"),
    ("x,y\n1,2\n2,3\n", ["--label", "y", "--task", "regression", "--min-auc", "0.9"],
     "--min-auc gates the other task; this is a regression"),
    ("x,y\n1,a\n2,b\n", ["--label", "y", "--max-regression", "5"],
     "--max-regression 5 is more than AUC or accuracy can fall (at most 1)"),
    ("x,y\n1,a\n2,a\n", ["--label", "y"], "single class ('a')"),
    ("x,y\n1,a\n2,b\n3,c\n", ["--label", "y", "--min-auc", "0.9"], "3 classes"),
])
def test_run_and_compile_refuse_the_same_flags_and_data(tmp_path, rows, flags, message):
    from pipeline.data import DataError

    data = tmp_path / "shop"
    data.mkdir()
    (data / "data.csv").write_text(rows)
    (data / "schema.pbtxt").write_text(
        'feature { name: "x" type: INT }\n'
        'feature { name: "y" type: BYTES string_domain { value: "a" value: "b" value: "c" } }\n')
    refusals = []
    for command in ("run", "compile"):
        with pytest.raises(DataError) as refused:
            _build(command, data, *flags)
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]
    assert message in refusals[0]


def test_compile_names_a_dataset_as_run_does(tmp_path):
    data = _dataset(tmp_path, name="vineyard")
    (data / "data.csv").write_text("alcohol,magnesium,cultivar\n13.2,100,0\n12.1,90,1\n")
    run = _build("run", data, "--label", "cultivar")
    compiled = _build("compile", data, "--label", "cultivar")
    assert (compiled.pipeline_name, compiled.model_name) == ("vineyard", "cultivar")
    assert (run.pipeline_name, run.model_name) == ("vineyard", "cultivar")
    assert compiled.inputs == run.inputs and compiled.locations.schema_path == data / "schema.pbtxt"
    assert compiled.model_serving_location == "gs://b/p/serving/cultivar"


def test_tflite_is_on_unless_run_or_compile_turns_it_off(tmp_path):
    data = _dataset(tmp_path, name="vineyard")
    (data / "data.csv").write_text("alcohol,magnesium,cultivar\n13.2,100,0\n12.1,90,1\n")
    for command in ("run", "compile"):
        assert _build(command, data, "--label", "cultivar").tflite is True
        assert _build(command, data, "--label", "cultivar", "--no-tflite").tflite is False
        assert _build(command, data, "--label", "cultivar", "--tflite").tflite is True
