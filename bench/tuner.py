"""Tuned vs default: for each dataset, one run without `--tune` and one with it (each in
an output folder of its own, so neither is the other's baseline), timed side by side;
prints the Evaluator's headline metric of both, the Tuner's trials and its best and
untuned scores on its objective, and the seconds of each run and of the Tuner.

    scripts/in-env python bench/tuner.py [--datasets taxi,breast-cancer,wine,diabetes]
                                         [--trials N] [--work-dir DIR]

The Tuner scores its trials on the run's "tune" split, rows the Evaluator does not
measure (see README: Tuning); results from before that split (bench/ and the README's
table) scored them on the eval split, an optimistic number. The machine's load average
is printed with the numbers.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import DEFAULT_TUNE_TRIALS, REPO_ROOT  # noqa: E402
from pipeline.data import SAMPLES  # noqa: E402

DATASETS = ("taxi", *SAMPLES)
# The metric each dataset is judged by (as the README's dataset table).
METRIC = {"taxi": "auc", "breast-cancer": "auc", "wine": "sparse_categorical_accuracy",
          "diabetes": "rmse"}


def _pipeline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False)


def _run(name: str, data: Path, out: Path, *extra: str) -> dict:
    """One `run --json`: its summary, with the wall-clock seconds and the load."""
    label = [] if name == "taxi" else ["--label", SAMPLES[name].label,
                                       "--task", SAMPLES[name].task]
    start = time.monotonic()
    result = _pipeline("run", "--data-dir", str(data), "--output-dir", str(out), *label,
                       *extra, "--json")
    seconds = time.monotonic() - start
    if result.returncode not in (0,):
        sys.exit(f"run {name} {' '.join(extra)} failed ({result.returncode}): "
                 f"{result.stderr.strip()[-2000:]}")
    summary = json.loads(result.stdout)
    summary["seconds"] = round(seconds, 1)
    summary["load"] = os.getloadavg()[0]
    return summary


def _component_seconds(summary: dict, component: str) -> float | None:
    return next((row["seconds"] for row in summary["components"] if row["id"] == component),
                None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"comma-separated, of {', '.join(DATASETS)}")
    parser.add_argument("--trials", type=int, default=DEFAULT_TUNE_TRIALS)
    parser.add_argument("--work-dir", type=Path,
                        help="keep data and runs here (default: a temporary folder)")
    args = parser.parse_args()
    names = args.datasets.split(",")
    unknown = set(names) - set(DATASETS)
    if unknown:
        parser.error(f"unknown datasets: {', '.join(sorted(unknown))}")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        work = (args.work_dir or Path(scratch)).expanduser().resolve()
        for name in names:
            data = work / name / "data"
            prepared = _pipeline("prepare-data", "--dataset", name, "--data-dir", str(data))
            if prepared.returncode:
                sys.exit(f"prepare-data {name} failed: {prepared.stderr.strip()}")
            default = _run(name, data, work / name / "default")
            tuned = _run(name, data, work / name / "tuned", "--tune", "--tune-trials",
                         str(args.trials))
            tuning = tuned["tuning"]
            metric = METRIC[name]
            rows.append({
                "dataset": name, "metric": metric,
                "default": default["metrics"].get(metric),
                "tuned": tuned["metrics"].get(metric),
                "objective": tuning["objective"], "trials": len(tuning["trials"]),
                "untuned_score": tuning["default_score"], "best_score": tuning["best_score"],
                "chosen": tuning["best"],
                "default_seconds": default["seconds"], "tuned_seconds": tuned["seconds"],
                "tuner_seconds": _component_seconds(tuned, "Tuner"),
                "load": round(max(default["load"], tuned["load"]), 2),
            })
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'dataset':<14}{'metric':<30}{'default':>9}{'tuned':>9}{'trials':>7}"
          f"{'objective: untuned -> best':>36}{'run s':>8}{'tuned s':>9}{'Tuner s':>9}"
          f"{'load':>6}")
    for row in rows:
        objective = (f"{row['objective']} {row['untuned_score']:.4f} -> "
                     f"{row['best_score']:.4f}")
        print(f"{row['dataset']:<14}{row['metric']:<30}{row['default']:>9.4f}"
              f"{row['tuned']:>9.4f}{row['trials']:>7}{objective:>36}"
              f"{row['default_seconds']:>8.0f}{row['tuned_seconds']:>9.0f}"
              f"{row['tuner_seconds']:>9.0f}{row['load']:>6.2f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
