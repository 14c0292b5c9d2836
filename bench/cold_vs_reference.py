"""Cold end-to-end wall time of our default pipeline against TFX's own Chicago taxi
pipeline (`tfx.examples.chicago_taxi_pipeline.taxi_pipeline_native_keras`, as installed),
on this machine in one invocation, plus a warm rerun of ours and both models' quality.

Ours: `python -m pipeline run --json` into a fresh output directory, on the default
data copied once to a temporary data directory; then the same command again with nothing
changed (the warm rerun: everything cached). Theirs: the installed example module run
as a script (`python -m ...taxi_pipeline_native_keras`, BeamDagRunner) with HOME set to
a fresh temporary folder laid out as it expects: `$HOME/taxi/data/simple/data.csv` and
`$HOME/taxi/taxi_utils_native_keras.py` (its module file, copied from the package);
it writes `$HOME/tfx/` and `$HOME/taxi/serving_model/`. As shipped it runs Beam with
`--direct_running_mode=multi_processing --direct_num_workers=0` (one worker per core);
`--reference-beam in-memory` runs its `_create_pipeline` with Beam in-memory instead,
as ours runs. Rounds alternate which goes first (ours first in odd rounds). Wall times
include process start-up; "cold" means a fresh output directory and process, not an
empty OS page cache.

Quality, read after all timed runs: each Evaluator's overall metrics from its newest
ModelEvaluation (found through its ML Metadata), and, for a like-for-like number, AUC
and accuracy at 0.5 computed here (scikit-learn) by scoring each Trainer's model on its
own eval split, with the label from the model's `transform_features` signature. The two
pipelines do not train alike: ours 200 steps x 256 on a 4:1 split, theirs 1000 steps x
40 on CsvExampleGen's default 2:1 split, so their eval sets differ.

    scripts/in-env python bench/cold_vs_reference.py [--rounds 2]
        [--reference-beam as-shipped|in-memory] [--work-dir DIR] [--timeout S]
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import run_measured, run_pipeline  # noqa: E402
from models.features import CLASSIFICATION  # noqa: E402
from models.signatures import EXAMPLES_SIGNATURE, TRANSFORM_SIGNATURE, output_name  # noqa: E402
from pipeline.config import TAXI_LABEL  # noqa: E402
from pipeline.data import packaged_taxi_csv, prepare_default_data  # noqa: E402

REFERENCE_MODULE = "tfx.examples.chicago_taxi_pipeline.taxi_pipeline_native_keras"
REFERENCE_NAME = "chicago_taxi_native_keras"  # its _pipeline_name
REFERENCE_MODULE_FILE = "taxi_utils_native_keras.py"
# Its run with Beam in this process, as ours runs (pipeline/beam.py's in-memory profile).
REFERENCE_IN_MEMORY = f"""
import absl
from {REFERENCE_MODULE.rsplit('.', 1)[0]} import {REFERENCE_MODULE.rsplit('.', 1)[1]} as t
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
absl.logging.set_verbosity(absl.logging.INFO)
BeamDagRunner().run(t._create_pipeline(
    pipeline_name=t._pipeline_name, pipeline_root=t._pipeline_root, data_root=t._data_root,
    module_file=t._module_file, metadata_path=t._metadata_path,
    serving_model_dir=t._serving_model_dir,
    beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"]))
"""
# How each model is scored here: signature, its output, and the label in the output
# of its transform_features signature.
SCORING = {
    "ours": (EXAMPLES_SIGNATURE, output_name(CLASSIFICATION), TAXI_LABEL.name),
    "theirs": ("serving_default", "outputs", "tips_xf"),
}
TRAINING = {"ours": "200 x 256, split 4:1", "theirs": "1000 x 40, split 2:1"}


def reference_home(root: Path) -> Path:
    """A fresh HOME laid out as taxi_pipeline_native_keras.py expects."""
    source_dir = packaged_taxi_csv().parents[2]  # .../chicago_taxi_pipeline
    (root / "taxi" / "data" / "simple").mkdir(parents=True)
    shutil.copyfile(packaged_taxi_csv(), root / "taxi" / "data" / "simple" / "data.csv")
    shutil.copyfile(source_dir / REFERENCE_MODULE_FILE, root / "taxi" / REFERENCE_MODULE_FILE)
    return root


def run_reference(home: Path, beam: str, label: str, timeout: float | None):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["HOME"] = str(home)
    # Before each Beam component TFX copies itself (50 MB) into a temporary folder it
    # never removes; inside HOME, the benchmark's clean-up removes it.
    env["TMPDIR"] = str(home / "tmp")
    (home / "tmp").mkdir(exist_ok=True)
    command = ([sys.executable, "-m", REFERENCE_MODULE] if beam == "as-shipped"
               else [sys.executable, "-c", REFERENCE_IN_MEMORY])
    return run_measured(command, label=label, cwd=home, env=env, timeout=timeout,
                        stderr_path=home / "run.log")


def reference_metadata(home: Path) -> Path:
    return home / "tfx" / "metadata" / REFERENCE_NAME / "metadata.db"


def run_facts(metadata_path: Path, run_id: str | None = None) -> dict:
    """From a run's ML Metadata (the newest run unless `run_id`): the Evaluator's
    overall metrics, the Trainer's model, the eval split's examples, and each
    component's seconds (execution registered to finished, as ML Metadata recorded)."""
    from pipeline import artifact_files, metadata

    store = metadata.open_store(metadata_path)
    run_id = run_id or metadata.latest_run_id(store)
    outputs = metadata.run_outputs(store, run_id)
    evaluation = outputs["Evaluator"]["artifacts"]["ModelEvaluation"][0]
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    node_type = store.get_context_type("node")
    seconds = {}
    for execution in store.get_executions_by_context(run.id):
        node = next((c for c in store.get_contexts_by_execution(execution.id)
                     if c.type_id == node_type.id), None)
        if node is not None:
            seconds[node.name.split(".", 1)[1]] = round(
                (execution.last_update_time_since_epoch
                 - execution.create_time_since_epoch) / 1000, 1)
    return {
        "evaluator": artifact_files.overall_metrics(
            artifact_files.slice_metrics(evaluation.uri)).get("candidate", {}),
        "model": outputs["Trainer"]["artifacts"]["Model"][0].uri + "/Format-Serving",
        "eval_examples": outputs["CsvExampleGen"]["artifacts"]["Examples"][0].uri
        + "/Split-eval",
        "component_seconds": seconds,
    }


def score(model_dir: str, examples_dir: str, who: str) -> dict:
    """AUC and accuracy at 0.5 of a model on an eval split, computed here."""
    import numpy as np
    import tensorflow as tf
    from sklearn.metrics import accuracy_score, roc_auc_score

    signature, output, label_key = SCORING[who]
    model = tf.saved_model.load(model_dir)
    files = tf.io.gfile.glob(f"{examples_dir}/*")
    scores, labels = [], []
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1024):
        scores.append(model.signatures[signature](examples=batch)[output].numpy().ravel())
        labels.append(model.signatures[TRANSFORM_SIGNATURE](examples=batch)[label_key]
                      .numpy().ravel())
    scores, labels = np.concatenate(scores), np.concatenate(labels).astype(int)
    return {"eval_rows": int(len(labels)), "auc": float(roc_auc_score(labels, scores)),
            "accuracy": float(accuracy_score(labels, scores > 0.5))}


def _versions(serving_dir: Path) -> set[str]:
    return {str(path.relative_to(serving_dir)) for path in serving_dir.glob("*/*")
            if path.name.isdigit()}


def _progress(run: dict) -> None:
    print(f"round {run['round']}: {run['run']} {run['seconds']:.1f} s", file=sys.stderr,
          flush=True)


def _fmt(value, form: str = ".4f") -> str:
    return "n/a" if value is None else format(value, form)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2,
                        help="cold runs of each pipeline, alternating (default 2)")
    parser.add_argument("--reference-beam", choices=("as-shipped", "in-memory"),
                        default="as-shipped",
                        help="Beam mode of TFX's pipeline (default: as the example ships)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep every run's data, outputs and logs here (default: a "
                        "temporary folder, deleted at the end)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="give up on a run after this many seconds")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    if args.work_dir is not None and args.work_dir.exists() and any(args.work_dir.iterdir()):
        parser.error(f"--work-dir {args.work_dir} is not empty")
    work = Path(tempfile.mkdtemp(prefix="bench-cold-")) if args.work_dir is None \
        else args.work_dir.resolve()
    try:
        report = benchmark(work, args)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print_report(report)
    print(json.dumps(report))


def benchmark(work: Path, args) -> dict:
    data_dir = work / "data"
    prepare_default_data(data_dir)  # copied once, read by every run of ours
    runs: list[dict] = []
    facts = {"ours": [], "theirs": []}
    for round_ in range(1, args.rounds + 1):
        order = ("ours", "theirs") if round_ % 2 else ("theirs", "ours")
        for who in order:
            if who == "ours":
                output_dir = work / f"ours-{round_}"
                cold, summary = run_pipeline(data_dir, output_dir, label=f"ours, round {round_}",
                                             timeout=args.timeout)
                before = _versions(output_dir / "serving")
                warm, warm_summary = run_pipeline(data_dir, output_dir, timeout=args.timeout,
                                                  label=f"ours warm rerun, round {round_}")
                states = [c["state"] for c in warm_summary["components"]]
                runs.append({"round": round_, "run": "ours cold",
                             "seconds": round(cold.seconds, 1),
                             "peak_tree_rss_mb": round(cold.peak_tree_rss_mb),
                             "component_seconds": {c["id"]: c["seconds"]
                                                   for c in summary["components"]},
                             "blessed": summary.get("blessed"),
                             "pushed": summary.get("pushed")})
                runs.append({"round": round_, "run": "ours warm",
                             "seconds": round(warm.seconds, 1),
                             "cached": states.count("cached"),
                             "executed": states.count("executed"),
                             # The summary's `pushed` describes the cached Pusher's
                             # artifact; what counts is whether a version appeared.
                             "new_versions": len(_versions(output_dir / "serving") - before)})
                _progress(runs[-2])
                _progress(runs[-1])
                # The cold run's, not the warm rerun's (the newest in that store).
                facts["ours"].append((output_dir / "metadata.db", summary["run_id"]))
            else:
                home = reference_home(work / f"theirs-{round_}")
                cold = run_reference(home, args.reference_beam, timeout=args.timeout,
                                     label=f"TFX's taxi pipeline, round {round_}")
                serving = home / "taxi" / "serving_model" / REFERENCE_NAME
                runs.append({"round": round_, "run": "theirs cold",
                             "seconds": round(cold.seconds, 1),
                             "peak_tree_rss_mb": round(cold.peak_tree_rss_mb),
                             "pushed": serving.is_dir() and any(serving.iterdir())})
                _progress(runs[-1])
                facts["theirs"].append((reference_metadata(home), None))
    return summarise(runs, facts, args)


def summarise(runs: list[dict], facts: dict, args) -> dict:
    """The report: median times, and quality and component times read from each run's
    ML Metadata (`facts`: per pipeline, (metadata.db, run id or None for the newest))."""

    def seconds(name: str) -> list[float]:
        return [r["seconds"] for r in sorted(runs, key=lambda r: r["round"])
                if r["run"] == name]

    ours, theirs, warm = seconds("ours cold"), seconds("theirs cold"), seconds("ours warm")
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]

    quality, components, outside = {}, {}, {}
    for who in ("ours", "theirs"):
        per_run = [run_facts(path, run_id) for path, run_id in facts[who]]
        newest = per_run[-1]
        evaluator = newest["evaluator"]
        quality[who] = {
            "evaluator_auc": evaluator.get("auc"),
            "evaluator_accuracy": evaluator.get("binary_accuracy"),
            "evaluator_example_count": evaluator.get("example_count"),
            "scored": score(newest["model"], newest["eval_examples"], who),
            "training": TRAINING[who],
        }
        names = {name for run in per_run for name in run["component_seconds"]}
        components[who] = {name: statistics.median(run["component_seconds"].get(name, 0.0)
                                                   for run in per_run)
                           for name in names}
        walls = ours if who == "ours" else theirs
        # Process start-up, imports, orchestration and ML Metadata between components.
        outside[who] = round(statistics.median(
            wall - sum(run["component_seconds"].values())
            for wall, run in zip(walls, per_run, strict=True)), 1)
    return {
        "rounds": args.rounds, "reference_beam": args.reference_beam,
        "runs": runs,
        "median_seconds": {"ours_cold": statistics.median(ours),
                           "theirs_cold": statistics.median(theirs),
                           "ours_warm": statistics.median(warm)},
        "median_ratio_ours_over_theirs": round(statistics.median(ratios), 3),
        "quality": quality,
        "median_component_seconds": components,
        "median_outside_components_s": outside,
    }


def print_report(report: dict) -> None:
    print(f"{'round':<7}{'run':<13}{'wall s':>8}{'peak RSS MB':>13}  notes")
    for r in report["runs"]:
        if r["run"] == "ours warm":
            notes = f"{r['cached']} cached, {r['executed']} executed, " \
                    f"{r['new_versions']} new versions pushed"
        else:
            notes = f"pushed {'yes' if r['pushed'] else 'no'}"
        rss = f"{r['peak_tree_rss_mb']:>13}" if "peak_tree_rss_mb" in r else f"{'':>13}"
        print(f"{r['round']:<7}{r['run']:<13}{r['seconds']:>8.1f}{rss}  {notes}")
    medians = report["median_seconds"]
    print(f"median: ours cold {medians['ours_cold']:.1f} s, theirs cold "
          f"{medians['theirs_cold']:.1f} s (Beam {report['reference_beam']}), ours/theirs "
          f"{report['median_ratio_ours_over_theirs']:.2f} (median of per-round ratios); "
          f"ours warm rerun {medians['ours_warm']:.1f} s")
    print()
    print(f"{'model':<8}{'training':<24}{'eval rows':>10}{'Evaluator AUC':>15}"
          f"{'Evaluator acc':>15}{'scored AUC':>12}{'scored acc':>12}")
    for who, q in report["quality"].items():
        print(f"{who:<8}{q['training']:<24}{q['scored']['eval_rows']:>10}"
              f"{_fmt(q['evaluator_auc']):>15}{_fmt(q['evaluator_accuracy']):>15}"
              f"{q['scored']['auc']:>12.4f}{q['scored']['accuracy']:>12.4f}")
    print()
    components = report["median_component_seconds"]
    names = sorted({*components["ours"], *components["theirs"]},
                   key=lambda n: -max(components["ours"].get(n, 0),
                                      components["theirs"].get(n, 0)))
    print(f"{'component (median s)':<32}{'ours':>8}{'theirs':>8}")
    for name in names:
        a, b = components["ours"].get(name), components["theirs"].get(name)
        if max(a or 0, b or 0) >= 0.5:
            print(f"{name:<32}{_fmt(a, '.1f'):>8}{_fmt(b, '.1f'):>8}")
    outside = report["median_outside_components_s"]
    print(f"{'outside components (start-up)':<32}{outside['ours']:>8.1f}"
          f"{outside['theirs']:>8.1f}")


if __name__ == "__main__":
    main()
