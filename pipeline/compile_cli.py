"""The `compile` command: writes the pipeline as a Kubeflow Pipelines V2 / Vertex AI job
spec with `pipeline.kubeflow_v2`, and says what it wrote."""

from pathlib import Path

from pipeline.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from pipeline.flags import add_dataset_flags, add_model_flags, span_list
from pipeline.kubeflow_v2 import DEFAULT_OUTPUT, IMAGE_SCHEMA_PATH, TARGETS


def add_parser(commands) -> None:
    comp = commands.add_parser(
        "compile", help="write the pipeline as a Kubeflow Pipelines V2 / Vertex AI job spec "
        "(needs the kubeflow extra; reads no data but a local --data-dir)")
    comp.add_argument("--target", choices=TARGETS, default=TARGETS[0],
                      help="the orchestrator: kubeflow-v2, TFX's KubeflowV2DagRunner (default "
                      "and only choice)")
    comp.add_argument("--pipeline-root", required=True, metavar="URI",
                      help="required, no default (it names your bucket): where the job writes "
                      "its artifacts, e.g. gs://BUCKET/taxi")
    comp.add_argument("--image", required=True,
                      help="required, no default (TFX's own image lacks this project's code): "
                      "the image every task runs, built from deploy/Dockerfile")
    comp.add_argument("--data-uri", metavar="URI",
                      help="folder of span-<N>/ CSV folders (default: PIPELINE_ROOT/data)")
    comp.add_argument("--data-dir", metavar="DIR",
                      help="required with --label: a local copy of the data, checked as run "
                      "checks it; names the job as run names its pipeline, and holds the "
                      "default --schema, DIR/schema.pbtxt")
    comp.add_argument("--serving-uri", metavar="URI",
                      help="where the Pusher publishes <model>/<version>/ (default: "
                      "PIPELINE_ROOT/serving)")
    comp.add_argument("--schema-uri", metavar="URI",
                      help=f"the curated schema (default: the image's copy, {IMAGE_SCHEMA_PATH})")
    comp.add_argument("--spans", type=span_list, metavar="N,N...",
                      help="span numbers under the data URI, fixed in the spec: the latest is "
                      "trained on and, with two or more, checked for drift against the "
                      "previous (default: none; the newest span found when the job runs, no "
                      "drift check)")
    add_dataset_flags(comp)
    add_model_flags(comp)
    comp.add_argument("--output", type=Path, metavar="FILE",
                      help=".json: a Vertex AI PipelineJob; .yaml: the PipelineSpec a Kubeflow "
                      "Pipelines cluster takes (default: outputs/kubeflow/taxi_pipeline.json)")


def config_for(args, err):
    """The job's Config: built from the flags through the path `run` takes
    (`config.validated_config`), with the locations Kubeflow V2 decides."""
    from pipeline import kubeflow_v2
    from pipeline.config import validated_config

    return validated_config(args, data_required=False, log=err, spans=args.spans,
                            **kubeflow_v2.kubeflow_locations(
                                args.pipeline_root, data_uri=args.data_uri,
                                serving_uri=args.serving_uri, schema_uri=args.schema_uri))


def main(args, out, err) -> int:
    """Writes the job spec; 2 for settings, data or a schema it cannot use, 1 when TFX's
    compiler refuses the pipeline."""
    from pipeline import kubeflow_v2 as compiler
    from pipeline.data import DataError

    output = (args.output or DEFAULT_OUTPUT).expanduser()
    # The folder resolved, not the file: a symlink there is replaced, not written through.
    output = output.parent.resolve() / output.name
    if args.label and not (args.data_dir and args.schema_uri):
        print("error: compile --label needs --data-dir DIR, the local copy of the data the "
              "job reads (it names the job and is checked as run checks it; its reviewed "
              "schema, DIR/schema.pbtxt or --schema FILE, gives the model's inputs), and "
              "--schema-uri, where the job reads that schema", file=err)
        return EXIT_USAGE
    try:
        cfg = config_for(args, err)
        job = compiler.compile_kubeflow_v2(cfg, args.image, output)
    except (compiler.CompileError, DataError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    except ImportError as error:
        print(f"error: compile needs the kubeflow extra (pip install '.[kubeflow]'): {error}",
              file=err)
        return EXIT_USAGE
    except OSError as error:
        print(f"error: cannot write {output}: {error.strerror or error}", file=err)
        return EXIT_USAGE
    except (ValueError, TypeError, NotImplementedError) as error:
        print(f"error: TFX's Kubeflow V2 compiler refused the pipeline: "
              f"{str(error).strip().splitlines()[0]}", file=err)
        return EXIT_FAILED
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    data = (f"{cfg.locations.data_location} (span-{cfg.latest_span})" if cfg.spans
            else f"{cfg.locations.data_location} (the newest span-<N>/ when the job runs)")
    print(f"wrote {output}: pipeline '{cfg.pipeline_name}', {len(tasks)} tasks", file=out)
    print(f"  image:         {args.image}", file=out)
    root_note = ("" if output.suffix == ".json"
                 else " (not in a .yaml PipelineSpec: give it when submitting)")
    print(f"  pipeline root: {cfg.locations.pipeline_root_location}{root_note}", file=out)
    print(f"  data:          {data}", file=out)
    print(f"  schema:        {cfg.locations.schema_location}", file=out)
    print(f"  serving:       {cfg.model_serving_location}", file=out)
    if "://" in cfg.model_serving_location and not cfg.model_serving_location.startswith(
            "file://"):
        print("note: on an object store the Pusher's final rename of a version copies it "
              "file by file, so TF Serving may see it half-published; see README "
              "(Locations all workers can see: URIs)", file=out)
    return EXIT_OK

