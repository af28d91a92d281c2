"""The promotion gate: a challenger becomes champion only when it earns it.

Decisions are plain data (promote or not, and every reason), so the training flow can log them
and a test can check that a worse or leaky model is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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


def decide(
    challenger_auc: float,
    champion_auc: float | None,
    min_auc: float,
    top_feature_share: float,
    shuffled_auc: float | None,
    *,
    challenger_vs_champion: float | None = None,
    compared_on: str = "",
) -> GateDecision:
    """Compare challenger and champion on the same backtest and run the leakage alarms.

    `challenger_vs_champion` is the challenger's AUC on the rows the champion is compared on
    (the test snapshots neither has seen, `compared_on`); a NaN `champion_auc` means there is no
    such row, and the champion is kept.
    """
    reasons: list[str] = []
    ok = True
    if math.isnan(challenger_auc):
        return GateDecision(False, ["challenger AUC is undefined (test period has one outcome)"])
    if challenger_auc < min_auc:
        ok = False
        reasons.append(f"AUC {challenger_auc:.3f} is below the floor {min_auc:.3f}")
    if challenger_auc >= NEAR_PERFECT_AUC:
        ok = False
        reasons.append(
            f"leakage alarm: AUC {challenger_auc:.3f} is near-perfect (>= {NEAR_PERFECT_AUC})"
        )
    if top_feature_share >= DOMINANT_FEATURE_SHARE:
        ok = False
        reasons.append(
            f"leakage alarm: one feature carries {top_feature_share:.0%} of the total gain (>= {DOMINANT_FEATURE_SHARE:.0%})"
        )
    if shuffled_auc is not None and shuffled_auc > SHUFFLED_AUC_CEILING:
        ok = False
        reasons.append(
            f"leakage alarm: a model trained on shuffled labels scores AUC {shuffled_auc:.3f} (> {SHUFFLED_AUC_CEILING})"
        )
    head = challenger_auc if challenger_vs_champion is None else challenger_vs_champion
    where = f"on {compared_on}, unseen by both" if compared_on else "on the same test"
    if champion_auc is None:
        reasons.append("no current champion")
    elif math.isnan(champion_auc) or math.isnan(head):
        ok = False
        reasons.append(
            f"the champion cannot be compared on a test snapshot it has not seen ({compared_on or 'none'})"
        )
    elif champion_auc >= head:
        ok = False
        reasons.append(f"champion AUC {champion_auc:.3f} >= challenger {head:.3f} {where}")
    else:
        reasons.append(f"challenger AUC {head:.3f} beats champion {champion_auc:.3f} {where}")
    if ok:
        reasons.insert(
            0, f"AUC {challenger_auc:.3f} clears the floor {min_auc:.3f} and the leakage alarms"
        )
    return GateDecision(ok, reasons)
