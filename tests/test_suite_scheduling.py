"""How `make test` shares the tests between xdist workers (tests/conftest.py): a module is
one unit of work, the modules sharing a session's run (`good_taxi_run`, ...) are one
unit together, the slowest modules start first, and a module that uses a shared run
unlisted is refused. The scheduler runs here on two stand-in workers, as xdist's
controller drives it."""

from types import SimpleNamespace

import pytest

from tests import conftest

UNITS = conftest.SHARED_RUN_MODULES
# A module of each unit, and one of the fixtures its unit shares.
SHARED = {module: next(fixture for fixture, unit in conftest.SHARED_RUNS.items()
                       if unit == name)
          for name, modules in UNITS.items() for module in modules}
SLOWEST = conftest.SLOWEST_MODULES


class _Worker:
    """What the scheduler calls on an xdist worker: it records the tests it is sent."""

    def __init__(self, name):
        self.name, self.sent, self.done, self.shutting_down = name, [], 0, False
        self.gateway = SimpleNamespace(id=name)

    def send_runtest_some(self, indices):
        self.sent += indices

    def shutdown(self):
        self.shutting_down = True


def _item(nodeid, *fixtures):
    return SimpleNamespace(nodeid=nodeid, fixturenames=["tmp_path", *fixtures])


def _collection():
    """A worker's collection, in the order the collection hook leaves it."""
    items = [_item(f"{module}::test_{index}", *((SHARED[module],) if module in SHARED else ()))
             for module in sorted({*SHARED, *SLOWEST, "tests/e2e/test_cd_e2e.py",
                                   "tests/e2e/test_drift_e2e.py", "tests/test_cli.py",
                                   "tests/test_gate.py"})
             for index in range(3)]
    worker_config = SimpleNamespace(workerinput={"workerid": "gw0"})
    conftest.pytest_collection_modifyitems(worker_config, items)
    return [item.nodeid for item in items]


def _run(collection):
    """Every test through the scheduler on two workers that each finish one test in turn;
    the modules each worker ran, in order."""
    config = SimpleNamespace(getvalue={"dist": "loadfile", "tx": ["2*popen"]}.get,
                             option=SimpleNamespace(loadscopereorder=True))
    scheduler = conftest._ModuleScheduler().pytest_xdist_make_scheduler(config, None)
    workers = [_Worker("gw0"), _Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
    for worker in workers:
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    while scheduler.has_pending:
        for worker in workers:
            if worker.done < len(worker.sent):
                worker.done += 1
                scheduler.mark_test_complete(worker, worker.sent[worker.done - 1])
    modules = {}
    for worker in workers:
        for index in worker.sent:
            module = collection[index].split("::")[0]
            if module not in modules.setdefault(worker.name, []):
                modules[worker.name].append(module)
    assert sorted(i for worker in workers for i in worker.sent) == list(range(len(collection)))
    return modules


def test_each_module_runs_on_one_worker_and_the_shared_run_modules_on_the_same_one():
    modules = _run(_collection())
    gw0, gw1 = set(modules["gw0"]), set(modules["gw1"])
    assert not gw0 & gw1
    for modules in UNITS.values():
        assert set(modules) <= gw0 or set(modules) <= gw1


def test_the_slowest_modules_start_first():
    modules = _run(_collection())
    end_to_end = [module for module in SLOWEST if "/e2e/" in module]
    assert {modules["gw0"][0], modules["gw1"][0]} == set(end_to_end[:2])
    # On each worker, the units with the slowest modules came before the others, longest
    # first (a unit of modules that share a run ranks as its slowest module).
    def rank(module):
        unit = UNITS.get(conftest._work_unit(module), (module,))
        return min(SLOWEST.index(name) if name in SLOWEST else len(SLOWEST) for name in unit)

    for ran in modules.values():
        ranks = [rank(module) for module in ran]
        assert ranks == sorted(ranks)


def test_a_serial_run_keeps_the_collection_order():
    items = [_item(f"{module}::test") for module in sorted(SLOWEST)]
    conftest.pytest_collection_modifyitems(SimpleNamespace(), items)
    assert [item.nodeid for item in items] == [f"{module}::test" for module in sorted(SLOWEST)]


@pytest.mark.parametrize("fixture", list(conftest.SHARED_RUNS))
def test_a_module_using_a_shared_run_unlisted_is_refused(fixture):
    items = [_item("tests/e2e/test_new_e2e.py::test", fixture),
             _item("tests/test_gate.py::test")]
    with pytest.raises(pytest.UsageError, match=f"test_new_e2e.py use {fixture}"):
        conftest.pytest_collection_modifyitems(SimpleNamespace(), items)
