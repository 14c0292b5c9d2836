"""Bring-your-own-CSV check on real datasets bundled with scikit-learn: for each, write
it as CSV (`prepare-data`), run the pipeline on it with only `--label` and `--task`,
and compare the Evaluator's metrics with a RandomForest's on the same split
(bench/quality.py). Prints a table and JSON.

    scripts/in-env python bench/datasets.py [--datasets breast-cancer,wine,diabetes]
                                            [--work-dir DIR]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import compare, print_table  # noqa: E402
from pipeline.config import REPO_ROOT  # noqa: E402
from pipeline.data import SAMPLES  # noqa: E402


def _pipeline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(SAMPLES),
                        help=f"comma-separated, of {', '.join(SAMPLES)}")
    parser.add_argument("--work-dir", type=Path,
                        help="keep data and runs here (default: a temporary folder)")
    args = parser.parse_args()
    names = args.datasets.split(",")
    unknown = set(names) - set(SAMPLES)
    if unknown:
        parser.error(f"unknown datasets: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as scratch:
        work = (args.work_dir or Path(scratch)).expanduser().resolve()
        reports = []
        for name in names:
            sample = SAMPLES[name]
            data, out = work / name / "data", work / name / "out"
            prepared = _pipeline("prepare-data", "--dataset", name, "--data-dir", str(data))
            if prepared.returncode:
                sys.exit(f"prepare-data {name} failed: {prepared.stderr.strip()}")
            start = time.monotonic()
            run = _pipeline("run", "--data-dir", str(data), "--output-dir", str(out),
                            "--label", sample.label, "--task", sample.task)
            seconds = time.monotonic() - start
            if run.returncode:
                sys.exit(f"run {name} failed ({run.returncode}): {run.stderr.strip()}")
            report = compare(out)
            report.update(dataset=name, run_seconds=round(seconds, 1),
                          blessed="blessed:    yes" in run.stdout)
            reports.append(report)
    print_table(reports)
    print(json.dumps(reports))


if __name__ == "__main__":
    main()
