"""How long the inspection commands take: `runs`, `show`, `anomalies`, `models` and
`lineage <newest version>` on an output directory, each as a user runs it (a fresh
`python -m pipeline ...` process, output discarded), `--repeats` times. Prints a table
(median, min and max wall seconds per command; whether TensorFlow, TFX or Beam got
imported) and then one JSON line.

    scripts/in-env python bench/inspection_speed.py [--output-dir outputs] [--repeats 5]

The numbers include Python's start-up and ML Metadata's import, as a user's do; run it
on an output directory with at least one pushed version (`python -m pipeline run`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "tfx", "apache_beam")
# Runs one command in-process like `python -m pipeline`, then names the heavy packages
# it imported (on stderr: the command's own output goes to stdout).
PROBE = (
    "import sys\n"
    "from pipeline.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    "sys.exit(code)\n")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def _newest_version(output_dir: Path) -> int | None:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "models", "--json", "--output-dir",
         str(output_dir)], cwd=REPO_ROOT, env=_env(), capture_output=True, text=True)
    return json.loads(done.stdout)[-1]["version"] if done.returncode == 0 else None


def _time(args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO_ROOT,
                          env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"`{' '.join(args)}` exited with {done.returncode}: {done.stderr.strip()}")
    return seconds


def _imports(args: list[str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO_ROOT, env=_env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return done.stderr.strip().splitlines()[-1].split() if done.stderr.strip() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "outputs")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    output_dir = args.output_dir.expanduser().resolve()
    if not (output_dir / "metadata.db").is_file():
        sys.exit(f"no runs in {output_dir}: run `python -m pipeline run` first")
    commands = [["runs"], ["show"], ["anomalies"], ["models"]]
    version = _newest_version(output_dir)
    if version is not None:
        commands.append(["lineage", str(version)])

    rows = []
    for command in commands:
        argv = [*command, "--output-dir", str(output_dir)]
        _time(argv)  # not counted: the first read warms the file cache
        times = [_time(argv) for _ in range(args.repeats)]
        rows.append({"command": " ".join(command), "median_s": round(statistics.median(times), 3),
                     "min_s": round(min(times), 3), "max_s": round(max(times), 3),
                     "imports": _imports(argv)})

    print(f"{output_dir}, {args.repeats} runs each (fresh processes, wall seconds)")
    print(f"{'command':<22}{'median':>8}{'min':>8}{'max':>8}  TensorFlow/TFX/Beam imported")
    for row in rows:
        print(f"{row['command']:<22}{row['median_s']:>8.2f}{row['min_s']:>8.2f}"
              f"{row['max_s']:>8.2f}  {', '.join(row['imports']) or 'none'}")
    print(json.dumps({"output_dir": str(output_dir), "repeats": args.repeats,
                      "commands": rows}))


if __name__ == "__main__":
    main()
