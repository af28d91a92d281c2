import math

from churnml.gate import decide


def test_first_model_is_promoted_when_it_clears_the_floor():
    d = decide(0.78, None, 0.6, 0.2, 0.51)
    assert d.promote and "no current champion" in d.as_text()


def test_worse_challenger_is_refused():
    d = decide(0.74, 0.77, 0.6, 0.2, 0.5)
    assert not d.promote and "champion AUC 0.770" in d.as_text()


def test_better_challenger_is_promoted():
    assert decide(0.80, 0.77, 0.6, 0.2, 0.5).promote


def test_leakage_alarms_refuse_even_a_better_model():
    assert not decide(0.995, 0.77, 0.6, 0.2, 0.5).promote
    d = decide(0.85, 0.77, 0.6, 0.75, 0.5)
    assert not d.promote and "one feature carries 75%" in d.as_text()
    d = decide(0.85, 0.77, 0.6, 0.2, 0.71)
    assert not d.promote and "shuffled labels" in d.as_text()


def test_floor_and_undefined_auc():
    assert not decide(0.58, None, 0.6, 0.1, 0.5).promote
    assert not decide(math.nan, None, 0.6, 0.1, 0.5).promote


class _Champion:
    """Stands in for a ModelBundle: its feature list and a predict that reads one feature."""

    def __init__(self, features):
        self.features = features

    def predict(self, frame):
        return frame[self.features[0]].to_numpy(dtype=float)


def _test_rows():
    import pandas as pd

    return pd.DataFrame({"usage": [0.9, 0.8, 0.2, 0.1], "churn_label": [1, 1, 0, 0]})


def test_champion_is_scored_on_the_challengers_test_rows():
    from churnml.gate import champion_standing

    standing = champion_standing(_Champion(["usage"]), "3", _test_rows(), "churn_label", 2)
    assert standing.version == "3" and standing.auc == 1.0 and not standing.missing_features
    assert not decide(0.8, standing.auc, 0.6, 0.2, 0.5, standing).promote


def test_a_champion_whose_features_are_gone_is_a_stated_decision_not_no_champion():
    from churnml.gate import champion_standing

    champion = _Champion(["usage", "nps_score_last", "tickets_30d"])
    standing = champion_standing(champion, "4", _test_rows(), "churn_label", 2)
    assert standing.auc is None and standing.missing_features == ["nps_score_last", "tickets_30d"]
    d = decide(0.78, standing.auc, 0.6, 0.2, 0.5, standing)
    assert d.promote
    text = d.as_text()
    assert "no current champion" not in text
    assert "champion version 4 not compared" in text and "nps_score_last, tickets_30d" in text
    # the alarms still apply to such a challenger
    assert not decide(0.995, standing.auc, 0.6, 0.2, 0.5, standing).promote


def test_no_champion_registered_reads_as_such():
    from churnml.gate import champion_standing

    standing = champion_standing(None, None, _test_rows(), "churn_label", 2)
    assert standing.version is None and standing.auc is None
    assert "no current champion" in decide(0.78, None, 0.6, 0.2, 0.5, standing).as_text()


def test_champion_without_an_unseen_snapshot_is_kept():
    d = decide(0.80, math.nan, 0.6, 0.2, 0.5, challenger_vs_champion=math.nan, compared_on="")
    assert not d.promote and "cannot be compared" in d.as_text()


def test_comparison_uses_the_challenger_auc_on_the_same_unseen_rows():
    # overall 0.80, but on the snapshot the champion never saw the challenger scores 0.70
    d = decide(
        0.80, 0.75, 0.6, 0.2, 0.5, challenger_vs_champion=0.70, compared_on="2024-08-01..2024-08-01"
    )
    assert not d.promote
    assert "champion AUC 0.750 >= challenger 0.700 on 2024-08-01..2024-08-01" in d.as_text()


def test_a_dominant_feature_is_a_leak_only_when_it_alone_separates_the_outcomes():
    # never measured: the share alone stays an alarm
    assert not decide(0.85, None, 0.6, 0.75, 0.5).promote
    # a strong honest driver: stated, not refused
    d = decide(0.80, None, 0.6, 0.61, 0.5, top_feature="seat_utilisation", top_feature_auc=0.71)
    assert d.promote
    assert "seat_utilisation" in d.as_text() and "not a copy of the outcome" in d.as_text()
    # a copy of the outcome: refused
    d = decide(0.90, None, 0.6, 0.8, 0.5, top_feature="days_left", top_feature_auc=0.97)
    assert not d.promote and "alone orders the test outcomes with AUC 0.970" in d.as_text()


def test_single_feature_auc_ranks_numbers_and_categories_without_the_test():
    import numpy as np
    import pandas as pd

    from churnml.train import BacktestSplit, single_feature_auc

    rng = np.random.default_rng(0)
    n = 400
    label = rng.integers(0, 2, n)
    frame = pd.DataFrame(
        {
            "as_of": pd.Timestamp("2026-01-01"),
            "copy": label * 10.0,
            "noise": rng.random(n),
            "inverse": np.where(label == 1, rng.random(n), 1 + rng.random(n)),
            "plan": np.where(label == 1, "basic", "pro"),
            "churn_label": label,
        }
    )
    frame.loc[::7, "noise"] = np.nan
    split = BacktestSplit(frame.iloc[:200], frame.iloc[:0], frame.iloc[200:])
    assert single_feature_auc(split, "copy", "churn_label") == 1.0
    assert single_feature_auc(split, "inverse", "churn_label") == 1.0  # either direction
    assert single_feature_auc(split, "plan", "churn_label") == 1.0  # ordered by fit rates
    assert 0.5 <= single_feature_auc(split, "noise", "churn_label") < 0.6
    assert np.isnan(single_feature_auc(split, "absent", "churn_label"))


def test_a_refused_first_model_does_not_say_it_keeps_a_champion():
    """With none registered, a refused challenger is NOT PROMOTED; KEEP CHAMPION is for a
    champion that stays."""
    text = decide(0.5, None, 0.6, 0.0, 0.5).as_text()
    assert text == "NOT PROMOTED: AUC 0.500 is below the floor 0.600; no current champion"
    assert decide(math.nan, None, 0.6, 0.1, 0.5).as_text().startswith("NOT PROMOTED: ")
    assert decide(0.58, 0.77, 0.6, 0.1, 0.5).as_text().startswith("KEEP CHAMPION: ")
