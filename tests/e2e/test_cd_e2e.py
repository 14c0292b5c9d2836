"""The continuous-delivery targets as the train-deploy workflow runs them: `make train`,
`make evaluate` and `make deploy` with a GitHub Actions step-output file, on small taxi
data. A blessed model is published to the model store; a stricter AUC floor on the same
outputs (cached up to the Evaluator) is not blessed and deploys nothing, with exit code
6; a run the data gate stops deploys nothing, with exit code 3.

Three pipeline runs in all, one of which trains: the blessed case's `make train` is the
session's `make_train_run` (tests/conftest.py), whose results tests/e2e/test_beam_e2e.py
also compares the portable runner's with."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import REPO_ROOT
from pipeline.exit_codes import EXIT_DATA_BLOCKED, EXIT_NOT_BLESSED
from tests.conftest import run_make, write_taxi_sample

pytestmark = pytest.mark.e2e


def _outputs(path) -> dict[str, str]:
    """A GITHUB_OUTPUT file (`name<<DELIMITER` blocks), as the runner reads it."""
    values, lines = {}, path.read_text().splitlines()
    while lines:
        name, delimiter = lines.pop(0).split("<<", 1)
        end = lines.index(delimiter)
        values[name], lines = "\n".join(lines[:end]), lines[end + 1:]
    return values


def _chain(root, case: str, train=None, **settings) -> dict:
    """train (unless TRAIN is its result already), then evaluate and deploy whatever
    train's code: what each returned and wrote."""
    steps = {"train": train or run_make("train", root, case, **settings)}
    steps |= {target: run_make(target, root, case, **settings)
              for target in ("evaluate", "deploy")}
    return {"steps": steps, "root": root, "store": root / f"{case}-store",
            "evaluate": _outputs(root / f"{case}-evaluate.output"),
            "summary": (root / f"{case}-evaluate.md").read_text(),
            "deploy_output": root / f"{case}-deploy.output"}


@pytest.fixture(scope="module")
def trained(make_train_run):
    """The session's `make train` on 2,000 taxi rows (case "blessed"), then `evaluate`
    and `deploy`."""
    return _chain(make_train_run["root"], "blessed", train=make_train_run["train"])


@pytest.fixture(scope="module")
def strict(trained):
    """The same data and outputs with an unreachable AUC floor: only the Evaluator and
    the Pusher run again."""
    return _chain(trained["root"], "strict", MIN_AUC="0.999")


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A first span with an hour of 30: the data gate stops the run."""
    root = tmp_path_factory.mktemp("cd-stopped")
    path = write_taxi_sample(root / "data", rows=300)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    hour = rows[0].index("trip_start_hour")
    for row in rows[1:]:
        row[hour] = "30"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return _chain(root, "stopped")


def _failure(step: subprocess.CompletedProcess) -> str:
    return (step.stdout + step.stderr)[-3000:]


def test_a_blessed_model_is_evaluated_and_published(trained):
    steps = trained["steps"]
    for target in ("train", "evaluate", "deploy"):
        assert steps[target].returncode == 0, _failure(steps[target])
    summary = json.loads((trained["root"] / "blessed-summary.json").read_text())
    outputs = trained["evaluate"]
    assert outputs["blessed"] == "true" and outputs["data-passed"] == "true"
    assert outputs["pushed-version"] == str(summary["pushed_version"])
    assert outputs["run-id"] == summary["run_id"]
    metrics = json.loads(outputs["metrics"])
    assert metrics["auc"]["lower"] == 0.5
    assert metrics["auc"]["value"] == pytest.approx(summary["metrics"]["auc"])
    assert outputs["not-blessed-reasons"] == ""
    assert "| auc |" in trained["summary"] and "**Blessed:** yes" in trained["summary"]
    published = trained["store"] / "big_tipper" / str(summary["pushed_version"])
    assert (published / "saved_model.pb").is_file()
    assert _outputs(trained["deploy_output"]) == {
        "model": "big_tipper", "version": str(summary["pushed_version"]),
        "path": str(published), "new": "true"}
    # The published copy is the version TF Serving serves, file for file.
    def files(folder):
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))

    assert files(published) == files(Path(summary["pushed_path"]))


def test_a_model_below_the_floor_is_not_blessed_and_not_deployed(strict, trained):
    steps = strict["steps"]
    assert steps["train"].returncode == 0, _failure(steps["train"])
    summary = json.loads((strict["root"] / "strict-summary.json").read_text())
    states = {c["id"]: c["state"] for c in summary["components"]}
    assert states["Trainer"] == "cached" and states["Evaluator"] == "executed"
    assert steps["evaluate"].returncode == 0, _failure(steps["evaluate"])
    outputs = strict["evaluate"]
    assert outputs["blessed"] == "false" and outputs["pushed-version"] == ""
    assert "auc" in outputs["not-blessed-reasons"] and "0.999" in outputs["not-blessed-reasons"]
    assert "**Deploy:** skipped" in strict["summary"]
    # make exits 2 for any failed recipe; it names deploy's own code.
    assert steps["deploy"].returncode == 2
    assert f"python -m pipeline deploy exited with {EXIT_NOT_BLESSED}" in steps["deploy"].stderr
    assert "deploy skipped" in steps["deploy"].stderr
    assert not strict["store"].exists() and not strict["deploy_output"].exists()
    direct = subprocess.run(
        [sys.executable, "-m", "pipeline", "deploy", "--output-dir", str(strict["root"] / "out"),
         "--to", str(strict["store"])], cwd=REPO_ROOT, capture_output=True, text=True)
    assert direct.returncode == EXIT_NOT_BLESSED, direct.stderr
    assert not strict["store"].exists()


def test_a_stopped_run_deploys_nothing(stopped):
    steps = stopped["steps"]
    assert steps["train"].returncode == 2
    assert f"python -m pipeline run exited with {EXIT_DATA_BLOCKED}" in steps["train"].stderr
    assert stopped["evaluate"]["data-passed"] == "false"
    assert stopped["evaluate"]["blessed"] == "false"
    assert "**Data gate: stopped**" in stopped["summary"]
    assert "trip_start_hour" in stopped["summary"]
    assert steps["deploy"].returncode == 2
    assert f"python -m pipeline deploy exited with {EXIT_DATA_BLOCKED}" in steps["deploy"].stderr
    assert not stopped["store"].exists()
