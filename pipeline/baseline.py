"""Which model the Evaluator compares a candidate against.

TFX's LatestBlessedModelStrategy returns the newest blessed model, which on a rerun with
a cached Trainer is the candidate itself: the Evaluator then re-runs (comparing the
model to itself) and the Pusher pushes the same model again as a new version. Resolving
"the newest blessed model older than the candidate" instead keeps reruns fully cached
and still compares every new model with the one it would replace.

A blessed model the Evaluator cannot load as a baseline (its folder deleted, or
exported before the `from_examples` signature existed) is passed over for the next
older one, instead of crashing the Evaluator; with none left, the candidate is judged
by the value thresholds alone, as the first model is.
"""


from absl import logging
from google.protobuf.message import DecodeError
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.types.standard_artifacts import Model
from tfx.utils import path_utils

from models.signatures import EXAMPLES_SIGNATURE
from pipeline import serving, uris

CANDIDATE_KEY = "candidate"


def usable_baseline(model: Model) -> bool:
    """Whether the Evaluator can score with this model: its SavedModel is on disk and
    has the signature the EvalConfig names."""
    saved_model = uris.as_path(path_utils.serving_model_path(model.uri))
    try:
        usable = EXAMPLES_SIGNATURE in serving.signature_names(saved_model)
    except (OSError, DecodeError, serving.ServingCheckFailed):
        usable = False
    if not usable:
        logging.warning("Model %s at %s cannot be a baseline (missing, unreadable or "
                        "without the %s signature); trying an older one.",
                        model.id, saved_model, EXAMPLES_SIGNATURE)
    return usable


def _without_models(input_dict, model_ids):
    return {key: [a for a in artifacts if not (isinstance(a, Model) and a.id in model_ids)]
            for key, artifacts in input_dict.items()}


class LatestBlessedBeforeCandidateStrategy(LatestBlessedModelStrategy):
    def resolve_artifacts(self, store, input_dict):
        candidates = input_dict.pop(CANDIDATE_KEY, [])
        if candidates:
            # MLMD ids grow with time: anything from the candidate on is not a baseline.
            first = min(artifact.id for artifact in candidates)
            input_dict = _without_models(input_dict, {
                a.id for artifacts in input_dict.values() for a in artifacts
                if isinstance(a, Model) and a.id >= first})
        while True:
            result = super().resolve_artifacts(store, input_dict)
            # Only the chosen model's files are read: newest first, until one loads.
            unusable = {model.id for model in (result or {}).get("model", [])
                        if not usable_baseline(model)}
            if not unusable:
                break
            input_dict = _without_models(input_dict, unusable)
        if result is not None:
            result[CANDIDATE_KEY] = candidates
        return result
