"""What changed since the last run: each account's score move and the drivers that moved it.

Driver impacts are compared family by family (log-odds of the churn drivers of both runs), so
"risk up 12 points, mostly support experience" is read off the same explanations CSMs see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.explain import drivers_from_json

MIN_MOVE = 0.01  # log-odds: a family that moved less did not move the score
TOP_MOVES = 2


def _churn_drivers(frame: pd.DataFrame, drivers: pd.DataFrame | None) -> pd.DataFrame:
    """The churn drivers of a run: the long frame when given, else its stored JSON column."""
    if drivers is None:
        if "drivers_json" not in frame.columns:
            return pd.DataFrame(columns=["account_id", "family", "label", "impact"])
        drivers = drivers_from_json(frame["account_id"], frame["drivers_json"], "churn")
    churn = drivers[drivers["model"] == "churn"]
    return churn[["account_id", "family", "label", "impact"]]


def _moves(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per account and family: the change of impact (a family absent in a run counts 0) and the
    label, the current run's where it has one."""
    both = pd.concat([before.assign(after=False), after.assign(after=True)], ignore_index=True)
    both["signed"] = np.where(both["after"], 1.0, -1.0) * both["impact"].astype("float64")
    grouped = both.sort_values("after", kind="stable").groupby(["account_id", "family"])
    return pd.DataFrame({"move": grouped["signed"].sum(), "label": grouped["label"].last()})


def _summaries(change: pd.Series, ids: pd.Series, moves: pd.DataFrame, lang: str) -> list[str]:
    moves = moves.reset_index()
    moves["change"] = moves["account_id"].map(
        pd.Series(change.to_numpy(), index=ids.to_numpy()).groupby(level=0).last()
    )
    direction = np.sign(moves["change"]).replace(0.0, 1.0)
    moved = moves[moves["move"] * direction > MIN_MOVE].assign(size=lambda m: -m["move"].abs())
    top = moved.sort_values(["account_id", "size", "family"]).groupby("account_id").head(TOP_MOVES)
    sep = "、" if lang == "ja" else ", "
    tails = top.groupby("account_id", sort=False)["label"].agg(sep.join)
    out = []
    for account_id, delta in zip(ids, change, strict=True):
        if pd.isna(delta):
            out.append("新規スコア" if lang == "ja" else "first score")
            continue
        points = f"{delta * 100:+.0f}"
        tail = tails.get(account_id, "")
        if lang == "ja":
            head = f"解約リスク {points} pt"
            out.append(f"{head}（主な要因: {tail}）" if tail else head)
        else:
            head = f"churn risk {points} pts"
            out.append(f"{head}, mostly {tail}" if tail else head)
    return out


def score_changes(
    current: pd.DataFrame,
    previous: pd.DataFrame | None,
    lang: str = "en",
    drivers: pd.DataFrame | None = None,
    previous_drivers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per current account: previous as-of and p_churn, the change in points, and what moved it.

    ``drivers`` / ``previous_drivers`` are the runs' long driver frames; without them the
    frames' ``drivers_json`` columns are read (a run read back from a table).
    """
    out = pd.DataFrame(index=current.index)
    if previous is None or previous.empty:
        out["previous_as_of"] = pd.Series(pd.NaT, index=current.index, dtype="datetime64[us]")
        out["p_churn_previous"] = np.nan
        out["p_churn_change"] = np.nan
        out["change_summary"] = ""
        return out
    prev = previous.drop_duplicates("account_id", keep="last")
    by_id = prev.set_index("account_id")
    ids = current["account_id"]
    out["previous_as_of"] = ids.map(by_id["as_of"]).astype("datetime64[us]")
    out["p_churn_previous"] = ids.map(by_id["p_churn"]).astype("float64")
    out["p_churn_change"] = (current["p_churn"] - out["p_churn_previous"]).round(6)
    before = _churn_drivers(prev, previous_drivers)
    after = _churn_drivers(current, drivers)
    moves = _moves(before, after)
    out["change_summary"] = _summaries(out["p_churn_change"], ids.astype("str"), moves, lang)
    return out
