"""The reviewed schema workflow: write a dataset's first schema from its data
(`bootstrap`, on the first run of a dataset that has none); compare the schema SchemaGen
inferred on the latest run with the curated one, and copy inferred features into the
curated file only when asked (`python -m pipeline schema-diff` / `schema-update`).

An inferred schema knows only what one span looked like, so a later inferred schema is
never used directly: a person reads the differences and takes over the ones that are
right.
"""

import datetime
import difflib
import tempfile
from pathlib import Path

import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from models.features import CLASSIFICATION, MAX_CATEGORY_VALUES, Label
from pipeline import results
from pipeline.config import load_schema


class NoInferredSchema(Exception):
    """No run has produced an inferred schema yet."""


def example_statistics(folder: Path) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV's statistics of the tf.Examples CsvExampleGen makes of the folder's CSV
    files, computed as StatisticsGen computes them, in this process.

    Not TFDV's CSV statistics: those count an empty cell as a missing value, while
    CsvExampleGen stores it as a list of 0 values, so a schema inferred from them asks
    for a value in every row and the run's own data breaks it."""
    import apache_beam as beam
    from tfx_bsl.public import tfxio

    from pipeline.example_gen import Executor

    to_examples = Executor().GetInputSourceToExamplePTransform()
    with tempfile.TemporaryDirectory() as temp:
        output = str(Path(temp) / "statistics.tfrecord")
        with beam.Pipeline() as pipeline:
            _ = (pipeline
                 | "CsvToExample" >> to_examples({"input_base": str(folder)}, "*.csv")
                 | "Serialize" >> beam.Map(lambda example: example.SerializeToString())
                 | "Decode" >> tfxio.TFExampleBeamRecord(
                     physical_format="inmem",
                     telemetry_descriptors=["schema_review"]).BeamSource()
                 | "Statistics" >> tfdv.GenerateStatistics(tfdv.StatsOptions())
                 | "Write" >> tfdv.WriteStatisticsToBinaryFile(output))
        return tfdv.load_stats_binary(output)


def bootstrap(csv_files: list[Path], label: Label, path: Path) -> schema_pb2.Schema:
    """Infers a schema from CSV files with TFDV and writes it to `path` for review.

    The statistics are those of the examples the pipeline reads (example_statistics).
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
        *(f"#   {p}" for p in csv_files),
        "# Review it (types, domains, presence) and keep it with the data: every later",
        "# run validates its data against this file and derives the model's inputs from it.",
        "# A column with empty cells is optional: `value_count { max: 1 }` without a min.",
    ])
    return schema


def _label_domain(feature: schema_pb2.Feature, stats) -> None:
    """Gives a string label every value TFDV saw (its top values) as a domain, when
    TFDV did not already infer one."""
    if feature.type != schema_pb2.BYTES or feature.HasField("domain") or \
            feature.HasField("string_domain"):
        return
    feature.string_domain.value.extend(sorted(v.value for v in stats.string_stats.top_values))


def latest_inferred_schema(metadata_path: Path, pipeline_name: str
                           ) -> tuple[schema_pb2.Schema, str]:
    """SchemaGen's newest schema and its file's path."""
    if not metadata_path.is_file():
        raise NoInferredSchema(f"no runs in {metadata_path.parent} yet; run the pipeline first")
    artifact = results.newest_output(
        results.open_store(metadata_path), pipeline_name, "SchemaGen", "Schema")
    if artifact is None:
        raise NoInferredSchema(f"no run in {metadata_path.parent} has an inferred schema yet")
    path = f"{artifact.uri}/schema.pbtxt"
    return load_schema(Path(path)), path


def _feature_text(schema: schema_pb2.Schema, name: str) -> list[str]:
    return text_format.MessageToString(tfdv.get_feature(schema, name),
                                       as_utf8=True).splitlines()


def _domain_values(schema: schema_pb2.Schema, name: str) -> set[str]:
    if not _has(schema, name) or not tfdv.get_feature(schema, name).HasField("domain"):
        return set()
    return set(tfdv.get_domain(schema, name).value)


def diff(curated: schema_pb2.Schema, inferred: schema_pb2.Schema) -> dict[str, list[str]]:
    """Per feature, the lines that differ from the curated to the inferred definition
    (`-`/`+`), then the string values the data has that the curated domain lacks, and
    how many curated values the data did not show.

    The inferred schema has no ranges, environments or distribution constraints; those
    show up as lines only the curated side has. New values, changed types and changed
    presence are what usually needs a decision."""
    names = sorted({f.name for f in curated.feature} | {f.name for f in inferred.feature})
    changes = {}
    for name in names:
        before = _feature_text(curated, name) if _has(curated, name) else []
        after = _feature_text(inferred, name) if _has(inferred, name) else []
        lines = [line for line in difflib.unified_diff(before, after, n=0, lineterm="")
                 if line[:1] in "+-" and line[:3] not in ("---", "+++")]
        curated_values = _domain_values(curated, name)
        inferred_values = _domain_values(inferred, name)
        lines += [f"+domain value: {value!r}"
                  for value in sorted(inferred_values - curated_values)]
        unseen = curated_values - inferred_values
        if curated_values and inferred_values and unseen:
            lines.append(f" ({len(unseen)} curated domain values did not occur in the data)")
        if lines:
            changes[name] = lines
    return changes


def _has(schema: schema_pb2.Schema, name: str) -> bool:
    return any(feature.name == name for feature in schema.feature)


def update(curated: schema_pb2.Schema, inferred: schema_pb2.Schema,
           features: list[str] | None) -> schema_pb2.Schema:
    """The curated schema with `features` (all when None) taken from the inferred one:
    replaced, added, or removed when the inferred schema no longer has them."""
    if features is None:
        return inferred
    unknown = [n for n in features if not _has(curated, n) and not _has(inferred, n)]
    if unknown:
        raise KeyError(f"neither schema has a feature named {', '.join(unknown)}")
    result = schema_pb2.Schema()
    result.CopyFrom(curated)
    for name in features:
        _remove(result, name)
        if _has(inferred, name):
            feature = tfdv.get_feature(inferred, name)
            result.feature.add().CopyFrom(feature)
            if feature.HasField("domain"):
                result.string_domain.add().CopyFrom(tfdv.get_domain(inferred, name))
    return result


def _remove(schema: schema_pb2.Schema, name: str) -> None:
    for index, feature in enumerate(schema.feature):
        if feature.name == name:
            domain = feature.domain if feature.HasField("domain") else None
            del schema.feature[index]
            if domain:
                for d_index, string_domain in enumerate(schema.string_domain):
                    if string_domain.name == domain:
                        del schema.string_domain[d_index]
                        break
            return


def write_curated(schema: schema_pb2.Schema, path: Path,
                  header: list[str] | None = None) -> None:
    """Writes the schema atomically, under `header` (comment lines) or, by default,
    the curated file's leading comment block."""
    if header is None:
        header = []
    if not header and path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            header.append(line)
    # Column names as they are (`Région`, not octal escapes of its UTF-8 bytes).
    body = text_format.MessageToString(schema, as_utf8=True)
    partial = path.with_suffix(".partial")
    partial.write_text("\n".join(header + [body]) if header else body, encoding="utf-8")
    partial.replace(path)
