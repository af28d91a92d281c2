"""Out-of-time splits and the rolling backtest on a small labelled frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.config import default_config
from churnml.train import TrainingError, backtest_split, rolling_backtest, train_target


def labelled_frame(n_accounts: int = 400, snapshots: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for k, as_of in enumerate(pd.date_range("2024-01-01", periods=snapshots, freq="MS")):
        usage = rng.gamma(2.0, 10.0, n_accounts)
        tickets = rng.poisson(1.0, n_accounts)
        p = 1 / (1 + np.exp(-(-2.0 - 0.08 * usage + 0.7 * tickets)))
        mature = k < snapshots - 4
        rows.append(
            pd.DataFrame(
                {
                    "account_id": [f"a{i}" for i in range(n_accounts)],
                    "as_of": as_of,
                    "usage_events_30d": usage,
                    "support_tickets_30d": tickets,
                    "attr_segment": rng.choice(["SMB", "Mid"], n_accounts),
                    "churn_label": pd.array(
                        (rng.random(n_accounts) < p).astype(int) if mature else [None] * n_accounts,
                        dtype="Int64",
                    ),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_split_keeps_a_horizon_between_training_and_test():
    frame = labelled_frame()
    split = backtest_split(frame, "churn_label", 90, 2)
    # the judged model learns only from snapshots a full horizon before the test
    assert split.test.as_of.min() - split.fit.as_of.max() >= pd.Timedelta(days=90)
    assert split.test.churn_label.notna().all()


def test_too_little_history_is_a_clear_error():
    with pytest.raises(TrainingError, match="labelled snapshots"):
        backtest_split(labelled_frame(snapshots=6), "churn_label", 90, 2)


def test_train_target_learns_and_calibrates():
    cfg = default_config()
    cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"n_estimators": 80})})
    result = train_target(labelled_frame(), "churn", {}, cfg)
    assert result.metrics["roc_auc"] > 0.65
    # calibrated: mean prediction close to the observed rate on the test period
    assert (
        abs(result.test_predictions.probability.mean() - result.test_predictions.label.mean())
        < 0.08
    )
    folds = rolling_backtest(labelled_frame(), "churn", {}, cfg)
    assert len(folds) >= 1 and (folds.roc_auc > 0.6).all()


def _with_training(cfg, **update):
    return cfg.model_copy(update={"training": cfg.training.model_copy(update=update)})


def test_optuna_tuning_never_looks_at_the_test_snapshots():
    from churnml.train import model_features, tune_params

    frame = labelled_frame()
    params = _with_training(default_config(), n_estimators=60, optuna_trials=4).training
    split = backtest_split(frame, "churn_label", 90, 2)
    features, categorical = model_features(frame)
    tuned, trials = tune_params("churn_label", split, features, categorical, params)
    assert len(trials) == 4
    # the configured parameters are the first trial, so tuning can only keep or beat them
    assert trials.loc[0, "params_num_leaves"] == params.num_leaves
    assert trials["value"].max() >= trials.loc[0, "value"]
    assert tuned.num_leaves == trials.loc[trials["value"].idxmax(), "params_num_leaves"]
    # flipping every test label changes nothing: the search is judged on the calibration snapshot
    flipped = split.test.assign(churn_label=1 - split.test.churn_label)
    again, _ = tune_params(
        "churn_label",
        type(split)(split.fit, split.calibration, flipped),
        features,
        categorical,
        params,
    )
    assert again == tuned


def test_train_target_uses_the_tuned_parameters_when_trials_are_set():
    cfg = _with_training(default_config(), n_estimators=60, optuna_trials=3)
    result = train_target(labelled_frame(), "churn", {}, cfg)
    assert result.tuning_trials is not None and len(result.tuning_trials) == 3
    best = result.tuning_trials.loc[result.tuning_trials["value"].idxmax()]
    assert result.params.min_child_samples == best["params_min_child_samples"]
    assert result.metrics["roc_auc"] > 0.65
    plain = _with_training(cfg, optuna_trials=0)
    untuned = train_target(labelled_frame(), "churn", {}, plain)
    assert untuned.tuning_trials is None and untuned.params == plain.training


def test_size_bands_label_arr_and_missing_values():
    from churnml.evaluate import size_band

    arr = pd.Series([5_000.0, 12_000.0, 59_999.0, 300_000.0, None])
    bands = size_band(arr, [12_000.0, 60_000.0, 250_000.0])
    assert bands.tolist() == ["<12k", "12k-60k", "12k-60k", ">=250k", "unknown"]


def test_size_bands_must_increase():
    from pydantic import ValidationError

    from churnml.config import TrainingConfig

    with pytest.raises(ValidationError, match="strictly increasing"):
        TrainingConfig(size_bands_arr=[60_000, 12_000])
