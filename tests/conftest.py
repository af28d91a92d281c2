from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")


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
