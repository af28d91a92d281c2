"""Read the customer's tables through the config mapping into canonical ibis tables.

Everything stays lazy inside one DuckDB connection: files are scanned in place, warehouse
tables are referenced, and SQL sources (PostgreSQL, ...) are pulled once into temp tables.
The result of `load_sources` is one ibis table per canonical table, with contract column names
and types, plus what the profile needs (unmapped columns, the raw columns before casting).
"""

from __future__ import annotations

import glob
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandas as pd
from ibis.backends.duckdb import Backend as DuckDBBackend

from churnml.config import (
    AccountKey,
    ChurnmlConfig,
    ConcatDerivation,
    ConstantDerivation,
    Derivation,
    DuckDBTableSource,
    FileSource,
    LookupDerivation,
    MapDerivation,
    PeriodDerivation,
    ScaleDerivation,
    ShiftDerivation,
    SqlSource,
    TableMapping,
    ViewSource,
)
from churnml.contract import (
    DAYS_PER_MONTH,
    FALLBACKS,
    LOAD_ORDER,
    PERIOD_NUMBER,
    TABLES,
    billing_period_days,
    cast_to_contract,
    days_as_period,
)
from churnml.io.preflight import (
    SourceError,
    SourceReadError,
    WarehouseBusyError,
    check_csv_file,
    is_lock_error,
)
from churnml.trials import paid_periods, paying_rows
from churnml.urls import redact
from churnml.validation import DerivedCheck


@dataclass
class MappedTable:
    """A canonical table plus what the profile and the validation need to know about it."""

    name: str
    table: ibis.Table  # contract columns with contract types (unparseable values become NULL)
    raw: ibis.Table  # contract columns before casting, for type checks
    source_columns: list[str]
    unmapped_columns: list[str]
    # a warehouse table already in contract types: rereading it costs less than a copy
    rescannable: bool = False
    derived: dict[str, str] = field(default_factory=dict)  # contract column -> how it is derived
    derived_checks: list[DerivedCheck] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)  # contract columns filled by a fallback
    # optional contract columns the source does not have (left empty, or at their default)
    absent: list[str] = field(default_factory=list)
    date_format: str | None = None  # the file's declared date format (source.date_format)
    # subscriptions as exported, before rows that are no customer time were left out, and
    # which rules left them out (labels.trials, labels.zero_mrr)
    exported: ibis.Table | None = None
    left_out: list[str] = field(default_factory=list)


def warehouse_out_of_memory(cfg: ChurnmlConfig) -> SourceError:
    """DuckDB stops a query it cannot fit in `warehouse.memory_limit`; say which knob to turn."""
    return SourceError(
        f"the warehouse ran out of memory computing features (warehouse.memory_limit "
        f"{cfg.warehouse.memory_limit or 'DuckDB default'}, warehouse.threads "
        f"{cfg.warehouse.threads}); raise warehouse.memory_limit (e.g. 8GB), lower "
        "warehouse.threads, or set warehouse.engine: spark"
    )


def connect_warehouse(cfg: ChurnmlConfig, read_only: bool = False) -> DuckDBBackend:
    """Open the DuckDB warehouse (created on first use) with the configured resources.

    DuckDB lets one process write a database file at a time. When another run holds it, wait
    (bounded by ``warehouse.lock_timeout_seconds``) instead of failing at once, then fail naming
    the file: two runs at once queue up, and neither sees the other's half-written state.
    """
    import duckdb

    path = cfg.resolve(cfg.warehouse.path)
    if read_only and not path.exists():
        raise SourceError(
            f"warehouse {path} does not exist; run `churnml demo-data` or fix warehouse.path"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, object] = {"threads": cfg.warehouse.threads}
    if cfg.warehouse.memory_limit:
        kwargs["memory_limit"] = cfg.warehouse.memory_limit
    deadline = time.monotonic() + cfg.warehouse.lock_timeout_seconds
    delay = 0.1
    while True:
        try:
            con = ibis.duckdb.connect(str(path), read_only=read_only, **kwargs)
            break
        except duckdb.IOException as exc:
            if not is_lock_error(exc):
                raise
            if delay == 0.1:  # the first refusal: say why nothing seems to happen
                logging.getLogger(__name__).warning(
                    "waiting for warehouse %s: another process holds it (up to %gs, "
                    "warehouse.lock_timeout_seconds)",
                    path,
                    cfg.warehouse.lock_timeout_seconds,
                )
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"warehouse {path} is held by another process for more than "
                    f"{cfg.warehouse.lock_timeout_seconds:g}s (another churnml run?); nothing was "
                    f"read or written. DuckDB said: {exc}"
                ) from exc
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
            delay = min(delay * 2, 2.0)
    con.raw_sql("SET TimeZone='UTC'")
    return con


def connect_for_checks(cfg: ChurnmlConfig) -> DuckDBBackend:
    """A read-only warehouse for `check-data`, or an in-memory database when no source lives in it.

    Checking CSV or SQL sources must not need (or create) a warehouse file first.
    """
    uses_warehouse = any(
        isinstance(m.source, DuckDBTableSource) and m.source.database is None
        for m in cfg.sources.values()
    )
    if uses_warehouse or cfg.resolve(cfg.warehouse.path).exists():
        return connect_warehouse(cfg, read_only=True)
    con = ibis.duckdb.connect(threads=cfg.warehouse.threads)
    con.raw_sql("SET TimeZone='UTC'")
    return con


def quote_identifier(name: str) -> str:
    """Quote a (possibly schema-qualified) identifier for DuckDB/PostgreSQL."""
    parts = name.split(".")
    for part in parts:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            raise SourceError(f"{name!r} is not a valid table or column identifier")
    return ".".join('"' + p + '"' for p in parts)


def put_frame(con: DuckDBBackend, name: str, frame: pd.DataFrame) -> ibis.Table:
    """Copy a pandas frame into a temp table of the connection and return it as an ibis table."""
    view = f"__frame_{name}"
    con.con.register(view, frame)
    try:
        con.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_identifier(name)} AS SELECT * FROM {view}"
        )
    finally:
        con.con.unregister(view)
    return con.table(name)


def _read_file(
    con: DuckDBBackend, source: FileSource, cfg: ChurnmlConfig, table: str
) -> ibis.Table:
    pattern = str(cfg.resolve(source.path))
    files = sorted(glob.glob(pattern))
    if not files:
        raise SourceError(f"table {table}: no file matches {pattern}")
    fmt = source.file_format()
    if fmt == "parquet":
        read = con.read_parquet(pattern, table_name=f"src_{table}")
    elif fmt == "json":
        read = _read_json(con, pattern, table)
    else:
        read = _read_csv(con, pattern, files, source, table)
    return read_as_declared(read, source)


def _read_csv(
    con: DuckDBBackend, pattern: str, files: list[str], source: FileSource, table: str
) -> ibis.Table:
    headers = [check_csv_file(Path(file), table, source.encoding) for file in files]
    # Read every CSV column as text: the contract casts and reports values that do not parse.
    try:
        read = con.read_csv(
            pattern, table_name=f"src_{table}", all_varchar=True, encoding=source.encoding
        )
    except Exception as exc:  # DuckDB's CSV reader: name the table instead of a bare traceback
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"table {table}: cannot read CSV {pattern}: {first_line}") from exc
    if len(read.columns) != len(headers[0]):
        raise SourceError(
            f"table {table}: {files[0]} has {len(headers[0])} columns in its header but DuckDB "
            f"found {len(read.columns)}: some rows have a different number of fields (an "
            "unquoted delimiter or quote inside a value?); fix the export"
        )
    return read


def _read_json(con: DuckDBBackend, pattern: str, table: str) -> ibis.Table:
    """JSON lines (or one JSON array), every top-level field read as text like a CSV column:
    the contract casts it, so time zones, Unix time and placeholders are judged alike. A nested
    object stays its JSON text."""
    try:
        probe = con.read_json(pattern, table_name=f"src_{table}_fields")
        fields = {name: "VARCHAR" for name in probe.columns}
        return con.read_json(pattern, table_name=f"src_{table}", columns=fields)
    except Exception as exc:  # DuckDB's JSON reader: name the table and the file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"table {table}: cannot read JSON {pattern}: {first_line}") from None


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(text: str, fmt: str) -> dt.timestamp:  # type: ignore[empty-body]
    """DuckDB's strptime that gives NULL for text not in the format."""


# A number written with a decimal comma: 1234,5 / 1.234,50 / 1 234,50 / -3,25 / 1.234
_COMMA_NUMBER = r"^\s*[+-]?(\d{1,3}([. ]\d{3})+|\d+)(,\d+)?\s*$"


def read_as_declared(read: ibis.Table, source: FileSource) -> ibis.Table:
    """Text in the file's declared date format or with a decimal comma, rewritten as the
    contract reads it (2025-01-31 00:00:00, 1234.5). Other values stay as they are, so the data
    checks still report them with their own text."""
    if source.date_format is None and source.decimal == ".":
        return read
    rewritten = {}
    for name, dtype in read.schema().items():
        if not dtype.is_string():
            continue
        text = read[name]
        if source.date_format is not None:
            stamp = _try_strptime(text, ibis.literal(source.date_format))
            text = ibis.coalesce(stamp.strftime("%Y-%m-%d %H:%M:%S"), text)
        if source.decimal == ",":
            plain = text.replace(".", "").replace(" ", "").replace(",", ".").strip()
            text = ibis.ifelse(text.re_search(_COMMA_NUMBER), plain, text)
        rewritten[name] = text
    return read.mutate(**rewritten)


def _read_duckdb(
    con: DuckDBBackend, source: DuckDBTableSource, cfg: ChurnmlConfig, table: str
) -> ibis.Table:
    if source.database is None:
        if source.table not in con.list_tables():
            raise SourceError(
                f"table {table}: warehouse table {source.table!r} does not exist "
                f"(warehouse has: {sorted(con.list_tables())})"
            )
        return con.table(source.table)
    path = cfg.resolve(source.database)
    if not path.exists():
        raise SourceError(f"table {table}: DuckDB database {path} does not exist")
    alias = f"src_db_{table}"
    attached = {
        r[0] for r in con.con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    }
    if alias not in attached:
        literal = path.as_posix().replace("'", "''")
        con.con.execute(f"ATTACH '{literal}' AS {quote_identifier(alias)} (READ_ONLY)")
    return con.table(source.table, database=alias)


def resolve_url(url_env: str | None, url_secret: str | None, what: str) -> tuple[str, str]:
    """The connection URL and a printable name for where it came from (never the URL itself).

    URLs carry passwords, so they come only from the environment or a Prefect Secret block.
    """
    if url_secret:
        from prefect.blocks.system import Secret

        try:
            url = Secret.load(url_secret).get()
        except Exception as exc:
            # a block that does not exist is a config mistake; an unreachable API is I/O
            error = SourceError if isinstance(exc, ValueError) else SourceReadError
            raise error(
                f"{what}: Prefect Secret block {url_secret!r} holding the database URL could not "
                f"be loaded ({type(exc).__name__})"
            ) from None
        return str(url), f"secret {url_secret}"
    url = os.environ.get(url_env or "")
    if not url:
        raise SourceError(
            f"{what}: environment variable {url_env} holding the database URL is not set"
        )
    return url, f"${url_env}"


def read_sql_frame(
    url_env: str | None, query: str, table: str, url_secret: str | None = None
) -> pd.DataFrame:
    """Run a query on the SQLAlchemy URL held in an environment variable or a Secret block."""
    import sqlalchemy as sa

    url, where = resolve_url(url_env, url_secret, f"table {table}")
    try:
        engine = sa.create_engine(url)
    except Exception as exc:
        why = redact(str(exc), url).strip().splitlines()[0] if str(exc) else type(exc).__name__
        if "int()" in why:
            why = "its port is no number"
        raise SourceError(
            f"table {table}: the database URL in {where} is not usable ({why}); set it to a "
            "SQLAlchemy URL such as postgresql://user:password@host:5432/db"
        ) from None
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(query), conn)
    except Exception as exc:  # the driver's message, without the URL's password
        error = SourceReadError if _is_io_failure(exc) else SourceError
        raise error(
            f"table {table}: query on {where} failed: {type(exc).__name__}: {redact(str(exc), url)}"
        ) from None
    finally:
        engine.dispose()


def _is_io_failure(exc: BaseException) -> bool:
    """A database that cannot be reached or dropped the connection, as opposed to a bad query."""
    import sqlalchemy.exc as sa_exc

    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, OSError))


def _read_source(con: DuckDBBackend, source, cfg: ChurnmlConfig, table: str) -> ibis.Table:
    if isinstance(source, FileSource):
        return _read_file(con, source, cfg, table)
    if isinstance(source, DuckDBTableSource):
        return _read_duckdb(con, source, cfg, table)
    if isinstance(source, SqlSource):
        frame = read_sql_frame(source.url_env, source.query, table, source.url_secret)
        return put_frame(con, f"src_{table}", frame)
    if isinstance(source, ViewSource):
        return _read_view(con, source, cfg, table)
    raise SourceError(f"table {table}: unsupported source {source!r}")


def _read_view(
    con: DuckDBBackend, source: ViewSource, cfg: ChurnmlConfig, table: str
) -> ibis.Table:
    """The user's own DuckDB query, run as written; relative file paths start at the config."""
    folder = Path(cfg.base_dir).resolve().as_posix().replace("'", "''")
    con.raw_sql(f"SET file_search_path = '{folder}'")
    try:
        return con.sql(source.query)
    except Exception as exc:  # DuckDB's parser or binder: name the table, keep its message
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"table {table}: the view query failed: {message}") from None


def _join_account_key(
    table_name: str,
    raw: ibis.Table,
    key: AccountKey,
    con: DuckDBBackend,
    cfg: ChurnmlConfig,
    mapped: dict[str, MappedTable],
) -> ibis.Table:
    if key.column not in raw.columns:
        raise SourceError(
            f"table {table_name}: account_key.column {key.column!r} is not a column of the source "
            f"(columns: {list(raw.columns)})"
        )
    if key.via is not None:
        if key.via not in mapped:
            raise SourceError(
                f"table {table_name}: account_key.via {key.via!r} must be a table mapped before it "
                f"(mapping order: {list(LOAD_ORDER)})"
            )
        lookup = mapped[key.via].table
    else:
        lookup = _read_source(con, key.lookup, cfg, f"{table_name}_lookup")
    for col in (key.lookup_key, key.lookup_account_id):
        if col not in lookup.columns:
            raise SourceError(
                f"table {table_name}: lookup column {col!r} not found (lookup columns: {list(lookup.columns)})"
            )
    pairs = lookup.select(
        __lookup_key=lookup[key.lookup_key].cast("string"),
        __lookup_account=lookup[key.lookup_account_id].cast("string"),
    ).distinct(on="__lookup_key", keep="first")
    joined = raw.left_join(pairs, raw[key.column].cast("string") == pairs.__lookup_key)
    return joined.mutate(account_id=joined.__lookup_account).drop(
        "__lookup_key", "__lookup_account"
    )


def _derive(
    name: str,
    mapping: TableMapping,
    raw: ibis.Table,
    con: DuckDBBackend,
    cfg: ChurnmlConfig,
) -> tuple[ibis.Table, list[DerivedCheck]]:
    """``raw`` plus one ``__derived_<column>`` per derivation, and the checks on their values.

    Every value from the config becomes an ibis literal and every column name is quoted by ibis:
    nothing from the config is pasted into SQL.
    """
    source_columns = list(raw.columns)
    for col, derivation in mapping.derive.items():
        for src in derivation.source_columns():
            if src not in source_columns:
                raise SourceError(
                    f"table {name}, column {col}: derivation {derivation.describe()} names source "
                    f"column {src!r}, which does not exist (source columns: {source_columns})"
                )
    id_column = mapping.columns.get("account_id", "account_id")
    context = [id_column] if id_column in source_columns else []
    work, checks = raw, []
    for col, derivation in mapping.derive.items():
        shown = list(dict.fromkeys([*context, *derivation.source_columns()]))
        work, column_checks = _derive_column(name, col, derivation, work, con, cfg, shown)
        checks += column_checks
    return work, checks


def _derive_column(
    name: str,
    col: str,
    derivation: Derivation,
    work: ibis.Table,
    con: DuckDBBackend,
    cfg: ChurnmlConfig,
    shown: list[str],
) -> tuple[ibis.Table, list[DerivedCheck]]:
    """``work`` plus ``__derived_<col>``, and the checks on the derived values."""
    target = f"__derived_{col}"
    checks = []
    if isinstance(derivation, ConcatDerivation):
        parts = [work[c].cast("string") for c in derivation.concat]
        # NULL when a part is missing: skipping it would let different rows share a key
        incomplete = ibis.or_(*[p.isnull() for p in parts])
        joined = ibis.literal(derivation.sep).join(parts)
        work = work.mutate(**{target: ibis.ifelse(incomplete, ibis.null("string"), joined)})
    elif isinstance(derivation, ConstantDerivation):
        work = work.mutate(**{target: ibis.literal(derivation.constant)})
    elif isinstance(derivation, MapDerivation):
        text = work[derivation.from_].cast("string")
        default = ibis.literal(derivation.default, type="string")
        cases = [(text == ibis.literal(k), ibis.literal(v)) for k, v in derivation.map.items()]
        mapped_value = ibis.cases(*cases, else_=default)
        work = work.mutate(**{target: ibis.ifelse(text.isnull(), None, mapped_value)})
        if derivation.default is None:
            missing = work[derivation.from_].notnull() & work[target].isnull()
            what = "value not in the map (add it under map, or set default)"
            checks.append(
                DerivedCheck(col, f"{what}: {derivation.describe()}", missing, shown, work)
            )
    elif isinstance(derivation, LookupDerivation):
        work, checks = _derive_lookup(name, col, derivation, work, con, cfg, shown)
    elif isinstance(derivation, ScaleDerivation | ShiftDerivation):
        work, checks = _derive_arithmetic(col, derivation, work, shown)
    elif isinstance(derivation, PeriodDerivation) and derivation.unit.startswith("epoch"):
        text = work[derivation.from_].cast("string").strip()
        number = text.try_cast("float64")
        per_second = 1000.0 if derivation.unit == "epoch_milliseconds" else 1.0
        # whole milliseconds, as an integer: DuckDB's to_timestamp on a double loses sub-seconds
        millis = (number * (1000.0 / per_second)).round().cast("int64")
        work = work.mutate(**{target: millis.as_timestamp("ms")})
        bad = text.notnull() & (text != "") & number.isnull()
        what = f"not a number of {derivation.unit.removeprefix('epoch_')} since 1970: "
        checks.append(DerivedCheck(col, what + derivation.describe(), bad, shown, work))
    elif isinstance(derivation, PeriodDerivation):
        text = work[derivation.from_].cast("string").strip()
        if derivation.unit == "days":
            value = days_as_period(text)
        else:
            value = ibis.ifelse(text.re_search(PERIOD_NUMBER), text, ibis.null("string"))
        work = work.mutate(**{target: value})
        bad = text.notnull() & (text != "") & work[target].isnull()
        what = f"not a number of {derivation.unit}: {derivation.describe()}"
        checks.append(DerivedCheck(col, what, bad, shown, work))
    return work, checks


def _number(column: ir.Value) -> ir.FloatingValue:
    return column.cast("string").strip().try_cast("float64")


def _derive_arithmetic(
    col: str, derivation: ScaleDerivation | ShiftDerivation, work: ibis.Table, shown: list[str]
) -> tuple[ibis.Table, list[DerivedCheck]]:
    """``work`` plus ``__derived_<col>`` for a scaled number or a shifted timestamp, and a check
    per source column whose value cannot take part (a row with an empty part stays empty)."""
    target, described = f"__derived_{col}", derivation.describe()
    parts: list[tuple[str, ir.Value, str]] = []  # (source column, its value, what it must be)
    if isinstance(derivation, ShiftDerivation):
        start = cast_to_contract(work[derivation.from_], "timestamp")
        parts.append((derivation.from_, start, "a date"))
        step = (
            ibis.interval(days=derivation.add_days)
            if derivation.add_days is not None
            else ibis.interval(months=derivation.add_months)
        )
        value = start + step
    else:
        value = _number(work[derivation.from_]) * derivation.scale
        parts.append((derivation.from_, _number(work[derivation.from_]), "a number"))
        if derivation.times is not None:
            value = value * _number(work[derivation.times])
            parts.append((derivation.times, _number(work[derivation.times]), "a number"))
        if derivation.per is not None:
            months = billing_period_days(work[derivation.per]) / DAYS_PER_MONTH
            value = value / months
            parts.append((derivation.per, months, "a billing period (month, year, 12...)"))
        if derivation.currency is not None:
            rate = _currency_rate(work[derivation.currency], derivation.rates or {})
            value = value * rate
            codes = ", ".join(derivation.rates or {})
            parts.append((derivation.currency, rate, f"a currency of rates ({codes})"))
    work = work.mutate(**{target: value})
    checks = []
    for source_column, parsed, what in parts:
        text = work[source_column].cast("string").strip()
        bad = text.notnull() & (text != "") & parsed.isnull()
        name = f"{source_column} is not {what}: {described}"
        checks.append(DerivedCheck(col, name, bad, shown, work))
    return work, checks


def _currency_rate(code: ir.Value, rates: dict[str, float]) -> ir.FloatingValue:
    """The rate of each row's currency code (compared trimmed and in upper case); NULL for a
    code ``rates`` does not give, so no amount is added in a currency of its own."""
    text = code.cast("string").strip().upper()
    cases = [(text == ibis.literal(c), ibis.literal(r, type="float64")) for c, r in rates.items()]
    return ibis.cases(*cases, else_=ibis.null("float64"))


def _derive_lookup(
    name: str,
    col: str,
    derivation: LookupDerivation,
    work: ibis.Table,
    con: DuckDBBackend,
    cfg: ChurnmlConfig,
    shown: list[str],
) -> tuple[ibis.Table, list[DerivedCheck]]:
    spec = derivation.lookup
    try:
        lookup = _read_source(con, spec.source, cfg, f"{name}_{col}_lookup")
    except SourceError as exc:
        raise SourceError(f"table {name}, column {col}: lookup source: {exc}") from None
    for c in (spec.key, spec.value):
        if c not in lookup.columns:
            raise SourceError(
                f"table {name}, column {col}: lookup column {c!r} not found "
                f"(lookup columns: {list(lookup.columns)})"
            )
    k, v, n = f"__lookup_key_{col}", f"__lookup_value_{col}", f"__lookup_values_{col}"
    pairs = lookup.select(**{k: lookup[spec.key].cast("string"), v: lookup[spec.value]})
    pairs = pairs.group_by(k).aggregate(**{v: pairs[v].min(), n: pairs[v].nunique()})
    joined = work.left_join(pairs, work[derivation.from_].cast("string") == pairs[k])
    joined = joined.mutate(**{f"__derived_{col}": joined[v]})
    found = joined[derivation.from_].notnull()
    described = derivation.describe()
    checks = [
        DerivedCheck(
            col,
            f"key not found in the lookup: {described}",
            found & joined[k].isnull(),
            shown,
            joined,
        ),
        DerivedCheck(
            col,
            f"lookup key with several values in the lookup source: {described}",
            found & (joined[n] > 1),
            shown,
            joined,
        ),
    ]
    return joined, checks


def map_table(
    name: str,
    mapping: TableMapping,
    con: DuckDBBackend,
    cfg: ChurnmlConfig,
    mapped: dict[str, MappedTable],
) -> MappedTable:
    """Read one source and give it the contract's column names and types."""
    source = _read_source(con, mapping.source, cfg, name)
    source_columns = list(source.columns)
    _check_mapped_names(name, mapping, cfg, source_columns)
    raw = source
    if mapping.account_key is not None:
        raw = _join_account_key(name, raw, mapping.account_key, con, cfg, mapped)
    raw, derived_checks = _derive(name, mapping, raw, con, cfg)
    used: set[str] = {s for d in mapping.derive.values() for s in d.source_columns()}
    selections, absent = _contract_selections(name, mapping, raw, source_columns, used)
    fallbacks = [c for c in absent if c in FALLBACKS.get(name, {})]
    for attr, value in _attribute_selections(name, mapping, cfg, raw, source_columns, used):
        selections.setdefault(attr, value)
    raw_selected = raw.select(**selections)
    typed = _typed_columns(name, raw_selected, cfg)
    unmapped = [
        c
        for c in source_columns
        if c not in used and c != (mapping.account_key.column if mapping.account_key else None)
    ]
    table = exported = raw_selected.select(**typed)
    cut_trials = name == "subscriptions" and cfg.labels.trials == "not_customers"
    if cut_trials:
        table = paid_periods(exported)
    cut_free = name == "subscriptions" and cfg.labels.zero_mrr == "not_customers"
    if cut_free:
        table = paying_rows(table)
    return MappedTable(
        name=name,
        table=table,
        raw=raw_selected,
        source_columns=source_columns,
        unmapped_columns=unmapped,
        rescannable=isinstance(mapping.source, DuckDBTableSource)
        and mapping.account_key is None
        and not mapping.derive
        and _same_types(raw_selected.schema(), table.schema()),
        derived={c: d.describe() for c, d in mapping.derive.items()},
        derived_checks=derived_checks,
        fallbacks=fallbacks,
        absent=absent,
        date_format=getattr(mapping.source, "date_format", None),
        exported=exported if cut_trials or cut_free else None,
        left_out=["trials"] * cut_trials + ["zero_mrr"] * cut_free,
    )


def _check_mapped_names(
    name: str, mapping: TableMapping, cfg: ChurnmlConfig, source_columns: list[str]
) -> None:
    """Every mapped target is a contract column (or attribute) and every mapped source exists."""
    contract = TABLES[name]
    unknown_targets = sorted(
        set(mapping.columns) - set(contract.column_names) - _attributes(cfg, name)
    )
    if unknown_targets:
        raise SourceError(
            f"table {name}: columns mapping names {unknown_targets}, which are not contract columns "
            f"(contract: {contract.column_names})"
        )
    missing_sources = {c: s for c, s in mapping.columns.items() if s not in source_columns}
    if missing_sources:
        c, s = next(iter(missing_sources.items()))
        raise SourceError(
            f"table {name}, column {c}: mapped to source column {s!r}, which does not exist "
            f"(source columns: {source_columns})"
        )


def _contract_selections(
    name: str,
    mapping: TableMapping,
    raw: ibis.Table,
    source_columns: list[str],
    used: set[str],
) -> tuple[dict[str, ibis.Value], list[str]]:
    """Each contract column from its derivation, its source column or its default, and the
    optional columns the source does not have (filled with their default or a fallback).

    Adds the source columns it reads to ``used``.
    """
    selections: dict[str, ibis.Value] = {}
    absent: list[str] = []
    for col in TABLES[name].columns:
        src = mapping.columns.get(col.name, col.name)
        if col.name == "account_id" and mapping.account_key is not None:
            src = "account_id"
        if col.name in mapping.derive:
            selections[col.name] = raw[f"__derived_{col.name}"]
        elif src in raw.columns:
            selections[col.name] = raw[src]
            used.add(src)
        elif col.required:
            raise SourceError(
                f"table {name}, column {col.name}: required column not found "
                f"(source columns: {source_columns}; map it under sources.{name}.columns)"
            )
        else:
            selections[col.name] = ibis.literal(col.default, type=col.dtype)
            absent.append(col.name)
    return selections, absent


def _attribute_selections(
    name: str,
    mapping: TableMapping,
    cfg: ChurnmlConfig,
    raw: ibis.Table,
    source_columns: list[str],
    used: set[str],
) -> list[tuple[str, ibis.Value]]:
    """Account attributes declared as features, from their derivation or source column."""
    selections = []
    for attr in sorted(_attributes(cfg, name)):
        src = mapping.columns.get(attr, attr)
        if attr in mapping.derive:
            selections.append((attr, raw[f"__derived_{attr}"]))
            continue
        if src not in raw.columns:
            raise SourceError(
                f"table {name}, column {attr}: declared as an account attribute feature but not found "
                f"(source columns: {source_columns})"
            )
        selections.append((attr, raw[src]))
        used.add(src)
    return selections


def _typed_columns(
    name: str, raw_selected: ibis.Table, cfg: ChurnmlConfig
) -> dict[str, ibis.Value]:
    """Contract columns cast to their contract type, numeric attributes to float, others text."""
    contract = TABLES[name]
    typed = {}
    for col_name in raw_selected.columns:
        if col_name in contract.column_names:
            typed[col_name] = cast_to_contract(
                raw_selected[col_name], contract.column(col_name).dtype
            )
        elif col_name in cfg.features.account_attributes_numeric:
            typed[col_name] = cast_to_contract(raw_selected[col_name], "float64")
        else:
            typed[col_name] = raw_selected[col_name].cast("string")
    if name == "accounts":  # an account without a name is shown by its id
        typed["name"] = typed["name"].fill_null(typed["account_id"])
    return typed


def _same_types(left: ibis.Schema, right: ibis.Schema) -> bool:
    """Same column names and types, whatever either side says about NULLs."""
    return [(n, t.copy(nullable=True)) for n, t in left.items()] == [
        (n, t.copy(nullable=True)) for n, t in right.items()
    ]


def _attributes(cfg: ChurnmlConfig, name: str) -> set[str]:
    if name != "accounts":
        return set()
    declared = set(cfg.features.account_attributes_categorical) | set(
        cfg.features.account_attributes_numeric
    )
    return declared - set(TABLES["accounts"].column_names)


def load_sources(con: DuckDBBackend, cfg: ChurnmlConfig) -> dict[str, MappedTable]:
    """Map every configured source onto the contract, in an order that lets keys be looked up."""
    mapped: dict[str, MappedTable] = {}
    for name in LOAD_ORDER:
        mapping = cfg.sources.get(name)
        if mapping is None:
            continue
        mapped[name] = map_table(name, mapping, con, cfg, mapped)
    return mapped


def materialize(con: DuckDBBackend, mapped: dict[str, MappedTable]) -> dict[str, ibis.Table]:
    """Compute each mapped table once into a temp table, so features do not redo the mapping.

    A warehouse table that already has the contract's names and types becomes a temp view
    instead: DuckDB rereads its compressed columns faster than it copies them (50M usage events:
    ~20 s and ~4 GB of memory for the copy), and the features read each table only a few times.
    """
    out: dict[str, ibis.Table] = {}
    for name, m in mapped.items():
        target = f"canonical_{name}"
        sql = ibis.to_sql(m.table, dialect="duckdb")
        kind = "VIEW" if m.rescannable else "TABLE"
        con.con.execute(f"CREATE OR REPLACE TEMP {kind} {quote_identifier(target)} AS {sql}")
        out[name] = con.table(target)
    return out


__all__ = [
    "MappedTable",
    "SourceError",
    "SourceReadError",
    "connect_for_checks",
    "connect_warehouse",
    "load_sources",
    "map_table",
    "materialize",
    "put_frame",
    "quote_identifier",
    "read_sql_frame",
    "redact",
]
