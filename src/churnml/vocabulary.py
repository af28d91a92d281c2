"""The words every stage shares, defined once: tiers, touch models, driver families, money.

Tiers and touch models are what a CSM sees on each account (CONTEXT.md); driver families group
features by the source table they come from. Money is whole currency units with thousands
separators wherever an amount is shown (report, CLI), or short (12k, 1.5M) in band labels.
"""

from __future__ import annotations

TIER_NAMES = ("low", "medium", "high")  # by rising churn risk or upsell readiness
TIERS_HIGH_FIRST = ("high", "medium", "low")  # the order tables list them in
FLAGGED_TIERS = ("high", "medium")  # the tiers a CSM is asked to act on
TOUCH_MODELS = ("high", "low", "tech")
DRIVER_FAMILIES = ("usage", "support", "contract", "nps", "account", "activity")


def money(amount: float | None) -> str:
    """``12,345``: whole units with thousands separators; empty when the amount is missing."""
    import pandas as pd  # here, so the config (which reads this module) loads without pandas

    return "" if amount is None or pd.isna(amount) else f"{float(amount):,.0f}"


def money_short(amount: float) -> str:
    """``12k``, ``1.5M``: an amount in a band label."""
    return f"{amount / 1000:g}k" if amount < 1_000_000 else f"{amount / 1_000_000:g}M"
