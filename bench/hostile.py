"""The hostile-input catalogue of issue 18: hostile files, paths and requests against
every command that reads user files, each judged on what the issue promises: no
traceback, no hang, no silent wrong result, no write outside the case's data and
output directories, and an unchanged serving directory.

Each case is `python -m pipeline ARGS` (`pipeline.cli.main`) in a child process forked
from this one after TensorFlow, TFX and TFDV are imported (a fresh interpreter spends
10-20 s on those imports per case; `--fresh` runs every case as its own
`python -m pipeline` process instead). A child that outlives its timeout is killed
and counts as a hang; its heap is limited to MEMORY_LIMIT (a reader of /dev/zero
would otherwise fill the machine's memory and end with a MemoryError traceback).
Around every case the script takes a snapshot (path, type, size,
mtime and sha256, symlinks never followed) of its work folder, less the case's allowed
folders, and of the checkout (less .git and caches), and a hash of the shared run's
serving folder; a sentinel folder outside every data and output folder holds the
files the planted symlinks and hard links point to.

The cases that need a trained and pushed model share one small run (a two-class
`--label` dataset of 300 rows, made first as a fresh process). Cases whose input is
acceptable and that would otherwise train run with `--beam portable` and no job
endpoint: every data, label and schema check (and the schema inference) runs, then
the run stops with that flag's sentence, which is the expected outcome ("checked").

    scripts/in-env python bench/hostile.py [--work DIR] [--only TEXT]... [--skip TEXT]...
                                           [--fresh] [--json FILE]

Prints one table row per case and exits 1 when any case fails.
"""

import argparse
import dataclasses
import gzip
import hashlib
import io
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The exit codes README documents (pipeline/exit_codes.py).
DOCUMENTED = {0, 1, 2, 3, 4, 5, 6}
CHECKED = "portable profile needs a job endpoint"
SKIP_IN_ROOT = {".git", "__pycache__", ".pytest_cache", ".ruff_cache"}


@dataclasses.dataclass
class Case:
    name: str
    argv: list
    allowed: list  # folders the case may write in
    # "refuse": exit 2 with an `error:` sentence; "checked": the data checks pass (the
    # portable-profile sentence); "ok": exit 0; "clean": any documented code, no traceback.
    expect: str = "refuse"
    words: tuple = ()  # words the first error line must hold
    timeout: int = 120
    setup: object = None  # called just before the case runs


@dataclasses.dataclass
class Result:
    case: Case
    code: object
    first: str
    traceback: bool
    stray: list
    serving_changed: bool
    seconds: float
    problem: str


# --- files ------------------------------------------------------------------------------

def rows(count=300):
    """A learnable two-class/regression table: x decides the label."""
    return "".join(f"{i % 100},{(i * 7) % 13},{'ab'[i % 100 > 50]},{(i % 100) * 1.5}\n"
                   for i in range(count))


HEADER = "x,y,cls,reg\n"
TAXI_HEADER = None  # filled from the packaged taxi CSV


def taxi_lines(count=200):
    from pipeline.data import packaged_taxi_csv

    with packaged_taxi_csv().open(encoding="utf-8") as handle:
        return [next(handle) for _ in range(count + 1)]


def write(path: Path, body):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(body, str):
        body = body.encode("utf-8")
    path.write_bytes(body)
    return path


def task_args(task):
    return {"cls": ["--label", "cls", "--task", "classification", "--exclude", "reg"],
            "reg": ["--label", "reg", "--task", "regression", "--exclude", "cls"],
            "taxi": []}[task]


def good_text(task):
    if task == "taxi":
        return "".join(taxi_lines())
    return HEADER + rows()


def with_row(task, row_for_generic, row_for_taxi=None):
    """The task's good file with one hostile row inserted after the fifth."""
    if task == "taxi":
        lines = taxi_lines()
        return "".join(lines[:6]) + (row_for_taxi or "") + "".join(lines[6:])
    lines = (HEADER + rows()).splitlines(keepends=True)
    return "".join(lines[:6]) + row_for_generic + "".join(lines[6:])


def taxi_row_with(field_value):
    """A taxi row whose `company` (a string column) holds `field_value`."""
    lines = taxi_lines(2)
    header = lines[0].rstrip("\n").split(",")
    cells = lines[1].rstrip("\n").split(",")
    cells[header.index("company")] = field_value
    return ",".join(cells) + "\n"


# --- snapshots --------------------------------------------------------------------------

# sha256 by (path, inode, size, mtime, ctime): a file none of these changed is not re-read.
_HASHES = {}


def snapshot(top: Path, skip: list) -> dict:
    state = {}
    skip = [str(path) for path in skip]
    for folder, dirs, files in os.walk(top, followlinks=False):
        if any(folder == s or folder.startswith(s + os.sep) for s in skip):
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if d not in SKIP_IN_ROOT]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            if any(path == s or path.startswith(s + os.sep) for s in skip):
                continue
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                state[path] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                key = (path, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
                if key not in _HASHES:
                    digest = hashlib.sha256()
                    with open(path, "rb") as handle:
                        for block in iter(lambda: handle.read(1 << 20), b""):
                            digest.update(block)
                    _HASHES[key] = digest.hexdigest()
                state[path] = ("file", info.st_size, info.st_mtime_ns, _HASHES[key])
            else:
                state[path] = ("special", stat.S_IFMT(info.st_mode))
    return state


def changes(before: dict, after: dict) -> list:
    return sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))


def tree_hash(top: Path) -> str:
    if not top.exists():
        return "missing"
    return hashlib.sha256(json.dumps(sorted(snapshot(top, []).items()),
                                     default=str).encode()).hexdigest()


# --- running ----------------------------------------------------------------------------

# Heap a case may take: a reader of /dev/zero fills memory, and the machine is shared.
MEMORY_LIMIT = 6 * 2**30


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))


def _child(argv, out_path, err_path):
    os.setpgid(0, 0)
    _limit_memory()
    for fd, path in ((1, out_path), (2, err_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), encoding="utf-8",
                                  line_buffering=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(2), "wb"), encoding="utf-8",
                                  line_buffering=True)
    os.chdir(ROOT)
    code = 1
    try:
        from pipeline.cli import main

        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # what Python would print for an uncaught exception
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code or 0)


def execute(argv, timeout, logs: Path, fresh: bool):
    out_path, err_path = logs / "stdout", logs / "stderr"
    start = time.monotonic()
    if fresh:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            process = subprocess.Popen([sys.executable, "-m", "pipeline", *argv], cwd=ROOT,
                                       stdout=out, stderr=err, start_new_session=True,
                                       preexec_fn=_limit_memory,
                                       env={**os.environ, "PYTHONPATH": str(ROOT)})
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                code = "hang"
    else:
        pid = os.fork()
        if pid == 0:
            _child(argv, out_path, err_path)
        code = None
        while time.monotonic() - start < timeout:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.05)
        if code is None:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            code = "hang"
    return (code, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"),
            time.monotonic() - start)


def judge(case, code, stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    first = errors[0] if errors else (lines[0] if lines else "")
    if code == "hang":
        return first, "hang"
    if "Traceback (most recent call last)" in stderr:
        return first, "traceback"
    if code not in DOCUMENTED:
        return first, f"undocumented exit {code}"
    if case.expect == "ok" and code != 0:
        return first, f"expected exit 0, got {code}"
    if case.expect == "checked":
        if code != 2 or CHECKED not in first:
            return first, f"expected the checks to pass, got {code}"
        return first, ""
    if case.expect == "refuse":
        if code != 2:
            return first, f"expected a refusal (2), got {code}"
        if not errors:
            return first, "no error sentence"
        if len(errors) > 1:
            return first, "more than one error line"
        if CHECKED in first:
            return first, "accepted (not refused)"
        missing = [word for word in case.words if word not in first]
        if missing:
            return first, f"sentence lacks {missing}"
    # 3, 5 and 6 are verdicts (data gate, monitor alert, not blessed), said on stdout.
    if case.expect == "clean" and code in (1, 2, 4) and not errors:
        return first, "no error sentence"
    return first, ""


def run_case(case, work: Path, serving: Path, fresh: bool) -> Result:
    if case.setup:
        case.setup()
    allowed = [Path(path) for path in case.allowed]
    allowed += [path.resolve() for path in allowed]
    logs = work / "_logs"
    logs.mkdir(exist_ok=True)
    skip = [*allowed, logs]
    before = {**snapshot(work, skip), **snapshot(ROOT, skip)}
    served = tree_hash(serving)
    code, _, stderr, seconds = execute(case.argv, case.timeout, logs, fresh)
    after = {**snapshot(work, skip), **snapshot(ROOT, skip)}
    stray = changes(before, after)
    serving_changed = tree_hash(serving) != served
    first, problem = judge(case, code, stderr)
    if stray:
        problem = "; ".join(filter(None, [problem, f"wrote outside: {stray[0]}"]))
    if serving_changed:
        problem = "; ".join(filter(None, [problem, "serving folder changed"]))
    return Result(case, code, first, "Traceback (most recent" in stderr, stray,
                  serving_changed, seconds, problem)


# --- the catalogue ----------------------------------------------------------------------

def catalogue(work: Path, shared: dict) -> list:
    sentinel = work / "sentinel"
    secret = sentinel / "secret.txt"
    cases = []
    fifo_count = [0]

    def fifo(path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        fifo_count[0] += 1
        return path

    def data_case(name, task, make, expect="refuse", words=(), extra=(), timeout=120,
                  data_name="data"):
        folder = work / "cases" / f"{name}-{task}"
        data = folder / data_name
        out = folder / "out"
        make(data)
        argv = ["run", "--data-dir", str(data), "--output-dir", str(out), *task_args(task),
                "--beam", "portable", *extra]
        cases.append(Case(f"run {name} [{task}]", argv, [data, out], expect, words, timeout))

    tasks = ("cls", "reg", "taxi")
    lines = {task: good_text(task) for task in tasks}
    for task in tasks:
        hostile_rows = {
            "quoted newline": ('7,"two\nlines",a,3.0\n', taxi_row_with('"two\nlines"'),
                               ["line 7", "line break"]),
            "latin-1 bytes": (None, None, ["not UTF-8"]),
            "over the field limit": (f"9,{'z' * 131073},a,1.0\n",
                                     taxi_row_with("z" * 131073), ["longer than"]),
        }
        for name, (row, taxi_row, words) in hostile_rows.items():
            if name == "latin-1 bytes":
                def make(data, task=task):
                    body = with_row(task, "8,caf\u00e9,a,2.0\n", taxi_row_with("caf\u00e9"))
                    write(data / "data.csv", body.replace("caf\u00e9", "CAFE_PLACEHOLDER")
                          .encode().replace(b"CAFE_PLACEHOLDER", "caf\u00e9".encode("latin-1")))
            else:
                def make(data, task=task, row=row, taxi_row=taxi_row):
                    write(data / "data.csv", with_row(task, row, taxi_row))
            data_case(name, task, make, words=words)
        data_case("NUL byte in a field", task, lambda data, task=task: write(
            data / "data.csv", with_row(task, "5,1\x002,a,1.0\n", taxi_row_with("A\x00B"))),
            expect="clean")
        data_case("CRLF line ends", task, lambda data, task=task: write(
            data / "data.csv", lines[task].replace("\n", "\r\n")), expect="checked")
        data_case("BOM then latin-1", task, lambda data, task=task: write(
            data / "data.csv", b"\xef\xbb\xbf" + with_row(task, "8,XX,a,2.0\n",
                                                          taxi_row_with("XX")).encode()
            .replace(b"XX", "\u00e9t\u00e9".encode("latin-1"))), words=["not UTF-8"])
        data_case("gzip bytes named .csv", task, lambda data, task=task: write(
            data / "data.csv", gzip.compress(lines[task].encode())))
        data_case("a folder named x.csv", task, lambda data, task=task: (
            write(data / "data.csv", lines[task]), (data / "x.csv").mkdir()))
        data_case("symlinked CSV to /dev/zero", task, lambda data, task=task: (
            write(data / "data.csv", lines[task]),
            (data / "zero.csv").symlink_to("/dev/zero")), timeout=60)
        data_case("FIFO named data.csv", task, lambda data, task=task: (
            write(data / "a.csv", lines[task]), fifo(data / "b.csv")), timeout=60)
        data_case("symlinked CSV to a file outside", task, lambda data, task=task: (
            write(sentinel / f"outside-{task}.csv", lines[task]),
            data.mkdir(parents=True),
            (data / "data.csv").symlink_to(sentinel / f"outside-{task}.csv")),
            expect="checked")
        data_case("symlink loop named data.csv", task, lambda data, task=task: (
            data.mkdir(parents=True), (data / "data.csv").symlink_to(data / "data.csv")))
        data_case("symlink at schema.partial", task, lambda data, task=task: (
            write(data / "data.csv", lines[task]),
            (data / "schema.partial").symlink_to(secret),
            (data / "schema.pbtxt.partial").symlink_to(secret)),
            expect="checked")
        data_case("huge single line", task, lambda data, task=task: write(
            data / "data.csv", lines[task] + "1," + "9" * (20 << 20) + ",a,1.0\n"),
            words=["longer than"])
        data_case("spans whose headers differ", task, lambda data, task=task: (
            write(data / "span-1" / "data.csv", lines[task]),
            write(data / "span-2" / "data.csv",
                  lines[task].replace("x,y,", "x,z,", 1).replace("trip_miles", "trip_km", 1))),
            expect="clean", timeout=180)
        data_case("data dir with a newline", task, lambda data, task=task: (
            write(data / "data.csv", lines[task])), words=["control character"],
            data_name="da ta\nR")
        data_case("data dir with spaces, unicode", task, lambda data, task=task: (
            write(data / "data.csv", lines[task])), expect="checked",
            data_name="da ta Région 城")
        data_case("data dir with [ and *", task, lambda data, task=task: (
            write(data / "data.csv", lines[task])), words=["file pattern"], data_name="d[1]*")
        data_case("symlinked data dir", task, lambda data, task=task: (
            write(data.parent / "real" / "data.csv", lines[task]),
            data.symlink_to(data.parent / "real")), expect="checked")
        if task != "taxi":
            for header, words, what in (
                    ("x,,cls,reg\n", ["no name"], "empty header cell"),
                    ("x,   ,cls,reg\n", ["no name"], "whitespace-only header"),
                    ("a b,a_b,cls,reg\n", ["both be the model input"], "colliding names"),
                    ("x,x,cls,reg\n", ["two columns named"], "duplicate names")):
                data_case(what, task, lambda data, header=header: write(
                    data / "data.csv", header + rows()), words=words)
            data_case("10k columns", task, lambda data: write(data / "data.csv", (
                ",".join(f"c{i}" for i in range(10_000)) + ",cls,reg\n" + "".join(
                    ",".join(str((r * i) % 5) for i in range(10_000))
                    + f",{'ab'[r % 2]},{r}.5\n" for r in range(20)))),
                expect="clean", timeout=300)
            data_case("label inf and -inf among numbers", task, lambda data: write(
                data / "data.csv", HEADER + rows().replace(",a,1.5\n", ",a,inf\n", 1)
                .replace(",b,76.5\n", ",b,-inf\n", 1)),
                # For the classifier, reg is an --exclude'd column: not a feature.
                expect="refuse" if task == "reg" else "checked", words=["reg"])
            data_case("1e400 in a feature", task, lambda data: write(
                data / "data.csv", HEADER + rows().replace("\n1,", "\n1e400,", 1)),
                expect="refuse", words=["1e400"])
            data_case("NaN spelled three ways as the whole label", task, lambda data: write(
                data / "data.csv", HEADER + "".join(
                    f"{i},1,{('NaN', 'nan', 'NAN')[i % 3]},{('NaN', 'nan', 'NAN')[i % 3]}\n"
                    for i in range(30))), words=["cls" if task == "cls" else "finite"],
                expect="refuse" if task == "reg" else "clean")
        data_case("schema is binary garbage", task, lambda data, task=task: (
            write(data / "data.csv", lines[task]),
            write(data.parent / "garbage.pbtxt", os.urandom(4096))),
            extra=["--schema", str(work / "cases" / f"schema is binary garbage-{task}"
                                   / "garbage.pbtxt")], words=["schema"])
        data_case("schema is a FIFO", task, lambda data, task=task: (
            write(data / "data.csv", lines[task]), fifo(data.parent / "fifo.pbtxt")),
            extra=["--schema", str(work / "cases" / f"schema is a FIFO-{task}" / "fifo.pbtxt")],
            timeout=60, words=["schema"])
        data_case("schema is /dev/zero", task, lambda data, task=task: (
            write(data / "data.csv", lines[task])),
            extra=["--schema", "/dev/zero"], timeout=60, words=["schema"])
        data_case("schema is a huge file", task, lambda data, task=task: (
            write(data / "data.csv", lines[task]),
            write(data.parent / "huge.pbtxt", b"# " + b"x" * (64 << 20) + b"\n")),
            extra=["--schema", str(work / "cases" / f"schema is a huge file-{task}"
                                   / "huge.pbtxt")], timeout=120, words=["schema"])

    # --- the shared trained run: predict, monitor, serving, rollback, schema-* ---------
    out, data, serving = shared["out"], shared["data"], shared["serving"]
    version = shared["version"]
    requests = work / "requests"
    requests.mkdir(exist_ok=True)
    good = {"instances": [{"x": 3, "y": 1}]}

    def request(name, body):
        return write(requests / name, body)

    def predict_case(name, path_or_make, expect="refuse", words=(), extra=(), allowed=(),
                     timeout=120):
        path = path_or_make() if callable(path_or_make) else path_or_make
        cases.append(Case(f"predict {name}", ["predict", str(path), "--output-dir", str(out),
                                              *extra], [out / "logs", *allowed], expect,
                          words, timeout))

    predict_case("a good request (control)", lambda: request("good.json", json.dumps(good)),
                 expect="ok")
    predict_case("not JSON", lambda: request("bad.json", "instances: [1, 2"))
    predict_case("not UTF-8", lambda: request("latin.json", '{"instances": [{"x": "\xe9"}]}'
                                              .encode("latin-1")))
    predict_case("NUL bytes", lambda: request("nul.json", b'{"instances": [{"x": 1\x00}]}'))
    predict_case("missing file", requests / "missing.json")
    predict_case("a directory", lambda: (requests / "dir.json").mkdir() or requests / "dir.json")
    predict_case("/dev/zero", Path("/dev/zero"), timeout=60)
    predict_case("symlink to /dev/zero", lambda: (
        (requests / "zero.json").symlink_to("/dev/zero"), requests / "zero.json")[1], timeout=60)
    predict_case("a FIFO", lambda: fifo(requests / "fifo.json"), timeout=60)
    predict_case("9 MiB body", lambda: request("big.json", '{"instances": [' + ",".join(
        ['{"x": 1, "y": 2}'] * 500_000) + "]}"), words=["MiB"])
    predict_case("10,001 rows", lambda: request("rows.json", json.dumps(
        {"instances": [{"x": 1, "y": 1}] * 10_001})), words=["10,001"])
    predict_case("deep nesting", lambda: request("deep.json", "[" * 100_000 + "]" * 100_000))
    predict_case("a string for an int", lambda: request("string.json", json.dumps(
        {"instances": [{"x": "3", "y": 1}]})))
    predict_case("true for an int", lambda: request("true.json", json.dumps(
        {"instances": [{"x": True, "y": 1}]})))
    predict_case("1e400", lambda: request("huge-number.json", '{"instances": [{"x": 1e400}]}'))
    predict_case("CSV request, latin-1", lambda: request("latin.csv", "x,y\n\xe9,1\n"
                                                          .encode("latin-1")))
    predict_case("CSV request, quoted newline", lambda: request("newline.csv",
                                                                'x,y\n"1\n2",1\n'))
    predict_case("CSV request, empty", lambda: request("empty.csv", ""))
    predict_case("CSV request, FIFO", lambda: fifo(requests / "fifo.csv"), timeout=60)
    predict_case("CSV request, gzip", lambda: request("gz.csv", gzip.compress(b"x,y\n1,2\n")))
    predict_case("request path with newline and unicode", lambda: request(
        "re quest\n城.json", json.dumps(good)), expect="ok")
    logs_ok = work / "predict-logs" / "l[1]* \nRé"
    predict_case("--log-dir with glob chars, newline, unicode",
                 lambda: request("good2.json", json.dumps(good)), expect="ok",
                 extra=["--log-dir", str(logs_ok)], allowed=[logs_ok])
    predict_case("--log-dir is a file", lambda: request("good3.json", json.dumps(good)),
                 extra=["--log-dir", str(secret)])
    link_dir = work / "predict-logs" / "link"

    def log_link():
        link_dir.parent.mkdir(parents=True, exist_ok=True)
        if not link_dir.is_symlink():
            link_dir.symlink_to(sentinel)
        return request("good4.json", json.dumps(good))

    predict_case("--log-dir is a symlink to a folder", log_link, expect="ok",
                 extra=["--log-dir", str(link_dir)], allowed=[link_dir, sentinel])
    predict_case("--log-dir is /dev/null", lambda: request("good5.json", json.dumps(good)),
                 extra=["--log-dir", "/dev/null"])

    # monitor
    def monitor_case(name, make, extra=(), expect="refuse", words=(), timeout=180):
        target = make()
        cases.append(Case(f"monitor {name}", ["monitor", "--output-dir", str(out), *extra,
                                              *(["--data-dir", str(target)] if target else [])],
                          [out], expect, words, timeout))

    def monitor_data(name, body_or_make):
        folder = work / "monitor" / name / "span-1"
        if callable(body_or_make):
            body_or_make(folder)
        else:
            write(folder / "data.csv", body_or_make)
        return folder.parent

    monitor_case("--data-dir latin-1", lambda: monitor_data(
        "latin", (HEADER + rows(20)).encode() + "8,caf\u00e9,a,1\n".encode("latin-1")))
    monitor_case("--data-dir quoted newline", lambda: monitor_data(
        "newline", HEADER + rows(20) + '1,"a\nb",a,1\n'))
    monitor_case("--data-dir FIFO", lambda: monitor_data(
        "fifo", lambda folder: fifo(folder / "data.csv")), timeout=60)
    monitor_case("--data-dir /dev/zero CSV", lambda: monitor_data(
        "zero", lambda folder: (folder.mkdir(parents=True),
                                (folder / "data.csv").symlink_to("/dev/zero"))), timeout=60)
    monitor_case("--data-dir with glob chars", lambda: monitor_data(
        "g[1]*", HEADER + rows(40)), expect="clean")
    good_span = monitor_data("good", HEADER + rows(60))
    monitor_case("--data-dir gzip", lambda: monitor_data(
        "gz", gzip.compress((HEADER + rows(40)).encode())))
    logs_dir = work / "monitor-logs"

    def garbage_logs():
        write(logs_dir / "garbage" / "prediction_log-1.tfrecord", os.urandom(1000))
        return None

    monitor_case("--serving-logs garbage", garbage_logs,
                 extra=["--data-dir", str(good_span), "--serving-logs", str(logs_dir / "garbage")])
    monitor_case("--serving-logs a file", lambda: None,
                 extra=["--data-dir", str(good_span), "--serving-logs", str(secret)])
    monitor_case("--serving-logs missing", lambda: None,
                 extra=["--data-dir", str(good_span), "--serving-logs", str(logs_dir / "none")])

    def fifo_logs():
        fifo(logs_dir / "fifo" / "prediction_log-1.tfrecord")

    monitor_case("--serving-logs holding a FIFO", fifo_logs,
                 extra=["--data-dir", str(good_span), "--serving-logs", str(logs_dir / "fifo")],
                 timeout=60)

    # replay (refusals only: a replay trains per span)
    for name, make in (("latin-1", lambda folder: write(folder / "span-1" / "data.csv", (
            HEADER + rows(20)).encode() + b"1,\xe9,a,1\n")),
            ("FIFO", lambda folder: fifo(folder / "span-1" / "data.csv")),
            ("/dev/zero", lambda folder: ((folder / "span-1").mkdir(parents=True),
                                          (folder / "span-1" / "data.csv").symlink_to(
                                              "/dev/zero"))),
            ("glob chars", None)):
        folder = work / "replay" / (name.replace("/", "") if make else "r[1]*")
        if make:
            make(folder)
        else:
            write(folder / "span-1" / "data.csv", HEADER + rows(20))
        replay_out = work / "replay-out" / folder.name
        cases.append(Case(f"replay --data-dir {name}", [
            "replay", "--data-dir", str(folder), "--output-dir", str(replay_out),
            "--run-args", "--label cls --exclude reg"], [folder, replay_out], "refuse",
            (), 60))

    # rollback and serving-side symlinks
    models_config = serving / "models.config"

    def plant(link: Path, target: Path):
        def setup():
            if link.is_symlink() or link.exists():
                return
            link.symlink_to(target)
        return setup

    cases.append(Case("rollback with models.config a symlink to a file outside", [
        "rollback", "--to", str(version), "--output-dir", str(out)], [out], "clean",
        setup=plant(models_config, secret)))
    cases.append(Case("rollback to a version that does not exist", [
        "rollback", "--to", "999", "--output-dir", str(out)], [out], "refuse"))
    cases.append(Case("rollback --output-dir missing", [
        "rollback", "--output-dir", str(work / "nowhere")], [], "refuse"))
    cases.append(Case("predict with models.config a symlink to a file outside", [
        "predict", str(requests / "good.json"), "--output-dir", str(out)], [out / "logs"],
        "clean"))

    # schema-diff/update on the shared run
    cases.append(Case("schema-diff (control)", ["schema-diff", "--output-dir", str(out)],
                      [out], "ok"))

    def garbage_schema():
        schema = data / "schema.pbtxt"
        (work / "schema-backup").write_bytes(schema.read_bytes())
        schema.write_bytes(os.urandom(2048))

    def restore_schema():
        (data / "schema.pbtxt").write_bytes((work / "schema-backup").read_bytes())

    cases.append(Case("schema-diff with a garbage curated schema", [
        "schema-diff", "--output-dir", str(out)], [out], "refuse", ("schema",),
        setup=garbage_schema))
    cases.append(Case("schema-update with a garbage curated schema", [
        "schema-update", "--all", "--output-dir", str(out)], [out, data], "refuse",
        ("schema",)))

    def fifo_schema():
        restore_schema()
        (data / "schema.pbtxt").rename(work / "schema-real")
        fifo(data / "schema.pbtxt")

    cases.append(Case("schema-diff with the curated schema a FIFO", [
        "schema-diff", "--output-dir", str(out)], [out], "refuse", ("schema",), 60,
        setup=fifo_schema))

    def link_schema():
        (data / "schema.pbtxt").unlink()
        (data / "schema.pbtxt").symlink_to(work / "schema-real")

    cases.append(Case("schema-update with the curated schema a symlink outside", [
        "schema-update", "--all", "--output-dir", str(out)], [out, data], "clean",
        setup=link_schema))
    cases.append(Case("schema-diff --output-dir with glob chars", [
        "schema-diff", "--output-dir", str(work / "o[1]*")], [], "refuse"))

    # output-side symlinks and hard links on real (cached) runs of the shared data
    def restore():
        link = data / "schema.pbtxt"
        if link.is_symlink():
            link.unlink()
            shutil.copy(work / "schema-real", link)

    run_argv = ["run", "--data-dir", str(data), "--output-dir", str(out), "--label", "cls",
                "--exclude", "reg", "--train-steps", "20"]

    def lock_symlink():
        restore()
        lock = out / ".run.lock"
        if lock.exists() or lock.is_symlink():
            lock.unlink()
        lock.symlink_to(secret)

    cases.append(Case("run with .run.lock a symlink to a file outside", run_argv, [out, data],
                      "refuse", ("symbolic link",), 300, setup=lock_symlink))

    def lock_hardlink():
        lock = out / ".run.lock"
        lock.unlink()
        os.link(secret, lock)

    cases.append(Case("run with .run.lock a hard link to a file outside", run_argv,
                      [out, data], "refuse", (), 300, setup=lock_hardlink))

    def dataset_symlink():
        (out / ".run.lock").unlink()
        record = out / "dataset.json"
        shutil.copy(record, work / "dataset-real.json")
        record.unlink()
        record.symlink_to(work / "dataset-real.json")

    cases.append(Case("run with dataset.json a symlink to a file outside", run_argv,
                      [out, data], "clean", (), 300, setup=dataset_symlink))
    cases.append(Case("run with models.config a symlink to a file outside", run_argv,
                      [out, data], "clean", (), 300))
    def unlink_models_config():
        if models_config.is_symlink():
            models_config.unlink()

    linked_out = work / "linked-out"
    cases.append(Case("run --output-dir a symlink to the shared output dir", [
        *run_argv[:4], str(linked_out), *run_argv[5:]], [out, data, linked_out], "ok", (), 600,
        setup=lambda: (unlink_models_config(), linked_out.is_symlink()
                       or linked_out.symlink_to(out))))
    globbed = work / "runs" / "o[1]*?"
    cases.append(Case("run --output-dir with [ * ?", [
        *run_argv[:4], str(globbed), *run_argv[5:]], [globbed, data], "refuse",
        ("file pattern",), 900))
    newline = work / "runs" / "o u t\nR"
    cases.append(Case("run --output-dir with a newline", [
        *run_argv[:4], str(newline), *run_argv[5:]], [newline, data], "refuse",
        ("control character",), 300))
    spaced = work / "runs" / "o u t Ré 城"
    cases.append(Case("run --output-dir with spaces, unicode (full run)", [
        *run_argv[:4], str(spaced), *run_argv[5:]], [spaced, data], "ok", (), 900))
    cases.append(Case("predict from the output dir with spaces, unicode", [
        "predict", str(requests / "good.json"), "--output-dir", str(spaced)],
        [spaced / "logs"], "ok", (), 120))
    cases.append(Case("monitor --output-dir with spaces, unicode", [
        "monitor", "--output-dir", str(spaced), "--data-dir",
        str(work / "monitor" / "good")], [spaced], "clean", (), 300))
    # compile
    compile_out = work / "compile"
    compile_out.mkdir(exist_ok=True)
    (compile_out / "link.json").symlink_to(secret)
    cases.append(Case("compile --output a symlink to a file outside", [
        "compile", "--pipeline-root", "gs://b/root", "--image", "img",
        "--output", str(compile_out / "link.json")], [compile_out], "clean", (), 300))
    cases.append(Case("compile --output a directory", [
        "compile", "--pipeline-root", "gs://b/root", "--image", "img",
        "--output", str(compile_out)], [compile_out], "refuse", (), 300))
    cases.append(Case("compile --data-dir latin-1", [
        "compile", "--pipeline-root", "gs://b/root", "--image", "img", "--label", "cls",
        "--data-dir", str(work / "cases" / "latin-1 bytes-cls" / "data"),
        "--schema-uri", "gs://b/schema.pbtxt", "--output", str(compile_out / "a.json")],
        [compile_out, work / "cases" / "latin-1 bytes-cls"], "refuse", ("not UTF-8",), 300))
    cases.append(Case("compile --data-dir FIFO CSV", [
        "compile", "--pipeline-root", "gs://b/root", "--image", "img", "--label", "cls",
        "--data-dir", str(work / "cases" / "FIFO named data.csv-cls" / "data"),
        "--schema-uri", "gs://b/schema.pbtxt", "--output", str(compile_out / "b.json")],
        [compile_out], "refuse", (), 60))

    # prepare-data
    prep = work / "prepare"

    def prep_case(name, make, extra=(), expect="refuse", folder=None, allowed=None,
                  words=()):
        target = prep / (folder or name.replace(" ", "-").replace("/", ""))
        make(target)
        cases.append(Case(f"prepare-data {name}", [
            "prepare-data", "--dataset", "wine", "--data-dir", str(target), *extra],
            allowed if allowed is not None else [target], expect, tuple(words), 120))

    prep_case("data.csv a symlink to a file outside", lambda target: (
        target.mkdir(parents=True), (target / "data.csv").symlink_to(secret)),
        words=["--force"])
    prep_case("data.csv a symlink outside, --force", lambda target: (
        target.mkdir(parents=True), (target / "data.csv").symlink_to(secret)),
        extra=["--force"], expect="ok")
    prep_case("data.csv a FIFO", lambda target: fifo(target / "data.csv"))
    prep_case("data.csv a FIFO, --force", lambda target: fifo(target / "data.csv"),
              extra=["--force"], expect="clean")
    prep_case("data.csv a folder", lambda target: (target / "data.csv").mkdir(parents=True))
    prep_case("data dir is a file", lambda target: write(target, "x"))
    prep_case("data dir with glob chars, newline, unicode", lambda target: None, expect="ok",
              folder="p[1]* \nRé")

    def symlinked_prep(target):
        (sentinel / "prep-target").mkdir(parents=True, exist_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(sentinel / "prep-target")

    prep_case("symlinked data dir", symlinked_prep, expect="ok",
              allowed=[prep / "symlinked-data-dir", sentinel / "prep-target"])
    return cases


def shared_run(work: Path) -> dict:
    """The small trained and pushed run the serving cases share (made once)."""
    data, out = work / "shared" / "data", work / "shared" / "out"
    if not (out / "serving").exists():
        write(data / "data.csv", HEADER + rows())
        result = subprocess.run(
            [sys.executable, "-m", "pipeline", "run", "--data-dir", str(data), "--output-dir",
             str(out), "--label", "cls", "--exclude", "reg", "--train-steps", "20"],
            cwd=ROOT, capture_output=True, text=True, timeout=1200,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        if result.returncode != 0:
            sys.exit(f"the shared run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    serving = out / "serving" / "cls"
    versions = sorted(int(path.name) for path in serving.iterdir() if path.name.isdigit())
    if not versions:
        sys.exit(f"the shared run pushed nothing to {serving}")
    return {"data": data, "out": out, "serving": serving, "version": versions[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="work folder (default: a new one in /tmp)")
    parser.add_argument("--only", action="append",
                        help="run the cases whose name holds this text (repeatable)")
    parser.add_argument("--skip", action="append", default=[],
                        help="leave out the cases whose name holds this text (repeatable)")
    parser.add_argument("--fresh", action="store_true",
                        help="run every case as its own `python -m pipeline` process")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="hostile-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    # An earlier catalogue's files go; its shared run stays (it takes minutes to make).
    for earlier in work.iterdir():
        if earlier.name != "shared":
            shutil.rmtree(earlier) if earlier.is_dir() and not earlier.is_symlink() \
                else earlier.unlink()
    sentinel = work / "sentinel"
    sentinel.mkdir(exist_ok=True)
    (sentinel / "secret.txt").write_text("the sentinel: nothing may change this file\n")
    if not args.fresh:
        # Imported once here; each forked case starts with them.
        import tensorflow  # noqa: F401
        import tensorflow_data_validation  # noqa: F401
        import tfx.v1  # noqa: F401

        import pipeline.cli  # noqa: F401
    shared = shared_run(work)
    cases = [case for case in catalogue(work, shared)
             if (not args.only or any(text in case.name for text in args.only))
             and not any(text in case.name for text in args.skip)]
    results = []
    print(f"{'case':<62} {'exit':>4} {'tb':>3} {'out':>3} {'srv':>3} {'s':>5}  first stderr line",
          flush=True)
    for case in cases:
        result = run_case(case, work, shared["serving"], args.fresh)
        results.append(result)
        print(f"{case.name[:62]:<62} {str(result.code):>4} "
              f"{'yes' if result.traceback else 'no':>3} {'yes' if result.stray else 'no':>3} "
              f"{'yes' if result.serving_changed else 'no':>3} {result.seconds:5.1f}  "
              f"{result.first[:110]!r}" + (f"\n    FAIL: {result.problem}" if result.problem
                                            else ""), flush=True)
    failed = [result for result in results if result.problem]
    print(f"\n{len(results)} cases, {len(failed)} failed (work folder {work})")
    if args.json:
        args.json.write_text(json.dumps([{
            "case": result.case.name, "command": result.case.argv, "exit": result.code,
            "first_stderr_line": result.first, "traceback": result.traceback,
            "writes_outside": result.stray, "serving_changed": result.serving_changed,
            "problem": result.problem} for result in results], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
