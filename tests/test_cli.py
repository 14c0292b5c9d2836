"""The CLI's answers to bad input: one line on stderr, a documented exit code, no
traceback. These fail before TensorFlow is imported, so they are fast."""

import os
import shutil
import subprocess
import sys

import pytest

from pipeline.config import REPO_ROOT
from tests.conftest import write_taxi_sample


def _cli(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _one_line_error(result, code, *words):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("args, words", [
    (["run", "--no-such-flag"], ["--no-such-flag"]),
    (["run", "--train-steps", "0"], ["--train-steps"]),
    (["run", "--train-steps", "many"], ["many"]),
    (["run", "--min-auc", "-1"], ["--min-auc"]),
    (["fly"], ["fly"]),
])
def test_bad_flags(args, words):
    _one_line_error(_cli(*args), 2, *words)


def test_missing_data_dir(tmp_path):
    _one_line_error(_cli("run", "--data-dir", str(tmp_path / "nope"),
                         "--output-dir", str(tmp_path / "out")), 2, "does not exist")


def test_data_dir_without_spans(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out")), 2, "span-1")


@pytest.mark.parametrize("content, words", [
    (b"", ["is empty"]),
    (b"fare,tips\n", ["no data rows"]),
    (b"\xff\xfe\x00garbage\x00\n\x81\x82\n", ["cannot read"]),
])
def test_unusable_csv(tmp_path, content, words):
    (tmp_path / "span-1").mkdir()
    (tmp_path / "span-1" / "data.csv").write_bytes(content)
    result = _cli("run", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out"))
    _one_line_error(result, 2, *words)


def test_files_of_one_span_must_share_a_header(tmp_path):
    write_taxi_sample(tmp_path, rows=5)
    (tmp_path / "span-1" / "more.csv").write_text("other,header\n1,2\n")
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out")), 2, "different header")


def test_unwritable_output_dir(tmp_path):
    write_taxi_sample(tmp_path, rows=5)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(blocker / "out")), 2, "output directory")


def test_prepare_data_copies_the_packaged_taxi_csv(tmp_path):
    result = _cli("prepare-data", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    target = tmp_path / "span-1" / "data.csv"
    assert result.stdout.strip() == str(target)
    lines = target.read_text().splitlines()
    assert len(lines) == 15003  # header + 15,002 trips
    assert lines[0].startswith("pickup_community_area,fare,")
    assert not list(tmp_path.rglob("*.partial"))


def test_missing_curated_schema(tmp_path):
    code = tmp_path / "code"
    for part in ("pipeline", "models"):
        shutil.copytree(REPO_ROOT / part, code / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    write_taxi_sample(tmp_path / "data", rows=5)
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--data-dir", str(tmp_path / "data"),
         "--output-dir", str(tmp_path / "out")],
        cwd=code, env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True, text=True, timeout=120)
    _one_line_error(result, 2, "schema.pbtxt")


def test_spans_must_not_have_gaps(tmp_path):
    write_taxi_sample(tmp_path, rows=5, span=1)
    write_taxi_sample(tmp_path, rows=5, span=3)
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out")), 2, "span-2")


def test_training_window_larger_than_the_data(tmp_path):
    write_taxi_sample(tmp_path, rows=5, span=1)
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out"), "--training-spans", "2"), 2,
                    "--training-spans")
