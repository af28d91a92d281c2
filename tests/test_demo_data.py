"""The demo generator: contract columns, determinism, consistent histories, real causes."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from churnml import demo_data
from churnml.contract import TABLES
from churnml.demo_data import demo_window, generate_accounts_and_contracts, generate_demo_data
from churnml.io.warehouse_writer import write_demo_warehouse

END = date(2026, 10, 31)
PLAN_RANK = {"starter": 0, "growth": 1, "business": 2, "enterprise": 3}
DTYPE_CHECKS = {
    "string": pd.api.types.is_string_dtype,
    "timestamp": pd.api.types.is_datetime64_dtype,
    "float64": pd.api.types.is_float_dtype,
    "int64": pd.api.types.is_integer_dtype,
    "boolean": pd.api.types.is_bool_dtype,
}


@pytest.fixture(scope="module")
def demo() -> dict[str, pd.DataFrame]:
    return generate_demo_data(800, 15, seed=11, end=END)


@pytest.fixture(scope="module")
def contracts() -> dict[str, pd.DataFrame]:
    """Demo-sized contract history (no usage) for rate checks."""
    return generate_accounts_and_contracts(2000, 18, seed=7, end=END)


def _periods(subscriptions: pd.DataFrame, gap_days: int = 30) -> pd.DataFrame:
    """Active periods as churnml.labels defines them: rows closer than the gap are merged."""
    s = subscriptions.sort_values(["account_id", "start_at"])
    far = pd.Timestamp("2200-01-01")
    end = s["end_at"].fillna(far)
    reach = end.groupby(s["account_id"]).cummax()
    previous = reach.groupby(s["account_id"]).shift()
    new = previous.isna() | (s["start_at"] >= previous + pd.Timedelta(days=gap_days))
    periods = (
        s.assign(period=new.cumsum(), end=end)
        .groupby("period")
        .agg(account_id=("account_id", "first"), start=("start_at", "min"), end=("end", "max"))
    )
    periods.loc[periods["end"] == far, "end"] = pd.NaT
    return periods


def _rates(subscriptions: pd.DataFrame, months: int, horizon_days: int) -> pd.DataFrame:
    """Share of active accounts at each month start that churn / expand within the horizon."""
    window_start, until = demo_window(months, END)
    periods = _periods(subscriptions)
    subs = subscriptions.assign(rank=subscriptions["plan"].map(PLAN_RANK))
    horizon = pd.Timedelta(days=horizon_days)
    out = []
    for as_of in pd.date_range(window_start, until, freq="MS")[1:]:
        if as_of + horizon + pd.Timedelta(days=30) > until:
            break
        live = periods[
            (periods["start"] < as_of) & (periods["end"].isna() | (periods["end"] >= as_of))
        ]
        churned = live["end"].notna() & (live["end"] <= as_of + horizon)
        before = as_of - pd.Timedelta(microseconds=1)
        base = subs[
            (subs["start_at"] <= before) & (subs["end_at"].isna() | (subs["end_at"] > before))
        ].set_index("account_id")[["mrr", "seats", "rank"]]
        later = subs[(subs["start_at"] >= as_of) & (subs["start_at"] < as_of + horizon)]
        later = later.join(base, on="account_id", rsuffix="_base")
        grew = (
            (later["seats"] > later["seats_base"])
            | (later["rank"] > later["rank_base"])
            | (later["mrr"] >= 1.1 * later["mrr_base"])
        )
        expanded = live["account_id"].isin(later.loc[grew, "account_id"])
        out.append({"as_of": as_of, "churn": churned.mean(), "expansion": expanded.mean()})
    return pd.DataFrame(out)


# The demo records churn as subscription ends and expansion as subscription changes, so the
# contract's other outcome sources (event tables, an account status) are not in it.
OTHER_OUTCOME_TABLES = {"churn_events", "expansion_events"}
# what the demo records elsewhere: outcomes in subscriptions, MRR per subscription; and what it
# does not have: free trials (every demo subscription is paid from its start)
OTHER_OUTCOME_COLUMNS = {
    ("accounts", "status"),
    ("accounts", "churned_at"),
    ("accounts", "mrr"),
    ("subscriptions", "trial_end_at"),
}
DEMO_TABLES = {n: t for n, t in TABLES.items() if n not in OTHER_OUTCOME_TABLES}


def test_every_contract_column_has_its_type(demo):
    for name, table in DEMO_TABLES.items():
        frame = demo[name]
        for column in table.columns:
            if (name, column.name) in OTHER_OUTCOME_COLUMNS:
                continue
            assert column.name in frame.columns, (name, column.name)
            assert DTYPE_CHECKS[column.dtype](frame[column.name]), (name, column.name)
    assert pd.api.types.is_integer_dtype(demo["accounts"]["employee_count"])
    assert demo["accounts"]["account_id"].is_unique
    assert demo["subscriptions"]["subscription_id"].is_unique
    assert demo["support_tickets"]["ticket_id"].is_unique
    assert demo["accounts"]["account_id"].iloc[0] == "acc_000001"
    assert demo["usage_events"]["user_id"].str.fullmatch(r"u_\d{6}_\d{2,}").all()


def test_same_seed_same_data_other_seed_other_data():
    first = generate_demo_data(120, 6, seed=5, end=END)
    again = generate_demo_data(120, 6, seed=5, end=END)
    for name in first:
        pd.testing.assert_frame_equal(first[name], again[name])
    other = generate_demo_data(120, 6, seed=6, end=END)
    assert not first["subscriptions"].equals(other["subscriptions"])


def test_accounts_look_like_a_crm(demo, contracts):
    accounts = contracts["accounts"]
    names = accounts["name"]
    assert names.str.contains("&", regex=False).any()
    assert names.str.contains("'", regex=False).any()
    assert names.str.contains("株式会社", regex=False).any()
    assert names.duplicated().mean() < 0.03
    owners = accounts["csm_owner"]
    assert 10 <= owners.nunique() <= 20  # ~8 per 1,000 accounts
    assert set(accounts.loc[owners.isna(), "segment"]) == {"SMB"}
    assert set(accounts["segment"]) == {"SMB", "Mid-Market", "Enterprise"}
    assert set(accounts["region"]) == {"NA", "EMEA", "APAC", "LATAM"}
    window_start, until = demo_window(18, END)
    created = accounts["created_at"]
    assert (created < window_start - pd.DateOffset(years=3)).any()
    assert (created >= window_start).mean() > 0.2
    assert created.max() < until
    last_plan = contracts["subscriptions"].groupby("account_id")["plan"].last()
    assert accounts.set_index("account_id")["plan"].equals(last_plan.loc[accounts["account_id"]])
    assert generate_accounts_and_contracts(50, 3, seed=1)["accounts"]["csm_owner"].nunique() >= 4


def test_subscription_rows_never_overlap_and_changes_are_contiguous(contracts):
    s = contracts["subscriptions"].sort_values(["account_id", "start_at"])
    assert (s["end_at"].isna() | (s["end_at"] > s["start_at"])).all()
    assert (s["mrr"] > 0).all() and (s["seats"] >= 1).all()
    assert set(s["billing_period"]) == {"monthly", "annual"}
    following = s.groupby("account_id")[["start_at", "plan", "seats", "mrr"]].shift(-1)
    has_next = following["start_at"].notna()
    assert not (has_next & s["end_at"].isna()).any(), "only the last row may be open"
    assert (following.loc[has_next, "start_at"] >= s.loc[has_next, "end_at"]).all()
    change = has_next & (following["start_at"] == s["end_at"])
    assert change.sum() > 200
    differs = (following["plan"] != s["plan"]) | (following["seats"] != s["seats"])
    assert differs[change].all(), "a change row must change the plan or the seats"
    assert ((following["mrr"] > s["mrr"]) & change).any()
    assert ((following["mrr"] < s["mrr"]) & change).any()
    # re-subscriptions: a gap after a cancellation, some within 30 days and some later
    gaps = (following["start_at"] - s["end_at"])[has_next & ~change]
    assert (gaps <= pd.Timedelta(days=30)).any() and (gaps > pd.Timedelta(days=30)).any()


def test_ticket_timestamps_and_status_are_consistent(demo):
    t = demo["support_tickets"]
    closed = t["closed_at"].notna()
    assert (t.loc[closed, "closed_at"] >= t.loc[closed, "opened_at"]).all()
    responded = t["first_response_at"].notna()
    assert (t.loc[responded, "first_response_at"] >= t.loc[responded, "opened_at"]).all()
    assert ((t["status"] == "closed") == closed).all()
    assert set(t["status"]) <= {"open", "pending", "closed"}
    assert set(t["category"]) == {
        "defect",
        "outage",
        "how_to",
        "billing",
        "feature_request",
        "onboarding",
    }
    assert set(t["priority"]) == {"low", "normal", "high", "urgent"}
    assert t["satisfaction"].dropna().between(1, 5).all()
    assert 0.3 <= t["satisfaction"].isna().mean() <= 0.5
    assert t["escalated"].any() and not t["escalated"].all()
    _, until = demo_window(15, END)
    assert (t["opened_at"] < until).all() and (t.loc[closed, "closed_at"] < until).all()


def test_nps_is_quarterly_and_partial(demo):
    nps = demo["nps_responses"]
    assert nps["score"].between(0, 10).all()
    assert set(nps["responded_at"].dt.month) <= {1, 2, 4, 5, 7, 8, 10, 11}
    per_wave = nps.groupby(nps["responded_at"].dt.to_period("Q"))["account_id"].nunique()
    assert (per_wave / len(demo["accounts"])).between(0.1, 0.6).all()


def test_usage_happens_only_while_subscribed(demo):
    events = demo["usage_events"].sort_values("occurred_at")
    subs = demo["subscriptions"].sort_values("start_at")
    located = pd.merge_asof(
        events, subs, left_on="occurred_at", right_on="start_at", by="account_id"
    )
    assert located["start_at"].notna().all()
    assert (located["end_at"].isna() | (located["occurred_at"] < located["end_at"])).all()
    window_start, until = demo_window(15, END)
    assert events["occurred_at"].min() >= window_start
    assert events["occurred_at"].max() < until
    assert set(events["event_type"]) == set(demo_data.EVENT_TYPES)
    weekday = events["occurred_at"].dt.dayofweek
    assert (weekday >= 5).mean() < 0.15  # weekends are quiet


def test_monthly_and_quarterly_rates_are_plausible(contracts):
    monthly = _rates(contracts["subscriptions"], 18, 30)
    quarterly = _rates(contracts["subscriptions"], 18, 90)
    assert 0.01 <= monthly["churn"].mean() <= 0.03
    assert 0.05 <= quarterly["churn"].mean() <= 0.10
    assert 0.08 <= quarterly["expansion"].mean() <= 0.15


def test_churners_and_expanders_have_the_documented_drivers(contracts):
    s = contracts["subscriptions"]
    truth = contracts["latent"].set_index("account_id")
    gone = s.groupby("account_id")["end_at"].apply(lambda e: e.notna().all())
    churned, stayed = truth.loc[gone[gone].index], truth.loc[gone[~gone].index]
    assert churned["product_fit"].mean() < stayed["product_fit"].mean() - 0.03
    assert churned["support_pain"].mean() > stayed["support_pain"].mean() + 0.03
    ordered = s.sort_values(["account_id", "start_at"])
    grew = ordered.groupby("account_id")["seats"].diff().gt(0).groupby(ordered["account_id"]).any()
    assert (
        truth.loc[grew[grew].index, "growth_momentum"].mean()
        > truth.loc[grew[~grew].index, "growth_momentum"].mean()
    )


def test_painful_accounts_raise_more_and_harsher_tickets(contracts):
    tickets = contracts["support_tickets"].join(
        contracts["latent"].set_index("account_id")["support_pain"], on="account_id"
    )
    painful = tickets["support_pain"] > tickets["support_pain"].median()
    severe = tickets["priority"].isin(["high", "urgent"])
    assert severe[painful].mean() > severe[~painful].mean()
    assert (
        tickets.loc[painful, "satisfaction"].mean() < tickets.loc[~painful, "satisfaction"].mean()
    )
    wait = tickets["first_response_at"] - tickets["opened_at"]
    assert wait[painful].median() > wait[~painful].median()


def test_usage_fades_before_cancellations(demo):
    events = demo["usage_events"]
    window_start, _ = demo_window(15, END)
    periods = _periods(demo["subscriptions"])
    observed = (periods["end"] >= window_start + pd.Timedelta(days=150)) & (
        periods["start"] <= periods["end"] - pd.Timedelta(days=150)
    )
    ends = periods.loc[observed, ["account_id", "end"]]
    assert len(ends) >= 30
    joined = events[["account_id", "occurred_at"]].merge(ends, on="account_id")
    days_before = (joined["end"] - joined["occurred_at"]).dt.days
    last_60 = days_before.between(0, 59).groupby(joined["account_id"]).sum() / 60
    earlier = days_before.between(90, 149).groupby(joined["account_id"]).sum() / 60
    ratio = (last_60 + 0.1) / (earlier + 0.1)
    assert ratio.median() < 0.8
    assert last_60.mean() < 0.8 * earlier.mean()


def test_onboarding_quality_drives_early_milestones(demo):
    events = demo["usage_events"]
    truth = demo["latent"].set_index("account_id")
    window_start, _ = demo_window(15, END)
    new = truth[truth["created_at"] >= window_start]
    first = (
        events[events["event_type"].isin(demo_data.MILESTONES)]
        .groupby(["account_id", "event_type"])["occurred_at"]
        .min()
        .reset_index()
        .join(truth["created_at"], on="account_id")
    )
    early = first[first["occurred_at"] - first["created_at"] <= pd.Timedelta(days=60)]
    reached = early.groupby("account_id").size().reindex(new.index, fill_value=0)
    good = new["onboarding_quality"] > new["onboarding_quality"].median()
    assert reached[good].mean() > reached[~good].mean() + 0.3


def test_events_scale_with_the_parameter():
    small = generate_demo_data(150, 4, seed=2, end=END, events_per_user_day=0.05)
    large = generate_demo_data(150, 4, seed=2, end=END, events_per_user_day=0.2)
    ratio = len(large["usage_events"]) / len(small["usage_events"])
    assert 3.0 < ratio < 5.0


def test_warehouse_has_every_table_and_matching_counts(tmp_path):
    path = tmp_path / "wh" / "demo.duckdb"
    counts = write_demo_warehouse(path, 150, 6, seed=3, end=END)
    expected = {*DEMO_TABLES, "demo_latent_truth", "demo_play_truth"}
    assert set(counts) == expected
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert names == expected
        for name, n in counts.items():
            assert con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] == n > 0
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'usage_events'"
            ).fetchall()
        )
        assert types["occurred_at"] == "TIMESTAMP" and types["account_id"] == "VARCHAR"
    finally:
        con.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["demo.duckdb"]


def test_failed_generation_leaves_no_warehouse_and_keeps_the_old_one(tmp_path, monkeypatch):
    def broken_usage(*args, **kwargs):
        yield from ()
        raise RuntimeError("generation failed half way")

    monkeypatch.setattr(demo_data, "iter_usage_event_batches", broken_usage)
    path = tmp_path / "demo.duckdb"
    with pytest.raises(RuntimeError, match="half way"):
        write_demo_warehouse(path, 60, 3, seed=1, end=END)
    assert list(tmp_path.iterdir()) == []

    path.write_bytes(b"previous warehouse")
    with pytest.raises(RuntimeError, match="half way"):
        write_demo_warehouse(path, 60, 3, seed=1, end=END)
    assert path.read_bytes() == b"previous warehouse"
    assert [p.name for p in tmp_path.iterdir()] == ["demo.duckdb"]


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError):
        generate_accounts_and_contracts(0, 12, seed=1)
    with pytest.raises(ValueError):
        generate_accounts_and_contracts(10, 0, seed=1)
    assert np.isfinite(demo_data.DEFAULT_EVENTS_PER_USER_DAY)
