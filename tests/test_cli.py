"""The CLI's answers to bad input: one line on stderr, a documented exit code, no
traceback. These fail before TensorFlow is imported, so they are fast."""

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys

import pytest

from pipeline.config import REPO_ROOT
from tests.conftest import cli_in_process, write_taxi_sample


def _cli(*args):
    """The CLI in this process (tests/conftest.py): the same exit code, stdout and
    stderr, without a fresh interpreter per case. test_missing_curated_schema runs one
    in a fresh process, as a user does."""
    return cli_in_process(*args)


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
    # AUC and accuracy are fractions: 94 is a percentage typed by mistake.
    (["run", "--min-auc", "94"], ["--min-auc", "'94' is not between 0 and 1"]),
    (["run", "--min-accuracy", "1.5"], ["--min-accuracy", "not between 0 and 1"]),
    (["run", "--min-auc", "nan"], ["--min-auc", "not between 0 and 1"]),
    (["run", "--max-regression", "inf"], ["--max-regression", "finite"]),
    (["compile", "--pipeline-root", "gs://b/p", "--image", "i", "--min-auc", "94"],
     ["--min-auc", "not between 0 and 1"]),
    (["fly"], ["fly"]),
    (["lineage", "newest"], ["'newest' is neither a version number nor 'latest'"]),
])
def test_bad_flags(args, words):
    _one_line_error(_cli(*args), 2, *words)


def test_missing_data_dir(tmp_path):
    _one_line_error(_cli("run", "--data-dir", str(tmp_path / "nope"),
                         "--output-dir", str(tmp_path / "out")), 2, "does not exist")


def test_data_dir_without_csv_files(tmp_path):
    (tmp_path / "notes.txt").write_text("no data here")
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out")), 2, "span-<N>")


def test_other_data_needs_a_label(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    result = _cli("run", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out"))
    _one_line_error(result, 2, "not the taxi data", "--label COLUMN", "its columns are a, b")
    assert "tips" not in result.stderr


def test_taxi_label_needs_its_columns(tmp_path):
    (tmp_path / "data.csv").write_text("fare,company\n1.5,a\n")
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out")), 2, "no column 'tips'")


@pytest.mark.parametrize("content, args, words", [
    ("x,y\n1,a\n2,b\n", ["--label", "nope"], ["no column 'nope'", "x, y"]),
    ("x,y\n1,\n2,\n", ["--label", "y"], ["'y' is empty in every row"]),
    ("x,y\n1,a\n2,a\n", ["--label", "y"], ["single class ('a')"]),
    ("x,y\n" + "".join(f"{i},{i}\n" for i in range(150)), ["--label", "y"],
     ["more than 100 distinct values", "--task regression"]),
    ("x,y\n1,2.5\n2,tall\n", ["--label", "y", "--task", "regression"],
     ["text such as 'tall'"]),
    ("x,y\n1,2\n2,2\n", ["--label", "y", "--task", "regression"], ["'2' in every row"]),
    ("y,x y,x_y\n1,2,3\n2,3,4\n", ["--label", "y"], ["'x y' and 'x_y'", "rename one"]),
    ("id,y,id\n1,a,3\n2,b,4\n", ["--label", "y"], ["two columns named 'id'"]),
    ("x,y\n1,2\n", ["--task", "regression"], ["name a --label column"]),
    ("x,y\n1,2\n2,3\n", ["--label", "y", "--task", "regression", "--min-auc", "0.9"],
     ["--min-auc gates the other task; this is a regression"]),
    ("x,y\n1,a\n2,b\n", ["--label", "y", "--max-rmse", "3"], ["--max-rmse", "classification"]),
    ("x,y\n1,a\n2,b\n", ["--label", "y", "--max-regression", "5"],
     ["--max-regression 5 is more than AUC or accuracy can fall"]),
])
def test_unusable_label(tmp_path, content, args, words):
    (tmp_path / "data.csv").write_text(content)
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out"), *args), 2, *words)


def test_multi_class_models_are_not_gated_on_auc(tmp_path):
    (tmp_path / "data.csv").write_text("x,y\n1,a\n2,b\n3,c\n")
    (tmp_path / "schema.pbtxt").write_text(
        'feature { name: "x" type: INT }\n'
        'feature { name: "y" type: BYTES string_domain { value: "a" value: "b" value: "c" } }\n')
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out"), "--label", "y", "--min-auc", "0.9"), 2,
                    "3 classes", "--min-accuracy")


def test_schema_without_usable_features(tmp_path):
    (tmp_path / "data.csv").write_text("y\na\nb\n")
    (tmp_path / "schema.pbtxt").write_text(
        'feature { name: "y" type: BYTES string_domain { value: "a" value: "b" } }\n')
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out"), "--label", "y"), 2, "no usable features",
                    str(tmp_path / "schema.pbtxt"))


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


@pytest.mark.parametrize("header, delimiter, name", [
    ("x;y;kind", ";", "semicolons"), ("x\ty\tkind", "\t", "tabs")])
def test_other_delimiters_are_named(tmp_path, header, delimiter, name):
    rows = [header] + [delimiter.join(["1,5", "2", "a"])] * 3
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out"), "--label", "kind"), 2,
                    f"separate its columns with {name}", repr(header), "commas only",
                    f"delimiter={delimiter!r}")


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    # Excel's "CSV UTF-8": the label check reads the first column by its name.
    (tmp_path / "data.csv").write_text("\ufeffy,x\r\n1.5,a\r\nbig,b\r\n", newline="")
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out"), "--label", "y", "--task", "regression"), 2,
                    "label column 'y' holds text such as 'big'")


def test_files_of_one_folder_must_agree_on_a_byte_order_mark(tmp_path):
    (tmp_path / "a.csv").write_text("\ufeffx,y\n1,a\n2,b\n")
    (tmp_path / "b.csv").write_text("x,y\n3,a\n4,b\n")
    _one_line_error(_cli("run", "--data-dir", str(tmp_path), "--output-dir",
                         str(tmp_path / "out"), "--label", "y"), 2,
                    "start with a byte-order mark (a.csv)", "same encoding")


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


@pytest.mark.parametrize("dataset, rows, label, values", [
    ("breast-cancer", 569, "diagnosis", {"benign", "malignant"}),
    ("wine", 178, "cultivar", {"0", "1", "2"}),
    ("diabetes", 442, "progression", None),
])
def test_prepare_data_writes_bundled_datasets_as_csv(tmp_path, dataset, rows, label, values):
    result = _cli("prepare-data", "--dataset", dataset, "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "data.csv")
    assert f"--label {label}" in result.stderr
    with (tmp_path / "data.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == rows
    assert list(table[0])[-1] == label
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in table[0])
    if values:
        assert {row[label] for row in table} == values
    else:
        assert len({row[label] for row in table}) > 100


def test_help_lists_every_command_and_exit_code_without_tensorflow():
    from pipeline.cli import _parser
    from pipeline.exit_codes import EXIT_CODES

    probe = ("import sys\nfrom pipeline.cli import main\ntry:\n    main(['--help'])\n"
             "except SystemExit as done:\n    assert done.code == 0\n"
             "heavy = [m for m in ('tensorflow', 'tfx', 'apache_beam') if m in sys.modules]\n"
             "print('imported:', heavy)\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("imported: []")
    text = result.stdout
    commands = next(action for action in _parser()._actions
                    if isinstance(action, argparse._SubParsersAction))
    assert len(commands._choices_actions) == len(commands.choices) >= 11
    flat = " ".join(text.split())
    for command in commands._choices_actions:  # each with its one-line help, whole
        assert f" {command.dest} {' '.join(command.help.split())} " in flat, command.dest
    codes = {int(line.split()[0]) for line in text[text.index("exit codes:"):].splitlines()[1:]
             if line[:3].strip().isdigit()}
    assert codes == {code for code, _ in EXIT_CODES} >= {0, 1, 2, 3, 4, 130}
    assert "Command line: `python -m pipeline run | prepare-data" not in text
