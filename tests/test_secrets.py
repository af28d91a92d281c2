"""No password reaches a terminal, a log, MLflow, the warehouse or a report, whatever the URL's
form and wherever it was written (config file, environment; Secret blocks: test_security.py)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from churnml.cli import app

MARK = "Zq7Secr"  # every password below contains it: any leak, whole or partial, shows it
PLAIN = f"{MARK}-Pw-91bc"
SPECIAL = f"{MARK}@Pw/9:1"  # needs percent-encoding in a URL
ENCODED = SPECIAL.replace("@", "%40").replace("/", "%2F").replace(":", "%3A")

# name -> (URL, the password as the server would see it); nothing listens on port 1
FORMS = {
    "user and password": (f"postgresql+psycopg://etl:{PLAIN}@127.0.0.1:1/prod", PLAIN),
    "password, no user": (f"postgresql+psycopg://:{PLAIN}@127.0.0.1:1/prod", PLAIN),
    "extra slash": (f"postgresql+psycopg:///etl:{PLAIN}@127.0.0.1:1/prod", PLAIN),
    "extra slashes": (f"postgresql+psycopg:////etl:{PLAIN}@127.0.0.1:1/prod", PLAIN),
    "percent-encoded": (f"postgresql+psycopg://etl:{ENCODED}@127.0.0.1:1/prod", SPECIAL),
    "unencoded @": (f"postgresql+psycopg://etl:{MARK}@x@127.0.0.1:1/prod", f"{MARK}@x"),
    "not a port": (f"postgresql+psycopg://etl:{PLAIN}@127.0.0.1:notaport/prod", PLAIN),
    "?password=": (f"postgresql+psycopg://127.0.0.1:1/prod?user=etl&password={PLAIN}", PLAIN),
    "?sslpassword=": (f"postgresql+psycopg://etl@127.0.0.1:1/prod?sslpassword={PLAIN}", PLAIN),
    "?PWD=": (f"mssql+pyodbc://127.0.0.1:1/prod?UID=etl&PWD={PLAIN}", PLAIN),
    "http with user": (f"http://etl:{PLAIN}@127.0.0.1:1", PLAIN),
    "http, no user": (f"http://:{PLAIN}@127.0.0.1:1/", PLAIN),
}
DATABASE_FORMS = {k: v for k, v in FORMS.items() if not k.startswith("http")}


def leaked(text: str) -> bool:
    return any(s in text for s in (MARK, ENCODED))


@pytest.mark.parametrize("form", list(FORMS))
def test_every_url_form_is_recognised_and_masked(form):
    from churnml.urls import has_secret, mask_url, redact

    url, password = FORMS[form]
    assert has_secret(url)
    assert not leaked(mask_url(url)) and "127.0.0.1" in mask_url(url)
    message = f"could not connect to {url}: password authentication failed for {password!r}"
    assert not leaked(redact(message, url)), redact(message, url)


def test_urls_without_secrets_are_left_alone():
    from churnml.urls import has_secret, mask_url

    for url in ("sqlite:///mlruns/mlflow.db", "http://mlflow:5000", "postgresql://etl@db/prod"):
        assert not has_secret(url) and mask_url(url) == url
    assert not has_secret("a plain value") and not has_secret("data/*.csv")


PLACES = {
    "unknown top-level key": (("database_url",), "url_env"),
    "unknown key in a source": (("sources", "accounts", "url"), "CHURNML_SOURCE_URL"),
    "source path": (("sources", "accounts", "source", "path"), "CHURNML_SOURCE_URL"),
    "sink": (("output", "sinks", 0, "path"), "CHURNML_POSTGRES_URL"),
    "mlflow.tracking_uri": (("mlflow", "tracking_uri"), "MLFLOW_TRACKING_URI"),
}


@pytest.mark.parametrize("place", list(PLACES))
def test_a_url_with_a_password_anywhere_in_the_config_is_refused_without_echo(tmp_path, place):
    keys, home = PLACES[place]
    for form, (url, _) in FORMS.items():
        names = ("accounts", "subscriptions", "usage_events", "support_tickets")
        raw = {
            "sources": {n: {"source": {"kind": "duckdb", "table": n}} for n in names},
            "output": {"sinks": [{"kind": "csv"}]},
        }
        node = raw
        for key in keys[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        if keys[:-1] == ("sources", "accounts", "source"):
            raw["sources"]["accounts"]["source"] = {"kind": "file", "path": url}
        else:
            node[keys[-1]] = url
        path = tmp_path / "churnml.yaml"
        path.write_text(yaml.safe_dump(raw))
        result = CliRunner().invoke(app, ["check-data", "-c", str(path)])
        assert result.exit_code == 2, (form, result.output)
        assert not leaked(result.output), (form, result.output)
        assert "holds a URL with a password" in result.stderr and home in result.stderr, form
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("form", list(DATABASE_FORMS))
def test_sql_sources_and_sinks_never_show_a_password_from_the_environment(
    monkeypatch, caplog, capsys, form
):
    import pandas as pd

    from churnml.config import SinkConfig
    from churnml.io.sinks import SinkError, write_postgres
    from churnml.io.sources import SourceError, read_sql_frame

    monkeypatch.setenv("CHURNML_TEST_URL", DATABASE_FORMS[form][0])
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as source_err:
        read_sql_frame("CHURNML_TEST_URL", "SELECT 1", "accounts")
    scored = pd.DataFrame({"account_id": ["acc_a"], "as_of": pd.Timestamp("2025-01-01")})
    with pytest.raises(SinkError) as sink_err:
        write_postgres(scored, SinkConfig(kind="postgres", url_env="CHURNML_TEST_URL"))
    out = capsys.readouterr()
    for text in (str(source_err.value), str(sink_err.value), caplog.text, out.out, out.err):
        assert not leaked(text), text
    assert "$CHURNML_TEST_URL" in str(source_err.value)


@pytest.mark.parametrize("form", list(FORMS))
def test_an_unreachable_tracking_store_never_shows_its_password(
    monkeypatch, caplog, capsys, tmp_path, form
):
    import mlflow.store.db.utils

    from churnml.config import default_config
    from churnml.io.tracking import TrackingError, configure

    monkeypatch.setenv("MLFLOW_TRACKING_URI", FORMS[form][0])
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.setattr(mlflow.store.db.utils, "MAX_RETRY_COUNT", 1)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TrackingError) as err:
        configure(default_config(tmp_path))
    out = capsys.readouterr()
    assert "unreachable" in str(err.value) and "127.0.0.1" in str(err.value)
    for text in (str(err.value), caplog.text, out.out, out.err):
        assert not leaked(text), text
    assert err.value.__cause__ is None and err.value.__suppress_context__


@pytest.mark.slow
def test_a_scoring_run_against_an_unreachable_store_leaks_nowhere(tmp_path):
    """The issue's case end to end: the CLI, a real flow, Prefect's logs, every file written."""
    from factories import frames

    srcs = {}
    for name, frame in frames().items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        srcs[name] = {"source": {"kind": "file", "path": f"{name}.csv"}}
    raw = {"sources": srcs, "warehouse": {"path": "wh.duckdb"}, "retries": {"source_reads": 0}}
    (tmp_path / "churnml.yaml").write_text(yaml.safe_dump(raw))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "MLFLOW_TRACKING_URI": FORMS["http, no user"][0],
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
        "CHURNML_POSTGRES_URL": FORMS["extra slash"][0],
        "CHURNML_SOURCE_URL": FORMS["?password="][0],
    }
    result = subprocess.run(
        [sys.executable, "-m", "churnml.cli", "score", "-c", str(tmp_path / "churnml.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "tracking error: MLflow store http://:***@127.0.0.1:1/ is unreachable" in result.stderr
    assert not leaked(result.stdout + result.stderr)
    files = [p for p in Path(tmp_path).rglob("*") if p.is_file()]
    assert "accounts.csv" in {p.name for p in files}
    prefect_home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
    files += list(prefect_home.glob("*.db"))  # Prefect's store: flow runs and their logs
    for path in files:
        assert not leaked(path.read_bytes().decode("utf-8", errors="replace")), path
