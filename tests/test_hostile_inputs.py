"""Hostile data files, paths and schemas: each is refused with one sentence before any
component runs (exit 2, nothing written to the output directory), on every task path.
Hostile request values: `predict` types them as TF Serving's REST API does
(pipeline/predict_guard.py; the command's own tests are in tests/test_predict.py)."""

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import data, predict_guard
from pipeline.config import REPO_ROOT
from tests.conftest import cli_in_process

HEADER = "x,y,label\n"


def _rows(count=30):
    return "".join(f"{i},{i % 7},{i * 1.5}\n" for i in range(count))


def _write(folder, body: bytes | str, name="data.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(body, str):
        path.write_text(body, newline="")
    else:
        path.write_bytes(body)
    return path


# Each hostile file, and the words its one sentence must hold.
HOSTILE = {
    "quoted_newline": (HEADER + _rows(5) + '7,"two\nlines",3.0\n' + _rows(5),
                       ["line 7", "line break"]),
    "latin1": ((HEADER + _rows(5)).encode() + "8,caf\u00e9,2.0\n".encode("latin-1")
               + _rows(5).encode(), ["line 7", "not UTF-8", "0xe9"]),
    "field_limit": (HEADER + _rows(5) + f"9,{'z' * (csv.field_size_limit() + 1)},1.0\n"
                    + _rows(5), ["line 7", "longer than"]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_rows_are_refused_with_the_file_and_line(tmp_path, case):
    body, words = HOSTILE[case]
    path = _write(tmp_path / "data", body)
    with pytest.raises(data.DataError) as raised:
        data.check_data_dir(tmp_path / "data")
    message = str(raised.value)
    assert str(path) in message and "\n" not in message.replace(str(path), "")
    for word in words:
        assert word in message


def test_a_hostile_row_in_an_earlier_span_is_refused(tmp_path):
    _write(tmp_path / "span-1", HOSTILE["quoted_newline"][0])
    _write(tmp_path / "span-2", HEADER + _rows())
    with pytest.raises(data.DataError, match="span-1/data.csv"):
        data.check_data_dir(tmp_path)


def test_clean_rows_pass(tmp_path):
    _write(tmp_path, '\ufeffx,y,label\r\n1,"a, quoted ""b""",2.5\r\n' + _rows())
    assert data.check_data_dir(tmp_path) == ()


@pytest.mark.parametrize("values", [["NaN", "nan", "NAN"], ["nan", "inf", "-Infinity"]])
def test_a_regression_label_without_a_finite_number_is_refused(tmp_path, values):
    path = _write(tmp_path, HEADER + "".join(f"{i},1,{values[i % len(values)]}\n"
                                             for i in range(30)))
    with pytest.raises(data.DataError, match="no finite number"):
        data.check_label([path], ("label",), "label", "regression")


@pytest.mark.parametrize("values, line, shown", [
    (["1.5", "2.5", "NaN"], 4, "NaN"),  # after numbers
    (["nan", "1.5", "2.5"], 2, "nan"),  # before them
    (["1.5", "-inf", "2.5"], 3, "-inf"),
    (["1.5", "2.5"] * 50 + ["Infinity"], 102, "Infinity"),  # far after the verdict
])
def test_a_nan_or_infinity_next_to_numbers_is_refused_with_its_line(tmp_path, values,
                                                                      line, shown):
    # Trained on, one NaN label made the loss and every metric NaN; the run then died
    # drawing the report (ValueError: cannot convert float NaN to integer).
    path = _write(tmp_path, HEADER + "".join(f"{i},1,{value}\n"
                                             for i, value in enumerate(values)))
    with pytest.raises(data.DataError) as raised:
        data.check_label([path], ("label",), "label", "regression")
    assert f"holds {shown!r} on line {line} of {path}" in str(raised.value)


def test_a_nan_in_one_file_and_numbers_in_another_are_refused(tmp_path):
    first = _write(tmp_path, HEADER + "1,1,NaN\n", name="a.csv")
    second = _write(tmp_path, HEADER + "1,1,1.5\n2,1,2.5\n", name="b.csv")
    with pytest.raises(data.DataError, match=f"'NaN' on line 2 of {first}"):
        data.check_label([first, second], ("label",), "label", "regression")


@pytest.mark.parametrize("folder", ["data[1]", "data*", "what?"])
def test_a_data_dir_with_glob_characters_is_refused(tmp_path, folder):
    _write(tmp_path / folder, HEADER + _rows())
    with pytest.raises(data.DataError, match="file pattern"):
        data.check_data_dir(tmp_path / folder)


def test_duplicate_header_names_are_refused(tmp_path):
    _write(tmp_path, "label,x,label\n" + _rows())
    with pytest.raises(data.DataError, match="two columns named 'label'"):
        data.check_data_dir(tmp_path)


@pytest.mark.parametrize("make, words", [
    (lambda path: path.mkdir(), ["is a folder"]),
    (lambda path: path.write_text("feature { name: 'x' type: NOPE }\n"),
     ["not a TFMD schema"]),
    (lambda path: path.write_bytes(b"\xff\xfe not text"), ["cannot read the schema"]),
])
def test_a_schema_that_is_a_folder_or_malformed_is_refused(tmp_path, make, words):
    from models.features import SchemaError
    from pipeline.schema_file import load_schema

    make(tmp_path / "schema.pbtxt")
    with pytest.raises(SchemaError) as raised:
        load_schema(tmp_path / "schema.pbtxt")
    for word in words:
        assert word in str(raised.value)


def test_a_file_name_with_a_line_break_stays_in_the_comment():
    from pipeline.schema_review import comment_text

    assert comment_text("/d/a\nstring_domain { name: 'x' }.csv") == \
        "/d/a\\nstring_domain { name: 'x' }.csv"
    assert comment_text("/d/Région\u2028\x1b.csv") == "/d/Région\\u2028\\x1b.csv"


def _run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "pipeline", "run", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _refused(result, out, *words):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]
    assert not out.exists()  # nothing written: no component ran


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("task", ["regression", "classification"])
def test_run_refuses_hostile_rows_on_every_task_path(tmp_path, case, task):
    body, words = HOSTILE[case]
    _write(tmp_path / "data", body)
    out = tmp_path / "out"
    _refused(_run("--data-dir", str(tmp_path / "data"), "--label", "label", "--task", task,
                  "--output-dir", str(out)), out, *words)


def test_run_refuses_a_nan_only_regression_label(tmp_path):
    _write(tmp_path / "data", HEADER + "".join(f"{i},1,{('NaN', 'nan', 'NAN')[i % 3]}\n"
                                               for i in range(30)))
    out = tmp_path / "out"
    _refused(_run("--data-dir", str(tmp_path / "data"), "--label", "label", "--task",
                  "regression", "--output-dir", str(out)), out, "no finite number")


def test_run_refuses_a_data_dir_with_glob_characters(tmp_path):
    _write(tmp_path / "data[1]", HEADER + _rows())
    out = tmp_path / "out"
    _refused(_run("--data-dir", str(tmp_path / "data[1]"), "--label", "label", "--output-dir",
                  str(out)), out, "file pattern")


@pytest.mark.parametrize("make, words", [
    (lambda path: path.mkdir(), ["is a folder"]),
    (lambda path: path.write_text("feature {\n"), ["not a TFMD schema"]),
])
def test_run_refuses_a_schema_that_is_a_folder_or_malformed(tmp_path, make, words):
    _write(tmp_path / "data", HEADER + _rows())
    make(tmp_path / "schema.pbtxt")
    out = tmp_path / "out"
    _refused(_run("--data-dir", str(tmp_path / "data"), "--label", "label", "--schema",
                  str(tmp_path / "schema.pbtxt"), "--output-dir", str(out)), out, *words)


def test_a_csv_name_with_a_line_break_cannot_write_into_the_inferred_schema(tmp_path):
    from models.features import Label
    from pipeline.schema_file import load_schema
    from pipeline.schema_review import bootstrap

    name = "a\nstring_domain { name: 'injected' value: 'x' }\n#.csv"
    path = _write(tmp_path / "data", "x,y,label\n" + "".join(
        f"{i},{i % 3},{'ab'[i % 2]}\n" for i in range(40)), name=name)
    schema_path = tmp_path / "schema.pbtxt"
    bootstrap([path], Label("label"), schema_path)
    schema = load_schema(schema_path)
    assert [domain.name for domain in schema.string_domain] != ["injected"]
    assert "injected" not in {domain.name for domain in schema.string_domain}
    comments = [line for line in schema_path.read_text().splitlines()
                if "injected" in line]
    assert comments == ["#   " + str(path).replace("\n", "\\n")]


def _prepare(*args):
    """`prepare-data` through the CLI in this process (tests/conftest.py): its subject
    is which file it writes, not the process (the wine data's scikit-learn import cost
    a fresh interpreter 1.5 s per call, three calls per case)."""
    return cli_in_process("prepare-data", *args)


@pytest.mark.parametrize("dataset, target", [("wine", "data.csv"),
                                             ("taxi", "span-1/data.csv")])
def test_prepare_data_replaces_a_differing_data_csv_only_with_force(tmp_path, dataset,
                                                                     target):
    path = _write((tmp_path / target).parent, "my,own\n1,2\n")
    refused = _prepare("--dataset", dataset, "--data-dir", str(tmp_path))
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: {path} exists and differs from the packaged data; move it away or pass "
        "--force to replace it"]
    assert path.read_text() == "my,own\n1,2\n"
    forced = _prepare("--dataset", dataset, "--data-dir", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    written = path.read_bytes()
    assert written != b"my,own\n1,2\n" and len(written.splitlines()) > 100
    again = _prepare("--dataset", dataset, "--data-dir", str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert path.read_bytes() == written


@pytest.mark.parametrize("dataset", ["wine", "taxi"])
def test_prepare_data_into_a_file_is_refused_in_one_sentence(tmp_path, dataset):
    path = _write(tmp_path, "mine\n")
    refused = _prepare("--dataset", dataset, "--data-dir", str(path))
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: argument --data-dir: {str(path)!r} exists and is not a folder "
        "(see pipeline prepare-data --help)"]
    assert path.read_text() == "mine\n"


INPUTS = {"x": "float32", "n": "int64", "s": "string"}
RANKS = {"x": 1, "n": 1, "s": 1}


def _strict(**row):
    return predict_guard.strict_body({"instances": [{"x": 1.0, "n": 1, "s": "a", **row}]},
                                     INPUTS, RANKS)["instances"][0]


@pytest.mark.parametrize(("row", "words"), [
    ({"x": "1.5"}, "input 'x' takes a number, not the string \"1.5\""),
    ({"x": False}, "input 'x' takes a number, not false"),
    ({"x": None}, "input 'x' takes a number, not null"),
    ({"x": 2**24}, "16777216 cannot be a float32 without loss of precision"),
    ({"x": -(2**63)}, "cannot be a float32 without loss of precision"),
    ({"x": 10**400}, "is outside the range of float32"),
    ({"x": 3.5e38}, "is outside the range of float32"),
    ({"n": 1.0}, "input 'n' takes an integer, not the decimal number 1.0"),
    ({"n": float("nan")}, "input 'n' takes an integer, not the decimal number NaN"),
    ({"n": "1"}, "input 'n' takes an integer, not the string \"1\""),
    ({"n": 2**63}, "9223372036854775808 overflows int64"),
    ({"n": -(2**63) - 1}, "overflows int64"),
    ({"s": 1}, "input 's' takes a string, not the number 1"),
    ({"s": {"b64": "YQ==", "x": 1}}, "input 's' takes a string, not the object"),
    ({"s": {"b64": "not base64!"}}, "is not valid base64"),
    ({"s": {"b64": "6Q=="}}, "decodes to bytes that are not UTF-8 text"),
    ({"s": ["a"]}, "input 's' takes a single value, not lists 1 deep"),
    ({"x": [[1.0]]}, "input 'x' takes a single value, not lists 1 deep"),
])
def test_request_values_tf_serving_refuses(row, words):
    from pipeline.serving import RequestError

    with pytest.raises(RequestError) as raised:
        _strict(**row)
    assert str(raised.value).startswith("instance 0: ")
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(("row", "taken"), [
    ({"x": 3}, {"x": 3}),
    ({"x": 2**24 - 1}, {"x": 2**24 - 1}),
    # Beyond (u)int64, rapidjson reads an integer as a double: in float32's range.
    ({"x": 2**70}, {"x": 2**70}),
    ({"x": -1e30}, {"x": -1e30}),
    ({"n": -(2**63)}, {"n": -(2**63)}),
    ({"s": {"b64": "w45sZQ=="}}, {"s": "Île"}),
    ({"s": ""}, {"s": ""}),
])
def test_request_values_tf_serving_takes(row, taken):
    assert _strict(**row) == {"x": 1.0, "n": 1, "s": "a", **taken}


def test_nan_and_infinity_are_numbers_for_a_float_input():
    import math

    checked = _strict(x=float("nan"))
    assert math.isnan(checked["x"])
    assert _strict(x=float("-inf"))["x"] == float("-inf")


def test_columnar_values_sit_at_the_input_rank():
    from pipeline.serving import RequestError

    body = {"inputs": {"x": [1.0, 2.0], "n": [1, 2], "s": ["a", {"b64": "Yg=="}]}}
    assert predict_guard.strict_body(body, INPUTS, RANKS) == {
        "inputs": {"x": [1.0, 2.0], "n": [1, 2], "s": ["a", "b"]}}
    for column, words in (([[1.0], [2.0]], "takes lists 1 deep, not lists 2 deep"),
                          (1.0, "takes a list of values, not the decimal number 1.0")):
        with pytest.raises(RequestError, match=words):
            predict_guard.strict_body({"inputs": {**body["inputs"], "x": column}}, INPUTS,
                                      RANKS)


def test_request_shapes_are_left_to_the_rest_format_check():
    # Which keys and inputs a body has is serving.request_arrays's to judge.
    for body in ([], {"instances": 1}, {"instances": [1]}, {"inputs": []},
                 {"instances": [], "inputs": {}}):
        assert predict_guard.strict_body(body, INPUTS, RANKS) == body


@pytest.mark.parametrize(("text", "words"), [
    ("[" * 33 + "]" * 33, "more than 32 deep"),
    ('{"a": ' * 40 + "1" + "}" * 40, "more than 32 deep"),
    ('{"instances": [{"x": 1e999}]}', "the number 1e999 is too large for JSON"),
    ('{"instances": [{"n": 1' + "0" * 5000 + "}]}",
     "is not a JSON request body TF Serving takes"),
])
def test_pathological_json_is_refused(tmp_path, text, words):
    from pipeline.serving import RequestError

    with pytest.raises(RequestError, match=words):
        predict_guard.parse_json(text.encode(), tmp_path / "r.json")


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    text = json.dumps({"instances": [{"s": "[" * 100 + '\\"{' * 50}]})
    assert predict_guard.parse_json(text.encode(), tmp_path / "r.json") == json.loads(text)


def test_a_body_is_read_no_further_than_the_limit(tmp_path, monkeypatch):
    from pipeline.serving import RequestError

    monkeypatch.setattr(predict_guard, "MAX_BODY_BYTES", 100)
    path = tmp_path / "r.json"
    path.write_bytes(b" " * 100)
    assert predict_guard.read_body(path) == b" " * 100
    path.write_bytes(b" " * 101)
    with pytest.raises(RequestError, match="the largest request predict takes"):
        predict_guard.read_body(path)
    # A device that never ends (/dev/zero) is refused unread.
    with pytest.raises(RequestError, match="/dev/zero is a character device, not a regular"):
        predict_guard.read_body(Path("/dev/zero"))


class _Blocked(Exception):
    """Not an OSError (as TimeoutError is): code that answers an OSError in one sentence
    must not turn a block into a refusal that passes the test after the deadline."""


@contextlib.contextmanager
def _deadline(seconds=10):
    """Fails the test, instead of hanging it, when the block blocks (say on opening a
    named pipe no one writes to)."""
    def expired(*_):
        raise _Blocked(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _special_csv(folder, kind):
    """A data folder with a good CSV and, next to it, a .csv that is not a file."""
    _write(folder, HEADER + _rows(), name="a.csv")
    target = folder / "b.csv"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        # /dev/null, not /dev/zero: code that reads a device would fill the memory.
        target.symlink_to(os.devnull)
    else:
        target.mkdir()
    return target


@pytest.mark.parametrize("kind, words", [("fifo", "a named pipe"),
                                         ("device", "a character device"),
                                         ("folder", "a folder")])
def test_a_csv_that_is_not_a_file_is_refused_unread(tmp_path, kind, words):
    target = _special_csv(tmp_path / "data", kind)
    with _deadline(), pytest.raises(data.DataError) as raised:
        data.check_data_dir(tmp_path / "data")
    assert f"{target} is {words}, not a regular file" in str(raised.value)


def test_a_line_longer_than_the_checks_read_is_refused(tmp_path, monkeypatch):
    # A sparse file of zeros has no line break: read whole, it would fill memory.
    monkeypatch.setattr(data, "MAX_LINE_BYTES", 1000, raising=False)
    path = _write(tmp_path, HEADER + _rows(5) + "1," + "0" * 2000 + ",2\n")
    with pytest.raises(data.DataError, match=f"line 7 of {path} is longer than"):
        data.check_data_dir(tmp_path)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_run_refuses_a_csv_that_is_not_a_file_on_every_task_path(tmp_path, kind):
    for task in ("regression", "classification"):
        folder = tmp_path / task
        _special_csv(folder / "data", kind)
        with _deadline(60):
            result = cli_in_process("run", "--data-dir", str(folder / "data"), "--label",
                                    "label", "--task", task, "--output-dir",
                                    str(folder / "out"))
        _refused(result, folder / "out", "not a regular file")


@pytest.mark.parametrize("make", [os.mkfifo, lambda path: path.symlink_to(os.devnull)])
def test_a_schema_that_is_a_pipe_or_a_device_is_refused_unread(tmp_path, make):
    from models.features import SchemaError
    from pipeline.schema_file import load_schema

    make(tmp_path / "schema.pbtxt")
    with _deadline(), pytest.raises(SchemaError, match="not a regular file"):
        load_schema(tmp_path / "schema.pbtxt")


def test_a_schema_larger_than_any_schema_is_refused(tmp_path, monkeypatch):
    from models.features import SchemaError
    from pipeline import schema_file

    monkeypatch.setattr(schema_file, "MAX_SCHEMA_BYTES", 100, raising=False)
    (tmp_path / "schema.pbtxt").write_text("# " + "x" * 200 + "\n")
    with pytest.raises(SchemaError, match="larger than"):
        schema_file.load_schema(tmp_path / "schema.pbtxt")


def test_a_request_that_is_a_named_pipe_is_refused_unread(tmp_path):
    from pipeline.serving import RequestError

    os.mkfifo(tmp_path / "r.json")
    with _deadline(), pytest.raises(RequestError, match="r.json is a named pipe"):
        predict_guard.read_body(tmp_path / "r.json")


def test_a_models_config_that_is_a_named_pipe_is_refused_unread(tmp_path):
    from pipeline import serving

    os.mkfifo(tmp_path / "models.config")
    with _deadline(), pytest.raises(serving.ModelsConfigError, match="named pipe, not a"):
        serving.pinned_versions(tmp_path / "models.config", "m")


@pytest.mark.parametrize("cell", ["1e400", "-1e999", "inf", "-Infinity", "NaN", "nan"])
def test_a_number_column_with_a_cell_that_is_not_finite_is_refused(tmp_path, cell):
    # CsvExampleGen types such a column FLOAT; trained on, 1e400 made rmse NaN, exit 0,
    # "not blessed" with no reason.
    path = _write(tmp_path, HEADER + _rows(5) + f"{cell},1,2.5\n" + _rows(5))
    with pytest.raises(data.DataError) as raised:
        data.check_data_dir(tmp_path)
    assert f"column 'x' of {path} holds {cell!r} on line 7, next to numbers" in \
        str(raised.value)


def test_a_column_of_only_nan_is_refused(tmp_path):
    path = _write(tmp_path, HEADER + "".join(f"{i},NaN,{i}.5\n" for i in range(30)))
    with pytest.raises(data.DataError, match=f"column 'y' of {path} holds no finite number"):
        data.check_data_dir(tmp_path)


def test_an_excluded_column_need_not_hold_finite_numbers(tmp_path):
    # `--exclude y` keeps the column out of the model, so its NaNs train nothing.
    _write(tmp_path / "data", HEADER + "".join(f"{i},NaN,{'ab'[i % 2]}\n" for i in range(30)))
    assert data.check_data_dir(tmp_path / "data", ("y",)) == ()
    out = tmp_path / "out"
    result = cli_in_process("run", "--data-dir", str(tmp_path / "data"), "--label", "label",
                            "--exclude", "y", "--output-dir", str(out), "--beam", "portable")
    # Past every data check: the next refusal is the portable profile's missing endpoint.
    assert result.returncode == 2 and "portable profile needs a job endpoint" in result.stderr


def test_nan_and_inf_as_words_in_a_text_column_pass(tmp_path):
    _write(tmp_path, HEADER + _rows(5) + "1,nan,2.5\n2,inf,3.5\n3,Nancy,1.5\n" + _rows(5)
           + "4,,1.0\n")
    assert data.check_data_dir(tmp_path) == ()


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_run_refuses_a_feature_beyond_a_floats_range_on_every_task_path(tmp_path, task):
    _write(tmp_path / "data", HEADER + "".join(f"{i},{i % 7},{'ab'[i % 2]}\n"
                                               for i in range(30)).replace("\n5,", "\n1e400,"))
    if task == "regression":
        _write(tmp_path / "data", HEADER + _rows().replace("\n5,", "\n1e400,"))
    out = tmp_path / "out"
    _refused(cli_in_process("run", "--data-dir", str(tmp_path / "data"), "--label", "label",
                            "--task", task, "--output-dir", str(out)), out,
             "'1e400' on line 7, next to numbers")


@pytest.mark.parametrize("folder", ["out[1]", "out*", "what?"])
def test_run_refuses_an_output_dir_with_glob_characters(tmp_path, folder):
    # Beam matched the path as a pattern: CsvExampleGen failed after the checks
    # ("BeamIOError: src and dst files do not exist"), exit 1.
    _write(tmp_path / "data", HEADER + "".join(f"{i},{i % 7},{'ab'[i % 2]}\n"
                                               for i in range(30)))
    out = tmp_path / folder
    _refused(cli_in_process("run", "--data-dir", str(tmp_path / "data"), "--label", "label",
                            "--output-dir", str(out)), out,
             f"the output directory's path {out} holds", "file pattern")


@pytest.mark.parametrize("folder", ["o\nut", "o\tut", "o\rut"])
def test_run_refuses_an_output_dir_with_a_control_character(tmp_path, folder):
    # A run into "o u t\nRé 城" failed in the Trainer: DataLossError, exit 1.
    _write(tmp_path / "data", HEADER + "".join(f"{i},{i % 7},{'ab'[i % 2]}\n"
                                               for i in range(30)))
    out = tmp_path / folder
    _refused(cli_in_process("run", "--data-dir", str(tmp_path / "data"), "--label", "label",
                            "--output-dir", str(out)), out, "control character",
             "choose another --output-dir")


def _no_row_by_row_reading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("read row by row")

    monkeypatch.setattr(data, "_NumericColumns", refuse)


def test_a_clean_file_is_passed_by_arrow_without_reading_it_row_by_row(tmp_path, monkeypatch):
    _no_row_by_row_reading(monkeypatch)
    _write(tmp_path, HEADER + _rows(5) + '1,,"a, ""quoted"" text"\n2, 3 ,nan-ish\n')
    assert data.check_data_dir(tmp_path) == ()


@pytest.mark.parametrize("body, message", [
    (HEADER + _rows(5) + "1_000,nan,2.5\n", "column 'y'"),   # Arrow cannot parse 1_000
    (HEADER + _rows(5) + '1,"two\nlines",3\n', "quoted field holding a line break"),
    (HEADER.encode() + b"1,caf\xe9,2\n", "line 2"),
])
def test_a_file_arrow_doubts_is_read_row_by_row_and_refused(tmp_path, monkeypatch, body,
                                                             message):
    read = []
    original = data._NumericColumns
    monkeypatch.setattr(data, "_NumericColumns",
                        lambda *args: read.append(1) or original(*args))
    _write(tmp_path, body)
    with pytest.raises(data.DataError, match=message):
        data.check_data_dir(tmp_path)
    assert read == [1]


def _wide(columns: int, rows: int = 3) -> str:
    names = [f"x{index}" for index in range(columns - 1)] + ["label"]
    return "".join(",".join(row) + "\n" for row in
                   [names] + [[str(row + column) for column in range(columns)]
                              for row in range(rows)])


def test_a_csv_wider_than_the_column_limit_is_refused(tmp_path):
    """MAX_COLUMNS columns pass the checks; one more is refused, naming both counts
    (bench/WIDE.md: wider data does not run within the time targets)."""
    from models.features import MAX_COLUMNS

    _write(tmp_path / "at", _wide(MAX_COLUMNS))
    data.check_data_dir(tmp_path / "at")
    _write(tmp_path / "over", _wide(MAX_COLUMNS + 1))
    with pytest.raises(data.DataError, match=f"{MAX_COLUMNS + 1:,} columns, more than the "
                                            f"{MAX_COLUMNS:,}"):
        data.check_data_dir(tmp_path / "over")


def test_run_refuses_a_csv_wider_than_the_column_limit(tmp_path):
    """Before the first run's schema inference: no schema is written, no component runs."""
    from models.features import MAX_COLUMNS

    _write(tmp_path / "data", _wide(MAX_COLUMNS + 1))
    out = tmp_path / "out"
    _refused(_run("--data-dir", str(tmp_path / "data"), "--label", "label", "--output-dir",
                  str(out)), out, f"{MAX_COLUMNS + 1:,} columns")
    assert not (tmp_path / "data" / "schema.pbtxt").exists()
