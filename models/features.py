"""Facts about the taxi columns, written once: every other module reads them from here.

`FEATURES` maps each raw CSV column the model uses to how it is encoded; `LABEL` says
how the label is derived from raw columns. Columns in neither (e.g. the always-empty
pickup_census_tract) are validated by the schema but not fed to the model.
"""

import dataclasses
import enum
from types import MappingProxyType


class Encoding(enum.Enum):
    # Float column: missing values get the training mean, then z-score, plus
    # quantile buckets so the network can learn non-monotonic effects cheaply.
    NUMERIC = "numeric"
    # String column: vocabulary computed on the training data, out-of-vocabulary bucket.
    VOCABULARY = "vocabulary"
    # Small integer domain (hour, weekday, community area): one category per value.
    INTEGER_CATEGORY = "integer_category"


@dataclasses.dataclass(frozen=True)
class Feature:
    encoding: Encoding
    # NUMERIC: apply log1p before scaling (heavy right tail: fares, distances, durations).
    log: bool = False
    # NUMERIC: number of quantile buckets (0 = none).
    buckets: int = 0
    # INTEGER_CATEGORY: values are in [0, num_values); anything else maps to one
    # extra out-of-range category. VOCABULARY: the number of most frequent strings kept.
    num_values: int = 0


@dataclasses.dataclass(frozen=True)
class Label:
    key: str  # name of the label in the transformed data and in TFMA
    tips_column: str
    fare_column: str
    tip_fraction: float  # a big tipper tips more than this fraction of the fare


_NUMERIC_BUCKETED = Feature(Encoding.NUMERIC, buckets=10)
_SKEWED = Feature(Encoding.NUMERIC, log=True, buckets=10)

FEATURES = MappingProxyType({
    "fare": _SKEWED,
    "trip_miles": _SKEWED,
    "trip_seconds": _SKEWED,
    "trip_start_timestamp": Feature(Encoding.NUMERIC),
    "pickup_latitude": _NUMERIC_BUCKETED,
    "pickup_longitude": _NUMERIC_BUCKETED,
    "dropoff_latitude": _NUMERIC_BUCKETED,
    "dropoff_longitude": _NUMERIC_BUCKETED,
    "trip_start_hour": Feature(Encoding.INTEGER_CATEGORY, num_values=24),
    "trip_start_day": Feature(Encoding.INTEGER_CATEGORY, num_values=8),
    "trip_start_month": Feature(Encoding.INTEGER_CATEGORY, num_values=13),
    "pickup_community_area": Feature(Encoding.INTEGER_CATEGORY, num_values=78),
    "dropoff_community_area": Feature(Encoding.INTEGER_CATEGORY, num_values=78),
    "payment_type": Feature(Encoding.VOCABULARY, num_values=20),
    "company": Feature(Encoding.VOCABULARY, num_values=100),
})

LABEL = Label(key="big_tipper", tips_column="tips", fare_column="fare", tip_fraction=0.2)


def transformed_name(column: str) -> str:
    """The name a raw column's encoding has in the transformed data."""
    return f"{column}_xf"


def bucket_name(column: str) -> str:
    """The name of a NUMERIC column's quantile-bucket index in the transformed data."""
    return f"{column}_bucket_xf"
