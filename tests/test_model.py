"""The model bundle: trees alone or blended with a linear part, its predictions and drivers."""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd

from churnml.linear import fit_linear
from churnml.model import ModelBundle, _logit, lightgbm_matrix


def bundle_and_frame(weight: float) -> tuple[ModelBundle, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 1500
    frame = pd.DataFrame(
        {
            "usage": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2.0, 10.0, n)),
            "tickets": rng.poisson(1.0, n).astype(float),
            "attr_segment": rng.choice(["SMB", "Mid", "Ent"], n),
        }
    )
    z = -1.0 - 0.05 * np.nan_to_num(frame.usage, nan=20.0) + 0.6 * frame.tickets
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    shell = ModelBundle(
        "churn",
        None,
        None,
        ["usage", "tickets", "attr_segment"],
        {"attr_segment": ["Ent", "Mid", "SMB"]},
        {},
    )  # type: ignore[arg-type]
    X = shell.design_matrix(frame)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "num_leaves": 7},
        lgb.Dataset(X, y, categorical_feature=["attr_segment"]),
        num_boost_round=30,
    )
    shell.booster = booster
    if weight > 0:
        shell.linear = fit_linear(lightgbm_matrix(X), y, categorical=[2])
        shell.blend_weight = weight
    return shell, frame


def test_contributions_of_a_blend_add_up_to_its_log_odds():
    bundle, frame = bundle_and_frame(0.5)
    scoring = frame.head(200).assign(attr_segment=["Unseen"] + ["SMB"] * 199)  # an unseen level
    contrib = bundle.contributions(scoring)
    assert contrib.shape == (200, 3)
    raw = bundle.predict_raw(scoring)
    np.testing.assert_allclose(contrib.sum(axis=1) + bundle.base_value(), _logit(raw), atol=1e-8)
    # the blend is not the trees alone
    assert not np.allclose(raw, bundle.booster.predict(bundle.design_matrix(scoring)))


def test_trees_alone_keep_the_treeshap_values_and_lightgbm_bias():
    bundle, frame = bundle_and_frame(0.0)
    X = bundle.design_matrix(frame.head(100))
    reference = bundle.booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(bundle.contributions(frame.head(100)), reference[:, :-1], atol=1e-9)
    assert np.isclose(bundle.base_value(), reference[0, -1], atol=1e-9)
    np.testing.assert_array_equal(
        bundle.predict_raw(frame), bundle.booster.predict(bundle.design_matrix(frame))
    )


def test_a_bundle_pickled_before_the_linear_part_existed_still_predicts():
    bundle, frame = bundle_and_frame(0.0)
    old = pickle.loads(pickle.dumps(bundle))
    for attribute in ("linear", "blend_weight"):  # what an older bundle's state lacks
        del old.__dict__[attribute]
    old = pickle.loads(pickle.dumps(old))
    assert old.linear is None and old.blend_weight == 0.0 and not old.blended
    np.testing.assert_array_equal(
        old.predict_raw(frame), bundle.booster.predict(bundle.design_matrix(frame))
    )
    np.testing.assert_allclose(
        old.contributions(frame.head(20)), bundle.contributions(frame.head(20))
    )


def test_a_platt_curve_pickled_before_its_bounds_existed_predicts_as_fitted():
    from churnml.model import PlattCalibrator

    curve = PlattCalibrator(slope=40.0, intercept=0.0)
    del curve.low, curve.high  # as unpickled from an older bundle
    old = pickle.loads(pickle.dumps(curve))
    assert old.predict(np.array([0.999]))[0] == 1.0  # unbounded, as it was fitted
    bounded = PlattCalibrator().fit(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.2, 0.2, 0.8, 0.8]))
    assert bounded.low == 0.2 and bounded.high == 0.8
    assert bounded.predict(np.array([0.000001, 0.999999])).min() >= 0.2
    assert bounded.predict(np.array([0.999999]))[0] <= 0.8
