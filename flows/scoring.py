"""Scoring flow: load champions, extract, validate, build features as of a date, score, write back, report."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from churnml.config import ChurnmlConfig
from churnml.drift import DriftError, drift_table, report_rows, summarize
from churnml.explain import stored_drivers
from churnml.features import FeatureSpec
from churnml.forecast import (
    backtest_rate_errors,
    expansion_share_from_history,
    forecast_quarter,
)
from churnml.io import kpi_store, registry, score_history, sinks, tracking
from churnml.kpis import board_and_months, unavailable_kpis
from churnml.model import unknown_categories
from churnml.report import (
    drift_section,
    missing_targets_section,
    plays_section,
    render_report,
    track_record_section,
    unknown_money_section,
    unseen_categories_section,
)
from churnml.report.kpis import kpi_headline, kpi_section
from churnml.schemas import validate_scored
from churnml.scoring import score_accounts
from churnml.track_record import outcome_horizon_days, recent_records
from churnml.validation import (
    blank_unknown_plans,
    refuse_as_of_after_data,
    refuse_empty_scoring,
    refuse_missing_features,
    screen_unknown_categories,
    unknown_plans,
)
from flows.tasks import (
    build_matrix,
    canonical_tables,
    data_end,
    extract_with_retries,
    read_config,
    validate,
)

TARGETS = ("churn", "upsell")


@task(cache_policy=NO_CACHE)
def load_champions(cfg: ChurnmlConfig) -> tuple[dict, dict[str, str]]:
    """The champions that exist, before anything is read or written, and for each target
    without one what happened (its columns are left empty). None at all: stop here."""
    champions: dict = {}
    missing: dict[str, str] = {}
    for target in TARGETS:
        if target not in cfg.training.targets:
            missing[target] = f"no {target} scores: {target} is not in training.targets"
            continue
        try:
            champions[target] = registry.load_champion(cfg, target)
        except registry.NoChampion as exc:
            missing[target] = str(exc)
    if not champions:
        raise registry.NoChampion("; ".join(missing.values()) + "; nothing was scored or written")
    for reason in missing.values():
        get_run_logger().warning("%s; its columns are left empty", reason)
    return champions, missing


@task(cache_policy=NO_CACHE)
def previous_run(con, cfg: ChurnmlConfig, as_of: date):
    """The last run before this as-of, from the first configured sink (None if there is none)."""
    return sinks.previous_scores(con, cfg, as_of)


@task(cache_policy=NO_CACHE)
def track_record_history(con, cfg: ChurnmlConfig):
    """Every evaluated as-of so far (`churnml evaluate`), for the report; None before the first."""
    return score_history.read_track_record(con, cfg.track_record.table)


@task(cache_policy=NO_CACHE)
def latest_play_effects(con, cfg: ChurnmlConfig):
    """The play measurements of the latest evaluated as-of, for the report; None before any."""
    if "cs_activities" not in cfg.sources:
        return None
    kept = score_history.read_track_record(con, cfg.activity.table)
    if kept is None:
        return None
    return kept[kept["as_of"] == kept["as_of"].max()].reset_index(drop=True)


@task(cache_policy=NO_CACHE)
def screen_categories(features, champions: dict, cfg: ChurnmlConfig):
    """Stop on category values (and plans) the champions never saw, unless configured to score
    them as missing: then the features with those plans unranked, and what was scored so."""
    unseen: dict[str, list[str]] = {}
    known: dict[str, list[str]] = {}  # what the champions saw, to name a changed spelling
    for bundle, _ in champions.values():
        found = unknown_categories(bundle, features)
        plans = list(bundle.spec.get("plan_order", ()))
        if "contract_plan_rank" in bundle.features:
            found |= unknown_plans(features, plans)
        for column, values in found.items():
            unseen[column] = sorted(set(unseen.get(column, [])) | set(values))
            seen = [
                *bundle.categories.get(column, []),
                *(plans if column == "contract_plan" else []),
            ]
            known[column] = [*known.get(column, []), *map(str, seen)]
    policy = cfg.validation.unknown_categories
    problems = screen_unknown_categories(unseen, features, policy, known)
    for problem in problems:
        get_run_logger().warning("scored as missing: %s", problem)
    features = blank_unknown_plans(features, unseen.get("contract_plan", []))
    return features, [str(p) for p in problems]


@task(cache_policy=NO_CACHE)
def require_active_accounts(features, tables: dict, as_of: date) -> None:
    """Refuse in one line when nobody is active at the as-of (e.g. every account churned)."""
    if features.empty:
        refuse_empty_scoring(as_of, tables.get("subscriptions"), tables["accounts"])


@task(cache_policy=NO_CACHE)
def score(
    features,
    tables,
    champions: dict,
    cfg: ChurnmlConfig,
    lang: str,
    previous=None,
    previous_drivers=None,
    expansion_share: float | None = None,
):
    """The scored_accounts table as written (drivers as JSON, checked) and the drivers' long
    frame, which the report reads; ``expansion_share`` sizes the expected expansion ARR."""
    accounts = tables["accounts"].to_pandas()
    bundles = {target: bundle for target, (bundle, _) in champions.items()}
    scored = score_accounts(
        features,
        accounts,
        bundles.get("churn"),
        bundles.get("upsell"),
        {target: version for target, (_, version) in champions.items()},
        cfg.outreach,
        datetime.now(UTC).replace(tzinfo=None),
        lang,
        previous,
        previous_drivers,
        threads=cfg.training.num_threads,
        expansion_share=expansion_share,
    )
    return validate_scored(scored.written()), scored.drivers


@task(cache_policy=NO_CACHE)
def measure_drift(features, scored, champions: dict, cfg: ChurnmlConfig, as_of=None):
    """PSI of both scores and every model feature against each champion's training reference
    (ageing features shifted by the days from the reference's as-of to ``as_of``)."""
    logger = get_run_logger()
    if not cfg.drift.enabled or features.empty:
        return None
    profiles = {t: b.drift_reference for t, (b, _) in champions.items() if b.drift_reference}
    for target in sorted(set(champions) - set(profiles)):
        logger.warning("drift not measured for %s: its champion has no drift reference", target)
    if not profiles:
        return None
    # The models' own probabilities, not the written ones (rounded to 6 places): the reference
    # edges sit on calibrated levels, and a level rounded up would land in the next bin.
    probabilities = {t: pd.Series(champions[t][0].predict(features)) for t in profiles}
    table = drift_table(profiles, features, probabilities, cfg.drift, as_of)
    summary = summarize(table)
    if summary["drifted"]:
        logger.warning("DRIFT: %s", summary["headline"])
    else:
        logger.info(
            "no drift beyond the alert thresholds (score PSI %s, max feature PSI %.3f)",
            {t: round(v, 3) for t, v in summary["score_psi"].items()},
            summary["max_feature_psi"],
        )
    return table


@task(cache_policy=NO_CACHE)
def kpi_board(tables: dict, cfg: ChurnmlConfig, as_of: date) -> dict:
    """The KPI board up to the as-of and the ARR growth of an expansion measured on it, which
    sizes both the accounts' expected expansion ARR and the forecast."""
    board, moves = board_and_months(tables, cfg, as_of)
    return {"board": board, "expansion_share": expansion_share_from_history(moves, cfg)}


@task(cache_policy=NO_CACHE)
def kpis_and_forecast(
    tables: dict, board: dict, scored, cfg: ChurnmlConfig, as_of: date, record=None
) -> dict:
    """Next quarter's forecast from the scores beside the board, its interval at least as wide
    as the errors of the past forecasts in the track record (docs/kpis.md)."""
    backtest = backtest_rate_errors(record, as_of, outcome_horizon_days(cfg.labels))
    forecast = forecast_quarter(scored, cfg, board["expansion_share"], backtest)
    unavailable = unavailable_kpis(tables, cfg)
    for reason in unavailable.values():
        get_run_logger().info("KPI board: %s", reason)
    return {"board": board["board"], "forecast": forecast, "unavailable": unavailable}


@task(cache_policy=NO_CACHE)
def write_kpis(con, kpis: dict, cfg: ChurnmlConfig, as_of: date) -> list[str]:
    return kpi_store.write_kpis(con, kpis["board"], kpis["forecast"], as_of, cfg)


@task(cache_policy=NO_CACHE)
def log_scoring_run(cfg: ChurnmlConfig, as_of: date, champions: dict, drift) -> str:
    versions = {target: version for target, (_, version) in champions.items()}
    return tracking.log_scoring_run(cfg, str(as_of), versions, drift)


@task(cache_policy=NO_CACHE)
def write_back(con, scored, cfg: ChurnmlConfig) -> list[str]:
    return sinks.write_sinks(con, scored, cfg)


@task(cache_policy=NO_CACHE)
def write_report(
    scored,
    cfg: ChurnmlConfig,
    lang: str,
    previous=None,
    scored_as_missing=None,
    drift=None,
    record=None,
    missing: dict[str, str] | None = None,
    kpis: dict | None = None,
    plays=None,
    drivers=None,
    previous_drivers=None,
) -> str:
    folder = cfg.resolve(cfg.output.report_dir)
    as_of = scored["as_of"].iloc[0] if len(scored) else datetime.now(UTC)
    target = folder / f"churnml-report-{as_of:%Y-%m-%d}.html"
    extra = []
    if missing:
        extra.append(missing_targets_section(missing, lang))
    if len(scored) and scored["arr"].isna().all():
        extra.append(unknown_money_section(lang))
    if drift is not None:
        shown = report_rows(drift, cfg.drift.report_top_features)
        extra.append(drift_section(shown, summarize(drift)["drifted"], cfg.drift, lang))
    if kpis is not None:
        extra.append(kpi_section(kpis["board"], kpis["forecast"], lang, kpis["unavailable"]))
    if scored_as_missing:
        extra.append(unseen_categories_section(scored_as_missing, lang))
    if record is not None:
        recent = recent_records(record, cfg.track_record.report_rows)
        extra.append(track_record_section(recent, lang))
    if plays is not None and len(plays):
        activity = cfg.activity
        extra.append(plays_section(plays, activity.min_accounts, activity.confidence, lang))
    html = render_report(
        scored,
        lang=lang,
        previous=previous,
        extra_sections=extra,
        max_accounts=cfg.output.report_max_accounts,
        drivers=drivers,
        previous_drivers=previous_drivers,
    )
    return sinks.write_report_file(target, html)


@flow(name="churnml-score", log_prints=True)
def scoring_flow(
    config_path: str | None = None, as_of: date | None = None, lang: str = "en"
) -> dict:
    """Score every active account as of a date (default: the day after the latest data)."""
    cfg = read_config(config_path)
    champions, missing = load_champions(cfg)
    con, mapped = extract_with_retries(cfg)
    try:
        validate(mapped, cfg)
        tables = canonical_tables(con, mapped)
        end = data_end(tables)
        as_of = as_of or end.date() + timedelta(days=1)
        spec = FeatureSpec.from_dict(next(iter(champions.values()))[0].spec)
        refuse_as_of_after_data(as_of, end, spec.windows_days)
        features = build_matrix(tables, [as_of], spec, cfg, None, labelled=False)
        require_active_accounts(features, tables, as_of)
        refuse_missing_features({t: b.features for t, (b, _) in champions.items()}, features)
        features, scored_as_missing = screen_categories(features, champions, cfg)
        previous = previous_run(con, cfg, as_of)
        previous_drivers = stored_drivers(previous)  # read once, for changes and the report
        board = kpi_board(tables, cfg, as_of)
        scored, drivers = score(
            features,
            tables,
            champions,
            cfg,
            lang,
            previous,
            previous_drivers,
            board["expansion_share"],
        )
        drift = measure_drift(features, scored, champions, cfg, as_of)
        drift_summary = summarize(drift) if drift is not None else None
        run_id = log_scoring_run(cfg, as_of, champions, drift)
        if drift_summary and drift_summary["drifted"] and cfg.drift.on_drift == "fail":
            raise DriftError(
                "the scoring data drifted beyond the alert threshold and drift.on_drift is "
                f"'fail'; nothing was written (MLflow run {run_id}): {drift_summary['headline']}"
            )
        record = track_record_history(con, cfg)
        kpis = kpis_and_forecast(tables, board, scored, cfg, as_of, record)
        written = write_back(con, scored, cfg)
        written += write_kpis(con, kpis, cfg, as_of)
        plays = latest_play_effects(con, cfg)
        report = write_report(
            scored,
            cfg,
            lang,
            previous,
            scored_as_missing,
            drift,
            record,
            missing,
            kpis,
            plays,
            drivers,
            previous_drivers,
        )
    finally:
        con.disconnect()  # release the warehouse for the next run, also after a failure
    get_run_logger().info(
        "scored %d accounts as of %s -> %s; report %s", len(scored), as_of, written, report
    )
    return {
        "as_of": str(as_of),
        "accounts": len(scored),
        "written": written,
        "report": report,
        "scored": scored,
        "scored_as_missing": scored_as_missing,
        "drifted": bool(drift_summary and drift_summary["drifted"]),
        "drift": None if drift is None else {**drift_summary, "table": drift},
        "mlflow_run_id": run_id,
        "missing_targets": missing,
        "kpis": kpis["board"],
        "forecast": kpis["forecast"],
        "kpi_headline": kpi_headline(kpis["board"], kpis["forecast"], lang),
    }


__all__ = ["scoring_flow"]
