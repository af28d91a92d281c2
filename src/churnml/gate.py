"""The promotion gate: a challenger becomes champion only when it earns it.

Decisions are plain data (promote or not, and every reason), so the training flow can log them
and a test can check that a worse or leaky model is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from churnml.metrics import classification_metrics

if TYPE_CHECKING:
    from churnml.model import ModelBundle

NEAR_PERFECT_AUC = 0.98
DOMINANT_FEATURE_SHARE = 0.6
SHUFFLED_AUC_CEILING = 0.6


@dataclass
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    def as_text(self) -> str:
        verdict = "PROMOTE" if self.promote else "KEEP CHAMPION"
        return f"{verdict}: " + "; ".join(self.reasons)


@dataclass
class LeakageChecks:
    """What the gate's alarms look at, besides the challenger's own AUC."""

    shuffled_auc: float
    top_feature: str
    top_feature_share: float
    folds: pd.DataFrame  # rolling backtest: one row per test snapshot


@dataclass
class ChampionStanding:
    """The current champion against the challenger's test rows.

    ``version`` None: no champion is registered. ``missing_features`` non-empty: the champion
    needs features the new frame no longer has, so it was not scored (``auc`` None).
    """

    version: str | None = None
    auc: float | None = None
    missing_features: list[str] = field(default_factory=list)


def champion_standing(
    bundle: ModelBundle | None, version: str | None, test: pd.DataFrame, label: str, top_k: int
) -> ChampionStanding:
    """Score the champion on the challenger's test rows, when it can read them."""
    if bundle is None:
        return ChampionStanding()
    missing = [f for f in bundle.features if f not in test.columns]
    if missing:
        return ChampionStanding(version, None, missing)
    y = test[label].astype(int).to_numpy()
    auc = classification_metrics(y, bundle.predict(test), top_k)["roc_auc"]
    return ChampionStanding(version, auc)


def _missing_text(standing: ChampionStanding) -> str:
    shown = ", ".join(standing.missing_features[:3])
    more = len(standing.missing_features) - 3
    shown += f" and {more} more" if more > 0 else ""
    return (
        f"champion version {standing.version} not compared: its features {shown} are missing "
        "from this training data, so it could not score today's accounts either; the "
        "challenger is judged on the floor and the leakage alarms alone"
    )


def decide(
    challenger_auc: float,
    champion_auc: float | None,
    min_auc: float,
    top_feature_share: float,
    shuffled_auc: float | None,
    champion: ChampionStanding | None = None,
    *,
    challenger_vs_champion: float | None = None,
    compared_on: str = "",
) -> GateDecision:
    """Compare challenger and champion on the same backtest and run the leakage alarms.

    ``champion`` (optional) says why there is no champion AUC: none registered, or a champion
    whose features are gone from the new data (stated as such, never as "no current champion").
    ``challenger_vs_champion`` is the challenger's AUC on the rows the champion is compared on
    (the test snapshots neither has seen, ``compared_on``); a NaN ``champion_auc`` means there is
    no such row, and the champion is kept.
    """
    if math.isnan(challenger_auc):
        return GateDecision(False, ["challenger AUC is undefined (test period has one outcome)"])
    reasons = _alarms(challenger_auc, min_auc, top_feature_share, shuffled_auc)
    ok = not reasons
    head = challenger_auc if challenger_vs_champion is None else challenger_vs_champion
    beats, versus = _versus_champion(head, champion_auc, champion, compared_on)
    ok = ok and beats
    reasons.append(versus)
    if ok:
        reasons.insert(
            0, f"AUC {challenger_auc:.3f} clears the floor {min_auc:.3f} and the leakage alarms"
        )
    return GateDecision(ok, reasons)


def _alarms(
    challenger_auc: float, min_auc: float, top_feature_share: float, shuffled_auc: float | None
) -> list[str]:
    """Why the challenger fails on its own: below the floor, or a leakage alarm."""
    reasons = []
    if challenger_auc < min_auc:
        reasons.append(f"AUC {challenger_auc:.3f} is below the floor {min_auc:.3f}")
    if challenger_auc >= NEAR_PERFECT_AUC:
        reasons.append(
            f"leakage alarm: AUC {challenger_auc:.3f} is near-perfect (>= {NEAR_PERFECT_AUC})"
        )
    if top_feature_share >= DOMINANT_FEATURE_SHARE:
        reasons.append(
            f"leakage alarm: one feature carries {top_feature_share:.0%} of the total gain (>= {DOMINANT_FEATURE_SHARE:.0%})"
        )
    if shuffled_auc is not None and shuffled_auc > SHUFFLED_AUC_CEILING:
        reasons.append(
            f"leakage alarm: a model trained on shuffled labels scores AUC {shuffled_auc:.3f} (> {SHUFFLED_AUC_CEILING})"
        )
    return reasons


def _versus_champion(
    head: float,
    champion_auc: float | None,
    champion: ChampionStanding | None,
    compared_on: str,
) -> tuple[bool, str]:
    """Whether the challenger's AUC ``head`` lets it replace the champion, and why."""
    where = f"on {compared_on}, unseen by both" if compared_on else "on the same test"
    if champion is not None and champion.missing_features:
        return True, _missing_text(champion)
    if champion_auc is None:
        return True, "no current champion"
    if math.isnan(champion_auc) or math.isnan(head):
        return False, (
            f"the champion cannot be compared on a test snapshot it has not seen ({compared_on or 'none'})"
        )
    if champion_auc >= head:
        return False, f"champion AUC {champion_auc:.3f} >= challenger {head:.3f} {where}"
    return True, f"challenger AUC {head:.3f} beats champion {champion_auc:.3f} {where}"
