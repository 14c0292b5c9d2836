"""Each Beam profile's pipeline arguments."""

import dataclasses
from pathlib import Path

import pytest

from pipeline.beam import PROFILES, ProfileError, beam_pipeline_args
from pipeline.config import REPO_ROOT, make_config

CFG = make_config()


def _args(**changes):
    return beam_pipeline_args(dataclasses.replace(
        CFG, beam=dataclasses.replace(CFG.beam, **changes)))


def test_default_is_the_direct_runner_in_memory():
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

    assert CFG.beam.profile == "in-memory"
    options = PipelineOptions(_args())
    assert options.view_as(StandardOptions).runner in (None, "DirectRunner")
    assert options.view_as(DirectOptions).direct_running_mode == "in_memory"
    assert options.view_as(DirectOptions).direct_num_workers == 1


def test_multi_processing_with_workers():
    assert _args(profile="multi-processing", workers=2)[:3] == [
        "--runner=DirectRunner", "--direct_running_mode=multi_processing",
        "--direct_num_workers=2"]
    assert "--direct_num_workers=0" in _args(profile="multi-processing")


REMOTE = {"portable": {"job_endpoint": "jobs:8099"},
          "dataflow": {"dataflow_project": "p", "dataflow_region": "europe-west4",
                       "temp_location": "gs://b/tmp"}}


@pytest.mark.parametrize("profile", ["in-memory", "multi-processing", *REMOTE])
def test_no_profile_lets_tfx_package_itself(profile, monkeypatch):
    # TFX builds an sdist of itself before each Beam component unless its arguments
    # are empty or name a dependency; local workers need none, remote ones this project.
    from tfx.components.statistics_gen.executor import Executor
    from tfx.utils import dependency_utils

    def build():
        raise AssertionError("TFX built its ephemeral package")

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", build)
    args = _args(profile=profile, **REMOTE.get(profile, {}))
    executor = Executor(Executor.Context(beam_pipeline_args=args))
    assert executor._beam_pipeline_args[:len(args)] == args


@pytest.mark.parametrize("profile", list(REMOTE))
def test_remote_profiles_ship_this_project_to_the_workers(profile):
    from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

    options = PipelineOptions(_args(profile=profile, **REMOTE[profile]))
    setup = options.view_as(SetupOptions)
    assert setup.setup_file == str(REPO_ROOT / "setup.py")
    assert Path(setup.setup_file).is_file()


def test_portable_runner_submits_to_a_job_endpoint():
    from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

    setup = f"--setup_file={REPO_ROOT / 'setup.py'}"
    assert _args(profile="portable", job_endpoint="jobs:8099") == [
        "--runner=PortableRunner", "--job_endpoint=jobs:8099", "--environment_type=DOCKER",
        setup]
    args = _args(profile="portable", job_endpoint="localhost:8099", environment="EXTERNAL",
                 environment_config="localhost:50000")
    portable = PipelineOptions(args).view_as(PortableOptions)
    assert (portable.job_endpoint, portable.environment_type, portable.environment_config) == (
        "localhost:8099", "EXTERNAL", "localhost:50000")
    with pytest.raises(ProfileError, match="job endpoint"):
        _args(profile="portable")


@pytest.mark.parametrize("old", ["flink", "spark"])
def test_old_flink_and_spark_profiles_name_portable(old):
    with pytest.raises(ProfileError) as raised:
        _args(profile=old, job_endpoint="jobs:8099")
    message = str(raised.value)
    assert "--beam portable" in message and old in message
    assert message.count(". ") == 0 and "\n" not in message  # one sentence


def test_dataflow_needs_project_region_and_temp_location():
    assert _args(profile="dataflow", dataflow_project="p", dataflow_region="europe-west4",
                 temp_location="gs://b/tmp") == [
        "--runner=DataflowRunner", "--project=p", "--region=europe-west4",
        "--temp_location=gs://b/tmp", f"--setup_file={REPO_ROOT / 'setup.py'}"]
    with pytest.raises(ProfileError, match="project, region, temp location"):
        _args(profile="dataflow")


def test_every_profile_is_handled_and_unknown_ones_refused():
    for profile in PROFILES:
        try:
            _args(profile=profile)
        except ProfileError as error:
            assert "needs" in str(error)
    with pytest.raises(ProfileError, match="unknown"):
        _args(profile="local-cluster")


def test_run_refuses_an_old_profile_name_in_one_line(tmp_path):
    from pipeline.exit_codes import EXIT_USAGE
    from tests.conftest import run_pipeline_in_process, write_taxi_sample

    write_taxi_sample(tmp_path / "data", rows=20)
    result = run_pipeline_in_process(tmp_path / "data", tmp_path / "out", "--beam", "spark",
                                     "--job-endpoint", "localhost:8099")
    assert result.returncode == EXIT_USAGE
    assert result.stderr.strip().splitlines() == [
        "error: the spark profile is now part of the portable profile: use --beam portable "
        "--job-endpoint HOST:PORT with your Spark job server's address"]
    assert not (tmp_path / "out").exists()
