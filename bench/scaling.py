"""How the pipeline's cost grows with rows: the taxi data at 1x, 10x, 100x, one cold run
each, with per-component wall time, total wall time and peak memory of the process tree.

Each size is `python -m pipeline run --json` into a fresh output directory (deleted
after the run), so the total includes process start-up. Size 1 is the taxi CSV itself
(or its first `--base-rows` rows); size k > 1 draws k times as many rows from it with
replacement and jitters each drawn row: fare and tips by one factor (so the label
stays), trip_miles and trip_seconds by up to 5%, coordinates by up to 0.002 degrees.
The CSVs are written once, streaming, to `--cache-dir` and reused by later calls.
Copies of one trip land in both of the run's splits, so a run's own eval AUC at a size
> 1 is optimistic (its eval split holds jittered copies of training trips). To compare
the sizes' models fairly, every tenth taxi row is held out (`HOLDOUT_EVERY`): no size
draws from those rows, and each pushed model scores them through `python -m pipeline
predict` (the serving signature), giving `holdout_auc` (exact, by ranks). The
run chooses its eval split, analyzed share and Beam profile by size (pipeline/scale.py):
the `chosen` of each result says which. A model under the Evaluator's floors is not
pushed (no Pusher time, no servable check): the `pushed` column says which runs paid
for it. Growth is the exponent b in time ~ rows^b between consecutive sizes (1: linear,
0: constant cost).

    scripts/in-env python bench/scaling.py [--sizes 1,10,100] [--base-rows N]
                                           [--cache-dir DIR] [--timeout S]
"""

import argparse
import csv
import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import REPO_ROOT, run_pipeline  # noqa: E402
from pipeline.data import packaged_taxi_csv  # noqa: E402

# Bump when the way rows are drawn or jittered changes: cached CSVs are keyed by it.
DATA_VERSION = 2
# Every HOLDOUT_EVERY-th taxi row is held out of every size (and scores every model).
HOLDOUT_EVERY = 10
SCALED_TOGETHER = ("fare", "tips")
JITTERED = {"trip_miles": "{:.2f}", "trip_seconds": "{:.0f}"}
COORDINATES = ("pickup_latitude", "pickup_longitude", "dropoff_latitude",
               "dropoff_longitude")
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) \
    / "tfx-pipeline" / "bench-data"
# Components shown in the table even when fast (the rest are summed in "other").
MIN_SHOWN_SECONDS = 1.0


def _base_rows(limit: int | None) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """The taxi CSV's header, the rows the sizes draw from, and the held-out rows."""
    with packaged_taxi_csv().open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(itertools.islice(reader, limit))
    return (header, [row for i, row in enumerate(rows) if i % HOLDOUT_EVERY],
            rows[::HOLDOUT_EVERY])


def holdout_data(cache_dir: Path, base_rows: int | None) -> Path:
    """The held-out rows as a CSV request for `pipeline predict` (label columns kept:
    predict ignores columns that are no input)."""
    header, _, held_out = _base_rows(base_rows)
    path = cache_dir / (f"taxi-v{DATA_VERSION}-holdout"
                        + (f"-first{base_rows}" if base_rows else "") + ".csv")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".csv.partial")
        with partial.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([header, *held_out])
        partial.replace(path)
    return path


def _big_tipper(row: dict[str, str]) -> int:
    """The taxi label as models/preprocessing.py computes it (empty cell = 0)."""
    tips, fare = (float(row[name] or 0) for name in ("tips", "fare"))
    return int(tips > 0.2 * fare)


def rank_auc(labels: list[int], scores: list[float]) -> float:
    """The exact ROC AUC (Mann-Whitney U over average ranks, ties counted half)."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for i in order[start:end + 1]:
            ranks[i] = (start + end) / 2 + 1
        start = end + 1
    positives = sum(labels)
    negatives = len(labels) - positives
    positive_ranks = sum(rank for rank, label in zip(ranks, labels, strict=True) if label)
    return (positive_ranks - positives * (positives + 1) / 2) / (positives * negatives)


def holdout_auc(output_dir: Path, holdout: Path) -> float:
    """The pushed model's AUC on the held-out rows, scored as TF Serving would."""
    answer = subprocess.run(
        [sys.executable, "-m", "pipeline", "predict", "--output-dir", str(output_dir),
         str(holdout)], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    scores = [p[0] if isinstance(p, list) else p
              for p in json.loads(answer.stdout)["predictions"]]
    with holdout.open(newline="", encoding="utf-8") as handle:
        labels = [_big_tipper(row) for row in csv.DictReader(handle)]
    if len(scores) != len(labels):
        sys.exit(f"predict answered {len(scores)} rows for the {len(labels)} of {holdout}")
    return rank_auc(labels, scores)


def _jitter(row: list[str], index: dict[str, int], rng: random.Random) -> list[str]:
    row = list(row)
    factor = rng.uniform(0.95, 1.05)
    for name in SCALED_TOGETHER:
        if row[index[name]]:
            row[index[name]] = f"{float(row[index[name]]) * factor:.2f}"
    for name, form in JITTERED.items():
        if row[index[name]]:
            row[index[name]] = form.format(float(row[index[name]]) * rng.uniform(0.95, 1.05))
    for name in COORDINATES:
        if row[index[name]]:
            row[index[name]] = f"{float(row[index[name]]) + rng.uniform(-0.002, 0.002):.6f}"
    return row


def scaled_data(cache_dir: Path, scale: int, base_rows: int | None) -> tuple[Path, int]:
    """A data directory (`span-1/data.csv`) holding `scale` times the base rows, written
    once (streaming, renamed into place when complete) and reused."""
    header, rows, held_out = _base_rows(base_rows)
    name = f"taxi-v{DATA_VERSION}-x{scale}" + (f"-first{base_rows}" if base_rows else "")
    data_dir = cache_dir / name
    target = data_dir / "span-1" / "data.csv"
    # Size k > 1 has k times the taxi CSV's rows (1.5M at 100), drawn from the rows
    # not held out; size 1 is those rows as they are.
    count = len(rows) if scale == 1 else (len(rows) + len(held_out)) * scale
    if target.is_file():
        return data_dir, count
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".csv.partial")
    rng = random.Random(scale)
    index = {column: header.index(column) for column in
             (*SCALED_TOGETHER, *JITTERED, *COORDINATES)}
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        if scale == 1:
            writer.writerows(rows)
        else:
            for _ in range(count):
                writer.writerow(_jitter(rows[rng.randrange(len(rows))], index, rng))
    partial.replace(target)
    return data_dir, count


def growth(small: dict, large: dict) -> dict:
    """Exponent b in seconds ~ rows^b from one size to the next, for the whole run and
    each component that took at least a second at both sizes."""
    ratio = math.log(large["rows"] / small["rows"])

    def exponent(a: float, b: float) -> float | None:
        return round(math.log(b / a) / ratio, 2) if a >= 1 and b >= 1 else None

    components = {name: exponent(seconds, large["components"].get(name, 0))
                  for name, seconds in small["components"].items()}
    return {"from": small["scale"], "to": large["scale"],
            "total": exponent(small["seconds"], large["seconds"]),
            "components": {name: b for name, b in components.items() if b is not None}}


def print_table(results: list[dict], growths: list[dict]) -> None:
    shown = [name for name in results[0]["components"]
             if any(r["components"].get(name, 0) >= MIN_SHOWN_SECONDS for r in results)]
    head = f"{'size':<6}{'rows':>10}{'total s':>9}{'peak RSS MB':>13}{'largest proc':>14}"
    print(head + "".join(f"{name[:14]:>16}" for name in shown)
          + f"{'other comps':>13}{'outside comps':>15}{'pushed':>8}{'eval AUC':>10}"
          + f"{'holdout AUC':>13}")
    for r in results:
        other = sum(s for name, s in r["components"].items() if name not in shown)
        print(f"x{r['scale']:<5}{r['rows']:>10,}{r['seconds']:>9.1f}"
              f"{r['peak_tree_rss_mb']:>13.0f}{r['max_process_rss_mb']:>14.0f}"
              + "".join(f"{r['components'].get(name, 0):>16.1f}" for name in shown)
              + f"{other:>13.1f}{r['outside_components_s']:>15.1f}"
              + f"{'yes' if r['pushed'] else 'no':>8}{r['auc'] or 0:>10.4f}"
              + f"{r['holdout_auc'] or 0:>13.4f}")
    for g in growths:
        parts = [f"total {g['total']}"] + [f"{k} {v}" for k, v in g["components"].items()]
        print(f"growth exponent x{g['from']} -> x{g['to']}: " + ", ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100",
                        help="comma-separated multiples of the base rows (default 1,10,100)")
    parser.add_argument("--base-rows", type=int, default=None,
                        help="use the first N taxi rows as the base (default: all 15,002)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help=f"where the scaled CSVs are kept (default {DEFAULT_CACHE})")
    parser.add_argument("--timeout", type=float, default=None,
                        help="give up on a run after this many seconds")
    args = parser.parse_args()
    try:
        sizes = sorted({int(size) for size in args.sizes.split(",")})
    except ValueError:
        parser.error(f"--sizes takes comma-separated integers, not {args.sizes!r}")
    if not sizes or sizes[0] < 1:
        parser.error("--sizes must be positive integers")

    results = []
    holdout = holdout_data(args.cache_dir, args.base_rows)
    for scale in sizes:
        data_dir, rows = scaled_data(args.cache_dir, scale, args.base_rows)
        output_dir = Path(tempfile.mkdtemp(prefix=f"bench-scaling-x{scale}-"))
        try:
            measured, summary = run_pipeline(data_dir, output_dir, label=f"x{scale} run",
                                             timeout=args.timeout)
            held_out = (round(holdout_auc(output_dir, holdout), 4)
                        if summary.get("pushed") else None)
        finally:
            shutil.rmtree(output_dir, ignore_errors=True)
        components = {c["id"]: c["seconds"] or 0.0 for c in summary["components"]}
        results.append({
            "scale": scale, "rows": rows, "rows_by_split": summary.get("rows"),
            "seconds": round(measured.seconds, 1),
            "components": components,
            "states": {c["id"]: c["state"] for c in summary["components"]},
            "outside_components_s": round(measured.seconds - sum(components.values()), 1),
            "peak_tree_rss_mb": round(measured.peak_tree_rss_mb),
            "max_process_rss_mb": round(measured.max_process_rss_mb),
            "auc": summary["metrics"].get("auc"),
            "holdout_auc": held_out,
            # What the CLI chose for this size (pipeline/scale.py).
            "chosen": summary.get("scale"),
            "load_average": os.getloadavg(),
            # An unblessed model is not pushed: no Pusher time, no servable check.
            "pushed": bool(summary.get("pushed")),
            "data": str(data_dir / "span-1" / "data.csv"),
        })
        print(f"x{scale}: {rows:,} rows, {measured.seconds:.1f} s, "
              f"peak RSS {measured.peak_tree_rss_mb:.0f} MB", file=sys.stderr, flush=True)
    growths = [growth(a, b) for a, b in itertools.pairwise(results)]
    print_table(results, growths)
    print(json.dumps({"sizes": results, "growth": growths}))


if __name__ == "__main__":
    main()
