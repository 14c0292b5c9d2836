"""Which model the Evaluator compares a candidate against.

TFX's LatestBlessedModelStrategy returns the newest blessed model, which on a rerun with
a cached Trainer is the candidate itself: the Evaluator then re-runs (comparing the
model to itself) and the Pusher pushes the same model again as a new version. Resolving
"the newest blessed model older than the candidate" instead keeps reruns fully cached
and still compares every new model with the one it would replace.
"""

from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.types.standard_artifacts import Model

CANDIDATE_KEY = "candidate"


class LatestBlessedBeforeCandidateStrategy(LatestBlessedModelStrategy):
    def resolve_artifacts(self, store, input_dict):
        candidates = input_dict.pop(CANDIDATE_KEY, [])
        if candidates:
            # MLMD ids grow with time: anything from the candidate on is not a baseline.
            first = min(artifact.id for artifact in candidates)
            input_dict = {
                key: [a for a in artifacts if not isinstance(a, Model) or a.id < first]
                for key, artifacts in input_dict.items()
            }
        result = super().resolve_artifacts(store, input_dict)
        if result is not None:
            result[CANDIDATE_KEY] = candidates
        return result
