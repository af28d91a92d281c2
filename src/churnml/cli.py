"""The `churnml` command: demo data, data checks, training, scoring, evaluation and schedules."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from churnml.cli_usage import OneLineUsageErrors
from churnml.flow_logs import failure_line
from churnml.vocabulary import money

app = typer.Typer(
    cls=OneLineUsageErrors,
    help="Churn and expansion prediction for Customer Success teams.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="churnml.yaml; default: the embedded demo config in the current folder",
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    """One red line on stderr; the caller raises the returned Exit."""
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)


ALL_OUTPUTS = ("warehouse", "mlflow", "reports", "sinks", "prefect")


def _config(
    path: Path | None,
    sources: bool = False,
    warehouse: bool = True,
    writes: tuple[str, ...] = (),
    store: bool = False,
):
    """The checked config (and, with store or writes naming mlflow, the MLflow store URI; with
    sources, a cheap look at the source files; with warehouse, at the warehouse file; with
    writes, at the places the command writes: warehouse, mlflow, reports, sinks, prefect (its
    home folder)), before anything slow is imported: every mistake is one line and exit 2."""
    from churnml.config import ConfigError, default_config, load_config

    try:
        cfg = load_config(path) if path else default_config(Path.cwd())
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if store or "mlflow" in writes:
        from churnml.io.mlflow_store import store_uri_mistake

        mistake = store_uri_mistake(cfg)
        if mistake:
            raise _fail(f"tracking error: {mistake}")
    from churnml.io.preflight import (
        OutputError,
        SourceError,
        preflight_outputs,
        preflight_sources,
        preflight_warehouse,
    )

    try:
        if sources:
            preflight_sources(cfg)
        elif warehouse:
            preflight_warehouse(cfg)
        preflight_outputs(cfg, set(writes))
    except OutputError as exc:
        raise _fail(f"output error: {exc}") from None
    except (SourceError, OSError) as exc:  # OSError: a file that cannot be opened
        raise _fail(f"source error: {exc}") from None
    return cfg


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    import re

    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        why = f" ({exc})" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else ""
        raise _fail(f"--as-of must be a date YYYY-MM-DD, got {value!r}{why}") from None


def _run_flow(run, what: str = "churnml"):
    """Run a flow with one-line errors for our own failures and the progress of its steps."""
    from churnml.cli_progress import step_progress
    from churnml.flow_logs import (
        console_without_what_the_cli_prints,
        known_failures,
        prefect_logs_without_known_tracebacks,
    )

    try:
        with (
            prefect_logs_without_known_tracebacks(),
            console_without_what_the_cli_prints(),
            step_progress(what) as times,
        ):
            result = run()
        if times.steps:
            typer.echo(times.summary(), err=True)
        return result
    except known_failures() as exc:
        raise _fail(failure_line(exc), 1) from None


def _quiet_prefect() -> None:
    from churnml.flow_logs import prefect_defaults

    prefect_defaults()


def _version(value: bool) -> None:
    if value:
        from churnml import __version__

        typer.echo(f"churnml {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Churn and expansion prediction for Customer Success teams."""


@app.command("demo-data")
def demo_data(
    accounts: Annotated[int, typer.Option(help="number of accounts")] = 2000,
    months: Annotated[int, typer.Option(help="months of history")] = 24,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    events_per_user_day: Annotated[
        float,
        typer.Option(help="usage intensity; 0.12 gives ~50M events at 100k accounts x 13 months"),
    ] = 0.12,
    force: Annotated[
        bool,
        typer.Option("--force", help="replace a warehouse that is not a demo warehouse"),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Generate a realistic B2B SaaS dataset into the configured DuckDB warehouse."""
    for option, value, least in (
        ("--accounts", accounts, 1),
        ("--months", months, 1),
        ("--events-per-user-day", events_per_user_day, 0),
    ):
        if value < least:
            raise _fail(f"{option} must be at least {least}, got {value}; nothing was written")
    cfg = _config(config, writes=("warehouse",))
    from churnml.io.preflight import (
        OutputError,
        refuse_a_warehouse_in_use,
        refuse_replacing_a_warehouse,
    )
    from churnml.io.warehouse_writer import write_demo_warehouse

    try:
        refuse_a_warehouse_in_use(cfg)
        dropped = refuse_replacing_a_warehouse(cfg, force)
    except OutputError as exc:
        raise _fail(f"output error: {exc}") from None

    path = cfg.resolve(cfg.warehouse.path)
    counts = write_demo_warehouse(
        path, accounts, months, seed, events_per_user_day=events_per_user_day
    )
    typer.echo(f"demo warehouse {path}: " + ", ".join(f"{k}={v:,}" for k, v in counts.items()))
    if dropped:
        typer.echo(dropped)


@app.command("check-data")
def check_data(config: ConfigOption = None) -> None:
    """Load every source through the mapping, print a profile and run the data checks."""
    cfg = _config(config, sources=True)
    from churnml.io.profile import profile_sources
    from churnml.io.sources import SourceError, connect_for_checks, load_sources
    from churnml.validation import validate_sources

    try:
        con = connect_for_checks(cfg)
        mapped = load_sources(con, cfg)
    except SourceError as exc:
        raise _source_failure(exc) from None
    typer.echo(profile_sources(mapped))
    problems = validate_sources(
        mapped, None, cfg.validation, cfg.labels.plan_order, cfg.features.onboarding_events
    )
    warnings = [p for p in problems if p.severity == "warning"]
    errors = [p for p in problems if p.severity == "error"]
    if warnings:
        _report(warnings, "data warning", " (runs go on)", "yellow")
    if errors:  # on stdout with the profile: one report, read in order wherever it goes
        _report(errors, "data problem", "", "red")
        raise typer.Exit(1)
    typer.secho("all checks passed" + (" (with warnings)" if warnings else ""), fg="green")


def _source_failure(exc: Exception) -> typer.Exit:
    """A source failure in one line: a mapping mistake (exit 2), or a warehouse another run
    held for longer than its lock timeout (exit 1: nothing to fix in the config)."""
    from churnml.io.preflight import WarehouseBusyError

    if isinstance(exc, WarehouseBusyError):
        return _fail(failure_line(exc), 1)
    return _fail(f"mapping error: {exc}")


def _report(problems: list, what: str, note: str, colour: str) -> None:
    """One problem on one line; several under a header, one line each."""
    if len(problems) == 1:
        typer.secho(f"1 {what}{note}: {problems[0]}", fg=colour)
        return
    typer.secho(f"{len(problems)} {what}s{note}:", fg=colour)
    for p in problems:
        typer.secho(f"  - {p}", fg=colour)


@app.command()
def train(config: ConfigOption = None) -> None:
    """Retrain the churn and upsell models; promote a model only when it beats the champion."""
    cfg = _config(config, sources=True, writes=("warehouse", "mlflow", "prefect"))
    _refuse_bad_data(cfg, labels=True)
    _refuse_an_unreachable_store(cfg)
    _quiet_prefect()
    from flows.training import training_flow

    summary = _run_flow(
        lambda: training_flow(config_path=str(config) if config else None), "churnml train"
    )
    typer.echo(summary["markdown"])


def _refuse_bad_data(cfg, labels: bool = False) -> None:
    """What the flow would refuse first (a mapping mistake, a data check's error and, for
    training, labels no target can learn from), said before its slow start-up."""
    from churnml.io.preflight import SourceError, refuse_bad_data
    from churnml.trainable import TrainingError
    from churnml.validation import DataValidationError

    try:
        refuse_bad_data(cfg, labels)
    except SourceError as exc:
        raise _source_failure(exc) from None
    except (DataValidationError, TrainingError) as exc:
        raise _fail(failure_line(exc), 1) from None


def _refuse_an_unreachable_store(cfg) -> None:
    """A tracking server that does not answer is said in seconds, not after MLflow's retries."""
    from churnml.io.mlflow_store import unreachable_store

    why = unreachable_store(cfg)
    if why is not None:
        raise _fail(f"tracking error: {why}", 1)


def _refuse_a_missing_store(cfg, consequence: str = "") -> None:
    """A local MLflow store that does not exist holds no model: say so in one line instead of
    letting MLflow create an empty store just to find nothing in it."""
    from churnml.io.mlflow_store import local_store

    store = local_store(cfg)
    if store is not None and not store.exists():
        raise _fail(
            f"no champion: no model is registered yet (MLflow store {store} does not exist): "
            f"run `churnml train` first{consequence}",
            1,
        )


def _refuse_an_as_of_outside_the_data(cfg, as_of: date) -> None:
    """An as-of past the data's end or before its start is answered in a second, not after
    Prefect's start-up."""
    from churnml.io.preflight import SourceError, refuse_an_as_of_outside_the_data
    from churnml.validation import NoActiveAccountsError

    try:
        refuse_an_as_of_outside_the_data(cfg, as_of)
    except SourceError as exc:
        raise _source_failure(exc) from None
    except NoActiveAccountsError as exc:
        raise _fail(failure_line(exc), 1) from None


def _require_a_champion(cfg) -> None:
    """Scoring without any champion stops before the flow's slow start-up, in one line."""
    import logging

    _refuse_a_missing_store(cfg, "; nothing was scored or written")
    _refuse_an_unreachable_store(cfg)
    from churnml.io import registry
    from churnml.io.tracking import TrackingError, configure

    wanted = [t for t in ("churn", "upsell") if t in cfg.training.targets]
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # schema upgrades
    try:
        configure(cfg)
        if any(registry.champion_version(cfg, t) for t in wanted):
            return
        reasons = [registry.why_no_champion(cfg, t) for t in wanted]
    except TrackingError:
        return  # an unreachable store is the flow's to report, after its retries
    raise _fail("no champion: " + "; ".join(reasons) + "; nothing was scored or written", 1)


@app.command()
def score(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD; default: day after the latest data")
    ] = None,
    lang: Annotated[
        str, typer.Option(help="language of driver sentences and report: en or ja")
    ] = "en",
    config: ConfigOption = None,
) -> None:
    """Score active accounts as of a date and write them back with drivers and plays."""
    if lang not in ("en", "ja"):
        raise _fail(f"--lang must be en or ja, got {lang!r}")
    chosen = _as_of(as_of)
    cfg = _config(config, sources=True, writes=ALL_OUTPUTS)
    _refuse_bad_data(cfg)
    if chosen is not None:
        _refuse_an_as_of_outside_the_data(cfg, chosen)
    _require_a_champion(cfg)
    _quiet_prefect()
    from flows.scoring import scoring_flow

    result = _run_flow(
        lambda: scoring_flow(config_path=str(config) if config else None, as_of=chosen, lang=lang),
        "churnml score",
    )
    scored = result["scored"]
    typer.echo(f"scored {result['accounts']} active accounts as of {result['as_of']}")
    cols = [
        "account_name",
        "p_churn",
        "p_upsell",
        "health_score",
        "churn_tier",
        "touch_model",
        "arr_at_risk",
    ]
    typer.echo(scored[cols].head(15).to_string(index=False))
    for w in result["written"]:
        typer.echo(f"written: {w}")
    typer.echo(f"report: {result['report']}")
    if result.get("kpi_headline"):
        typer.echo(f"KPIs: {result['kpi_headline']}")
    if result.get("drifted"):
        typer.secho(
            "DRIFT: the data moved since training; scores may be less reliable: "
            + result["drift"]["headline"],
            fg="yellow",
        )


def _require_a_scoring_run(cfg, requested: date | None) -> None:
    """Evaluating before any scoring run, an as-of never scored, or none whose outcomes are in
    the data yet, stops before the flow's slow start-up, in one line."""
    from churnml.io import score_history
    from churnml.io.sinks import SinkError

    try:
        sink = score_history.history_sink(cfg)
        warehouse = cfg.resolve(cfg.warehouse.path)
        if sink.kind == "duckdb" and not warehouse.exists():
            raise _fail(
                f"evaluation error: no scored as-of yet (warehouse {warehouse} does not exist): "
                "run `churnml score` first",
                1,
            )
        if sink.kind != "duckdb":
            return  # a database or folder sink is read (with retries) by the flow
        from churnml.io.sources import SourceError, connect_warehouse

        try:
            con = connect_warehouse(cfg, read_only=True)
        except SourceError:
            return  # held by another run: the flow waits for it
        try:
            history = score_history.history(con, cfg)
            scored, where = history.as_ofs(), history.describe()
        finally:
            con.disconnect()
    except SinkError as exc:
        raise _fail(failure_line(exc), 1) from None
    if not scored:
        raise _fail(f"evaluation error: no scored as-of in {where}: run `churnml score` first", 1)
    if requested is not None and requested not in scored:
        shown = ", ".join(str(a) for a in scored[-6:])
        raise _fail(
            f"evaluation error: as-of {requested} was never scored in {where} (latest scored: "
            f"{shown})",
            1,
        )
    from churnml.io.preflight import refuse_an_immature_evaluation
    from churnml.track_record import TrackRecordError

    try:
        refuse_an_immature_evaluation(cfg, scored, requested, where)
    except TrackRecordError as exc:
        raise _fail(failure_line(exc), 1) from None


@app.command()
def evaluate(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="scored as-of YYYY-MM-DD; default: the latest whose horizon is over"
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Track record: scores written one horizon ago against what happened, logged and reported."""
    chosen = _as_of(as_of)
    cfg = _config(config, sources=True, writes=("warehouse", "mlflow", "reports", "prefect"))
    from churnml.io.preflight import sources_read_once

    with sources_read_once(cfg):  # both checks read the sources: once
        _require_a_scoring_run(cfg, chosen)
        _refuse_bad_data(cfg)
    _refuse_an_unreachable_store(cfg)
    _quiet_prefect()
    from flows.evaluation import evaluation_flow

    result = _run_flow(
        lambda: evaluation_flow(config_path=str(config) if config else None, as_of=chosen),
        "churnml evaluate",
    )
    typer.echo(result["headline"])
    typer.echo(f"written: {result['written']}")
    typer.echo(f"MLflow run: {result['run_id']}")
    typer.echo(f"report: {result['report']}")


@app.command("serve")
def serve_command(config: ConfigOption = None) -> None:
    """Register the scoring and retraining schedules with a Prefect server and run them."""
    cfg = _config(config, sources=True, writes=ALL_OUTPUTS)
    _refuse_an_unreachable_store(cfg)
    from churnml.io.mlflow_store import prefect_server_problem

    problem = prefect_server_problem()
    if problem is not None:
        raise _fail(f"schedule error: {problem[0]}", problem[1])
    _quiet_prefect()
    from flows.deployments import ScheduleError, serve_schedules

    path = str(Path(config).resolve()) if config else None
    try:
        serve_schedules(cfg, path)
    except ScheduleError as exc:
        raise _fail(str(exc)) from None


def main() -> None:  # pragma: no cover
    sys.exit(app())


def _percent(value) -> str:
    return "-" if value is None or value != value else f"{float(value):.0%}"


def _driver_lines(drivers, model: str, title: str) -> list[str]:
    """Driver families as the report's account view lists them: label, sentence, push (from
    the long driver frame, ``explain.DRIVER_COLUMNS``)."""
    picked = drivers[drivers["model"] == model]
    lines = []
    for side, heading in (("risk", f"{title}, pushing up"), ("protective", "holding it down")):
        entries = picked[picked["direction"] == side].sort_values("rank", kind="stable")
        lines.append(f"{heading}:" + ("" if len(entries) else " none"))
        lines += [
            f"  {d.label}: {d.sentence} ({d.impact:+.3f})" for d in entries.itertuples(index=False)
        ]
    return lines


def account_card(row) -> str:
    """One scored account as text: scores, play, churn and upsell drivers, change since last run."""
    import pandas as pd

    from churnml.explain import stored_drivers

    lines = [
        f"{row['account_name']} ({row['account_id']}), as of {pd_date(row['as_of'])}",
        f"churn risk {_percent(row['p_churn'])} ({row.get('churn_tier') or '-'}) · "
        f"upsell {_percent(row['p_upsell'])} ({row.get('upsell_tier') or '-'}) · "
        f"health {row['health_score']} · ARR {money(row['arr'])} · {row['touch_model']}-touch",
        f"play: {row['play_name']}: {row['recommended_play']} "
        f"(owner {row['play_owner']}, due {pd_date(row['play_due'])})",
    ]
    drivers = stored_drivers(pd.DataFrame([row]))
    if row["p_churn"] == row["p_churn"]:  # not NULL: a churn model scored it
        lines += _driver_lines(drivers, "churn", "churn risk")
    else:
        lines.append("churn: no churn model scored this run (see the report)")
    if row["p_upsell"] == row["p_upsell"]:
        lines += _driver_lines(drivers, "upsell", "upsell readiness")
    change = row.get("change_summary")
    if isinstance(change, str) and change:
        lines.append(f"change since {pd_date(row.get('previous_as_of'))}: {change}")
    return "\n".join(lines)


def pd_date(value) -> str:
    import pandas as pd

    return "-" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


@app.command()
def models(config: ConfigOption = None) -> None:
    """List each target's registered model versions, the champion and the gate's reason."""
    cfg = _config(config, warehouse=False, store=True)
    _refuse_a_missing_store(cfg)
    _refuse_an_unreachable_store(cfg)
    from churnml.io import registry
    from churnml.io.tracking import TrackingError, configure

    try:
        configure(cfg)
        for target in ("churn", "upsell"):
            name = registry.model_name(cfg, target)
            versions = registry.list_versions(cfg, target)
            champion = versions.loc[versions["champion"], "version"].tolist()
            if champion:
                typer.echo(f"{target} ({name}): champion version {champion[0]}")
            else:
                typer.echo(f"{target} ({name}): {registry.why_no_champion(cfg, target)}")
            for v in versions.itertuples():
                mark = "*" if v.champion else " "
                typer.echo(f" {mark} version {v.version}  {v.created:%Y-%m-%d %H:%M}  {v.gate}")
    except TrackingError as exc:
        typer.secho(failure_line(exc), fg="red", err=True)
        raise typer.Exit(1) from exc


@app.command()
def explain(
    account: Annotated[str, typer.Argument(help="account id, or the exact account name")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD of a scoring run; default: latest")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print one account's scores, play and drivers as the report shows them."""
    from churnml.api import AccountNotFound, find_account, stored_scores
    from churnml.io.sinks import SinkError

    wanted = _as_of(as_of)
    cfg = _config(config)
    try:
        row = find_account(stored_scores(cfg, wanted), account)
    except (SinkError, AccountNotFound) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(account_card(row.to_dict()))


if __name__ == "__main__":  # pragma: no cover
    main()
