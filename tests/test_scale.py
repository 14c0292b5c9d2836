"""How a run fits the size of its data (pipeline/scale.py): the eval split's cap and the
Beam profile the CLI chooses from the row estimate, and how the summary reports them."""

import io

import pytest

from pipeline import scale
from pipeline.summary import scale_line


@pytest.mark.parametrize("rows, expected", [
    (15_002, (4, 1)),          # the taxi data: a fifth, 3,000 rows, as always
    (100_000, (4, 1)),         # a fifth is exactly the cap
    (150_020, (7, 1)),         # 10x: 18,753 eval rows
    (1_500_200, (75, 1)),      # 100x: 19,739
    (15_002_000, (750, 1)),    # 1000x: 19,976
    (None, (4, 1)),            # not read (compile without data)
])
def test_the_eval_split_is_a_fifth_up_to_the_cap_then_about_the_cap(rows, expected):
    assert scale.split_buckets(rows, 20_000) == expected
    if rows:
        train, evaluation = expected
        assert rows * evaluation / (train + evaluation) <= max(20_000, rows / 5)


@pytest.mark.parametrize("rows, train, evaluation, analyzed", [
    (15_002, 4, 1, 0),            # every training row is analyzed
    (150_020, 7, 1, 0),           # 131k training rows: all analyzed
    (1_500_200, 75, 1, 10),       # 10 of 76 buckets: about 197k rows
    (15_002_000, 750, 1, 10),     # about 200k of 15M
])
def test_transform_analyzes_about_200k_training_rows_at_most(rows, train, evaluation,
                                                              analyzed):
    assert scale.analyzed_buckets(rows, train, evaluation) == analyzed
    if analyzed:
        assert rows * analyzed / (train + evaluation) == pytest.approx(200_000, rel=0.05)


def test_no_cap_keeps_a_fifth_however_many_rows():
    assert scale.split_buckets(15_002_000, 0) == (4, 1)


def test_the_cap_costs_the_auc_standard_error_the_docs_state():
    # scale.py: 0.0021 at 20,000 eval rows of 23% positives, 0.0055 at 3,000.
    assert scale.auc_standard_error(0.956, 4_600, 15_400) == pytest.approx(0.0021, abs=5e-5)
    assert scale.auc_standard_error(0.956, 690, 2_310) == pytest.approx(0.0055, abs=5e-5)


def test_rows_are_counted_in_a_small_file_and_estimated_in_a_large_one(tmp_path):
    small = tmp_path / "small.csv"
    small.write_text("a,b\n" + "".join(f"{n},x\n" for n in range(1234)))
    assert scale.estimated_rows([small]) == 1234

    large = tmp_path / "large.csv"
    large.write_text("a,b\n" + "".join(f"{n % 1000:03d},{'y' * (n % 7)}\n" for n in range(300_000)))
    assert scale.estimated_rows([large]) == pytest.approx(300_000, rel=0.02)
    assert scale.estimated_rows([small, large]) == pytest.approx(301_234, rel=0.02)


def _config(tmp_path, rows, *flags):
    from tests.test_config import _build

    data = tmp_path / "shop"
    data.mkdir()
    (data / "data.csv").write_text("x,y\n" + "".join(f"{n},{'ab'[n % 2]}\n"
                                                      for n in range(rows)))
    (data / "schema.pbtxt").write_text(
        'feature { name: "x" type: INT }\n'
        'feature { name: "y" type: BYTES string_domain { value: "a" value: "b" } }\n')
    return _build("run", data, "--label", "y", *flags)


def test_the_cli_caps_the_eval_split_by_the_rows_it_estimates(tmp_path):
    cfg = _config(tmp_path, 1_000, "--max-eval-rows", "100")

    assert (cfg.train_buckets, cfg.eval_buckets) == (9, 1)
    assert cfg.estimated_rows == 1_000
    assert scale.describe(cfg)["estimated_eval_rows"] == 100


def test_the_cli_keeps_a_fifth_when_the_cap_does_not_bite(tmp_path):
    cfg = _config(tmp_path, 1_000)

    assert (cfg.train_buckets, cfg.eval_buckets) == (4, 1)


def test_without_beam_the_profile_is_chosen_and_the_summary_says_so(tmp_path):
    cfg = _config(tmp_path, 1_000)

    assert (cfg.beam.profile, cfg.beam.chosen) == ("in-memory", True)
    assert scale_line(scale.describe(cfg)) == (
        "about 1,000 rows: Beam in-memory (automatically), eval split 1/5 of the rows")


def test_a_named_profile_is_kept_and_reported_as_named(tmp_path):
    cfg = _config(tmp_path, 1_000, "--beam", "multi-processing")

    assert (cfg.beam.profile, cfg.beam.chosen) == ("multi-processing", False)
    assert "Beam multi-processing (--beam)" in scale_line(scale.describe(cfg))


def test_the_split_is_part_of_the_example_gen_parameters(tmp_path):
    # A changed cap changes CsvExampleGen's output_config, so TFX's cache does not
    # reuse examples split the other way.
    from pipeline.definition import create_pipeline

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    configs = [_config(tmp_path / name, 1_000, "--max-eval-rows", cap)
               for name, cap in (("a", "100"), ("b", "0"))]
    gens = [next(c for c in create_pipeline(cfg).components if c.id == "CsvExampleGen")
            for cfg in configs]
    assert gens[0].exec_properties["output_config"] != gens[1].exec_properties["output_config"]


def test_large_data_trains_on_both_train_splits_and_transform_analyzes_one(tmp_path):
    import dataclasses

    from pipeline.definition import TRAIN_MORE, create_pipeline

    cfg = dataclasses.replace(_config(tmp_path, 1_000), train_buckets=75, eval_buckets=1,
                              analyzed_buckets=10)
    components = {c.id: c for c in create_pipeline(cfg).components}
    splits = components["CsvExampleGen"].exec_properties["output_config"]
    assert '"name": "train"' in splits and f'"name": "{TRAIN_MORE}"' in splits
    assert '"hash_buckets": 10' in splits and '"hash_buckets": 65' in splits
    train_args = components["Trainer"].exec_properties["train_args"]
    assert "train" in train_args and TRAIN_MORE in train_args
    # Transform's default: analyze the "train" split only.
    assert not components["Transform"].exec_properties.get("splits_config")


def test_small_data_keeps_tfx_default_splits(tmp_path):
    from pipeline.definition import TRAIN_MORE, create_pipeline

    components = {c.id: c for c in create_pipeline(_config(tmp_path, 1_000)).components}
    assert TRAIN_MORE not in components["CsvExampleGen"].exec_properties["output_config"]
    assert TRAIN_MORE not in components["Trainer"].exec_properties["train_args"]


def test_the_summary_prints_the_scale_line():
    from pipeline.summary import print_summary

    out = io.StringIO()
    summary = {"rows": {"train": 9, "eval": 1}, "span": None, "blocking_anomalies": [],
               "tolerated_anomalies": [], "data_passed": True, "training_spans": [],
               "metrics": {}, "baseline_metrics": {}, "blessed": False,
               "not_blessed_reasons": [], "pushed": False, "scale": {
                   "estimated_rows": 10, "beam_profile": "in-memory",
                   "beam_profile_chosen": "automatically", "eval_fraction": "1/5",
                   "estimated_eval_rows": 2}}
    try:
        print_summary(summary, out, spans=False)
    except KeyError:
        pass  # later lines need more of a real summary; the scale line comes early
    assert "scale:      about 10 rows: Beam in-memory (automatically), eval split 1/5" \
        in out.getvalue()
