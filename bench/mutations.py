"""Mutation spot checks: each a small behaviour-breaking edit of the code, then the unit
tests that should notice it. A mutation no unit test catches is a gap in the tests.

    scripts/in-env python bench/mutations.py                 # all, one by one
    scripts/in-env python bench/mutations.py --only 4 5      # some of them
    scripts/in-env python bench/mutations.py --all-unit      # the whole unit suite each

Each mutation is an exact text replacement in one file (the script stops if the text
is not there, e.g. after a refactoring moved it); after its tests the file is restored
to its text before the mutation (`git diff` is empty after a run).
By default each mutation runs the unit test files that concern its code (listed
below); --all-unit runs `-m "not e2e"` over tests/ instead. Results go to stdout as a
Markdown table (bench/MUTATIONS.md holds the last one).
"""

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NON_ATOMIC_BEFORE = '''    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{version}-",
                                    dir=model_serving_dir))
    target = model_serving_dir / str(version)
    try:
        shutil.copytree(model_dir, staging, dirs_exist_ok=True)
        write_warmup(staging, warmup_logs(sample, staging, model_name))
        report = run_check(staging, model_dir)
        if report["problems"]:
            raise ServingCheckFailed(
                f"version {version} is not servable, so it was not pushed: "
                + "; ".join(report["problems"]))
        if os.path.lexists(target):
            raise ServingCheckFailed(f"{target} appeared during the push, so version "
                                     f"{version} was not pushed: remove it and run again")
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
'''
NON_ATOMIC_AFTER = '''    staging = model_serving_dir / str(version)
    shutil.copytree(model_dir, staging)
    write_warmup(staging, warmup_logs(sample, staging, model_name))
    report = run_check(staging, model_dir)
    if report["problems"]:
        raise ServingCheckFailed(
            f"version {version} is not servable, so it was not pushed: "
            + "; ".join(report["problems"]))
'''

# (name, file, text, replacement, the unit test files that concern it)
MUTATIONS = [
    ("gate passes everything", "pipeline/gate_rules.py",
     "return {PASSED: not blocking,", "return {PASSED: True,",
     ["tests/test_gate.py", "tests/test_data_gate.py"]),
    ("tolerate-all", "pipeline/gate_rules.py",
     "return any(rule in keys for rule in tolerated)", "return True",
     ["tests/test_gate.py", "tests/test_data_gate.py"]),
    ("no change threshold", "pipeline/definition.py",
     "threshold = tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(\n"
     "        direction=direction, absolute={\"value\": -allowed if higher_is_better "
     "else allowed}))",
     "threshold = tfma.MetricThreshold()",
     ["tests/test_definition.py", "tests/test_kubeflow_v2.py"]),
    ("push unblessed (CheckBlessing skipped)", "pipeline/pusher.py",
     "if not self.CheckBlessing(input_dict):", "if False:",
     ["tests/test_pusher.py", "tests/test_definition.py"]),
    ("non-atomic publish (copy straight into <version>/)", "pipeline/serving.py",
     NON_ATOMIC_BEFORE, NON_ATOMIC_AFTER,
     ["tests/test_pusher.py", "tests/test_serving.py"]),
    ("op scan off", "pipeline/serving.py",
     "bad_ops = unservable_ops(version_dir)", "bad_ops = []",
     ["tests/test_serving.py", "tests/test_pusher.py"]),
    ("candidate as its own baseline", "pipeline/baseline.py",
     "        if candidates:\n", "        if False:\n",
     ["tests/test_baseline.py", "tests/test_definition.py"]),
    ("constant model fingerprint", "models/__init__.py",
     "return digest.hexdigest()[:16]", 'return "0" * 16',
     ["tests/test_config.py", "tests/test_definition.py"]),
    ("every INT treated as numeric", "models/features.py",
     'if (feature.HasField("int_domain") and',
     'if False and (feature.HasField("int_domain") and',
     ["tests/test_schema_and_features.py", "tests/test_preprocessing.py",
      "tests/test_config.py"]),
    ("no HTML escaping in the report", "pipeline/report.py",
     "return html.escape(str(value))", "return str(value)",
     ["tests/test_report.py", "tests/test_runner.py"]),
]


def _run(name, path, text, replacement, files, all_unit) -> dict:
    target = ROOT / path
    source = target.read_text(encoding="utf-8")
    if source.count(text) != 1:
        sys.exit(f"{name}: the text to replace is not in {path} exactly once")
    target.write_text(source.replace(text, replacement), encoding="utf-8")
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", "not e2e", "-q", "-rf",
             "-p", "no:cacheprovider", *(["tests"] if all_unit else files)],
            cwd=ROOT, capture_output=True, text=True)
    finally:
        # What `git checkout -- path` does, without needing git in the environment.
        target.write_text(source, encoding="utf-8")
    failed = re.findall(r"^FAILED (\S+)", done.stdout, re.M)
    summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
    return {"name": name, "failed": failed, "summary": summary,
            "seconds": round(time.monotonic() - started)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, nargs="+", help="mutation numbers (1-based)")
    parser.add_argument("--all-unit", action="store_true",
                        help="run every unit test for each mutation")
    args = parser.parse_args()
    chosen = [(i, m) for i, m in enumerate(MUTATIONS, 1) if not args.only or i in args.only]
    print("| # | mutation | file | caught by (failing unit tests) |")
    print("|---|---|---|---|")
    missed = 0
    for number, (name, path, text, replacement, files) in chosen:
        result = _run(name, path, text, replacement, files, args.all_unit)
        caught = "<br>".join(f"`{test}`" for test in result["failed"])
        missed += not result["failed"]
        print(f"| {number} | {name} | `{path}` | {caught or '**NOT CAUGHT** '}"
              f"({result['summary']}, {result['seconds']} s) |", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
