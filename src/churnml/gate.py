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
# A dominant feature is a leak only when it alone all but separates the outcomes; a strong honest
# driver (seat utilisation before seat expansions) carries most of the gain at ~0.7.
DOMINANT_FEATURE_ALONE_AUC = 0.9
SHUFFLED_AUC_CEILING = 0.6


@dataclass
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    champion: bool = True  # False: there is none to keep

    def as_text(self) -> str:
        kept = "KEEP CHAMPION" if self.champion else "NOT PROMOTED"
        verdict = "PROMOTE" if self.promote else kept
        return f"{verdict}: " + "; ".join(self.reasons)


@dataclass
class LeakageChecks:
    """What the gate's alarms look at, besides the challenger's own AUC."""

    shuffled_auc: float
    top_feature: str
    top_feature_share: float
    folds: pd.DataFrame  # rolling backtest: one row per test snapshot
    top_feature_auc: float | None = None  # that feature alone on the test snapshots


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


def _dominant_feature(reasons: list[str], name: str, share: float, alone_auc: float | None) -> bool:
    """Append what a dominant feature means; False when it looks like a copy of the outcome."""
    which = f" ({name})" if name else ""
    carries = f"one feature{which} carries {share:.0%} of the total gain (>= {DOMINANT_FEATURE_SHARE:.0%})"
    if alone_auc is None or math.isnan(alone_auc):
        reasons.append(f"leakage alarm: {carries}")
        return False
    if alone_auc >= DOMINANT_FEATURE_ALONE_AUC:
        reasons.append(
            f"leakage alarm: {carries} and alone orders the test outcomes with AUC "
            f"{alone_auc:.3f} (>= {DOMINANT_FEATURE_ALONE_AUC})"
        )
        return False
    reasons.append(
        f"note: {carries}, but alone it scores AUC {alone_auc:.3f} on the test "
        f"(< {DOMINANT_FEATURE_ALONE_AUC}): a strong driver, not a copy of the outcome"
    )
    return True


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
    top_feature: str = "",
    top_feature_auc: float | None = None,
) -> GateDecision:
    """Compare challenger and champion on the same backtest and run the leakage alarms.

    ``champion`` (optional) says why there is no champion AUC: none registered, or a champion
    whose features are gone from the new data (stated as such, never as "no current champion").
    ``challenger_vs_champion`` is the challenger's AUC on the rows the champion is compared on
    (the test snapshots neither has seen, ``compared_on``); a NaN ``champion_auc`` means there is
    no such row, and the champion is kept.
    ``top_feature_auc``: the dominant feature alone on the test; when measured, a dominant
    feature counts as a leak only at or above DOMINANT_FEATURE_ALONE_AUC (else it is stated).
    """
    has_champion = champion_auc is not None or (
        champion is not None and bool(champion.missing_features)
    )
    if math.isnan(challenger_auc):
        undefined = ["challenger AUC is undefined (test period has one outcome)"]
        return GateDecision(False, undefined, has_champion)
    reasons: list[str] = []
    ok = _challenger_checks(
        reasons,
        challenger_auc,
        min_auc,
        shuffled_auc,
        top_feature,
        top_feature_share,
        top_feature_auc,
    )
    head = challenger_auc if challenger_vs_champion is None else challenger_vs_champion
    beats, versus = _versus_champion(head, champion_auc, champion, compared_on)
    reasons.append(versus)
    ok = ok and beats
    if ok:
        reasons.insert(
            0, f"AUC {challenger_auc:.3f} clears the floor {min_auc:.3f} and the leakage alarms"
        )
    return GateDecision(ok, reasons, has_champion)


def _challenger_checks(
    reasons: list[str],
    challenger_auc: float,
    min_auc: float,
    shuffled_auc: float | None,
    top_feature: str,
    top_feature_share: float,
    top_feature_auc: float | None,
) -> bool:
    """The challenger on its own: the AUC floor and the leakage alarms, each appending why."""
    ok = True
    if challenger_auc < min_auc:
        ok = False
        reasons.append(f"AUC {challenger_auc:.3f} is below the floor {min_auc:.3f}")
    if challenger_auc >= NEAR_PERFECT_AUC:
        ok = False
        reasons.append(
            f"leakage alarm: AUC {challenger_auc:.3f} is near-perfect (>= {NEAR_PERFECT_AUC})"
        )
    if top_feature_share >= DOMINANT_FEATURE_SHARE:
        ok = _dominant_feature(reasons, top_feature, top_feature_share, top_feature_auc) and ok
    if shuffled_auc is not None and shuffled_auc > SHUFFLED_AUC_CEILING:
        ok = False
        reasons.append(
            f"leakage alarm: a model trained on shuffled labels scores AUC {shuffled_auc:.3f} (> {SHUFFLED_AUC_CEILING})"
        )
    return ok


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
