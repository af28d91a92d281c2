"""Where the MLflow store is, without importing MLflow: a read-only command that finds no
local store answers at once instead of creating an empty one. Also whether the servers a
command talks to (the MLflow tracking server, the Prefect server `churnml serve` registers
with) answer at all, in seconds."""

from __future__ import annotations

import os
from pathlib import Path

from churnml.config import ChurnmlConfig

# `mlflow.set_tracking_uri` copies every store it is given into MLFLOW_TRACKING_URI, so in one
# process (a notebook, the API) a later config would silently keep an earlier config's store.
_FROM_CONFIG: set[str] = set()


def _user_store() -> str | None:
    """MLFLOW_TRACKING_URI when the user set it, None when it holds a store from a config."""
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    return None if not from_env or from_env in _FROM_CONFIG else from_env


def user_store() -> bool:
    """Whether the store comes from MLFLOW_TRACKING_URI (it takes precedence over the config)."""
    return _user_store() is not None


def tracking_uri(cfg: ChurnmlConfig) -> str:
    """The MLflow store: MLFLOW_TRACKING_URI when the user set it (where a URL with a password
    belongs), else the config's, with a relative SQLite path made absolute."""
    from_env = _user_store()
    if from_env:
        return from_env
    uri = cfg.mlflow.tracking_uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{cfg.resolve(uri.removeprefix('sqlite:///'))}"
    _FROM_CONFIG.add(uri)
    return uri


def local_store(cfg: ChurnmlConfig) -> Path | None:
    """The SQLite file of a local store, None for a server: a read-only command looks for it
    before MLflow would create an empty store just to find nothing in it."""
    uri = tracking_uri(cfg)
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


# The schemes of the stores MLflow can track to ("" is a local folder path).
_KNOWN_SCHEMES = (
    "",
    "file",
    "sqlite",
    "http",
    "https",
    "postgresql",
    "mysql",
    "mssql",
    "databricks",
    "databricks-uc",
    "uc",
)


def _names_nothing(uri: str, scheme: str, host: str | None) -> str | None:
    """What is missing from a store URI that names no server or no file, else None."""
    if scheme in ("http", "https") and not host:
        return "names no host (expected http://host:port of a tracking server)"
    if scheme == "sqlite" and uri.removeprefix("sqlite://").strip("/") in ("", ":memory:"):
        return (
            "names no database file (an in-memory store forgets every model when the command "
            "ends; expected sqlite:///path/to/mlflow.db)"
        )
    return None


def _sqlite_or_new(path: Path) -> bool:
    """An SQLite database, or an empty or missing file that MLflow creates one in."""
    if not path.is_file():
        return True
    with path.open("rb") as fh:
        head = fh.read(16)
    return not head or head == b"SQLite format 3\x00"


def _windows_drive(scheme: str) -> bool:
    """C:\\mlruns parses with the scheme 'c'."""
    return len(scheme) == 1


# The port a store URL means when it names none.
_DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306, "mssql": 1433}


def store_uri_mistake(cfg: ChurnmlConfig) -> str | None:
    """One line when the store URI itself is wrong (a port that is no number, no host, no
    database file, a folder or another kind of file, a scheme MLflow cannot use), else None: a
    setting to fix, said before anything reads or connects (MLflow would answer with its own
    message, or retry for minutes)."""
    from urllib.parse import urlsplit

    from churnml.urls import mask_url

    uri = tracking_uri(cfg)
    key = "MLFLOW_TRACKING_URI" if user_store() else "mlflow.tracking_uri"
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 (parsing it is the check)
    except ValueError:
        port = parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[-1]
        return (
            f"MLflow store {mask_url(uri)} has a port that is no number from 1 to 65535 "
            f"({port!r}); fix {key}: http://host:port of a tracking server (e.g. "
            "http://localhost:5000). Nothing was run or written."
        )
    nameless = _names_nothing(uri, parts.scheme, parts.hostname)
    store = local_store(cfg)
    if nameless is None and store is not None and store.is_dir():
        nameless = f"is a folder, not a database file (expected sqlite:///{store / 'mlflow.db'})"
    elif nameless is None and store is not None and not _sqlite_or_new(store):
        nameless = "is not an SQLite database (another kind of file: another store's file?)"
    if nameless:
        return f"MLflow store {mask_url(uri)} {nameless}; fix {key}. Nothing was run or written."
    if parts.scheme.split("+")[0] not in _KNOWN_SCHEMES and not _windows_drive(parts.scheme):
        return (
            f"MLflow store {mask_url(uri)} has a scheme MLflow cannot use ({parts.scheme}://); "
            f"fix {key}: sqlite:///path/to/mlflow.db, http://host:port of a tracking server, "
            "or a database URL (postgresql://, mysql://). Nothing was run or written."
        )
    return None


def unreachable_store(
    cfg: ChurnmlConfig, timeout: float = 3.0, http_timeout: float = 5.0
) -> str | None:
    """One line when the store is a server that does not answer a single connection within
    `timeout` seconds (or, for an HTTP server, one request within `http_timeout` seconds), else
    None. MLflow itself waits through its HTTP retries (minutes) before it gives up; a command
    checks this first, before anything slow starts. A URI that is wrong in itself is
    `store_uri_mistake`'s to say."""
    from urllib.parse import urlsplit

    from churnml.urls import mask_url

    uri = tracking_uri(cfg)
    key = "MLFLOW_TRACKING_URI" if user_store() else "mlflow.tracking_uri"
    if store_uri_mistake(cfg) is not None:
        return None
    parts = urlsplit(uri)
    host, port = parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme.split("+")[0])
    if not host or port is None:
        return None  # a local store, or a scheme only MLflow knows how to reach
    why = _no_connection(host, port, timeout)
    if why is None and parts.scheme in ("http", "https"):
        why = _no_http_answer(parts.scheme, host, port, parts.path, http_timeout)
    if why is None:
        return None
    return (
        f"MLflow store {mask_url(uri)} is unreachable ({host}:{port}: {why}); start the "
        f"tracking server, or fix {key}. Nothing was run or written."
    )


def _no_connection(host: str, port: int, timeout: float) -> str | None:
    """Why no connection to host:port opens within `timeout` seconds, else None."""
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return None
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            return f"no answer within {timeout:g} s"
        return (exc.strerror or str(exc)).lower()


def _no_http_answer(scheme: str, host: str, port: int, path: str, timeout: float) -> str | None:
    """Why a server that accepts connections is no tracking server to talk to (it sends no
    HTTP answer within `timeout` seconds), else None. Any answer counts, even an error status:
    the server is there, and MLflow says what is wrong with the request."""
    import http.client
    import ssl

    if scheme == "https":  # only whether it answers: a certificate is MLflow's to judge
        context = ssl._create_unverified_context()  # noqa: S323
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path.rstrip("/") + "/health")
        connection.getresponse().close()
        return None
    except TimeoutError:
        return f"accepts connections but sends no HTTP answer within {timeout:g} s"
    except (OSError, http.client.HTTPException) as exc:
        return f"accepts connections but does not answer HTTP ({(str(exc) or type(exc).__name__).lower()})"
    finally:
        connection.close()


def prefect_server_problem(
    timeout: float = 3.0, http_timeout: float = 5.0
) -> tuple[str, int] | None:
    """(one line, exit code) when PREFECT_API_URL, the server `churnml serve` registers its
    schedules with, is wrong in itself (2) or does not answer (1), else None (also when it is
    unset: serving says so). Prefect would answer with pages of traceback after its retries."""
    from urllib.parse import urlsplit

    from churnml.urls import mask_url

    url = os.environ.get("PREFECT_API_URL", "")
    if not url:
        return None
    parts = urlsplit(url)
    fix = "fix PREFECT_API_URL (e.g. http://127.0.0.1:4200/api). Nothing was registered or run."
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return (
            f"Prefect server {mask_url(url)} has a port that is no number from 1 to 65535; {fix}",
            2,
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"Prefect server {mask_url(url)} is no http://host:port/api address; {fix}", 2
    why = _no_connection(parts.hostname, port, timeout) or _no_http_answer(
        parts.scheme, parts.hostname, port, parts.path, http_timeout
    )
    if why is None:
        return None
    return (
        f"Prefect server {mask_url(url)} is unreachable ({parts.hostname}:{port}: {why}); start "
        f"it (prefect server start), or {fix}",
        1,
    )
