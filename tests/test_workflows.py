"""The GitHub Actions workflows, read as GitHub reads them: every `run:` step is one
Makefile target or one `python -m pipeline` command that exists (and every pipeline
command a target runs exists too), every action is pinned by a commit SHA, `deploy`
runs only on the blessing that `evaluate` reports, and each check catches a broken
workflow."""

import copy
import re
import shlex
from pathlib import Path

import pytest
import yaml

from pipeline.config import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((REPO_ROOT / ".github" / "actions").glob("*/action.yml"))
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@]+)?@[0-9a-f]{40}$")

def _load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def _makefile_recipes() -> dict[str, list[str]]:
    """Each Makefile target's recipe lines (continuations joined)."""
    text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    recipes, current = {}, None
    for line in text.splitlines():
        rule = re.match(r"^([A-Za-z0-9_.-]+):(?!=)", line)
        if rule:
            current = recipes.setdefault(rule.group(1), [])
        elif line.startswith("\t") and current is not None:
            current.append(line.strip())
        elif line.strip() and not line.startswith("#"):
            current = None
    return recipes


def _cli_commands() -> set[str]:
    import argparse

    from pipeline.cli import _parser

    parser = _parser()
    subparsers = next(action for action in parser._actions
                      if isinstance(action, argparse._SubParsersAction))
    return set(subparsers.choices)


@pytest.fixture(scope="module")
def known():
    return {"targets": _makefile_recipes(), "commands": _cli_commands()}


def _steps(document: dict):
    """(job or action name, step) for every step of a workflow or composite action."""
    if "runs" in document:
        for step in document["runs"].get("steps", []):
            yield "action", step
    for name, job in document.get("jobs", {}).items():
        for step in job.get("steps", []):
            yield name, step


def _pipeline_commands(line: str) -> list[str]:
    return re.findall(r"python -m pipeline ([a-z][a-z-]*)", line)


def run_problems(document: dict, known: dict) -> list[str]:
    """`run:` steps that are not one `make TARGET` or one `python -m pipeline COMMAND`
    with a target and command that exist."""
    problems = []
    for where, step in _steps(document):
        if "run" not in step:
            continue
        script = step["run"].strip()
        if "\n" in script or re.search(r"[;&|`<>]|\$\(|\$\{\{", script):
            problems.append(f"{where}: {script!r} is more than one command (or interpolates "
                            "an expression into the script)")
            continue
        words = shlex.split(script)
        if words[:1] == ["make"] and len(words) == 2:
            target = words[1]
            if target not in known["targets"]:
                problems.append(f"{where}: make {target}: no such Makefile target")
                continue
            called = dict.fromkeys(command for line in known["targets"][target]
                                   for command in _pipeline_commands(line))
            problems += [f"{where}: make {target} runs python -m pipeline {command}, which "
                         "does not exist" for command in called
                         if command not in known["commands"]]
        elif words[:3] == ["python", "-m", "pipeline"] and len(words) > 3:
            if words[3] not in known["commands"]:
                problems.append(f"{where}: python -m pipeline {words[3]}: no such command")
        else:
            problems.append(f"{where}: {script!r} is neither a make target nor a "
                            "python -m pipeline command")
    return problems


def pin_problems(document: dict) -> list[str]:
    """Actions referenced by anything but a full commit SHA (local ones excepted)."""
    refs = [(where, step["uses"]) for where, step in _steps(document) if "uses" in step]
    refs += [(name, job["uses"]) for name, job in document.get("jobs", {}).items()
             if "uses" in job]
    return [f"{where}: {ref} is not pinned by a 40-hex commit SHA" for where, ref in refs
            if not ref.startswith("./") and not PINNED.match(ref)]


def _outputs_of(job: dict, name: str) -> tuple[str, str] | None:
    """(step id, output) a job output is read from, when it is `steps.ID.outputs.NAME`."""
    found = re.fullmatch(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}",
                         str(job.get("outputs", {}).get(name, "")))
    return found.groups() if found else None


def blessing_problems(document: dict, known: dict) -> list[str]:
    """The deploy job must need `evaluate` and run only on its `blessed` output, which
    must come from the step that runs the evaluate command."""
    jobs = document.get("jobs", {})
    deploy, evaluate = jobs.get("deploy"), jobs.get("evaluate")
    if deploy is None:
        return []
    problems = []
    needs = deploy.get("needs", [])
    if "evaluate" not in ([needs] if isinstance(needs, str) else needs) or evaluate is None:
        problems.append("deploy does not need the evaluate job")
    condition = str(deploy.get("if", ""))
    if not re.fullmatch(r"(\$\{\{\s*)?fromJSON\(needs\.evaluate\.outputs\.blessed\)(\s*\}\})?",
                        condition.strip()):
        problems.append(f"deploy's condition {condition!r} is not "
                        "fromJSON(needs.evaluate.outputs.blessed)")
    source = _outputs_of(evaluate or {}, "blessed")
    step = next((step for _, step in _steps({"jobs": {"evaluate": evaluate or {}}})
                 if source and step.get("id") == source[0]), None)
    if source is None or step is None or source[1] != "blessed":
        problems.append("evaluate's `blessed` output is not a step's `blessed` output")
    else:
        script = step.get("run", "")
        runs_evaluate = script.strip() == "make evaluate" and any(
            "evaluate" in _pipeline_commands(line)
            for line in known["targets"].get("evaluate", []))
        if not (runs_evaluate or _pipeline_commands(script) == ["evaluate"]):
            problems.append(f"the step behind evaluate's `blessed` runs {script!r}, not "
                            "the evaluate command")
    return problems


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda path: path.parent.name
                         + "/" + path.name)
def test_every_run_step_is_a_target_or_command_that_exists(path, known):
    assert run_problems(_load(path), known) == []


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda path: path.parent.name
                         + "/" + path.name)
def test_every_action_is_pinned_by_commit(path):
    assert pin_problems(_load(path)) == []


def test_the_workflows_a_team_needs_are_there():
    names = {path.stem for path in WORKFLOWS}
    assert {"ci", "train-deploy", "monitor"} <= names
    train_deploy = _load(REPO_ROOT / ".github/workflows/train-deploy.yml")
    assert {"push", "schedule", "workflow_dispatch", "workflow_call"} <= set(
        train_deploy["on"])
    assert list(train_deploy["jobs"]) == ["test", "train", "evaluate", "deploy"]


def test_deploy_runs_only_on_the_blessing(known):
    assert blessing_problems(_load(REPO_ROOT / ".github/workflows/train-deploy.yml"),
                             known) == []


def test_least_permissions_and_no_racing_deploys():
    for path in WORKFLOWS:
        document = _load(path)
        assert document["permissions"] == {}, path.name
        for name, job in document["jobs"].items():
            assert "permissions" in job, f"{path.name}: {name}"
    train_deploy = _load(REPO_ROOT / ".github/workflows/train-deploy.yml")
    assert train_deploy["concurrency"]["cancel-in-progress"] is False
    assert train_deploy["jobs"]["deploy"]["concurrency"]["cancel-in-progress"] is False
    writers = [name for name, job in train_deploy["jobs"].items()
               if "write" in (job["permissions"] or {}).values()]
    assert writers == ["deploy"]


def test_monitor_starts_train_deploy_on_decay():
    monitor = _load(REPO_ROOT / ".github/workflows/monitor.yml")
    assert "schedule" in monitor["on"]
    retrain = monitor["jobs"]["retrain"]
    assert retrain["uses"] == "./.github/workflows/train-deploy.yml"
    assert retrain["if"].replace(" ", "") == "${{fromJSON(needs.monitor.outputs.retrain)}}"
    assert _outputs_of(monitor["jobs"]["monitor"], "retrain") == ("monitor", "retrain")


# The checks themselves: each one fails on a workflow broken in its way.

def _train_deploy() -> dict:
    return copy.deepcopy(_load(REPO_ROOT / ".github/workflows/train-deploy.yml"))


def _step(document: dict, job: str, step_id: str) -> dict:
    return next(step for step in document["jobs"][job]["steps"] if step.get("id") == step_id)


@pytest.mark.parametrize("script, words", [
    ("make no-such-target", "no such Makefile target"),
    ("python -m pipeline no-such-command", "no such command"),
    ("make train && make evaluate", "more than one command"),
    ("pytest -q", "neither a make target"),
    ("make ${{ inputs.data-dir }}", "interpolates"),
])
def test_run_check_catches_a_broken_step(known, script, words):
    document = _train_deploy()
    _step(document, "evaluate", "evaluate")["run"] = script
    problems = run_problems(document, known)
    assert len(problems) == 1 and words in problems[0], problems


def test_run_check_catches_a_target_that_calls_a_missing_command(known):
    targets = {**known["targets"], "evaluate": ["scripts/in-env python -m pipeline judge"]}
    problems = run_problems(_train_deploy(), {**known, "targets": targets})
    assert problems == ["evaluate: make evaluate runs python -m pipeline judge, which does "
                        "not exist"]


def test_a_command_the_cli_does_not_have_is_caught(known):
    """`make monitor` calls `python -m pipeline monitor`: without that command in the
    CLI, the monitor workflow's step is refused."""
    without = {**known, "commands": known["commands"] - {"monitor"}}
    problems = run_problems(_load(REPO_ROOT / ".github/workflows/monitor.yml"), without)
    assert problems == ["monitor: make monitor runs python -m pipeline monitor, which does "
                        "not exist"]
    assert run_problems(_load(REPO_ROOT / ".github/workflows/monitor.yml"), known) == []


@pytest.mark.parametrize("ref", ["actions/checkout@v4", "actions/checkout@main",
                                 "actions/checkout@11bd719"])
def test_pin_check_catches_a_tag_or_short_sha(ref):
    document = _train_deploy()
    document["jobs"]["train"]["steps"][0]["uses"] = ref
    assert pin_problems(document) == [f"train: {ref} is not pinned by a 40-hex commit SHA"]


@pytest.mark.parametrize("change", ["drop-if", "placeholder", "other-output", "other-step"])
def test_blessing_check_catches_a_deploy_that_is_not_gated(known, change):
    document = _train_deploy()
    deploy, evaluate = document["jobs"]["deploy"], document["jobs"]["evaluate"]
    if change == "drop-if":
        del deploy["if"]
    elif change == "placeholder":
        deploy["if"] = "${{ 'BLESSED' == 'BLESSED' }}"
    elif change == "other-output":
        evaluate["outputs"]["blessed"] = "${{ steps.evaluate.outputs.data-passed }}"
    else:
        _step(document, "evaluate", "evaluate")["run"] = "make train"
    assert blessing_problems(document, known) != []
