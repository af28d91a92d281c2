"""Schedules: `churnml serve` registers the deployments on a real Prefect server, which then
schedules runs; without a server it refuses clearly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from churnml.config import ScheduleConfig, default_config

BIN = Path(sys.executable).parent


def test_schedule_config_rejects_bad_crons_and_time_zones():
    assert ScheduleConfig(scoring_cron="*/15 6-18 * * mon-fri", timezone="Asia/Tokyo")
    for bad in ("0 25 * * *", "0 6 * *", "0 6 * * 9", "0 6 1-40 * *"):
        with pytest.raises(ValidationError, match="cron"):
            ScheduleConfig(scoring_cron=bad)
    with pytest.raises(ValidationError, match="unknown time zone"):
        ScheduleConfig(timezone="Mars/Olympus")


def test_deployments_carry_the_configured_schedules():
    from flows.deployments import SCORING_DEPLOYMENT, TRAINING_DEPLOYMENT, build_deployments

    cfg = default_config()
    cfg = cfg.model_copy(
        update={"schedules": ScheduleConfig(scoring_cron="30 7 * * 1-5", timezone="Asia/Tokyo")}
    )
    scoring, training = build_deployments(cfg, "/srv/churnml.yaml")
    assert scoring.name == SCORING_DEPLOYMENT and training.name == TRAINING_DEPLOYMENT
    schedule = scoring.schedules[0].schedule
    assert schedule.cron == "30 7 * * 1-5" and schedule.timezone == "Asia/Tokyo"
    assert training.schedules[0].schedule.cron == "0 3 1 * *"
    assert scoring.parameters["config_path"] == "/srv/churnml.yaml"
    only_scoring = cfg.model_copy(
        update={"schedules": cfg.schedules.model_copy(update={"training_enabled": False})}
    )
    assert [d.name for d in build_deployments(only_scoring, None)] == [SCORING_DEPLOYMENT]


def test_serve_refuses_without_a_prefect_server(monkeypatch, tmp_path):
    from churnml.cli import app

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "prefect server start" in result.output and "PREFECT_API_URL" in result.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 150) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
    return proc.returncode


@pytest.mark.server
@pytest.mark.slow
def test_serve_registers_deployments_and_the_server_schedules_runs(tmp_path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") or k == "PREFECT_LOGGING_LEVEL"
    }
    server_env = {
        **base_env,
        "PREFECT_HOME": str(tmp_path / "server-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
        "PREFECT_UI_ENABLED": "false",
    }
    server_log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - outlives the server
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    serve = None
    try:
        if not wait_healthy(api, server):
            message = (
                f"Prefect server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}"
            )
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        config = tmp_path / "churnml.yaml"
        raw = {"schedules": {"scoring_cron": "0 6 * * *", "timezone": "Asia/Tokyo"}}
        raw["sources"] = {
            t: {"source": {"kind": "duckdb", "table": t}}
            for t in ("accounts", "subscriptions", "usage_events", "support_tickets")
        }
        config.write_text(yaml.safe_dump(raw), encoding="utf-8")
        serve_log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - outlives serve
        serve = subprocess.Popen(
            [str(BIN / "churnml"), "serve", "--config", str(config)],
            env={
                **base_env,
                "PREFECT_API_URL": api,
                "PREFECT_HOME": str(tmp_path / "client-home"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            },
            cwd=tmp_path,
            stdout=serve_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline, deployments, scheduled = time.time() + 120, {}, []
        both = {"churnml-daily-scoring", "churnml-monthly-retraining"}
        # serve registers the two deployments one after the other: wait for both, not the first
        while time.time() < deadline and not (scheduled and both <= set(deployments)):
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            found = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
            deployments = {d["name"]: d for d in found}
            scoring = deployments.get("churnml-daily-scoring")
            if scoring:
                runs = httpx.post(
                    f"{api}/flow_runs/filter",
                    json={
                        "deployments": {"id": {"any_": [scoring["id"]]}},
                        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                    },
                    timeout=10,
                ).json()
                scheduled = [r for r in runs if r["expected_start_time"]]
            time.sleep(2)
        assert set(deployments) >= both
        schedule = deployments["churnml-daily-scoring"]["schedules"][0]["schedule"]
        assert schedule["cron"] == "0 6 * * *" and schedule["timezone"] == "Asia/Tokyo"
        monthly = deployments["churnml-monthly-retraining"]["schedules"][0]["schedule"]
        assert monthly["cron"] == "0 3 1 * *"
        assert deployments["churnml-daily-scoring"]["parameters"]["config_path"] == str(config)
        assert scheduled, "the server scheduled no scoring run"
        # 06:00 in Tokyo is 21:00 UTC
        assert scheduled[0]["expected_start_time"][11:16] == "21:00"
    finally:
        if serve is not None:
            assert stop(serve) is not None
        stop(server)
    assert serve.returncode is not None and server.poll() is not None
