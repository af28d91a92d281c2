"""The table-based TreeSHAP equals LightGBM's pred_contrib exactly."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from churnml.treeshap import FastTreeShap, shap_values


def frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "usage": rng.gamma(2.0, 10.0, n),
            "trend": rng.normal(1.0, 0.3, n),
            "tickets": rng.poisson(1.0, n).astype(float),
            "zeroish": np.where(rng.random(n) < 0.3, 0.0, rng.normal(0, 1, n)),
            "segment": pd.Categorical(rng.choice(["SMB", "Mid", "Ent", "Gov"], n)),
        }
    )
    X.loc[rng.random(n) < 0.1, "usage"] = np.nan
    X.loc[rng.random(n) < 0.05, "segment"] = np.nan
    logit = (
        -1
        + 0.05 * np.nan_to_num(X.usage.to_numpy())
        - 2 * X.trend
        + 0.6 * X.tickets
        + (X.segment == "SMB")
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.mark.parametrize(
    "params",
    [
        {"num_leaves": 15, "max_depth": 6},
        {"num_leaves": 31, "max_depth": -1, "zero_as_missing": True},
        {"num_leaves": 7, "max_depth": 3, "max_cat_to_onehot": 8},
    ],
)
def test_equals_pred_contrib(params):
    X, y = frame(3000, 1)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "min_child_samples": 10, **params},
        lgb.Dataset(X, y, categorical_feature=["segment"]),
        num_boost_round=40,
    )
    X_new, _ = frame(2500, 2)
    reference = booster.predict(X_new, pred_contrib=True)
    fast = FastTreeShap(booster)
    assert fast.supported
    mine = fast.shap_values(X_new, threads=2, block_rows=700)
    np.testing.assert_allclose(mine, reference[:, :-1], rtol=0, atol=1e-9)
    # additivity: SHAP values plus bias give the raw score
    raw = booster.predict(X_new, raw_score=True)
    np.testing.assert_allclose(mine.sum(axis=1) + reference[:, -1], raw, atol=1e-9)


def test_unseen_category_and_all_missing_rows():
    X, y = frame(2000, 3)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, y),
        num_boost_round=20,
    )
    X_new = X.head(5).copy()
    X_new.loc[:, "usage"] = np.nan
    X_new["segment"] = pd.Categorical([np.nan] * 5, categories=X.segment.cat.categories)
    np.testing.assert_allclose(
        shap_values(booster, X_new), booster.predict(X_new, pred_contrib=True)[:, :-1], atol=1e-9
    )


def test_columns_must_match_the_model():
    X, y = frame(500, 4)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, y),
        num_boost_round=5,
    )
    with pytest.raises(ValueError, match="model's features"):
        FastTreeShap(booster).shap_values(X[list(reversed(X.columns))])


def brute_force_table(value: float, z: np.ndarray) -> np.ndarray:
    """Shapley values of the leaf game by enumerating every coalition (2^d x 2^d)."""
    from math import factorial

    d = len(z)
    masks = np.arange(1 << d)
    bits = (masks[:, None] >> np.arange(d)) & 1
    zprod_out = np.prod(np.where(bits == 1, 1.0, z[None, :]), axis=1)
    g = value * ((masks[None, :] & ~masks[:, None]) == 0) * zprod_out[None, :]
    weights = np.zeros((1 << d, d))
    for s in range(1 << d):
        size = bin(s).count("1")
        for i in range(d):
            if s >> i & 1:
                weights[s, i] = factorial(size - 1) * factorial(d - size) / factorial(d)
            else:
                weights[s, i] = -factorial(size) * factorial(d - size - 1) / factorial(d)
    return g @ weights


@pytest.mark.parametrize("d", [1, 2, 3, 5, 8])
def test_leaf_tables_equal_the_shapley_values_by_enumeration(d):
    from churnml.treeshap import _leaf_table

    z = np.random.default_rng(d).uniform(0.05, 0.95, d)
    z[0] = 1.0  # a repeated split can leave a cover fraction of 1; 0 happens on empty children
    if d > 2:
        z[1] = 0.0
    np.testing.assert_allclose(_leaf_table(0.7, z), brute_force_table(0.7, z), atol=1e-12)


def test_tables_are_cached_per_model_and_refused_when_too_large():
    from churnml.treeshap import TreeShapTooLarge, explainer

    X, y = frame(1000, 5)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "num_leaves": 31, "max_depth": -1},
        lgb.Dataset(X, y),
        num_boost_round=10,
    )
    assert explainer(booster) is explainer(booster)
    needed = explainer(booster).table_bytes
    with pytest.raises(TreeShapTooLarge, match=r"MiB .*training.max_depth"):
        FastTreeShap(booster, max_bytes=needed - 1)
