"""The data gate: stops the pipeline when ExampleValidator finds anomalies or the
DistributionValidator finds drift.

TFX 1.21's validators only report. `DataGate` reads their anomalies, sets aside the ones
the configuration tolerates (they become warnings; so does drift when drift does not
block), and writes a `DataVerdict`
artifact whose `passed` property the pipeline's `Cond` checks before Transform,
Trainer, Evaluator and Pusher may run. The verdict's `verdict.json` lists every anomaly
(split, feature, type, description) for the CLI's table. This module is the TFX
component only; the rules it applies, and the names it writes, are in
pipeline/gate_rules.py.
"""

import json

# From their modules rather than tfx.v1, whose import pulls in google-cloud-aiplatform
# (3 s of every run's start-up; see pipeline/definition.py).
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact
from tfx.types.standard_artifacts import ExampleAnomalies

from pipeline import artifact_files, gate_rules


class DataVerdict(Artifact):
    """Whether a span's data may be used; `passed` is 1 or 0."""

    TYPE_NAME = gate_rules.DATA_VERDICT_TYPE


def _validation_rows(anomalies) -> list[dict]:
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    return gate_rules.anomaly_rows(artifact_files.load_split_anomalies(anomalies.uri, splits))


def _drift_rows(anomalies) -> list[dict]:
    """DistributionValidator's rows, split pairs named as every table names them
    (`gate_rules.drift_split_name`)."""
    # The validator names its split pairs only in its per-pair "blessed" property.
    pairs = anomalies.get_json_value_custom_property("blessed") or {}
    return gate_rules.drift_anomaly_rows(
        artifact_files.load_split_anomalies(anomalies.uri, sorted(pairs), pairs=True))


def write_verdict(uri: str, result: dict) -> None:
    """`verdict.json` in the artifact's folder, through TFX's filesystem layer: the
    pipeline root may be a URI (gs://, file://) rather than a local folder."""
    fileio.makedirs(uri)
    with fileio.open(f"{uri.rstrip('/')}/{gate_rules.VERDICT_FILE}", "w") as handle:
        handle.write(json.dumps(result, indent=2))


@component
def DataGate(  # noqa: N802 - TFX names components like classes
    anomalies: InputArtifact[ExampleAnomalies],
    verdict: OutputArtifact[DataVerdict],
    tolerated_anomalies: Parameter[str],
    drift_blocks: Parameter[int],
    code_fingerprint: Parameter[str],
    drift: InputArtifact[ExampleAnomalies] = None,
) -> None:
    """`tolerated_anomalies` is a JSON list of rules (see `gate_rules.is_tolerated`);
    `drift` is the DistributionValidator's output (absent for the first span);
    `code_fingerprint` ties the cache entry to this module's code and the project
    modules it imports."""
    del code_fingerprint
    result = gate_rules.classify(
        _validation_rows(anomalies), json.loads(tolerated_anomalies),
        _drift_rows(drift) if drift is not None else [], bool(drift_blocks))
    write_verdict(verdict.uri, result)
    verdict.set_int_custom_property(gate_rules.PASSED, int(result[gate_rules.PASSED]))
