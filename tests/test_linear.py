"""The linear part of a blended model: fitted and applied on LightGBM's numeric matrix."""

from __future__ import annotations

import numpy as np
import pytest

from churnml.linear import fit_linear


def matrix_and_labels(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """usage (signal, some missing), a constant column, an all-missing column, plan codes 0-2."""
    rng = np.random.default_rng(seed)
    usage = rng.gamma(2.0, 10.0, n)
    plan = rng.integers(0, 3, n).astype(float)
    plan[rng.random(n) < 0.1] = np.nan  # a missing category is its own level
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.5 - 0.1 * usage + 0.8 * (plan == 2))))).astype(int)
    usage[rng.random(n) < 0.2] = np.nan
    X = np.column_stack([usage, np.full(n, 3.0), np.full(n, np.nan), plan])
    return X, y


def test_missing_constant_and_all_missing_columns_fit_and_score():
    X, y = matrix_and_labels()
    part = fit_linear(X, y, categorical=[3])
    z = part.log_odds(X)
    assert np.isfinite(z).all()
    assert part.medians[1] == 3.0 and part.medians[2] == 0.0  # all missing: imputed 0
    assert part.scales[1] == 1.0 and part.scales[2] == 1.0  # constant: no division by zero
    np.testing.assert_allclose(part.coef[1:3], 0.0, atol=1e-12)  # nothing to learn there
    assert part.coef[0] < 0  # less usage, more churn
    # a missing usage scores as the training median
    row = X[:1].copy()
    row[0, 0] = np.nan
    filled = row.copy()
    filled[0, 0] = part.medians[0]
    np.testing.assert_allclose(part.log_odds(row), part.log_odds(filled))
    # infinite values (a ratio over zero) count as missing, not as an overflow
    row[0, 0] = np.inf
    np.testing.assert_allclose(part.log_odds(row), part.log_odds(filled))


def test_an_unseen_category_code_scores_as_no_known_level():
    X, y = matrix_and_labels()
    part = fit_linear(X, y, categorical=[3])
    assert sorted(part.levels[0].tolist()) == [-1.0, 0.0, 1.0, 2.0]  # -1: missing
    row = X[:1].copy()
    row[0, 3] = 7.0  # a code the fit never saw
    design = part.design(row)
    assert design[0, 3:].sum() == 0.0  # no indicator set
    assert np.isfinite(part.log_odds(row)).all()


def test_contributions_add_up_to_the_log_odds_per_feature():
    X, y = matrix_and_labels()
    part = fit_linear(X, y, categorical=[3])
    contrib = part.contributions(X[:50])
    assert contrib.shape == (50, 4)  # one column per model feature: plan levels summed
    np.testing.assert_allclose(
        contrib.sum(axis=1) + part.base_value, part.log_odds(X[:50]), atol=1e-10
    )
    # the constant and all-missing columns contribute nothing
    np.testing.assert_allclose(contrib[:, 1:3], 0.0, atol=1e-12)


def test_sample_weights_reproduce_the_weighted_base_rate():
    """capped_fit_rows' weights stand for the negatives left out: the fit's mean probability,
    weighted, is the weighted outcome rate (the intercept is not penalised)."""
    X, y = matrix_and_labels(300, seed=2)
    weights = np.where(y == 0, 3.0, 1.0)
    weighted = fit_linear(X, y, [3], weights)
    plain = fit_linear(X, y, [3])
    p = 1 / (1 + np.exp(-weighted.log_odds(X)))
    assert np.average(p, weights=weights) == pytest.approx(np.average(y, weights=weights), abs=1e-3)
    p_plain = 1 / (1 + np.exp(-plain.log_odds(X)))
    assert p_plain.mean() == pytest.approx(y.mean(), abs=1e-3)
    assert p.mean() < p_plain.mean() - 0.02  # the weighted negatives pulled it down
