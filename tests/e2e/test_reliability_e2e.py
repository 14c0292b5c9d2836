"""Crash safety: SIGKILL during every component, concurrent runs, damaged or full output
directories, and cold-run determinism, each on the real LocalDagRunner.

Module order matters: `concurrent` starts with run A, a cold run on data A that holds
the output directory's lock while B is refused and C waits; the kill chain then runs on
data B in the same output directory, so every component has new work while A's version
stays in the serving folder. The second cold run on data A that A is compared with is
the recovery from a corrupt database, which starts a new history and re-executes every
component.

A run whose subject is a process (killed, holding or waiting for the lock, refused
with one line, in a mount namespace) is a fresh one; the runs after a kill, a deleted
pipeline root or a moved database, whose subject is what the run finds on disk, go
through the CLI in this process (tests/conftest.py, `cli_in_process`).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tensorflow as tf

from pipeline import metadata, serving
from pipeline.config import REPO_ROOT
from tests.conftest import run_pipeline, run_pipeline_in_process, write_taxi_sample

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# No TFLite copy (`--no-tflite`): what is under test is the process and the files a run
# leaves, not the copy (tests/e2e/test_tflite_e2e.py); it costs a cold taxi run about
# 9 s of CPU (15 %), and this module makes six of them.
ARGS = ("--train-steps", "60", "--min-auc", "0.5", "--min-accuracy", "0.5",
        "--max-regression", "1", "--no-tflite")
# Same seed, data and settings: cold runs measured within 2e-4 AUC of each other on the
# full data; this allows for the smaller eval split here.
AUC_TOLERANCE = 0.01


def _args(data, out, *extra):
    return [sys.executable, "-m", "pipeline", "run", "--data-dir", str(data),
            "--output-dir", str(out), *ARGS, "--json", *extra]


def _run(data, out, *extra):
    result = run_pipeline(data, out, *ARGS, "--json", *extra)
    return result, (json.loads(result.stdout) if result.returncode == 0 else None)


def _run_here(data, out):
    """`_run` through the CLI in this process."""
    result = run_pipeline_in_process(data, out, *ARGS, "--json")
    return result, (json.loads(result.stdout) if result.returncode == 0 else None)


def _start(data, out, *extra):
    """A run in its own process group, so a kill reaches the check subprocess too."""
    return subprocess.Popen(
        _args(data, out, *extra), cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _new_log(out, before, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = set((out / "logs").glob("run-*.log")) - before if (out / "logs").exists() else ()
        if logs:
            return next(iter(logs))
        time.sleep(0.02)
    raise AssertionError("the run wrote no log")


def _started(log_text):
    return re.findall(r"Component (\S+) is running\.", log_text)


def _finished(log_text):
    return set(re.findall(r"Component (\S+) is finished\.", log_text))


def _assert_versions_complete(model_dir, expected_first):
    """Every integer folder is a whole, loadable version; the first one is still there."""
    found = serving.versions(model_dir)
    assert found[0] == expected_first
    for version in found:
        version_dir = model_dir / str(version)
        assert (version_dir / "saved_model.pb").is_file()
        assert (version_dir / serving.WARMUP_FILE).is_file()
        assert (version_dir / "variables" / "variables.index").is_file()


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability")
    write_taxi_sample(root / "data-a", rows=1500)
    write_taxi_sample(root / "data-b", rows=1500, skip=1500)
    return root


@pytest.fixture(scope="module")
def concurrent(ws):
    """Run A holds the lock; B refuses at once; C (--wait) queues behind A."""
    out = ws / "out"
    a = _start(ws / "data-a", out)
    lock = out / ".run.lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().startswith("pid")):
        assert a.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    b, _ = _run(ws / "data-a", out)
    b_seconds = time.monotonic() - started
    c = _start(ws / "data-a", out, "--wait")
    a_out, a_err = a.communicate(timeout=900)
    c_out, c_err = c.communicate(timeout=900)
    return {"a": (a.returncode, a_out, a_err), "b": b, "b_seconds": b_seconds,
            "c": (c.returncode, c_out, c_err), "out": out}


def test_second_run_refuses_while_the_first_holds_the_output_dir(concurrent):
    b = concurrent["b"]
    assert b.returncode == 4
    assert "another run (pid " in b.stderr and "--wait" in b.stderr
    assert b.stderr.count("\n") <= 2  # the "running pipeline" line and the error
    assert concurrent["b_seconds"] < 60


def test_waiting_run_starts_after_the_first_and_both_succeed(concurrent):
    (a_code, a_out, a_err), (c_code, c_out, c_err) = concurrent["a"], concurrent["c"]
    assert a_code == 0, a_err[-2000:]
    assert c_code == 0, c_err[-2000:]
    a_summary, c_summary = json.loads(a_out), json.loads(c_out)
    assert {c["state"] for c in c_summary["components"]
            if c["id"] != "LatestBlessedModelResolver"} == {"cached"}
    store = metadata.open_store(concurrent["out"] / "metadata.db")
    assert len(store.get_contexts_by_type("pipeline_run")) == 2
    assert serving.versions(concurrent["out"] / "serving" / "big_tipper") == [
        a_summary["pushed_version"]]


@pytest.fixture(scope="module")
def recovered(ws, concurrent):
    """A copy of the output directory whose database is damaged: the refused run, then
    the run after the documented recovery (the database moved away)."""
    out = ws / "out-corrupt"
    shutil.copytree(concurrent["out"], out)
    versions_before = serving.versions(out / "serving" / "big_tipper")
    (out / "metadata.db").write_bytes(b"this is not an SQLite database" * 100)
    refused, _ = _run(ws / "data-a", out)
    # Before the kill chain (this module's order): the old history's executions are
    # numbered from 1, as the new history's will be.
    old_outputs = sorted(p.relative_to(out / "tfx") for p in (out / "tfx").glob("*/*/1"))
    (out / "metadata.db").rename(out / "metadata.db.broken")  # the documented recovery
    result, summary = _run_here(ws / "data-a", out)
    return {"out": out, "versions_before": versions_before, "refused": refused,
            "result": result, "summary": summary, "old_outputs": old_outputs}


def test_corrupt_metadata_is_refused_then_recovered_as_documented(recovered):
    out, refused = recovered["out"], recovered["refused"]
    assert refused.returncode == 2
    assert "is not a readable ML Metadata database" in refused.stderr
    assert f"mv {out / 'metadata.db'}" in refused.stderr
    assert "Traceback" not in refused.stderr
    result = recovered["result"]
    assert result.returncode == 0, result.stderr[-2000:]
    assert serving.versions(out / "serving" / "big_tipper")[:-1] == \
        recovered["versions_before"]
    # The old history's outputs (which the new one's execution ids would collide with)
    # are kept, moved aside whole, and the run says where.
    assert recovered["old_outputs"], "the copy held no outputs numbered 1"
    (orphaned,) = out.glob("tfx.orphaned-*")
    assert f"moved to {orphaned}" in result.stderr
    assert all((orphaned / path).is_dir() for path in recovered["old_outputs"])


def test_two_cold_runs_agree_within_the_stated_tolerance(concurrent, recovered):
    """Run A and the recovery's run: the same data and settings, no cache and no
    baseline, one in a fresh process and one in this one."""
    a_summary, recovery = json.loads(concurrent["a"][1]), recovered["summary"]
    assert recovered["result"].returncode == 0, recovered["result"].stderr[-2000:]
    assert {c["state"] for c in recovery["components"]} == {"executed"}
    assert recovery["baseline_metrics"] == {}
    auc_first, auc_second = a_summary["metrics"]["auc"], recovery["metrics"]["auc"]
    assert abs(auc_first - auc_second) <= AUC_TOLERANCE
    assert a_summary["rows"] == recovery["rows"]  # the hash split is exact


def test_killed_during_each_component_loses_nothing(ws, concurrent):
    summary = json.loads(concurrent["a"][1])
    # The component order, as run A (cold) started them.
    order = _started(Path(summary["log"]).read_text())
    out, model_dir = concurrent["out"], concurrent["out"] / "serving" / "big_tipper"
    first_version = summary["pushed_version"]
    assert len(order) >= 11 and order[-1] == "Pusher"
    done: set[str] = set()  # components that completed in an earlier killed run
    for target in order:
        before = set((out / "logs").glob("run-*.log"))
        process = _start(ws / "data-b", out)
        log = _new_log(out, before)
        deadline = time.monotonic() + 600
        while f"Component {target} is running." not in log.read_text():
            assert process.poll() is None, f"run ended before {target}: {process.stderr.read()}"
            assert time.monotonic() < deadline, f"{target} never started"
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        text = log.read_text()
        store = metadata.open_store(out / "metadata.db")  # still readable after SIGKILL
        run_id = metadata.latest_run_id(store)
        # Resolvers query ML Metadata on every run; they have no cache entry.
        for node in (set(_started(text)) & done) - {"LatestBlessedModelResolver"}:
            assert metadata.node_state(store, "taxi", node, run_id) == "cached", (target, node)
        done |= _finished(text)
        _assert_versions_complete(model_dir, first_version)
        assert serving.versions(model_dir) == [first_version]
    result, final = _run_here(ws / "data-b", out)
    assert result.returncode == 0, result.stderr[-2000:]
    states = {c["id"]: c["state"] for c in final["components"]}
    reused = {node for node in done if node not in ("Pusher", "LatestBlessedModelResolver")}
    assert reused and all(states[node] == "cached" for node in reused), states
    assert final["pushed"] and final["pushed_version"] > first_version
    _assert_versions_complete(model_dir, first_version)
    assert [p.name for p in model_dir.iterdir() if not p.name.isdigit()] == []
    scores = tf.saved_model.load(final["pushed_path"]).signatures["from_examples"]
    assert scores(examples=tf.constant([b""]))["probability"].shape == (1, 1)


def test_deleted_pipeline_root_with_surviving_metadata_reruns_everything(concurrent):
    out = concurrent["out"]
    versions_before = serving.versions(out / "serving" / "big_tipper")
    shutil.rmtree(out / "tfx")
    result, summary = _run_here(out.parent / "data-a", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "artifacts of the previous run are gone from disk" in result.stderr
    states = {c["id"]: c["state"] for c in summary["components"]}
    assert states["Transform"] == states["Trainer"] == states["Evaluator"] == "executed"
    # The baseline's files are gone: the model is judged by the floors alone, not crashed on.
    assert summary["baseline_metrics"] == {} and summary["pushed"]
    assert serving.versions(out / "serving" / "big_tipper")[:-1] == versions_before


def _in_mount_namespace(script):
    """A shell script in a private mount namespace (its mounts vanish with it)."""
    return subprocess.run(["unshare", "--mount", "--propagation", "unchanged", "sh", "-ec",
                           script], capture_output=True, text=True, timeout=900,
                          cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


def _mounts_available():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return _in_mount_namespace("mount -t tmpfs tmpfs /mnt").returncode == 0


needs_mounts = pytest.mark.skipif(not _mounts_available(),
                                  reason="needs root and mount namespaces")


@needs_mounts
def test_read_only_output_dir_gives_one_clear_line(ws, concurrent):
    out = concurrent["out"]
    command = " ".join(_args(ws / "data-a", out))
    done = _in_mount_namespace(f"mount --bind -o ro {out} {out}\n{command}")
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"cannot write to {out}" in done.stderr and "--output-dir" in done.stderr
    assert "Traceback" not in done.stderr


@needs_mounts
def test_disk_filling_up_mid_run_fails_clearly_and_the_rerun_reuses_work(ws):
    out = ws / "out-full"
    out.mkdir()
    command = " ".join(_args(ws / "data-a", out))
    # A 110 MB disk passes the 100 MB check; a filler started with the run leaves ~2 MB.
    done = _in_mount_namespace(f"""
mount -t tmpfs -o size=110m tmpfs {out}
{command} > {ws}/full.stdout 2> {ws}/full.stderr &
run=$!
while [ ! -s {out}/.run.lock ]; do sleep 0.05; done
head -c $(( $(df --output=avail -B1 {out} | tail -1) - 2000000 )) /dev/zero > {out}/filler || true
rc=0; wait $run || rc=$?
echo "rc=$rc"
rm {out}/filler
{command} > {ws}/rerun.stdout 2> {ws}/rerun.stderr || echo "rerun failed"
""")
    assert done.returncode == 0, done.stderr
    stderr = (ws / "full.stderr").read_text()
    assert "rc=1" in done.stdout, stderr[-2000:]
    assert "no space left on the device" in stderr
    assert "components that finished are reused" in stderr
    assert "rerun failed" not in done.stdout, (ws / "rerun.stderr").read_text()[-2000:]
    rerun = json.loads((ws / "rerun.stdout").read_text())
    assert rerun["pushed"]
    assert "cached" in {c["state"] for c in rerun["components"]}
