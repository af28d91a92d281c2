"""Out-of-time training of one target: folds choose the recipe, the judged model is tested, the
refit on every labelled snapshot is registered.

The recipe (number of trees, optional tuning, calibration) is chosen over several time-ordered
folds, each trained only on snapshots a horizon before its validation snapshot. The judged model
applies the recipe to the snapshots a horizon before the test and is scored on the test, which
it never saw; the registered model applies the same recipe to every labelled snapshot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import lightgbm as lgb
import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnml.calibration import (
    CalibrationError,
    QuantileCalibrator,
    fit_calibrator,
    score_quantile,
    score_reference,
)
from churnml.config import ChurnmlConfig, TrainingConfig
from churnml.drift import reference_profile
from churnml.linear import LINEAR_C, LINEAR_MAX_ITER, blended_log_odds, fit_linear, sigmoid
from churnml.metrics import classification_metrics, size_band
from churnml.model import ModelBundle, blend_scores, lightgbm_matrix
from churnml.trainable import (
    TargetNotTrainable,
    TrainingError,
    check_outcomes,
    refuse_one_outcome_fit,
    split_dates,
)

ID_COLUMNS = ("account_id", "as_of")
LABEL_COLUMNS = ("churn_label", "upsell_label", "churn_at")
NOT_FEATURES = {"contract_plan"}  # represented by contract_plan_rank
SHUFFLE_DRAWS = 4
SHUFFLE_FIT_ROWS = 50_000  # shuffled-label fits learn from at most this many fit rows (see below)
LINEAR_FIT_ROWS = 50_000  # a blend's linear part learns from at most this many (linear_fit)
REFERENCE_SAMPLE = 20_000  # training rows whose scores place a new score among them


@dataclass
class BacktestSplit:
    fit: pd.DataFrame  # every labelled snapshot a horizon before the test: the judged model's data
    calibration: pd.DataFrame  # the judged recipe's out-of-fold snapshots (inside `fit`)
    test: pd.DataFrame

    def snapshot_spans(self) -> dict[str, str]:
        """First..last as-of, snapshots and rows of each part, for the run's record."""

        def span(f: pd.DataFrame) -> str:
            if f.empty:
                return "none"
            return f"{f.as_of.min():%Y-%m-%d}..{f.as_of.max():%Y-%m-%d} ({f.as_of.nunique()} snapshots, {len(f)} rows)"

        return {
            "fit": span(self.fit),
            "calibration": span(self.calibration),
            "test": span(self.test),
        }


@dataclass
class TrainResult:
    bundle: ModelBundle  # the registered model: the recipe refitted on every labelled snapshot
    split: BacktestSplit
    metrics: dict[str, float]  # the judged model on the test snapshots
    baseline_metrics: dict[str, float]
    test_predictions: pd.DataFrame  # account_id, as_of, label, probability (judged model)
    params: TrainingConfig | None = None  # the parameters the bundle was fitted with
    tuning_trials: pd.DataFrame | None = None  # one row per Optuna trial, when tuned
    judged: ModelBundle | None = None  # fitted a horizon before the test; produced `metrics`
    folds: pd.DataFrame | None = None  # the registered recipe's time-ordered folds
    shuffled_auc: float | None = None  # computed with the judged recipe, see shuffled_label_auc
    shuffled_auc_se: float | None = None  # standard error of that mean over the permutations
    shuffled_draws: int | None = None  # permutations averaged
    candidates: pd.DataFrame | None = None  # model, candidate, fold_auc, chosen (see CANDIDATES)
    blend: pd.DataFrame | None = None  # model, weight, fold_auc, chosen (see choose_blend)


@dataclass
class ShuffledCheck:
    """The shuffled-label AUC: mean over `draws` permutations, and its standard error."""

    auc: float
    se: float
    draws: int


@dataclass
class Fold:
    valid_as_of: pd.Timestamp
    train: np.ndarray  # row positions in LabelledData
    valid: np.ndarray


@dataclass
class LabelledData:
    """The labelled rows of one target, their design matrix and one binned LightGBM Dataset."""

    label: str
    rows: pd.DataFrame
    X: pd.DataFrame
    matrix: np.ndarray  # X as LightGBM reads it (category codes, NaN missing): scored by row
    y: np.ndarray
    as_of: np.ndarray
    dataset: lgb.Dataset
    shell: ModelBundle  # features and category levels, no booster yet

    def positions(self, dates) -> np.ndarray:
        return np.flatnonzero(np.isin(self.as_of, np.asarray(dates, dtype=self.as_of.dtype)))


@dataclass
class Recipe:
    """What the folds chose: trees, a calibrator on out-of-fold scores, and each fold's scores."""

    trees: int
    calibrator: object
    calibration_method: str
    oof: pd.DataFrame  # position, as_of, label, raw
    best_auc: float
    fold_models: list[tuple[Fold, lgb.Booster]] = field(default_factory=list)  # see reused_fit
    blend_weight: float = 0.0  # the linear part's weight in log-odds (choose_blend)
    blend_scores: dict[float, float] = field(default_factory=dict)  # weight -> mean fold AUC


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


REDUNDANCY_SAMPLE = 20_000  # rows whose ranks decide which features repeat another


def informative_features(
    rows: pd.DataFrame, features: list[str], categorical: list[str], max_correlation: float
) -> list[str]:
    """The features minus those that cannot help a fit: constant over the labelled rows, or a
    near-copy of an earlier feature (absolute rank correlation >= `max_correlation`).

    Rich usage families repeat themselves (a dominant event type's count is nearly the event
    count; a lifetime count and its monthly rate for accounts of one age): on little data such
    copies dilute each tree's feature sample and split the model's credit between them. Labels
    are not read, so the choice cannot leak; the earlier feature in frame order (the broader
    one: all events before a single type) is kept. Categorical attributes are always kept.
    """
    numeric = [c for c in features if c not in categorical]
    sample = (
        rows if len(rows) <= REDUNDANCY_SAMPLE else rows.sample(REDUNDANCY_SAMPLE, random_state=0)
    )
    X = sample[numeric].astype("float64")
    varying = [c for c in numeric if X[c].nunique(dropna=False) > 1]
    ranks = X[varying].rank(method="average").fillna(-1.0).to_numpy()  # missing: its own rank
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs(np.corrcoef(ranks, rowvar=False)) if len(varying) > 1 else np.zeros((1, 1))
    kept: list[int] = []
    for i in range(len(varying)):
        if not any(corr[i, k] >= max_correlation for k in kept):
            kept.append(i)
    keep = {varying[i] for i in kept} | set(categorical)
    out = [c for c in features if c in keep]
    return out or features


def backtest_split(
    frame: pd.DataFrame, label: str, horizon_days: int, test_snapshots: int
) -> BacktestSplit:
    """Latest labelled snapshots for test; the judged model learns only a horizon before them.

    `calibration` is left empty here; train_target fills it with the out-of-fold snapshots.
    """
    labelled = frame[frame[label].notna()]
    pool, test_dates = split_dates(labelled.as_of.unique(), label, horizon_days, test_snapshots)
    return BacktestSplit(
        fit=labelled[labelled.as_of.isin(pool)],
        calibration=labelled.iloc[0:0],
        test=labelled[labelled.as_of.isin(test_dates)],
    )


def time_folds(data: LabelledData, upto, horizon_days: int, n_folds: int) -> list[Fold]:
    """The last `n_folds` labelled snapshots up to `upto`, each validating a model trained only
    on snapshots at least a horizon earlier (so no label window overlaps its validation)."""
    dates = sorted(d for d in np.unique(data.as_of) if d <= np.datetime64(upto))
    folds = []
    for valid_date in dates[-n_folds:]:
        cutoff = pd.Timestamp(valid_date) - pd.Timedelta(days=horizon_days)
        train = np.flatnonzero(data.as_of <= np.datetime64(cutoff))
        if len(train):
            folds.append(Fold(pd.Timestamp(valid_date), train, data.positions([valid_date])))
    return folds


def choice_folds(data: LabelledData, upto, horizon_days: int, params: TrainingConfig) -> list[Fold]:
    """The folds that choose a recipe: the last `backtest_folds`, and on small data (at most
    `candidate_max_rows` labelled rows) up to `choice_folds` of them.

    On a few hundred accounts one fold validates a snapshot of ~20-40 positives: its AUC strays
    by ~0.05, and the argmax of a mean over three such folds is mostly noise. Earlier snapshots
    with a snapshot a horizon before them give more folds at little cost there; large data keeps
    its folds and its training time."""
    n = params.backtest_folds
    if len(data.y) <= params.candidate_max_rows:
        n = max(n, params.choice_folds)
    return time_folds(data, upto, horizon_days, n)


def _categories(frame: pd.DataFrame, categorical: list[str]) -> dict[str, list[str]]:
    return {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in categorical}


def dataset_params(params: TrainingConfig) -> dict:
    """Binning only (no labels): shared by every fold so each feature is binned once per target."""
    return {
        "feature_pre_filter": False,
        "verbose": -1,
        "max_bin": params.max_bin,
        "num_threads": params.num_threads,
    }


def labelled_data(
    frame: pd.DataFrame,
    target: str,
    features: list[str],
    categorical: list[str],
    spec: dict,
    params: TrainingConfig | None = None,
) -> LabelledData:
    """Design matrix and one binned Dataset for every labelled row; folds take subsets of it."""
    params = params or TrainingConfig()
    label = f"{target}_label"
    rows = frame[frame[label].notna()].sort_values("as_of", kind="stable").reset_index(drop=True)
    shell = ModelBundle(target, None, None, features, _categories(rows, categorical), spec)  # type: ignore[arg-type]
    X = shell.design_matrix(rows)
    y = rows[label].astype(int).to_numpy()
    dataset = lgb.Dataset(
        X,
        y,
        categorical_feature=categorical or "auto",
        free_raw_data=False,  # the raw data is X itself (kept for the bundle), not a copy
        params=dataset_params(params),
    ).construct()
    as_of = rows.as_of.to_numpy().astype("datetime64[ns]")
    return LabelledData(label, rows, X, lightgbm_matrix(X), y, as_of, dataset, shell)


def leaf_rows(params: TrainingConfig, n_rows: int, positives: int) -> int:
    """Rows per leaf: the configured minimum, raised so a leaf expects `min_leaf_positives`
    positives when the outcome is rare, but never above a tenth of the rows (at least the
    configured minimum). Small books get larger leaves relative to their signal."""
    rate = max(positives, 1) / max(n_rows, 1)
    wanted = int(np.ceil(params.min_leaf_positives / rate))
    return int(
        min(max(params.min_child_samples, wanted), max(params.min_child_samples, n_rows // 10))
    )


def lightgbm_params(params: TrainingConfig, y_fit: np.ndarray) -> dict:
    """LightGBM settings for one fit, from the training config and the fit labels."""
    positives = max(1, int(y_fit.sum()))
    return {
        "objective": "binary",
        "metric": "auc",
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "min_child_samples": leaf_rows(params, len(y_fit), positives),
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": params.lambda_l2,
        "path_smooth": params.path_smooth,
        # Imbalance: up-weight the rare class moderately; calibration restores probabilities.
        "scale_pos_weight": float(np.sqrt(max(len(y_fit) - positives, 1) / positives)),
        "seed": params.random_state,
        "num_threads": params.num_threads,
        "verbose": -1,
        "max_cat_to_onehot": 8,
        "cat_smooth": 20,
    }


def _plateau_stop(min_rounds: int, patience: int):
    """Stop once validation AUC has not improved for `patience` rounds, never before `min_rounds`."""
    best = {"score": -np.inf, "iteration": 0}

    def callback(env: lgb.callback.CallbackEnv) -> None:
        score = env.evaluation_result_list[0][2]
        if score > best["score"]:
            best.update(score=score, iteration=env.iteration)
        elif env.iteration + 1 >= min_rounds and env.iteration - best["iteration"] >= patience:
            raise lgb.callback.EarlyStopException(best["iteration"], env.evaluation_result_list)

    callback.order = 30  # type: ignore[attr-defined]
    return callback


def large_data_params(params: TrainingConfig, labelled_rows: int) -> TrainingConfig:
    """The parameters every fit of a target uses: above `max_fit_rows` labelled rows (where
    fits learn from a capped sample), the learning rate is raised to `large_data_learning_rate`.

    Plentiful data tolerates a larger step: the folds' AUC plateaus at about the same height in
    a third of the trees, and every fit (folds, judged, shuffled, refit) grows that many fewer.
    One rate per target, from its labelled rows, so the folds choose trees for the rate the
    judged and registered fits use. A fold's patience (`early_stopping_rounds`) shrinks by the
    same factor (at least 10 rounds): it waits as far in learning, not in trees. Below the cap
    nothing changes.
    """
    cap, rate = params.max_fit_rows, params.large_data_learning_rate
    if cap is None or rate is None or labelled_rows <= cap or rate <= params.learning_rate:
        return params
    patience = params.early_stopping_rounds * params.learning_rate / rate
    return params.model_copy(
        update={
            "learning_rate": rate,
            "early_stopping_rounds": min(params.early_stopping_rounds, max(10, round(patience))),
        }
    )


def capped_fit_rows(
    y: np.ndarray, as_of: np.ndarray, limit: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions of `y` one fit learns from, and their weights (None: every row, unweighted).

    Up to `limit` rows a fit sees every row. Above it a fit learns from every positive and a
    seeded sample of the negatives, the same share of each snapshot, each kept negative weighted
    by its snapshot's negatives over those kept: the weighted rows reproduce every snapshot's
    base rate exactly, so the loss (and the class balance) is that of all rows, at a fraction of
    the cost. Large books have far more negatives than a ranking model needs to learn from.
    """
    n = len(y)
    if limit is None or n <= limit:
        return np.arange(n), None
    negative = y == 0
    positives = n - int(negative.sum())
    room = max(limit - positives, limit // 4)  # never fewer than a quarter of the cap
    share = min(1.0, room / max(int(negative.sum()), 1))
    rng = np.random.default_rng(seed)
    keep = ~negative
    weights = np.ones(n)
    for date in np.unique(as_of):
        members = np.flatnonzero(negative & (as_of == date))
        if not len(members):
            continue
        take = min(len(members), max(1, int(round(share * len(members)))))
        chosen = rng.choice(members, take, replace=False)
        keep[chosen] = True
        weights[chosen] = len(members) / take
    kept = np.flatnonzero(keep)
    return kept, weights[kept]


def boost(
    data: LabelledData,
    train: np.ndarray,
    params: TrainingConfig,
    rounds: int,
    valid: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> tuple[lgb.Booster, np.ndarray]:
    """Boost on a subset of the binned rows; with `valid`, also the AUC after every tree.

    Above `max_fit_rows` the fit learns from capped_fit_rows' weighted sample; its LightGBM
    settings (leaf sizes, class balance) are those of every row in `train`.
    """
    y = data.y[train] if labels is None else labels
    kept, weights = capped_fit_rows(y, data.as_of[train], params.max_fit_rows, params.random_state)
    train_set = data.dataset.subset(train[kept].tolist())
    if labels is not None or weights is not None:
        train_set.construct()
        if labels is not None:
            train_set.set_label(y[kept])
        if weights is not None:
            train_set.set_weight(weights)
    if valid is None:
        booster = lgb.train(lightgbm_params(params, y), train_set, num_boost_round=rounds)
        return booster, np.array([])
    history: dict = {}
    booster = lgb.train(
        lightgbm_params(params, y),
        train_set,
        num_boost_round=rounds,
        valid_sets=[data.dataset.subset(valid.tolist())],
        valid_names=["fold"],
        callbacks=[
            lgb.record_evaluation(history),
            _plateau_stop(params.min_trees, params.early_stopping_rounds),
        ],
    )
    return booster, np.asarray(history["fold"]["auc"], dtype=float)


def choose_recipe(data: LabelledData, folds: list[Fold], params: TrainingConfig) -> Recipe:
    """Trees that maximise the mean fold AUC (at least `min_trees`), and a calibrator fitted on
    every fold's predictions for its own validation snapshot (cross-fitted, never in-sample)."""
    curves, fitted = [], []
    for fold in folds:
        if len(np.unique(data.y[fold.train])) < 2 or len(np.unique(data.y[fold.valid])) < 2:
            continue  # a fold with one outcome can neither learn nor rank
        booster, curve = boost(data, fold.train, params, params.n_estimators, fold.valid)
        curves.append(curve)
        fitted.append((fold, booster))
    if not folds:
        raise TargetNotTrainable(
            f"{data.label}: no time-ordered fold: no labelled snapshot has another one a full "
            "horizon before it; use more history or more frequent snapshots"
        )
    if not curves:
        raise TargetNotTrainable(
            f"{data.label}: none of the {len(folds)} time-ordered folds has both outcomes in its "
            "training and validation snapshots; use more history or more accounts"
        )
    length = max(len(c) for c in curves)
    padded = np.vstack([np.pad(c, (0, length - len(c)), mode="edge") for c in curves])
    mean_curve = padded.mean(axis=0)
    trees = int(np.clip(int(np.argmax(mean_curve)) + 1, params.min_trees, params.n_estimators))
    parts = []
    for fold, booster in fitted:
        n = min(trees, booster.current_iteration())
        raw = booster.predict(data.matrix[fold.valid], num_iteration=n)
        reference = training_reference(data, fold.train, booster, n, params.random_state)
        parts.append(_oof_part(data, fold, raw, reference))
    oof = pd.concat(parts, ignore_index=True)
    calibrator, method = _oof_calibrator(data, oof)
    best = float(mean_curve[min(trees, length) - 1])
    return Recipe(trees, calibrator, method, oof, best, fitted)


def _oof_calibrator(data: LabelledData, oof: pd.DataFrame) -> tuple[object, str]:
    """The calibration curve on the out-of-fold quantiles, or one line why there is none."""
    try:
        return fit_calibrator(oof["quantile"].to_numpy(), oof.label.to_numpy())
    except CalibrationError as exc:
        raise TargetNotTrainable(
            f"{data.label}: cannot calibrate: {exc}; use more history"
        ) from exc


def _oof_part(data: LabelledData, fold: Fold, raw: np.ndarray, reference: np.ndarray):
    """One fold's out-of-fold rows: position, as_of, label, raw score and its training quantile."""
    return pd.DataFrame(
        {"position": fold.valid, "as_of": fold.valid_as_of, "label": data.y[fold.valid]}
    ).assign(raw=raw, quantile=score_quantile(reference, raw))


# Parameter sets the folds choose among on small data (changes to the configured set). Many
# features on little data: shallow trees (near-additive, like the logistic baseline), stumps (an
# additive model: one feature per tree), or trees that see fewer features each with leaf values
# smoothed towards their parents' often rank better than the default shape, and which of them
# does is a property of the data set.
CANDIDATES: dict[str, dict] = {
    "configured": {},
    "shallow": {"num_leaves": 3, "max_depth": 2, "lambda_l2": 30.0, "learning_rate": 0.05},
    "sparse": {"feature_fraction": 0.25, "path_smooth": 20.0},
    "additive": {"num_leaves": 2, "max_depth": 1, "learning_rate": 0.1},
}
CANDIDATE_MIN_FEATURES = 4  # a sparse candidate's trees still see at least this many features


@dataclass
class CandidateChoice:
    """The parameter set the folds chose, its recipe, and every candidate's mean fold AUC."""

    name: str
    params: TrainingConfig
    recipe: Recipe
    scores: dict[str, float]  # candidate -> mean fold AUC at its chosen trees


def candidate_params(
    params: TrainingConfig, n_rows: int, n_features: int
) -> dict[str, TrainingConfig]:
    """The parameter sets worth comparing for `n_rows` labelled rows: the configured one alone
    above `candidate_max_rows` (large data keeps its defaults and its training time).

    No candidate samples fewer than CANDIDATE_MIN_FEATURES features per tree: a tree given
    only features without a valid split ends LightGBM's boosting below the floor of trees."""
    if n_rows > params.candidate_max_rows:
        return {"configured": params}
    floor = min(1.0, CANDIDATE_MIN_FEATURES / max(n_features, 1))
    out = {}
    for name, change in CANDIDATES.items():
        fraction = change.get("feature_fraction", params.feature_fraction)
        out[name] = params.model_copy(
            update=change | ({"feature_fraction": floor} if fraction < floor else {})
        )
    return out


def choose_candidate(
    data: LabelledData, folds: list[Fold], params: TrainingConfig
) -> CandidateChoice:
    """The candidate whose recipe has the highest mean AUC over the time-ordered `folds`.

    Only the folds decide (each validates on a snapshot its model never saw, all before any
    test the caller holds back); ties keep the earlier candidate, the configured one first.
    """
    best: CandidateChoice | None = None
    scores: dict[str, float] = {}
    for name, candidate in candidate_params(params, len(data.y), len(data.shell.features)).items():
        recipe = choose_recipe(data, folds, candidate)
        scores[name] = recipe.best_auc
        if best is None or recipe.best_auc > best.recipe.best_auc:
            best = CandidateChoice(name, candidate, recipe, scores)
    assert best is not None
    return best


def candidate_table(judged: CandidateChoice, registered: CandidateChoice) -> pd.DataFrame:
    """Every candidate's mean fold AUC for the judged and the registered recipe, and the choice."""
    return pd.DataFrame(
        [
            {"model": model, "candidate": name, "fold_auc": auc, "chosen": name == choice.name}
            for model, choice in (("judged", judged), ("registered", registered))
            for name, auc in choice.scores.items()
        ]
    )


def linear_fit(
    data: LabelledData, rows: np.ndarray, params: TrainingConfig, labels: np.ndarray | None = None
):
    """The linear part (churnml.linear) fitted on `rows` as a LightGBM fit learns from them,
    capped_fit_rows' sample with its weights, at most LINEAR_FIT_ROWS rows: a hundred-odd
    coefficients need far fewer rows than trees, and its ~12 fits per target (folds, judged,
    refit, shuffled labels) stay a few seconds at 100k accounts."""
    y = data.y[rows] if labels is None else labels
    cap = params.max_fit_rows
    limit = LINEAR_FIT_ROWS if cap is None else min(cap, LINEAR_FIT_ROWS)
    kept, weights = capped_fit_rows(y, data.as_of[rows], limit, params.random_state)
    categorical = [data.shell.features.index(c) for c in data.shell.categories]
    return fit_linear(data.matrix[rows[kept]], y[kept], categorical, weights, params.random_state)


BLEND_PRIOR = 0.5  # the one_se rule's weight unless the folds show another clearly better


def choose_blend(
    data: LabelledData,
    choice: CandidateChoice,
    weights: list[float],
    rule: str = "best_fold_auc",
) -> CandidateChoice:
    """The chosen candidate's recipe with the weight of a linear part blended in log-odds,
    (1 - w) * trees + w * linear, chosen on the folds by `rule` (see blend_weight).

    Per fold the linear part learns from the fold's training rows and scores its validation
    snapshot beside the fold's trees: only the folds decide, never a test. With a weight above
    0 the out-of-fold scores, the training references and so the calibration are the blend's.
    Weight 0 (always a choice) leaves the recipe exactly as it was.
    """
    recipe, params = choice.recipe, choice.params
    grid = sorted({0.0, *(float(w) for w in weights)})
    if grid == [0.0] or not recipe.fold_models:
        return choice
    folds = []
    for fold, booster in recipe.fold_models:
        trees = min(recipe.trees, booster.current_iteration())
        linear = linear_fit(data, fold.train, params)
        valid = data.matrix[fold.valid]
        z_trees = booster.predict(valid, num_iteration=trees, raw_score=True)
        folds.append((fold, booster, trees, linear, z_trees, linear.log_odds(valid)))
    parts = [(data.y[f.valid], zt, zl) for f, *_, zt, zl in folds]
    best, aucs = blend_weight(parts, grid, rule)
    scores = {w: float(np.mean(a)) for w, a in aucs.items()}
    if best == 0.0:
        return replace(choice, recipe=replace(recipe, blend_scores=scores))
    oof = []
    for fold, booster, trees, linear, z_trees, z_linear in folds:
        raw = sigmoid(blended_log_odds(z_trees, z_linear, best))
        reference = training_reference(
            data, fold.train, booster, trees, params.random_state, linear, best
        )
        oof.append(_oof_part(data, fold, raw, reference))
    oof = pd.concat(oof, ignore_index=True)
    calibrator, method = _oof_calibrator(data, oof)
    blended = replace(
        recipe,
        calibrator=calibrator,
        calibration_method=method,
        oof=oof,
        best_auc=scores[best],
        blend_weight=best,
        blend_scores=scores,
    )
    return replace(choice, recipe=blended)


def _blend_aucs(parts: list[tuple], weight: float) -> np.ndarray:
    """Each fold's AUC of the blend at `weight` (parts: labels, tree and linear log-odds)."""
    return np.array([roc_auc_score(y, blended_log_odds(zt, zl, weight)) for y, zt, zl in parts])


def blend_weight(
    parts: list[tuple], grid: list[float], rule: str
) -> tuple[float, dict[float, np.ndarray]]:
    """The blend weight `rule` picks from each fold's (labels, tree log-odds, linear log-odds),
    and every weight's fold AUCs (the stacked weight's too, when it is off the grid).

    - best_fold_auc: the highest mean fold AUC; a tie keeps the smaller weight.
    - one_se: the grid weight nearest BLEND_PRIOR (an even blend) unless the best weight's mean
      fold AUC is ahead of it by more than one standard error of their per-fold differences
      (two folds at least; with one fold, the best). Averaging two different models rarely
      ranks worse than either; an argmax over a few noisy fold AUCs often picks an extreme.
    - stacked: a logistic regression of the out-of-fold outcomes on the two log-odds (one
      intercept per fold: base rates move between snapshots) ranks as a * trees + b * linear,
      that is weight b / (a + b), clipped to the grid's range: every out-of-fold row weighs in
      through the likelihood instead of an argmax over a few fold AUCs.
    """
    aucs = {w: _blend_aucs(parts, w) for w in grid}
    means = {w: float(np.mean(a)) for w, a in aucs.items()}
    best = max(grid, key=means.__getitem__)  # the first of equal scores: the smaller weight
    if rule == "one_se" and len(parts) > 1:
        prior = min(grid, key=lambda w: (abs(w - BLEND_PRIOR), w))
        lead = aucs[best] - aucs[prior]
        if lead.mean() <= lead.std(ddof=1) / np.sqrt(len(lead)):
            best = prior
    elif rule == "stacked":
        best = stacked_weight(parts, max(grid))
        aucs.setdefault(best, _blend_aucs(parts, best))
    return best, aucs


def stacked_weight(parts: list[tuple], top: float) -> float:
    """w = b / (a + b) of the logistic regression y ~ a * z_trees + b * z_linear + one intercept
    per fold, in [0, top]: 0 when the linear part adds nothing (b <= 0), `top` when the trees
    add nothing (a <= 0 < b). Nearly unpenalised: two slopes on hundreds of rows."""
    y = np.concatenate([p[0] for p in parts])
    z = np.column_stack([np.concatenate([p[i] for p in parts]) for i in (1, 2)])
    fold = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
    X = np.hstack([z, (fold[:, None] == np.arange(1, len(parts))[None, :]).astype(float)])
    model = LogisticRegression(C=1e4, max_iter=LINEAR_MAX_ITER).fit(X, y)
    a, b = model.coef_[0][:2]
    if b <= 0:
        return 0.0
    if a <= 0:
        return float(top)
    return float(np.clip(round(b / (a + b), 3), 0.0, top))


def reported_folds(data: LabelledData, choice: CandidateChoice, n_folds: int) -> CandidateChoice:
    """The chosen recipe with its out-of-fold scores and calibration on its last `n_folds`
    folds only: the rolling backtest and the calibration stay those of `backtest_folds`, however
    many folds chose the recipe (choice_folds). Unchanged when the folds are that many."""
    recipe = choice.recipe
    dates = np.sort(recipe.oof.as_of.unique())
    if len(dates) <= n_folds:
        return choice
    oof = recipe.oof[recipe.oof.as_of.isin(dates[-n_folds:])].reset_index(drop=True)
    calibrator, method = _oof_calibrator(data, oof)
    return replace(
        choice, recipe=replace(recipe, oof=oof, calibrator=calibrator, calibration_method=method)
    )


def blend_table(judged: CandidateChoice, registered: CandidateChoice) -> pd.DataFrame:
    """Every blend weight's mean fold AUC for the judged and the registered recipe, and the choice."""
    return pd.DataFrame(
        [
            {
                "model": model,
                "weight": w,
                "fold_auc": auc,
                "chosen": w == choice.recipe.blend_weight,
            }
            for model, choice in (("judged", judged), ("registered", registered))
            for w, auc in choice.recipe.blend_scores.items()
        ],
        columns=["model", "weight", "fold_auc", "chosen"],
    )


def training_reference(
    data: LabelledData,
    rows: np.ndarray,
    booster: lgb.Booster,
    trees: int,
    seed: int,
    linear: object | None = None,
    weight: float = 0.0,
) -> np.ndarray:
    """Quantiles of a model's scores (blended with `linear` at `weight`) on (a sample of) its
    own training rows."""
    if len(rows) > REFERENCE_SAMPLE:
        rows = np.sort(np.random.default_rng(seed).choice(rows, REFERENCE_SAMPLE, replace=False))
    return score_reference(blend_scores(booster, data.matrix[rows], linear, weight, trees))


def reused_fit(
    data: LabelledData, rows: np.ndarray, trees: int, fold_models: list[tuple[Fold, lgb.Booster]]
) -> lgb.Booster | None:
    """The first `trees` trees of a fold model that learnt from exactly `rows`, or None.

    The judged model learns from the snapshots a horizon before the first test snapshot; when
    that snapshot is also a fold of the registered recipe, its fold model learnt from the very
    same rows with the same settings and seed, so its first trees are the judged model's trees:
    no second fit. The fold must have grown that many trees before it stopped.
    """
    for fold, booster in fold_models:
        same_rows = len(fold.train) == len(rows) and np.array_equal(fold.train, rows)
        if same_rows and booster.current_iteration() >= trees:
            return lgb.Booster(model_str=booster.model_to_string(num_iteration=trees))
    return None


def fit_model(
    data: LabelledData,
    rows: np.ndarray,
    recipe: Recipe,
    params: TrainingConfig,
    fold_models: list[tuple[Fold, lgb.Booster]] | None = None,
) -> ModelBundle:
    """The recipe applied to `rows`: a fixed number of trees, the cross-fitted calibrator.

    LightGBM grows every requested tree (at least `min_trees`) unless no split is left that
    meets the leaf-size rules (noise only): it then stops, and the model says so in its metrics.
    With `fold_models` (the same settings), a fold model of the same rows is reused (reused_fit).
    """
    booster = reused_fit(data, rows, recipe.trees, fold_models) if fold_models else None
    if booster is None:
        booster, _ = boost(data, rows, params, recipe.trees)
    w = recipe.blend_weight
    linear = linear_fit(data, rows, params) if w > 0 else None
    reference = training_reference(
        data, rows, booster, booster.num_trees(), params.random_state, linear, w
    )
    calibrator = QuantileCalibrator(reference, recipe.calibrator, recipe.calibration_method)
    s = data.shell
    bundle = ModelBundle(s.target, booster, calibrator, s.features, s.categories, s.spec)
    if linear is not None:
        bundle.linear, bundle.blend_weight = linear, w
    bundle.trained_through = f"{pd.Timestamp(data.as_of[rows].max()):%Y-%m-%d}"
    return bundle


def calibrated(bundle: ModelBundle, data: LabelledData, rows: np.ndarray) -> np.ndarray:
    """bundle.predict on rows of `data`, read from its LightGBM matrix (no pandas conversion)."""
    raw = bundle.score_matrix(data.matrix[rows])
    return np.clip(bundle.calibrator.predict(raw), 0.0, 1.0)


def tune_params(
    label: str,
    split: BacktestSplit,
    features: list[str],
    categorical: list[str],
    params: TrainingConfig,
    horizon_days: int = 90,
) -> tuple[TrainingConfig, pd.DataFrame]:
    """Optuna search of the tree shape and regularisation, judged by the mean AUC of the
    time-ordered folds inside `split.fit` (never one snapshot, never the test).

    The configured parameters are always the first trial: tuning can only keep or beat them.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = labelled_data(split.fit, label.removesuffix("_label"), features, categorical, {}, params)
    folds = time_folds(data, data.as_of.max(), horizon_days, params.backtest_folds)
    searched = {
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "min_child_samples": params.min_child_samples,
        "learning_rate": params.learning_rate,
        "feature_fraction": params.feature_fraction,
        "lambda_l2": params.lambda_l2,
        "path_smooth": params.path_smooth,
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
        recipe = choose_recipe(data, folds, candidate)
        trial.set_user_attr("trees", recipe.trees)
        return recipe.best_auc

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=params.random_state)
    )
    study.enqueue_trial({k: v for k, v in searched.items() if k != "max_depth" or v >= 2})
    study.optimize(objective, n_trials=params.optuna_trials, timeout=params.optuna_timeout_seconds)
    trials = study.trials_dataframe(attrs=("number", "value", "params", "user_attrs", "state"))
    return params.model_copy(update=study.best_params), trials


def baseline_metrics(
    label: str,
    split: BacktestSplit,
    features: list[str],
    categorical: list[str],
    capacity_k: int,
    random_state: int,
    max_fit_rows: int | None = None,
) -> dict[str, float]:
    """A regularised logistic regression on the same features and rows as the judged model
    (above `max_fit_rows`, the same weighted sample of them as a LightGBM fit: capped_fit_rows)."""
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
    model = make_pipeline(
        pre, LogisticRegression(C=LINEAR_C, max_iter=LINEAR_MAX_ITER, random_state=random_state)
    )

    def prepare(f: pd.DataFrame) -> pd.DataFrame:
        X = f[features].copy()
        for c in categorical:
            X[c] = X[c].astype("string").astype(object).fillna("missing")
        for c in numeric:
            X[c] = pd.to_numeric(X[c], errors="coerce").replace([np.inf, -np.inf], np.nan)
        return X

    y_fit = split.fit[label].astype(int)
    if y_fit.nunique() < 2:
        raise TargetNotTrainable(f"{label}: the fit period has only one outcome; cannot train")
    kept, weights = capped_fit_rows(
        y_fit.to_numpy(), split.fit.as_of.to_numpy(), max_fit_rows, random_state
    )
    model.fit(
        prepare(split.fit.iloc[kept]), y_fit.iloc[kept], logisticregression__sample_weight=weights
    )
    p = model.predict_proba(prepare(split.test))[:, 1]
    return classification_metrics(split.test[label].astype(int).to_numpy(), p, capacity_k)


def fold_metrics(data: LabelledData, recipe: Recipe, capacity_k: int) -> pd.DataFrame:
    """Each fold's calibrated out-of-fold metrics: the rolling backtest."""
    rows = []
    for as_of, part in recipe.oof.groupby("as_of", sort=True):
        p = np.clip(recipe.calibrator.predict(part["quantile"].to_numpy()), 0.0, 1.0)
        m = classification_metrics(part.label.to_numpy(), p, capacity_k)
        rows.append({"test_as_of": pd.Timestamp(as_of), **m, "trees": float(recipe.trees)})
    return pd.DataFrame(rows)


def _predictions(test: pd.DataFrame, y: np.ndarray, p: np.ndarray, cfg: ChurnmlConfig):
    predictions = test[["account_id", "as_of"]].assign(label=y, probability=p)
    for col in ("attr_segment", "contract_plan", "contract_arr"):
        if col in test.columns:
            predictions[col] = test[col].to_numpy()
    if "contract_arr" in predictions.columns:
        predictions["size_band"] = size_band(
            predictions["contract_arr"], cfg.training.size_bands_arr
        ).to_numpy()
    return predictions


class StepTimer:
    """Wall and CPU time per training step, for benchmarks/training.py (a no-op unless asked).

    CPU seconds (this process, every thread) show the work even when a loaded machine
    stretches the wall time."""

    def __init__(
        self, timings: dict[str, float] | None, cpu_timings: dict[str, float] | None = None
    ) -> None:
        self.timings = timings
        self.cpu_timings = cpu_timings
        self.last = time.perf_counter()
        self.last_cpu = time.process_time()

    def __call__(self, step: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        if self.timings is not None:
            self.timings[step] = self.timings.get(step, 0.0) + now - self.last
        if self.cpu_timings is not None:
            self.cpu_timings[step] = self.cpu_timings.get(step, 0.0) + cpu - self.last_cpu
        self.last, self.last_cpu = now, cpu


def _selected(
    frame: pd.DataFrame,
    label: str,
    features: list[str],
    categorical: list[str],
    cfg: ChurnmlConfig,
) -> tuple[list[str], list[str]]:
    """The informative features (and which of them are categorical) of the labelled rows."""
    chosen = informative_features(
        frame[frame[label].notna()], features, categorical, cfg.training.max_feature_correlation
    )
    return chosen, [c for c in categorical if c in chosen]


def _tree_counts(bundle: ModelBundle, judged: ModelBundle, recipe, judged_recipe) -> dict:
    """How many trees each recipe chose and each model holds, for the logged metrics."""
    return {
        "best_iteration": float(bundle.booster.num_trees()),
        "chosen_trees": float(recipe.trees),
        "judged_trees": float(judged.booster.num_trees()),
        "registered_trees": float(bundle.booster.num_trees()),
        "fold_auc": judged_recipe.best_auc,
        "blend_weight": recipe.blend_weight,
        "judged_blend_weight": judged_recipe.blend_weight,
    }


def _tuned(
    label: str,
    split: BacktestSplit,
    features: list[str],
    categorical: list[str],
    params: TrainingConfig,
    horizon: int,
) -> tuple[TrainingConfig, pd.DataFrame | None]:
    """The configured parameters, or the Optuna-tuned ones (then no other candidate is tried)."""
    if params.optuna_trials <= 0:
        return params, None
    tuned, trials = tune_params(label, split, features, categorical, params, horizon)
    return tuned.model_copy(update={"candidate_max_rows": 0}), trials


def _judged_and_registered_recipes(
    data: LabelledData, pool: np.ndarray, horizon: int, params: TrainingConfig, step
) -> tuple[CandidateChoice, CandidateChoice, ModelBundle]:
    """The judged recipe (folds inside `pool`), the registered recipe (folds up to the last
    labelled snapshot) and the judged model. The registered folds run first: the fold on the
    first test snapshot learnt from exactly the judged model's rows and, with the same
    parameter set, is reused as the judged model instead of a second fit."""
    weights, rule = params.linear_blend_weights, params.linear_blend_rule
    judged_choice = choose_candidate(
        data, choice_folds(data, data.as_of[pool].max(), horizon, params), params
    )
    judged_choice = choose_blend(data, judged_choice, weights, rule)
    judged_choice = reported_folds(data, judged_choice, params.backtest_folds)
    step("judged recipe: folds and calibration")
    choice = choose_candidate(data, choice_folds(data, data.as_of.max(), horizon, params), params)
    choice = choose_blend(data, choice, weights, rule)
    choice = reported_folds(data, choice, params.backtest_folds)
    step("registered recipe: folds and calibration")
    reusable = choice.recipe.fold_models if choice.name == judged_choice.name else None
    judged = fit_model(data, pool, judged_choice.recipe, judged_choice.params, reusable)
    step("judged model fit")
    return judged_choice, choice, judged


def train_target(
    frame: pd.DataFrame,
    target: str,
    spec: dict,
    cfg: ChurnmlConfig,
    timings: dict[str, float] | None = None,
    cpu_timings: dict[str, float] | None = None,
) -> TrainResult:
    """Choose the recipe over folds, judge it on the test, register its refit on all snapshots.

    `timings` and `cpu_timings`, when given, receive the wall and CPU seconds of each step.
    """
    step = StepTimer(timings, cpu_timings)
    label = f"{target}_label"
    check_outcomes(frame, label)
    horizon = cfg.labels.churn_horizon_days if target == "churn" else cfg.labels.upsell_horizon_days
    split = backtest_split(frame, label, horizon, cfg.training.validation_snapshots)
    refuse_one_outcome_fit(split.fit[label], label)
    all_features, all_categorical = model_features(frame)
    features, categorical = _selected(frame, label, all_features, all_categorical, cfg)
    params, trials = _tuned(label, split, features, categorical, cfg.training, horizon)
    step("split and tuning")
    data = labelled_data(frame, target, features, categorical, spec, params)
    params = large_data_params(params, len(data.y))
    step("design matrix and binned Dataset")
    pool = data.positions(split.fit.as_of.unique())
    judged_choice, choice, judged = _judged_and_registered_recipes(
        data, pool, horizon, params, step
    )
    judged_recipe, recipe = judged_choice.recipe, choice.recipe
    test = data.positions(split.test.as_of.unique())
    test_rows = data.rows.iloc[test]
    y_test = data.y[test]
    p_test = calibrated(judged, data, test)
    metrics = classification_metrics(y_test, p_test, cfg.outreach.capacity_top_k)
    step("test metrics")
    shuffled = shuffled_auc_of(
        data, pool, test, judged_recipe.trees, judged_choice.params, judged_recipe.blend_weight
    )
    step("shuffled-label check")
    bundle = fit_model(data, np.arange(len(data.y)), recipe, choice.params)
    step("refit on every labelled snapshot")
    metrics.update(_tree_counts(bundle, judged, recipe, judged_recipe))
    judged.metrics = bundle.metrics = metrics
    bundle.drift_reference = reference_profile(
        test_rows, features, categorical, calibrated(bundle, data, test), cfg.drift.bins
    )
    step("drift reference")
    split.calibration = data.rows.iloc[np.sort(judged_recipe.oof.position.to_numpy())]
    split.test = test_rows
    # the baseline stays on every feature: a yardstick that does not move with the selection
    base = baseline_metrics(
        label,
        split,
        all_features,
        all_categorical,
        cfg.outreach.capacity_top_k,
        cfg.training.random_state,
        cfg.training.max_fit_rows,
    )
    step("logistic baseline")
    return TrainResult(
        bundle,
        split,
        metrics,
        base,
        _predictions(test_rows, y_test, p_test, cfg),
        choice.params,
        trials,
        judged=judged,
        folds=fold_metrics(data, recipe, cfg.outreach.capacity_top_k),
        shuffled_auc=shuffled.auc,
        shuffled_auc_se=shuffled.se,
        shuffled_draws=shuffled.draws,
        candidates=candidate_table(judged_choice, choice),
        blend=blend_table(judged_choice, choice),
    )


def top_feature_share(bundle: ModelBundle) -> tuple[str, float]:
    """The feature with the largest share of total gain, and that share."""
    gain = bundle.booster.feature_importance("gain")
    total = float(gain.sum())
    if total <= 0:
        return "", 0.0
    i = int(np.argmax(gain))
    return bundle.features[i], float(gain[i] / total)


def single_feature_auc(split: BacktestSplit, feature: str, label: str) -> float:
    """How well one feature alone orders the test outcomes (ROC AUC, either direction).

    Numbers are ranked as they are (missing lowest); categories by their outcome rate in the
    fit snapshots, so the test is never used to order them. A copy of the outcome scores ~1.0;
    a strong but honest driver (seat utilisation for upsell) scores well below.
    """
    test = split.test
    if feature not in test.columns or test[label].nunique() < 2:
        return float("nan")
    values = test[feature]
    if is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
        order = pd.to_numeric(values, errors="coerce").astype(float).fillna(-np.inf)
    else:
        rates = split.fit.groupby(split.fit[feature].astype(str))[label].mean()
        prior = float(split.fit[label].mean())
        order = values.astype(str).map(rates).astype(float).fillna(prior)
    auc = roc_auc_score(test[label].astype(int), order.rank(method="average"))
    return float(max(auc, 1.0 - auc))


def within_snapshot_auc(as_of: np.ndarray, y: np.ndarray, score: np.ndarray) -> float:
    """Mean ROC AUC inside each snapshot: how well accounts are ordered at one as-of, blind to
    label rates that move from one snapshot to the next."""
    aucs = []
    for date in np.unique(as_of):
        mask = as_of == date
        if len(np.unique(y[mask])) == 2:
            aucs.append(roc_auc_score(y[mask], score[mask]))
    return float(np.mean(aucs)) if aucs else float("nan")


def shuffle_sample(as_of: np.ndarray, rows: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most `limit` of `rows`, the same share of every snapshot (all rows when fewer)."""
    if len(rows) <= limit:
        return rows
    rng = np.random.default_rng(seed)
    dates = as_of[rows]
    keep = []
    for date in np.unique(dates):
        members = rows[dates == date]
        take = max(1, int(round(limit * len(members) / len(rows))))
        keep.append(rng.choice(members, min(take, len(members)), replace=False))
    return np.sort(np.concatenate(keep))


def shuffled_auc_of(
    data: LabelledData,
    pool: np.ndarray,
    test: np.ndarray,
    trees: int,
    params: TrainingConfig,
    blend_weight: float = 0.0,
) -> ShuffledCheck:
    """The judged recipe refitted on shuffled labels, scored on the test: ~0.5 unless the
    pipeline lets test labels into the fit.

    No real label reaches these fits: the labels are permuted over the whole fit period, the
    number of trees is fixed (no early stopping on real labels, which picked the luckiest of 100
    noise models), and raw scores are used (no calibration on real labels). The AUC is taken
    within each test snapshot (snapshot-level rate shifts are not skill) and averaged over
    SHUFFLE_DRAWS permutations: one noise model's AUC strays by about 0.05 whatever the test
    size (the spread comes from which features the noise model happens to use, not from the
    test sample). On large data each fit learns from a per-snapshot sample of SHUFFLE_FIT_ROWS
    fit rows: a noise model needs no more, and the check's cost stops growing with the data.
    A blended recipe blends each noise model with a linear part fitted to the same labels.
    """
    rng = np.random.default_rng(params.random_state)
    rows = shuffle_sample(data.as_of, pool, SHUFFLE_FIT_ROWS, params.random_state)
    aucs = []
    for _ in range(SHUFFLE_DRAWS):
        labels = rng.permutation(data.y[rows])
        booster, _ = boost(data, rows, params, trees, labels=labels)
        linear = linear_fit(data, rows, params, labels) if blend_weight > 0 else None
        raw = blend_scores(booster, data.matrix[test], linear, blend_weight)
        aucs.append(within_snapshot_auc(data.as_of[test], data.y[test], raw))
    finite = np.asarray(aucs)[~np.isnan(aucs)]
    if not len(finite):
        return ShuffledCheck(float("nan"), float("nan"), SHUFFLE_DRAWS)
    se = float(finite.std(ddof=1) / np.sqrt(len(finite))) if len(finite) > 1 else float("nan")
    return ShuffledCheck(float(finite.mean()), se, SHUFFLE_DRAWS)


def shuffled_label_auc(result: TrainResult, cfg: ChurnmlConfig) -> float:
    """AUC on the test of the judged recipe fitted to shuffled labels: ~0.5 unless the test leaks.

    train_target already computed it on the Dataset it built; this recomputes only for a result
    made elsewhere.
    """
    if result.shuffled_auc is not None:
        return result.shuffled_auc
    target = result.bundle.target
    frame = pd.concat([result.split.fit, result.split.test])
    features, categorical = result.bundle.features, list(result.bundle.categories)
    params = result.params or cfg.training
    data = labelled_data(frame, target, features, categorical, result.bundle.spec, params)
    pool = data.positions(result.split.fit.as_of.unique())
    test = data.positions(result.split.test.as_of.unique())
    trees = result.judged.booster.num_trees() if result.judged else params.min_trees
    weight = result.judged.blend_weight if result.judged and result.judged.blended else 0.0
    return shuffled_auc_of(data, pool, test, trees, params, weight).auc


def rolling_backtest(
    frame: pd.DataFrame,
    target: str,
    spec: dict,
    cfg: ChurnmlConfig,
    params: TrainingConfig | None = None,
    result: TrainResult | None = None,
) -> pd.DataFrame:
    """The recipe's time-ordered folds over the last `backtest_folds` labelled snapshots.

    Each fold trains only on snapshots a horizon before its validation snapshot. With a
    `result` from train_target the folds it already fitted are returned, not refitted.
    """
    if result is not None and result.folds is not None:
        return result.folds
    label = f"{target}_label"
    horizon = cfg.labels.churn_horizon_days if target == "churn" else cfg.labels.upsell_horizon_days
    features, categorical = model_features(frame)
    try:
        check_outcomes(frame, label)
        data = labelled_data(frame, target, features, categorical, spec, params or cfg.training)
        folds = time_folds(data, data.as_of.max(), horizon, cfg.training.backtest_folds)
        params = params or cfg.training
        chosen = CandidateChoice("configured", params, choose_recipe(data, folds, params), {})
        recipe = choose_blend(
            data, chosen, params.linear_blend_weights, params.linear_blend_rule
        ).recipe
    except TrainingError:
        return pd.DataFrame()
    return fold_metrics(data, recipe, cfg.outreach.capacity_top_k)


def champion_comparison(
    result: TrainResult, champion: ModelBundle, capacity_k: int
) -> tuple[float, float, str]:
    """Challenger (judged model) and champion AUC on the test snapshots neither has seen.

    The champion was refitted on every snapshot labelled when it was trained, so only test
    snapshots after its `trained_through` are new to it. Returns NaNs when there are none.
    """
    test = result.split.test
    seen_until = pd.Timestamp(champion.trained_through) if champion.trained_through else None
    unseen = (
        (test.as_of > seen_until).to_numpy() if seen_until is not None else np.ones(len(test), bool)
    )
    if not unseen.any():
        return float("nan"), float("nan"), f"no test snapshot after {seen_until:%Y-%m-%d}"
    rows = test[unseen]
    preds = result.test_predictions[unseen]
    y = rows[f"{result.bundle.target}_label"].astype(int).to_numpy()
    challenger = classification_metrics(y, preds.probability.to_numpy(), capacity_k)["roc_auc"]
    incumbent = classification_metrics(y, champion.predict(rows), capacity_k)["roc_auc"]
    span = f"{rows.as_of.min():%Y-%m-%d}..{rows.as_of.max():%Y-%m-%d}"
    return challenger, incumbent, span
