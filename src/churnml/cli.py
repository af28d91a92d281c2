"""The `churnml` command: demo data, data checks, training, scoring, evaluation and schedules."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Churn and expansion prediction for Customer Success teams.", no_args_is_help=True
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="churnml.yaml; default: the embedded demo config in the current folder",
    ),
]


def _config(path: Path | None):
    from churnml.config import ConfigError, default_config, load_config

    try:
        return load_config(path) if path else default_config(Path.cwd())
    except ConfigError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc


def _known_failures() -> tuple[type[Exception], ...]:
    """Failures whose message already says what to fix: shown without a traceback."""
    from churnml.drift import DriftError
    from churnml.io.sinks import SinkError
    from churnml.io.sources import SourceError
    from churnml.io.tracking import TrackingError
    from churnml.track_record import TrackRecordError
    from churnml.validation import DataValidationError

    return (
        DataValidationError,
        SourceError,
        SinkError,
        TrackingError,
        DriftError,
        TrackRecordError,
    )


def _run_flow(run):
    try:
        return run()
    except _known_failures() as exc:
        typer.secho(f"{type(exc).__name__}: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc


def _quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


@app.command("demo-data")
def demo_data(
    accounts: Annotated[int, typer.Option(help="number of accounts")] = 2000,
    months: Annotated[int, typer.Option(help="months of history")] = 24,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    events_per_user_day: Annotated[
        float,
        typer.Option(help="usage intensity; 0.12 gives ~50M events at 100k accounts x 13 months"),
    ] = 0.12,
    config: ConfigOption = None,
) -> None:
    """Generate a realistic B2B SaaS dataset into the configured DuckDB warehouse."""
    from churnml.io.warehouse_writer import write_demo_warehouse

    cfg = _config(config)
    path = cfg.resolve(cfg.warehouse.path)
    counts = write_demo_warehouse(
        path, accounts, months, seed, events_per_user_day=events_per_user_day
    )
    typer.echo(f"demo warehouse {path}: " + ", ".join(f"{k}={v:,}" for k, v in counts.items()))


@app.command("check-data")
def check_data(config: ConfigOption = None) -> None:
    """Load every source through the mapping, print a profile and run the data checks."""
    from churnml.io.profile import profile_sources
    from churnml.io.sources import SourceError, connect_for_checks, load_sources
    from churnml.validation import validate_sources

    cfg = _config(config)
    try:
        con = connect_for_checks(cfg)
        mapped = load_sources(con, cfg)
    except SourceError as exc:
        typer.secho(f"mapping error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(profile_sources(mapped))
    problems = validate_sources(mapped, None, cfg.validation, cfg.labels.plan_order)
    warnings = [p for p in problems if p.severity == "warning"]
    errors = [p for p in problems if p.severity == "error"]
    if warnings:
        typer.secho(f"{len(warnings)} data warning(s) (runs go on):", fg="yellow")
        for p in warnings:
            typer.secho(f"  - {p}", fg="yellow")
    if errors:
        typer.secho(f"{len(errors)} data problem(s):", fg="red", err=True)
        for p in errors:
            typer.secho(f"  - {p}", fg="red", err=True)
        raise typer.Exit(1)
    typer.secho("all checks passed" + (" (with warnings)" if warnings else ""), fg="green")


@app.command()
def train(config: ConfigOption = None) -> None:
    """Retrain the churn and upsell models; promote a model only when it beats the champion."""
    _quiet_prefect()
    from flows.training import training_flow

    summary = _run_flow(lambda: training_flow(config_path=str(config) if config else None))
    typer.echo(summary["markdown"])


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
    _quiet_prefect()
    from flows.scoring import scoring_flow

    if lang not in ("en", "ja"):
        typer.secho("--lang must be en or ja", fg="red", err=True)
        raise typer.Exit(2)
    result = _run_flow(
        lambda: scoring_flow(
            config_path=str(config) if config else None,
            as_of=date.fromisoformat(as_of) if as_of else None,
            lang=lang,
        )
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
    if result.get("drifted"):
        typer.secho(
            "DRIFT: the data moved since training; scores may be less reliable: "
            + result["drift"]["headline"],
            fg="yellow",
        )


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
    _quiet_prefect()
    from flows.evaluation import evaluation_flow

    try:
        chosen = date.fromisoformat(as_of) if as_of else None
    except ValueError as exc:
        typer.secho(f"--as-of must be YYYY-MM-DD, got {as_of!r}", fg="red", err=True)
        raise typer.Exit(2) from exc
    result = _run_flow(
        lambda: evaluation_flow(config_path=str(config) if config else None, as_of=chosen)
    )
    typer.echo(result["headline"])
    typer.echo(f"written: {result['written']}")
    typer.echo(f"MLflow run: {result['run_id']}")
    typer.echo(f"report: {result['report']}")


@app.command("serve")
def serve_command(config: ConfigOption = None) -> None:
    """Register the scoring and retraining schedules with a Prefect server and run them."""
    _quiet_prefect()
    cfg = _config(config)
    from flows.deployments import ScheduleError, serve_schedules

    path = str(Path(config).resolve()) if config else None
    try:
        serve_schedules(cfg, path)
    except ScheduleError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc


def main() -> None:  # pragma: no cover
    sys.exit(app())
