"""The CS leader's KPI board: logo and revenue movements, retention, ARPA, LTV, onboarding, NPS.

One row per complete calendar month and segment (plus the segment ``all``), wide: one column
per KPI (docs/kpis.md has every definition). The month is named by its first instant ``t``;
its movements are what happens between ``t`` and the next month's first instant.

The rules are the ones the models learn from, reused rather than rewritten: an account is
active while inside an active period (subscription rows merged across gaps shorter than
``labels.reactivation_gap_days``, labels.active_periods), churns are period ends (or the
lasting recorded churns when ``labels.churn_source`` says so), and an account's MRR at an
instant is the contract features' reading "just before" it (features.live_rows_before).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from churnml.config import ChurnmlConfig
from churnml.contract import TABLES, account_created_at
from churnml.features import live_rows_before, spelling_key
from churnml.io.frames import to_pandas
from churnml.labels import active_periods, lasting_churns, outcome_churns
from churnml.matrix import observed_until
from churnml.snapshots import active_accounts, as_of_table, snapshot_grid

ALL_SEGMENTS = "all"
NO_SEGMENT = "unassigned"
PROMOTER_MIN, DETRACTOR_MAX = 9, 6
TRAILING_MONTHS = 12

BOARD_COLUMNS = [
    "month",
    "segment",
    "settled",
    "active_accounts",
    "new_accounts",
    "reactivated_accounts",
    "churned_accounts",
    "logo_churn_rate",
    "opening_mrr",
    "new_mrr",
    "reactivation_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "closing_mrr",
    "grr",
    "nrr",
    "grr_12m",
    "nrr_12m",
    "arpa",
    "revenue_churn_rate_12m",
    "ltv",
    "onboarding_accounts",
    "onboarding_completed",
    "onboarding_completion_rate",
    "nps_responses",
    "nps",
]
COUNT_COLUMNS = [
    "active_accounts",
    "new_accounts",
    "reactivated_accounts",
    "churned_accounts",
    "onboarding_accounts",
    "onboarding_completed",
    "nps_responses",
]
MRR_COLUMNS = [
    "opening_mrr",
    "new_mrr",
    "reactivation_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "closing_mrr",
]


def _as_ibis(table: ir.Table | pd.DataFrame, name: str) -> ir.Table:
    """A mapped table as ibis: flows pass warehouse tables, callers and tests pandas frames
    (cast to the contract's types, so an all-empty column still has its type)."""
    if not isinstance(table, pd.DataFrame):
        return table
    contract = TABLES.get(name)
    if contract is None:
        return ibis.memtable(table)
    missing = [c.name for c in contract.columns if c.required and c.name not in table.columns]
    if missing:
        raise ValueError(
            f"table {name} lacks the contract column(s) {missing} (docs/data-contract.md); "
            f"it has {list(table.columns)}"
        )
    t = ibis.memtable(table)
    casts = {c.name: c.dtype for c in contract.columns if c.name in t.columns}
    return t.cast(casts)


def segment_names(segment: pd.Series) -> pd.Series:
    """Board segments: accounts without one are ``unassigned``; a segment really called "all"
    is told apart from the board's total."""
    named = segment.astype("object").where(segment.notna() & (segment.astype("str") != ""))
    named = named.fillna(NO_SEGMENT).astype("str")
    return named.where(named != ALL_SEGMENTS, f"{ALL_SEGMENTS} (segment)")


def _column(table: ir.Table, name: str, dtype: str) -> ir.Value:
    return table[name] if name in table.columns else ibis.null(dtype)


def month_grid(
    tables: dict[str, ir.Table], months: int, as_of: date | None = None
) -> tuple[list[date], datetime]:
    """The first instants of the board's months plus the one after the last, and the data end.

    Only complete months are shown: the last one ends by the day after the latest data
    (matrix.observed_until; the default scoring as-of) and by ``as_of`` when given, and none
    starts before the earliest record of a customer.
    """
    data_end = observed_until(tables)
    after = data_end.date() + timedelta(days=1)
    if as_of is not None:
        after = min(after, as_of)
    last = date(after.year, after.month, 1)
    grid = snapshot_grid(last, months + 1, "monthly")
    starts = tables["subscriptions"].start_at if "subscriptions" in tables else None
    if starts is None and "created_at" in tables["accounts"].columns:
        starts = tables["accounts"].created_at
    first = starts.min().to_pyarrow().as_py() if starts is not None else None
    if first is not None:
        grid = [d for d in grid if d >= date(first.year, first.month, 1)]
    return grid, data_end


def _stamps(values) -> np.ndarray:
    return pd.to_datetime(pd.Series(values)).astype("datetime64[us]").to_numpy()


def _month_of(instants: pd.Series, grid: np.ndarray, closed_right: bool) -> np.ndarray:
    """Index k of the month holding each instant: ``[t_k, t_k+1)``, or ``(t_k, t_k+1]`` for an
    end (an account gone at ``t_k+1`` has left during month k); -1 outside the grid."""
    values = _stamps(instants)
    side = "left" if closed_right else "right"
    k = np.searchsorted(grid, values, side=side) - 1
    inside = (k >= 0) & (k < len(grid) - 1) & ~np.isnat(values)
    return np.where(inside, k, -1)


def _flags(account_index: np.ndarray, month: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    keep = month >= 0
    out[account_index[keep], month[keep]] = True
    return out


@dataclass
class _AccountGrid:
    """Account x month arrays, one row per account of ``ids``: ``active`` and ``level`` (MRR)
    at each of the grid's k + 1 instants, and the logo events ``new`` (first start), ``back``
    (a later start) and ``churned`` in each of its k months."""

    ids: pd.Index
    active: np.ndarray
    level: np.ndarray
    new: np.ndarray
    back: np.ndarray
    churned: np.ndarray

    def on_board(self) -> _AccountGrid:
        """Without the accounts that have nothing on the board (gone before its first month,
        or not yet customers): they would only add rows of zeros."""
        seen = self.active.any(axis=1) | self.new.any(axis=1)
        seen |= self.back.any(axis=1) | self.churned.any(axis=1)
        return _AccountGrid(
            self.ids[seen],
            self.active[seen],
            self.level[seen],
            self.new[seen],
            self.back[seen],
            self.churned[seen],
        )


def _spans(t: dict[str, ir.Table], gap: int) -> ir.Table:
    """Customer spans (account_id, start_at, end_at): the active periods, or without
    subscriptions each account from its creation on (logo KPIs only with recorded churns)."""
    if "subscriptions" in t:
        periods = active_periods(t["subscriptions"], gap)
        return periods.select("account_id", start_at=periods.period_start, end_at="period_end")
    accounts = t["accounts"]
    created = _column(accounts, "created_at", "timestamp")
    spans = accounts.select("account_id", start_at=created, end_at=ibis.null("timestamp"))
    return spans.filter(spans.start_at.notnull())


def _boundary_states(
    spans: ir.Table,
    lasting: ir.Table | None,
    subs: ir.Table | None,
    grid_dates: list[date],
    gap: int,
) -> pd.DataFrame:
    """The accounts active at each grid instant (as_of) with their MRR then (NULL without
    subscriptions)."""
    spine = active_accounts(spans, as_of_table(grid_dates), lasting)
    if subs is None:
        return to_pandas(spine.mutate(mrr=ibis.null("float64")))
    live = live_rows_before(subs, spine, "as_of", gap)
    mrr = live.group_by(["account_id", "as_of"]).aggregate(mrr=live.mrr.sum().cast("float64"))
    return to_pandas(spine.left_join(mrr, ["account_id", "as_of"]).select(spine, mrr.mrr))


def _churn_rows(lasting: ir.Table | None, span_rows: pd.DataFrame) -> pd.DataFrame:
    """account_id, churned_at: the lasting recorded churns, else the spans' ends."""
    if lasting is not None:
        return to_pandas(lasting.select("account_id", "churned_at"))
    ended = span_rows["end_at"].notna()
    return span_rows.loc[ended, ["account_id"]].assign(churned_at=span_rows["end_at"])


def _account_grid(
    ids: pd.Index,
    grid: np.ndarray,
    state: pd.DataFrame,
    span_rows: pd.DataFrame,
    churn_rows: pd.DataFrame,
) -> _AccountGrid:
    """The state at each grid instant and the logo events of each month, as matrices; a churn
    counts only for an account active at the month's start."""
    n, k = len(ids), len(grid) - 1
    boundary = pd.Index(grid).get_indexer(_stamps(state["as_of"]))
    row = ids.get_indexer(state["account_id"])
    active = np.zeros((n, k + 1), dtype=bool)
    active[row, boundary] = True
    level = np.zeros((n, k + 1))
    level[row, boundary] = state["mrr"].fillna(0.0).to_numpy(dtype="float64")

    span_rows = span_rows.sort_values(["account_id", "start_at"], kind="stable")
    first = (~span_rows["account_id"].duplicated()).to_numpy()
    start_month = _month_of(span_rows["start_at"], grid, closed_right=False)
    span_row = ids.get_indexer(span_rows["account_id"])
    new = _flags(span_row[first], start_month[first], (n, k))
    back = _flags(span_row[~first], start_month[~first], (n, k))
    churn_month = _month_of(churn_rows["churned_at"], grid, closed_right=True)
    churned = _flags(ids.get_indexer(churn_rows["account_id"]), churn_month, (n, k))
    churned &= active[:, :-1]
    return _AccountGrid(ids, active, level, new, back, churned)


def _mrr_movements(g: _AccountGrid) -> dict[str, np.ndarray]:
    """Each month's MRR movement per account, from its MRR at the month's start and end
    (account_months has the rules)."""
    b, e = g.level[:, :-1], g.level[:, 1:]
    starts_paying = (b == 0) & (e > 0)
    return {
        "new_mrr": np.where(starts_paying & g.new, e, 0.0),
        "reactivation_mrr": np.where(starts_paying & g.back & ~g.new, e, 0.0),
        "expansion_mrr": np.where(starts_paying & ~g.new & ~g.back, e, 0.0)
        + np.where((b > 0) & (e > b), e - b, 0.0),
        "contraction_mrr": np.where((e > 0) & (e < b), b - e, 0.0),
        "churned_mrr": np.where((b > 0) & (e == 0), b, 0.0),
    }


def _trailing_levels(level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per account and month, the trailing 12 months' window: MRR at its first instant and at
    its end (NULL until the board has 12 months behind the month)."""
    n, k = level.shape[0], level.shape[1] - 1
    start12 = np.full((n, k), np.nan)
    end12 = np.full((n, k), np.nan)
    if k >= TRAILING_MONTHS:
        start12[:, TRAILING_MONTHS - 1 :] = level[:, : k - TRAILING_MONTHS + 1]
        end12[:, TRAILING_MONTHS - 1 :] = level[:, TRAILING_MONTHS:]
    return start12, end12


def _months_frame(
    g: _AccountGrid, segments: pd.Series, grid: np.ndarray, has_mrr: bool
) -> pd.DataFrame:
    """The matrices as one row per account and month (account-major); the MRR columns and
    reactivations are NULL without subscriptions."""
    n, k = len(g.ids), len(grid) - 1
    b, e = g.level[:, :-1], g.level[:, 1:]
    start12, end12 = _trailing_levels(g.level)

    def mrr(values: np.ndarray) -> np.ndarray | float:
        return values.ravel() if has_mrr else np.nan

    return pd.DataFrame(
        {
            "account_id": np.repeat(g.ids.to_numpy(), k),
            "segment": np.repeat(g.ids.map(segments).astype("object").to_numpy(), k),
            "month": np.tile(grid[:-1], n),
            "active": g.active[:, :-1].ravel(),
            "new": g.new.ravel(),
            "reactivated": mrr(g.back & ~g.new),
            "churned": g.churned.ravel(),
            "opening_mrr": mrr(b),
            "closing_mrr": mrr(e),
            **{name: mrr(v) for name, v in _mrr_movements(g).items()},
            "paying": (b > 0).ravel(),
            "start_mrr_12m": mrr(start12),
            "end_mrr_12m": mrr(end12),
        }
    )


def account_months(tables: dict, cfg: ChurnmlConfig, as_of: date | None = None) -> pd.DataFrame:
    """One row per account and board month: active at the month's start, logo events, MRR at
    the month's start and at the next month's start, and the MRR movement between them.

    MRR movements (``b``: MRR at the month's first instant, ``e``: at the next one; an account
    that is not active has 0): ``b = 0 < e`` is new MRR for a new account, reactivation MRR for
    a returning one, else expansion (a free account starting to pay); ``0 < b``, ``e = 0`` is
    churned MRR; ``0 < b < e`` expansion; ``0 < e < b`` contraction. So opening MRR + new +
    reactivation + expansion - contraction - churned = closing MRR, exactly.
    Without subscriptions every MRR column is NULL; logo events then come from the accounts'
    creation dates and the recorded churns (no reactivations), or are NULL too.
    """
    t = {name: _as_ibis(table, name) for name, table in tables.items()}
    grid_dates, data_end = month_grid(t, cfg.kpis.months, as_of)
    accounts = t["accounts"]
    segment = _column(accounts, "segment", "string").cast("string")
    meta = to_pandas(accounts.select("account_id", segment=segment)).drop_duplicates("account_id")
    if len(grid_dates) < 2:
        return _empty_months()
    grid = _stamps(grid_dates)
    gap = cfg.labels.reactivation_gap_days
    subs = t.get("subscriptions")
    lasting = None
    if cfg.labels.churn_source != "subscriptions":
        lasting = lasting_churns(outcome_churns(t, cfg.labels), subs, gap)

    spans = _spans(t, gap)
    state = _boundary_states(spans, lasting, subs, grid_dates, gap)
    span_rows = to_pandas(spans)
    churn_rows = _churn_rows(lasting, span_rows)
    ids = pd.Index(
        pd.concat([meta["account_id"], state["account_id"], span_rows["account_id"]])
        .dropna()
        .unique()
    )
    g = _account_grid(ids, grid, state, span_rows, churn_rows).on_board()
    frame = _months_frame(g, meta.set_index("account_id")["segment"], grid, subs is not None)
    if subs is None and lasting is None:
        frame[["active", "new", "churned"]] = np.nan
    frame["segment"] = segment_names(frame["segment"])
    frame["month"] = frame["month"].astype("datetime64[us]")
    settled = pd.Series(grid[1:] + np.timedelta64(gap, "D") <= np.datetime64(data_end, "us"))
    frame["settled"] = np.tile(settled.to_numpy(), len(g.ids))
    return frame


def _empty_board() -> pd.DataFrame:
    """No complete month yet: the board's columns with their types (a warehouse table created
    from it takes later boards)."""
    kinds = {"month": "datetime64[us]", "segment": "str", "settled": "bool"}
    kinds |= {c: "Int64" for c in COUNT_COLUMNS}
    return pd.DataFrame({c: pd.Series(dtype=kinds.get(c, "float64")) for c in BOARD_COLUMNS})


def _empty_months() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["account_id", "segment", "month", "active", "new", "churned", "settled"]
    )


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num, den = num.astype("float64"), den.astype("float64")
    return (num / den).where(den > 0)


def _total(values: pd.Series) -> float:
    """A sum that stays NULL when every value is NULL (a KPI the tables cannot give)."""
    return values.astype("float64").sum(min_count=1)


def _with_all(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame.assign(segment=ALL_SEGMENTS), frame], ignore_index=True)


def _movements_board(moves: pd.DataFrame) -> pd.DataFrame:
    """Sums per month and segment, then the rates defined on them."""
    m = _with_all(moves)
    m["start_kept_12m"] = np.minimum(m["start_mrr_12m"], m["end_mrr_12m"]).where(
        m["start_mrr_12m"] > 0, 0.0
    )
    m["end_kept_12m"] = m["end_mrr_12m"].where(m["start_mrr_12m"] > 0, 0.0)
    m["start_12m"] = m["start_mrr_12m"].where(m["start_mrr_12m"] > 0, 0.0)
    sums = {
        "active_accounts": ("active", _total),
        "new_accounts": ("new", _total),
        "reactivated_accounts": ("reactivated", _total),
        "churned_accounts": ("churned", _total),
        "paying_accounts": ("paying", "sum"),
        "settled": ("settled", "all"),
        **{c: (c, _total) for c in MRR_COLUMNS},
        **{c: (c, _total) for c in ("start_12m", "start_kept_12m", "end_kept_12m")},
    }
    board = m.groupby(["month", "segment"], sort=True).agg(**sums).reset_index()
    board["logo_churn_rate"] = _ratio(board["churned_accounts"], board["active_accounts"])
    lost = board["contraction_mrr"] + board["churned_mrr"]
    board["grr"] = _ratio(board["opening_mrr"] - lost, board["opening_mrr"])
    kept_expanded = board["opening_mrr"] - lost + _cohort_expansion(m)
    board["nrr"] = _ratio(kept_expanded, board["opening_mrr"])
    board["grr_12m"] = _ratio(board["start_kept_12m"], board["start_12m"])
    board["nrr_12m"] = _ratio(board["end_kept_12m"], board["start_12m"])
    board["arpa"] = _ratio(board["opening_mrr"], board["paying_accounts"])
    by_segment = board.groupby("segment", sort=False)
    lost_12m = by_segment[["contraction_mrr", "churned_mrr"]].transform(
        lambda s: s.rolling(TRAILING_MONTHS, min_periods=1).sum()
    )
    opening_12m = by_segment["opening_mrr"].transform(
        lambda s: s.rolling(TRAILING_MONTHS, min_periods=1).sum()
    )
    board["revenue_churn_rate_12m"] = _ratio(lost_12m.sum(axis=1, min_count=1), opening_12m)
    board["ltv"] = _ratio(board["arpa"], board["revenue_churn_rate_12m"])
    return board.drop(columns=["paying_accounts", "start_12m", "start_kept_12m", "end_kept_12m"])


def _cohort_expansion(m: pd.DataFrame) -> pd.Series:
    """Expansion of accounts already paying at the month's start: NRR leaves out accounts that
    start paying during the month (they had no opening revenue to retain)."""
    grown = m["expansion_mrr"].where(m["opening_mrr"] > 0, 0.0)
    return grown.groupby([m["month"], m["segment"]], sort=True).sum(min_count=1).to_numpy()


def onboarding_complete_months(grid: np.ndarray, days: int, data_end: datetime) -> np.ndarray:
    """Per board month: whether the onboarding window of its last starter is over (a month
    whose later starters are still onboarding would show only its early, luckier ones)."""
    return grid[1:] + np.timedelta64(days, "D") <= np.datetime64(data_end, "us")


def onboarding_completion(
    tables: dict, cfg: ChurnmlConfig, grid_dates: list[date], data_end: datetime
) -> pd.DataFrame:
    """Per start month and segment: accounts that started in the month (accounts.created_at,
    else the first subscription start) and how many reached every milestone
    (features.onboarding_events) within kpis.onboarding_days of their start. Only months whose
    every starter's window is over (``onboarding_complete_months``). Empty without milestones
    or usage events."""
    milestones = list(cfg.features.onboarding_events)
    if not milestones or "usage_events" not in tables or len(grid_dates) < 2:
        return pd.DataFrame(columns=["month", "segment", "onboarding_accounts"])
    t = {name: _as_ibis(table, name) for name, table in tables.items()}
    accounts = t["accounts"]
    if "subscriptions" in t:
        started = account_created_at(accounts, t["subscriptions"])
    else:
        started = accounts.select(
            "account_id", created_at=_column(accounts, "created_at", "timestamp")
        )
    hits = _milestone_events(t["usage_events"], milestones)
    j = started.inner_join(hits, "account_id")
    window = ibis.interval(days=cfg.kpis.onboarding_days)
    j = j.filter(j.occurred_at < j.created_at + window)
    reached = j.group_by("account_id").aggregate(milestones=j.milestone.nunique())
    out = started.left_join(reached, "account_id").select(started, reached.milestones)
    segment = _column(accounts, "segment", "string").cast("string")
    seg = accounts.select(seg_account="account_id", segment=segment)
    out = out.left_join(seg, out.account_id == seg.seg_account).select(out, seg.segment)
    frame = to_pandas(out)
    grid = _stamps(grid_dates)
    frame["k"] = _month_of(frame["created_at"], grid, closed_right=False)
    over = onboarding_complete_months(grid, cfg.kpis.onboarding_days, data_end)
    frame = frame[(frame["k"] >= 0)].copy()
    frame = frame[over[frame["k"].to_numpy()]].copy()
    frame["month"] = grid[frame["k"].to_numpy()]
    frame["completed"] = frame["milestones"].fillna(0) >= len({spelling_key(m) for m in milestones})
    frame["segment"] = segment_names(frame["segment"])
    board = (
        _with_all(frame)
        .groupby(["month", "segment"])
        .agg(onboarding_accounts=("completed", "size"), onboarding_completed=("completed", "sum"))
        .reset_index()
    )
    board["onboarding_completion_rate"] = _ratio(
        board["onboarding_completed"], board["onboarding_accounts"]
    )
    return board


def _milestone_events(usage: ir.Table, milestones: list[str]) -> ir.Table:
    """The usage events that reach an onboarding milestone, with the milestone's number; an
    event type counts for a milestone written alike (`Report Shared` for `report_shared`), as
    the onboarding features count it."""
    kinds = usage.select(event_type=usage.event_type.cast("string")).distinct()
    seen = [v for v in kinds.to_pyarrow().column("event_type").to_pylist() if v is not None]
    number = {
        spelling_key(m): k for k, m in enumerate(dict.fromkeys(spelling_key(m) for m in milestones))
    }
    spellings = {v: number[spelling_key(v)] for v in seen if spelling_key(v) in number}
    hits = usage.filter(usage.event_type.isin(list(spellings) or [""]))
    milestone = (
        ibis.cases(*[(hits.event_type == v, k) for v, k in spellings.items()], else_=-1)
        if spellings
        else ibis.literal(-1)
    )
    return hits.mutate(milestone=milestone)


def net_promoter(tables: dict, grid_dates: list[date]) -> pd.DataFrame:
    """Per month and segment: NPS answers given during the month and the net promoter score,
    100 x (promoters (9-10) - detractors (0-6)) / answers. Empty when NPS is not mapped."""
    if "nps_responses" not in tables or len(grid_dates) < 2:
        return pd.DataFrame(columns=["month", "segment", "nps_responses"])
    nps = _as_ibis(tables["nps_responses"], "nps_responses")
    accounts = _as_ibis(tables["accounts"], "accounts")
    segment = _column(accounts, "segment", "string").cast("string")
    seg = accounts.select(seg_account="account_id", segment=segment)
    j = nps.left_join(seg, nps.account_id == seg.seg_account).select(
        nps.responded_at, nps.score, seg.segment
    )
    frame = to_pandas(j)
    grid = _stamps(grid_dates)
    frame["k"] = _month_of(frame["responded_at"], grid, closed_right=False)
    frame = frame[(frame["k"] >= 0) & frame["score"].notna()].copy()
    frame["month"] = grid[frame["k"].to_numpy()]
    frame["segment"] = segment_names(frame["segment"])
    frame["net"] = (frame["score"] >= PROMOTER_MIN).astype(int) - (
        frame["score"] <= DETRACTOR_MAX
    ).astype(int)
    board = (
        _with_all(frame)
        .groupby(["month", "segment"])
        .agg(nps_responses=("net", "size"), net=("net", "sum"))
        .reset_index()
    )
    board["nps"] = 100.0 * _ratio(board["net"], board["nps_responses"])
    return board.drop(columns="net")


def kpi_board(tables: dict, config: ChurnmlConfig, as_of: date | None = None) -> pd.DataFrame:
    """The KPI board, wide: one row per complete month and segment (and ``all``), one column
    per KPI (BOARD_COLUMNS; docs/kpis.md). ``tables`` are the mapped tables as the flows hold
    them (ibis) or pandas frames with the contract's columns. A KPI whose inputs are not
    mapped is NULL (unavailable_kpis says why). With ``as_of`` (a past scoring run) the board
    ends with the last month complete by then, as the data knows those months today."""
    return board_and_months(tables, config, as_of)[0]


def board_and_months(
    tables: dict, config: ChurnmlConfig, as_of: date | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """kpi_board and the account_months it sums (the forecast reads expansions off them)."""
    t = {name: _as_ibis(table, name) for name, table in tables.items()}
    moves = account_months(t, config, as_of)
    if moves.empty:
        return _empty_board(), moves
    grid_dates, data_end = month_grid(t, config.kpis.months, as_of)
    board = _movements_board(moves)
    for extra in (
        onboarding_completion(t, config, grid_dates, data_end),
        net_promoter(t, grid_dates),
    ):
        if not extra.empty:
            extra["month"] = extra["month"].astype("datetime64[us]")
            board = board.merge(extra, on=["month", "segment"], how="left")
    for column in BOARD_COLUMNS:
        if column not in board.columns:
            board[column] = np.nan
    unavailable = unavailable_kpis(t, config)
    if "onboarding" not in unavailable:  # a month nobody started in: 0 accounts, rate NULL
        counts = ["onboarding_accounts", "onboarding_completed"]
        over = onboarding_complete_months(
            _stamps(grid_dates), config.kpis.onboarding_days, data_end
        )
        done = board["month"].isin(_stamps(grid_dates)[:-1][over])
        board[counts] = board[counts].fillna(0).where(done)
    if "nps" not in unavailable:
        board["nps_responses"] = board["nps_responses"].fillna(0)
    board = board[BOARD_COLUMNS].sort_values(["segment", "month"], kind="stable")
    for column in COUNT_COLUMNS:
        board[column] = board[column].astype("Int64")
    return board.reset_index(drop=True), moves


def unavailable_kpis(tables: dict, config: ChurnmlConfig) -> dict[str, str]:
    """KPI groups the board cannot fill from these tables, with the reason in plain words."""
    out: dict[str, str] = {}
    if "subscriptions" not in tables:
        out["mrr"] = (
            "MRR, retention, ARPA and LTV need sources.subscriptions, which is not configured"
        )
        if config.labels.churn_source == "subscriptions":
            out["accounts"] = (
                "account counts need sources.subscriptions or a recorded churn source "
                "(labels.churn_source: churn_events or account_status)"
            )
    if not config.features.onboarding_events:
        out["onboarding"] = "no onboarding milestones in features.onboarding_events"
    elif "usage_events" not in tables:
        out["onboarding"] = "onboarding needs sources.usage_events, which is not configured"
    if "nps_responses" not in tables:
        out["nps"] = "NPS needs sources.nps_responses, which is not configured"
    return out


__all__ = [
    "BOARD_COLUMNS",
    "account_months",
    "board_and_months",
    "kpi_board",
    "month_grid",
    "net_promoter",
    "onboarding_completion",
    "segment_names",
    "unavailable_kpis",
]
