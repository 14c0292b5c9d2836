"""The project's components re-execute when their code changes: each carries a code
fingerprint derived from its module and every project module that module imports, so
TFX's cache never reuses a result of code that has since been edited."""

import json
import subprocess
import sys

import pytest

from pipeline import config
from pipeline.config import COMPONENT_MODULES, PROJECT_PACKAGES, REPO_ROOT, project_imports


def test_the_gate_fingerprint_covers_the_rules_and_rows_it_decides_with():
    """The DataGate's verdict is made of anomaly rows and classification rules that live
    outside gate.py: editing them must re-run the gate, not reuse a cached verdict."""
    from pipeline import artifact_files, gate, gate_rules

    covered = project_imports("pipeline.gate")
    for used in (gate_rules.anomaly_rows, gate_rules.drift_anomaly_rows,
                 gate_rules.classify, artifact_files.load_split_anomalies):
        assert used.__module__ in covered, used
    # Whatever else the gate's module refers to from the project is covered as well.
    for name, value in vars(gate).items():
        module = getattr(value, "__module__", None) or getattr(value, "__name__", "")
        if module.split(".")[0] in PROJECT_PACKAGES:
            assert module in covered, name


@pytest.mark.parametrize("component", COMPONENT_MODULES)
def test_editing_any_module_a_component_imports_changes_its_fingerprint(
        component, monkeypatch):
    before = config.code_fingerprint(component)
    imported = project_imports(component)
    assert component in imported
    read = config.module_source
    every_module = {path.relative_to(REPO_ROOT).with_suffix("").as_posix().replace(
        "/", ".").removesuffix(".__init__")
        for package in PROJECT_PACKAGES for path in (REPO_ROOT / package).glob("*.py")}
    for edited in sorted(every_module):
        monkeypatch.setattr(config, "module_source", lambda name, edited=edited: (
            read(name) + b"\n# an edit\n" if name == edited else read(name)))
        after = config.code_fingerprint(component)
        if edited in imported:
            assert after != before, f"editing {edited} leaves {component}'s cache entry"
        else:
            # A module the component does not run keeps its cache entry.
            assert after == before, f"editing {edited} re-runs {component}"


def test_the_gate_and_the_pusher_do_not_share_a_fingerprint_for_unrelated_code(monkeypatch):
    """Editing the gate's rules re-runs the gate only; the Pusher keeps its cache entry."""
    gate, pusher = (config.code_fingerprint(m) for m in ("pipeline.gate", "pipeline.pusher"))
    read = config.module_source
    monkeypatch.setattr(config, "module_source", lambda name: (
        read(name) + b"\n# an edit\n" if name == "pipeline.gate_rules" else read(name)))
    assert config.code_fingerprint("pipeline.gate") != gate
    assert config.code_fingerprint("pipeline.pusher") == pusher


# One fresh interpreter imports every component in turn. Before each import it drops
# the project's modules (and only those) from sys.modules, so each component loads its
# project modules again, exactly as in an interpreter of its own; the third-party
# packages (TensorFlow, TFX, Beam) are imported once instead of once per component.
_LOADED_PROBE = """\
import importlib, json, sys
found = {}
for component in sys.argv[1:]:
    for name in [n for n in sys.modules if n.split('.')[0] in ('pipeline', 'models')]:
        del sys.modules[name]
    importlib.import_module(component)
    found[component] = [name for name, m in list(sys.modules.items())
                        if name.split('.')[0] in ('pipeline', 'models')
                        and (getattr(m, '__file__', None) or '').endswith('.py')]
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def loaded_by_component():
    """{component: the project modules importing it loads}, from one fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", _LOADED_PROBE, *COMPONENT_MODULES],
                            cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("component", COMPONENT_MODULES)
def test_a_component_fingerprint_covers_every_project_module_it_loads(
        component, loaded_by_component):
    """The project modules that importing a component's module actually loads are all
    in its code fingerprint, so editing any of them re-executes the component."""
    loaded = loaded_by_component[component]
    assert component in loaded
    assert set(loaded) <= project_imports(component)


def _exec_property_bytes(component) -> bytes:
    """Every exec property of a component as bytes (protos serialized), where a
    fingerprint shows however the component carries it (a parameter, a JSON config, a
    packed proto)."""
    found = b""
    for value in component.exec_properties.values():
        found += (value.SerializeToString() if hasattr(value, "SerializeToString")
                  else str(value).encode())
    return found


def test_every_component_that_runs_project_code_carries_its_fingerprint(tmp_path):
    """A component whose executor is this project's code has the fingerprint of the
    executor's module in its parameters (TFX's cache key), whatever its id: the older
    spans' ExampleGens too."""
    from pipeline.config import make_config
    from pipeline.definition import create_pipeline

    cfg = make_config(output_dir=tmp_path / "out", spans=(1, 2, 3), training_spans=2)
    checked = []
    for component in create_pipeline(cfg).components:
        executor = getattr(getattr(component, "executor_spec", None), "executor_class", None)
        if executor is None or executor.__module__.split(".")[0] not in PROJECT_PACKAGES:
            continue
        assert executor.__module__ in COMPONENT_MODULES, component.id
        fingerprint = cfg.fingerprint_of(executor.__module__)
        assert fingerprint.encode() in _exec_property_bytes(component), component.id
        checked.append(component.id)
    assert {"CsvExampleGen", "CsvExampleGen_prev1", "DataGate", "Pusher"} <= set(checked)
    assert dict(cfg.code_fingerprints) == {
        module: config.code_fingerprint(module) for module in COMPONENT_MODULES}
