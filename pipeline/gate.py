"""The data gate: stops the pipeline when ExampleValidator finds anomalies.

TFX 1.21's ExampleValidator only reports. `DataGate` reads its anomalies, sets aside the
ones the configuration tolerates (they become warnings), and writes a `DataVerdict`
artifact whose `passed` property the pipeline's `tfx.dsl.Cond` checks before Transform,
Trainer, Evaluator and Pusher may run. The verdict's `verdict.json` lists every anomaly
(split, feature, type, description) for the CLI's table.
"""

import json
import os

from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact
from tfx.types.standard_artifacts import ExampleAnomalies

from pipeline.results import anomaly_rows

PASSED = "passed"
VERDICT_FILE = "verdict.json"


class DataVerdict(Artifact):
    """Whether a span's data may be used; `passed` is 1 or 0."""

    TYPE_NAME = "DataVerdict"


def is_tolerated(row: dict, tolerated: list[str]) -> bool:
    """A rule names a feature, an anomaly type, or one type of one feature (`feature:TYPE`)."""
    keys = {row["feature"], row["type"], f"{row['feature']}:{row['type']}"}
    return any(rule in keys for rule in tolerated)


def classify(rows: list[dict], tolerated: list[str]) -> dict:
    """Splits anomaly rows into blocking and tolerated ones."""
    blocking = [row for row in rows if not is_tolerated(row, tolerated)]
    warnings = [row for row in rows if is_tolerated(row, tolerated)]
    return {PASSED: not blocking, "blocking": blocking, "tolerated": warnings}


@tfx.dsl.components.component
def DataGate(  # noqa: N802 - TFX names components like classes
    anomalies: tfx.dsl.components.InputArtifact[ExampleAnomalies],
    verdict: tfx.dsl.components.OutputArtifact[DataVerdict],
    tolerated_anomalies: tfx.dsl.components.Parameter[str],
    code_fingerprint: tfx.dsl.components.Parameter[str],
) -> None:
    """`tolerated_anomalies` is a JSON list of rules (see `is_tolerated`);
    `code_fingerprint` ties the cache entry to this file's content."""
    del code_fingerprint
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    result = classify(anomaly_rows(anomalies.uri, splits), json.loads(tolerated_anomalies))
    os.makedirs(verdict.uri, exist_ok=True)
    with open(os.path.join(verdict.uri, VERDICT_FILE), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    verdict.set_int_custom_property(PASSED, int(result[PASSED]))
