"""Out-of-time training of one target: split, fit LightGBM, calibrate, evaluate, baseline.

The split respects time: the model is fitted on early snapshots, early-stopped and calibrated
on a later one, and tested on the latest labelled snapshots, with a gap of at least the horizon
between what it learns from and what it is tested on, so label windows never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnml.config import ChurnmlConfig, TrainingConfig
from churnml.drift import reference_profile
from churnml.evaluate import classification_metrics, size_band
from churnml.model import ModelBundle, PlattCalibrator

ID_COLUMNS = ("account_id", "as_of")
LABEL_COLUMNS = ("churn_label", "upsell_label", "churn_at")
NOT_FEATURES = {"contract_plan"}  # represented by contract_plan_rank
MIN_ISOTONIC_POSITIVES = 100


class TrainingError(RuntimeError):
    """Not enough labelled history to train and test honestly."""


class TargetNotTrainable(TrainingError):
    """This target's labels cannot support a model (too little history, one outcome only); the
    training flow skips it and trains the others."""


@dataclass
class BacktestSplit:
    fit: pd.DataFrame
    calibration: pd.DataFrame
    test: pd.DataFrame

    def describe(self) -> dict[str, str]:
        def span(f: pd.DataFrame) -> str:
            return f"{f.as_of.min():%Y-%m-%d}..{f.as_of.max():%Y-%m-%d} ({f.as_of.nunique()} snapshots, {len(f)} rows)"

        return {
            "fit": span(self.fit),
            "calibration": span(self.calibration),
            "test": span(self.test),
        }


@dataclass
class TrainResult:
    bundle: ModelBundle
    split: BacktestSplit
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    test_predictions: pd.DataFrame  # account_id, as_of, label, probability
    params: TrainingConfig | None = None  # the parameters the bundle was fitted with
    tuning_trials: pd.DataFrame | None = None  # one row per Optuna trial, when tuned


def model_features(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Feature columns of a feature frame, and which of them are categorical."""
    features = [
        c
        for c in frame.columns
        if c not in ID_COLUMNS and c not in LABEL_COLUMNS and c not in NOT_FEATURES
    ]
    categorical = [
        c for c in features if c.startswith("attr_") and not pd.api.types.is_numeric_dtype(frame[c])
    ]
    return features, categorical


def backtest_split(
    frame: pd.DataFrame, label: str, horizon_days: int, test_snapshots: int
) -> BacktestSplit:
    """Latest labelled snapshots for test; calibration and fit end a horizon before the test."""
    labelled = frame[frame[label].notna()]
    dates = sorted(labelled.as_of.unique())
    if len(dates) < test_snapshots + 2:
        raise TargetNotTrainable(
            f"{label}: {len(dates)} labelled snapshots; need at least {test_snapshots + 2} "
            "(fit, calibration, test). Use more history or more frequent snapshots."
        )
    test_dates = dates[-test_snapshots:]
    cutoff = pd.Timestamp(test_dates[0]) - pd.Timedelta(days=horizon_days)
    pool = [d for d in dates if pd.Timestamp(d) <= cutoff]
    if len(pool) < 2:
        raise TargetNotTrainable(
            f"{label}: only {len(pool)} labelled snapshots lie a horizon ({horizon_days} days) before "
            f"the test period starting {pd.Timestamp(test_dates[0]):%Y-%m-%d}; need 2"
        )
    cal_date = pool[-1]
    return BacktestSplit(
        fit=labelled[labelled.as_of.isin(pool[:-1])],
        calibration=labelled[labelled.as_of == cal_date],
        test=labelled[labelled.as_of.isin(test_dates)],
    )


def _categories(frame: pd.DataFrame, categorical: list[str]) -> dict[str, list[str]]:
    return {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in categorical}


def lightgbm_params(params: TrainingConfig, y_fit: np.ndarray) -> dict:
    """LightGBM settings for one fit, from the training config and the fit labels."""
    positives = max(1, int(y_fit.sum()))
    return {
        "objective": "binary",
        # Early stopping watches ranking (AUC): log loss on the calibration snapshot is skewed by
        # the class weighting below and stopped training after a handful of trees.
        "metric": "auc",
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "min_child_samples": params.min_child_samples,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": params.lambda_l2,
        # Imbalance: up-weight the rare class moderately; calibration restores probabilities.
        "scale_pos_weight": float(np.sqrt((len(y_fit) - positives) / positives)),
        "seed": params.random_state,
        "num_threads": 2,
        "verbose": -1,
        "max_cat_to_onehot": 8,
        "cat_smooth": 20,
    }


def fit_bundle(
    target: str,
    label: str,
    split: BacktestSplit,
    features: list[str],
    categorical: list[str],
    spec: dict,
    params: TrainingConfig,
) -> ModelBundle:
    """LightGBM with early stopping on the calibration snapshot, then a calibrator on it."""
    categories = _categories(split.fit, categorical)
    shell = ModelBundle(target, None, None, features, categories, spec)  # type: ignore[arg-type]
    X_fit, y_fit = shell.design_matrix(split.fit), split.fit[label].astype(int).to_numpy()
    X_cal, y_cal = (
        shell.design_matrix(split.calibration),
        split.calibration[label].astype(int).to_numpy(),
    )
    if y_fit.sum() == 0 or y_fit.sum() == len(y_fit):
        raise TargetNotTrainable(f"{label}: the fit period has only one outcome; cannot train")
    if y_cal.sum() == 0 or y_cal.sum() == len(y_cal):
        raise TargetNotTrainable(
            f"{label}: the calibration snapshot {split.calibration.as_of.max():%Y-%m-%d} has "
            "only one outcome; cannot calibrate (more accounts or history are needed)"
        )
    booster = _fit_booster(X_fit, y_fit, X_cal, y_cal, categorical, params)
    booster = booster if booster.best_iteration <= 0 else _trim(booster)
    shell.booster = booster
    raw_cal = booster.predict(X_cal)
    if y_cal.sum() >= MIN_ISOTONIC_POSITIVES:
        calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
            raw_cal, y_cal
        )
    else:
        calibrator = PlattCalibrator().fit(raw_cal, y_cal)
    shell.calibrator = calibrator
    shell.trained_through = f"{split.calibration.as_of.max():%Y-%m-%d}"
    return shell


def _fit_booster(
    X_fit: pd.DataFrame,
    y_fit: np.ndarray,
    X_cal: pd.DataFrame,
    y_cal: np.ndarray,
    categorical: list[str],
    params: TrainingConfig,
) -> lgb.Booster:
    """Boost on the fit rows, early-stopped on the calibration snapshot's AUC."""
    train_set = lgb.Dataset(
        X_fit, y_fit, categorical_feature=categorical or "auto", free_raw_data=False
    )
    valid_set = lgb.Dataset(X_cal, y_cal, reference=train_set)
    return lgb.train(
        lightgbm_params(params, y_fit),
        train_set,
        num_boost_round=params.n_estimators,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )


def tune_params(
    label: str,
    split: BacktestSplit,
    features: list[str],
    categorical: list[str],
    params: TrainingConfig,
) -> tuple[TrainingConfig, pd.DataFrame]:
    """Optuna search of the tree shape and regularisation, judged on the calibration snapshot.

    The test snapshots never take part, so the backtest stays an honest estimate of the tuned
    model. The configured parameters are always the first trial: tuning can only keep or beat them
    on validation AUC.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    shell = ModelBundle(label, None, None, features, _categories(split.fit, categorical), {})  # type: ignore[arg-type]
    X_fit, y_fit = shell.design_matrix(split.fit), split.fit[label].astype(int).to_numpy()
    X_cal = shell.design_matrix(split.calibration)
    y_cal = split.calibration[label].astype(int).to_numpy()
    if len(np.unique(y_cal)) < 2 or len(np.unique(y_fit)) < 2:
        raise TargetNotTrainable(
            f"{label}: tuning needs both outcomes in the fit and calibration data"
        )
    searched = {
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "min_child_samples": params.min_child_samples,
        "learning_rate": params.learning_rate,
        "feature_fraction": params.feature_fraction,
        "lambda_l2": params.lambda_l2,
    }

    def objective(trial: optuna.Trial) -> float:
        candidate = params.model_copy(
            update={
                "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
                "max_depth": trial.suggest_int("max_depth", 2, 8),
                "min_child_samples": trial.suggest_int("min_child_samples", 10, 400, log=True),
                "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
                "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
                "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
            }
        )
        booster = _fit_booster(X_fit, y_fit, X_cal, y_cal, categorical, candidate)
        trial.set_user_attr("trees", int(booster.best_iteration or booster.num_trees()))
        return float(booster.best_score["valid_0"]["auc"])

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=params.random_state)
    )
    study.enqueue_trial({k: v for k, v in searched.items() if k != "max_depth" or v >= 2})
    study.optimize(objective, n_trials=params.optuna_trials, timeout=params.optuna_timeout_seconds)
    trials = study.trials_dataframe(attrs=("number", "value", "params", "user_attrs", "state"))
    return params.model_copy(update=study.best_params), trials


def _trim(booster: lgb.Booster) -> lgb.Booster:
    """Keep only the trees up to the best iteration, so later predictions need no argument."""
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))


def baseline_metrics(
    label: str,
    split: BacktestSplit,
    features: list[str],
    categorical: list[str],
    capacity_k: int,
    random_state: int,
) -> dict[str, float]:
    """A regularised logistic regression on the same features, reported beside LightGBM."""
    numeric = [c for c in features if c not in categorical]
    pre = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
                ),
                numeric,
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
        ]
    )
    model = make_pipeline(pre, LogisticRegression(C=0.1, max_iter=2000, random_state=random_state))

    def prepare(f: pd.DataFrame) -> pd.DataFrame:
        X = f[features].copy()
        for c in categorical:
            X[c] = X[c].astype("string").astype(object).fillna("missing")
        for c in numeric:
            X[c] = pd.to_numeric(X[c], errors="coerce").replace([np.inf, -np.inf], np.nan)
        return X

    fit = pd.concat([split.fit, split.calibration])
    model.fit(prepare(fit), fit[label].astype(int))
    p = model.predict_proba(prepare(split.test))[:, 1]
    return classification_metrics(split.test[label].astype(int).to_numpy(), p, capacity_k)


def train_target(frame: pd.DataFrame, target: str, spec: dict, cfg: ChurnmlConfig) -> TrainResult:
    """Backtest, fit and calibrate one target ("churn" or "upsell") on a labelled feature frame."""
    label = f"{target}_label"
    horizon = cfg.labels.churn_horizon_days if target == "churn" else cfg.labels.upsell_horizon_days
    split = backtest_split(frame, label, horizon, cfg.training.validation_snapshots)
    features, categorical = model_features(frame)
    params, trials = cfg.training, None
    if cfg.training.optuna_trials > 0:
        params, trials = tune_params(label, split, features, categorical, cfg.training)
    bundle = fit_bundle(target, label, split, features, categorical, spec, params)
    y_test = split.test[label].astype(int).to_numpy()
    p_test = bundle.predict(split.test)
    metrics = classification_metrics(y_test, p_test, cfg.outreach.capacity_top_k)
    metrics["best_iteration"] = float(bundle.booster.num_trees())
    bundle.metrics = metrics
    bundle.drift_reference = reference_profile(
        split.test, features, categorical, p_test, cfg.drift.bins
    )
    predictions = split.test[["account_id", "as_of"]].assign(label=y_test, probability=p_test)
    for col in ("attr_segment", "contract_plan", "contract_arr"):
        if col in split.test.columns:
            predictions[col] = split.test[col].to_numpy()
    if "contract_arr" in predictions.columns:
        predictions["size_band"] = size_band(
            predictions["contract_arr"], cfg.training.size_bands_arr
        ).to_numpy()
    base = baseline_metrics(
        label, split, features, categorical, cfg.outreach.capacity_top_k, cfg.training.random_state
    )
    return TrainResult(bundle, split, metrics, base, predictions, params, trials)


def top_feature_share(bundle: ModelBundle) -> tuple[str, float]:
    """The feature with the largest share of total gain, and that share."""
    gain = bundle.booster.feature_importance("gain")
    total = float(gain.sum())
    if total <= 0:
        return "", 0.0
    i = int(np.argmax(gain))
    return bundle.features[i], float(gain[i] / total)


def shuffled_label_auc(result: TrainResult, cfg: ChurnmlConfig) -> float:
    """AUC on the test of a model fitted to shuffled labels: near 0.5 unless the test leaks."""
    label = f"{result.bundle.target}_label"
    rng = np.random.default_rng(cfg.training.random_state)
    fit = result.split.fit.copy()
    fit[label] = rng.permutation(fit[label].to_numpy())
    split = BacktestSplit(fit, result.split.calibration, result.split.test)
    params = result.params or cfg.training
    quick = params.model_copy(update={"n_estimators": min(params.n_estimators, 100)})
    features, categorical = result.bundle.features, list(result.bundle.categories)
    bundle = fit_bundle(
        result.bundle.target, label, split, features, categorical, result.bundle.spec, quick
    )
    y = split.test[label].astype(int).to_numpy()
    return classification_metrics(y, bundle.predict_raw(split.test), cfg.outreach.capacity_top_k)[
        "roc_auc"
    ]


def rolling_backtest(
    frame: pd.DataFrame,
    target: str,
    spec: dict,
    cfg: ChurnmlConfig,
    params: TrainingConfig | None = None,
) -> pd.DataFrame:
    """Refit on each of the last `backtest_folds` labelled snapshots as its own test period.

    Each fold trains only on snapshots a horizon before its test snapshot, so the spread of
    the metrics over folds shows how stable the model is over time, not just on one period.
    """
    label = f"{target}_label"
    horizon = cfg.labels.churn_horizon_days if target == "churn" else cfg.labels.upsell_horizon_days
    dates = sorted(frame.loc[frame[label].notna(), "as_of"].unique())
    features, categorical = model_features(frame)
    rows = []
    for test_date in dates[-cfg.training.backtest_folds :]:
        upto = frame[frame.as_of <= test_date]
        try:
            split = backtest_split(upto, label, horizon, 1)
            bundle = fit_bundle(
                target, label, split, features, categorical, spec, params or cfg.training
            )
        except TrainingError:
            continue  # not enough history before this fold
        y = split.test[label].astype(int).to_numpy()
        m = classification_metrics(y, bundle.predict(split.test), cfg.outreach.capacity_top_k)
        rows.append({"test_as_of": pd.Timestamp(test_date), **m})
    return pd.DataFrame(rows)
