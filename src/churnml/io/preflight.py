"""A cheap look at the configured sources before any flow starts.

Files exist, globs match, CSV files are readable in their declared encoding, whole and without
duplicated header names, and every column the mapping names is there. A mistake found here
costs the user a second instead of a Prefect start-up and a traceback; the full mapping still
runs (and checks everything again) inside the flows.
"""

from __future__ import annotations

import glob
from pathlib import Path

from churnml.config import ChurnmlConfig, FileSource, TableMapping
from churnml.contract import TABLES
from churnml.io.sources import SourceError, check_csv_file


def preflight_sources(cfg: ChurnmlConfig) -> None:
    """Raise SourceError (one line: table, file, column, how to fix) on the first mistake."""
    for name, mapping in cfg.sources.items():
        columns = _source_columns(mapping.source, cfg, name)
        if columns is not None:
            _check_columns(name, mapping, cfg, columns)
        key = mapping.account_key
        if key is not None and key.lookup is not None:
            lookup = _source_columns(key.lookup, cfg, f"{name}_lookup")
            for col in (key.lookup_key, key.lookup_account_id):
                if lookup is not None and col not in lookup:
                    raise SourceError(
                        f"table {name}: lookup column {col!r} not found (lookup columns: {lookup})"
                    )


def _source_columns(source, cfg: ChurnmlConfig, table: str) -> list[str] | None:
    """The columns of a file source (None for database sources, checked when they are read)."""
    if not isinstance(source, FileSource):
        return None
    pattern = str(cfg.resolve(source.path))
    files = sorted(glob.glob(pattern))
    if not files:
        raise SourceError(
            f"table {table}: no file matches {pattern}; fix sources.{table}.source.path "
            "(relative paths start at the config file's folder)"
        )
    fmt = source.format
    if fmt == "auto":
        fmt = "parquet" if pattern.endswith((".parquet", ".pq")) else "csv"
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(files[0]).names)
        except Exception as exc:
            raise SourceError(
                f"table {table}: {files[0]} is not a readable Parquet file ({type(exc).__name__})"
            ) from None
    headers = [check_csv_file(Path(f), table, source.encoding) for f in files]
    for file, header in zip(files[1:], headers[1:], strict=True):
        if header != headers[0]:
            raise SourceError(
                f"table {table}: {file} has columns {header}, unlike {files[0]} ({headers[0]}); "
                "every file a glob matches must have the same header"
            )
    return headers[0]


def _check_columns(
    name: str, mapping: TableMapping, cfg: ChurnmlConfig, columns: list[str]
) -> None:
    renamed = {k: v for k, v in mapping.columns.items() if isinstance(v, str)}
    for target, src in renamed.items():
        if src not in columns:
            raise SourceError(
                f"table {name}, column {target}: mapped to source column {src!r}, which does not "
                f"exist (source columns: {columns})"
            )
    key = mapping.account_key
    if key is not None and key.column not in columns:
        raise SourceError(
            f"table {name}: account_key.column {key.column!r} is not a column of the source "
            f"(columns: {columns})"
        )
    contract = TABLES.get(name)
    if contract is None:
        return
    for col in contract.columns:
        if not col.required or col.name in mapping.columns:
            continue
        if col.name == "account_id" and key is not None:
            continue
        if col.name not in columns:
            raise SourceError(
                f"table {name}, column {col.name}: required column not found (source columns: "
                f"{columns}; map it under sources.{name}.columns, e.g. {col.name}: your_column)"
            )
