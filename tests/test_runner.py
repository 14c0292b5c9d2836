"""pipeline.runner with a fake LocalDagRunner on a recorded output directory: progress
lines from TFX's per-component log records and ML Metadata, what reaches the terminal
and what the log, the summary and report of a finished run, a failed component, a
busy directory, and the content-addressed schema snapshot."""

import dataclasses
import os
import shutil
import sqlite3
import sys

import pytest
from absl import logging as absl_logging
from tfx.orchestration.local import local_dag_runner

from pipeline import beam_construction, runner, serving, workspace
from pipeline.config import make_config
from tests.test_inspection import RUN_ID, recorded_store  # noqa: F401 - a fixture


@pytest.fixture
def cfg(recorded_store, tmp_path):  # noqa: F811 - the imported fixture
    """A copy of the recorded output directory, its ML Metadata re-pointed at the copy."""
    out = tmp_path / "out"
    shutil.copytree(recorded_store, out)
    db = sqlite3.connect(out / "metadata.db")
    with db:
        db.execute("UPDATE Artifact SET uri = replace(uri, ?, ?)",
                   (str(recorded_store), str(out)))
    db.close()
    return make_config(output_dir=out)


class FakeRunner:
    """Logs what LocalDagRunner logs around each component (its own strings), writes
    to fds 1 and 2 as TensorFlow's C++ code does, and raises `error` after the
    component named `fail_in` has started."""

    instances: list = []
    nodes = ("CsvExampleGen", "Transform", "Trainer")
    fail_in: str | None = None
    error = RuntimeError("out of cheese")

    def __init__(self):
        self.pipelines = []
        FakeRunner.instances.append(self)

    def run(self, pipeline):
        self.pipelines.append(pipeline)
        print("stdout noise from Python")
        os.write(2, b"stderr noise from C++\n")
        for node in self.nodes:
            absl_logging.info("Component %s is running.", node)
            if node == self.fail_in:
                raise self.error
            absl_logging.info("Component %s is finished.", node)


def _streams_on_the_fds(monkeypatch) -> None:
    """sys.stdout and sys.stderr writing to fds 1 and 2, as outside pytest (whose
    capture points them elsewhere at the start of each test phase, hence called from
    the test), so that what the runner sends to the log is seen there; capfd reads
    what reaches the terminal."""
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = open(fd, "w", buffering=1, closefd=False)  # noqa: SIM115 - fd-owned
        monkeypatch.setattr(sys, name, stream)


@pytest.fixture
def fake_runner(monkeypatch):
    monkeypatch.setattr(FakeRunner, "instances", [])
    monkeypatch.setattr(local_dag_runner, "LocalDagRunner", FakeRunner)
    return FakeRunner


@pytest.fixture
def prestarts(monkeypatch):
    """Counts the servable check processes the runner would start ahead."""
    calls = []
    monkeypatch.setattr(serving, "prestart_check", lambda: calls.append(1))
    return calls


def test_a_run_prints_one_progress_line_per_component(cfg, fake_runner, prestarts, capfd,
                                                      monkeypatch):
    _streams_on_the_fds(monkeypatch)
    summary = runner.run(cfg)
    out, err = capfd.readouterr()
    lines = [line.split() for line in out.splitlines()]
    # The state is what ML Metadata recorded for the newest run; a component without
    # an execution in it was skipped.
    assert [line[:2] for line in lines] == [["CsvExampleGen", "executed"],
                                            ["Transform", "skipped"],
                                            ["Trainer", "executed"]]
    assert all(line[3] == "s" and float(line[2]) >= 0 for line in lines)
    # TensorFlow's and Beam's output goes to the run's log, not the terminal.
    assert "noise" not in out + err
    log = summary["log"]
    assert "stdout noise from Python" in open(log).read()
    assert "stderr noise from C++" in open(log).read()
    # The Trainer produced a model: the servable check's process is started ahead.
    assert prestarts == [1]
    assert [c["id"] for c in summary["components"]] == ["CsvExampleGen", "Transform",
                                                        "Trainer"]
    assert summary["components"][1]["state"] == "skipped"
    assert summary["run_id"] == RUN_ID and summary["blessed"] and summary["data_passed"]
    assert summary["pushed"] and summary["metrics"]["auc"] == 0.9512
    assert open(summary["report"]).read().startswith("<!DOCTYPE html>")


def test_progress_can_go_to_stderr(cfg, fake_runner, prestarts, capfd, monkeypatch):
    _streams_on_the_fds(monkeypatch)
    runner.run(cfg, progress_to_stderr=True)
    out, err = capfd.readouterr()
    assert out == "" and "Trainer" in err


def test_beam_construction_caches_are_installed_before_the_pipeline_runs(
        cfg, fake_runner, prestarts, monkeypatch):
    order = []
    monkeypatch.setattr(beam_construction, "install", lambda: order.append("install"))
    run = FakeRunner.run
    monkeypatch.setattr(FakeRunner, "run",
                        lambda self, pipeline: order.append("run") or run(self, pipeline))
    runner.run(cfg)
    assert order == ["install", "run"]


def test_the_pipeline_imports_the_schema_snapshot(cfg, fake_runner, prestarts):
    runner.run(cfg)
    [fake] = fake_runner.instances
    [pipeline] = fake.pipelines
    schema_file = {c.id: c for c in pipeline.components}["ImportSchemaGen"].exec_properties[
        "schema_file"]
    snapshot = runner.snapshot_schema(cfg)
    assert schema_file == str(snapshot)
    assert snapshot.parent.parent == cfg.locations.output_dir / "schemas"
    assert snapshot.read_bytes() == cfg.locations.schema_path.read_bytes()


def test_a_failing_component_is_named_with_its_log_and_report(cfg, fake_runner, prestarts,
                                                               monkeypatch, capfd):
    _streams_on_the_fds(monkeypatch)
    monkeypatch.setattr(FakeRunner, "fail_in", "Trainer")
    with pytest.raises(runner.ComponentFailed) as failed:
        runner.run(cfg)
    assert str(failed.value) == "Trainer failed: RuntimeError: out of cheese"
    assert failed.value.__cause__ is FakeRunner.error
    # The traceback is in the log, not on the terminal.
    log = failed.value.log_path.read_text()
    assert "Traceback" in log and "out of cheese" in log
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    # The newest recorded run's report is still written.
    assert failed.value.report_path.is_file()
    assert [line.split()[0] for line in out.splitlines()] == ["CsvExampleGen", "Transform"]
    # A later run is not held by the failed one's lock.
    monkeypatch.setattr(FakeRunner, "fail_in", None)
    assert runner.run(cfg)["run_id"] == RUN_ID


def test_a_busy_output_directory_is_refused_before_anything_runs(cfg, fake_runner):
    with workspace.exclusive(cfg.locations.output_dir):
        before = sorted(cfg.locations.output_dir.iterdir())
        with pytest.raises(workspace.Busy, match="another run .* is using"):
            runner.run(cfg)
    assert fake_runner.instances == []
    assert sorted(cfg.locations.output_dir.iterdir()) == before


def test_the_schema_snapshot_follows_the_content(tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text("feature { name: 'a' type: INT }\n")
    base = make_config(output_dir=tmp_path / "out")
    cfg = dataclasses.replace(
        base, locations=dataclasses.replace(base.locations, schema_path=schema))
    first = runner.snapshot_schema(cfg)
    assert runner.snapshot_schema(cfg) == first
    schema.write_text("feature { name: 'a' type: FLOAT }\n")
    second = runner.snapshot_schema(cfg)
    assert second != first and first.read_text() != second.read_text()
    assert second.read_bytes() == schema.read_bytes()
    assert not list((tmp_path / "out").rglob("*.partial"))
