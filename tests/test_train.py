"""Out-of-time splits and the rolling backtest on a small labelled frame."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from churnml.config import default_config
from churnml.train import (
    CANDIDATES,
    TrainingError,
    backtest_split,
    rolling_backtest,
    train_target,
)


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
    cfg = _with_training(default_config(), n_estimators=80)
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
    """Training settings for tests: one LightGBM thread unless a test says otherwise."""
    update = {"num_threads": 1, **update}
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
    assert untuned.tuning_trials is None
    chosen = untuned.candidates.query("model == 'registered' and chosen").candidate.item()
    expected = plain.training.model_copy(update=CANDIDATES[chosen]).model_dump()
    expected["feature_fraction"] = untuned.params.feature_fraction  # floored by the features
    assert untuned.params.model_dump() == expected
    # tuned parameters are not second-guessed by the candidates
    assert set(result.candidates.candidate) == {"configured"}


def test_size_bands_label_arr_and_missing_values():
    from churnml.metrics import size_band

    arr = pd.Series([5_000.0, 12_000.0, 59_999.0, 300_000.0, None])
    bands = size_band(arr, [12_000.0, 60_000.0, 250_000.0])
    assert bands.tolist() == ["<12k", "12k-60k", "12k-60k", ">=250k", "unknown"]


def test_size_bands_must_increase():
    from pydantic import ValidationError

    from churnml.config import TrainingConfig

    with pytest.raises(ValidationError, match="strictly increasing"):
        TrainingConfig(size_bands_arr=[60_000, 12_000])


def _fast(cfg=None, **update):
    cfg = cfg or default_config()
    return _with_training(cfg, n_estimators=60, **update)


@pytest.fixture(scope="module")
def churn_result():
    return train_target(labelled_frame(), "churn", {}, _fast())


def test_registered_model_is_the_refit_and_the_judged_model_never_saw_the_test(churn_result):
    frame = labelled_frame()
    cfg = _fast()
    result = churn_result
    labelled = sorted(frame.loc[frame.churn_label.notna(), "as_of"].unique())
    test_start = result.split.test.as_of.min()
    # the registered bundle learned from every labelled snapshot, the judged one stopped a
    # horizon before the test, and the test metrics are the judged model's
    assert pd.Timestamp(result.bundle.trained_through) == pd.Timestamp(labelled[-1])
    assert pd.Timestamp(result.judged.trained_through) <= test_start - pd.Timedelta(days=90)
    assert result.bundle is not result.judged
    p = result.judged.predict(result.split.test)
    assert np.allclose(p, result.test_predictions.probability.to_numpy())
    # both respect the floor of trees
    assert result.bundle.booster.num_trees() >= cfg.training.min_trees
    assert result.judged.booster.num_trees() >= cfg.training.min_trees
    # the calibration rows are out-of-fold rows before the test
    assert result.split.calibration.as_of.max() < test_start


def test_a_pure_noise_fold_still_gets_the_floor_of_trees():
    rng = np.random.default_rng(3)
    frame = labelled_frame()
    frame["churn_label"] = pd.array(
        np.where(frame.churn_label.notna(), rng.random(len(frame)) < 0.2, None), dtype="Int64"
    )
    result = train_target(frame, "churn", {}, _fast())  # no signal: trains, does not crash
    assert result.metrics["chosen_trees"] == 50  # the best mean fold AUC is early: floored
    assert 0.4 < result.metrics["roc_auc"] < 0.6


def test_gate_compares_the_champion_only_on_snapshots_it_never_saw(churn_result):
    from churnml.train import champion_comparison

    result = churn_result
    test_dates = sorted(result.split.test.as_of.unique())
    champion = result.bundle  # saw every labelled snapshot: nothing left to compare on
    challenger, incumbent, span = champion_comparison(result, champion, 20)
    assert np.isnan(incumbent) and np.isnan(challenger) and "no test snapshot" in span
    # a champion trained through the first test snapshot is judged on the second only
    older = type(champion)(**{**champion.__dict__, "trained_through": str(test_dates[0])[:10]})
    challenger, incumbent, span = champion_comparison(result, older, 20)
    last = result.split.test.as_of == test_dates[-1]
    from sklearn.metrics import roc_auc_score

    expected = roc_auc_score(
        result.split.test.churn_label[last].astype(int),
        result.test_predictions.probability[last],
    )
    assert challenger == pytest.approx(expected)
    assert (
        span == f"{pd.Timestamp(test_dates[-1]):%Y-%m-%d}..{pd.Timestamp(test_dates[-1]):%Y-%m-%d}"
    )
    assert incumbent == pytest.approx(
        roc_auc_score(
            result.split.test.churn_label[last].astype(int),
            older.predict(result.split.test[last]),
        )
    )


def test_shuffled_labels_score_chance_despite_snapshot_rate_shifts():
    """No account-level signal, but label rates and a trending feature move with the snapshot:
    a shuffled-label model must not find skill in that."""
    from churnml.train import shuffled_label_auc

    rng = np.random.default_rng(5)
    n, snapshots = 400, 12
    rows = []
    for k, as_of in enumerate(pd.date_range("2024-01-01", periods=snapshots, freq="MS")):
        rate = 0.05 + 0.25 * (k % 2)  # alternating snapshot-level rates
        rows.append(
            pd.DataFrame(
                {
                    "account_id": [f"a{i}" for i in range(n)],
                    "as_of": as_of,
                    "tenure_days": rng.integers(0, 400, n) + 30 * k,
                    "usage_events_30d": rng.gamma(2.0, 10.0, n),
                    "churn_label": pd.array(
                        (rng.random(n) < rate).astype(int) if k < snapshots - 3 else [None] * n,
                        dtype="Int64",
                    ),
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    result = train_target(frame, "churn", {}, _fast())
    shuffled = shuffled_label_auc(result, default_config())
    assert abs(shuffled - 0.5) < 0.05
    # recomputed from the result alone (no cached value, binned on fewer rows): still chance
    result.shuffled_auc = None
    assert abs(shuffled_label_auc(result, default_config()) - 0.5) < 0.05


@pytest.mark.parametrize(
    "case, message",
    [
        ("one_account", "same outcome|labelled snapshots|folds|calibrate|trees"),
        ("all_churn", "same outcome"),
        ("no_churn", "same outcome"),
        ("a_single_positive", "calibrate|folds|one outcome"),
    ],
)
def test_small_or_one_sided_data_fails_with_one_clear_line(case, message):
    frame = labelled_frame(n_accounts=60)
    labelled = frame.churn_label.notna()
    if case == "one_account":
        frame = labelled_frame(n_accounts=1)
    elif case == "all_churn":
        frame.loc[labelled, "churn_label"] = 1
    elif case == "no_churn":
        frame.loc[labelled, "churn_label"] = 0
    else:  # a handful of positives per snapshot trains (tests/test_training_steps.py); one does not
        frame.loc[labelled, "churn_label"] = 0
        frame.loc[frame[labelled].index[0], "churn_label"] = 1
    with pytest.raises(TrainingError, match=message) as info:
        train_target(frame, "churn", {}, _fast())
    assert "\n" not in str(info.value)


def test_calibration_method_follows_the_number_of_positives():
    from churnml.calibration import CalibrationError, calibration_method, fit_calibrator

    assert calibration_method(40, 4000) == "platt"
    assert calibration_method(800, 9000) == "isotonic"
    assert calibration_method(3, 400) == "platt-shrunk"
    with pytest.raises(CalibrationError, match="at least one of each"):
        calibration_method(0, 400)
    with pytest.raises(CalibrationError):
        fit_calibrator(np.linspace(0, 1, 50), np.zeros(50))


@pytest.mark.parametrize("positives", [4, 30, 600])
def test_calibrated_probabilities_stay_strictly_inside_0_and_1(positives):
    """Scores that separate the outcomes (a small book: every positive above every negative)
    once ran the curve to exactly 1.0 at the top and 0.0 at the bottom; Platt's targets keep
    each method (platt-shrunk, platt, isotonic) inside [1/(N- + 2), (N+ + 1)/(N+ + 2)]."""
    from churnml.calibration import calibration_targets, fit_calibrator

    negatives = 4 * positives
    raw = np.concatenate([np.linspace(0.0005, 0.6, negatives), np.linspace(0.7, 0.9995, positives)])
    y = np.concatenate([np.zeros(negatives), np.ones(positives)])
    curve, method = fit_calibrator(raw, y)
    p = curve.predict(np.array([0.0, 0.0005, 0.5, 0.9995, 1.0]))
    assert (
        1.0 / (negatives + 2) - 1e-9 <= p.min()
        and p.max() <= (positives + 1) / (positives + 2) + 1e-9
    )
    assert 0.0 < p.min() < 0.2 and 0.8 < p.max() < 1.0, (method, p)
    assert np.all(np.diff(p) >= 0)
    targets = calibration_targets(y)
    assert set(np.round(targets, 6)) == {
        round(1 / (negatives + 2), 6),
        round((positives + 1) / (positives + 2), 6),
    }


def test_calibration_never_turns_the_ranking_upside_down():
    """Held-out scores that rank backwards (a tiny book's folds) give every account the base
    rate: a Platt curve with a negative slope would score the safest accounts riskiest."""
    from churnml.calibration import calibration_targets, fit_calibrator

    rng = np.random.default_rng(3)
    raw = rng.uniform(0.05, 0.95, 200)
    y = (rng.random(200) < 1 - raw).astype(int)  # higher score, fewer positives
    fewest = (raw <= np.sort(raw)[5]).astype(int)  # 6 positives, the lowest scores
    for positives in (y, fewest):  # platt and platt-shrunk
        calibrator, method = fit_calibrator(raw, positives)
        assert method.startswith("platt")
        p = calibrator.predict(raw)
        np.testing.assert_allclose(p, calibration_targets(positives).mean())
    calibrator, _ = fit_calibrator(raw, 1 - y)  # the right way round: increasing, as before
    assert np.all(np.diff(calibrator.predict(np.sort(raw))) > 0)


def test_many_noise_features_do_not_sink_a_small_dataset():
    rng = np.random.default_rng(1)
    frame = labelled_frame(n_accounts=300)
    trees_only = _fast(linear_blend_weights=[0])
    lean = train_target(frame, "churn", {}, trees_only)  # a few hundred accounts train
    assert lean.bundle.booster.num_trees() >= 50
    lean = lean.metrics["roc_auc"]
    assert lean > 0.6
    noisy = frame.assign(**{f"usage_noise_{i}": rng.normal(size=len(frame)) for i in range(30)})
    rich = train_target(noisy, "churn", {}, trees_only).metrics["roc_auc"]
    assert rich > lean - 0.03
    # a linear part drowned by the noise (27 positives in its one fold) is barely blended in:
    # the stacked weight stays near 0, the highest fold AUC keeps the trees alone
    stacked = train_target(noisy, "churn", {}, _fast())
    assert stacked.metrics["judged_blend_weight"] < 0.1
    assert abs(stacked.metrics["roc_auc"] - rich) < 0.01
    blended = train_target(noisy, "churn", {}, _fast(linear_blend_rule="best_fold_auc"))
    assert blended.metrics["judged_blend_weight"] == 0.0
    assert blended.metrics["roc_auc"] == rich
    # a weight of 0 chosen by the folds is the trees alone, to the last digit
    alone = train_target(noisy, "churn", {}, trees_only).test_predictions.probability
    np.testing.assert_array_equal(blended.test_predictions.probability, alone)
    assert blended.judged.linear is None


def test_lift_and_recall_are_expected_values_over_tied_scores():
    from churnml.metrics import recall_at_k, top_fraction_lift

    rng = np.random.default_rng(0)
    score = rng.integers(0, 7, 500) / 7.0  # 7 distinct scores, like a one-tree model
    y = (rng.random(500) < 0.1 + 0.1 * score).astype(int)
    lift, recall = top_fraction_lift(y, score), recall_at_k(y, score, 30)
    # the row order of tied rows no longer matters
    order = rng.permutation(500)
    assert top_fraction_lift(y[order], score[order]) == pytest.approx(lift)
    assert recall_at_k(y[order], score[order], 30) == pytest.approx(recall)
    # and equals the mean over random orders of the ties (tie-broken by a random jitter)
    draws = [rng.random(500) * 1e-9 for _ in range(3000)]
    lifts = [top_fraction_lift(y, score + d) for d in draws]
    recalls = [recall_at_k(y, score + d, 30) for d in draws]
    assert lift == pytest.approx(np.mean(lifts), rel=0.01)
    assert recall == pytest.approx(np.mean(recalls), rel=0.02)
    # one score for everyone: the top decile is the base rate, whatever the order
    assert top_fraction_lift(y, np.zeros(500)) == pytest.approx(1.0)


def test_history_too_short_for_any_fold_is_one_clear_line():
    cfg = _fast(validation_snapshots=4)  # leaves two snapshots, a month apart, before the test
    with pytest.raises(TrainingError, match="no time-ordered fold"):
        train_target(labelled_frame(), "churn", {}, cfg)


def test_shuffled_fits_learn_from_a_capped_sample_of_every_fit_snapshot():
    """Large fit periods are sampled for the noise refits, the same share of every snapshot;
    small ones are used whole."""
    from churnml.train import shuffle_sample

    as_of = np.repeat(
        np.array(["2024-01-01", "2024-02-01", "2024-03-01"], dtype="datetime64[ns]"),
        [1000, 3000, 6000],
    )
    pool = np.arange(8000)  # the first two snapshots and half the third
    sample = shuffle_sample(as_of, pool, 800, seed=1)
    assert len(sample) == 800 and np.all(np.diff(sample) > 0) and np.isin(sample, pool).all()
    counts = np.unique(as_of[sample], return_counts=True)[1]
    np.testing.assert_array_equal(counts, [100, 300, 400])
    np.testing.assert_array_equal(shuffle_sample(as_of, pool, 10_000, seed=1), pool)


def test_shuffled_check_reports_its_draws_and_their_standard_error(churn_result):
    assert churn_result.shuffled_draws == 4
    assert 0 < churn_result.shuffled_auc_se < 0.1


def test_threads_and_bins_come_from_the_config():
    from churnml.train import dataset_params, lightgbm_params

    params = default_config().training.model_copy(update={"num_threads": 1, "max_bin": 31})
    assert lightgbm_params(params, np.array([0, 1, 0]))["num_threads"] == 1
    assert dataset_params(params)["max_bin"] == 31 and dataset_params(params)["num_threads"] == 1


def test_fold_scores_from_the_matrix_equal_scores_from_the_frame():
    """Folds score rows of one numeric matrix; it must give the model's own scores, categories
    (and their missing values) included."""
    from churnml.train import labelled_data, lightgbm_matrix, model_features

    frame = labelled_frame(n_accounts=200, snapshots=6)
    frame.loc[::7, "attr_segment"] = None
    mature = frame.churn_label.notna()
    frame.loc[mature, "churn_label"] = (frame.attr_segment[mature] == "Mid").astype(int)
    features, categorical = model_features(frame)
    data = labelled_data(frame, "churn", features, categorical, {})
    import lightgbm as lgb

    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5},
        data.dataset,
        num_boost_round=5,
    )
    np.testing.assert_allclose(booster.predict(lightgbm_matrix(data.X)), booster.predict(data.X))
    segment = data.matrix[:, features.index("attr_segment")]
    np.testing.assert_array_equal(np.isnan(segment), data.X.attr_segment.isna().to_numpy())


def test_constant_and_copied_features_are_left_out_of_the_fit_not_the_baseline():
    from churnml.train import informative_features

    rng = np.random.default_rng(3)
    frame = labelled_frame(n_accounts=300)
    usage = frame.usage_events_30d
    frame = frame.assign(
        usage_events_lifetime=usage * 3 + 7,  # the same ranks: a copy
        usage_login_30d=usage + rng.normal(0, 0.1, len(frame)),  # a near-copy
        usage_noise=rng.normal(size=len(frame)),
        usage_flat=5.0,
    )
    features = ["usage_events_30d", "usage_events_lifetime", "usage_login_30d", "usage_noise"]
    features += ["usage_flat", "attr_segment"]
    kept = informative_features(frame, features, ["attr_segment"], 0.98)
    assert kept == ["usage_events_30d", "usage_noise", "attr_segment"]
    exact = informative_features(frame, features, ["attr_segment"], 1.0)
    assert exact == ["usage_events_30d", "usage_login_30d", "usage_noise", "attr_segment"]
    result = train_target(frame, "churn", {}, _fast())
    assert "usage_events_lifetime" not in result.bundle.features
    assert "usage_flat" not in result.bundle.features
    assert "usage_noise" in result.bundle.features
    # the logistic baseline (fitted on every feature) still scores
    assert result.baseline_metrics["roc_auc"] > 0.6


def test_candidates_are_chosen_on_the_folds_never_on_the_test(churn_result):
    result = churn_result
    table = result.candidates
    assert set(table.candidate) == set(CANDIDATES)  # a small dataset compares every candidate
    for model, part in table.groupby("model"):
        chosen = part[part.chosen]
        assert len(chosen) == 1, model
        assert chosen.fold_auc.item() == part.fold_auc.max()  # the best mean fold AUC wins
    judged = table[table.model == "judged"].reset_index(drop=True)
    # flipping every test label changes neither the judged candidates' fold AUCs nor the choice
    frame = labelled_frame()
    test = frame.as_of.isin(result.split.test.as_of.unique())
    flipped = frame.assign(churn_label=frame.churn_label.where(~test, 1 - frame.churn_label))
    again = train_target(flipped, "churn", {}, _fast()).candidates
    pd.testing.assert_frame_equal(again[again.model == "judged"].reset_index(drop=True), judged)


def test_large_data_keeps_the_configured_parameters():
    from churnml.train import candidate_params

    params = default_config().training
    assert list(candidate_params(params, params.candidate_max_rows + 1, 40)) == ["configured"]
    small = candidate_params(params, params.candidate_max_rows, 40)
    assert list(small) == list(CANDIDATES) and small["configured"] == params
    assert small["shallow"].num_leaves < params.num_leaves
    assert small["sparse"].feature_fraction == 0.25  # 10 of 40 features per tree
    assert candidate_params(params, 100, 6)["sparse"].feature_fraction == 4 / 6  # never below 4
    off = params.model_copy(update={"candidate_max_rows": 0})
    assert list(candidate_params(off, 10, 40)) == ["configured"]


def _capped_rows_case():
    rng = np.random.default_rng(5)
    as_of = np.repeat(
        np.array(["2024-01-01", "2024-02-01", "2024-03-01"], dtype="datetime64[ns]"),
        [2000, 3000, 5000],
    )
    y = (rng.random(len(as_of)) < np.where(as_of == as_of[-1], 0.10, 0.04)).astype(int)
    return y, as_of


def test_capped_fit_rows_keep_every_positive_and_restore_each_snapshot_base_rate():
    from churnml.train import capped_fit_rows

    y, as_of = _capped_rows_case()
    kept, weights = capped_fit_rows(y, as_of, 2500, seed=3)
    assert len(kept) <= 2500 + 3 and np.all(np.diff(kept) > 0)  # rounding: one per snapshot
    assert set(np.flatnonzero(y == 1)) <= set(kept)  # every positive
    np.testing.assert_array_equal(weights[y[kept] == 1], 1.0)  # positives count once
    assert (weights[y[kept] == 0] > 1).all()
    for date in np.unique(as_of):
        mine = as_of[kept] == date
        weighted_rate = (weights[mine] * y[kept][mine]).sum() / weights[mine].sum()
        assert weighted_rate == pytest.approx(y[as_of == date].mean(), rel=1e-9)
    again, _ = capped_fit_rows(y, as_of, 2500, seed=3)
    other, _ = capped_fit_rows(y, as_of, 2500, seed=4)
    np.testing.assert_array_equal(kept, again)  # seeded
    assert not np.array_equal(kept, other)


def test_capped_fit_rows_change_nothing_at_or_below_the_cap():
    from churnml.train import capped_fit_rows

    y, as_of = _capped_rows_case()
    for limit in (len(y), len(y) + 1, None):
        kept, weights = capped_fit_rows(y, as_of, limit, seed=3)
        np.testing.assert_array_equal(kept, np.arange(len(y)))
        assert weights is None


def test_a_capped_fit_ranks_like_an_uncapped_one():
    """The cap (every positive, weighted negatives) only saves work: a capped fit keeps the
    judged model's test AUC and its probabilities' base rate close to the uncapped fit's."""
    frame = labelled_frame(n_accounts=1500)
    full = train_target(frame, "churn", {}, _fast(max_fit_rows=None, num_threads=1))
    capped = train_target(frame, "churn", {}, _fast(max_fit_rows=2000, num_threads=1))
    assert capped.metrics["roc_auc"] > full.metrics["roc_auc"] - 0.02
    assert capped.baseline_metrics["roc_auc"] > full.baseline_metrics["roc_auc"] - 0.02
    assert capped.baseline_metrics["roc_auc"] != full.baseline_metrics["roc_auc"]  # it did cap
    base = full.test_predictions.label.mean()
    assert capped.test_predictions.probability.mean() == pytest.approx(base, abs=0.03)


def test_large_data_learning_rate_applies_only_above_the_row_cap():
    from churnml.train import large_data_params

    params = default_config().training.model_copy(
        update={"max_fit_rows": 1000, "learning_rate": 0.03, "large_data_learning_rate": 0.1}
    )
    assert large_data_params(params, 1000) is params  # at the cap: untouched
    assert large_data_params(params, 1001).learning_rate == 0.1
    assert large_data_params(params, 1001).early_stopping_rounds == 12  # 40 * 0.03 / 0.1
    assert (
        large_data_params(params.model_copy(update={"learning_rate": 0.2}), 5000).learning_rate
        == 0.2
    )
    for off in ({"max_fit_rows": None}, {"large_data_learning_rate": None}):
        assert large_data_params(params.model_copy(update=off), 10**6).learning_rate == 0.03


def test_the_judged_model_reuses_the_fold_model_of_its_own_rows():
    """The registered recipe's fold on the first test snapshot learnt from exactly the judged
    model's rows: its first trees are the judged model, the same scores as a fresh fit."""
    from churnml.train import (
        choose_recipe,
        fit_model,
        labelled_data,
        model_features,
        reused_fit,
        time_folds,
    )

    frame = labelled_frame()
    params = _fast(num_threads=1).training
    features, categorical = model_features(frame)
    data = labelled_data(frame, "churn", features, categorical, {}, params)
    recipe = choose_recipe(data, time_folds(data, data.as_of.max(), 90, 3), params)
    split = backtest_split(frame, "churn_label", 90, 2)
    pool = data.positions(split.fit.as_of.unique())
    trees = min(recipe.trees, min(b.current_iteration() for _, b in recipe.fold_models))
    reused = reused_fit(data, pool, trees, recipe.fold_models)
    assert reused is not None and reused.num_trees() == trees
    assert reused_fit(data, pool[1:], trees, recipe.fold_models) is None  # other rows: refit
    recipe = dataclasses.replace(recipe, trees=trees)
    fresh = fit_model(data, pool, recipe, params)
    again = fit_model(data, pool, recipe, params, recipe.fold_models)
    assert again.booster.num_trees() == fresh.booster.num_trees() == trees
    test = data.positions(split.test.as_of.unique())
    np.testing.assert_allclose(
        again.booster.predict(data.matrix[test]), fresh.booster.predict(data.matrix[test])
    )
    np.testing.assert_allclose(again.predict(split.test), fresh.predict(split.test))


def test_the_blend_weight_is_chosen_on_the_folds_never_on_the_test(churn_result):
    """labelled_frame's outcome is linear in its features: the folds blend in the linear part;
    flipping every test label changes neither the weights' fold AUCs nor the choice."""
    table = churn_result.blend
    assert {0.0, 0.25, 0.5, 0.75} <= set(table.weight)  # the grid, and the stacked weight
    for model, part in table.groupby("model"):
        chosen = part[part.chosen]
        assert len(chosen) == 1, model
        assert 0 < chosen.weight.item() <= 0.75
    assert churn_result.metrics["judged_blend_weight"] > 0
    assert churn_result.judged.blended and churn_result.judged.linear is not None
    assert churn_result.bundle.blend_weight == churn_result.metrics["blend_weight"]
    # the calibration and the test metrics read the blended scores
    p = churn_result.judged.predict(churn_result.split.test)
    np.testing.assert_allclose(p, churn_result.test_predictions.probability.to_numpy())
    frame = labelled_frame()
    test = frame.as_of.isin(churn_result.split.test.as_of.unique())
    flipped = frame.assign(churn_label=frame.churn_label.where(~test, 1 - frame.churn_label))
    again = train_target(flipped, "churn", {}, _fast())
    judged = table[table.model == "judged"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        again.blend[again.blend.model == "judged"].reset_index(drop=True), judged
    )
    assert again.metrics["judged_blend_weight"] == churn_result.metrics["judged_blend_weight"]


def test_weight_zero_is_the_trees_alone_exactly(churn_result):
    """linear_blend_weights [0] (and a weight of 0 chosen by the folds) is the recipe without a
    blend: no linear part, the booster's own scores, the same calibration."""
    from churnml.train import (
        choose_blend,
        choose_candidate,
        labelled_data,
        model_features,
        time_folds,
    )

    off = train_target(labelled_frame(), "churn", {}, _fast(linear_blend_weights=[0]))
    assert off.bundle.linear is None and off.judged.linear is None
    assert off.metrics["blend_weight"] == 0.0 and off.blend.empty
    X = off.bundle.design_matrix(off.split.test)
    np.testing.assert_array_equal(
        off.bundle.predict_raw(off.split.test), off.bundle.booster.predict(X)
    )
    # the blend changes nothing else: the same trees under it
    assert off.metrics["judged_trees"] == churn_result.metrics["judged_trees"]
    frame = labelled_frame()
    params = _fast().training
    features, categorical = model_features(frame)
    data = labelled_data(frame, "churn", features, categorical, {}, params)
    choice = choose_candidate(data, time_folds(data, data.as_of.max(), 90, 3), params)
    assert choose_blend(data, choice, [0.0]) is choice


def test_the_linear_part_learns_from_a_capped_weighted_sample_on_large_data(monkeypatch):
    import churnml.train as train
    from churnml.linear import fit_linear
    from churnml.train import capped_fit_rows, labelled_data, linear_fit, model_features

    frame = labelled_frame()
    params = _fast().training
    features, categorical = model_features(frame)
    data = labelled_data(frame, "churn", features, categorical, {}, params)
    rows = np.arange(len(data.y))
    monkeypatch.setattr(train, "LINEAR_FIT_ROWS", 1000)
    part = linear_fit(data, rows, params)
    kept, weights = capped_fit_rows(data.y, data.as_of, 1000, params.random_state)
    assert weights is not None and len(kept) < len(rows)
    expected = fit_linear(data.matrix[kept], data.y[kept], [2], weights, params.random_state)
    np.testing.assert_allclose(part.coef, expected.coef)
    monkeypatch.setattr(train, "LINEAR_FIT_ROWS", 10**9)
    everything = linear_fit(data, rows, params)
    assert everything.coef.shape == part.coef.shape and not np.allclose(everything.coef, part.coef)


def _blend_fold(rng, rows: int, trees: float, linear: float) -> tuple:
    """One fold's labels and the two parts' log-odds, each `trees` or `linear` times the one
    driver plus unit noise."""
    x = rng.normal(size=rows)
    y = (rng.random(rows) < 1 / (1 + np.exp(-(-2 + 2 * x)))).astype(int)
    return y, trees * x + rng.normal(size=rows), linear * x + rng.normal(size=rows)


@pytest.mark.parametrize("rule", ["best_fold_auc", "one_se", "stacked"])
def test_every_blend_rule_follows_folds_that_clearly_favour_one_part(rule):
    from churnml.train import blend_weight

    rng = np.random.default_rng(0)
    grid = [0.0, 0.25, 0.5, 0.75]
    linear_better = [_blend_fold(rng, 300, 0.3, 2.0) for _ in range(4)]
    assert blend_weight(linear_better, grid, rule)[0] >= 0.5
    trees_better = [_blend_fold(rng, 300, 2.0, 0.0) for _ in range(4)]  # linear part: noise
    assert blend_weight(trees_better, grid, rule)[0] < 0.1


def test_one_se_blends_evenly_unless_the_folds_clearly_favour_another_weight():
    """Two folds where the trees rank better, one where the linear part does: the highest mean
    fold AUC is a lopsided weight, but its lead over the even blend is within the folds' noise."""
    from churnml.train import blend_weight

    rng = np.random.default_rng(0)
    grid = [0.0, 0.25, 0.5, 0.75]
    mixed = [_blend_fold(rng, 300, 2.0, 0.0), _blend_fold(rng, 300, 2.0, 0.0)]
    mixed.append(_blend_fold(rng, 300, 0.3, 1.5))
    best, aucs = blend_weight(mixed, grid, "best_fold_auc")
    assert best == 0.25 and set(aucs) == set(grid)
    assert aucs[best].mean() == max(a.mean() for a in aucs.values())
    assert blend_weight(mixed, grid, "one_se")[0] == 0.5
    # one fold gives no standard error: the best weight stands
    assert (
        blend_weight(mixed[:1], grid, "one_se")[0]
        == blend_weight(mixed[:1], grid, "best_fold_auc")[0]
    )
    # the stacked weight lies between the parts, off the grid, with its own fold AUCs
    stacked, aucs = blend_weight(mixed, grid, "stacked")
    assert 0 < stacked < 0.75 and stacked not in grid and len(aucs[stacked]) == 3


def test_stacked_weight_is_b_over_a_plus_b_within_the_grid():
    from churnml.train import stacked_weight

    rng = np.random.default_rng(1)
    x = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(-1 + x)))).astype(int)
    halves = [(y[:2000], x[:2000] / 3, x[:2000] / 1.5), (y[2000:], x[2000:] / 3, x[2000:] / 1.5)]
    # both parts carry the same driver: any a, b with a/3 + b/1.5 = 1 fit; noise breaks ties
    assert 0.0 <= stacked_weight(halves, 0.75) <= 0.75
    noise = rng.normal(size=4000)
    trees_only = [(y, x, noise)]
    assert stacked_weight(trees_only, 0.75) < 0.05
    linear_only = [(y, noise, x)]
    assert stacked_weight(linear_only, 0.75) > 0.7


def test_small_data_chooses_over_more_folds_never_a_test_snapshot():
    """choice_folds: the trees, parameter set and blend weight of a small target are chosen over
    up to that many folds, all before the test; the reported backtest and the calibration stay
    on the last backtest_folds; large data keeps backtest_folds."""
    from churnml.train import choice_folds, labelled_data, model_features, time_folds

    frame = labelled_frame(snapshots=16)
    cfg = _fast(choice_folds=6)
    params = cfg.training
    features, categorical = model_features(frame)
    data = labelled_data(frame, "churn", features, categorical, {}, params)
    split = backtest_split(frame, "churn_label", 90, 2)
    upto = split.fit.as_of.max()
    folds = choice_folds(data, upto, 90, params)
    assert len(folds) == 5  # every fit snapshot with one a horizon before it
    assert all(f.valid_as_of <= upto for f in folds)
    assert [f.valid_as_of for f in folds[-3:]] == [
        f.valid_as_of for f in time_folds(data, upto, 90, 3)
    ]
    large = params.model_copy(update={"candidate_max_rows": len(data.y) - 1})
    assert len(choice_folds(data, upto, 90, large)) == params.backtest_folds
    result = train_target(frame, "churn", {}, cfg)
    three = train_target(frame, "churn", {}, _fast(choice_folds=3))
    judged = result.candidates.query("model == 'judged'").reset_index(drop=True)
    assert not np.allclose(judged.fold_auc, three.candidates.query("model == 'judged'").fold_auc)
    assert len(result.folds) == 3 and result.split.calibration.as_of.nunique() == 3
    assert result.split.calibration.as_of.max() < result.split.test.as_of.min()
    # flipping every test label changes no fold AUC and no choice of the judged recipe
    test = frame.as_of.isin(result.split.test.as_of.unique())
    flipped = frame.assign(churn_label=frame.churn_label.where(~test, 1 - frame.churn_label))
    again = train_target(flipped, "churn", {}, cfg)
    pd.testing.assert_frame_equal(
        again.candidates.query("model == 'judged'").reset_index(drop=True), judged
    )
    pd.testing.assert_frame_equal(
        again.blend.query("model == 'judged'").reset_index(drop=True),
        result.blend.query("model == 'judged'").reset_index(drop=True),
    )


def test_leaf_rows_follow_the_outcome_rate_within_a_tenth_of_the_rows():
    from churnml.train import leaf_rows

    params = default_config().training  # min_child_samples 100, min_leaf_positives 5
    assert leaf_rows(params, 20_000, 2_000) == 100  # common outcome: the configured minimum
    assert leaf_rows(params, 20_000, 20) == 2_000  # 0.1% positives: 5 expected per leaf
    assert leaf_rows(params, 5_000, 5) == 500  # ... but never above a tenth of the rows
    # ... and never below the configured minimum: on a few hundred rows, leaves of 100 keep
    # the trees from fitting noise features (test_many_noise_features_do_not_sink_a_small_dataset)
    assert leaf_rows(params, 250, 40) == 100
    small = params.model_copy(update={"min_child_samples": 5})
    assert leaf_rows(small, 30, 10) == 5
