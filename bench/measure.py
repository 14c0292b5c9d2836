"""Shared by the benchmarks: run one command as a fresh process tree and measure it.

`run_measured` gives the wall time (process start-up included), the peak resident
memory of the whole process tree (VmRSS of every descendant summed, sampled from /proc
every `poll` seconds, so it can miss a spike shorter than that and counts shared pages
once per process), and the largest single process's peak RSS as the kernel recorded it.
A failing command prints the tail of its stderr and stops the benchmark (exit 1).
`run_pipeline` is `python -m pipeline run --json` through it. Standard library only.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

REPO_ROOT = Path(__file__).resolve().parent.parent
STDERR_TAIL_LINES = 25


class Measured(NamedTuple):
    seconds: float
    peak_tree_rss_mb: float  # the sum over the process tree, sampled
    max_process_rss_mb: float  # the largest single process (kernel's ru_maxrss)
    stdout: str


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, for every process in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as stat:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_rss_kb(root: int) -> int:
    """VmRSS summed over `root` and all its descendants, in KiB."""
    children = _children()
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        total += _rss_kb(pid)
        pending.extend(children.get(pid, ()))
    return total


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
    return "\n".join(text[-lines:])


def run_measured(command: list[str], *, label: str, cwd: Path | None = None,
                 env: dict | None = None, stderr_path: Path | None = None,
                 poll: float = 0.2, timeout: float | None = None) -> Measured:
    """Run `command`, wait for it, and measure it; on a non-zero exit print the tail of
    its stderr (kept in `stderr_path`, else a temporary file) and exit 1."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as scratch:
        err_path = stderr_path or Path(scratch) / "stderr"
        out_path = Path(scratch) / "stdout"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.monotonic()
            # Its own session, so a timeout or Ctrl-C ends the whole tree and nothing else.
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err,
                                       start_new_session=True)
            peak = [0]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], tree_rss_kb(process.pid))
                    done.wait(poll)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            timer = threading.Timer(timeout, _kill_group, (process.pid,)) if timeout else None
            if timer:
                timer.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)
            except BaseException:
                _kill_group(process.pid)
                raise
            finally:
                seconds = time.monotonic() - started
                done.set()
                if timer:
                    timer.cancel()
            sampler.join()
            process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            reason = (f"killed after the {timeout:.0f} s timeout"
                      if timeout and seconds >= timeout else f"exit code {process.returncode}")
            kept = f" ({stderr_path})" if stderr_path else ""
            print(f"error: {label} failed ({reason}, {seconds:.1f} s): {' '.join(command)}\n"
                  f"--- last lines of its stderr{kept} ---\n{_tail(err_path)}",
                  file=sys.stderr)
            raise SystemExit(1)
        return Measured(seconds=seconds, peak_tree_rss_mb=peak[0] / 1024,
                        max_process_rss_mb=usage.ru_maxrss / 1024,
                        stdout=out_path.read_text(encoding="utf-8", errors="replace"))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_pipeline(data_dir: Path, output_dir: Path, *, label: str, args: tuple = (),
                 timeout: float | None = None) -> tuple[Measured, dict]:
    """`python -m pipeline run --json` in a fresh process: the measurement and the
    parsed summary."""
    measured = run_measured(
        [sys.executable, "-m", "pipeline", "run", "--data-dir", str(data_dir),
         "--output-dir", str(output_dir), "--json", *args],
        label=label, cwd=REPO_ROOT, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        summary = json.loads(measured.stdout)
    except json.JSONDecodeError:
        print(f"error: {label}: `pipeline run --json` printed no JSON summary:\n"
              f"{measured.stdout[-2000:]}", file=sys.stderr)
        raise SystemExit(1) from None
    return measured, summary
