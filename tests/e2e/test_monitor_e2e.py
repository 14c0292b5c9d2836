"""`monitor` end to end: one taxi model trained on 3,000 rows (the session's
`taxi_3000_run`, tests/conftest.py, which tests/e2e/test_pipeline_e2e.py starts from
too; its folder as that run left it), judged through the CLI on spans made from its
own training rows: a random resample (healthy), the same inputs with labels that follow
another rule (decayed), shifted fares (drifted), no label column (drift only); and the
refusal when nothing is served. The results are recorded in ML Metadata and listed by
`runs`, `show` and `models`. The commands go through the CLI in the test process
(tests/conftest.py, `cli_in_process`); the two refusals, whose subject is the one line
a real process writes, run in fresh processes."""

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import REPO_ROOT
from tests.conftest import TAXI_3000_ROWS, cli_in_process

pytestmark = pytest.mark.e2e

ROWS = TAXI_3000_ROWS
# Spans of the module's cases folder (`cases`), one per case.
CONCEPT, RESAMPLE, UNLABELLED, FARES = 1, 2, 3, 4


def _read(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def write_span(data_dir: Path, span: int, header: list[str], rows: list[dict]) -> None:
    path = data_dir / f"span-{span}" / "data.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _big_tipper(row: dict) -> bool:
    return float(row["tips"] or 0) > 0.2 * float(row["fare"] or 0)


def concept_drift(rows: list[dict]) -> list[dict]:
    """The same inputs, labels by the opposite rule: a big tipper now is exactly a trip
    that was not one."""
    changed = []
    for row in rows:
        fare = float(row["fare"] or 0)
        # A trip with no fare cannot tip more than 20 % of it, whatever the rule.
        tips = 0.0 if _big_tipper(row) else (0.5 * fare if fare > 0 else 0.0)
        changed.append({**row, "tips": repr(tips)})
    return changed


def shifted_fares(rows: list[dict]) -> list[dict]:
    """Cash trips' fares five times as high (fare's JSD against the training rows: 0.21
    at three times). Cash trips carry no recorded tip, so their label stays 0 and the
    model, which learnt that, keeps scoring them low: the data drifts, the model's
    performance does not (tripling every fare, tips too, costs it 0.03 accuracy, and
    the verdict is then `decayed`)."""
    def shifted(row):
        if row["payment_type"] != "Cash" or not row["fare"]:
            return row
        return {**row, "fare": repr(5 * float(row["fare"]))}

    return [shifted(row) for row in rows]


def monitor(output_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return cli(output_dir, "monitor", *args)


def cli(output_dir: Path, command: str, *args: str) -> subprocess.CompletedProcess:
    return cli_in_process(command, "--output-dir", str(output_dir), *args)


def refused(output_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """`monitor` in a fresh process, as a user runs it: a refusal is one line."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "monitor", "--output-dir", str(output_dir), *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, taxi_3000_run):
    """A taxi model trained and pushed on 3,000 rows, and a folder of case spans."""
    cases = tmp_path_factory.mktemp("monitor") / "cases"
    with taxi_3000_run.checkout(__name__) as run:
        train, summary = run["data"], run["summary"]
        assert summary["pushed"], summary
        header, rows = _read(train / "span-1" / "data.csv")
        assert len(rows) == ROWS
        resample = random.Random(0).choices(rows, k=ROWS)
        write_span(cases, CONCEPT, header, concept_drift(rows))
        write_span(cases, RESAMPLE, header, resample)
        write_span(cases, UNLABELLED, [name for name in header if name != "tips"], resample)
        write_span(cases, FARES, header, shifted_fares(resample))
        yield {"out": run["out"], "cases": cases, "train": train, "summary": summary}


@pytest.fixture(scope="module")
def judged(trained):
    """Each case span judged once through the CLI with --json: span -> (exit code,
    result)."""
    found = {}
    for span in (CONCEPT, RESAMPLE, UNLABELLED, FARES):
        result = monitor(trained["out"], "--data-dir", str(trained["cases"]), "--span",
                         str(span), "--json")
        assert result.returncode in (0, 5), result.stderr[-3000:]
        assert "Traceback" not in result.stderr
        found[span] = (result.returncode, json.loads(result.stdout))
    return found


def _shown(trained, found: dict) -> str:
    """The result as `monitor` prints it: `show` prints a recorded one the same way."""
    result = cli(trained["out"], "show", found["name"])
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_labels_by_another_rule_decay(trained, judged):
    code, found = judged[CONCEPT]
    assert code == 5
    assert found["verdict"] == "decayed"
    auc = next(row for row in found["decay"] if row["metric"] == "auc")
    assert auc["decayed"] and auc["value"] < auc["reference"] - 0.3
    assert found["reference_metrics"]["auc"] == pytest.approx(
        trained["summary"]["metrics"]["auc"])
    # The inputs are the training rows themselves: nothing drifted but the labels.
    assert found["drifted_features"] == []
    assert not found["prediction_drift"]["drifted"]
    for key in ("verdict", "served_version", "span", "trained_on_spans", "metrics",
                "reference_metrics", "drifted_features", "prediction_drift"):
        assert key in found
    assert found["served_version"] == trained["summary"]["pushed_version"]
    assert found["span"] == CONCEPT and found["trained_on_spans"] == [1]
    assert found["metrics"]["example_count"] == ROWS
    assert {row["slice"].split("=")[0] for row in found["slices"]} >= {
        "Overall", "payment_type", "trip_start_hour"}
    report = Path(found["report"]).read_text()
    assert "<span class='bad'>decayed</span>" in report and "<svg" in report
    assert "DECAYED" in _shown(trained, found)


def test_a_resample_of_the_training_data_is_healthy(trained, judged):
    code, found = judged[RESAMPLE]
    assert code == 0, found
    assert found["verdict"] == "healthy"
    assert found["labelled"] and all(not row["decayed"] for row in found["decay"])
    assert found["drifted_features"] == [] and not found["prediction_drift"]["drifted"]
    text = _shown(trained, found)
    assert "verdict:     healthy" in text
    assert f"span-{RESAMPLE} of {trained['cases']}, {ROWS:,} rows" in text


def test_a_span_without_labels_is_judged_on_drift_only(trained, judged):
    code, found = judged[UNLABELLED]
    assert not found["labelled"] and found["decay"] is None and found["metrics"] == {}
    assert found["not_measured"] == "performance not measured: the span has no 'tips' column"
    assert (code, found["verdict"]) == (0, "healthy")
    assert found["drift"] and found["prediction_drift"]["value"] is not None
    assert "performance: performance not measured: the span has no 'tips' column" \
        in _shown(trained, found)


def test_shifted_fares_drift(judged):
    code, found = judged[FARES]
    assert found["verdict"] == "drifted", found["decay"]
    assert code == 5
    fare = next(row for row in found["drifted_features"] if row["feature"] == "fare")
    assert fare["comparator"] == "jensen_shannon_divergence"
    assert fare["value"] > fare["threshold"] == 0.2
    assert [row["feature"] for row in found["drifted_features"]] == ["fare"]


def test_results_are_recorded_and_listed(trained, judged):
    """In ML Metadata, read by later processes: `runs` lists each result, `models`
    the served version's latest verdict."""
    runs = json.loads(cli(trained["out"], "runs", "--json").stdout)
    monitors = [row for row in runs if row["run_id"].startswith("monitor-")]
    assert [(row["span"], row["status"]) for row in monitors] == [
        (span, f"monitor: {judged[span][1]['verdict']}") for span in judged]
    assert all(row["served_version"] == trained["summary"]["pushed_version"]
               for row in monitors)
    models = cli(trained["out"], "models", "--json")
    [model] = json.loads(models.stdout)
    assert [entry["span"] for entry in model["monitors"]] == list(judged)
    table = cli(trained["out"], "models").stdout
    assert f"{judged[FARES][1]['verdict']} on span-{FARES}" in table


def test_a_span_the_model_was_trained_on_is_refused(trained):
    result = refused(trained["out"], "--data-dir", str(trained["train"]))
    assert result.returncode == 2
    assert "was trained on span-1 of" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_served_model(tmp_path):
    result = refused(tmp_path / "empty")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no model is served from")
    assert len(result.stderr.strip().splitlines()) == 1


def test_serving_logs_of_shifted_fares_skew(trained, tmp_path):
    """Calls logged by `predict --log-dir`: the training rows with cash fares five
    times as high skew from the training data on fare alone; a span that is healthy
    on its own then gives `drifted`. Last in the module: it records one more result."""
    header, rows = _read(trained["train"] / "span-1" / "data.csv")
    requests, logs = tmp_path / "requests", tmp_path / "logs"
    write_span(requests, 1, [name for name in header if name != "tips"],
               shifted_fares(rows[:1500]))
    write_span(requests, 2, [name for name in header if name != "tips"],
               shifted_fares(rows[1500:]))
    for part in (1, 2):
        called = cli(trained["out"], "predict", str(requests / f"span-{part}" / "data.csv"),
                     "--log-dir", str(logs))
        assert called.returncode == 0, called.stderr
    result = monitor(trained["out"], "--data-dir", str(trained["cases"]), "--span",
                     str(RESAMPLE), "--serving-logs", str(logs), "--json")
    assert result.returncode == 5, result.stderr[-3000:]
    found = json.loads(result.stdout)
    assert found["verdict"] == "drifted"
    assert found["drifted_features"] == []  # the span itself is a resample: no drift
    serving = found["serving"]
    assert (serving["requests"], serving["instances"]) == (2, ROWS)
    assert [row["feature"] for row in serving["skewed_features"]] == ["fare"]
    fare = serving["skewed_features"][0]
    assert fare["measure"] == "jensen_shannon_divergence" and fare["value"] > 0.2
    assert serving["prediction_drift"]["value"] is not None
    text = _shown(trained, found)
    assert "SKEWED" in text and "2 logged calls, 3,000 rows" in text
    assert "id='serving-skew'" in Path(found["report"]).read_text()
