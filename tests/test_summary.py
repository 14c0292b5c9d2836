"""The run summary's text (pipeline/summary.py): what `run` prints when it ends."""

import io
import json
from types import SimpleNamespace

from pipeline.summary import print_summary

SUMMARY = {
    "rows": {"train": 2400, "eval": 600}, "span": 3, "training_spans": [2, 3],
    "blocking_anomalies": [], "tolerated_anomalies": [], "data_passed": True,
    "metrics": {"auc": 0.95, "binary_accuracy": 0.9}, "baseline_metrics": {},
    "blessed": True, "not_blessed_reasons": [], "pushed": True, "pushed_new": True,
    "pushed_path": "/out/serving/big_tipper/7", "pushed_version": 7, "served_version": 7,
    "report": "/out/reports/r.html", "log": "/out/logs/r.log",
}


def _printed(cfg) -> str:
    out = io.StringIO()
    print_summary(SUMMARY, out, spans=True, cfg=cfg)
    return out.getvalue()


def test_spans_are_named_with_the_period_they_hold(tmp_path):
    """Spans written by `prepare-data --by` carry their period in every line that names
    one; without periods.json they are named by number alone."""
    cfg = SimpleNamespace(locations=SimpleNamespace(data_dir=tmp_path))
    plain = _printed(cfg)
    assert "rows in:    train 2400, eval 600 (span-3)" in plain
    assert "trained on: span-2, span-3" in plain
    (tmp_path / "periods.json").write_text(json.dumps(
        {"by": "year", "spans": {"2": "2014", "3": "2015"}}))
    named = _printed(cfg)
    assert "rows in:    train 2400, eval 600 (span-3 (2015))" in named
    assert "trained on: span-2 (2014), span-3 (2015)" in named
    assert "blessed:    yes" in named and "pushed:     /out/serving/big_tipper/7" in named
