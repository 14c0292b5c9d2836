"""The reviewed schema workflow: write a dataset's first schema from its data
(`bootstrap`, on the first run of a dataset that has none); say where the latest data
no longer meets the curated schema, and take what the data needs into the curated file
only when asked (`python -m pipeline schema-diff` / `schema-update`).

What matters is what would change validation: TFDV validates the latest run's
statistics against the curated schema, as ExampleValidator does, and a feature is a
difference only when that validation finds an anomaly for it. Curation the data does
not contradict (ranges, environments, presence, domain mass) is never a difference.
Taking a feature over merges by default: TFDV's `update_schema` relaxes the curated
definition just enough for the data (a new domain value, a wider range, a column that
became optional), a changed type is taken from the inferred schema, a column the data no
longer has is removed; everything else stays curated. `replace` takes SchemaGen's
inferred definition as it is instead.
"""

import datetime
import difflib
import tempfile
from pathlib import Path

import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from models.features import CLASSIFICATION, MAX_CATEGORY_VALUES, Label
from pipeline import artifact_files, gate_rules, metadata, safe_files, uris
from pipeline.schema_file import load_schema


class NoInferredSchema(Exception):
    """No run has produced an inferred schema yet."""


def inference_options() -> tfdv.StatsOptions:
    """TFDV's default statistics (`tfdv.StatsOptions()`: BasicStatsGenerator and
    TopKUniquesStatsGenerator with its top-k and rank-histogram sizes) without the
    quantile sketches: no median, histograms or value-count histograms, which schema
    inference does not read (types, presence, value counts, string uniques and top
    values, min and max are what TFDV's inference and `bootstrap` read). Every numeric
    cell went into a sketch, Beam pickled each column's sketch between stages and TFDV
    made two histograms of 1,000 quantiles per column: about 40 % of the inference at
    2,000 columns, and without them it takes about half the time (bench/WIDE.md).
    `StatsOptions` has no field for this in TFDV 1.21 (its `per_feature_stats_config`
    does not reach the default generators), so the two generators are given here,
    sized as the defaults are (tests/test_schema_review.py compares the statistics
    with the defaults')."""
    from tensorflow_data_validation import types
    from tensorflow_data_validation.statistics.generators.basic_stats_generator import (
        BasicStatsGenerator,
    )
    from tensorflow_data_validation.statistics.generators.top_k_uniques_stats_generator import (
        TopKUniquesStatsGenerator,
    )

    defaults = tfdv.StatsOptions()
    no_sketches = types.PerFeatureStatsConfig([], types.PerFeatureStatsConfig.INCLUDE)
    return tfdv.StatsOptions(add_default_generators=False, generators=[
        BasicStatsGenerator(feature_config=no_sketches),
        TopKUniquesStatsGenerator(
            num_top_values=defaults.num_top_values,
            frequency_threshold=defaults.frequency_threshold,
            weighted_frequency_threshold=defaults.weighted_frequency_threshold,
            num_rank_histogram_buckets=defaults.num_rank_histogram_buckets),
    ])


def example_statistics(folder: Path, options: tfdv.StatsOptions | None = None
                       ) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV's statistics (`options`, by default `inference_options()`) of the
    tf.Examples CsvExampleGen makes of the folder's CSV files, in this process: of the
    record batches tfx_bsl would decode from those examples, made straight from the
    CSV blocks (`example_gen.csv_to_record_batches`; building, serializing and
    decoding every example took a third of the time). The schema TFDV infers from them
    is the examples' (tests/test_schema_review.py).

    Not TFDV's CSV statistics: those count an empty cell as a missing value, while
    CsvExampleGen stores it as a list of 0 values, so a schema inferred from them asks
    for a value in every row and the run's own data breaks it."""
    import apache_beam as beam

    from pipeline.example_gen import csv_to_record_batches

    with tempfile.TemporaryDirectory() as temp:
        output = str(Path(temp) / "statistics.tfrecord")
        with beam.Pipeline() as pipeline:
            _ = (pipeline
                 | "CsvToRecordBatches" >> csv_to_record_batches(
                     {"input_base": str(folder)}, "*.csv")
                 | "Statistics" >> tfdv.GenerateStatistics(options or inference_options())
                 | "Write" >> tfdv.WriteStatisticsToBinaryFile(output))
        return tfdv.load_stats_binary(output)


def bootstrap(csv_files: list[Path], label: Label, path: Path) -> schema_pb2.Schema:
    """Infers a schema from CSV files with TFDV and writes it to `path` for review.

    The statistics are those of the examples the pipeline reads (example_statistics),
    without the quantile sketches the inference does not read (inference_options).
    On top of TFDV's inference: a column with empty cells is optional, holding at most
    one value (TFDV leaves its valency open); an INT column whose values lie in
    [0, 100) gets that int_domain (so the model treats it as categorical,
    models/features.py); a classification label column gets its observed classes as
    its domain; and every label column must hold a value in every row."""
    # The files are the CSVs of one folder (data.latest_csvs).
    stats = example_statistics(csv_files[0].parent)
    schema = tfdv.infer_schema(stats, infer_feature_shape=False)
    column_stats = {feature.path.step[0]: feature for feature in stats.datasets[0].features}
    for feature in schema.feature:
        # A CSV cell holds one value or none; this is how the curated taxi schema
        # writes its optional columns.
        if not feature.HasField("value_count"):
            feature.value_count.max = 1
        found = column_stats.get(feature.name)
        if feature.type != schema_pb2.INT or found is None or not found.HasField("num_stats"):
            continue
        low, high = found.num_stats.min, found.num_stats.max
        if 0 <= low and high < MAX_CATEGORY_VALUES:
            feature.int_domain.min, feature.int_domain.max = int(low), int(high)
    by_name = {feature.name: feature for feature in schema.feature}
    for column in label.source_columns:
        feature = by_name[column]
        feature.presence.min_fraction = 1.0
        feature.value_count.min = 1
    if label.ratio is None and label.task == CLASSIFICATION:
        _label_domain(by_name[label.name], column_stats[label.name])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_curated(schema, path, header=[
        f"# Inferred by `python -m pipeline run` on {datetime.date.today()} from",
        *(f"#   {comment_text(str(p))}" for p in csv_files),
        "# Review it (types, domains, presence) and keep it with the data: every later",
        "# run validates its data against this file and derives the model's inputs from it.",
        "# A column with empty cells is optional: `value_count { max: 1 }` without a min.",
    ])
    return schema


def comment_text(text: str) -> str:
    """`text` for one comment line: a line break, or any other character that is not
    printable, escaped as Python writes it (a file named with a line break would
    otherwise end the comment and put the rest of its name into the schema)."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode()
                   for char in text)


def _label_domain(feature: schema_pb2.Feature, stats) -> None:
    """Gives a string label every value TFDV saw (its top values) as a domain, when
    TFDV did not already infer one."""
    if feature.type != schema_pb2.BYTES or feature.HasField("domain") or \
            feature.HasField("string_domain"):
        return
    feature.string_domain.value.extend(sorted(v.value for v in stats.string_stats.top_values))


def _newest(metadata_path: Path, pipeline_name: str, node_id: str, type_name: str,
            noun: str):
    """The newest `type_name` artifact `node_id` output; NoInferredSchema, saying which
    `noun` is missing, when no run has one."""
    if not metadata_path.is_file():
        raise NoInferredSchema(f"no runs in {metadata_path.parent} yet; run the pipeline first")
    artifact = metadata.newest_output(
        metadata.open_store(metadata_path), pipeline_name, node_id, type_name)
    if artifact is None:
        raise NoInferredSchema(f"no run in {metadata_path.parent} has {noun} yet")
    return artifact


def latest_inferred_schema(metadata_path: Path, pipeline_name: str
                           ) -> tuple[schema_pb2.Schema, str]:
    """SchemaGen's newest schema and its file's path."""
    artifact = _newest(metadata_path, pipeline_name, "SchemaGen", "Schema",
                       "an inferred schema")
    path = f"{artifact.uri}/schema.pbtxt"
    return load_schema(uris.as_path(path)), path


# The feature name of dataset-level anomalies.
DATASET = gate_rules.DATASET_FEATURE


def latest_statistics(metadata_path: Path, pipeline_name: str
                      ) -> tuple[dict[str, statistics_pb2.DatasetFeatureStatisticsList], str]:
    """StatisticsGen's newest statistics (the latest span's data) per split, and their
    folder."""
    artifact = _newest(metadata_path, pipeline_name, "StatisticsGen", "ExampleStatistics",
                       "statistics")
    return load_statistics(artifact.uri, metadata.split_names(artifact)), artifact.uri


def load_statistics(uri: str, splits: list[str]
                    ) -> dict[str, statistics_pb2.DatasetFeatureStatisticsList]:
    """A StatisticsGen artifact's statistics, per split."""
    return {split: artifact_files.load_statistics(f"{uri}/Split-{split}/FeatureStats.pb")
            for split in splits}


def anomalies(schema: schema_pb2.Schema,
              statistics: dict[str, statistics_pb2.DatasetFeatureStatisticsList]
              ) -> dict[str, list[dict]]:
    """What TFDV finds when it validates each split's statistics against `schema`, as
    ExampleValidator does: per feature (DATASET for dataset-level ones), one entry per
    anomaly type with its description (from the first split that has it) and splits."""
    found: dict[str, dict] = {}
    for split, stats in statistics.items():
        result = tfdv.validate_statistics(stats, schema)
        reasons = [(name, reason) for name, info in result.anomaly_info.items()
                   for reason in info.reason]
        reasons += [(DATASET, reason) for reason in result.dataset_anomaly_info.reason]
        for name, reason in reasons:
            kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type)
            entry = found.setdefault(name, {}).setdefault(
                kind, {"type": kind, "description": reason.description.strip(), "splits": []})
            entry["splits"].append(split)
    return {name: list(kinds.values()) for name, kinds in sorted(found.items())}


def diff(curated: schema_pb2.Schema,
         statistics: dict[str, statistics_pb2.DatasetFeatureStatisticsList],
         inferred: schema_pb2.Schema) -> dict[str, dict]:
    """The features whose curated definition the latest data does not meet: their
    `anomalies` (see `anomalies`) and the lines `update` would change by merging
    (`changes`; empty for dataset-level anomalies, which no feature's definition
    accepts). Unchanged data has no differences, however the schema is curated."""
    found = anomalies(curated, statistics)
    names = [name for name in found if name != DATASET]
    merged = update(curated, inferred, statistics, names) if names else curated
    return {name: {"anomalies": found[name],
                   "changes": [] if name == DATASET else changes(curated, merged, name)}
            for name in found}


def changes(before: schema_pb2.Schema, after: schema_pb2.Schema, name: str) -> list[str]:
    """How one feature's definition differs: `-`/`+` lines of its definition, then
    `+domain value: 'X'` / `-domain value: 'X'` for its shared string domain."""
    if _has(before, name) and not _has(after, name):
        return ["-(the whole feature: the data no longer has this column)"]
    old = _feature_text(before, name) if _has(before, name) else []
    new = _feature_text(after, name)
    lines = [line for line in difflib.unified_diff(old, new, n=0, lineterm="")
             if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    old_values, new_values = _domain_values(before, name), _domain_values(after, name)
    lines += [f"+domain value: {value!r}" for value in sorted(new_values - old_values)]
    lines += [f"-domain value: {value!r}" for value in sorted(old_values - new_values)]
    return lines


def _feature_text(schema: schema_pb2.Schema, name: str) -> list[str]:
    return text_format.MessageToString(tfdv.get_feature(schema, name),
                                       as_utf8=True).splitlines()


def _domain_values(schema: schema_pb2.Schema, name: str) -> set[str]:
    if not _has(schema, name) or not tfdv.get_feature(schema, name).HasField("domain"):
        return set()
    return set(tfdv.get_domain(schema, name).value)


def _has(schema: schema_pb2.Schema, name: str) -> bool:
    return any(feature.name == name for feature in schema.feature)


def update(curated: schema_pb2.Schema, inferred: schema_pb2.Schema,
           statistics: dict[str, statistics_pb2.DatasetFeatureStatisticsList],
           features: list[str] | None, replace: bool = False) -> schema_pb2.Schema:
    """The curated schema with `features` taken over from the latest data; None: every
    feature the data does not meet (with `replace`: the whole inferred schema).

    Merging (the default) keeps each feature's curation and changes only what the data
    needs: TFDV's `update_schema` adds new domain values, widens ranges and relaxes
    presence and value counts; a changed type comes from the inferred schema (with its
    domain, since the old type's no longer applies); a column the data no longer has is
    removed. `replace` takes the inferred definition as it is, or removes the feature
    when the inferred schema has none."""
    if features is None:
        if replace:
            result = schema_pb2.Schema()
            result.CopyFrom(inferred)
            return result
        features = [name for name in anomalies(curated, statistics) if name != DATASET]
    in_data = {_stats_name(feature) for stats in statistics.values()
               for dataset in stats.datasets for feature in dataset.features}
    unknown = [name for name in features
               if not _has(curated, name) and not _has(inferred, name) and name not in in_data]
    if unknown:
        raise KeyError(f"neither schema nor the latest data has a feature named "
                       f"{', '.join(unknown)}")
    source = inferred if replace else _relaxed(curated, inferred, statistics, features)
    present = (lambda name: _has(inferred, name)) if replace else in_data.__contains__
    result = schema_pb2.Schema()
    result.CopyFrom(curated)
    for name in features:
        old_domain = (tfdv.get_feature(curated, name).domain
                      if _has(curated, name) and tfdv.get_feature(curated, name).HasField("domain")
                      else None)
        if present(name) and _has(source, name):
            _put(result, source, name)
        else:
            _remove(result, name)
        if old_domain:
            _drop_unused_domain(result, old_domain)
    return result


def _stats_name(feature) -> str:
    return feature.path.step[0] if feature.path.step else feature.name


def _relaxed(curated: schema_pb2.Schema, inferred: schema_pb2.Schema,
             statistics: dict[str, statistics_pb2.DatasetFeatureStatisticsList],
             features: list[str]) -> schema_pb2.Schema:
    """The curated schema after TFDV's `update_schema` with every split, the `features`
    whose type changed retyped first (TFDV would deprecate them instead)."""
    schema = schema_pb2.Schema()
    schema.CopyFrom(curated)
    for name in features:
        if not (_has(schema, name) and _has(inferred, name)):
            continue
        feature, new = tfdv.get_feature(schema, name), tfdv.get_feature(inferred, name)
        if feature.type == new.type:
            continue
        feature.type = new.type
        feature.ClearField("domain_info")
        feature.ClearField("distribution_constraints")
        kind = new.WhichOneof("domain_info")
        if kind == "domain":
            feature.domain = new.domain
            _put_domain(schema, inferred, new.domain)
        elif kind:
            getattr(feature, kind).CopyFrom(getattr(new, kind))
    for stats in statistics.values():
        schema = tfdv.update_schema(schema, stats)
    return schema


def _put(target: schema_pb2.Schema, source: schema_pb2.Schema, name: str) -> None:
    """Sets `target`'s definition of `name`, and the shared string domain it names, to
    `source`'s, in place (a new feature goes last)."""
    feature = tfdv.get_feature(source, name)
    existing = [f for f in target.feature if f.name == name]
    (existing[0] if existing else target.feature.add()).CopyFrom(feature)
    if feature.HasField("domain"):
        _put_domain(target, source, feature.domain)


def _put_domain(target: schema_pb2.Schema, source: schema_pb2.Schema, name: str) -> None:
    domain = next(d for d in source.string_domain if d.name == name)
    existing = [d for d in target.string_domain if d.name == name]
    (existing[0] if existing else target.string_domain.add()).CopyFrom(domain)


def _remove(schema: schema_pb2.Schema, name: str) -> None:
    for index, feature in enumerate(schema.feature):
        if feature.name == name:
            del schema.feature[index]
            return


def _drop_unused_domain(schema: schema_pb2.Schema, name: str) -> None:
    """Removes the shared string domain `name` once no feature names it."""
    if any(feature.domain == name for feature in schema.feature):
        return
    for index, domain in enumerate(schema.string_domain):
        if domain.name == name:
            del schema.string_domain[index]
            return


def curated_text(schema: schema_pb2.Schema, path: Path,
                 header: list[str] | None = None) -> str:
    """The schema as `write_curated` writes it: under `header` (comment lines) or, by
    default, the leading comment block of the file at `path`."""
    if header is None:
        header = []
    if not header and path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            header.append(line)
    # Column names as they are (`Région`, not octal escapes of its UTF-8 bytes).
    body = text_format.MessageToString(schema, as_utf8=True)
    return "\n".join(header + [body]) if header else body


def write_curated(schema: schema_pb2.Schema, path: Path,
                  header: list[str] | None = None) -> None:
    """Writes `curated_text` atomically."""
    text = curated_text(schema, path, header)
    safe_files.write_text(path, text)
