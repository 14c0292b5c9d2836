"""Each Beam profile's pipeline arguments."""

import dataclasses

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


@pytest.mark.parametrize("profile", ["in-memory", "multi-processing"])
def test_local_profiles_keep_tfx_from_packaging_itself(profile, monkeypatch):
    # TFX builds an sdist of itself before each Beam component unless its arguments
    # are empty or name a dependency; local workers need none.
    from tfx.components.statistics_gen.executor import Executor
    from tfx.utils import dependency_utils

    def build():
        raise AssertionError("TFX built its ephemeral package")

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", build)
    args = _args(profile=profile)
    executor = Executor(Executor.Context(beam_pipeline_args=args))
    assert executor._beam_pipeline_args[:len(args)] == args


@pytest.mark.parametrize("profile", ["flink", "spark"])
def test_portable_runners_submit_to_a_job_endpoint(profile):
    assert _args(profile=profile, job_endpoint="jobs:8099") == [
        "--runner=PortableRunner", "--job_endpoint=jobs:8099", "--environment_type=DOCKER"]
    assert _args(profile=profile, job_endpoint="jobs:8099", environment="DOCKER",
                 environment_config="apache/beam_python3.13_sdk:2.77.0")[-1] == (
        "--environment_config=apache/beam_python3.13_sdk:2.77.0")
    with pytest.raises(ProfileError, match="job endpoint"):
        _args(profile=profile)


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
