"""`ServingPusher`: TFX's Pusher with an atomic, checked publish.

TFX's Pusher copies the model file by file into `<base>/<version>/`, so a model server
polling the folder can load a half-copied version, and nothing checks that the copy
serves. This component keeps Pusher's inputs, blessing checks and PushedModel output,
adds the eval examples its warm-up requests are made of, and publishes through
`pipeline.serving.publish`: stage, write warm-up requests and the checked TFLite copy
(`pipeline.tflite`; a mismatch publishes nothing), check in a fresh process, rename.
It also writes TF Serving's `models.config` next to the serving folder, keeping the
version policy a `rollback` set.
"""

import json
from pathlib import Path

from absl import logging
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.channel import Channel
from tfx.types.component_spec import ChannelParameter
from tfx.utils import io_utils, proto_utils

from pipeline import serving, tflite, uris

EXAMPLES_KEY = "examples"
# The split the warm-up requests and the check's sample are taken from.
SAMPLE_SPLIT = "eval"


class ServingPusherSpec(standard_component_specs.PusherSpec):
    INPUTS = {
        **standard_component_specs.PusherSpec.INPUTS,
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }


def sample_examples(examples, split: str, count: int,
                    hidden_columns: list[str]) -> list[bytes]:
    """The first `count` serialized examples of a split, without the columns that carry
    the label (serving clients do not have them)."""
    import tensorflow as tf

    split_dir = artifact_utils.get_split_uri([examples], split)
    files = (uris.glob(f"{split_dir}/*.gz") if uris.is_uri(split_dir)
             else sorted(str(path) for path in Path(split_dir).glob("*.gz")))
    sample = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").take(count):
        example = tf.train.Example.FromString(record.numpy())
        for column in hidden_columns:
            if column in example.features.feature:
                del example.features.feature[column]
        sample.append(example.SerializeToString())
    return sample


def export_tflite(model_dir: Path, sample: list[bytes]) -> tuple[bytes | None, dict]:
    """`tflite.export`, with the one-line warning a model without a TFLite copy gets
    in the run's log (the summary says it too)."""
    model, report = tflite.export(model_dir, sample)
    if model is None:
        logging.warning("no TFLite model for this version (TF Serving gets it all the "
                        "same): %s", report["reason"])
    return model, report


class Executor(pusher_executor.Executor):
    def Do(self, input_dict, output_dict, exec_properties) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        pushed = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(pushed)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        # A URI (file://, gs://) stays a str: a Path would turn file:///x into file:/x.
        base = destination.filesystem.base_directory
        model_serving_dir = base if uris.is_uri(base) else Path(base)
        config = json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
                            or "{}")
        model_name = config.get("model_name", base.rstrip("/").rsplit("/", 1)[-1])
        sample = sample_examples(
            artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY]),
            SAMPLE_SPLIT, serving.SAMPLE_SIZE, config.get("hidden_columns", []))
        model_dir = self.GetModelPath(input_dict)
        model_dir = model_dir if uris.is_uri(model_dir) else Path(model_dir)
        tflite_model, tflite_report = (export_tflite(uris.as_path(model_dir), sample)
                                       if config.get("tflite") else (None, None))
        version, report = serving.publish(
            model_dir, model_serving_dir, model_name, sample,
            {tflite.TFLITE_FILE: tflite_model} if tflite_model else None)
        if tflite_report:
            # The run summary reads the TFLite outcome from the check's report.
            report["tflite"] = tflite_report
        version_dir = uris.join(model_serving_dir, str(version))
        # Keeps the entry's version policy: a version pinned by `rollback` stays served
        # until `rollback --to latest` (the run summary says so).
        serving.write_models_config(
            serving.models_config_path(model_serving_dir), model_name, model_serving_dir)
        # Pusher's archive copy, as TFX keeps it: the version as published.
        io_utils.copy_dir(str(version_dir), pushed.uri)
        self._MarkPushed(pushed, pushed_destination=str(version_dir),
                         pushed_version=str(version))
        pushed.set_string_custom_property("servable_check", json.dumps(report))


class ServingPusher(base_component.BaseComponent):
    SPEC_CLASS = ServingPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model, model_blessing, examples, model_serving_dir: str,
                 model_name: str, hidden_columns: list[str], code_fingerprint: str,
                 tflite: bool = False):
        super().__init__(spec=ServingPusherSpec(
            model=model,
            model_blessing=model_blessing,
            examples=examples,
            push_destination=pusher_pb2.PushDestination(
                filesystem=pusher_pb2.PushDestination.Filesystem(
                    base_directory=model_serving_dir)),
            # The fingerprint makes a cached push re-run when this code changes.
            custom_config=json.dumps(
                {"model_name": model_name, "hidden_columns": hidden_columns,
                 "code_fingerprint": code_fingerprint, "tflite": tflite}),
            pushed_model=Channel(type=standard_artifacts.PushedModel),
        ))
