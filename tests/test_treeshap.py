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
        {"objective": "binary", "verbose": -1, "min_child_samples": 10, **params},
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
        {"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), num_boost_round=20
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
        {"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), num_boost_round=5
    )
    with pytest.raises(ValueError, match="model's features"):
        FastTreeShap(booster).shap_values(X[list(reversed(X.columns))])
