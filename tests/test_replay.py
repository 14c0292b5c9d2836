"""Unit tests of replay's rules (policy, actions, timeline rows and table), of the loop
with the monitor and the pipeline run replaced by stand-ins, and of its page."""

import json

import pytest

from pipeline import cli, replay, replay_report
from pipeline.exit_codes import EXIT_FAILED, EXIT_USAGE


@pytest.mark.parametrize(("policy", "verdict", "expected"), [
    ("on-decay", "no-model", True),
    ("on-decay", "decayed", True),
    ("on-decay", "drifted", False),  # drift alone says nothing of the model's quality
    ("on-decay", "healthy", False),
    ("every-span", "healthy", True),
    ("every-span", "no-model", True),
])
def test_should_train(policy, verdict, expected):
    assert replay.should_train(policy, verdict) is expected


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown policy"):
        replay.should_train("sometimes", "healthy")


def _summary(**changes):
    return {"run_id": "r", "data_passed": True, "blessed": True, "pushed_new": True,
            "served_version": 2, "metrics": {"auc": 0.9}, **changes}


@pytest.mark.parametrize(("summary", "expected"), [
    (None, "kept"),
    (_summary(), "trained-pushed"),
    (_summary(data_passed=False, blessed=False, pushed_new=False), "data-stopped"),
    (_summary(blessed=False, pushed_new=False), "trained-not-blessed"),
    # Blessed but identical to a pushed version (a cached run): nothing new is served.
    (_summary(pushed_new=False), "trained-not-blessed"),
])
def test_action(summary, expected):
    assert replay.action(summary) == expected


JUDGED = {"verdict": "decayed", "served_version": 1, "metrics": {"auc": 0.6},
          "name": "monitor-x"}


def test_entry_of_a_judged_span_keeps_the_metrics_before_the_action():
    row = replay.entry(2, "2014", JUDGED, "trained-pushed", 2, _summary(), 12.34)
    assert row == {"span": 2, "period": "2014", "verdict": "decayed", "served_before": 1,
                   "metrics": {"auc": 0.6}, "monitor": "monitor-x",
                   "action": "trained-pushed", "served_version": 2, "run_id": "r",
                   "run_metrics": {"auc": 0.9}, "seconds": 12.3}


def test_entry_without_a_served_model():
    row = replay.entry(1, None, None, "data-stopped", None)
    assert (row["verdict"], row["served_before"], row["metrics"], row["run_id"]) == (
        "no-model", None, {}, None)


def _timeline():
    return [replay.entry(1, "2013", None, "trained-pushed", 1, _summary(served_version=1)),
            replay.entry(2, "2014", {**JUDGED, "verdict": "healthy",
                                     "metrics": {"auc": 0.8123, "accuracy": 0.7}},
                         "kept", 1, None, 3.0),
            replay.entry(3, None, JUDGED, "trained-not-blessed", 1,
                         _summary(blessed=False, pushed_new=False), 5.0)]


def test_table():
    lines = replay.table(_timeline())
    assert lines[0].split() == ["span", "auc", "(served)", "verdict", "action", "served",
                                "after"]
    assert lines[1].split() == ["span-1", "(2013)", "-", "no-model", "trained-pushed", "1"]
    assert lines[2].split() == ["span-2", "(2014)", "0.8123", "(v1)", "healthy", "kept", "1"]
    assert lines[3].split() == ["span-3", "0.6000", "(v1)", "decayed",
                                "trained-not-blessed", "1"]


def test_headline_and_totals():
    timeline = _timeline()
    assert replay.headline(timeline) == "auc"
    assert replay.headline([replay.entry(1, None, {**JUDGED, "metrics": {
        "example_count": 3, "rmse": 1.0}}, "kept", 1)]) == "rmse"
    assert replay.headline(timeline[:1]) is None
    assert replay.totals(timeline) == {"runs": 2, "pushes": 1, "seconds": 8.0}


def test_stage_links_spans_as_they_arrive(tmp_path):
    source, staging = tmp_path / "source", tmp_path / "staging"
    for span in (1, 2):
        (source / f"span-{span}").mkdir(parents=True)
        (source / f"span-{span}" / "data.csv").write_text(f"a\n{span}\n")
    (source / "periods.json").write_text('{"by": "year", "spans": {"1": "2013"}}')
    replay.stage(source, staging, 1)
    assert sorted(path.name for path in staging.iterdir()) == ["periods.json", "span-1"]
    assert (staging / "span-1" / "data.csv").read_text() == "a\n1\n"
    replay.stage(source, staging, 1)  # again: nothing changes
    replay.stage(source, staging, 2)
    assert sorted(path.name for path in staging.iterdir()) == [
        "periods.json", "span-1", "span-2"]


def _spans(tmp_path, count):
    data = tmp_path / "data"
    for span in range(1, count + 1):
        (data / f"span-{span}").mkdir(parents=True)
        (data / f"span-{span}" / "data.csv").write_text("x,y\n1,2\n")
    return data


def test_replay_plays_each_span_in_order(tmp_path, monkeypatch):
    """The loop, with the monitor and the run as stand-ins: a span with no model trains,
    a decayed one retrains under on-decay, a healthy one keeps the model."""
    data = _spans(tmp_path, 4)
    verdicts = {2: "healthy", 3: "decayed", 4: "healthy"}
    served = {"version": None}
    runs = []

    def judge(output_dir, staging, span, max_decay):
        assert sorted(path.name for path in staging.iterdir()) == [
            f"span-{n}" for n in range(1, span + 1)]
        if served["version"] is None:
            return None
        return {"verdict": verdicts[span], "served_version": served["version"],
                "metrics": {"auc": 0.9 - span / 10}, "name": f"monitor-{span}"}

    def run(staging, output_dir, training_spans, run_args):
        runs.append((max(int(path.name[5:]) for path in staging.iterdir()),
                     training_spans, run_args))
        served["version"] = (served["version"] or 0) + 1
        return 0, _summary(served_version=served["version"]), ""

    monkeypatch.setattr(replay, "_judge", judge)
    monkeypatch.setattr(replay, "run_pipeline", run)
    seen = []
    result = replay.replay(data, tmp_path / "out", "on-decay", 2, None, ["--x"], seen.append)
    assert runs == [(1, 2, ["--x"]), (3, 2, ["--x"])]
    assert [(row["span"], row["verdict"], row["action"], row["served_before"],
             row["served_version"]) for row in result["timeline"]] == [
        (1, "no-model", "trained-pushed", None, 1),
        (2, "healthy", "kept", 1, 1),
        (3, "decayed", "trained-pushed", 1, 2),
        (4, "healthy", "kept", 2, 2)]
    assert seen == result["timeline"]
    assert (result["runs"], result["pushes"], result["metric"]) == (2, 2, "auc")


def test_a_failed_run_stops_the_replay_with_its_code(tmp_path, monkeypatch):
    data = _spans(tmp_path, 2)
    monkeypatch.setattr(replay, "_judge", lambda *args: None)
    monkeypatch.setattr(replay, "run_pipeline",
                        lambda *args: (EXIT_FAILED, None, "noise\nerror: Trainer failed\n"))
    with pytest.raises(replay.ReplayError) as raised:
        replay.replay(data, tmp_path / "out")
    assert str(raised.value) == "the run on span-1 failed (exit 1): error: Trainer failed"
    assert raised.value.code == EXIT_FAILED


def test_an_excluded_column_may_hold_anything_as_in_run(tmp_path, monkeypatch):
    """`--exclude id` in --run-args: the data check lets the ID column hold `inf`, as
    run's own check does; without it the column is checked and refused."""
    data = _spans(tmp_path, 2)
    for span in (1, 2):
        (data / f"span-{span}" / "data.csv").write_text("id,x,y\ninf,1,2\n")
    assert replay.excluded_columns(["--exclude", "id", "--exclude=x"]) == ("id", "x")
    assert replay.excluded_columns(["--no-such-flag"]) == ()
    runs = []
    monkeypatch.setattr(replay, "_judge", lambda *args: None)
    monkeypatch.setattr(replay, "run_pipeline",
                        lambda *args: runs.append(args[3]) or (EXIT_FAILED, None, "stop"))
    with pytest.raises(replay.ReplayError, match="the run on span-1 failed"):
        replay.replay(data, tmp_path / "out", run_args=["--label", "y", "--exclude", "id"])
    assert runs == [["--label", "y", "--exclude", "id"]]
    with pytest.raises(replay.ReplayError, match=r"column 'id' of .* holds no finite number"):
        replay.replay(data, tmp_path / "out2", run_args=["--label", "y"])
    assert len(runs) == 1


def test_replay_refuses_a_used_output_dir_and_a_single_span(tmp_path):
    data = _spans(tmp_path, 2)
    used = tmp_path / "used"
    used.mkdir()
    (used / "metadata.db").write_text("")
    with pytest.raises(replay.ReplayError, match="is not empty; replay starts"):
        replay.replay(data, used)
    with pytest.raises(replay.ReplayError, match="has 1 span-<N>/ folder; replay needs two"):
        replay.replay(_spans(tmp_path / "one", 1), tmp_path / "out")


def test_replay_cli_refuses_flags_it_sets(tmp_path, capsys):
    code = cli.main(["replay", "--data-dir", str(_spans(tmp_path, 2)), "--output-dir",
                     str(tmp_path / "out"), "--run-args", "--training-spans 3"])
    assert code == EXIT_USAGE
    assert not (tmp_path / "out").exists()


def test_replay_cli_prints_the_timeline(tmp_path, monkeypatch, capsys):
    result = {"policy": "every-span", "training_spans": 1, "data_dir": "d",
              "output_dir": str(tmp_path), "metric": "auc", "timeline": _timeline(),
              "runs": 2, "pushes": 1, "seconds": 8.0}
    monkeypatch.setattr(replay, "replay", lambda *args: dict(result))
    code = cli.main(["replay", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path),
                     "--policy", "every-span", "--json"])
    assert code == 0
    written = json.loads((tmp_path / "replay" / "timeline.json").read_text())
    assert written["timeline"] == json.loads(json.dumps(_timeline()))
    assert (tmp_path / "replay" / "report.html").is_file()


def test_report_charts_the_served_models_quality_with_the_retrains():
    result = {"policy": "on-decay", "training_spans": 1, "data_dir": "d", "metric": "auc",
              "timeline": _timeline(), "runs": 2, "pushes": 1, "seconds": 8.0}
    page = replay_report.render(result)
    chart = page[page.index("<svg"):page.index("</svg>")]
    # Spans 2 and 3 were judged (span 1 had no model): two points, one line.
    assert chart.count("class='served'") == 2 and chart.count("<polyline") == 1
    assert "2014: auc 0.8123 (version 1, healthy)" in chart
    assert chart.count("class='retrain'") == 1 and ">v1</text>" in chart
    assert chart.count("class='not-pushed'") == 1
    assert "id='timeline'" in page and "trained-not-blessed" in page
    assert "<script" not in page and "http://www.w3.org/2000/svg" in page
