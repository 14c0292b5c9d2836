"""The taxi years replayed: does the served model decay from one year to the next, and
what does each retraining policy cost?

    scripts/in-env python bench/replay_taxi.py [--by year] [--policies on-decay,every-span]
        [--training-spans 1] [--run-args '--min-auc 0.9 --min-accuracy 0.85 --drift-warn']
        [--work-dir DIR]

Writes the taxi CSV as one span per period (`prepare-data --by`), then runs `replay`
once per policy, each in a fresh output folder, through the CLI as a user runs it.
Prints, per policy, the timeline (each span's period, the served model's AUC and
accuracy on it before the step's action, the verdict, the action, the version served
after), the number of pipeline runs and of pushes, and the replay's wall time; then one
JSON line. The default run flags: the gate of the README's monitor sample
(`--min-auc 0.9 --min-accuracy 0.85`; a model trained on one year of the taxi data
does not reach the taxi default, AUC 0.94, on every year), and `--drift-warn`, since
the years drift apart (payment_type's mix moves over the gate's threshold) and the
question here is the model's quality, not the data gate's; drop it to see the gate
stop those runs (`data-stopped`).
"""

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT,
                          capture_output=True, text=True)


def _value(metrics: dict, name: str) -> str:
    value = metrics.get(name)
    return "-" if value is None else f"{value:.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--by", default="year", choices=("year", "quarter", "month"))
    parser.add_argument("--policies", default="on-decay,every-span")
    parser.add_argument("--training-spans", default="1")
    parser.add_argument("--run-args", default="--min-auc 0.9 --min-accuracy 0.85 --drift-warn")
    parser.add_argument("--work-dir", type=Path, help="keep the data and outputs here "
                        "(default: a temporary folder, removed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as temporary:
        work = (args.work_dir or Path(temporary)).resolve()
        data = work / f"taxi-by-{args.by}"
        prepared = _cli("prepare-data", "--by", args.by, "--data-dir", str(data))
        if prepared.returncode != 0:
            print(prepared.stderr, file=sys.stderr)
            return 1
        found = {}
        for policy in args.policies.split(","):
            started = time.monotonic()
            result = _cli("replay", "--data-dir", str(data), "--output-dir",
                          str(work / f"out-{policy}"), "--policy", policy,
                          "--training-spans", args.training_spans,
                          "--run-args", args.run_args, "--json")
            seconds = time.monotonic() - started
            if result.returncode != 0:
                print(f"{policy}: exit {result.returncode}: {result.stderr[-2000:]}",
                      file=sys.stderr)
                return 1
            replayed = json.loads(result.stdout)
            found[policy] = {"seconds": round(seconds, 1), "runs": replayed["runs"],
                             "pushes": replayed["pushes"], "timeline": [
                                 {key: row[key] for key in (
                                     "span", "period", "served_before", "verdict", "action",
                                     "served_version")}
                                 | {"auc": row["metrics"].get("auc"),
                                    "accuracy": row["metrics"].get("binary_accuracy"),
                                    "rows": row["metrics"].get("example_count")}
                                 for row in replayed["timeline"]]}
            print(f"\n{policy} (training on the latest {args.training_spans} span(s); run "
                  f"flags: {shlex.join(shlex.split(args.run_args)) or 'none'})")
            print("| span | rows | served | AUC | accuracy | verdict | action | served after |")
            print("|---|---|---|---|---|---|---|---|")
            for row in replayed["timeline"]:
                metrics = row["metrics"]
                rows = metrics.get("example_count")
                print(f"| {row['span']} ({row['period']}) | "
                      f"{'-' if rows is None else f'{rows:.0f}'} | "
                      f"{'-' if row['served_before'] is None else row['served_before']} | "
                      f"{_value(metrics, 'auc')} | {_value(metrics, 'binary_accuracy')} | "
                      f"{row['verdict']} | {row['action']} | {row['served_version']} |")
            print(f"runs {replayed['runs']}, pushes {replayed['pushes']}, "
                  f"wall time {seconds:.0f} s")
        print(json.dumps({"by": args.by, "run_args": args.run_args,
                          "training_spans": args.training_spans, "policies": found}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
