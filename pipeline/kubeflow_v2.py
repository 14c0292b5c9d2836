"""`python -m pipeline compile`: the DAG of `create_pipeline(cfg)`, written by TFX's
KubeflowV2DagRunner as a Kubeflow Pipelines V2 / Vertex AI Pipelines job spec.

It is the same function `run` uses, with three differences in the Config:
- locations are URIs (`pipeline_root_uri`, `data_uri`, `serving_uri`) and the schema is
  the copy inside the image (`deploy/Dockerfile` puts this checkout at IMAGE_REPO_DIR);
- the baseline is TFX's LatestBlessedModelStrategy ("latest-blessed"): the V2 compiler
  accepts no other resolver strategy, and no extra resolver input;
- no span list unless given: CsvExampleGen reads the newest `span-<N>/` it finds when
  the job runs, and there is no drift check (with `spans`, the latest two are compared).

Nothing here reads data or the network: compiling needs only this checkout and the
`kubeflow` extra (kfp); the `compile` command reads only the local copy of the data a
--data-dir names, to check it as `run` does. Kubeflow V2 in TFX 1.21 cannot compile a
training window of several spans: they reach Transform through `channel_utils.union`,
which its compiler rejects.
"""

import re
from pathlib import Path

from pipeline.config import REPO_ROOT, SPAN_PATTERN, Config

TARGETS = ("kubeflow-v2",)
# Where deploy/Dockerfile copies this checkout (and so models/, pipeline/, schema/).
IMAGE_REPO_DIR = "/pipeline"
IMAGE_SCHEMA_PATH = f"{IMAGE_REPO_DIR}/schema/schema.pbtxt"
DEFAULT_OUTPUT = REPO_ROOT / "outputs" / "kubeflow" / "taxi_pipeline.json"
_URI = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s]+.*")


class CompileError(ValueError):
    """Settings the target cannot compile; the message is one sentence."""


def kubeflow_locations(pipeline_root: str, data_uri: str | None = None,
                       serving_uri: str | None = None,
                       schema_uri: str | None = None) -> dict:
    """The Config fields a Kubeflow V2 job decides itself (for
    `config.validated_config`): its locations as URIs, data and serving defaulting to
    folders under the pipeline root, span folders under the data URI, and the one
    baseline strategy the V2 compiler accepts."""
    if not _URI.fullmatch(pipeline_root):
        raise CompileError(f"the pipeline root must be a URI such as gs://BUCKET/PATH, "
                           f"not {pipeline_root!r}")
    root = pipeline_root.rstrip("/")
    return {
        "pipeline_root_uri": root,
        "data_uri": data_uri or f"{root}/data",
        "serving_uri": serving_uri or f"{root}/serving",
        "schema_uri": schema_uri or IMAGE_SCHEMA_PATH,
        "input_pattern": SPAN_PATTERN,
        "baseline_strategy": "latest-blessed",
    }


def check(cfg: Config) -> None:
    """Refuses what TFX 1.21's Kubeflow V2 compiler cannot compile, in one sentence."""
    if len(cfg.training_window) > 1:
        raise CompileError("a training window of several spans cannot be compiled for "
                           "kubeflow-v2: TFX 1.21's compiler rejects the union of "
                           "ExampleGen outputs it needs")
    if cfg.evaluation.baseline_strategy != "latest-blessed":
        raise CompileError(f"the {cfg.evaluation.baseline_strategy!r} baseline cannot be compiled "
                           "for kubeflow-v2, which only knows TFX's latest-blessed strategy")


def compile_kubeflow_v2(cfg: Config, image: str, output: Path) -> dict:
    """Writes the job spec to `output` (JSON: a Vertex PipelineJob; .yaml/.yml: the
    PipelineSpec a Kubeflow Pipelines cluster takes) and returns it as a dict.

    Raises CompileError for settings it cannot compile and ImportError without kfp."""
    check(cfg)
    if not image.strip():
        raise CompileError("the image must not be empty")
    if output.is_dir():
        raise CompileError(f"--output {output} is a folder; name the file to write "
                           "(.json or .yaml)")
    # Imports kfp: only here, so `run` works without the kubeflow extra.
    import shutil
    import tempfile

    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    from pipeline import safe_files
    from pipeline.definition import create_pipeline

    # TFX's runner opens the file it writes as it is, through a symlink there too: it
    # writes into a folder of its own, and the spec replaces `output` from there.
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".compile-", dir=output.parent))
    try:
        runner = v2.KubeflowV2DagRunner(
            config=v2.KubeflowV2DagRunnerConfig(
                default_image=image,
                # Schema 2.1.0, as the kfp 2 SDK writes: what Vertex and KFP 2 read.
                use_pipeline_spec_2_1=True),
            output_dir=str(staging), output_filename=output.name)
        job = runner.run(create_pipeline(cfg))
        safe_files.write_bytes(output, (staging / output.name).read_bytes())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return job
