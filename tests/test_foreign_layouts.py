"""Foreign layouts: churnml runs on exports it was not written for, by config alone.

The generators (tests/foreign_layouts.py) are checked first on their own files: the intended
shapes, keys and rates, and that every column a config names exists. Then each layout goes
through the CLI as the README describes: check-data, train, score one horizon before the data
end, evaluate that as-of.
"""

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

pytestmark = pytest.mark.slow

SIGNAL_LAYOUTS = [
    "telemetry_export",
    "erp_addons",
    "product_led",
    "churn_only",
    "upsell_only",
    "status_only",
]


# --- the generated files ------------------------------------------------------------------------
GENERATED: dict[str, tuple[Path, dict, float]] = {}


def generate(name: str, tmp_path_factory) -> tuple[Path, dict, float]:
    """One layout written once per session: folder, config dict and CPU seconds to generate it.

    The file checks read it and the end-to-end run works in the same folder (it only adds the
    warehouse, MLflow store and reports beside the generated files).
    """
    if name not in GENERATED:
        folder = tmp_path_factory.mktemp(f"gen-{name}")
        started = time.process_time()  # CPU time: other jobs on the machine do not count
        config = fl.LAYOUTS[name](folder)
        GENERATED[name] = (folder, config, time.process_time() - started)
        fl.write_config(folder, config)
    return GENERATED[name]


class OnFirstUse(dict):
    """name -> make(name), made on first use: a worker given only some layouts' tests
    (tests/worker_schedule.py) writes and runs only those layouts."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, name: str):
        self[name] = self.make(name)
        return self[name]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, tuple[Path, dict, float]]:
    """Every layout written once: folder, config dict and CPU seconds to generate it."""
    return OnFirstUse(lambda name: generate(name, tmp_path_factory))


def read_source(folder: Path, source: dict) -> pd.DataFrame:
    if source["kind"] == "duckdb":
        con = duckdb.connect(str(folder / source["database"]), read_only=True)
        try:
            return con.execute(f"SELECT * FROM {source['table']}").df()
        finally:
            con.close()
    path = folder / source["path"]
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def truth(folder: Path) -> dict:
    return json.loads((folder / "truth.json").read_text(encoding="utf-8"))


def named_columns(mapping: dict) -> set[str]:
    """Every source column a table mapping names: renames, derivations and the account key."""
    names = set(mapping.get("columns", {}).values())
    for rule in mapping.get("derive", {}).values():
        names.update(rule.get("concat", []))
        if "from" in rule:
            names.add(rule["from"])
    if "account_key" in mapping:
        names.add(mapping["account_key"]["column"])
    return names


@pytest.mark.parametrize("name", list(fl.LAYOUTS))
def test_layout_is_small_fast_and_its_config_names_only_existing_columns(generated, name):
    folder, config, seconds = generated[name]
    assert seconds < 2.0
    parsed = yaml.safe_load((folder / "churnml.yaml").read_text(encoding="utf-8"))
    assert parsed == config
    assert parsed["mlflow"]["experiment"] == f"layout-{name.replace('_', '-')}"
    assert parsed["mlflow"]["tracking_uri"] == "sqlite:///mlruns/mlflow.db"
    assert parsed["output"]["sinks"] == [{"kind": "duckdb", "table": "scored_accounts"}]
    for table, mapping in parsed["sources"].items():
        frame = read_source(folder, mapping["source"])
        assert len(frame) > 0, table
        missing = named_columns(mapping) - set(frame.columns)
        assert not missing, f"{name}.{table}: {missing} not in {list(frame.columns)}"
        for rule in mapping.get("derive", {}).values():
            if "lookup" in rule:
                lookup = read_source(folder, rule["lookup"]["source"])
                assert {rule["lookup"]["key"], rule["lookup"]["value"]} <= set(lookup.columns)
                assert set(frame[rule["from"]].astype(str)) <= set(
                    lookup[rule["lookup"]["key"]].astype(str)
                )
            if "map" in rule:
                assert set(frame[rule["from"]]) <= set(rule["map"])
    accounts = read_source(folder, parsed["sources"]["accounts"]["source"])
    assert 150 <= len(accounts) <= 400


@pytest.mark.parametrize("name", list(fl.LAYOUTS))
def test_generated_rates_are_plausible(generated, name):
    folder = generated[name][0]
    t = truth(folder)
    churn = np.mean(list(t["churn_rate_90d"].values()))
    upsell = np.mean(list(t["upsell_rate_90d"].values()))
    if name == "upsell_only":
        assert churn == 0
    else:
        assert 0.03 <= churn <= 0.15, churn
    if name == "churn_only":
        assert upsell == 0
    else:
        assert 0.08 <= upsell <= 0.25, upsell


def test_telemetry_export_renews_monthly_with_one_day_gaps_and_no_id(generated):
    folder = generated["telemetry_export"][0]
    lines = pd.read_csv(folder / "billing_lines.csv", parse_dates=["valid_from", "valid_to"])
    assert not [c for c in lines.columns if c == "id" or c.endswith("_id")]
    assert not lines.duplicated(["cust_no", "product", "valid_from"]).any()
    assert lines.duplicated(["cust_no", "valid_from"]).sum() == 0
    lines = lines.sort_values(["cust_no", "valid_from"])
    gap = lines.groupby("cust_no").valid_from.shift(-1) - lines.valid_to
    assert set(gap.dropna().dt.days) == {1}  # contiguous renewals, one day apart
    customers = pd.read_csv(folder / "customers.csv")
    assert not {"name", "created_at"} & set(customers.columns)
    events = pd.read_parquet(folder / "telemetry.parquet")
    assert pd.api.types.is_integer_dtype(events.kind_id)


def test_erp_addons_bill_over_1_6_12_months_and_addons_stay_small(generated):
    folder = generated["erp_addons"][0]
    lines = read_source(
        folder, {"kind": "duckdb", "database": "erp.duckdb", "table": "agreement_line"}
    )
    assert set(lines.term_months) == {1, 6, 12}
    addon = lines.sku.str.startswith("addon_")
    assert addon.sum() > 10 and (lines.loc[addon, "term_months"] == 1).all()
    base = lines[~addon]
    first_base = base.sort_values("effective").groupby("client_code").price_monthly.first()
    share = lines[addon].price_monthly / lines[addon].client_code.map(first_base)
    assert share.max() <= 0.15  # below the configured upsell_min_mrr_share of 0.3
    # a customer on a 6- or 12-month term only leaves at the end of a term
    ended = base.dropna(subset=["terminated"])
    ended = ended[~ended.client_code.isin(base[base.terminated.isna()].client_code)]
    starts = base.groupby("client_code").effective.min()
    last = ended.groupby("client_code").agg(
        end=("terminated", "max"), term=("term_months", "first")
    )
    months = (last.end.dt.year - starts[last.index].dt.year) * 12 + (
        last.end.dt.month - starts[last.index].dt.month
    )
    assert (months % last.term == 0).all()
    assert (last.term > 1).any()


def test_product_led_usage_is_keyed_by_plan_instance_and_churn_is_a_table(generated):
    folder = generated["product_led"][0]
    plans = pd.read_parquet(folder / "plans.parquet")
    events = pd.read_parquet(folder / "product_events.parquet")
    assert "org_uuid" not in events.columns
    assert set(events.plan_instance_id) <= set(plans.plan_instance_id)
    tickets = pd.read_csv(folder / "requests.csv")
    assert not {"category", "topic", "kind"} & set(tickets.columns)
    cancellations = pd.read_csv(folder / "cancellations.csv", parse_dates=["cancelled_on"])
    ends = plans.groupby("org_uuid").ends.max()
    open_rows = plans[plans.ends.isna()].org_uuid
    ended = ends[~ends.index.isin(open_rows)]
    assert set(cancellations.org_uuid) == set(ended.index)
    assert (cancellations.set_index("org_uuid").cancelled_on == ended[cancellations.org_uuid]).all()


def usage_and_churn(folder: Path) -> pd.DataFrame:
    """Per account and month start: usage change (last 30 days against the 60 before) and churn
    within 90 days."""
    plans = pd.read_parquet(folder / "plans.parquet")
    events = pd.read_parquet(folder / "product_events.parquet").merge(
        plans[["plan_instance_id", "org_uuid"]], on="plan_instance_id"
    )
    cancelled = pd.read_csv(folder / "cancellations.csv", parse_dates=["cancelled_on"])
    churn_at = cancelled.set_index("org_uuid").cancelled_on
    rows = []
    for as_of in pd.date_range("2025-06-01", "2025-12-01", freq="MS"):
        live = plans[(plans.begins < as_of) & (plans.ends.isna() | (plans.ends > as_of))]
        orgs = live.org_uuid.unique()
        age = (as_of - events.event_time).dt.days
        recent = events[(age >= 0) & (age < 30)].groupby("org_uuid").size()
        before = events[(age >= 30) & (age < 90)].groupby("org_uuid").size()
        recent, before = recent.reindex(orgs, fill_value=0), before.reindex(orgs, fill_value=0)
        at = churn_at.reindex(orgs)
        churned = (at > as_of) & (at <= as_of + pd.Timedelta(days=90))
        rows.append(
            pd.DataFrame(
                {
                    "usage_change": (recent / (before / 2 + 1)).to_numpy(),
                    "churned": churned.to_numpy(),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def auc(score: np.ndarray, label: np.ndarray) -> float:
    ranks = pd.Series(score).rank().to_numpy()
    pos = label.astype(bool)
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def test_no_signal_outcomes_are_independent_of_usage_but_product_led_are_not(generated):
    noise = usage_and_churn(generated["no_signal"][0])
    signal = usage_and_churn(generated["product_led"][0])
    assert noise.churned.sum() > 50 and signal.churned.sum() > 50
    # usage falling before the as-of -> churn: strong in (c), chance level in (c0)
    assert abs(auc(-noise.usage_change.to_numpy(), noise.churned.to_numpy()) - 0.5) < 0.06
    assert auc(-signal.usage_change.to_numpy(), signal.churned.to_numpy()) > 0.7


def test_status_only_has_accounts_and_a_product_log_only(generated):
    folder, config, _ = generated["status_only"]
    assert set(config["sources"]) == {"accounts", "usage_events"}
    clients = pd.read_csv(folder / "clients.csv", keep_default_na=False)
    lost = clients[clients.lifecycle == "lost"]
    assert len(lost) > 20 and (lost.lost_on != "").all()
    assert (clients.loc[clients.lifecycle == "live", "lost_on"] == "").all()
    assert (clients.signed_on != "").all()
    assert 0 < (clients.monthly_value == "").sum() < 0.15 * len(clients)
    events = pd.read_parquet(folder / "events.parquet")
    first = events.groupby("client_ref").at.min()
    signed = pd.to_datetime(clients.set_index("client_ref").signed_on)
    assert (signed[first.index] <= first).all()  # signed before the first event


def test_churn_only_never_expands_and_upsell_only_never_leaves(generated):
    folder = generated["churn_only"][0]
    licences = pd.read_csv(folder / "licences.csv", keep_default_na=False)
    companies = pd.read_csv(folder / "companies.csv", keep_default_na=False)
    assert licences.company_id.is_unique  # one row each: nothing ever changes
    churned = companies[companies.state == "churned"]
    assert len(churned) > 20 and (churned.closed_on != "").all()
    assert (companies.loc[companies.state == "active", "closed_on"] == "").all()
    ends = licences.set_index("company_id").to_date
    assert (ends[churned.company_id].to_numpy() == churned.closed_on.to_numpy()).all()

    folder = generated["upsell_only"][0]
    orders = pd.read_parquet(folder / "orders.parquet")
    upgrades = pd.read_parquet(folder / "upgrades.parquet")
    assert orders.tenant_key.is_unique and "ends" not in orders.columns
    assert len(upgrades) > 30 and (upgrades.mrr_delta > 0).all()


# --- end to end through the CLI -------------------------------------------------------------------
@dataclass
class LayoutRun:
    name: str
    folder: Path
    config: Path
    scored_as_of: date
    results: dict = field(default_factory=dict)  # step -> click Result
    seconds: dict = field(default_factory=dict)


def evaluation_as_of(config: dict) -> date:
    """A month start far enough before the data end that its outcomes are fully observed."""
    end = fl.month_starts()[-1] - pd.Timedelta(days=1)
    labels = config["labels"]
    back = max(labels["churn_horizon_days"], labels["upsell_horizon_days"])
    day = (end - pd.Timedelta(days=back + labels["reactivation_gap_days"] + 15)).date()
    return date(day.year, day.month, 1)


def run_layout(name: str, tmp_path_factory) -> LayoutRun:
    """check-data, train, score one horizon back and evaluate, stopping at the first failure."""
    from typer.testing import CliRunner

    from churnml.cli import app

    folder, generated_config, _ = generate(name, tmp_path_factory)
    # one LightGBM thread: the models are small and threads only contend on a shared machine;
    # the configured parameter set only: candidate choice (which refits every fold per candidate)
    # is test_train.py's, and these tests judge the layout's mapping, not the model's tuning
    config = {**generated_config, "training": {"num_threads": 1, "candidate_max_rows": 0}}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run = LayoutRun(name, folder, path, evaluation_as_of(config))
    steps = [
        ("check-data", ["check-data", "-c", str(path)]),
        ("train", ["train", "-c", str(path)]),
        ("score", ["score", "-c", str(path), "--as-of", str(run.scored_as_of)]),
        ("evaluate", ["evaluate", "-c", str(path), "--as-of", str(run.scored_as_of)]),
    ]
    for step, args in steps:
        started = time.perf_counter()
        result = CliRunner().invoke(app, args)
        rebind_prefect_console()
        run.seconds[step] = round(time.perf_counter() - started, 1)
        run.results[step] = result
        if step == "train" and result.exit_code == 0 and name == "no_signal":
            promote_latest(folder)  # a chance-level model is rightly refused; score it anyway
        if result.exit_code != 0:
            break
    print(name, run.seconds)
    return run


def rebind_prefect_console() -> None:
    """Point Prefect's console handlers back at the real stderr.

    A flow run inside CliRunner can leave them writing to the stream CliRunner swapped in and
    closed on return; the next flow's log lines then fail with "I/O operation on closed file".
    """
    import logging
    import sys

    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.stream = sys.stderr  # not setStream: it flushes the closed one
                handler.console.file = sys.stderr


def promote_latest(folder: Path) -> None:
    """Make the newest version of each registered model the champion (test scaffolding only)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    for model in client.search_registered_models():
        versions = client.search_model_versions(f"name='{model.name}'")
        newest = max(versions, key=lambda v: int(v.version))
        client.set_registered_model_alias(model.name, "champion", newest.version)


def _layout_fixture(name: str):
    @pytest.fixture(scope="module", name=name)
    def fixture(prefect_backend, tmp_path_factory) -> LayoutRun:
        return run_layout(name, tmp_path_factory)

    return fixture


telemetry_export = _layout_fixture("telemetry_export")
erp_addons = _layout_fixture("erp_addons")
product_led = _layout_fixture("product_led")
no_signal = _layout_fixture("no_signal")
churn_only = _layout_fixture("churn_only")
upsell_only = _layout_fixture("upsell_only")
status_only = _layout_fixture("status_only")


def step_ok(run: LayoutRun, step: str):
    result = run.results.get(step)
    if result is None:
        failed, last = list(run.results.items())[-1]
        pytest.fail(f"{run.name}: {step} did not run; {failed} failed:\n{last.output[-3000:]}")
    assert result.exit_code == 0, f"{run.name} {step}:\n{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output
    return result


def trained_targets(name: str) -> list[str]:
    return [t for t in ("churn", "upsell") if fl.SKIPPED_TARGET.get(name) != t]


def training_metrics(run: LayoutRun) -> dict[str, float]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run.folder / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"layout-{run.name.replace('_', '-')}")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="attributes.run_name = 'train'"
    )
    assert len(runs) == 1
    return runs[0].data.metrics


def track_record(run: LayoutRun) -> pd.Series:
    con = duckdb.connect(str(run.folder / "churnml.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT * FROM track_record").df()
        scored = con.execute("SELECT count(*) FROM scored_accounts").fetchone()[0]
    finally:
        con.close()
    assert scored > 0
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.fixture
def layout_run(request) -> LayoutRun:
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("layout_run", list(fl.LAYOUTS), indirect=True)
def test_layout_runs_end_to_end_by_config_alone(layout_run):
    run = layout_run
    for step in ("check-data", "train", "score", "evaluate"):
        step_ok(run, step)
    assert "all checks passed" in run.results["check-data"].output
    assert re.search(r"scored \d+ active accounts", run.results["score"].output)
    skipped = fl.SKIPPED_TARGET.get(run.name)
    train_out = run.results["train"].output
    skip_lines = [line for line in train_out.splitlines() if re.search(r"\bskip", line, re.I)]
    for target in ("churn", "upsell"):
        named = [line for line in skip_lines if target in line]
        assert bool(named) == (target == skipped), (target, skip_lines or train_out)


@pytest.mark.parametrize("layout_run", list(fl.LAYOUTS), indirect=True)
def test_label_rates_match_what_was_generated(layout_run):
    run = layout_run
    step_ok(run, "evaluate")
    record = track_record(run)
    expected = truth(run.folder)
    for target in trained_targets(run.name):
        generated = expected[f"{target}_rate_90d"][str(run.scored_as_of)]
        observed = float(record[f"{target}_positive_rate"])
        band = max(0.04, 0.5 * generated)
        assert abs(observed - generated) <= band, (run.name, target, observed, generated)


@pytest.mark.parametrize("layout_run", SIGNAL_LAYOUTS, indirect=True)
def test_signal_layouts_backtest_above_chance(layout_run):
    run = layout_run
    step_ok(run, "train")
    metrics = training_metrics(run)
    for target in trained_targets(run.name):
        assert metrics[f"{target}.roc_auc"] > 0.6, (run.name, target, metrics[f"{target}.roc_auc"])


@pytest.mark.parametrize("layout_run", ["no_signal"], indirect=True)
def test_no_signal_layout_scores_at_chance_without_a_leakage_alarm(layout_run):
    run = layout_run
    train_out = step_ok(run, "train").output
    metrics = training_metrics(run)
    for target in ("churn", "upsell"):
        assert 0.35 <= metrics[f"{target}.roc_auc"] <= 0.65, (target, metrics)
    assert "leakage alarm" not in train_out
    step_ok(run, "evaluate")


@pytest.mark.parametrize("layout_run", ["status_only"], indirect=True)
def test_status_only_scores_without_contract_features_and_money_from_accounts_mrr(layout_run):
    run = layout_run
    step_ok(run, "score")
    con = duckdb.connect(str(run.folder / "churnml.duckdb"), read_only=True)
    try:
        scored = con.execute("SELECT * FROM scored_accounts").df()
    finally:
        con.close()
    assert scored.p_upsell.isna().all() and scored.p_churn.notna().all()
    families = {
        d["family"]
        for text in scored.drivers_json
        for side in json.loads(text).values()
        for d in side
    }
    assert "usage" in families and "contract" not in families
    clients = pd.read_csv(run.folder / "clients.csv", keep_default_na=False)
    value = pd.to_numeric(clients.set_index("client_ref").monthly_value, errors="coerce")
    arr = scored.set_index("account_id").arr
    expected = 12 * value[arr.index]
    assert arr.isna().equals(expected.isna()) and arr.notna().any()
    assert np.allclose(arr.dropna(), expected.dropna())
    assert "ARR unknown" not in (run.folder / "reports").joinpath(
        f"churnml-report-{run.scored_as_of}.html"
    ).read_text(encoding="utf-8")
