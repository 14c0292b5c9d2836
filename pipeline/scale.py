"""How a run fits the size of its data, decided once by the CLI from an estimate of the
latest span's rows (never inside create_pipeline), kept in the Config and reported in
the run summary.

- The eval split is capped at `DEFAULT_MAX_EVAL_ROWS` rows (`run --max-eval-rows`):
  CsvExampleGen's hash split gets 1 eval bucket of ceil(rows / cap) instead of 1 of 5.
  TFMA costs about a millisecond of Python per eval row (three slicings, each feeding
  AUC's calibration histogram), so 300k eval rows took 227 s at 1.5M taxi rows. The
  cap costs confidence, not correctness: the standard error of an AUC of 0.956 (23%
  positives, Hanley and McNeil) is 0.0021 at 20,000 rows, against 0.0055 at the taxi
  data's own 3,000, and the gate compares candidate and baseline on the same rows.
  More rows train instead (the Trainer's steps are fixed, so it reads the same number).
- Transform analyzes (means, variances, vocabularies) `ANALYZED_ROWS` rows at most: of
  the training rows, the hash split puts about that many into the "train" split,
  which TFX's Transform analyzes by default, and the rest into "train_more"; the
  Trainer reads both. Its analysis pass took 134 s of a 302 s run at 1.5M rows. A mean
  over 200,000 rows is off by 0.2% of a standard deviation (1 / sqrt(rows)); a
  vocabulary misses only values rarer than a few in 200,000 rows, which then share the
  out-of-vocabulary bucket.
- The Beam profile, when no `--beam` is given: in-memory at every size. Measured on 2
  cores (bench/RESULTS.md), two worker processes cost more than they win at 15k and
  150k rows, and the steps that grew with the data (CsvExampleGen's reshuffle, the
  Evaluator's rows) are now bounded; in memory, every component streams its input.
"""

import math
from pathlib import Path

from pipeline import uris

# The eval split's rows above which the split is capped (see the module docstring).
DEFAULT_MAX_EVAL_ROWS = 20_000
# The training rows Transform analyzes at most (see the module docstring).
ANALYZED_ROWS = 200_000
# The split a run uses when the cap does not bite: 4 buckets train, 1 eval (80% : 20%).
TRAIN_BUCKETS, EVAL_BUCKETS = 4, 1
# The bytes of a file read to measure its rows' length.
SAMPLE_BYTES = 1 << 20
AUTO_PROFILE = "in-memory"


def estimated_rows(csv_files: list) -> int:
    """The data rows of the CSV files (headers not counted), estimated from each file's
    size and the line length of its first `SAMPLE_BYTES`: exact for a shorter file."""
    return sum(_file_rows(path) for path in csv_files)


def _file_rows(path) -> int:
    with _open(path) as handle:
        sample = handle.read(SAMPLE_BYTES + 1)
    lines = sample.count(b"\n") + (not sample.endswith(b"\n"))
    if len(sample) <= SAMPLE_BYTES:
        return max(lines - 1, 0)
    return max(round(_size(path) * lines / len(sample)) - 1, 0)


def _open(path):
    return path.open("rb") if uris.is_uri(path) else Path(path).open("rb")


def _size(path) -> int:
    if uris.is_uri(path):
        from tfx.dsl.io import fileio

        return fileio.stat(str(path)).length
    return Path(path).stat().st_size


def split_buckets(rows: int | None, max_eval_rows: int) -> tuple[int, int]:
    """(train, eval) hash buckets: 4 : 1, or 1 eval bucket of ceil(rows / cap) when a
    fifth of the rows is more than `max_eval_rows` (0: no cap)."""
    if not rows or not max_eval_rows or rows * EVAL_BUCKETS / (
            TRAIN_BUCKETS + EVAL_BUCKETS) <= max_eval_rows:
        return TRAIN_BUCKETS, EVAL_BUCKETS
    total = math.ceil(rows / max_eval_rows)
    return total - 1, 1


def analyzed_buckets(rows: int | None, train: int, evaluation: int) -> int:
    """How many of the `train` buckets form the analyzed "train" split: all of them
    (0, no "train_more" split) unless their rows exceed ANALYZED_ROWS, else as many as
    hold about ANALYZED_ROWS rows."""
    if not rows or rows * train / (train + evaluation) <= ANALYZED_ROWS:
        return 0
    return max(1, round(ANALYZED_ROWS * (train + evaluation) / rows))


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of an AUC measured on these counts."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc)
                + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)
    return math.sqrt(variance)


def overrides(rows: int | None, max_eval_rows: int | None, profile: str | None) -> dict:
    """make_config's keywords for data of `rows` rows: the split's buckets, the
    estimate itself and, when no profile was named, the automatic one."""
    cap = DEFAULT_MAX_EVAL_ROWS if max_eval_rows is None else max_eval_rows
    train, evaluation = split_buckets(rows, cap)
    return {"train_buckets": train, "eval_buckets": evaluation,
            "analyzed_buckets": analyzed_buckets(rows, train, evaluation),
            "estimated_rows": rows,
            "beam_profile": profile or AUTO_PROFILE, "beam_profile_chosen": profile is None}


def describe(cfg) -> dict:
    """The summary's account of the choices above for this Config."""
    buckets = cfg.train_buckets + cfg.eval_buckets
    rows = cfg.estimated_rows
    return {
        "estimated_rows": rows,
        "beam_profile": cfg.beam.profile,
        "beam_profile_chosen": "automatically" if cfg.beam.chosen else "--beam",
        "eval_fraction": f"{cfg.eval_buckets}/{buckets}",
        "train_fraction": f"{cfg.train_buckets}/{buckets}",
        "analyzed_fraction": f"{cfg.analyzed_buckets or cfg.train_buckets}/{buckets}",
        "estimated_eval_rows": (round(rows * cfg.eval_buckets / buckets)
                                if rows is not None else None),
    }
