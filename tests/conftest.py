from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def _own_prefect_home() -> str:
    """A Prefect home of this test process's own (before Prefect is imported): the CLI runs and
    subprocesses that start Prefect's temporary server migrate and write `prefect.db` there, and
    two pytest-xdist workers (or a user's `~/.prefect`) sharing one SQLite file lock each other."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    home = tempfile.mkdtemp(prefix=f"churnml-tests-prefect-{worker}-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


os.environ["PREFECT_HOME"] = _own_prefect_home()
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` with the slowest files first and shared-fixture files on one worker
    (worker_schedule.py); any other `--dist` is xdist's own."""
    if config.getvalue("dist") != "loadfile":
        return None
    from worker_schedule import SlowestFirstFileScheduling

    return SlowestFirstFileScheduling(config, log)


@pytest.fixture(autouse=True)
def _tracking_store_stays_in_its_test():
    """`mlflow.set_tracking_uri` writes MLFLOW_TRACKING_URI, which churnml reads as the user's
    store: a test that points MLflow somewhere must not send every later test there."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture
def tiny_frames():
    from factories import frames

    return frames()


@pytest.fixture
def tiny_tables(tiny_frames):
    from factories import tables

    return tables(tiny_frames)


@pytest.fixture(scope="session")
def prefect_backend():
    """One temporary Prefect API for every flow test of the session: each harness starts a
    server and migrates a fresh database, seconds that repeat per module for nothing. Flow runs
    of different tests share its database but never read each other's runs."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def trained_demo(prefect_backend, tmp_path_factory):
    """The small demo trained and scored through `churnml.api` once per session (api_demo.py);
    a test that writes to it works on `api_demo.copy_trained_demo` instead."""
    from api_demo import build_trained_demo

    return build_trained_demo(tmp_path_factory.mktemp("api-demo"))
