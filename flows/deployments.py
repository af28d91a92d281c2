"""Scheduled deployments: daily scoring and monthly retraining, served against a Prefect server.

The ephemeral API that `churnml train` / `score` use cannot run schedules, so `churnml serve`
refuses to start without PREFECT_API_URL (see docs/schedules.md).
"""

from __future__ import annotations

import os

from prefect import serve
from prefect.schedules import Cron

from churnml.config import ChurnmlConfig
from flows.scoring import scoring_flow
from flows.training import training_flow

SCORING_DEPLOYMENT = "churnml-daily-scoring"
TRAINING_DEPLOYMENT = "churnml-monthly-retraining"


class ScheduleError(RuntimeError):
    """Schedules cannot be served here (no Prefect server configured)."""


def require_server() -> str:
    url = os.environ.get("PREFECT_API_URL", "")
    if not url:
        raise ScheduleError(
            "schedules need a Prefect server: the ephemeral API cannot run them. Start one with "
            "`prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api "
            "(see docs/schedules.md)"
        )
    return url


def build_deployments(cfg: ChurnmlConfig, config_path: str | None) -> list:
    """The enabled deployments, with the config's crons and time zone."""
    s = cfg.schedules
    tags = ["churnml"]
    deployments = []
    if s.scoring_enabled:
        deployments.append(
            scoring_flow.to_deployment(
                name=SCORING_DEPLOYMENT,
                schedules=[Cron(s.scoring_cron, timezone=s.timezone)],
                parameters={"config_path": config_path, "lang": s.lang},
                description="Score every active account as of today and write the results back.",
                tags=[*tags, "scoring"],
            )
        )
    if s.training_enabled:
        deployments.append(
            training_flow.to_deployment(
                name=TRAINING_DEPLOYMENT,
                schedules=[Cron(s.training_cron, timezone=s.timezone)],
                parameters={"config_path": config_path},
                description="Retrain both models; the champion moves only if the gate agrees.",
                tags=[*tags, "training"],
            )
        )
    if not deployments:
        raise ScheduleError("schedules: both scoring and training are disabled; nothing to serve")
    return deployments


def serve_schedules(cfg: ChurnmlConfig, config_path: str | None) -> None:
    """Register the deployments and run their scheduled flow runs until stopped (SIGTERM/Ctrl-C)."""
    require_server()
    serve(*build_deployments(cfg, config_path), print_starting_message=True)
