"""The pipeline's one configuration object, and the only place defaults are decided.

`Config` is frozen: `make_config` builds it once (`run` and `compile` through
`validated_config`, which checks their flags and data first), `create_pipeline` reads
it, tests derive variants with `dataclasses.replace`.
"""

import dataclasses
import hashlib
import re
from pathlib import Path

import models
from models.features import (
    CLASSIFICATION,
    REGRESSION,
    Label,
    ModelInputs,
    Ratio,
    SchemaError,
    from_schema,
)
from pipeline import uris
from pipeline.schema_file import load_schema

BASELINE_STRATEGIES = ("before-candidate", "latest-blessed")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "data" / "taxi"
DEFAULT_OUTPUT_DIR = REPO_ROOT / "outputs"
DEFAULT_SCHEMA_PATH = REPO_ROOT / "schema" / "schema.pbtxt"

# CsvExampleGen input layout: every span is a folder `span-<N>/` of CSV files; the
# pipeline trains on the latest span. A data directory without span folders is one
# dataset of the CSV files in it.
SPAN_PATTERN = "span-{SPAN}/*.csv"
FLAT_PATTERN = "*.csv"
# Where a dataset's schema lives when the run names no --schema: next to its CSVs.
SCHEMA_FILE = "schema.pbtxt"

# The taxi configuration: the default when no --label is given. The label is derived
# ("big tipper": tips > 20% of the fare); the census tracts are almost always empty.
TAXI_LABEL = Label("big_tipper", CLASSIFICATION, ("0", "1"), Ratio("tips", "fare", 0.2))
TAXI = {
    "pipeline_name": "taxi",
    "model_name": "big_tipper",
    "excluded_columns": ("pickup_census_tract", "dropoff_census_tract"),
    "min_auc": 0.94,
    "min_accuracy": 0.88,
    "slice_features": ("payment_type", "trip_start_hour"),
    # Calibrated on the taxi data: two random halves of it measure at most fare 0.09,
    # trip_seconds 0.05, coordinates 0.09, payment_type 0.005, company 0.02 (with 50
    # histogram buckets); fares tripled measure 0.39. trip_miles is left out: most
    # trips have 0.0 miles, and TFDV's histogram JSD swings from 0.26 to 0.70 between
    # random halves. trip_start_timestamp is left out: a new span is a later period.
    "drift_thresholds": (
        ("fare", 0.2),
        ("trip_seconds", 0.2),
        ("pickup_latitude", 0.3),
        ("pickup_longitude", 0.3),
        ("dropoff_latitude", 0.3),
        ("dropoff_longitude", 0.3),
        ("payment_type", 0.1),
        ("company", 0.15),
    ),
}


@dataclasses.dataclass(frozen=True)
class Locations:
    """Where the pipeline reads its data and schema and writes its outputs.

    `data_dir` and `schema_path` are a Path, or a uris.UriPath for a URI (`run
    --data-dir gs://...`, read through TFX's filesystem layer). `output_dir` is always
    local: ML Metadata's SQLite file, the run lock and the logs cannot live on an object
    store. An `--output-dir` URI becomes `output_uri`, with the pipeline root and the
    serving folder under it, and `output_dir` a local folder of its own
    (`local_state_dir`)."""

    data_dir: Path
    output_dir: Path
    schema_path: Path
    # Locations as URIs (gs://...) for an orchestrator that runs the pipeline elsewhere
    # (pipeline/kubeflow_v2.py); None keeps the local paths above. Strings, because a Path
    # turns gs://bucket/x into gs:/bucket/x.
    pipeline_root_uri: str | None = None
    data_uri: str | None = None
    schema_uri: str | None = None
    serving_uri: str | None = None
    # `run --output-dir URI`: where the pipeline root, the serving folder and the run
    # reports go (None: all under output_dir).
    output_uri: str | None = None

    @property
    def pipeline_root(self) -> Path:
        return self.output_dir / "tfx"

    @property
    def metadata_path(self) -> Path:
        return self.output_dir / "metadata.db"

    @property
    def serving_dir(self):
        """The serving folder: a Path, or a UriPath when it is a URI."""
        if self.serving_uri:
            return uris.location(self.serving_uri, "--serving-dir")
        return self.output_dir / "serving"

    @property
    def report_dir(self):
        """Where the run reports go: the output folder (a UriPath when a URI)."""
        return uris.UriPath(self.output_uri) if self.output_uri else self.output_dir

    @property
    def log_dir(self) -> Path:
        return self.output_dir / "logs"

    # What create_pipeline hands to TFX: the URI when one is set, else the local path.
    @property
    def pipeline_root_location(self) -> str:
        return self.pipeline_root_uri or str(self.pipeline_root)

    @property
    def data_location(self) -> str:
        return self.data_uri or str(self.data_dir)

    @property
    def schema_location(self) -> str:
        return self.schema_uri or str(self.schema_path)


@dataclasses.dataclass(frozen=True)
class EvaluationGate:
    """What the Evaluator measures a candidate model by, and what blesses it."""

    # Classification: the candidate must reach these on the eval split (a multi-class
    # model is gated on accuracy; its macro AUC is reported); the defaults only ask for
    # better than chance.
    min_auc: float = 0.5
    min_accuracy: float = 0.0
    # Regression: the candidate's eval RMSE and MAE must not exceed these (None: no
    # ceiling, only the comparison with the baseline).
    max_rmse: float | None = None
    max_mae: float | None = None
    # Every gated metric must not be worse than the latest blessed model's by more
    # than this (absolute, in the metric's units).
    max_regression: float = 0.0
    # Raw columns the Evaluator also reports metrics for, one slice per value (the
    # thresholds above apply to the whole eval split only).
    slice_features: tuple[str, ...] = ()
    # Which blessed model the Evaluator compares with: "before-candidate" (the newest
    # blessed model older than the candidate, pipeline/baseline.py) or "latest-blessed"
    # (TFX's LatestBlessedModelStrategy, the only one Kubeflow V2 compiles; on a rerun
    # with a cached Trainer it resolves the candidate itself as its own baseline).
    baseline_strategy: str = "before-candidate"


@dataclasses.dataclass(frozen=True)
class BeamOptions:
    """Where Beam runs (see pipeline/beam.py for the profiles and their arguments)."""

    profile: str = "in-memory"
    # True: no --beam was given and pipeline/scale.py chose the profile by the data's size.
    chosen: bool = False
    workers: int = 0
    job_endpoint: str | None = None
    environment: str = "DOCKER"
    environment_config: str | None = None
    dataflow_project: str | None = None
    dataflow_region: str | None = None
    temp_location: str | None = None


# Tuning trials: a taxi trial took 17 s on the shared 2-core machine (load average 12,
# bench/RESULTS.md), so 50 trials take about a quarter of an hour, a fifth of the 243
# points of the search space (models/tuner.py).
DEFAULT_TUNE_TRIALS = 10
MAX_TUNE_TRIALS = 50


@dataclasses.dataclass(frozen=True)
class Tuning:
    """Whether a TFX Tuner searches the model's hyperparameters before the Trainer
    (run --tune; models/tuner.py), and how many trials it may train."""

    enabled: bool = False
    trials: int = DEFAULT_TUNE_TRIALS

    def __post_init__(self):
        if not 1 <= self.trials <= MAX_TUNE_TRIALS:
            raise ValueError(f"tuning trials must be between 1 and {MAX_TUNE_TRIALS}, "
                             f"not {self.trials}")


# make_config's keywords for the tuning options: the CLI flags' names.
TUNING_KEYWORDS = {"tune": "enabled", "tune_trials": "trials"}
# make_config's keywords for the Beam options: the CLI flags' names.
BEAM_KEYWORDS = {"beam_profile": "profile", "beam_profile_chosen": "chosen",
                 "beam_workers": "workers",
                 "job_endpoint": "job_endpoint", "beam_environment": "environment",
                 "beam_environment_config": "environment_config",
                 "dataflow_project": "dataflow_project", "dataflow_region": "dataflow_region",
                 "temp_location": "temp_location"}


@dataclasses.dataclass(frozen=True)
class Config:
    locations: Locations
    # Hash of the models/ package: part of Transform's and Trainer's config, so editing
    # the model code invalidates their cache entries.
    model_fingerprint: str
    # (module, `code_fingerprint`) of each of COMPONENT_MODULES: part of its component's
    # parameters, for the same reason (`fingerprint_of`).
    code_fingerprints: tuple[tuple[str, str], ...]
    # The features and the label, derived from the schema (models/features.py).
    inputs: ModelInputs
    input_pattern: str = SPAN_PATTERN
    # Span numbers present under data_dir (the CLI lists them). Empty: CsvExampleGen
    # takes the latest span it finds and there is no drift check.
    spans: tuple[int, ...] = ()
    # Training window: the latest N spans.
    training_spans: int = 1
    pipeline_name: str = "taxi"
    model_name: str = "big_tipper"
    # Columns that are not model inputs although the schema types them (IDs, leaks).
    excluded_columns: tuple[str, ...] = ()
    # Hash-based train/eval split of every span: 4 buckets train, 1 eval (80% : 20%);
    # for large data the CLI caps the eval split (pipeline/scale.py).
    train_buckets: int = 4
    eval_buckets: int = 1
    # For large data, how many of the train buckets form the "train" split Transform
    # analyzes; the rest form "train_more", which only the Trainer reads (0: no such
    # split, Transform analyzes every training row; pipeline/scale.py).
    analyzed_buckets: int = 0
    # The latest span's rows as the CLI estimated them (pipeline/scale.py); None: not
    # read (compile without --data-dir, tests).
    estimated_rows: int | None = None
    # 200 x 256 rows: about 4 passes over the taxi training split. Its eval AUC over
    # four seeds: 0.9555-0.9570 at 200 steps, 0.9542-0.9560 at 400, 0.9524-0.9544 at
    # 600 (more steps overfit).
    train_steps: int = 200
    # The Evaluator's gate, by task.
    evaluation: EvaluationGate = EvaluationGate()
    seed: int = 0
    # Anomalies that only warn instead of stopping the pipeline. A rule names a feature
    # ("company"), an anomaly type ("ENUM_TYPE_UNEXPECTED_STRING_VALUES") or one type of
    # one feature ("payment_type:ENUM_TYPE_UNEXPECTED_STRING_VALUES").
    tolerated_anomalies: tuple[str, ...] = ()
    # Drift of the latest span against the previous one, per feature: Jensen-Shannon
    # divergence for numeric features, L-infinity distance for categorical ones. None
    # configured: no drift check.
    drift_thresholds: tuple[tuple[str, float], ...] = ()
    # False: drift over a threshold warns instead of stopping the run.
    drift_blocks: bool = True
    # `monitor`: the served model has decayed on a span when a gated metric is worse
    # there than at push time by more than this (in the metric's units). One taxi
    # model's AUC and accuracy on two random halves of the same data differ by chance
    # (bench/monitor_decay.py, 200 pairs per size): AUC p95 0.015 and max 0.022,
    # accuracy p95 0.020 and max 0.029 at 1,500 rows each; at 600 rows, p95 0.022 and
    # 0.035. A span's metrics are set against the eval split at push time, 600-3,000
    # rows: 0.03 stays above that noise for samples of 1,000 rows and more, and still
    # sees a real fall.
    max_decay: float = 0.03
    # `monitor`: the model's scores on a span have drifted from its scores on its own
    # eval split when TFDV's distance between the two exceeds this (Jensen-Shannon
    # divergence of probabilities or predictions, L-infinity of predicted classes).
    # Between random halves the taxi model's scores measure a JSD of at most 0.075 at
    # 300 rows each, 0.031 at 1,500 (bench/monitor_decay.py).
    prediction_drift_threshold: float = 0.1
    # Histogram resolution of StatisticsGen; the drift thresholds assume 50.
    histogram_buckets: int = 50
    enable_cache: bool = True
    # The Pusher also converts each version to TFLite and checks its scores; `run
    # --no-tflite` turns it off. The template's models convert with builtin ops only,
    # for a few seconds per push (README: The TFLite copy).
    tflite: bool = True
    # Where Beam runs.
    beam: BeamOptions = BeamOptions()
    # The Tuner between Transform and Trainer (off: the Trainer trains the default model).
    tuning: Tuning = Tuning()

    @property
    def label(self) -> Label:
        return self.inputs.label

    def fingerprint_of(self, module: str) -> str:
        """The code fingerprint of a component's module (KeyError: not one of
        COMPONENT_MODULES, so its cache entries would not follow its code)."""
        return dict(self.code_fingerprints)[module]

    @property
    def latest_span(self) -> int | None:
        return self.spans[-1] if self.spans else None

    @property
    def previous_span(self) -> int | None:
        """The span the latest one is compared with for drift."""
        return self.spans[-2] if len(self.spans) > 1 else None

    @property
    def training_window(self) -> tuple[int, ...]:
        return self.spans[-self.training_spans:]

    @property
    def model_serving_dir(self) -> Path:
        """Where Pusher writes `<integer version>/` folders, as TF Serving expects."""
        return self.locations.serving_dir / self.model_name

    @property
    def model_serving_location(self) -> str:
        """What create_pipeline hands to the Pusher: under the serving URI when one is
        set, else the local path."""
        if self.locations.serving_uri:
            return f"{self.locations.serving_uri.rstrip('/')}/{self.model_name}"
        return str(self.model_serving_dir)


# The project's own packages: what a component's code fingerprint follows.
PROJECT_PACKAGES = ("pipeline", "models")
# The modules whose code runs as a TFX component or executor (the executor's module):
# CsvExampleGen's executor, the DataGate, the Pusher. Each gets a code fingerprint
# (`code_fingerprint`), which create_pipeline puts into its component's parameters, so
# that editing the module, or any project module it imports, re-executes the component
# instead of reusing a cached, stale result. TFX's own executors run models/ code only
# (Transform, Trainer), which `model_fingerprint` covers.
COMPONENT_MODULES = ("pipeline.example_gen", "pipeline.gate", "pipeline.pusher")


def module_path(name: str) -> Path | None:
    """The source file of a project module or package (None: not one)."""
    path = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_source(name: str) -> bytes:
    """A project module's source, as the fingerprints read it."""
    return module_path(name).read_bytes()


def project_imports(module: str) -> set[str]:
    """`module` and every project module it imports, directly or through others (at
    any depth, in functions too), with the packages they are in (importing
    `models.features` runs `models/__init__.py`), read from the source with `ast`."""
    import ast

    found, pending = set(), [module]
    while pending:
        name = pending.pop()
        if name in found or module_path(name) is None:
            continue
        found.add(name)
        parts = name.split(".")
        pending += [".".join(parts[:end]) for end in range(1, len(parts))]
        for node in ast.walk(ast.parse(module_source(name))):
            if isinstance(node, ast.Import):
                pending += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from pipeline import serving` names a module, `from pipeline.gate_rules
                # import X` a module's member: try both.
                pending += [node.module, *(f"{node.module}.{alias.name}"
                                           for alias in node.names)]
        pending = [n for n in pending if n.split(".")[0] in PROJECT_PACKAGES]
    return found


def code_fingerprint(module: str) -> str:
    """A short hash of the source of `module` and of the project modules it imports
    (`project_imports`): editing any of them changes it."""
    digest = hashlib.sha256()
    for name in sorted(project_imports(module)):
        digest.update(name.encode())
        digest.update(module_source(name))
    return digest.hexdigest()[:16]


def _name(text: str) -> str:
    """A pipeline or model name from a folder or column name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.-") or "dataset"


def _location(value):
    """A location as Config holds it: a UriPath for a URI, else an absolute Path."""
    if isinstance(value, uris.UriPath):
        return value
    return uris.location(str(value), "a location")


def local_state_dir(output_uri: str) -> Path:
    """The local folder that holds ML Metadata, the run lock and the logs of an output
    folder given as a URI: under outputs/uri/, named after the URI, so that every
    command given the same --output-dir finds it."""
    digest = hashlib.sha256(output_uri.encode()).hexdigest()[:8]
    return DEFAULT_OUTPUT_DIR / "uri" / f"{_name(output_uri.split('://', 1)[1])}-{digest}"


def dataset_defaults(data_dir: Path | str, label: str | None,
                     task: str | None = None) -> dict:
    """The configuration a run starts from: the taxi one when no label column is
    named, else one for the dataset in `data_dir` with `label` as its label column
    (named after the folder, schema next to the CSVs, outputs in outputs/<name>/)."""
    data_dir = _location(data_dir)
    if label is None:
        if task not in (None, CLASSIFICATION):
            raise ValueError("the taxi label is a class; name a --label column for "
                             f"a {task} task")
        return {**TAXI, "data_dir": data_dir, "label": TAXI_LABEL,
                "output_dir": DEFAULT_OUTPUT_DIR, "schema_path": DEFAULT_SCHEMA_PATH}
    if task is not None and task not in (CLASSIFICATION, REGRESSION):
        raise ValueError(f"unknown task {task!r}; choose {CLASSIFICATION} or {REGRESSION}")
    name = _name(data_dir.name)
    return {
        "data_dir": data_dir,
        "label": Label(label, task or CLASSIFICATION),
        "pipeline_name": name,
        "model_name": _name(label),
        "output_dir": DEFAULT_OUTPUT_DIR / name,
        "schema_path": data_dir / SCHEMA_FILE,
    }


def make_config(label: str | None = None, task: str | None = None, **overrides) -> Config:
    """The configuration for the dataset (see `dataset_defaults`) with `overrides`
    applied (paths made absolute); reads the schema to derive the model's inputs
    (models.features.from_schema, whose SchemaError says what is unusable).

    `overrides` are flat: a group's field by its own name (`output_dir`, `min_auc`),
    a Beam or tuning option by its flag's (`beam_workers`, `tune_trials`, see
    BEAM_KEYWORDS and TUNING_KEYWORDS). ValueError: tuning trials out of range."""
    values = {
        "model_fingerprint": models.fingerprint(),
        "code_fingerprints": tuple((module, code_fingerprint(module))
                                   for module in COMPONENT_MODULES),
        **dataset_defaults(overrides.pop("data_dir", None) or DEFAULT_DATA_DIR, label, task),
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    for key in ("data_dir", "output_dir", "schema_path"):
        values[key] = _location(values[key])
    if isinstance(values["output_dir"], uris.UriPath):
        output_uri = str(values.pop("output_dir"))
        values.update(output_dir=local_state_dir(output_uri), output_uri=output_uri)
        values.setdefault("pipeline_root_uri", f"{output_uri}/tfx")
        values.setdefault("serving_uri", f"{output_uri}/serving")
    values["inputs"] = from_schema(load_schema(values["schema_path"]), values.pop("label"),
                                   values.get("excluded_columns", ()))
    return Config(**_grouped(values))


def _grouped(values: dict) -> dict:
    """Config's arguments from make_config's flat keywords: the locations, the
    evaluation gate, the Beam options (BEAM_KEYWORDS) and the tuning options
    (TUNING_KEYWORDS) each into their dataclass."""
    groups = {"locations": {}, "evaluation": {}, "beam": {}, "tuning": {}}
    kinds = {"locations": Locations, "evaluation": EvaluationGate}
    for group, kind in kinds.items():
        for field in dataclasses.fields(kind):
            if field.name in values:
                groups[group][field.name] = values.pop(field.name)
    for keyword, field in BEAM_KEYWORDS.items():
        if keyword in values:
            groups["beam"][field] = values.pop(keyword)
    for keyword, field in TUNING_KEYWORDS.items():
        if keyword in values:
            groups["tuning"][field] = values.pop(keyword)
    return {**values, "locations": Locations(**groups["locations"]),
            "evaluation": EvaluationGate(**groups["evaluation"]),
            "beam": BeamOptions(**groups["beam"]), "tuning": Tuning(**groups["tuning"])}


def validated_config(args, *, data_required: bool = True, log=None, **fixed) -> Config:
    """The Config for the flags of `run` or `compile` (`args`, the parsed command line;
    a flag the command does not have counts as not given): the one path both build
    their Config through. Checks the data, the label, the schema and the gate flags
    first, inferring and saving a dataset's schema on its first run (and saying so on
    `log`, default stderr); DataError in one sentence if any of them is unusable.

    `data_required` False (compile, whose job reads the data elsewhere): without a
    --data-dir no data is read or prepared, and the checks that need none still run.
    `fixed`: Config fields the command decides itself (compile's URIs and spans)."""
    import os
    import sys

    from pipeline import data, scale
    from pipeline.flags import dataset_overrides, model_overrides

    def flag(name: str):
        return getattr(args, name, None)

    log = log or sys.stderr
    try:
        data_dir = (uris.location(args.data_dir, "--data-dir") if args.data_dir
                    else DEFAULT_DATA_DIR)
        for name in ("output_dir", "serving_dir"):
            if flag(name):
                uris.location(flag(name), f"--{name.replace('_', '-')}")
    except uris.UnsupportedLocation as error:
        raise data.DataError(str(error)) from None
    if flag("output_dir"):
        # A run's components write and rename files under it through Beam, which
        # matches a path with these characters as a pattern (CsvExampleGen failed to
        # rename its output: "src and dst files do not exist").
        data.check_no_pattern(uris.location(args.output_dir, "--output-dir"),
                              "output directory", "choose another --output-dir")
    if any(uris.is_uri(flag(name)) for name in ("data_dir", "output_dir", "serving_dir")):
        # The checks read URIs through TFX's filesystem layer: TensorFlow's start-up
        # lines would come before the run's first line. Not quiet_tensorflow: its
        # filter on absl's logger would hide the component records the progress
        # lines are made of (pipeline/runner.py).
        from pipeline.quiet import captured_output

        with captured_output(Path(os.devnull), verbose=bool(flag("verbose"))):
            from tfx.dsl.io import fileio  # noqa: F401
    read_data = data_required or args.data_dir is not None
    if read_data and args.data_dir is None and not data_dir.is_dir():
        target = data.prepare_default_data(data_dir)
        print(f"prepared the default data: {target}", file=log)
    spans = data.check_data_dir(data_dir, tuple(flag("exclude") or ())) if read_data else ()
    if flag("training_spans") and args.training_spans > max(len(spans), 1):
        raise data.DataError(f"--training-spans {args.training_spans} asks for more spans "
                             f"than {data_dir} has ({len(spans)})")
    try:
        defaults = dataset_defaults(data_dir, args.label, args.task)
    except ValueError as error:
        raise data.DataError(str(error)) from None
    check_gate_flags(args, defaults["label"].task)
    if flag("tune_trials") is not None and not flag("tune"):
        raise data.DataError("--tune-trials needs --tune (it sets how many models the "
                             "Tuner trains)")
    label = defaults["label"]
    schema_path = (Path(args.schema).expanduser().resolve() if args.schema
                   else defaults["schema_path"])
    if read_data:
        csv_files = data.latest_csvs(data_dir, spans)
        if args.label is None:
            data.check_taxi_columns(csv_files[0], label.source_columns)
        data.check_label(csv_files, label.source_columns, None if label.ratio else label.name,
                         label.task)
        if args.label and args.schema is None and not schema_path.is_file():
            if uris.is_uri(schema_path):
                raise data.DataError(f"no schema at {schema_path}: a run on a data folder "
                                     "given as a URI does not write one there; pass "
                                     "--schema FILE (e.g. inferred by a run on a local "
                                     "copy)")
            # Imported here: TFDV imports TensorFlow, which the checks above do not need.
            from pipeline import schema_review
            from pipeline.quiet import captured_output

            # TFDV's Beam and TensorFlow start-up lines would bury the progress lines.
            with captured_output(Path(os.devnull), verbose=bool(flag("verbose"))):
                schema_review.bootstrap(csv_files, label, schema_path)
            print(f"inferred a schema from {csv_files[0].parent} and saved it for review: "
                  f"{schema_path}", file=log)
    overrides = {**dataset_overrides(args), **model_overrides(args),
                 **{name: flag(name) for name in (
                     "beam_workers", "job_endpoint", "beam_environment",
                     "beam_environment_config", "dataflow_project", "dataflow_region",
                     "temp_location")},
                 # The eval split's size and the Beam profile, by the data's size.
                 **scale.overrides(scale.estimated_rows(csv_files) if read_data else None,
                                   flag("max_eval_rows"), flag("beam_profile"))}
    try:
        cfg = make_config(**{
            "data_dir": data_dir, "spans": spans, "output_dir": flag("output_dir"),
            "training_spans": flag("training_spans"),
            "serving_uri": (str(uris.location(flag("serving_dir"), "--serving-dir"))
                            if flag("serving_dir") else None),
            "input_pattern": None if spans else FLAT_PATTERN, **overrides, **fixed})
    except SchemaError as error:
        raise data.DataError(f"{error} (schema: {schema_path})") from None
    except FileNotFoundError as error:
        raise data.DataError(f"no schema at {error.filename}; pass --schema FILE") from None
    except ValueError as error:  # Tuning's range check
        raise data.DataError(str(error)) from None
    if cfg.label.num_classes > 2 and args.min_auc is not None:
        raise data.DataError(f"--min-auc gates two-class models; {cfg.label.name!r} has "
                             f"{cfg.label.num_classes} classes, so use --min-accuracy")
    return cfg


def check_gate_flags(args, task: str) -> None:
    """DataError when a gate flag concerns the other task (it would do nothing)."""
    from pipeline import data

    other = (("--max-rmse", args.max_rmse), ("--max-mae", args.max_mae)) \
        if task == CLASSIFICATION else (("--min-auc", args.min_auc),
                                           ("--min-accuracy", args.min_accuracy))
    given = [flag for flag, value in other if value is not None]
    if given:
        raise data.DataError(f"{' and '.join(given)} gate{'s' if len(given) == 1 else ''} "
                             f"the other task; this is a {task}")
    if task == CLASSIFICATION and args.max_regression is not None and args.max_regression > 1:
        # AUC and accuracy cannot fall by more than 1: the comparison would do nothing.
        raise data.DataError(f"--max-regression {args.max_regression:g} is more than AUC or "
                             "accuracy can fall (at most 1)")
