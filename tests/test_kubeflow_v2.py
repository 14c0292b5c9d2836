"""`python -m pipeline compile --target kubeflow-v2`: the job spec TFX's
KubeflowV2DagRunner writes, checked as JSON (no cluster, no network, no data)."""

import dataclasses
import json
import re
import subprocess
import sys

import pytest
from google.protobuf import json_format
from tfx import v1 as tfx

from pipeline import kubeflow_v2 as compiler
from pipeline.config import REPO_ROOT
from pipeline.definition import create_pipeline
from tests.conftest import cli_in_process

ROOT = "gs://taxi-bucket/runs"
IMAGE = "registry.example/my-project/tfx/taxi-pipeline:0123abc"
FLAGS = ["--pipeline-root", ROOT, "--image", IMAGE, "--train-steps", "123", "--min-auc", "0.91",
         "--min-accuracy", "0.8", "--max-regression", "0.01", "--tolerate", "company"]
RESOLVER = "LatestBlessedModelResolver"
# The V2 compiler splits TFX's latest-blessed-model resolver into two queries.
RESOLVER_TASKS = {f"{RESOLVER}-model-blessing-resolver", f"{RESOLVER}-model-resolver"}
MODEL_TASKS = {"Transform", "Trainer", "Evaluator", "Pusher"}
GATE_CONDITION = "(inputs.artifacts['_DataGate.verdict'].artifacts[0].metadata['passed'] == 1.0)"


def _cli(*args):
    """`compile` through the CLI in this process (tests/conftest.py);
    test_run_needs_no_kfp_and_compile_names_the_missing_extra runs one in a fresh one."""
    return cli_in_process("compile", *args)


def _parsed(*args):
    from pipeline import cli

    return cli._parser().parse_args(["compile", *args])


@pytest.fixture(scope="module")
def cfg():
    """The Config the CLI call below builds: the same flags, the same path."""
    from pipeline import compile_cli

    return compile_cli.config_for(_parsed(*FLAGS), sys.stderr)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """(CLI result, job spec) of one compile through the CLI."""
    output = tmp_path_factory.mktemp("kfp") / "taxi.json"
    result = _cli("--target", "kubeflow-v2", *FLAGS, "--output", str(output))
    assert result.returncode == 0, result.stderr
    return result, json.loads(output.read_text())


@pytest.fixture(scope="module")
def job(compiled):
    return compiled[1]


@pytest.fixture(scope="module")
def tasks(job):
    return job["pipelineSpec"]["root"]["dag"]["tasks"]


def _constant(task, name):
    return task["inputs"]["parameters"][name]["runtimeValue"]["constant"]


def _producer(task, key):
    source = task["inputs"]["artifacts"][key]["taskOutputArtifact"]
    return source["producerTask"], source["outputArtifactKey"]


def _containers(job):
    return {label.removesuffix("_executor"): executor["container"]
            for label, executor in job["pipelineSpec"]["deploymentSpec"]["executors"].items()
            if "container" in executor}


def test_cli_says_what_it_wrote(compiled, cfg):
    result, job = compiled
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    count = len(job["pipelineSpec"]["root"]["dag"]["tasks"])
    assert lines[0].endswith(f"taxi.json: pipeline 'taxi', {count} tasks")
    assert f"  pipeline root: {ROOT}" in lines
    assert f"  image:         {IMAGE}" in lines
    assert f"  serving:       {ROOT}/serving/big_tipper" in lines
    # What publishing to a gs:// location guarantees (README: Locations ... URIs).
    assert lines[-1].startswith("note: on an object store the Pusher's final rename")


def test_every_component_is_a_task(tasks, cfg):
    node_ids = {node.id for node in create_pipeline(cfg).components}
    assert RESOLVER in node_ids and "DataGate" in node_ids and "Pusher" in node_ids
    assert set(tasks) == (node_ids - {RESOLVER}) | RESOLVER_TASKS


def test_pusher_is_gated_by_the_evaluator_blessing(tasks):
    pusher = tasks["Pusher"]
    assert _producer(pusher, "model_blessing") == ("Evaluator", "blessing")
    assert _producer(pusher, "model") == ("Trainer", "model")
    assert "Evaluator" in pusher["dependentTasks"]
    # The Evaluator compares with what the resolver's second query finds.
    evaluator = tasks["Evaluator"]
    assert _producer(evaluator, "baseline_model") == (f"{RESOLVER}-model-resolver", "model")
    assert _producer(evaluator, "model") == ("Trainer", "model")


def test_model_tasks_run_only_when_the_data_gate_passes(tasks):
    for name, task in tasks.items():
        condition = task.get("triggerPolicy", {}).get("condition")
        if name in MODEL_TASKS:
            assert condition == GATE_CONDITION, name
            assert _producer(task, "_DataGate.verdict") == ("DataGate", "verdict")
            assert "DataGate" in task["dependentTasks"]
        else:
            # The resolver queries have no condition on V2: they only read metadata.
            assert condition is None, name
    assert _producer(tasks["DataGate"], "anomalies") == ("ExampleValidator", "anomalies")


def test_pipeline_root_image_and_locations(job, tasks, cfg):
    assert job["runtimeConfig"]["gcsOutputDirectory"] == ROOT
    assert job["pipelineSpec"]["pipelineInfo"]["name"] == cfg.pipeline_name
    containers = _containers(job)
    assert set(containers) == set(tasks) - RESOLVER_TASKS
    assert {container["image"] for container in containers.values()} == {IMAGE}
    assert _constant(tasks["CsvExampleGen"], "input_base") == f"{ROOT}/data"
    assert _constant(tasks["ImportSchemaGen"], "schema_file") == compiler.IMAGE_SCHEMA_PATH
    destination = json_format.Parse(_constant(tasks["Pusher"], "push_destination"),
                                    tfx.proto.PushDestination())
    assert destination.filesystem.base_directory == f"{ROOT}/serving/big_tipper"


def test_parameters_are_carried_over(tasks, cfg):
    train_args = json_format.Parse(_constant(tasks["Trainer"], "train_args"),
                                   tfx.proto.TrainArgs())
    assert train_args.num_steps == 123
    import tensorflow_model_analysis as tfma

    eval_config = json_format.Parse(_constant(tasks["Evaluator"], "eval_config"),
                                    tfma.EvalConfig())
    thresholds = {m.class_name: m.per_slice_thresholds[0].threshold
                  for m in eval_config.metrics_specs[0].metrics if m.per_slice_thresholds}
    assert thresholds["AUC"].value_threshold.lower_bound.value == 0.91
    assert thresholds["BinaryAccuracy"].value_threshold.lower_bound.value == 0.8
    change = thresholds["AUC"].change_threshold
    assert thresholds["AUC"].HasField("change_threshold") and change.HasField("absolute")
    assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert change.absolute.value == pytest.approx(-0.01)
    for name in ("Transform", "Trainer"):
        config = json.loads(_constant(tasks[name], "custom_config"))
        assert config["model_fingerprint"] == cfg.model_fingerprint
    assert json.loads(_constant(tasks["Pusher"], "custom_config")) == {
        "model_name": cfg.model_name, "hidden_columns": ["tips"],
        "code_fingerprint": cfg.fingerprint_of("pipeline.pusher"), "tflite": True}
    gate = tasks["DataGate"]
    assert _constant(gate, "code_fingerprint") == cfg.fingerprint_of("pipeline.gate")
    assert json.loads(_constant(gate, "tolerated_anomalies")) == ["company"]
    assert _constant(gate, "drift_blocks") == 1


def test_vertex_sdk_loads_the_job(compiled, tmp_path):
    """What `PipelineJob(...).submit()` is built from, constructed offline."""
    aiplatform = pytest.importorskip("google.cloud.aiplatform")
    from google.auth.credentials import AnonymousCredentials

    path = tmp_path / "job.json"
    path.write_text(json.dumps(compiled[1]))
    vertex_job = aiplatform.PipelineJob(
        display_name="taxi", template_path=str(path), project="my-project",
        location="europe-west4", credentials=AnonymousCredentials())
    assert vertex_job._gca_resource.runtime_config.gcs_output_directory == ROOT


def test_yaml_output_is_a_pipeline_spec_kfp_loads(cfg, tmp_path):
    from kfp import components

    output = tmp_path / "taxi.yaml"
    job = compiler.compile_kubeflow_v2(cfg, IMAGE, output)
    loaded = components.load_component_from_file(str(output))
    assert loaded.name == cfg.pipeline_name
    assert (set(loaded.pipeline_spec.root.dag.tasks)
            == set(job["pipelineSpec"]["root"]["dag"]["tasks"]))


def test_every_class_a_task_imports_is_in_the_image(job, tasks):
    """Executors, user code and artifact types, imported the way TFX's V2 container
    entrypoint does, and each from a package deploy/Dockerfile copies (or tfx)."""
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as entry
    from tfx.utils import import_utils

    paths = {container["args"][container["args"].index("--executor_class_path") + 1]
             for container in _containers(job).values()}
    paths |= {_constant(tasks["Transform"], "preprocessing_fn"),
              _constant(tasks["Trainer"], "run_fn")}
    titles = set()
    for component in job["pipelineSpec"]["components"].values():
        for side in ("inputDefinitions", "outputDefinitions"):
            for spec in component.get(side, {}).get("artifacts", {}).values():
                schema = json_format.ParseDict(spec["artifactType"],
                                               pipeline_spec_pb2.ArtifactTypeSchema())
                titles.add(entry._retrieve_class_path(schema))
    assert "taxi_pipeline.DataVerdict" in titles
    for path in paths | titles:
        assert import_utils.import_class_by_path(path) is not None, path
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    copied = {source.rstrip("/").removesuffix(".py")
              for line in re.findall(r"^COPY (.+)$", dockerfile, re.M)
              for source in line.split()[:-1]}
    assert {"models", "pipeline", "schema", "taxi_pipeline"} <= copied
    for path in paths | titles:
        assert path.split(".")[0] in copied | {"tfx"}, path
    assert f"WORKDIR {compiler.IMAGE_REPO_DIR}" in dockerfile
    assert f"ENV PYTHONPATH={compiler.IMAGE_REPO_DIR}" in dockerfile
    assert "COPY schema/ schema/" in dockerfile


def test_drift_check_compiles_with_spans(cfg, tmp_path):
    job = compiler.compile_kubeflow_v2(dataclasses.replace(cfg, spans=(1, 2)), IMAGE,
                                       tmp_path / "drift.json")
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert {"CsvExampleGen_prev1", "StatisticsGen_prev1", "DistributionValidator"} <= set(tasks)
    assert _producer(tasks["DataGate"], "drift") == ("DistributionValidator", "anomalies")
    ranges = {name: json.loads(_constant(tasks[name], "range_config"))["static_range"]
              for name in ("CsvExampleGen", "CsvExampleGen_prev1")}
    assert ranges["CsvExampleGen"]["start_span_number"] == 2
    assert ranges["CsvExampleGen_prev1"]["end_span_number"] == 1


@pytest.mark.parametrize("change, tfx_error", [
    # Several spans reach Transform through channel_utils.union.
    ({"spans": (1, 2), "training_spans": 2}, ValueError),
    # Only LatestBlessedModelStrategy and LatestArtifactStrategy compile.
    ({"evaluation": {"baseline_strategy": "before-candidate"}}, TypeError),
])
def test_what_kubeflow_v2_cannot_compile_is_refused_in_one_sentence(
        cfg, tmp_path, monkeypatch, change, tfx_error):
    changed = dataclasses.replace(cfg, **{
        name: dataclasses.replace(getattr(cfg, name), **value) if isinstance(value, dict)
        else value for name, value in change.items()})
    with pytest.raises(compiler.CompileError):
        compiler.compile_kubeflow_v2(changed, IMAGE, tmp_path / "x.json")
    # The refusal is TFX's limit, not ours: without the check its compiler fails.
    monkeypatch.setattr(compiler, "check", lambda cfg: None)
    with pytest.raises(tfx_error):
        compiler.compile_kubeflow_v2(changed, IMAGE, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("args, words", [
    (["--image", IMAGE], ["--pipeline-root"]),
    (["--pipeline-root", ROOT], ["--image"]),
    (["--pipeline-root", "runs/taxi", "--image", IMAGE], ["URI", "runs/taxi"]),
    (["--target", "airflow", "--pipeline-root", ROOT, "--image", IMAGE], ["airflow"]),
    (["--pipeline-root", ROOT, "--image", IMAGE, "--spans", "1,x"], ["1,x"]),
    (["--pipeline-root", ROOT, "--image", IMAGE, "--train-steps", "0"], ["--train-steps"]),
    (["--pipeline-root", ROOT, "--image", IMAGE, "--label", "y"], ["--data-dir DIR",
                                                                   "--schema-uri"]),
])
def test_bad_usage_is_one_line_and_exit_code_2(args, words):
    result = _cli(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_run_needs_no_kfp_and_compile_names_the_missing_extra():
    """kfp blocked as if the kubeflow extra were not installed."""
    script = ("import sys; sys.modules['kfp'] = None\n"
              "import pipeline.definition, pipeline.runner\n"
              "from pipeline.cli import main\n"
              f"sys.exit(main(['compile', '--pipeline-root', '{ROOT}', '--image', 'x']))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    # (TensorFlow's start-up lines come first: the script imports the pipeline itself.)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: compile needs the kubeflow extra"), result.stderr


def _shop(tmp_path, rows="x,y\n1.5,a\n2.5,b\n"):
    """A bring-your-own-CSV folder, `shop/`, with its reviewed schema."""
    data = tmp_path / "shop"
    data.mkdir()
    (data / "data.csv").write_text(rows)
    (data / "schema.pbtxt").write_text(
        'feature { name: "x" type: FLOAT }\n'
        'feature { name: "y" type: BYTES string_domain { value: "a" value: "b" } }\n')
    return data


def test_a_label_dataset_compiles_with_its_schema(tmp_path):
    output = tmp_path / "job.json"
    result = _cli("--pipeline-root", ROOT, "--image", IMAGE, "--output", str(output),
                  "--label", "y", "--data-dir", str(_shop(tmp_path)),
                  "--schema-uri", f"{ROOT}/schema.pbtxt")
    assert result.returncode == 0, result.stderr
    assert "pipeline 'shop'" in result.stdout.splitlines()[0]
    job = json.loads(output.read_text())
    # Named after its data folder, as `run` names it, not after the taxi default.
    assert job["pipelineSpec"]["pipelineInfo"]["name"] == "shop"
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    inputs = json.loads(json.loads(_constant(tasks["Transform"], "custom_config"))["inputs"])
    assert inputs["label"]["classes"] == ["a", "b"] and list(inputs["features"]) == ["x"]
    assert _constant(tasks["ImportSchemaGen"], "schema_file") == f"{ROOT}/schema.pbtxt"
    destination = json_format.Parse(_constant(tasks["Pusher"], "push_destination"),
                                    tfx.proto.PushDestination())
    assert destination.filesystem.base_directory == f"{ROOT}/serving/y"


def test_compile_checks_the_data_and_flags_as_run_does(tmp_path):
    """`compile --label y --max-rmse 3` on a classification: refused with exit 2 and
    the line `run` prints, and no job written."""
    import io

    from pipeline import compile_cli

    output = tmp_path / "job.json"
    out, err = io.StringIO(), io.StringIO()
    code = compile_cli.main(_parsed(
        "--pipeline-root", ROOT, "--image", IMAGE, "--output", str(output), "--label", "y",
        "--data-dir", str(_shop(tmp_path)), "--schema-uri", f"{ROOT}/schema.pbtxt",
        "--max-rmse", "3"), out, err)
    assert code == 2
    assert err.getvalue() == "error: --max-rmse gates the other task; this is a classification\n"
    assert out.getvalue() == "" and not output.exists()


def test_a_symlink_at_the_output_is_replaced_not_written_through(cfg, tmp_path):
    # TFX's runner opened the path as it was: the spec landed in the symlink's target.
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    output = tmp_path / "out" / "job.json"
    output.parent.mkdir()
    output.symlink_to(outside)
    job = compiler.compile_kubeflow_v2(cfg, IMAGE, output)
    assert outside.read_text() == "precious\n"
    assert not output.is_symlink() and json.loads(output.read_text()) == job
    assert [path.name for path in output.parent.iterdir()] == ["job.json"]


def test_compile_creates_the_output_folder(cfg, tmp_path):
    # The default --output's folder (outputs/kubeflow/) does not exist in a fresh checkout.
    output = tmp_path / "not" / "yet" / "job.json"
    job = compiler.compile_kubeflow_v2(cfg, IMAGE, output)
    assert json.loads(output.read_text()) == job
    assert [path.name for path in output.parent.iterdir()] == ["job.json"]


def test_an_output_that_is_a_folder_is_refused_in_one_sentence(tmp_path):
    result = cli_in_process("compile", "--pipeline-root", ROOT, "--image", IMAGE,
                            "--output", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"error: --output {tmp_path} is a folder; name the "
                                     "file to write (.json or .yaml)")


def test_compile_replaces_a_symlink_named_by_output(tmp_path):
    # The command resolved --output, symlink included, and wrote the spec over its target.
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    output = tmp_path / "job.json"
    output.symlink_to(outside)
    result = cli_in_process("compile", "--pipeline-root", ROOT, "--image", IMAGE,
                            "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert outside.read_text() == "precious\n"
    assert not output.is_symlink() and "pipelineSpec" in json.loads(output.read_text())


def test_tune_compiles_the_tuner_between_transform_and_trainer(tmp_path):
    """`compile --tune` shares run's flag path: the job has the Tuner, fed by
    Transform, and the Trainer reads its best hyperparameters."""
    output = tmp_path / "tuned.json"
    result = _cli("--target", "kubeflow-v2", *FLAGS, "--tune", "--tune-trials", "3",
                  "--output", str(output))
    assert result.returncode == 0, result.stderr
    tasks = json.loads(output.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    assert _producer(tasks["Tuner"], "transform_graph") == ("Transform", "transform_graph")
    assert _producer(tasks["Trainer"], "hyperparameters") == ("Tuner", "best_hyperparameters")
    assert json.loads(_constant(tasks["Tuner"], "custom_config"))["trials"] == 3
