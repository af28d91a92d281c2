"""pandera schemas at the boundaries: the feature frame and the scored output."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from churnml.vocabulary import TIER_NAMES, TOUCH_MODELS

FEATURE_FRAME = pa.DataFrameSchema(
    {
        "account_id": pa.Column(str, nullable=False),
        "as_of": pa.Column("datetime64[us]", nullable=False, coerce=True),
        # usage and support columns exist only when their table is configured
        r"usage_events_\d+d": pa.Column(
            int, pa.Check.ge(0), regex=True, coerce=True, required=False
        ),
        r"usage_active_days_\d+d": pa.Column(
            int, pa.Check.ge(0), regex=True, coerce=True, required=False
        ),
        r"support_tickets_\d+d": pa.Column(
            int, pa.Check.ge(0), regex=True, coerce=True, required=False
        ),
        "support_open_tickets": pa.Column(int, pa.Check.ge(0), coerce=True, required=False),
        # contract columns exist only when subscriptions are configured
        "contract_mrr": pa.Column(
            float, pa.Check.ge(0), nullable=False, coerce=True, required=False
        ),
        "contract_tenure_days": pa.Column(
            float, pa.Check.ge(0), nullable=True, coerce=True, required=False
        ),
        "usage_days_since_last_activity": pa.Column(
            float, pa.Check.ge(0), coerce=True, required=False
        ),
        r"activity_(human_)?touches_\d+d": pa.Column(
            int, pa.Check.ge(0), regex=True, coerce=True, required=False
        ),
        "activity_days_since_human_touch": pa.Column(
            float, pa.Check.in_range(0, 365), coerce=True, required=False
        ),
    },
    checks=[
        pa.Check(
            lambda df: ~df.duplicated(["account_id", "as_of"]),
            error="one row per account and as-of",
        )
    ],
    strict=False,
    name="feature_frame",
)

LABELLED = pa.DataFrameSchema(
    {
        "churn_label": pa.Column("Int64", pa.Check.isin([0, 1]), nullable=True, coerce=True),
        "upsell_label": pa.Column("Int64", pa.Check.isin([0, 1]), nullable=True, coerce=True),
    },
    strict=False,
    name="labels",
)

# Probabilities, tiers and money of a target without a champion are empty (NULL).
SCORED_ACCOUNTS = pa.DataFrameSchema(
    {
        "account_id": pa.Column(str, nullable=False, unique=True),
        "account_name": pa.Column(str),
        "as_of": pa.Column("datetime64[us]"),
        "scored_at": pa.Column("datetime64[us]"),
        "p_churn": pa.Column(float, pa.Check.in_range(0, 1), nullable=True),
        "p_upsell": pa.Column(float, pa.Check.in_range(0, 1), nullable=True),
        "churn_tier": pa.Column(str, pa.Check.isin(list(TIER_NAMES)), nullable=True),
        "upsell_tier": pa.Column(str, pa.Check.isin(list(TIER_NAMES)), nullable=True),
        "health_score": pa.Column(int, pa.Check.in_range(0, 100)),
        "arr": pa.Column(float, pa.Check.ge(0), nullable=True),  # NULL: no MRR is mapped
        "arr_at_risk": pa.Column(float, pa.Check.ge(0), nullable=True),
        "expected_expansion_arr": pa.Column(float, pa.Check.ge(0), nullable=True),
        "touch_model": pa.Column(str, pa.Check.isin(list(TOUCH_MODELS))),
        "play_name": pa.Column(str),
        "recommended_play": pa.Column(str),
        "play_owner": pa.Column(str, pa.Check.str_length(min_value=1)),
        "play_due": pa.Column("datetime64[us]"),
        "drivers_json": pa.Column(str),
        "drivers_text": pa.Column(str),
    },
    strict=False,
    name="scored_accounts",
)


def validate_features(frame: pd.DataFrame, labelled: bool = False) -> pd.DataFrame:
    out = FEATURE_FRAME.validate(frame, lazy=True)
    return LABELLED.validate(out, lazy=True) if labelled else out


def validate_scored(frame: pd.DataFrame) -> pd.DataFrame:
    return SCORED_ACCOUNTS.validate(frame, lazy=True)


# The CS activity log as the plays measurement reads it (the mapped cs_activities table).
CS_ACTIVITIES = pa.DataFrameSchema(
    {
        "account_id": pa.Column(str, nullable=False),
        "occurred_at": pa.Column("datetime64[us]", nullable=False, coerce=True),
        "kind": pa.Column(str, nullable=False),
        "owner": pa.Column(str, nullable=True, required=False),
        "play": pa.Column(str, nullable=True, required=False),
    },
    strict=False,
    name="cs_activities",
)


def _rate() -> pa.Column:
    return pa.Column(float, pa.Check.in_range(0, 1), nullable=True, coerce=True, regex=True)


def _difference() -> pa.Column:
    return pa.Column(float, pa.Check.in_range(-1, 1), nullable=True, coerce=True, regex=True)


def _count(regex: bool = False) -> pa.Column:
    return pa.Column(int, pa.Check.ge(0), coerce=True, regex=regex)


# One row per play and evaluated as-of (churnml.plays.play_effects), as kept in play_effects.
PLAY_EFFECTS = pa.DataFrameSchema(
    {
        "play_name": pa.Column(str, nullable=False),
        "as_of": pa.Column("datetime64[us]", nullable=False, coerce=True),
        "recommended": _count(),
        "done": _count(),
        "matched_done": _count(),
        "matched_not_done": _count(),
        r"(churn|expansion)_rate_(done|comparable)": _rate(),
        r"(churn|expansion)_(difference|low|high)": _difference(),
        r"(churn|expansion)_events_(done|not_done)": _count(regex=True),
        "estimated": pa.Column(bool),
    },
    checks=[
        pa.Check(lambda df: df["done"] <= df["recommended"], error="done <= recommended"),
        pa.Check(lambda df: ~(df["churn_low"] > df["churn_high"]), error="interval low <= high"),
        pa.Check(
            lambda df: ~df.duplicated(["play_name", "as_of"]), error="one row per play and as-of"
        ),
    ],
    strict=False,
    name="play_effects",
)


def validate_activities(frame: pd.DataFrame) -> pd.DataFrame:
    return CS_ACTIVITIES.validate(frame, lazy=True)


def validate_play_effects(frame: pd.DataFrame) -> pd.DataFrame:
    return PLAY_EFFECTS.validate(frame, lazy=True)
