"""Whether a target's labels can support a model at all, from the labels alone.

These are the checks training starts with (outcomes, labelled snapshots, the fit period before
the test); they need no feature and no model, so `churnml train` runs them on the labels before
any flow starts, and training runs them again on its matrix (docs/training.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


class TrainingError(RuntimeError):
    """Not enough labelled history to train and test honestly."""


class TargetNotTrainable(TrainingError):
    """This target's labels cannot support a model (too little history, one outcome only); the
    training flow skips it and trains the others."""


def check_outcomes(frame: pd.DataFrame, label: str) -> None:
    """One clear line when the labels cannot support any model."""
    if label not in frame.columns:
        raise TargetNotTrainable(f"{label}: the feature frame has no {label} column")
    y = frame[label].dropna()
    if y.empty:
        raise TargetNotTrainable(
            f"{label}: no labelled account-snapshot (every horizon is still open)"
        )
    if y.nunique() < 2:
        raise TargetNotTrainable(
            f"{label}: all {len(y)} labelled account-snapshots have the same outcome "
            f"({int(y.iloc[0])}); cannot train"
        )


def split_dates(
    labelled_dates: Sequence, label: str, horizon_days: int, test_snapshots: int
) -> tuple[list, list]:
    """(fit snapshots, test snapshots): the latest labelled snapshots test, the fit snapshots
    lie a horizon before them."""
    dates = sorted(labelled_dates)
    if len(dates) < test_snapshots + 2:
        raise TargetNotTrainable(
            f"{label}: {len(dates)} labelled snapshots; need at least {test_snapshots + 2} "
            "(two to learn from, then the test). Use more history or more frequent snapshots."
        )
    test_dates = dates[-test_snapshots:]
    cutoff = pd.Timestamp(test_dates[0]) - pd.Timedelta(days=horizon_days)
    pool = [d for d in dates if pd.Timestamp(d) <= cutoff]
    if len(pool) < 2:
        raise TargetNotTrainable(
            f"{label}: only {len(pool)} labelled snapshots lie a horizon ({horizon_days} days) before "
            f"the test period starting {pd.Timestamp(test_dates[0]):%Y-%m-%d}; need 2"
        )
    return pool, test_dates


def refuse_one_outcome_fit(fit_labels: pd.Series, label: str) -> None:
    if fit_labels.nunique() < 2:
        raise TargetNotTrainable(f"{label}: the fit period has only one outcome; cannot train")


def check_trainable(frame: pd.DataFrame, label: str, horizon_days: int, test_snapshots: int):
    """Raise TargetNotTrainable when the labels alone rule a model out: one outcome only, too
    few labelled snapshots, or a fit period a horizon before the test with one outcome."""
    check_outcomes(frame, label)
    labelled = frame[frame[label].notna()]
    pool, _ = split_dates(labelled.as_of.unique(), label, horizon_days, test_snapshots)
    refuse_one_outcome_fit(labelled.loc[labelled.as_of.isin(pool), label], label)


def nothing_trains(skipped: dict[str, str]) -> TrainingError:
    """The one line when no configured target can be trained, naming each reason."""
    return TrainingError(
        "no target could be trained; nothing was registered: "
        + "; ".join(f"{t}: {reason}" for t, reason in skipped.items())
    )


def untrainable_targets(
    labels: pd.DataFrame, targets: Sequence[str], horizons: dict[str, int], test_snapshots: int
) -> dict[str, str]:
    """Each target among `targets` its labels rule out, with the reason (as training says it)."""
    skipped = {}
    for target in targets:
        try:
            check_trainable(labels, f"{target}_label", horizons[target], test_snapshots)
        except TargetNotTrainable as exc:
            skipped[target] = str(exc)
    return skipped
