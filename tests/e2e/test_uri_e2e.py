"""A whole run whose data, output and serving folders are file:// URIs: every read and
write of them goes through TFX's filesystem layer and Beam's file:// filesystem
(pipeline/uris.py, pipeline/file_scheme.py), as it would for gs:// on a cluster; ML
Metadata stays in a local folder. Then `show` and `runs` answer for the same URI."""

import json

import pytest

from pipeline import config
from tests.conftest import GOOD_TAXI_ROWS, cli_in_process, write_taxi_sample

pytestmark = pytest.mark.e2e


def test_a_run_on_file_uris_publishes_a_servable_version(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "DEFAULT_OUTPUT_DIR", tmp_path / "local")
    write_taxi_sample(tmp_path / "data", rows=GOOD_TAXI_ROWS)
    data, out, serving = (f"file://{tmp_path}/{name}" for name in ("data", "out", "serving"))
    result = cli_in_process("run", "--data-dir", data, "--output-dir", out, "--serving-dir",
                            serving, "--train-steps", "50", "--min-auc", "0.5",
                            "--min-accuracy", "0.5", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    # One progress line per component (the URI checks' quiet TensorFlow import must not
    # silence the records they come from).
    assert {c["state"] for c in summary["components"]} == {"executed"}
    assert len(summary["components"]) >= 10
    assert summary["rows"]["train"] + summary["rows"]["eval"] == GOOD_TAXI_ROWS
    assert summary["pushed_new"] and summary["servable_check"]["problems"] == []
    version = str(summary["pushed_version"])
    assert summary["pushed_path"] == f"{serving}/big_tipper/{version}"
    assert summary["served_version"] == int(version)

    # The artifacts, the version and the report are where the URIs say.
    assert (tmp_path / "out" / "tfx" / "CsvExampleGen").is_dir()
    assert [p.name for p in (tmp_path / "serving" / "big_tipper").iterdir()] == [version]
    assert (tmp_path / "serving" / "big_tipper" / version / "assets.extra"
            / "tf_serving_warmup_requests").is_file()
    assert f'base_path: "{serving}/big_tipper"' in (
        tmp_path / "serving" / "models.config").read_text()
    assert summary["report"].startswith(f"{out}/reports/")
    assert "<html" in (tmp_path / summary["report"][len(f"file://{tmp_path}/"):]).read_text()
    # ML Metadata and the lock are local, in the folder the URI maps to.
    local = config.local_state_dir(out)
    assert (local / "metadata.db").is_file() and (local / ".run.lock").is_file()
    assert not (tmp_path / "out" / "metadata.db").exists()

    # `predict` finds the version in the serving URI the run recorded, checks it file
    # for file against the Pusher's copy in the pipeline root, and scores with it.
    request = tmp_path / "request.csv"
    request.write_text("".join((tmp_path / "data" / "span-1" / "data.csv").read_text()
                               .splitlines(keepends=True)[:4]))
    predict = cli_in_process("predict", "--output-dir", out, str(request))
    assert predict.returncode == 0, predict.stderr[-2000:]
    scores = json.loads(predict.stdout.splitlines()[0])["predictions"]
    assert len(scores) == 3 and all(0 <= score[0] <= 1 for score in scores)

    # A second model is compared with the first, read back from the URI pipeline root
    # (pipeline/baseline.py checks the baseline's signatures there).
    again = cli_in_process("run", "--data-dir", data, "--output-dir", out, "--serving-dir",
                           serving, "--train-steps", "60", "--min-auc", "0.5",
                           "--min-accuracy", "0.5", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads(again.stdout)
    assert second["baseline_metrics"]["auc"] == pytest.approx(summary["metrics"]["auc"])
    assert second["run_id"] != summary["run_id"]

    runs = cli_in_process("runs", "--output-dir", out)
    assert runs.returncode == 0, runs.stderr
    assert summary["run_id"] in runs.stdout and second["run_id"] in runs.stdout
    show = cli_in_process("show", "--output-dir", out)
    assert show.returncode == 0, show.stderr
    assert f"served: {second['pushed_version']}, the pushed version" in show.stdout
