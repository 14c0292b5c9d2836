"""The project's module structure: no import circles, and the leaf modules that every
component and command shares import nothing from the project. Read from the source
with `ast` (imports inside functions count: they run too)."""

import ast

import pytest

from pipeline.config import PROJECT_PACKAGES, REPO_ROOT

# Shared by the DataGate, the inspection commands and the CLI: a project import here
# would tie them together again (or pull TFX into the inspection commands).
LEAVES = ("pipeline.gate_rules", "pipeline.artifact_files", "pipeline.uris")


def _modules() -> dict[str, ast.Module]:
    found = {}
    for package in PROJECT_PACKAGES:
        for path in sorted((REPO_ROOT / package).glob("*.py")):
            name = f"{package}.{path.stem}" if path.stem != "__init__" else package
            found[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return found


MODULES = _modules()


def imports(name: str) -> set[str]:
    """The project modules `name` imports (`from pipeline import x` imports the module
    pipeline.x when there is one, else the package)."""
    found = set()
    for node in ast.walk(MODULES[name]):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{name}: relative import"
            targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES
                       else node.module for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target.split(".")[0] in PROJECT_PACKAGES}
    return found - {name}


def _cycle() -> list[str] | None:
    """One import circle among the project's modules, as the path around it."""
    graph = {name: sorted(imports(name) & MODULES.keys()) for name in MODULES}
    done, path = set(), []

    def visit(name):
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        path.append(name)
        for imported in graph[name]:
            found = visit(imported)
            if found:
                return found
        path.pop()
        done.add(name)
        return None

    for name in graph:
        found = visit(name)
        if found:
            return found
    return None


def test_the_modules_are_found():
    assert {"pipeline.gate", "pipeline.inspection", "pipeline.metadata",
            "models.features"} <= MODULES.keys()
    assert imports("pipeline.gate") == {"pipeline.artifact_files", "pipeline.gate_rules"}


def test_no_module_imports_itself_through_others():
    assert _cycle() is None, " -> ".join(_cycle())


def test_a_circle_would_be_found(monkeypatch):
    """The check above sees a circle when there is one (here: artifact_files importing
    inspection, which imports it)."""
    circular = ast.parse("from pipeline import inspection\n")
    monkeypatch.setitem(MODULES, "pipeline.artifact_files", circular)
    assert _cycle() is not None
    assert {"pipeline.artifact_files", "pipeline.inspection"} <= set(_cycle())


@pytest.mark.parametrize("leaf", LEAVES)
def test_the_shared_leaf_modules_import_nothing_from_the_project_but_leaves(leaf):
    assert imports(leaf) <= set(LEAVES) - {leaf}
