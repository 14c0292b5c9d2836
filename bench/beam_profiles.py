"""DirectRunner in-memory vs multi-processing, cold, on the default data and on 10x it.

Each run is a fresh output directory through the CLI (`--json`), so the numbers include
process start-up. The 10x data repeats every taxi row ten times with fare, trip_miles
and trip_seconds jittered by up to 5%, written once to a temporary folder.

    scripts/in-env python bench/beam_profiles.py [--scales 1 10] [--workers 2]
"""

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import REPO_ROOT  # noqa: E402
from pipeline.data import packaged_taxi_csv  # noqa: E402

JITTERED = ("fare", "trip_miles", "trip_seconds")


def write_scaled(target: Path, scale: int) -> int:
    rng = random.Random(scale)
    with packaged_taxi_csv().open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    columns = [header.index(name) for name in JITTERED]
    target.mkdir(parents=True, exist_ok=True)
    with (target / "data.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for copy in range(scale):
            for row in rows:
                if copy:
                    row = list(row)
                    for index in columns:
                        if row[index]:
                            value = float(row[index]) * rng.uniform(0.95, 1.05)
                            row[index] = str(round(value)) if index == columns[2] else \
                                f"{value:.2f}"
                writer.writerow(row)
    return len(rows) * scale


def run(data_dir: Path, out: Path, profile: str, workers: int) -> dict:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--data-dir", str(data_dir), "--output-dir",
         str(out), "--json", "--beam", profile, "--beam-workers", str(workers)],
        cwd=REPO_ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{profile} failed: {result.stderr.strip().splitlines()[-1]}")
    summary = json.loads(result.stdout)
    return {"seconds": round(seconds, 1),
            "components": {c["id"]: c["seconds"] for c in summary["components"]},
            "auc": summary["metrics"].get("auc")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.scales:
            data = Path(tmp) / f"data-x{scale}"
            rows = write_scaled(data / "span-1", scale)
            for profile in ("in-memory", "multi-processing"):
                measured = run(data, Path(tmp) / f"out-{scale}-{profile}", profile, args.workers)
                results.append({"scale": scale, "rows": rows, "profile": profile, **measured})
                print(f"x{scale:<4}{rows:>9} rows  {profile:<17}{measured['seconds']:>8.1f} s  "
                      + "  ".join(f"{k} {v}" for k, v in measured["components"].items()
                                  if v and v >= 1), flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
