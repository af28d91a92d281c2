"""Write scored accounts back where CS works: DuckDB, PostgreSQL, Parquet/CSV for CRM import.

Every kind of sink is one `Sink`: it writes a run in one transaction (or one atomic file rename),
lists the as-ofs it holds, reads one back and finds the run before a date, so the scoring flow's
"change since last run" and `churnml evaluate` work on whichever sink is configured. A run that
fails leaves the previous results untouched, and rerunning an as-of replaces its rows instead of
adding more. In a database ``<table>`` holds the current outreach list (the latest as-of scored)
and ``<table>_history`` keeps every as-of; a file sink keeps one ``<table>_<as_of>.<kind>`` file
per as-of. A newer churnml's extra output columns join existing tables (older rows get NULL);
older files simply lack them.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from datetime import date
from pathlib import Path

import pandas as pd

from churnml.config import ChurnmlConfig, SinkConfig
from churnml.io.sources import SourceError, quote_identifier, redact, resolve_url


class SinkError(RuntimeError):
    """A sink could not be written; nothing of this run was committed to it."""


def _as_of_value(scored: pd.DataFrame, as_of=None) -> pd.Timestamp:
    """The run's one as-of, checked against the one the caller says it writes."""
    values = scored["as_of"].unique()
    if len(values) != 1:
        raise SinkError(f"a scoring run must hold exactly one as_of, got {len(values)}")
    found = pd.Timestamp(values[0])
    if as_of is not None and found != pd.Timestamp(as_of):
        raise SinkError(f"the scored rows are as of {found:%Y-%m-%d}, not {as_of}")
    return found


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows read back from any sink look alike: as_of as datetime64[us], account ids as text."""
    if frame.empty:
        return frame
    frame["as_of"] = pd.to_datetime(frame["as_of"], format="ISO8601").astype("datetime64[us]")
    frame["account_id"] = frame["account_id"].astype("str")
    return frame


class Sink(ABC):
    """Where scoring runs are written and read back; one implementation per `SinkConfig.kind`."""

    def __init__(self, config: SinkConfig, cfg: ChurnmlConfig | None, con=None) -> None:
        self.config, self.cfg, self.con = config, cfg, con

    @abstractmethod
    def write(self, scored: pd.DataFrame, as_of) -> str:
        """Write the run all or nothing; returns where it went.

        `as_of` must be the one as-of the rows hold (None: whichever that is).
        """

    @abstractmethod
    def as_ofs(self) -> list[date]:
        """Every as-of the sink holds, oldest first."""

    @abstractmethod
    def _rows(self, as_of: pd.Timestamp) -> pd.DataFrame:
        """The rows kept for the as-of, as stored (empty when there are none)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the sink keeps every as-of, for messages."""

    def read(self, as_of) -> pd.DataFrame:
        """The rows one run wrote for the as-of (an empty frame when it was never written)."""
        return _normalised(self._rows(pd.Timestamp(as_of)))

    def previous(self, before_as_of) -> pd.DataFrame | None:
        """The latest run before `before_as_of`, or None when there is none."""
        cutoff = pd.Timestamp(before_as_of)
        earlier = [a for a in self.as_ofs() if pd.Timestamp(a) < cutoff]
        if not earlier:
            return None
        frame = self.read(max(earlier))
        return frame if len(frame) else None


# --- DuckDB --------------------------------------------------------------------------------------


def write_duckdb(con, scored: pd.DataFrame, table: str, as_of=None) -> None:
    """Replace this as-of in the history and, if it is the newest, the current list, atomically."""
    raw = getattr(con, "con", con)  # ibis backend or a plain duckdb connection
    as_of = _as_of_value(scored, as_of)
    current, history = quote_identifier(table), quote_identifier(f"{table}_history")
    raw.register("__scored_run", scored)
    try:
        raw.execute("BEGIN TRANSACTION")
        try:
            for name in (current, history):
                raw.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM __scored_run LIMIT 0"
                )
                add_new_columns(raw, name, scored, "__scored_run")
            raw.execute(f"DELETE FROM {history} WHERE as_of = ?", [as_of])
            raw.execute(f"INSERT INTO {history} BY NAME SELECT * FROM __scored_run")
            newest = raw.execute(f"SELECT max(as_of) FROM {current}").fetchall()[0][0]
            if newest is None or pd.Timestamp(newest) <= as_of:
                raw.execute(f"DELETE FROM {current}")
                raw.execute(f"INSERT INTO {current} BY NAME SELECT * FROM __scored_run")
            raw.execute("COMMIT")
        except Exception:
            raw.execute("ROLLBACK")
            raise
    finally:
        raw.unregister("__scored_run")


def add_new_columns(raw, quoted_table: str, frame: pd.DataFrame, view: str) -> None:
    """Columns added by a newer churnml join the table (older rows get NULL).

    ``view`` is the name `frame` is registered under in the DuckDB connection.
    """
    existing = {r[0] for r in raw.execute(f"DESCRIBE {quoted_table}").fetchall()}
    for col in frame.columns:
        if col not in existing:
            dtype = raw.execute(
                f"SELECT typeof({quote_identifier(col)}) FROM {view} LIMIT 1"
            ).fetchall()
            sql_type = dtype[0][0] if dtype else "VARCHAR"
            raw.execute(f"ALTER TABLE {quoted_table} ADD COLUMN {quote_identifier(col)} {sql_type}")


def duckdb_table_exists(raw, table: str) -> bool:
    return bool(
        raw.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table.split(".")[-1]]
        ).fetchall()[0][0]
    )


class DuckDBSink(Sink):
    """``<table>`` and ``<table>_history`` in the warehouse the run reads from."""

    @property
    def _raw(self):
        return getattr(self.con, "con", self.con)

    @property
    def _history(self) -> str:
        return f"{self.config.table}_history"

    def _where(self, table: str) -> str:
        return f"duckdb:{self.cfg.resolve(self.cfg.warehouse.path)}#{table}"

    def write(self, scored: pd.DataFrame, as_of) -> str:
        import duckdb

        try:
            write_duckdb(self.con, scored, self.config.table, as_of)
        except (duckdb.IOException, OSError) as exc:  # a full disk, a file gone read-only
            raise SinkError(
                f"sink duckdb {self._where(self.config.table)}: the write failed "
                f"({_first_line(exc)}) and was rolled back, earlier runs are intact; free disk "
                "space or make the warehouse writable, then score again"
            ) from None
        return self._where(self.config.table)

    def as_ofs(self) -> list[date]:
        if not duckdb_table_exists(self._raw, self._history):
            return []
        history = quote_identifier(self._history)
        rows = self._raw.execute(f"SELECT DISTINCT as_of FROM {history} ORDER BY 1").fetchall()
        return [pd.Timestamp(r[0]).date() for r in rows if r[0] is not None]

    def _rows(self, as_of: pd.Timestamp) -> pd.DataFrame:
        if not duckdb_table_exists(self._raw, self._history):
            return pd.DataFrame()
        history = quote_identifier(self._history)
        return self._raw.execute(f"SELECT * FROM {history} WHERE as_of = ?", [as_of]).df()

    def describe(self) -> str:
        return self._where(self._history)


# --- PostgreSQL ----------------------------------------------------------------------------------


def postgres_url(sink: SinkConfig) -> str:
    """The PostgreSQL sink's URL, from its environment variable or Prefect Secret block."""
    try:
        url, _ = resolve_url(
            sink.url_env or "CHURNML_POSTGRES_URL", sink.url_secret, "sink postgres"
        )
    except SourceError as exc:
        raise SinkError(str(exc)) from None
    return url


def _postgres_engine(sink: SinkConfig, url: str):
    """An engine on psycopg 3, whose COPY the writes use, whatever PostgreSQL driver the URL names."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
        if parsed.drivername.startswith("postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed)
    except Exception as exc:
        raise SinkError(
            f"sink postgres table {sink.table}: the database URL is not usable: {redact(str(exc), url)}"
        ) from None


def _postgres_type(dtype) -> str:
    """The column type pandas' `to_sql` gave earlier tables, so old and new columns agree."""
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamp with time zone"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "timestamp without time zone"
    return "text"


def _postgres_columns(conn, frame: pd.DataFrame, table: str) -> None:
    """Create the table on the first run; later, add the columns a newer churnml writes."""
    import sqlalchemy as sa

    name = quote_identifier(table)
    definitions = ", ".join(
        f"{quote_identifier(c)} {_postgres_type(t)}" for c, t in frame.dtypes.items()
    )
    conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {name} ({definitions})"))
    schema, _, bare = table.rpartition(".")
    existing = set(
        conn.execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :table "
                "AND table_schema = coalesce(CAST(:schema AS text), current_schema())"
            ),
            {"table": bare, "schema": schema or None},
        ).scalars()
    )
    for column, dtype in frame.dtypes.items():
        if column not in existing:
            conn.execute(
                sa.text(
                    f"ALTER TABLE {name} ADD COLUMN {quote_identifier(column)} "
                    f"{_postgres_type(dtype)}"
                )
            )


def _postgres_copy(conn, frame: pd.DataFrame, table: str) -> None:
    """Stream the rows with COPY on the transaction's own connection (missing values as NULL)."""
    columns = ", ".join(quote_identifier(c) for c in frame.columns)
    values = frame.astype(object).where(frame.notna(), None)
    cursor = conn.connection.driver_connection.cursor()
    with cursor, cursor.copy(f"COPY {quote_identifier(table)} ({columns}) FROM STDIN") as copy:
        for row in values.itertuples(index=False, name=None):
            copy.write_row(row)


def write_postgres(scored: pd.DataFrame, sink: SinkConfig, as_of=None) -> None:
    """Same semantics as DuckDB, on PostgreSQL, in one transaction."""
    import psycopg
    import sqlalchemy as sa

    url = postgres_url(sink)
    as_of = _as_of_value(scored, as_of)
    current, history = sink.table, f"{sink.table}_history"
    engine = _postgres_engine(sink, url)
    try:
        with engine.begin() as conn:
            # Serialise concurrent runs on this table from the very start, table creation
            # included: two first runs would otherwise race on CREATE TABLE.
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                {"name": f"churnml:{history}"},
            )
            for name in (current, history):
                _postgres_columns(conn, scored, name)
            conn.execute(sa.text(f"LOCK TABLE {quote_identifier(history)} IN EXCLUSIVE MODE"))
            conn.execute(
                sa.text(f"DELETE FROM {quote_identifier(history)} WHERE as_of = :as_of"),
                {"as_of": as_of.to_pydatetime()},
            )
            _postgres_copy(conn, scored, history)
            newest = conn.execute(
                sa.text(f"SELECT max(as_of) FROM {quote_identifier(current)}")
            ).scalar()
            if newest is None or pd.Timestamp(newest) <= as_of:
                conn.execute(sa.text(f"DELETE FROM {quote_identifier(current)}"))
                _postgres_copy(conn, scored, current)
    except (sa.exc.SQLAlchemyError, psycopg.Error) as exc:
        cause = getattr(exc, "orig", None) or exc.__cause__ or exc
        raise SinkError(
            f"sink postgres table {sink.table}: nothing written: {type(cause).__name__}: "
            f"{redact(str(cause), url)}"
        ) from None
    finally:
        engine.dispose()


class PostgresSink(Sink):
    """``<table>`` and ``<table>_history`` in the database named by `url_env` or `url_secret`."""

    @property
    def _history(self) -> str:
        return f"{self.config.table}_history"

    def _where(self, table: str) -> str:
        sink = self.config
        where = (
            f"secret {sink.url_secret}"
            if sink.url_secret
            else f"${sink.url_env or 'CHURNML_POSTGRES_URL'}"
        )
        return f"postgres:{where}#{table}"

    def write(self, scored: pd.DataFrame, as_of) -> str:
        write_postgres(scored, self.config, as_of)
        return self._where(self.config.table)

    def _query(self, sql: str, params: dict) -> pd.DataFrame:
        """`sql` on the history table (``{history}``); empty before the first run."""
        import psycopg
        import sqlalchemy as sa

        url = postgres_url(self.config)
        engine = _postgres_engine(self.config, url)
        try:
            with engine.connect() as conn:
                if not sa.inspect(conn).has_table(self._history):
                    return pd.DataFrame()
                history = quote_identifier(self._history)
                return pd.read_sql(sa.text(sql.format(history=history)), conn, params=params)
        except (sa.exc.SQLAlchemyError, psycopg.Error, pd.errors.DatabaseError) as exc:
            cause = getattr(exc, "orig", None) or exc
            raise SinkError(
                f"sink postgres table {self._history}: cannot read: {type(cause).__name__}: "
                f"{redact(str(cause), url)}"
            ) from None
        finally:
            engine.dispose()

    def as_ofs(self) -> list[date]:
        frame = self._query("SELECT DISTINCT as_of FROM {history} ORDER BY 1", {})
        return [pd.Timestamp(v).date() for v in frame.get("as_of", []) if pd.notna(v)]

    def _rows(self, as_of: pd.Timestamp) -> pd.DataFrame:
        return self._query(
            "SELECT * FROM {history} WHERE as_of = :as_of", {"as_of": as_of.to_pydatetime()}
        )

    def describe(self) -> str:
        return self._where(self._history)


# --- Parquet and CSV files -----------------------------------------------------------------------


def file_folder(sink: SinkConfig, cfg: ChurnmlConfig) -> Path:
    """Where a CSV/Parquet sink keeps its ``<table>_<as_of>.<kind>`` files."""
    return cfg.resolve(sink.path or "exports")


class FileSink(Sink):
    """One CRM import file per as-of, written to a temp name and renamed into place."""

    @abstractmethod
    def _save(self, frame: pd.DataFrame, path: Path) -> None: ...

    @abstractmethod
    def _load(self, path: Path) -> pd.DataFrame: ...

    @property
    def _folder(self) -> Path:
        return file_folder(self.config, self.cfg)

    def _path(self, as_of) -> Path:
        return (
            self._folder / f"{self.config.table}_{pd.Timestamp(as_of):%Y-%m-%d}.{self.config.kind}"
        )

    def write(self, scored: pd.DataFrame, as_of) -> str:
        target = self._path(_as_of_value(scored, as_of))
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._save(scored, tmp)
            os.replace(tmp, target)
        except OSError as exc:  # a full disk, a folder gone read-only
            tmp.unlink(missing_ok=True)
            raise SinkError(
                f"sink {self.config.kind} {target}: the file could not be written "
                f"({_first_line(exc)}); nothing was replaced, earlier files are intact; free disk "
                "space or make the folder writable, or point the sink's path elsewhere, then "
                "score again"
            ) from None
        return str(target)

    def as_ofs(self) -> list[date]:
        table, kind = self.config.table, self.config.kind
        pattern = re.compile(rf"^{re.escape(table)}_(\d{{4}}-\d{{2}}-\d{{2}})\.{kind}$")
        folder = self._folder
        paths = sorted(folder.glob(f"{table}_*.{kind}")) if folder.exists() else []
        found = (pattern.match(p.name) for p in paths)
        return sorted(date.fromisoformat(m.group(1)) for m in found if m)

    def _rows(self, as_of: pd.Timestamp) -> pd.DataFrame:
        path = self._path(as_of)
        return self._load(path) if path.exists() else pd.DataFrame()

    def describe(self) -> str:
        return f"{self._folder}/{self.config.table}_*.{self.config.kind}"


class ParquetSink(FileSink):
    def _save(self, frame: pd.DataFrame, path: Path) -> None:
        frame.to_parquet(path, index=False)

    def _load(self, path: Path) -> pd.DataFrame:
        return pd.read_parquet(path)


class CsvSink(FileSink):
    def _save(self, frame: pd.DataFrame, path: Path) -> None:
        frame.to_csv(path, index=False)

    def _load(self, path: Path) -> pd.DataFrame:
        return pd.read_csv(path, dtype={"account_id": "str"})


def _first_line(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0]


def write_report_file(target: Path, html: str) -> str:
    """An HTML page written to a temp name and renamed into place; a failed write (a full disk)
    leaves no temp file and the earlier page intact, and says so in one line."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SinkError(
            f"report {target} could not be written ({_first_line(exc)}); the scores were "
            "written, an earlier report of that date is intact; free disk space or fix "
            "output.report_dir"
        ) from None
    return str(target)


def write_file(scored: pd.DataFrame, sink: SinkConfig, cfg: ChurnmlConfig) -> Path:
    """The run's CRM import file, written atomically."""
    return Path(open_sink(sink, cfg).write(scored, None))


# --- choosing a sink -----------------------------------------------------------------------------

SINK_KINDS: dict[str, type[Sink]] = {
    "duckdb": DuckDBSink,
    "postgres": PostgresSink,
    "parquet": ParquetSink,
    "csv": CsvSink,
}


def open_sink(sink: SinkConfig, cfg: ChurnmlConfig | None, con=None) -> Sink:
    """The implementation for the configured kind; `con` is the warehouse (DuckDB sinks only)."""
    return SINK_KINDS[sink.kind](sink, cfg, con)


def write_sinks(con, scored: pd.DataFrame, cfg: ChurnmlConfig) -> list[str]:
    """Write every configured sink; returns where each went."""
    as_of = _as_of_value(scored)
    return [open_sink(sink, cfg, con).write(scored, as_of) for sink in cfg.output.sinks]


def previous_scores(con, cfg: ChurnmlConfig, as_of) -> pd.DataFrame | None:
    """The last run before `as_of` from the first configured sink (None if there is none)."""
    if not cfg.output.sinks:
        return None
    return open_sink(cfg.output.sinks[0], cfg, con).previous(as_of)
