"""The output directory's safety rules: one run at a time, one dataset and label per
directory, and checks before a run.

A scheduled pipeline gets started twice, killed, and pointed at read-only, full or
damaged output directories. The lock keeps two runs from writing the same ML Metadata
store and serving folder; the dataset record keeps a model of one label from being
compared with (or replacing) a model of another; the checks turn a directory a run
cannot use into one sentence with a recovery step, before anything is written.
"""

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from pathlib import Path

from pipeline import safe_files, uris

LOCK_FILE = ".run.lock"
# What the runs in a directory predict, and from which data (see `claim_dataset`).
DATASET_FILE = "dataset.json"
# A run on the default data writes about 6 MB (15k rows); refuse well before a write
# fails half-way, with room for ten times the data.
MIN_FREE_BYTES = 100 * 2**20


class OutputDirError(Exception):
    """The output directory cannot be used; the message says why and how to recover."""


class Busy(OutputDirError):
    """Another run holds the output directory's lock."""


def describe_os_error(error: BaseException, path: Path) -> str | None:
    """The recovery sentence for the errors a full or read-only disk gives (an OSError,
    or SQLite's own wording when ML Metadata hits it)."""
    code = getattr(error, "errno", None)
    text = str(error).lower()
    if code == errno.ENOSPC or "no space left" in text or "disk is full" in text:
        return (f"no space left on the device of {path}: free some space and run again "
                "(components that finished are reused)")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or "read-only" in text:
        return (f"cannot write to {path} (read-only or not permitted): use a writable "
                "--output-dir (cp -a the old one there to keep its history)")
    return None


def check_writable(output_dir: Path, output_uri: str | None = None) -> None:
    """Creates the folder and a probe file in it; checks the free space. An output
    folder given as a URI (`output_uri`) gets a probe file too, through TFX's
    filesystem layer (a store has no free space to ask for)."""
    if output_uri:
        probe_uri = f"{output_uri}/.write-probe-{os.getpid()}"
        try:
            uris.write_text(probe_uri, "")
            from tfx.dsl.io import fileio

            fileio.remove(probe_uri)
        except Exception as error:  # gfile raises its own error types, not OSError
            raise OutputDirError(f"cannot write to {output_uri}: "
                                 f"{str(error).strip().splitlines()[0]}") from None
    probe = output_dir / f".write-probe-{os.getpid()}"
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        os.close(safe_files.create_new(probe))
        probe.unlink()
    except OSError as error:
        reason = describe_os_error(error, output_dir)
        raise OutputDirError(
            reason or f"cannot use output directory {output_dir}: {error.strerror}") from None
    free = shutil.disk_usage(output_dir).free
    if free < MIN_FREE_BYTES:
        raise OutputDirError(
            f"only {free // 2**20} MB free on the device of {output_dir}; a run needs about "
            f"{MIN_FREE_BYTES // 2**20} MB: free some space and run again")


def check_metadata(metadata_path: Path) -> None:
    """Refuses an ML Metadata file that cannot be read, rather than letting TFX fail
    mid-run or start over on top of it."""
    if not metadata_path.exists():
        return
    from pipeline import metadata

    try:
        store = metadata.open_store(metadata_path)
        store.get_contexts_by_type("pipeline_run")
    except Exception as error:  # MLMD raises its own error types, or a bare RuntimeError
        raise OutputDirError(
            f"{metadata_path} is not a readable ML Metadata database ({error}). Recovery: "
            f"mv {metadata_path} {metadata_path}.broken and run again; the next run starts "
            "a new history and re-executes every component (the old outputs in tfx/ are "
            "moved to tfx.orphaned-<time>), and the versions already in serving/ are "
            "kept") from None


def missing_artifacts(metadata_path: Path) -> int:
    """How many artifacts of the newest run are recorded but gone from disk (e.g. a
    deleted pipeline root). TFX re-executes components whose cached outputs are gone."""
    if not metadata_path.exists():
        return 0
    from pipeline import metadata

    store = metadata.open_store(metadata_path)
    run_id = metadata.latest_run_id(store)
    if run_id is None:
        return 0
    missing = 0
    for node in metadata.run_outputs(store, run_id).values():
        for artifacts in node["artifacts"].values():
            missing += sum(1 for artifact in artifacts
                           if artifact.uri and not uris.exists(artifact.uri))
    return missing


def set_aside_orphaned_root(locations) -> Path | None:
    """Moves a pipeline root that no ML Metadata history records (metadata.db moved away,
    as the recovery from a damaged one says, or deleted) to `tfx.orphaned-<time>` beside
    it, and returns where; None when there is nothing to move.

    TFX numbers a new history's executions from 1 and writes each output to
    <root>/<component>/<output>/<execution id>, so a new history on top of the old
    folders fails in its first component ("file already exists"). Nothing is deleted:
    the old outputs stay readable until the user removes them. A URI root is not moved
    (a store's rename copies every object): the user is asked to move it."""
    if metadata_history_exists(locations.metadata_path):
        return None
    root = locations.pipeline_root_location
    if uris.is_uri(root):
        if uris.children(root):
            raise OutputDirError(
                f"{root} holds the outputs of a history {locations.metadata_path} no "
                "longer records, and a new history would write over them: move or delete "
                f"{root} and run again")
        return None
    root = Path(root)
    if not root.is_dir() or not any(root.iterdir()):
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target = root.with_name(f"{root.name}.orphaned-{stamp}")
    if target.exists():
        target = root.with_name(f"{target.name}-{os.getpid()}")
    root.rename(target)
    return target


def metadata_history_exists(metadata_path: Path) -> bool:
    """Whether the ML Metadata file exists and records at least one run."""
    if not metadata_path.exists():
        return False
    from pipeline import metadata

    return metadata.latest_run_id(metadata.open_store(metadata_path)) is not None


@contextlib.contextmanager
def exclusive(output_dir: Path, wait: bool = False):
    """Holds the output directory's lock for one run. The OS drops it when the process
    ends, killed or not, so a crash never leaves a stale lock."""
    path = output_dir / LOCK_FILE
    try:
        fd = safe_files.open_lock(path)
    except safe_files.NotRegularFile as error:
        raise OutputDirError(str(error)) from None
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise OutputDirError(f"{path} is a symbolic link, which a run never follows: "
                             f"remove it (rm {path}) and run again") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise Busy(
                f"another run ({holder}) is using {output_dir}: wait for it to finish, "
                "pass --wait to queue behind it, or use another --output-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {time.strftime('%H:%M:%S')}".encode(), 0)
        yield
    finally:
        os.close(fd)


def _dataset_record(cfg) -> dict:
    """The make_config arguments that choose cfg's dataset and label, and a serving
    folder that `run --serving-dir` moved out of the output directory (so that predict
    and the other commands find its versions). The taxi configuration records no
    other paths: its schema is the checkout's, wherever that is."""
    label = cfg.label
    serving = cfg.locations.serving_uri
    moved = ({"serving_dir": serving}
             if serving and serving != f"{cfg.locations.output_uri}/serving" else {})
    if label.ratio:
        return {"label": None, "task": label.task, **moved}
    return {"label": label.name, "task": label.task, "data_dir": str(cfg.locations.data_dir),
            "schema_path": str(cfg.locations.schema_path),
            "excluded_columns": list(cfg.excluded_columns), **moved}


def claim_dataset(cfg) -> None:
    """Records cfg's dataset in its output directory; OutputDirError when the directory
    already holds runs that predict another label (their models are no baseline for
    this one, and its serving folder is theirs)."""
    path = cfg.locations.output_dir / DATASET_FILE
    record = _dataset_record(cfg)
    held = recorded_dataset(cfg.locations.output_dir)
    if held and (held["label"], held["task"]) != (record["label"], record["task"]):
        held_label = held["label"] or "the taxi big-tipper label"
        raise OutputDirError(
            f"{cfg.locations.output_dir} holds runs that predict {held_label} ({held['task']}); "
            "give this run another --output-dir")
    if held != record:
        safe_files.write_text(path, json.dumps(record, indent=2) + "\n")


def recorded_dataset(output_dir: Path) -> dict:
    """The make_config arguments of the dataset whose runs `output_dir` holds ({}:
    none recorded, e.g. no run yet)."""
    try:
        return json.loads(safe_files.read_regular(output_dir / DATASET_FILE, 2**20)
                          .decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise OutputDirError(f"cannot read {output_dir / DATASET_FILE}: {error}") from None


def workspace_config(output_dir: Path):
    """The Config of the dataset whose runs `output_dir` holds (the taxi one when no run
    recorded another): what commands that read runs (predict, schema-diff) use."""
    from pipeline.config import local_state_dir, make_config

    record = recorded_dataset(local_state_dir(str(output_dir)) if uris.is_uri(output_dir)
                              else output_dir)
    return make_config(output_dir=output_dir, data_dir=record.get("data_dir"),
                       label=record.get("label"), task=record.get("task"),
                       schema_path=record.get("schema_path"),
                       serving_uri=record.get("serving_dir"),
                       excluded_columns=tuple(record.get("excluded_columns") or ()) or None)


def flag_config(output_dir: str | None):
    """The Config of the output directory an `--output-dir` flag names (default:
    outputs/), as `workspace_config` reads it."""
    from pipeline.config import DEFAULT_OUTPUT_DIR

    try:
        return workspace_config(uris.location(str(output_dir or DEFAULT_OUTPUT_DIR),
                                              "--output-dir"))
    except uris.UnsupportedLocation as error:
        raise OutputDirError(str(error)) from None


def model_dirs_for(path: Path, names, roots) -> list[Path]:
    """Output directories (each of `roots` and the folders in it) with a pushed model for
    the data `path` belongs to: trained on a data folder that is or holds `path` (the
    nearest first), or, when `names` (CSV columns or JSON keys) is given, taking only inputs
    among them. What `predict` suggests when its output directory's model does not fit."""
    from models.signatures import input_name
    from pipeline.serving import versions

    path = Path(path).expanduser().resolve()
    given = None if names is None else {*names, *map(input_name, names)}
    candidates = []
    for root in roots:
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            continue
        for directory in [root, *sorted(child for child in root.iterdir() if child.is_dir())]:
            if (directory / DATASET_FILE).is_file() and directory not in candidates:
                candidates.append(directory)
    by_data, by_inputs = [], []
    for directory in candidates:
        try:
            cfg = workspace_config(directory)
        except Exception:  # a record, schema or proto that cannot be read: no answer here
            continue
        if not versions(cfg.model_serving_dir):
            continue
        if cfg.locations.data_dir == path or cfg.locations.data_dir in path.parents:
            by_data.append((-len(cfg.locations.data_dir.parts), directory))
        elif given is not None and {input_name(c) for c in cfg.inputs.features} <= given:
            by_inputs.append(directory)
    return [directory for _, directory in sorted(by_data)] + by_inputs


def config_with_runs(output_dir):
    """The Config of an output directory whose runs a command reads (its ML Metadata
    path and folders); OutputDirError when no run has been made there."""
    from pipeline.config import make_config

    try:
        cfg = make_config(output_dir=output_dir)
    except uris.UnsupportedLocation as error:
        raise OutputDirError(str(error)) from None
    if not cfg.locations.metadata_path.exists():
        where = cfg.locations.output_uri or cfg.locations.output_dir
        raise OutputDirError(f"no runs in {where}: run `python -m pipeline run` first")
    return cfg


def open_runs(output_dir):
    """(Config, open ML Metadata store) of an output directory whose runs a command
    reads; OutputDirError when there are none or its metadata.db is unreadable."""
    from pipeline import metadata

    cfg = config_with_runs(output_dir)
    check_metadata(cfg.locations.metadata_path)
    return cfg, metadata.open_store(cfg.locations.metadata_path)


def unreadable_artifacts(error: OSError | ValueError) -> str:
    """The sentence for a run whose recorded files are gone or damaged (a
    FileNotFoundError or artifact_files.CorruptRecord)."""
    # ML Metadata records artifacts by absolute path: a moved output directory loses
    # them as a deleted one does.
    reason = (f"{error.filename} is missing" if isinstance(error, FileNotFoundError)
              else str(error))
    return (f"cannot read the run's artifacts: {reason} (deleted, damaged, or the output "
            "directory was moved)")
