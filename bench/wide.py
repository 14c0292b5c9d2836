"""How the pipeline's cost grows with the number of columns: synthetic wide CSVs
(`--columns` numeric columns x `--rows` rows plus a 0/1 label), one cold run each, with
per-component wall time, total wall time and peak memory of the process tree.

Each run gets a fresh temporary data directory (so the schema is inferred on the run,
as for a user's first run) and a fresh output directory, both deleted afterwards;
the total includes process start-up and schema inference. The label is 1 when a fixed
linear mix of the first ten columns plus noise is positive, so the AUC says whether
the model learned anything (about 0.9 is reachable). About 1% of the cells are empty.
`--repo DIR` runs another checkout's pipeline on the same data (e.g. the main branch,
for a before/after comparison in one session).

    scripts/in-env python bench/wide.py [--columns 200,2000] [--rows 10000]
                                        [--repo DIR] [--timeout S]
"""

import argparse
import csv
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import REPO_ROOT, run_measured  # noqa: E402

LABEL = "target"
# Columns that carry the signal; the others are noise the model has to ignore.
INFORMATIVE = 10
MISSING_SHARE = 0.01
# Components shown in the table even when fast (the rest are summed in "other").
MIN_SHOWN_SECONDS = 1.0


def column_names(columns: int) -> list[str]:
    return [f"x{index:04d}" for index in range(columns)]


def write_wide_csv(path: Path, columns: int, rows: int, seed: int = 0) -> None:
    """`rows` rows of `columns` standard-normal columns (each with its own scale and
    offset) and the label; deterministic for a seed."""
    rng = random.Random(seed)
    weights = [rng.choice((-1, 1)) * rng.uniform(0.5, 1.5) for _ in range(INFORMATIVE)]
    scales = [(rng.uniform(0.1, 100.0), rng.uniform(-50.0, 50.0)) for _ in range(columns)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*column_names(columns), LABEL])
        for _ in range(rows):
            values = [rng.gauss(0.0, 1.0) for _ in range(columns)]
            signal = sum(w * v for w, v in zip(weights, values, strict=False))
            label = int(signal + rng.gauss(0.0, 1.0) > 0)
            cells = ["" if rng.random() < MISSING_SHARE else f"{v * scale + offset:.4g}"
                     for v, (scale, offset) in zip(values, scales, strict=True)]
            writer.writerow([*cells, label])


def run_once(repo: Path, columns: int, rows: int, timeout: float | None) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix=f"bench-wide-{columns}-"))
    try:
        data_dir = scratch / "data"
        write_wide_csv(data_dir / "data.csv", columns, rows)
        try:
            measured = run_measured(
                [sys.executable, "-m", "pipeline", "run", "--data-dir", str(data_dir),
                 "--output-dir", str(scratch / "out"), "--label", LABEL, "--json"],
                label=f"{columns} columns", cwd=repo, timeout=timeout,
                env={**os.environ, "PYTHONPATH": str(repo)})
        except SystemExit:
            # Failed or timed out (run_measured printed why): a row, not the end of the
            # comparison.
            return {"columns": columns, "rows": rows, "repo": str(repo), "seconds": None,
                    "failed": True}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary = json.loads(measured.stdout)
    components = {c["id"]: c["seconds"] or 0.0 for c in summary["components"]}
    return {
        "columns": columns, "rows": rows, "repo": str(repo),
        "seconds": round(measured.seconds, 1),
        "components": components,
        "outside_components_s": round(measured.seconds - sum(components.values()), 1),
        "peak_tree_rss_mb": round(measured.peak_tree_rss_mb),
        "auc": summary["metrics"].get("auc"),
        "pushed": bool(summary.get("pushed")),
    }


def print_table(results: list[dict]) -> None:
    done = [r for r in results if not r.get("failed")]
    shown = list(dict.fromkeys(
        name for r in done for name, seconds in r["components"].items()
        if seconds >= MIN_SHOWN_SECONDS))
    print(f"{'columns':>8}{'rows':>8}{'total s':>9}{'peak MB':>9}"
          + "".join(f"{name[:14]:>15}" for name in shown)
          + f"{'other':>7}{'outside':>9}{'auc':>8}  repo")
    for r in results:
        if r.get("failed"):
            print(f"{r['columns']:>8}{r['rows']:>8}   failed or timed out  {r['repo']}")
            continue
        other = sum(s for name, s in r["components"].items() if name not in shown)
        auc = f"{r['auc']:.4f}" if r["auc"] is not None else "-"
        print(f"{r['columns']:>8}{r['rows']:>8}{r['seconds']:>9.1f}{r['peak_tree_rss_mb']:>9}"
              + "".join(f"{r['components'].get(name, 0):>15.1f}" for name in shown)
              + f"{other:>7.1f}{r['outside_components_s']:>9.1f}{auc:>8}  {r['repo']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", default="200,2000",
                        help="comma-separated column counts (default 200,2000)")
    parser.add_argument("--rows", type=int, default=10_000, help="rows per CSV (default 10000)")
    parser.add_argument("--repo", type=Path, action="append",
                        help="checkout whose pipeline runs (repeatable; default this one)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="give up on a run after this many seconds")
    args = parser.parse_args()
    try:
        counts = [int(count) for count in args.columns.split(",")]
    except ValueError:
        parser.error(f"--columns takes comma-separated integers, not {args.columns!r}")
    if not counts or min(counts) < INFORMATIVE or args.rows < 100:
        parser.error(f"--columns must be at least {INFORMATIVE} and --rows at least 100")
    repos = [repo.expanduser().resolve() for repo in args.repo or [REPO_ROOT]]
    results = []
    for columns in counts:
        for repo in repos:
            result = run_once(repo, columns, args.rows, args.timeout)
            results.append(result)
            print(f"{columns} columns x {args.rows} rows ({repo}): "
                  f"{result['seconds'] or 'failed'} s", file=sys.stderr, flush=True)
    print_table(results)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
