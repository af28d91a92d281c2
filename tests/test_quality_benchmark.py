"""The quality benchmark's command line: variants read as the docs write them."""

import importlib.util
import sys
from pathlib import Path

import pytest

QUALITY = Path(__file__).parents[1] / "benchmarks" / "quality.py"


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("quality_benchmark", QUALITY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_a_variant_with_a_list_value_keeps_its_commas(quality):
    variants = quality.parse_variants(
        ["w:linear_blend_weights=[0,0.25,0.9],choice_folds=3", "plain:candidate_max_rows=0"]
    )
    assert variants == {
        "w": {"linear_blend_weights": [0, 0.25, 0.9], "choice_folds": 3},
        "plain": {"candidate_max_rows": 0},
    }


def test_the_verdict_reads_each_gap_on_paired_draws(quality):
    """Two draws of one dataset: churnml ahead by 0.01 and 0.03 gives +0.020 +/- 0.010; the
    signal-free layout stays out of the comparison."""
    rows = [
        {
            "dataset": d,
            "draw": k,
            "target": "churn",
            "model": m,
            "roc_auc": auc,
            "pr_auc": 0.3,
            "top_decile_lift": 2.0,
            "brier": 0.1,
        }
        for d, k, m, auc in [
            ("demo", 1, "churnml", 0.81),
            ("demo", 1, "logistic", 0.80),
            ("demo", 2, "churnml", 0.73),
            ("demo", 2, "logistic", 0.70),
            ("layout no_signal", 1, "churnml", 0.40),
            ("layout no_signal", 1, "logistic", 0.60),
        ]
    ]
    lines = quality.verdict(rows)
    assert lines[0].startswith("churnml >= logistic") and "1 of 1 dataset-targets" in lines[0]
    assert lines[2].endswith("demo churn +0.020 +/- 0.010")
