"""Exports shaped like real systems' (tests/foreign_layouts.py, EXPORT_LAYOUTS) through the CLI
as the README describes: check-data, train, score one horizon before the data end, explain an
account. Each layout is generated and run once per module; the tests read the results."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

import foreign_layouts as fl
from flow_training import flow_training
from test_foreign_layouts import OnFirstUse, evaluation_as_of, rebind_prefect_console

pytestmark = pytest.mark.slow


@dataclass
class ExportRun:
    name: str
    folder: Path
    scored_as_of: date
    results: dict = field(default_factory=dict)  # step -> click Result
    seconds: dict = field(default_factory=dict)

    def ok(self, step: str) -> str:
        result = self.results.get(step)
        if result is None:
            failed, last = list(self.results.items())[-1]
            pytest.fail(f"{self.name}: {step} did not run; {failed} failed:\n{last.output[-3000:]}")
        assert result.exit_code == 0, f"{self.name} {step}:\n{result.output}\n{result.exception!r}"
        assert "Traceback" not in result.output
        return result.output

    def scored(self) -> pd.DataFrame:
        con = duckdb.connect(str(self.folder / "churnml.duckdb"), read_only=True)
        try:
            return con.execute("SELECT * FROM scored_accounts").df()
        finally:
            con.close()


def run_export(name: str, folder: Path) -> ExportRun:
    """check-data, train, score and explain the generated layout through the CLI."""
    from typer.testing import CliRunner

    from churnml.cli import app

    config = yaml.safe_load((folder / "churnml.yaml").read_text(encoding="utf-8"))
    # as the flow tests train (tests/flow_training.py), with two folds to tell weeks apart
    config = {**config, "training": flow_training(200, 0.6, backtest_folds=2)}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run = ExportRun(name, folder, evaluation_as_of(config))
    as_of = str(run.scored_as_of)
    steps = [
        ("check-data", ["check-data", "-c", str(path)]),
        ("train", ["train", "-c", str(path)]),
        ("score", ["score", "-c", str(path), "--as-of", as_of]),
        ("explain", None),
    ]
    for step, args in steps:
        if args is None:  # the riskiest account of the scores just written
            account = run.scored().sort_values("p_churn", ascending=False).account_id.iloc[0]
            args = ["explain", account, "-c", str(path), "--as-of", as_of]
        started = time.perf_counter()
        result = CliRunner().invoke(app, args)
        rebind_prefect_console()
        run.seconds[step] = round(time.perf_counter() - started, 1)
        run.results[step] = result
        if result.exit_code != 0:
            break
    print(name, run.seconds)
    return run


# the billing platform smaller than its own size, so the module stays within a minute
TEST_ACCOUNTS = {
    "billing_platform": 70,
    "crm_weekly": 60,
    "degenerate": 25,
    "product_analytics": 70,
    "trial_billing": 70,
    "billing_fx": 100,  # at 70 no backtest fold holds a churn on both sides
}


# annual contracts churn too rarely at a test size for churn to train: its own test
# (test_hierarchy_layout.py) checks the mapping and the labels; benchmarks/layouts.py the CLI
NOT_RUN = {"crm_hierarchy"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    """Every layout written once, with its churnml.yaml."""

    def write(name: str) -> Path:
        folder = tmp_path_factory.mktemp(f"export-{name}")
        fl.write_config(
            folder, fl.EXPORT_LAYOUTS[name](folder, accounts=TEST_ACCOUNTS.get(name, 60))
        )
        return folder

    return OnFirstUse(write)


@pytest.fixture(scope="module")
def runs(prefect_backend, generated) -> dict[str, ExportRun]:
    return OnFirstUse(lambda name: run_export(name, generated[name]))


def test_billing_platform_writes_cents_unix_time_json_lines_and_helpdesk_numbers(generated):
    folder = generated["billing_platform"]
    subs = pd.read_csv(folder / "subscriptions.csv")
    assert set(subs.status) == {"active", "canceled", "past_due", "trialing"}
    assert set(subs["plan.interval"]) == {"month", "year"}
    assert pd.api.types.is_integer_dtype(subs["plan.amount"]) and subs["plan.amount"].min() >= 1800
    assert subs.start_date.between(1.6e9, 1.8e9).all()
    customers = pd.read_csv(folder / "customers.csv")
    assert customers.id.str.match(r"^cus_[A-Za-z0-9]{14}$").all()
    first = json.loads((folder / "tracks.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["timestamp"].endswith("+02:00") and first["groupId"].startswith("cus_")
    tickets = pd.read_csv(folder / "tickets.csv", keep_default_na=False)
    orgs = pd.read_csv(folder / "organizations.csv")
    assert set(tickets.organization_id) <= set(orgs.id)
    assert not set(tickets.organization_id) & set(customers.id)
    assert set(tickets.satisfaction_rating) == {"good", "bad", "offered", "unoffered"}


def test_crm_weekly_writes_european_formats_and_an_mrr_history(generated):
    folder = generated["crm_weekly"]
    accounts = pd.read_csv(folder / "Account.csv")
    assert len(accounts) == 60 and (accounts.Id.str.len() == 18).all()
    history = pd.read_csv(folder / "mrr_history.csv", sep=";", dtype=str)
    assert list(history.columns) == ["Account ID", "Month", "MRR (EUR)"]
    assert history.Month.str.match(r"^01/\d\d/20\d\d$").all()
    assert history["MRR (EUR)"].str.contains(",").all()
    assert history["MRR (EUR)"].str.contains(r"\.").any()  # thousands
    opportunities = pd.read_csv(folder / "opportunities.csv")
    assert {"New Business", "Existing Business", "Renewal"} == set(opportunities.Type)
    assert {"Closed Won", "Closed Lost"} == set(opportunities.StageName)


def test_degenerate_is_tiny_and_flat(generated):
    folder = generated["degenerate"]
    subs = pd.read_csv(folder / "subscriptions.csv")
    assert len(subs) == 25 and set(subs.plan) == {"standard"} and subs.account_id.is_unique
    assert set(pd.read_csv(folder / "events.csv").event_type) == {"login"}


@pytest.mark.parametrize(
    "name", ["billing_platform", "crm_weekly", "product_analytics", "trial_billing", "billing_fx"]
)
def test_export_runs_by_config_alone(runs, name):
    run = runs[name]
    for step in ("check-data", "train", "score", "explain"):
        run.ok(step)
    assert "all checks passed" in run.results["check-data"].output
    assert re.search(r"scored \d+ active accounts", run.results["score"].output)
    assert "skip" not in run.results["train"].output.lower()  # both targets train
    explained = run.results["explain"].output
    assert "churn risk" in explained and not re.search(r"\bnan\b", explained, re.I)


def test_billing_platform_money_is_in_units_per_month_not_cents(runs):
    """ARR is 12 x (cents / 100 x seats / months of the interval) of the live subscriptions."""
    run = runs["billing_platform"]
    run.ok("score")
    subs = pd.read_csv(run.folder / "subscriptions.csv")
    as_of = pd.Timestamp(run.scored_as_of).timestamp()
    # the contract just before the as-of (a change at the as-of shows from the next one)
    live = subs[(subs.start_date < as_of) & ~(subs.ended_at < as_of)]
    months = live["plan.interval"].map({"month": 1, "year": 12})
    mrr = (live["plan.amount"] / 100 * live.quantity / months).groupby(live.customer).sum()
    arr = run.scored().set_index("account_id").arr
    both = arr.index.intersection(mrr.index)  # not those leaving at the as-of, nor new ones
    assert len(both) > 0.9 * len(arr) > 40
    assert np.allclose(arr[both], 12 * mrr[both])


def test_expected_expansion_is_sized_by_the_expansions_the_history_shows(runs):
    """An account's expected expansion ARR takes the ARR growth of an expansion measured on the
    history, the forecast's own share, not the configured stand-in (20%): this layout's
    expansions add seats by 40-80% and sometimes a plan."""
    run = runs["billing_platform"]
    run.ok("score")
    con = duckdb.connect(str(run.folder / "churnml.duckdb"), read_only=True)
    try:
        forecast = con.execute("SELECT * FROM cs_forecast WHERE segment = 'all'").df()
    finally:
        con.close()
    (basis,), (share,) = forecast.expansion_basis, forecast.expansion_share
    assert basis == "history" and share > 0.4
    scored = run.scored()
    want = (scored.p_upsell * scored.arr * share).round(2)
    assert np.allclose(scored.expected_expansion_arr, want, atol=0.02)


def test_crm_weekly_trains_on_weekly_snapshots(runs):
    run = runs["crm_weekly"]
    train = run.ok("train")
    folds = re.search(r"rolling backtest ROC AUC: (.*)", train).group(1)
    days = re.findall(r"\d{4}-\d{2}-\d{2}", folds)
    assert len(days) >= 2 and len(set(days)) == len(days)  # told apart by day


def test_degenerate_skips_upsell_in_one_line_and_trains_or_refuses_churn(runs):
    run = runs["degenerate"]
    train = run.ok("train")
    lines = train.splitlines()
    at = lines.index("## upsell: skipped")
    assert "same outcome (0); cannot train" in lines[at + 1]
    assert "## churn: skipped" not in lines
    score = run.results["score"]
    assert "Traceback" not in score.output
    if score.exit_code == 0:
        assert re.search(r"scored \d+ active accounts", score.output)
        return
    (line,) = [line for line in score.output.splitlines() if line.strip()]
    assert "no churn champion" in line and "nothing was scored or written" in line


def test_product_analytics_keys_usage_by_user_only(generated):
    folder = generated["product_analytics"]
    events = pd.concat(pd.read_parquet(f) for f in sorted((folder / "events").glob("*.parquet")))
    assert list(events.columns[:3]) == ["event_time", "user_id", "event_type"]
    assert events.event_type.nunique() > 30
    users = pd.read_csv(folder / "users.csv")
    assert set(events.user_id) <= set(users.user_id)
    workspaces = pd.read_csv(folder / "workspaces.csv")
    tracked = set(users.set_index("user_id").loc[events.user_id.unique()].workspace_uuid)
    assert 0 < len(set(workspaces.workspace_uuid) - tracked) < len(workspaces) / 4
    changes = pd.read_csv(folder / "plan_changes.csv")
    assert "cancelled" in set(changes.new_plan) and "end" not in " ".join(changes.columns)


def test_product_analytics_scores_workspaces_without_events(runs):
    run = runs["product_analytics"]
    run.ok("score")
    scored = run.scored()
    users = pd.read_csv(run.folder / "users.csv")
    events = pd.concat(pd.read_parquet(f) for f in (run.folder / "events").glob("*.parquet"))
    tracked = set(users[users.user_id.isin(events.user_id)].workspace_uuid)
    untracked = scored[~scored.account_id.isin(tracked)]
    assert len(untracked) > 0
    assert untracked[["p_churn", "p_upsell"]].notna().all().all()


def _trials(folder: Path) -> pd.DataFrame:
    subs = pd.read_csv(folder / "subscriptions.csv")
    for col in ("start_date", "trial_end", "ended_at"):
        subs[col] = pd.to_datetime(subs[col]).dt.tz_localize(None)
    return subs


def test_trial_billing_writes_trials_priced_in_full(generated):
    subs = _trials(generated["trial_billing"])
    assert {"trialing", "active", "canceled"} <= set(subs.status)
    with_trial = subs[subs.trial_end.notna()]
    assert (with_trial.start_date < with_trial.trial_end).all()
    assert (with_trial["price.unit_amount"] > 0).all()  # the full price from the first day
    unconverted = with_trial.ended_at <= with_trial.trial_end
    assert 10 < unconverted.sum() < len(with_trial)
    cases = pd.read_csv(generated["trial_billing"] / "cases.csv")
    assert set(cases.Priority) == {"Niedrig", "Mittel", "Hoch", "Kritisch"}
    assert (cases.AccountId.str.len() == 18).all()


def test_trial_billing_scores_paying_customers_only(runs):
    """No trial is scored: neither one that never converted nor one running at the as-of; the
    ARR of the others is their price from the trial's end on."""
    run = runs["trial_billing"]
    run.ok("score")
    subs = _trials(run.folder)
    as_of = pd.Timestamp(run.scored_as_of)
    unconverted = set(subs[subs.ended_at <= subs.trial_end].customer)
    on_trial = set(subs[(subs.start_date <= as_of) & (subs.trial_end > as_of)].customer)
    scored = run.scored().set_index("account_id")
    assert unconverted and not unconverted & set(scored.index)
    assert not on_trial & set(scored.index)
    paid_from = subs.trial_end.fillna(subs.start_date)
    live = subs[(paid_from < as_of) & ~(subs.ended_at < as_of)]
    mrr = (live["price.unit_amount"] / 100 * live.quantity).groupby(live.customer).sum()
    both = scored.index.intersection(mrr.index)
    assert len(both) > 0.9 * len(scored) > 30
    assert np.allclose(scored.arr[both], 12 * mrr[both])


def test_tiny_same_day_with_a_horizon_longer_than_the_data_is_refused_in_one_line(
    prefect_backend, tmp_path
):
    """Twelve accounts signed up on one day: the data checks pass, and training says in one line
    that no outcome is known yet instead of training on nothing."""
    from typer.testing import CliRunner

    from churnml.cli import app

    config = fl.write_tiny_same_day(tmp_path)
    config["training"] = flow_training(50, 0.6)
    path = fl.write_config(tmp_path, config)
    checked = CliRunner().invoke(app, ["check-data", "-c", str(path)])
    rebind_prefect_console()
    assert checked.exit_code == 0 and "all checks passed" in checked.output
    trained = CliRunner().invoke(app, ["train", "-c", str(path)])
    rebind_prefect_console()
    assert trained.exit_code == 1 and "Traceback" not in trained.output
    (line,) = [line for line in trained.output.splitlines() if "no target could be trained" in line]
    assert "every horizon is still open" in line and "nothing was registered" in line


def _fx_truth(run: ExportRun) -> tuple[fl.FxDraws, int, np.ndarray]:
    """The generator's draws, the as-of's month index and the USD MRR per account-month."""
    draws = fl.billing_fx_draws(np.random.default_rng(fl.FX_SEED), TEST_ACCOUNTS["billing_fx"])
    m = list(fl.month_starts()).index(pd.Timestamp(run.scored_as_of))
    return draws, m, fl.fx_monthly_usd(draws.life, draws.currency)


def test_billing_fx_scores_in_one_currency_and_not_the_accounts_that_stopped_paying(runs):
    """ARR is the USD value of each account's seats at its own currency's price (not euros
    and pounds added to dollars), and an account whose subscription was left unpaid is gone
    from its failed invoice's due date on: not scored, as a cancelled one."""
    run = runs["billing_fx"]
    run.ok("score")
    (life, ids, _, currency, dunning), m, mrr = _fx_truth(run)
    active = (life.start <= m) & (life.last >= m)
    stopped_paying = ~active & life.churned & dunning & (life.start <= m)
    assert stopped_paying.sum() >= 1 and len(set(currency[active])) == 3
    scored = run.scored().set_index("account_id")
    assert set(scored.index) == set(ids[active])
    want = pd.Series(12 * mrr[:, m - 1], index=ids)[scored.index]
    paying = want > 0  # not those starting at the as-of (their contract shows from the next)
    assert paying.sum() > 0.9 * len(scored)
    assert np.allclose(scored.arr[paying], want[paying])
    assert np.allclose(scored.arr_at_risk, (scored.p_churn * scored.arr).round(2), atol=0.01)


def test_billing_fx_kpi_board_matches_the_hand_computed_retention(runs):
    """GRR, NRR and opening MRR of every complete month before the as-of, computed from the
    generator's seats, prices and rates (the MRR at t is the month before t's)."""
    run = runs["billing_fx"]
    run.ok("score")
    (life, *_), m, mrr = _fx_truth(run)
    con = duckdb.connect(str(run.folder / "churnml.duckdb"), read_only=True)
    try:
        board = con.execute("SELECT * FROM cs_kpis WHERE segment = 'all'").df()
    finally:
        con.close()
    board = board.assign(month=pd.to_datetime(board.month)).set_index("month")
    starts = fl.month_starts()
    checked = 0
    for k in range(1, m):
        if starts[k] not in board.index:
            continue
        row = board.loc[starts[k]]
        at_t = np.where((life.start < k) & (life.last >= k), mrr[:, k - 1], 0.0)
        at_next = np.where((life.start < k + 1) & (life.last >= k + 1), mrr[:, k], 0.0)
        paying = at_t > 0
        lost = np.where(paying, np.clip(at_t - at_next, 0, None), 0.0).sum()
        gained = np.where(paying & (at_next > 0), np.clip(at_next - at_t, 0, None), 0.0).sum()
        opening = at_t.sum()
        assert row.opening_mrr == pytest.approx(opening)
        assert row.grr == pytest.approx((opening - lost) / opening)
        assert row.nrr == pytest.approx((opening - lost + gained) / opening)
        checked += 1
    assert checked >= 6
