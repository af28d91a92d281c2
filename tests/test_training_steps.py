"""The training flow's steps as plain functions: targets that stand alone."""

from __future__ import annotations

import pandas as pd
import pytest

from churnml.config import default_config
from churnml.train import TargetNotTrainable, TrainingError
from test_train import labelled_frame


def quick_config(**training):
    cfg = default_config()
    update = {"n_estimators": 60, "num_threads": 1, **training}
    return cfg.model_copy(update={"training": cfg.training.model_copy(update=update)})


def with_upsell(frame: pd.DataFrame, value: int) -> pd.DataFrame:
    """Upsell labels where churn labels are known, all of one outcome."""
    upsell = frame["churn_label"].where(frame["churn_label"].isna(), value)
    return frame.assign(upsell_label=upsell.astype("Int64"))


def test_an_untrainable_target_is_skipped_and_the_other_still_trains():
    from flows.training import train_each

    lines: list[str] = []
    results, skipped = train_each(
        with_upsell(labelled_frame(), 0), {}, quick_config(), lines.append
    )
    assert list(results) == ["churn"] and results["churn"].metrics["roc_auc"] > 0.6
    assert list(skipped) == ["upsell"] and "same outcome" in skipped["upsell"]
    assert len(lines) == 1 and lines[0].startswith("upsell skipped")


def test_a_target_left_out_of_the_config_is_neither_trained_nor_skipped():
    from flows.training import train_each

    results, skipped = train_each(
        with_upsell(labelled_frame(), 0), {}, quick_config(targets=["churn"]), print
    )
    assert list(results) == ["churn"] and skipped == {}


def test_no_trainable_target_fails_in_one_line_naming_each_reason():
    from flows.training import train_each

    frame = labelled_frame(n_accounts=60)
    frame["churn_label"] = frame["churn_label"].where(frame["churn_label"].isna(), 0)
    with pytest.raises(TrainingError) as caught:
        train_each(frame, {}, quick_config(), print)
    message = str(caught.value)
    assert not isinstance(caught.value, TargetNotTrainable)
    assert "\n" not in message and message.startswith("no target could be trained")
    assert "churn_label: all 480 labelled account-snapshots have the same outcome" in message
    assert "upsell_label: the data has no upsell labels" in message


def test_a_snapshot_with_one_outcome_no_longer_stops_training():
    """Calibration is cross-fitted over the folds: one snapshot without a churn (once a
    scikit-learn ValueError on the calibration snapshot) is just one of the folds' rows."""
    from flows.training import train_each

    from churnml.train import backtest_split

    frame = labelled_frame(n_accounts=120)
    calibration = backtest_split(frame, "churn_label", 90, 2).calibration.as_of.max()
    frame.loc[frame.as_of == calibration, "churn_label"] = 0
    results, skipped = train_each(frame, {}, quick_config(targets=["churn"]), print)
    assert list(results) == ["churn"] and skipped == {}


def test_few_positives_calibrate_towards_the_base_rate():
    """A small book with a handful of out-of-fold positives still trains: the calibration curve is
    shrunk towards the base rate instead of refusing the target."""
    from flows.training import train_each

    frame = labelled_frame(n_accounts=120)
    positives = frame.index[frame.churn_label == 1]
    first_per_snapshot = frame.loc[positives].groupby("as_of").head(1).index
    frame.loc[positives.difference(first_per_snapshot), "churn_label"] = 0
    results, skipped = train_each(frame, {}, quick_config(targets=["churn"]), print)
    assert list(results) == ["churn"] and skipped == {}
    bundle = results["churn"].bundle
    assert bundle.calibrator.method == "platt-shrunk"
    p = bundle.predict(frame)
    rate = frame.churn_label.mean()
    assert p.min() > 0 and p.max() < 0.5 and abs(p.mean() - rate) < 0.05
