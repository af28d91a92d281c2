"""pandera schemas at the boundaries: the feature frame and the scored output."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

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
        "churn_tier": pa.Column(str, pa.Check.isin(["low", "medium", "high"]), nullable=True),
        "upsell_tier": pa.Column(str, pa.Check.isin(["low", "medium", "high"]), nullable=True),
        "health_score": pa.Column(int, pa.Check.in_range(0, 100)),
        "arr": pa.Column(float, pa.Check.ge(0), nullable=True),  # NULL: no MRR is mapped
        "arr_at_risk": pa.Column(float, pa.Check.ge(0), nullable=True),
        "expected_expansion_arr": pa.Column(float, pa.Check.ge(0), nullable=True),
        "touch_model": pa.Column(str, pa.Check.isin(["high", "low", "tech"])),
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
