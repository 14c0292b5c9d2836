"""Beam runner profiles: where the data-heavy components (ExampleGen, StatisticsGen,
Transform, Evaluator) run, chosen with one name. Each profile turns into the
`beam_pipeline_args` TFX hands to Apache Beam; nothing else changes in the pipeline.

- in-memory: DirectRunner in this process (default; fastest for small data): Beam's
  defaults, so TFX gets no arguments.
- multi-processing: DirectRunner with `beam_workers` worker processes (0: one per core).
- portable: Beam's PortableRunner, submitting to the job server at `job_endpoint` (Flink's,
  Spark's, or Beam's own Python job service), with SDK workers of `beam_environment`
  type. Flink and Spark take exactly the same arguments, so they are one profile.
- dataflow: Google Cloud Dataflow in `dataflow_project` / `dataflow_region`, staging in
  `temp_location`.

The two remote profiles name this project's setup.py as the workers' dependency: it is
what they need (the pipeline's and the model's code), and without a dependency flag TFX
builds and stages an sdist of TFX itself before every Beam component.

A run whose locations are `file://` URIs names pipeline/file_scheme.py as a Beam plugin
in every profile with worker processes: Beam's SDK worker imports `--beam_plugins`
before it runs a step, and only that module gives Beam the `file` scheme.
"""

from pipeline.config import REPO_ROOT, Config

PROFILES = ("in-memory", "multi-processing", "portable", "dataflow")
# Profile names of earlier versions, refused with the name to use instead.
RENAMED = {"flink": "portable", "spark": "portable"}


class ProfileError(ValueError):
    """A profile that lacks a setting it needs; the message is one sentence."""


FILE_SCHEME_PLUGIN = "pipeline.file_scheme"


def uses_file_scheme(cfg: Config) -> bool:
    """Whether the data, the pipeline root or the serving folder is a file:// URI."""
    return any(location.startswith("file://") for location in (
        cfg.locations.data_location, cfg.locations.pipeline_root_location,
        cfg.model_serving_location))


def beam_pipeline_args(cfg: Config) -> list[str]:
    args = _profile_args(cfg)
    if args and uses_file_scheme(cfg):
        # In memory (no arguments), the steps run in this process, where
        # pipeline/definition.py imported the plugin.
        args.append(f"--beam_plugins={FILE_SCHEME_PLUGIN}")
    return args


def _profile_args(cfg: Config) -> list[str]:
    profile = cfg.beam.profile
    if profile == "in-memory":
        # Beam's defaults are exactly this profile (DirectRunner, in memory, one
        # worker). Given any Beam argument without a dependency flag, TFX packages
        # itself as an sdist for remote workers before every Beam component: about
        # 1.5 s each, and a 50 MB copy of tfx left in the temp folder every time.
        return []
    if profile == "multi-processing":
        # Local workers run this interpreter and need nothing staged (the DirectRunner
        # stages nothing); naming the project's setup.py as the dependency is true
        # and stops TFX's per-component sdist (see above).
        return ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                f"--direct_num_workers={cfg.beam.workers}",
                f"--setup_file={REPO_ROOT / 'setup.py'}"]
    if profile in RENAMED:
        raise ProfileError(f"the {profile} profile is now part of the {RENAMED[profile]} "
                           f"profile: use --beam {RENAMED[profile]} --job-endpoint HOST:PORT "
                           f"with your {profile.capitalize()} job server's address")
    if profile == "portable":
        if not cfg.beam.job_endpoint:
            raise ProfileError("the portable profile needs a job endpoint (HOST:PORT of the "
                               "Flink, Spark or Beam job server)")
        args = ["--runner=PortableRunner", f"--job_endpoint={cfg.beam.job_endpoint}",
                f"--environment_type={cfg.beam.environment}"]
        if cfg.beam.environment_config:
            args.append(f"--environment_config={cfg.beam.environment_config}")
        return [*args, f"--setup_file={REPO_ROOT / 'setup.py'}"]
    if profile == "dataflow":
        missing = [name for name, value in (("project", cfg.beam.dataflow_project),
                                            ("region", cfg.beam.dataflow_region),
                                            ("temp location", cfg.beam.temp_location))
                   if not value]
        if missing:
            raise ProfileError(f"the dataflow profile needs a {', '.join(missing)}")
        return ["--runner=DataflowRunner", f"--project={cfg.beam.dataflow_project}",
                f"--region={cfg.beam.dataflow_region}", f"--temp_location={cfg.beam.temp_location}",
                f"--setup_file={REPO_ROOT / 'setup.py'}"]
    raise ProfileError(f"unknown Beam profile {profile!r}; choose one of {', '.join(PROFILES)}")
