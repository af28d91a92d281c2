"""Label sanity: per-snapshot label rates, and the patterns a wrong mapping leaves in labels.

A mapping mistake rarely fails loudly: a reactivation gap shorter than the gaps between
monthly renewal rows turns every renewal into a churn, and the model then trains on the
wrong outcome. These checks compare the labels with what the subscription history shows and
stop training with the likely cause (docs/training.md, "Label sanity").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from churnml.config import LabelConfig
from churnml.validation import DataProblem, DataValidationError

MAX_CHURN_RATE = 0.5  # per horizon; no business loses half its customers in one horizon
MIN_LABELLED = 20  # labelled rows in a snapshot before its rate means anything
MIN_CHURNS = 10  # churns before shares of churns mean anything
QUICK_RETURN_DAYS = 7
RETURN_SHARE = 0.5
EXAMPLES = 3


class LabelSanityError(DataValidationError):
    """The labels look like a mapping mistake; nothing was trained or written."""


@dataclass
class LabelCheck:
    rates: pd.DataFrame  # one row per as-of: accounts, labelled rows and rates per target
    problems: list[DataProblem] = field(default_factory=list)

    @property
    def explanations(self) -> list[str]:
        return [str(p) for p in self.problems]


def label_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Per as-of: accounts, labelled rows, positives and rate of each target (NaN: no label)."""
    g = frame.groupby("as_of", sort=True)
    out = pd.DataFrame({"accounts": g.size()})
    for target in ("churn", "upsell"):
        labels = frame[f"{target}_label"].astype("Float64")
        by = labels.groupby(frame["as_of"])
        out[f"{target}_labelled"] = by.count().astype("int64")
        out[f"{target}_positives"] = by.sum().astype("int64")
        out[f"{target}_rate"] = (
            out[f"{target}_positives"] / out[f"{target}_labelled"].where(lambda n: n > 0)
        ).astype("float64")
    return out.reset_index()


def _returns(churns: pd.DataFrame, starts: pd.DataFrame) -> pd.DataFrame:
    """Per churn (account_id, as_of, churn_at): days until the account's next subscription start."""
    j = churns.merge(starts, on="account_id")
    j = j[j.start_at >= j.churn_at]
    first = j.groupby(["account_id", "as_of"], as_index=False).start_at.min()
    out = churns.merge(first, on=["account_id", "as_of"], how="left")
    return out.assign(back_after_days=(out.start_at - out.churn_at) / pd.Timedelta(days=1))


def _examples(rows: pd.DataFrame) -> list[dict]:
    return [
        {
            "account_id": str(r.account_id),
            "churn_at": str(r.churn_at),
            "next_start_at": str(r.start_at),
        }
        for r in rows.head(EXAMPLES).itertuples()
    ]


def _return_problems(
    churns: pd.DataFrame, starts: pd.DataFrame, labels: LabelConfig
) -> list[DataProblem]:
    """Churned accounts that come back: quickly (renewal rows with gaps) or at all."""
    if len(churns) < MIN_CHURNS:
        return []
    back = _returns(churns, starts)
    quick = back[back.back_after_days <= QUICK_RETURN_DAYS]
    later = back[back.back_after_days.notna()]
    n = len(back)
    if len(quick) >= RETURN_SHARE * n:
        return [
            DataProblem(
                "labels",
                "churn_label",
                f"{len(quick)} of {n} churns ({len(quick) / n:.0%}) have a new subscription row "
                f"starting within {QUICK_RETURN_DAYS} days of the churn date: renewals stored as "
                "contiguous rows with short gaps are being counted as churn. Raise "
                f"labels.reactivation_gap_days (now {labels.reactivation_gap_days}) above those "
                "gaps, e.g. 30",
                len(quick),
                _examples(quick),
            )
        ]
    if len(later) >= RETURN_SHARE * n:
        return [
            DataProblem(
                "labels",
                "churn_label",
                f"{len(later)} of {n} churns ({len(later) / n:.0%}) come back later with a new "
                "subscription row: the churn rate is far above the share of accounts that leave "
                f"for good ({(n - len(later))} of {n}). Check what sources.subscriptions maps to "
                "end_at (a period end, not a cancellation?), labels.reactivation_gap_days "
                f"(now {labels.reactivation_gap_days}) and labels.churn_source "
                f"(now {labels.churn_source})",
                len(later),
                _examples(later),
            )
        ]
    return []


def check_labels(
    frame: pd.DataFrame, subscription_starts: pd.DataFrame | None, labels: LabelConfig
) -> LabelCheck:
    """Label rates per as-of, and what looks like a mapping mistake, explained.

    ``frame`` is the labelled matrix (account_id, as_of, churn_label, churn_at, upsell_label);
    ``subscription_starts`` (account_id, start_at) tells which churned accounts came back.
    """
    rates = label_rates(frame)
    problems: list[DataProblem] = []
    high = rates[(rates.churn_labelled >= MIN_LABELLED) & (rates.churn_rate > MAX_CHURN_RATE)]
    if len(high):
        worst = high.sort_values("churn_rate", ascending=False)
        problems.append(
            DataProblem(
                "labels",
                "churn_label",
                f"churn rate above {MAX_CHURN_RATE:.0%} per {labels.churn_horizon_days}-day "
                f"horizon in {len(high)} snapshot(s): more customers leave than stay, which "
                "usually means the churn mapping is wrong (every subscription row end counted as "
                "a churn, a status or churn date mapped to the wrong column)",
                int(high.churn_positives.sum()),
                [
                    {"as_of": str(r.as_of.date()), "churn_rate": f"{r.churn_rate:.0%}"}
                    for r in worst.head(EXAMPLES).itertuples()
                ],
            )
        )
    if subscription_starts is not None:
        churns = frame.loc[frame.churn_label.astype("Float64") == 1, ["account_id", "as_of"]]
        churns = churns.assign(churn_at=frame.loc[churns.index, "churn_at"])
        problems += _return_problems(churns, subscription_starts, labels)
    return LabelCheck(rates, problems)


def rates_records(rates: pd.DataFrame) -> dict:
    """The per-snapshot rates as JSON-ready rows (an as-of without labels has no rate: null)."""
    rows = rates.assign(as_of=rates.as_of.dt.strftime("%Y-%m-%d")).astype(object)
    return {"snapshots": rows.where(rates.notna(), None).to_dict("records")}


def rates_text(rates: pd.DataFrame) -> str:
    """The per-snapshot rates as a small table for the training log."""
    lines = ["as_of       accounts  churn labelled/rate  upsell labelled/rate"]
    for r in rates.itertuples():
        churn = (
            f"{r.churn_labelled:>6} {r.churn_rate:6.1%}" if r.churn_labelled else "     -      -"
        )
        upsell = (
            f"{r.upsell_labelled:>6} {r.upsell_rate:6.1%}" if r.upsell_labelled else "     -      -"
        )
        lines.append(f"{r.as_of:%Y-%m-%d}  {r.accounts:>8}  {churn:>19}  {upsell:>20}")
    return "\n".join(lines)


def raise_for_implausible(check: LabelCheck) -> None:
    if check.problems:
        raise LabelSanityError(check.problems)
