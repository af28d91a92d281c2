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
