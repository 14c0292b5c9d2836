"""The `predict FILE` command: scores a TF Serving REST JSON body or the rows of a CSV
file with a pushed version, in process, and prints what TF Serving's `:predict` would
answer (`pipeline.serving`)."""

import json
from pathlib import Path

from models.features import CLASSIFICATION
from pipeline import predict_guard
from pipeline.exit_codes import EXIT_OK, EXIT_USAGE
from pipeline.flags import positive_int, writable_folder

# The request limits `--help` states (pipeline/predict_guard.py enforces them).
_FILE_HELP = (
    "a .json request body ({\"instances\": [...]} or {\"inputs\": {...}}) or a .csv with "
    f"a header row; at most {predict_guard.MAX_BODY_BYTES // 2**20} MiB and "
    f"{predict_guard.MAX_ROWS:,} rows, values typed as TF Serving's REST API takes them")


def add_parser(commands) -> None:
    predict = commands.add_parser(
        "predict", help="score a TF Serving REST JSON body or CSV rows with a pushed version")
    predict.add_argument("file", type=Path, help=_FILE_HELP)
    predict.add_argument("--version", type=positive_int,
                         help="the version to use (default: the one TF Serving serves: "
                         "the newest, unless `rollback` pinned one)")
    predict.add_argument("--output-dir", help="the runs to read (default: outputs)")
    predict.add_argument("--tflite", action="store_true",
                         help="score with the version's TFLite model "
                         "(assets.extra/model.tflite) through tf.lite.Interpreter instead "
                         "of the SavedModel TF Serving loads")
    predict.add_argument("--log-dir", type=writable_folder, metavar="DIR",
                         help="also append the request and its response to DIR as a "
                         "PredictionLog TFRecord file (a refused request is not logged)")


def _model_elsewhere(path: Path, names, cfg) -> Path | None:
    """Another output directory than `cfg`'s with a model for the data `path` belongs
    to (or, with `names`, for those columns), for predict's errors; None: none found."""
    from pipeline import workspace
    from pipeline.config import DEFAULT_OUTPUT_DIR

    found = [directory for directory in workspace.model_dirs_for(
        path, names, [DEFAULT_OUTPUT_DIR, cfg.locations.output_dir.parent])
        if directory != cfg.locations.output_dir]
    return found[0] if found else None


def _csv_columns(path: Path) -> set[str] | None:
    """The column names of a CSV file's header (None: not a CSV file that can be read)."""
    import csv

    if path.suffix.lower() != ".csv":
        return None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return set(next(csv.reader(handle), []))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def _answer_note(label) -> str:
    """What the numbers of a predict answer are (the answer itself keeps TF Serving's
    format): for a classifier, which class each probability is."""
    from models.signatures import output_name

    output = output_name(label.task)
    if label.task != CLASSIFICATION:
        return f"{output}: the predicted {label.name}"
    if label.num_classes > 2:
        return (f"{output}: one column per class of {label.name}, in the order "
                f"{', '.join(label.classes)}")
    meaning = ""
    if label.ratio:
        meaning = (f"; {label.name} is {label.classes[1]} when {label.ratio.numerator} > "
                   f"{label.ratio.threshold:g} x {label.ratio.denominator}")
    return (f"{output}: P({label.name} = {label.classes[1]}), per row (the other class: "
            f"{label.classes[0]}){meaning}")


def _unpublished(cfg, version: int, version_dir: Path) -> str | None:
    """Why predict does not load `version` (None: it may): only a version the Pusher
    published and checked, unchanged, whose graph a model server could run."""
    try:
        predict_guard.check_published(cfg, version, version_dir)
    except predict_guard.Unpublished as error:
        return str(error)
    return None


def _request(path: Path, version_dir: Path, inputs: dict[str, str],
             columns: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """The REST body `path` holds (CSV rows become instances), with input names as
    keys, no larger than predict's limits and typed as TF Serving's REST API takes it
    (RequestError otherwise); and {key: input name} for the keys renamed."""
    from pipeline import serving

    data = predict_guard.read_body(path)
    ranks = predict_guard.signature_ranks(version_dir, serving.JSON_SIGNATURE)
    if path.suffix.lower() == ".csv":
        instances = serving.csv_instances(path, inputs, columns)
        predict_guard.check_rows(len(instances), "rows")
        # Cells as csv_instances typed them, checked against the dtypes' ranges too.
        body, renamed = {"instances": instances}, {}
    else:
        body, renamed = serving.rename_request(predict_guard.parse_json(data, path), inputs)
    return predict_guard.strict_body(body, inputs, ranks, columns), renamed


class NoTFLiteModel(OSError):
    """The version has no TFLite model; the message says so in one sentence."""


def _tflite_answer(version_dir: Path, inputs: dict, body: dict, columns: dict) -> dict:
    """`predict --tflite`: the answer of the version's TFLite model (pipeline.tflite),
    in TF Serving's REST format like the SavedModel's."""
    from pipeline import tflite

    path = version_dir / tflite.TFLITE_FILE
    if not path.is_file():
        raise NoTFLiteModel(
            f"version {version_dir.name} has no TFLite model ({tflite.TFLITE_FILE}): the "
            "run that pushed it turned it off (run --no-tflite), or its model did not "
            "convert (`show` says why)")
    return tflite.predict_json(tflite.load(path), inputs, body, columns)


def main(args, out, err) -> int:
    """Prints what TF Serving's REST `:predict` would answer, as JSON, and on stderr
    what its numbers are."""
    from models.features import SchemaError
    from models.signatures import input_name
    from pipeline import serving, workspace

    try:
        cfg = workspace.flag_config(args.output_dir)
    except (workspace.OutputDirError, SchemaError, OSError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    available = serving.versions(cfg.model_serving_dir)
    if not available:
        elsewhere = _model_elsewhere(args.file, _csv_columns(args.file), cfg)
        print(f"error: no pushed model in {cfg.model_serving_dir}: " + (
            f"{elsewhere} holds one for this data, pass --output-dir {elsewhere}"
            if elsewhere else "run the pipeline first"), file=err)
        return EXIT_USAGE
    try:
        # Without --version, the version TF Serving would answer with (a rollback may
        # have pinned an older one).
        served = serving.served_version(available, serving.pinned_versions(
            serving.models_config_path(cfg.model_serving_dir), cfg.model_name))
    except serving.ModelsConfigError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    version = args.version or served or available[-1]
    if version not in available:
        print(f"error: no version {version} in {cfg.model_serving_dir} (pushed: "
              f"{', '.join(map(str, available))})", file=err)
        return EXIT_USAGE
    version_dir = cfg.model_serving_dir / str(version)
    refusal = _unpublished(cfg, version, version_dir)
    if refusal:
        print(f"error: {refusal}", file=err)
        return EXIT_USAGE
    if args.file.is_dir():
        elsewhere = _model_elsewhere(args.file, None, cfg)
        hint = f" ({elsewhere} holds a model for it: pass --output-dir {elsewhere})" \
            if elsewhere else ""
        print(f"error: {args.file} is a folder; give one of its CSV files or a JSON "
              f"request body{hint}", file=err)
        return EXIT_USAGE
    # The model's inputs by input name, with the CSV column each comes from.
    columns = {input_name(column): column for column in cfg.inputs.features}
    renamed = {}
    try:
        inputs = serving.signature_inputs(version_dir, serving.JSON_SIGNATURE)
        body, renamed = _request(args.file, version_dir, inputs, columns)
        if args.tflite:
            answer = _tflite_answer(version_dir, inputs, body, columns)
        else:
            import tensorflow as tf

            model = tf.saved_model.load(str(version_dir), tags=["serve"])
            answer = serving.predict_json(model, inputs, body, columns)
        if args.log_dir:
            from pipeline import serving_logs

            serving_logs.append(args.log_dir, version_dir, body, answer)
    except NoTFLiteModel as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    except OSError as error:
        print(f"error: {error.strerror}: {error.filename}", file=err)
        return EXIT_USAGE
    except UnicodeDecodeError as error:
        # Said for a CSV as for a JSON body: a wrong encoding is not a JSON syntax error.
        print(f"error: {args.file} is not UTF-8 text (byte {error.start} cannot be "
              "decoded): save it as UTF-8", file=err)
        return EXIT_USAGE
    except json.JSONDecodeError as error:
        print(f"error: {args.file} is not a JSON request body: {error}", file=err)
        return EXIT_USAGE
    except serving.MissingInputs as error:
        elsewhere = _model_elsewhere(args.file, error.given, cfg)
        if elsewhere:
            print(f"error: {args.file} lacks {len(error.missing)} of the {len(inputs)} "
                  f"inputs of the model in {cfg.locations.output_dir}; {elsewhere} holds a "
                  f"model for this data: pass --output-dir {elsewhere}", file=err)
        else:
            print(f"error: {error}; if another run trained on this data, pass its "
                  "--output-dir", file=err)
        return EXIT_USAGE
    except serving.RequestError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    print(json.dumps(answer), file=out)
    if renamed:
        print("note: TF Serving itself takes the input names: " + ", ".join(
            f"{name} for {key!r}" for key, name in renamed.items()), file=err)
    print(_answer_note(cfg.label), file=err)
    return EXIT_OK
