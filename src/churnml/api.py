"""The Python entry point: train, score, explain and the KPI board as DataFrames, for notebooks.

`train` and `score` run the same Prefect flows as `churnml train` and `churnml score`, so a
notebook gets exactly what the command line gets (the champion gate, the write-back, the report).
With no `PREFECT_API_URL` set, Prefect runs them on a temporary local server that it starts and
stops itself: no Prefect server has to be running. Everything else (`explain`, `champion`,
`features`, `drift`, `calibration`, `kpis`) only reads the warehouse and the MLflow store and
never touches Prefect's API.

`config` is a path to a churnml.yaml or an already loaded `ChurnmlConfig` everywhere.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import yaml

from churnml.config import ChurnmlConfig, ConfigError, load_config
from churnml.flow_logs import prefect_defaults, prefect_logs_without_known_tracebacks

ConfigLike = ChurnmlConfig | str | os.PathLike

TRAIN_COLUMNS = [
    "target",
    "trained",
    "version",
    "promoted",
    "decision",
    "champion_before",
    "roc_auc",
    "pr_auc",
    "brier",
    "top_decile_lift",
    "baseline_roc_auc",
    "baseline_pr_auc",
    "top_feature",
    "run_id",
]
EXPLAIN_COLUMNS = [
    "account_id",
    "account_name",
    "as_of",
    "target",
    "probability",
    "tier",
    "direction",
    "rank",
    "family",
    "label",
    "impact",
    "feature",
    "value",
    "sentence",
]
TARGETS = ("churn", "upsell")


class AccountNotFound(LookupError):
    """The account is in none of a scoring run's rows, by id or by name."""


def load(config: ConfigLike) -> ChurnmlConfig:
    """The checked config: a loaded one as is, a path read and validated (ConfigError)."""
    if isinstance(config, ChurnmlConfig):
        return config
    if not isinstance(config, (str, os.PathLike)):
        raise ConfigError(
            f"config must be a path to churnml.yaml or a ChurnmlConfig, got {type(config).__name__}"
        )
    return load_config(config)


def _preflight(cfg: ChurnmlConfig) -> None:
    """The command line's cheap source checks (files exist, columns mapped), before Prefect."""
    from churnml.io.preflight import preflight_sources

    preflight_sources(cfg)


@contextlib.contextmanager
def _config_file(config: ConfigLike) -> Iterator[str]:
    """A config file for the flows, which take a path: the given one, or a loaded config
    written to a temporary file (its base_dir kept, so its relative paths still resolve)."""
    if not isinstance(config, ChurnmlConfig):
        yield str(Path(config).resolve())
        return
    raw = config.model_dump(mode="json", exclude_unset=True)
    raw["base_dir"] = config.base_dir
    with tempfile.TemporaryDirectory(prefix="churnml-config-") as folder:
        path = Path(folder) / "churnml.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        yield str(path)


def train(config: ConfigLike) -> pd.DataFrame:
    """Retrain, gate and register each target, as `churnml train`: one row per target with its
    backtest metrics and the gate's decision (`TRAIN_COLUMNS`; a skipped target has
    trained=False and the reason as decision). `attrs` hold the MLflow run id and the summary
    in Markdown."""
    cfg = load(config)
    _preflight(cfg)
    prefect_defaults()
    from flows.training import training_flow

    with _config_file(config) as path, prefect_logs_without_known_tracebacks():
        summary = training_flow(config_path=path)
    rows = []
    for target, done in summary["targets"].items():
        metrics, baseline = done["metrics"], done["baseline"]
        rows.append(
            {
                "target": target,
                "trained": True,
                "version": done["version"],
                "promoted": bool(done["promoted"]),
                "decision": done["decision"],
                "champion_before": done["champion_before"],
                **{m: metrics.get(m) for m in ("roc_auc", "pr_auc", "brier", "top_decile_lift")},
                "baseline_roc_auc": baseline.get("roc_auc"),
                "baseline_pr_auc": baseline.get("pr_auc"),
                "top_feature": done["top_feature"],
                "run_id": summary["run_id"],
            }
        )
    for target, reason in summary["skipped"].items():
        rows.append(
            {
                "target": target,
                "trained": False,
                "promoted": False,
                "decision": f"skipped: {reason}",
                "run_id": summary["run_id"],
            }
        )
    frame = pd.DataFrame(rows, columns=TRAIN_COLUMNS)
    frame.attrs = {"run_id": summary["run_id"], "markdown": summary["markdown"]}
    return frame


def score(config: ConfigLike, as_of: date | str | None = None, lang: str = "en") -> pd.DataFrame:
    """Score every active account as of a date with the champions, as `churnml score`: the
    configured sinks and the report are written too. Returns the scored accounts (the columns
    of the `scored_accounts` table); `attrs` hold the as-of, the report path, the sinks written,
    whether the data drifted and the MLflow run id."""
    if lang not in ("en", "ja"):
        raise ValueError(f"lang must be en or ja, got {lang!r}")
    chosen = _as_of(as_of)
    cfg = load(config)
    _preflight(cfg)
    prefect_defaults()
    from flows.scoring import scoring_flow

    with _config_file(config) as path, prefect_logs_without_known_tracebacks():
        result = scoring_flow(config_path=path, as_of=chosen, lang=lang)
    scored = result["scored"].reset_index(drop=True)
    scored.attrs = {
        "as_of": result["as_of"],
        "report": result["report"],
        "written": list(result["written"]),
        "drifted": result["drifted"],
        "mlflow_run_id": result["mlflow_run_id"],
    }
    return scored


def _as_of(value: date | str | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"as_of must be a date or YYYY-MM-DD, got {value!r}") from None


def stored_scores(cfg: ChurnmlConfig, as_of: date | None = None) -> pd.DataFrame:
    """One stored scoring run (the latest by default) from the score history, as `churnml
    explain` reads it; SinkError naming the stored as-ofs when there is none for that date."""
    from churnml.io import score_history, sources
    from churnml.io.sinks import SinkError

    if not cfg.resolve(cfg.warehouse.path).exists():
        raise SinkError(
            f"no scoring run is stored yet (warehouse {cfg.resolve(cfg.warehouse.path)} does not "
            "exist): run `churnml score` first"
        )
    con = sources.connect_warehouse(cfg, read_only=True)
    try:
        available = score_history.scored_as_ofs(con, cfg)
        if not available:
            raise SinkError("no scoring run is stored yet: run `churnml score` first")
        if as_of is not None and as_of not in available:
            shown = ", ".join(str(d) for d in available[-5:])
            raise SinkError(f"no scoring run for as-of {as_of}; stored as-ofs include {shown}")
        return score_history.read_scores(con, cfg, as_of or available[-1])
    finally:
        con.disconnect()


def find_account(scores: pd.DataFrame, account: str) -> pd.Series:
    """The run's row of an account, by id or else by exact name (case-insensitive)."""
    match = scores[scores["account_id"] == account]
    if match.empty:
        match = scores[scores["account_name"].astype(str).str.casefold() == account.casefold()]
    if match.empty:
        when = pd.Timestamp(scores["as_of"].iloc[0]).strftime("%Y-%m-%d")
        raise AccountNotFound(
            f"account {account!r} is not in the run of {when} (by id or name); "
            f"e.g. {', '.join(scores['account_id'].head(3))}"
        )
    return match.iloc[0]


def explain(config: ConfigLike, account_id: str, as_of: date | str | None = None) -> pd.DataFrame:
    """One account's drivers in a stored scoring run (the latest by default), as the report and
    `churnml explain` show them: one row per driver family and target (`EXPLAIN_COLUMNS`), risk
    drivers first by weight, then the protective ones. A target no champion scored has no rows.
    `attrs["card"]` holds `churnml explain`'s text (scores, play, drivers, change)."""
    from churnml.cli import account_card
    from churnml.explain import stored_drivers

    cfg = load(config)
    row = find_account(stored_scores(cfg, _as_of(as_of)), account_id)
    drivers = stored_drivers(pd.DataFrame([row]))  # the one parser of stored driver columns
    records = []
    for target in ("churn", "upsell"):
        probability = row.get(f"p_{target}")
        if probability is None or pd.isna(probability):
            continue
        picked = drivers[drivers["model"] == target]
        for driver in picked.to_dict("records"):
            records.append(
                {
                    "account_id": row["account_id"],
                    "account_name": row["account_name"],
                    "as_of": pd.Timestamp(row["as_of"]),
                    "target": target,
                    "probability": float(probability),
                    "tier": row.get(f"{target}_tier"),
                    "direction": driver["direction"],
                    "rank": driver["rank"] + 1,
                    **{k: driver[k] for k in EXPLAIN_COLUMNS[8:]},
                }
            )
    frame = pd.DataFrame(records, columns=EXPLAIN_COLUMNS)
    frame.attrs = {"card": account_card(row.to_dict())}
    return frame


def champion(config: ConfigLike, target: str = "churn"):
    """The target's champion from the registry (`registry.Champion`: bundle and version);
    NoChampion says why there is none."""
    from churnml.io import registry

    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    bundle, version = registry.load_champion(load(config), target)
    return registry.Champion(bundle, version)


@contextlib.contextmanager
def _tables(cfg: ChurnmlConfig) -> Iterator[dict]:
    """The canonical tables, read-only and checked as the flows check them; open while used."""
    from flows.tasks import canonical_tables

    from churnml.io import sources
    from churnml.validation import raise_for_problems, validate_sources

    _preflight(cfg)
    con = sources.connect_warehouse(cfg, read_only=True)
    try:
        mapped = sources.load_sources(con, cfg)
        problems = validate_sources(
            mapped, None, cfg.validation, cfg.labels.plan_order, cfg.features.onboarding_events
        )
        raise_for_problems(problems)
        yield canonical_tables.fn(con, mapped)
    finally:
        con.disconnect()


def features(config: ConfigLike, as_of: date | str | None = None, target: str = "churn"):
    """The scoring features of every account active at the as-of (default: the day after the
    latest data), built with the target's champion's feature spec, as scoring builds them."""
    from flows.tasks import build_matrix, data_end

    from churnml.features import FeatureSpec

    cfg = load(config)
    spec = FeatureSpec.from_dict(champion(cfg, target).bundle.spec)
    chosen = _as_of(as_of)
    with _tables(cfg) as tables:
        chosen = chosen or data_end.fn(tables).date() + timedelta(days=1)
        return build_matrix.fn(tables, [chosen], spec, cfg, None, labelled=False)


def drift(config: ConfigLike, as_of: date | str | None = None) -> pd.DataFrame:
    """PSI of each champion's score and features at the as-of against its training data, as
    scoring measures it (`churnml.drift.DRIFT_COLUMNS`: one row per model and score or
    feature; `churnml.drift.summarize` gives the verdict)."""
    from churnml.drift import drift_table
    from churnml.io import registry

    cfg = load(config)
    champions = {}
    for target in TARGETS:
        with contextlib.suppress(registry.NoChampion):
            champions[target] = champion(cfg, target).bundle
    if not champions:
        raise registry.NoChampion("no champion is registered: run `churnml train` first")
    first = next(iter(champions))
    current = features(cfg, as_of, first)
    profiles = {t: b.drift_reference for t, b in champions.items() if b.drift_reference}
    if not profiles:
        raise ValueError("the champions hold no drift reference: retrain them to measure drift")
    probabilities = {t: pd.Series(champions[t].predict(current)) for t in profiles}
    return drift_table(profiles, current, probabilities, cfg.drift, current["as_of"].max())


def calibration(config: ConfigLike, target: str = "churn") -> pd.DataFrame:
    """The champion's calibration on its backtest (mean predicted versus observed rate per
    quantile bin), as logged by the training run that registered it."""
    import mlflow

    from churnml.io import registry

    cfg = load(config)
    version = champion(cfg, target).version
    versions = registry.list_versions(cfg, target)
    run_id = versions.loc[versions["version"] == version, "run_id"].iloc[0]
    table = mlflow.load_table(f"{target}/calibration.json", run_ids=[run_id])
    return table[["predicted", "observed"]]


def kpis(config: ConfigLike, as_of: date | str | None = None) -> pd.DataFrame:
    """The CS KPI board from the mapped tables (`churnml.kpis.kpi_board`); with an as-of (as
    `score` takes it) the board ends with the last month complete by then, as a scoring run of
    that date shows it."""
    chosen = _as_of(as_of)
    cfg = load(config)
    from churnml.kpis import kpi_board

    with _tables(cfg) as tables:
        return kpi_board(tables, cfg, as_of=chosen)


__all__ = [
    "AccountNotFound",
    "calibration",
    "champion",
    "drift",
    "explain",
    "features",
    "find_account",
    "kpis",
    "load",
    "score",
    "stored_scores",
    "train",
]
