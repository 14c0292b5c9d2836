"""The `rollback [--to VERSION|latest]` command: makes TF Serving serve an earlier
version the pipeline pushed, or the newest again, without deleting anything.

TF Serving serves the highest version folder unless its models.config entry has a
`specific` version policy. A rollback writes that policy (`--to latest` removes it),
atomically, so a server started with `--model_config_file` and
`--model_config_file_poll_wait_seconds` switches at its next poll; and records the
change in ML Metadata, as an execution of type `Rollback` in the pipeline's context
with the PushedModel it made served as input, which `models` and `lineage` show. The
Pusher keeps the policy when it publishes, so a pin holds until `--to latest`.
"""

import json
from pathlib import Path

from pipeline import safe_files, uris
from pipeline.exit_codes import EXIT_BUSY, EXIT_OK, EXIT_USAGE, LATEST, version_or_latest


class Refused(ValueError):
    """A rollback that cannot be done; the message says why in one sentence."""


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "rollback", help="make TF Serving serve an earlier pushed version (or, with --to "
        "latest, the newest again) through models.config; deletes nothing")
    parser.add_argument("--to", type=version_or_latest, metavar="VERSION|latest",
                        help="the version to serve: one the pipeline pushed, or 'latest' "
                        "(default: the newest pushed version older than the one served)")
    parser.add_argument("--output-dir", help="the output directory whose serving folder "
                        "to change (default: outputs)")
    parser.add_argument("--wait", action="store_true",
                        help="when a run is using the output directory, wait for it "
                        "instead of exiting with code 4")
    parser.add_argument("--json", action="store_true", help="print JSON")


def choose_pin(target, state: dict, pushed: set[int]) -> int | None:
    """The version models.config is to pin for `target` (None: no pin, TF Serving
    serves the highest), given `inspection.serving_state` and the versions the
    pipeline pushed. Refused when the target is not a version the pipeline pushed that
    is still in the serving folder."""
    present = state["versions"]
    if target == LATEST:
        return None
    if target is None:
        served = state["served_version"]
        if served is None:
            raise Refused("TF Serving serves no version now; name one with --to VERSION")
        earlier = [v for v in present if v in pushed and v < served]
        if not earlier:
            raise Refused(f"no version older than the served {served} was pushed by the "
                          "pipeline and is still in the serving folder: nothing to roll "
                          "back to")
        return earlier[-1]
    if target not in present:
        raise Refused(f"no version {target} in {state['model_dir']} (there: "
                      f"{', '.join(map(str, present)) or 'none'})")
    if target not in pushed:
        choices = [v for v in present if v in pushed]
        raise Refused(f"version {target} in {state['model_dir']} was not pushed (blessed "
                      "and checked) by the pipeline; choose one of: "
                      f"{', '.join(map(str, choices)) or 'none'}")
    return target


def record(store, policy: str, served: int | None, previous: int | None,
           pushed_model) -> int:
    """Records a rollback in ML Metadata: an execution of type Rollback in the pipeline's
    context, with the PushedModel now served (if the pipeline pushed it) as input.
    Returns the execution's id."""
    from ml_metadata.proto import metadata_store_pb2 as kinds

    from pipeline.inspection import ROLLBACK_TYPE

    type_id = store.put_execution_type(kinds.ExecutionType(
        name=ROLLBACK_TYPE,
        properties={"policy": kinds.STRING, "served_version": kinds.INT,
                    "previous_served_version": kinds.INT}))
    execution = kinds.Execution(type_id=type_id, last_known_state=kinds.Execution.COMPLETE)
    execution.properties["policy"].string_value = policy
    if served is not None:
        execution.properties["served_version"].int_value = served
    if previous is not None:
        execution.properties["previous_served_version"].int_value = previous
    inputs = []
    if pushed_model is not None:
        event = kinds.Event(type=kinds.Event.INPUT)
        event.path.steps.add().key = "pushed_model"
        inputs.append((pushed_model, event))
    execution_id, _, _ = store.put_execution(
        execution, inputs, store.get_contexts_by_type("pipeline"))
    return execution_id


def _rollback(cfg, target) -> dict:
    """Under the output directory's lock: pins (or unpins) the version, records it."""
    from ml_metadata import errors

    from pipeline import inspection, metadata, serving, workspace

    workspace.check_metadata(cfg.locations.metadata_path)
    store = metadata.open_store(cfg.locations.metadata_path)
    state = inspection.serving_state(store)
    if state["model_dir"] is None:
        raise Refused(f"no model has been pushed in {cfg.locations.output_dir} yet")
    if uris.is_uri(state["model_dir"]):
        # Its models.config edit is a local file operation (write_models_config).
        raise Refused(f"rollback works on a local serving folder; {state['model_dir']} is a "
                      "URI: edit its models.config there, or roll back from a mount of it")
    if state["problem"]:
        raise Refused(state["problem"])
    pushed = metadata.pushed_artifacts(store)
    pin = choose_pin(target, state, set(pushed))
    model_dir = Path(state["model_dir"])
    config = serving.models_config_path(model_dir)
    previous = state["served_version"]
    answer = {"models_config": str(config), "versions": state["versions"],
              "previous_served_version": previous, "pinned_version": pin}
    if pin == state["pinned_version"]:
        return {**answer, "served_version": previous, "changed": False}
    served = serving.served_version(state["versions"], None if pin is None else [pin])
    before = config.read_bytes() if config.is_file() else None
    serving.write_models_config(config, state["model_name"], model_dir, pinned=pin)
    try:
        record(store, "specific" if pin is not None else LATEST, served, previous,
               pushed.get(served))
    except errors.StatusError as error:
        # Unrecorded, the change would be invisible to `models` and `lineage`: undo it.
        if before is None:
            config.unlink()
        else:
            safe_files.write_bytes(config, before)
        raise Refused(f"cannot record the rollback in {cfg.locations.metadata_path} ({error}); "
                      f"{config} is unchanged") from None
    return {**answer, "served_version": served, "changed": True}


def _describe(answer: dict) -> str:
    served, previous = answer["served_version"], answer["previous_served_version"]
    config = answer["models_config"]
    if not answer["changed"]:
        how = (f"pinned in {config}" if answer["pinned_version"] is not None
               else "the highest version; nothing pinned")
        return f"TF Serving already serves {served} ({how}); nothing changed"
    if answer["pinned_version"] is None:
        change = (f"TF Serving now serves the highest version, {served} (was {previous}): "
                  f"{config} pins none, so each new push is served")
    else:
        change = (f"TF Serving now serves {served} (was {previous}): {config} pins it, and "
                  "newer pushes are not served until `python -m pipeline rollback --to "
                  "latest`")
    return (f"{change}.\nNothing was deleted ({len(answer['versions'])} versions in the "
            "folder). A server started with --model_config_file and "
            "--model_config_file_poll_wait_seconds switches at its next poll.")


def main(args, out, err) -> int:
    """Runs `rollback`: 0 done (or nothing to change), 2 refused, 4 a run holds the
    output directory."""
    from pipeline import workspace

    try:
        cfg = workspace.config_with_runs(args.output_dir)
        with workspace.exclusive(cfg.locations.output_dir, wait=args.wait):
            answer = _rollback(cfg, args.to)
    except workspace.Busy as error:
        print(f"error: {error}", file=err)
        return EXIT_BUSY
    except (Refused, workspace.OutputDirError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    except OSError as error:
        reason = workspace.describe_os_error(error, Path(error.filename or "."))
        print(f"error: {reason or f'{error.strerror}: {error.filename}'}", file=err)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(answer, indent=2), file=out)
    else:
        print(_describe(answer), file=out)
    return EXIT_OK
