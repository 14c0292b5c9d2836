"""pipeline/beam_construction.py: the memoized answers are Beam's own answers, no two
callers share a mutable value, and a Beam version it was not checked against is left
alone."""

import gc

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import (
    DebugOptions,
    PipelineOptions,
    StandardOptions,
    TypeOptions,
)
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain

from pipeline import beam_construction

FLAGS = ["--direct_num_workers=2", "--experiments=one", "--experiments=two",
         "--no_pipeline_type_check"]


class Counting(beam.DoFn):
    COUNT = userstate.ReadModifyWriteStateSpec("count", beam.coders.VarIntCoder())
    # Beam names a timer "ts-<name>".
    FLUSH = userstate.TimerSpec("flush", TimeDomain.WATERMARK)

    # Beam declares a DoFn's state and timers as parameter defaults.
    def process(self, element, count=beam.DoFn.StateParam(COUNT),  # noqa: B008
                flush=beam.DoFn.TimerParam(FLUSH)):  # noqa: B008
        yield element

    @userstate.on_timer(FLUSH)
    def on_flush(self):
        yield None


class Plain(beam.DoFn):
    def process(self, element):
        yield element


@pytest.fixture(scope="module", autouse=True)
def installed():
    assert beam_construction.install()
    assert beam_construction.install()  # once per process: a second call changes nothing
    assert userstate.get_dofn_specs.__wrapped__.__name__ == "get_dofn_specs"


def _dofns():
    """DoFns as pipelines build them: user classes and the wrappers of Map and FlatMap."""
    return [Counting(), Plain(), beam.Map(str).fn, beam.FlatMap(lambda x: [x]).fn]


def test_dofn_specs_are_beams_and_each_caller_gets_its_own_sets():
    compute = userstate.get_dofn_specs.__wrapped__
    for dofn in _dofns():
        expected = compute(dofn)
        for _ in range(3):
            state_specs, timer_specs = userstate.get_dofn_specs(dofn)
            assert (state_specs, timer_specs) == expected
            state_specs.clear()
            timer_specs.clear()  # a caller's change is not the next caller's answer
        assert userstate.is_stateful_dofn(dofn) == bool(expected[0] or expected[1])
    stateful = Counting()
    assert userstate.is_stateful_dofn(stateful)
    assert {spec.name for spec in userstate.get_dofn_specs(stateful)[0]} == {"count"}
    assert {spec.name for spec in userstate.get_dofn_specs(stateful)[1]} == {"ts-flush"}
    assert not userstate.is_stateful_dofn(Plain())


def test_a_collected_dofn_is_forgotten():
    known = next(cell.cell_contents for cell in userstate.get_dofn_specs.__closure__
                 if isinstance(cell.cell_contents, dict))
    dofn = Plain()
    userstate.get_dofn_specs(dofn)
    key = id(dofn)
    assert key in known
    del dofn
    gc.collect()
    assert key not in known


def test_options_parse_as_beam_parses_them_and_share_nothing_mutable():
    parse = PipelineOptions.__init__.__wrapped__
    reference = PipelineOptions.__new__(PipelineOptions)
    parse(reference, FLAGS)
    first, second = PipelineOptions(FLAGS), PipelineOptions(FLAGS)  # the second is a copy
    for options in (first, second):
        assert options.get_all_options() == reference.get_all_options()
        assert options.view_as(TypeOptions).pipeline_type_check is False
        assert options.view_as(DebugOptions).experiments == ["one", "two"]
    # Neither the first object (which filled the cache) nor a copy shares a list.
    first.view_as(DebugOptions).add_experiment("three")
    second.view_as(DebugOptions).add_experiment("four")
    assert first.view_as(DebugOptions).experiments == ["one", "two", "three"]
    assert second.view_as(DebugOptions).experiments == ["one", "two", "four"]
    assert PipelineOptions(FLAGS).view_as(DebugOptions).experiments == ["one", "two"]
    # A view still writes through to the options it was made from.
    first.view_as(StandardOptions).runner = "DirectRunner"
    assert first.get_all_options()["runner"] == "DirectRunner"
    assert second.get_all_options()["runner"] is None
    # Keyword overrides stay per object.
    assert PipelineOptions(FLAGS, direct_num_workers=5).get_all_options()[
        "direct_num_workers"] == 5
    assert PipelineOptions(FLAGS).get_all_options()["direct_num_workers"] == 2


def test_a_pipeline_built_with_the_caches_runs_as_before(tmp_path):
    with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as pipeline:
        counted = (pipeline | beam.Create([("a", 1), ("a", 2), ("b", 3)])
                   | beam.CombinePerKey(sum) | beam.Map(lambda kv: f"{kv[0]}={kv[1]}"))
        _ = counted | beam.io.WriteToText(str(tmp_path / "out"), shard_name_template="")
    assert sorted((tmp_path / "out").read_text().split()) == ["a=3", "b=3"]


@pytest.mark.parametrize("version, expected", [("2.77.0", True), ("2.77.1", True),
                                               ("2.78.0", False), ("3.0.0", False)])
def test_only_the_checked_beam_version_is_patched(version, expected):
    assert beam_construction.verified(version) is expected
