"""A cheap look at the configured sources before any flow starts.

Files exist, globs match, CSV files are readable in their declared encoding, whole and without
duplicated header names, and every column the mapping names is there. A mistake found here
costs the user a second instead of a Prefect start-up and a traceback; the full mapping still
runs (and checks everything again) inside the flows.
"""

from __future__ import annotations

import codecs
import csv
import glob
from contextlib import contextmanager
from pathlib import Path

from churnml.config import (
    ChurnmlConfig,
    DuckDBTableSource,
    FileSource,
    SqlSource,
    TableMapping,
    ViewSource,
)
from churnml.contract import TABLES


class SourceError(RuntimeError):
    """A source could not be read or mapped; the message names the table and column."""


class SourceReadError(SourceError):
    """The outside world failed (database unreachable, file unreadable), not the config:
    the only source failure worth retrying."""


class WarehouseBusyError(SourceReadError):
    """Another process held the warehouse longer than `warehouse.lock_timeout_seconds`."""


def _open_bytes(path: Path):
    """The file's bytes, decompressed when it is gzip (``.csv.gz``, which DuckDB reads as is)."""
    import gzip

    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def check_utf8(path: Path, table: str, chunk_size: int = 1 << 20, utf8: bool = True) -> None:
    """Refuse a CSV file that is not valid UTF-8 (with `utf8`), or that holds NUL bytes, naming
    file, line, column and byte offset.

    DuckDB would stop at the first bad byte with a parser message (or, past its sniffing sample,
    only once a query reaches it), and it reads a NUL byte into a value without a word; a
    streaming check up front gives the data owner the exact place, at disk speed.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, nul_count, nuls = 0, 0, []
    repeated = _RepeatedHeader(path)
    with _open_bytes(path) as fh:
        while chunk := fh.read(chunk_size):
            repeated.feed(chunk)
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    _raise_not_utf8(path, table, offset + exc.start)
            found = chunk.count(b"\x00")
            at = -1
            while found and len(nuls) < 3 and (at := chunk.find(b"\x00", at + 1)) >= 0:
                nuls.append(offset + at)
            nul_count += found
            offset += len(chunk)
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            _raise_not_utf8(path, table, offset - 1)
    if nuls:
        _raise_nul_bytes(path, table, nuls, nul_count)
    if repeated.offsets:
        _raise_repeated_header(path, table, repeated.offsets[0], len(repeated.offsets))


class _RepeatedHeader:
    """The offsets of lines that repeat the header line, found while a file streams past in
    chunks (a match may straddle two chunks)."""

    def __init__(self, path: Path) -> None:
        with _open_bytes(path) as fh:
            first = fh.readline().removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
        self.pattern = b"\n" + first if first.strip() else b""
        self.carry = b""
        self.start = 0  # file offset of carry's first byte
        self.offsets: list[int] = []

    def feed(self, chunk: bytes) -> None:
        if not self.pattern:
            return
        buffer, size = self.carry + chunk, len(self.pattern)
        at = buffer.find(self.pattern)
        while at >= 0:
            end = at + size
            if end + 1 > len(self.carry) and end < len(buffer) and buffer[end] in b"\r\n":
                self.offsets.append(self.start + at + 1)
            at = buffer.find(self.pattern, at + 1)
        keep = min(len(buffer), size + 1)
        self.start += len(buffer) - keep
        self.carry = buffer[len(buffer) - keep :]


def _place(path: Path, bad: int) -> tuple[int, bytes, str]:
    """(line number, the whole row, column name) of byte offset `bad` of a CSV file."""
    with _open_bytes(path) as fh:
        head = fh.read(bad + 1)
        rest = fh.readline()
    lines = head.split(b"\n")
    line_no = len(lines)
    row = (lines[-1] + rest).rstrip(b"\r\n")
    header = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r").split(",")
    column_index = lines[-1].count(b",") if line_no > 1 else None
    if column_index is None:
        column = "(header line)"
    elif column_index < len(header):
        column = header[column_index].strip('"').replace("\x00", "")
    else:
        column = "(beyond the header's columns)"
    return line_no, row, column


def _raise_not_utf8(path: Path, table: str, bad: int) -> None:
    line_no, row, column = _place(path, bad)
    with _open_bytes(path) as fh:
        byte = fh.read(bad + 1)[bad]
    raise SourceError(
        f"table {table}, column {column}: file {path} is not UTF-8 text: byte 0x{byte:02x} "
        f"at offset {bad} (line {line_no}); row: {row.decode('utf-8', errors='replace')!r}. "
        "Re-export it as UTF-8, or set the source's encoding (e.g. encoding: latin-1)."
    )


def _raise_repeated_header(path: Path, table: str, offset: int, count: int) -> None:
    line_no = _place(path, offset)[0]
    more = f" (and {count - 1} more time(s))" if count > 1 else ""
    raise SourceError(
        f"table {table}: file {path} repeats its header line at line {line_no}{more}: exports "
        "joined with their headers? Every repeated header would be read as a row of bad "
        "values; delete the repeated header lines, or keep the exports as separate files and "
        f"read them all with a glob (sources.{table}.source.path: e.g. {path.name.split('.')[0]}-*.csv)"
    )


def _raise_nul_bytes(path: Path, table: str, offsets: list[int], count: int) -> None:
    """NUL bytes are no text: DuckDB would keep them inside values (names that never match,
    keys that look equal and are not)."""
    places = {}
    for offset in offsets:
        line_no, row, column = _place(path, offset)
        places.setdefault(line_no, (column, row.decode("utf-8", errors="replace")[:160]))
    columns = list(dict.fromkeys(column for column, _ in places.values()))
    rows = "; ".join(f"line {n}: {row!r}" for n, (_, row) in places.items())
    raise SourceError(
        f"table {table}, column {', '.join(columns)}: file {path} holds {count} NUL byte(s) "
        f"(0x00), which are no text (a binary field or a damaged export), e.g. {rows}. Export "
        f"the file again, or remove them (e.g. tr -d '\\000' < {path.name} > fixed.csv)"
    )


_CHECKED_CSV: dict[tuple, list[str]] = {}
_TAIL_BYTES = 1 << 16


def check_csv_file(path: Path, table: str, encoding: str = "utf-8") -> list[str]:
    """The CSV file's header, after refusing what DuckDB would misread or read silently wrong:
    text not in the declared encoding, duplicated header names (DuckDB renames one without a
    word) and a truncated last row (an interrupted export). Remembered per file version, so the
    start-up check and the read do not scan a large file twice."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, encoding)
    if key in _CHECKED_CSV:
        return _CHECKED_CSV[key]
    import gzip
    import zlib

    try:
        header = _checked_header(path, table, encoding)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise SourceError(
            f"table {table}: {path} is not a whole gzip file ({exc}); the export or download "
            "looks cut off. Export the file again."
        ) from None
    _CHECKED_CSV[key] = header
    return header


def _checked_header(path: Path, table: str, encoding: str) -> list[str]:
    refuse_other_kinds_of_file(path, table, encoding)
    if not encoding.replace("_", "-").lower().startswith(("utf-16", "utf-32")):
        check_utf8(path, table, utf8=encoding == "utf-8")
    if encoding == "utf-8":
        encoding = "utf-8-sig"  # a byte-order mark is not part of the first column's name
    with _open_text(path, encoding) as fh:
        start = fh.read(_TAIL_BYTES).lstrip()
    if start.startswith(("{", "[{", "[\n", "[ ")):
        raise _json_read_as_csv(path, table)
    with _open_text(path, encoding) as fh:
        delimiter = _delimiter(fh.read(_TAIL_BYTES))
    with _open_text(path, encoding) as fh:
        header = next(csv.reader(fh, delimiter=delimiter), None)
    if not header or not any(h.strip() for h in header):
        raise SourceError(f"table {table}: file {path} is empty (no header line)")
    _refuse_unnamed_columns(path, table, header)
    seen: dict[str, str] = {}
    duplicated = []
    for name in header:  # DuckDB's names are case-insensitive
        if name.lower() in seen:
            duplicated.append(name)
        seen.setdefault(name.lower(), name)
    if duplicated:
        raise SourceError(
            f"table {table}: file {path} repeats column name(s) {duplicated} in its header; one "
            "of each would be dropped. Rename the duplicates in the export."
        )
    last = _last_row(path, encoding, delimiter)
    if last is not None and len(last) != len(header):
        _refuse_an_unclosed_quote(path, table, last)
        _refuse_rows_wider_than_the_header(path, table, encoding, delimiter, header, last)
        raise SourceError(
            f"table {table}: the last row of {path} has {len(last)} field(s) where the header has "
            f"{len(header)} (row: {','.join(last)[:200]!r}); the export looks cut off. Export "
            "the file again."
        )
    return header


def _refuse_unnamed_columns(path: Path, table: str, header: list[str]) -> None:
    """Columns without a name (`a,b,,`: a spreadsheet's empty columns, exported) would be
    renamed by the reader and mapped to nothing; name the places instead."""
    unnamed = [i + 1 for i, name in enumerate(header) if not name.strip()]
    if not unnamed:
        return
    where = ", ".join(str(i) for i in unnamed[:5]) + (" ..." if len(unnamed) > 5 else "")
    raise SourceError(
        f"table {table}: file {path} has {len(unnamed)} column(s) without a name in its header "
        f"(column {where} of {len(header)}; a spreadsheet exports its empty columns that way): "
        "delete those columns, or give them names, and export the file again"
    )


def _refuse_an_unclosed_quote(path: Path, table: str, last: list[str]) -> None:
    """A last 'row' holding line breaks is a quote opened and never closed: the rest of the
    file reads as one value. Name the row where it opens, not a cut-off export."""
    if not any("\n" in f or "\r" in f for f in last):
        return
    opened = ",".join(last).splitlines()[0][:160]
    raise SourceError(
        f"table {table}: {path} has a quote that is never closed, in the row starting "
        f"{opened!r}: every row after it would be read as part of one value. Fix the quotes in "
        'the export (a quote inside a value is written twice, "").'
    )


def _refuse_rows_wider_than_the_header(
    path: Path, table: str, encoding: str, delimiter: str, header: list[str], last: list[str]
) -> None:
    """The first row as long as the last, and both unlike the header: the header and the rows
    disagree throughout (a column without a header name, a delimiter left at each row's end),
    not an export cut off at its end."""
    with _open_text(path, encoding) as fh:
        rows = csv.reader(fh, delimiter=delimiter)
        next(rows, None)
        first = next((r for r in rows if r), None)
    if first is None or len(first) != len(last):
        return
    why = (
        "a column has no name in the header, or each row ends with an extra delimiter"
        if len(first) > len(header)
        else "the header names columns the rows do not hold"
    )
    raise SourceError(
        f"table {table}: the rows of {path} have {len(first)} field(s) where the header has "
        f"{len(header)} (first row: {delimiter.join(first)[:200]!r}); {why}. Export the file "
        "again with one header name per column."
    )


def _delimiter(sample: str) -> str:
    """The delimiter of the first line, as DuckDB's sniffer would find it (comma by default)."""
    first = sample.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _open_text(path: Path, encoding: str):
    import io

    return io.TextIOWrapper(_open_bytes(path), encoding=encoding, errors="replace", newline="")


def _tail(path: Path) -> tuple[bytes, bool]:
    """The file's last bytes (decompressed) and whether they are the whole file."""
    if not path.name.endswith(".gz"):
        size = path.stat().st_size
        with path.open("rb") as fh:
            fh.seek(max(size - _TAIL_BYTES, 0))
            return fh.read(), size <= _TAIL_BYTES
    tail, whole = b"", True
    with _open_bytes(path) as fh:
        while chunk := fh.read(1 << 20):
            whole = whole and len(tail) + len(chunk) <= _TAIL_BYTES
            tail = (tail + chunk)[-_TAIL_BYTES:]
    return tail, whole


def _last_row(path: Path, encoding: str, delimiter: str) -> list[str] | None:
    tail, whole = _tail(path)
    lines = tail.decode(encoding, errors="replace").splitlines(keepends=True)
    if not whole:
        lines = lines[1:]  # the first line of the tail may start mid-row
    rows = [r for r in csv.reader(lines, delimiter=delimiter) if r]
    return rows[-1] if len(rows) > 1 or whole else None


_UTF16 = "UTF-16 text (a spreadsheet's 'Unicode text' export)"
_UTF16_FIX = "export it as CSV UTF-8, or set sources.{table}.source.encoding: utf-16"

# What a file that is not CSV text starts with, and how to give it to churnml instead.
_OTHER_KINDS = (
    (
        0,
        b"PK\x03\x04",
        "an Excel workbook (or another zip archive)",
        "save it as CSV UTF-8 or Parquet and point sources.{table}.source.path at that file",
    ),
    (
        0,
        b"\xd0\xcf\x11\xe0",
        "an Excel 97-2003 workbook",
        "save it as CSV UTF-8 or Parquet and point sources.{table}.source.path at that file",
    ),
    (
        0,
        b"PAR1",
        "a Parquet file",
        "set sources.{table}.source.format: parquet (or name the file .parquet)",
    ),
    (0, b"\x1f\x8b", "gzip-compressed", "name it .csv.gz (read as compressed CSV) or unpack it"),
    (0, b"SQLite format 3", "an SQLite database", "export the table as CSV or Parquet"),
    (0, b"\xff\xfe", _UTF16, _UTF16_FIX),
    (0, b"\xfe\xff", _UTF16, _UTF16_FIX),
    (
        8,
        b"DUCK",
        "a DuckDB database",
        "read it with source: {{kind: duckdb, database: <path>, table: <table>}}",
    ),
)


def file_kind(path: Path) -> tuple[str, str] | None:
    """What a file is when its first bytes say it is no text (kind, how to fix), else None."""
    with path.open("rb") as fh:
        head = fh.read(16)
    if not any(b < 0x20 and b not in (0x09, 0x0A, 0x0D) for b in head):
        return None  # text, even if it starts like a magic number (a column named PAR1...)
    for offset, magic, what, fix in _OTHER_KINDS:
        if head[offset : offset + len(magic)] == magic:
            return what, fix
    if len(head) >= 4 and (not any(head[1::2]) or not any(head[0::2])):
        return _UTF16, _UTF16_FIX  # ASCII as UTF-16 without a byte-order mark: every other byte 0
    return None


def _json_read_as_csv(path: Path, table: str) -> SourceError:
    """JSON read as CSV: one answer whether the bytes or the decoded text gave it away."""
    return SourceError(
        f"table {table}: {path} is JSON, not a CSV file; name it .jsonl (one object a line) "
        f"or set sources.{table}.source.format: json"
    )


def _looks_like_json(path: Path) -> bool:
    """Text that opens like JSON (`[{"id": ...` or `{"id": ...`), not like a CSV header (which
    may start with a bracketed name, `[id],name`)."""
    import re

    with _open_bytes(path) as fh:
        head = fh.read(64).removeprefix(b"\xef\xbb\xbf")
    return re.match(rb'\s*(\{\s*"|\[\s*[\[{"\]])', head) is not None


def refuse_other_kinds_of_file(path: Path, table: str, encoding: str = "utf-8") -> None:
    """A workbook, Parquet or database file read as CSV would be 'not UTF-8' with a row of binary
    noise; say what the file is instead."""
    if encoding == "utf-8" and _looks_like_json(path):
        raise _json_read_as_csv(path, table)
    kind = file_kind(path)
    if kind is None or (kind[0] == "gzip-compressed" and path.name.endswith(".gz")):
        return
    if kind[0] == _UTF16 and encoding == "utf-16":
        return
    what, fix = kind
    expected = "UTF-8" if what == _UTF16 else "a CSV file"
    raise SourceError(f"table {table}: {path} is {what}, not {expected}; {fix.format(table=table)}")


_DUCKDB_MAGIC = b"DUCK"  # bytes 8 to 12 of every DuckDB database file


def check_duckdb_file(path: Path, where: str, fix: str) -> None:
    """Refuse a file that exists but is no DuckDB database (empty, a CSV, an SQLite file...):
    DuckDB would fail deep inside a flow with a traceback."""
    if path.is_dir():
        raise SourceError(f"{where}: {path} is a folder, not a DuckDB database file; {fix}")
    if not path.exists():
        return
    with path.open("rb") as fh:
        head = fh.read(16)
    if head[8:12] == _DUCKDB_MAGIC:
        return
    what = (
        "an empty file"
        if not head
        else "an SQLite database"
        if head.startswith(b"SQLite")
        else ("another kind of file")
    )
    raise SourceError(f"{where}: {path} is not a DuckDB database file ({what}); {fix}")


def preflight_warehouse(cfg: ChurnmlConfig) -> None:
    """The warehouse is a DuckDB file, or a path where one can be created."""
    path = cfg.resolve(cfg.warehouse.path)
    fix = "point it at a DuckDB file, or at a path that does not exist yet (it is then created)"
    check_duckdb_file(path, "warehouse.path", fix)
    check_creatable(path, "warehouse.path", "point it into a folder you can write to")


def is_lock_error(exc: Exception) -> bool:
    """Whether DuckDB refused to open a file because another process holds its lock."""
    return "lock" in str(exc).lower()


def refuse_a_warehouse_in_use(cfg: ChurnmlConfig) -> None:
    """Raise OutputError when another process holds the warehouse: replacing the file under a
    running score or training would lose what that run writes."""
    import duckdb

    path = cfg.resolve(cfg.warehouse.path)
    if not path.is_file():
        return
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as exc:
        if not is_lock_error(exc):
            raise
        holder = str(exc).split("Conflicting lock is held in", 1)[-1].split(". See", 1)[0]
        raise OutputError(
            f"warehouse.path: {path} is in use by another process ({holder.strip()}); nothing "
            "was written. Wait for that run to finish, or point warehouse.path at another file"
        ) from None


def refuse_replacing_a_warehouse(cfg: ChurnmlConfig, force: bool = False) -> str | None:
    """Before `churnml demo-data` replaces the warehouse file: raise OutputError when it holds
    tables and is no demo warehouse (no `demo_latent_truth`: the user's own tables, scored
    history, track record), unless `force`. Returns what the replacement drops (a note for the
    user), or None when there is nothing to drop."""
    import duckdb

    from churnml.io.warehouse_writer import LATENT_TABLE, PLAY_TRUTH_TABLE, SMALL_TABLES

    path = cfg.resolve(cfg.warehouse.path)
    if not path.is_file():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables ORDER BY table_name"
                ).fetchall()
            ]
    except duckdb.Error:
        return None  # the writer says what is wrong with the file
    demo = {*SMALL_TABLES, "usage_events", LATENT_TABLE, PLAY_TRUTH_TABLE}
    if LATENT_TABLE in tables:  # a demo warehouse: replacing it is what demo-data is for
        extra = [t for t in tables if t not in demo]
        return f"replaced the demo warehouse there, with its {_names(extra)}" if extra else None
    if not tables:
        return None
    if force:
        return f"replaced {path}, with its tables {_names(tables)} (--force)"
    raise OutputError(
        f"warehouse.path: {path} is not a demo warehouse (it holds {_names(tables)}); "
        "`churnml demo-data` would replace the whole file. Point warehouse.path at another file, "
        "or pass --force to replace it; nothing was written"
    )


def _names(names: list[str], most: int = 6) -> str:
    more = len(names) - most
    return ", ".join(names[:most]) + (f" and {more} more" if more > 0 else "")


def check_creatable(path: Path, where: str, fix: str) -> None:
    """A file that does not exist yet can be created: its nearest existing folder is a folder
    and writable (else the flow would fail after its start-up, with a traceback per retry)."""
    import os

    if path.exists():
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SourceError(f"{where}: {path} cannot be created, {ancestor} is a file; {fix}")
    if not os.access(ancestor, os.W_OK | os.X_OK) or _read_only_mount(ancestor):
        raise SourceError(
            f"{where}: {path} cannot be created, folder {ancestor} is not writable; {fix}"
        )


class OutputError(SourceError):
    """A place a command writes to (the MLflow store, the report folder, a sink's folder)
    cannot be written; the message names the config key."""


def check_writable(path: Path, where: str, fix: str) -> None:
    """A file or folder a command writes: one that exists is writable, and so is the folder of
    a file (DuckDB and SQLite write a journal beside it; demo data is built beside it); one that
    does not exist yet can be created. Root writes through a folder's permissions, so under
    root only a read-only mount stops a write."""
    if not path.exists():
        check_creatable(path, where, fix)
        return
    for target in (path, path.parent) if path.is_file() else (path,):
        if not _writable(target):
            what = "folder" if target.is_dir() else "file"
            raise SourceError(
                f"{where}: {path} cannot be written, {what} {target} is read-only; make it "
                f"writable, or {fix}"
            )


def _writable(target: Path) -> bool:
    import os

    mode = os.W_OK | (os.X_OK if target.is_dir() else 0)
    return os.access(target, mode) and not _read_only_mount(target)


def _local_folder(value: str) -> bool:
    """A path, not a URI such as s3://bucket or file:///x (MLflow's to reach)."""
    return "://" not in value


def preflight_outputs(cfg: ChurnmlConfig, writes: set[str]) -> None:
    """Raise OutputError (one line: key, path, how to fix) when a place the command writes to
    cannot be written: `writes` names them (warehouse, mlflow, reports, sinks, prefect: the
    home folder of the flows' orchestrator)."""
    fix = (
        "point it into a folder you can write to (relative paths start at the config file's folder)"
    )
    for path, where in _output_paths(cfg, writes):
        folder = where in _FOLDER_KEYS or where.startswith("output.sinks")
        if folder and path.exists() and not path.is_dir():
            raise OutputError(
                f"{where}: {path} is a file, not a folder; point {where} at a folder (it is "
                "created when missing)"
            )
        try:
            check_writable(path, where, fix)
        except SourceError as exc:
            raise OutputError(str(exc)) from None
    if "prefect" in writes:
        check_prefect_home()
    for i, sink in enumerate(cfg.output.sinks if "sinks" in writes else []):
        if sink.kind == "postgres" and not sink.url_secret:
            why = _unset_url_env(sink.url_env or "CHURNML_POSTGRES_URL", f"output.sinks[{i}]")
            if why:
                raise OutputError(why)


# The outputs that are folders (the others are database files).
_FOLDER_KEYS = ("mlflow.artifact_root", "output.report_dir")


def _output_paths(cfg: ChurnmlConfig, writes: set[str]) -> list[tuple[Path, str]]:
    """(path, config key) of each local file or folder among `writes`."""
    from churnml.io.mlflow_store import local_store, user_store

    paths: list[tuple[Path, str]] = []
    if "warehouse" in writes:
        paths.append((cfg.resolve(cfg.warehouse.path), "warehouse.path"))
    store = local_store(cfg) if "mlflow" in writes else None
    if store is not None:
        paths.append((store, "MLFLOW_TRACKING_URI" if user_store() else "mlflow.tracking_uri"))
        if _local_folder(cfg.mlflow.artifact_root):
            paths.append((cfg.resolve(cfg.mlflow.artifact_root), "mlflow.artifact_root"))
    if "reports" in writes:
        paths.append((cfg.resolve(cfg.output.report_dir), "output.report_dir"))
    if "sinks" in writes:
        paths += [
            (cfg.resolve(sink.path or "exports"), f"output.sinks[{i}].path")
            for i, sink in enumerate(cfg.output.sinks)
            if sink.kind in ("parquet", "csv")
        ]
    return paths


def _unset_url_env(variable: str, where: str) -> str | None:
    """One line when the environment variable meant to hold a database URL is not set."""
    import os

    if os.environ.get(variable):
        return None
    return (
        f"{where}: environment variable {variable} holding the database URL is not set; set it "
        f"(e.g. export {variable}=postgresql://user:password@host/db), or name another one in "
        f"{where}.url_env (or a Prefect Secret block in {where}.url_secret)"
    )


def prefect_home() -> tuple[Path, str]:
    """Prefect's home folder (its temporary server's database, its settings) and where it
    comes from: PREFECT_HOME, else ~/.prefect."""
    import os

    value = os.environ.get("PREFECT_HOME")
    if value:
        return Path(value).expanduser(), "PREFECT_HOME"
    return Path("~/.prefect").expanduser(), "Prefect's home folder (PREFECT_HOME unset)"


def check_prefect_home() -> None:
    """Raise OutputError when Prefect's home folder cannot be created or written: Prefect would
    only warn, then fail a minute later, starting its temporary server, with a traceback."""
    home, where = prefect_home()
    fix = "set PREFECT_HOME to a folder you can write to (e.g. export PREFECT_HOME=/tmp/prefect)"
    if home.exists() and not home.is_dir():
        raise OutputError(f"{where}: {home} is a file, not a folder; {fix}")
    try:
        check_writable(home, where, fix)
    except SourceError as exc:
        raise OutputError(str(exc)) from None


def _read_only_mount(folder: Path) -> bool:
    import os

    return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)


def preflight_sources(cfg: ChurnmlConfig) -> None:
    """Raise SourceError (one line: table, file, column, how to fix) on the first mistake."""
    preflight_warehouse(cfg)
    for name, mapping in cfg.sources.items():
        _check_database_source(cfg, name, mapping.source)
        columns = _source_columns(mapping.source, cfg, name)
        if columns is not None:
            try:
                _check_columns(name, mapping, cfg, columns)
            except SourceError as exc:
                raise SourceError(f"{exc}{_read_by_another_table(cfg, name)}") from None
            _check_has_rows(name, mapping.source, cfg)
        key = mapping.account_key
        if key is not None and key.lookup is not None:
            lookup = _source_columns(key.lookup, cfg, f"{name}_lookup")
            for col in (key.lookup_key, key.lookup_account_id):
                if lookup is not None and col not in lookup:
                    raise SourceError(
                        f"table {name}: lookup column {col!r} not found (lookup columns: {lookup})"
                    )


def _check_database_source(cfg: ChurnmlConfig, name: str, source) -> None:
    """A SQL source's URL is set; a DuckDB source's database file exists and is one."""
    if isinstance(source, SqlSource) and not source.url_secret:
        why = _unset_url_env(source.url_env, f"sources.{name}.source")
        if why:
            raise SourceError(f"table {name}: {why}")
    if isinstance(source, DuckDBTableSource) and source.database is not None:
        path = cfg.resolve(source.database)
        if not path.exists():
            raise SourceError(
                f"table {name}: DuckDB database {path} does not exist; fix "
                f"sources.{name}.source.database (relative paths start at the config file's "
                "folder)"
            )
        check_duckdb_file(path, f"table {name}", f"fix sources.{name}.source.database")


def _read_by_another_table(cfg: ChurnmlConfig, name: str) -> str:
    """'; ... is also the file of sources.X' when another table reads the same file: a
    copy-paste slip in the config is likelier then than a column missing from the export."""
    source = cfg.sources[name].source
    if not isinstance(source, FileSource):
        return ""
    path = cfg.resolve(source.path)
    for other, mapping in cfg.sources.items():
        theirs = mapping.source
        if other != name and isinstance(theirs, FileSource) and cfg.resolve(theirs.path) == path:
            return (
                f"; note: {source.path} is also the file of sources.{other}: is "
                f"sources.{name}.source.path a copy of that line?"
            )
    return ""


def _not_parquet(path: Path, table: str, exc: Exception) -> SourceError:
    """Say what a file read as Parquet is instead: an empty file, a CSV export, a workbook..."""
    if path.stat().st_size == 0:
        return SourceError(
            f"table {table}: {path} is an empty file (0 bytes), not Parquet: the export or copy "
            f"did not finish. Export it again, or fix sources.{table}.source.path"
        )
    kind = file_kind(path)
    with path.open("rb") as fh:
        text = b"\x00" not in fh.read(4096)
    if kind is not None and kind[0] != "a Parquet file":
        what, fix = kind
        return SourceError(
            f"table {table}: {path} is {what}, not Parquet; {fix.format(table=table)}"
        )
    if kind is None and text:
        return SourceError(
            f"table {table}: {path} is text (a CSV file?), not Parquet; name it .csv or set "
            f"sources.{table}.source.format: csv"
        )
    return SourceError(
        f"table {table}: {path} is not a readable Parquet file ({type(exc).__name__})"
    )


def _source_columns(source, cfg: ChurnmlConfig, table: str) -> list[str] | None:
    """The columns of a file source (None for database sources, checked when they are read)."""
    if not isinstance(source, FileSource):
        return None
    pattern = str(cfg.resolve(source.path))
    files = sorted(glob.glob(pattern))
    if not files:
        raise SourceError(
            f"table {table}: no file matches {pattern}{_unset_variables(source.path)}; fix "
            f"sources.{table}.source.path (relative paths start at the config file's folder)"
        )
    broken = [f for f in files if Path(f).is_symlink() and not Path(f).exists()]
    if broken:
        raise SourceError(
            f"table {table}: {broken[0]} is a symbolic link that leads to no file (a link loop, "
            f"or its target was moved); point sources.{table}.source.path at the file itself"
        )
    folders = [f for f in files if Path(f).is_dir()]
    if folders:
        suffix = {"json": "jsonl"}.get(source.file_format(), source.file_format())
        raise SourceError(
            f"table {table}: {folders[0]} is a folder; point sources.{table}.source.path at a "
            f"file, or at the files in it with a glob such as {Path(folders[0]) / ('*.' + suffix)}"
        )
    if source.file_format() == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(files[0]).names)
        except Exception as exc:
            raise _not_parquet(Path(files[0]), table, exc) from None
    if source.file_format() == "json":
        return json_fields(Path(files[0]), table)
    headers = [check_csv_file(Path(f), table, source.encoding) for f in files]
    for file, header in zip(files[1:], headers[1:], strict=True):
        if header != headers[0]:
            raise SourceError(
                f"table {table}: {file} has columns {header}, unlike {files[0]} ({headers[0]}); "
                "every file a glob matches must have the same header"
            )
    return headers[0]


def _unset_variables(path: str) -> str:
    """' (environment variable X is not set)' when a path names variables the environment lacks
    (they stay in the path as written)."""
    import os
    import re

    unset = [
        name
        for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", path)
        if name not in os.environ
    ]
    if not unset:
        return ""
    return (
        f" (environment variable {', '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set)"
    )


def _check_columns(
    name: str, mapping: TableMapping, cfg: ChurnmlConfig, columns: list[str]
) -> None:
    renamed = {k: v for k, v in mapping.columns.items() if isinstance(v, str)}
    for target, src in renamed.items():
        if src not in columns:
            like = _similar(src, columns)
            raise SourceError(
                f"table {name}, column {target}: mapped to source column {src!r}, which does not "
                f"exist (source columns: {columns})"
                + (f"; did you mean {like!r}? (names are case-sensitive)" if like else "")
            )
    key = mapping.account_key
    if key is not None and key.column not in columns:
        raise SourceError(
            f"table {name}: account_key.column {key.column!r} is not a column of the source "
            f"(columns: {columns})"
        )
    _refuse_one_column_read_twice(name, mapping, columns)
    contract = TABLES.get(name)
    if contract is None or mapping.model_fields_set - {"source", "columns", "account_key"}:
        return  # anything else in the mapping may derive columns: the mapping itself checks
    for col in contract.columns:
        if not col.required or col.name in mapping.columns:
            continue
        if col.name == "account_id" and key is not None:
            continue
        if col.name not in columns:
            like = _similar(col.name, columns)
            compose = (
                f", or compose it: derive: {{{col.name}: {{concat: [<columns that tell rows "
                "apart>]}}"
                if col.name in contract.key and not like
                else ""
            )
            shown = (repr(like) if like != like.strip() else like) if like else "your_column"
            raise SourceError(
                f"table {name}, column {col.name}: required column not found (source columns: "
                f"{columns}; map it under sources.{name}.columns, e.g. {col.name}: "
                f"{shown}{compose})"
            )


def _refuse_one_column_read_twice(name: str, mapping: TableMapping, columns: list[str]) -> None:
    """Two dates or numbers of one table read from one source column (start_at and end_at
    both mapped to `start_at`) make every subscription end as it starts: a copy-paste slip in
    the mapping, not data. Text fields may share a column (plan and segment from one tier)."""
    contract = TABLES.get(name)
    if contract is None:
        return
    read_from: dict[str, list[str]] = {}
    for col in contract.columns:
        if col.dtype == "string" or col.name in mapping.derive:
            continue
        src = mapping.columns.get(col.name, col.name if col.name in columns else None)
        if isinstance(src, str):
            read_from.setdefault(src, []).append(col.name)
    for src, fields in read_from.items():
        if len(fields) > 1:
            raise SourceError(
                f"table {name}: {', '.join(fields[:-1])} and {fields[-1]} are "
                f"{'both' if len(fields) == 2 else 'all'} read from source column {src!r}; "
                f"each needs its own column: fix sources.{name}.columns (leave out a field your "
                "table does not have)"
            )


def _similar(name: str, columns: list[str]) -> str | None:
    """The source column a name most likely means: the same but for letter case, spaces and
    underscores (ACCOUNT_ID, Account Id), else a close spelling."""
    import difflib

    def plain(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum())

    same = [c for c in columns if plain(c) == plain(name)]
    if same:
        return same[0]
    close = difflib.get_close_matches(name.lower(), [c.lower() for c in columns], 1, 0.7)
    return next((c for c in columns if close and c.lower() == close[0]), None)


def _file_has_rows(path: Path, fmt: str, encoding: str) -> bool:
    """Whether a file holds a row beyond its header (stops at the first one)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_metadata(path).num_rows > 0
    if fmt == "json":
        import duckdb

        with duckdb.connect() as con:
            return bool(con.read_json(str(path)).limit(1).fetchall())
    with _open_text(path, encoding) as fh:
        lines = (line for line in fh if line.strip())
        next(lines, None)  # the header
        return next(lines, None) is not None


def json_fields(path: Path, table: str) -> list[str]:
    """The top-level field names of a JSON lines file (or a JSON array), as DuckDB reads them."""
    import duckdb

    kind = file_kind(path)
    if kind is not None and not (kind[0] == "gzip-compressed" and path.name.endswith(".gz")):
        raise SourceError(
            f"table {table}: {path} is {kind[0]}, not JSON; {kind[1].format(table=table)}"
        )
    try:
        with duckdb.connect() as con:
            return list(con.read_json(str(path)).columns)
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise SourceError(
            f"table {table}: {path} is not JSON lines (one object a line) or a JSON array of "
            f"objects: {first_line}"
        ) from None


def _check_has_rows(name: str, source: FileSource, cfg: ChurnmlConfig) -> None:
    """A required table (accounts, subscriptions) exported as a header only: one line here,
    instead of every other table's rows reported as belonging to unknown accounts."""
    contract = TABLES.get(name)
    if contract is None or contract.optional:
        return
    pattern = str(cfg.resolve(source.path))
    files = sorted(glob.glob(pattern))
    fmt = source.file_format()
    if any(_file_has_rows(Path(f), fmt, source.encoding) for f in files):
        return
    what = files[0] if len(files) == 1 else f"each of the {len(files)} files matching {pattern}"
    raise SourceError(
        f"table {name}: {what} has a header but no rows, and {name} may not be empty "
        f"({_WHY_NOT_EMPTY.get(name, 'it is required')}): export it again with its rows, or fix "
        f"sources.{name}.source.path"
    )


_WHY_NOT_EMPTY = {
    "accounts": "every other table's rows would belong to unknown accounts",
    "subscriptions": "no account would ever have been a customer",
}


def refuse_an_as_of_outside_the_data(cfg: ChurnmlConfig, as_of) -> None:
    """Raise NoActiveAccountsError (AsOfAfterDataError) for a scoring as-of past the end of the
    data or before the first subscription, from a cheap read of the latest event, ticket, answer
    or contract date and the first start, before any flow starts (the scoring flow checks again,
    with the champion's windows)."""
    from churnml.io.sources import connect_for_checks, load_sources
    from churnml.matrix import observed_until
    from churnml.validation import (
        DataValidationError,
        active_span,
        refuse_as_of_after_data,
        refuse_empty_scoring,
    )

    con = connect_for_checks(cfg)
    try:
        mapped = load_sources(con, cfg)
        end = observed_until({name: m.table for name, m in mapped.items()})
        refuse_as_of_after_data(as_of, end, cfg.features.windows_days)
        subscriptions = mapped["subscriptions"].table if "subscriptions" in mapped else None
        first = active_span(subscriptions)[0] if subscriptions is not None else None
        if first is not None and as_of <= first.date():
            refuse_empty_scoring(as_of, subscriptions)
    except DataValidationError:
        raise  # the as-of is refused
    except (SourceReadError, ValueError):
        return  # an outage is retried and timeless data refused by the flow, after its checks
    finally:
        con.disconnect()


class _SourcesRead:
    """The local sources mapped once for the checks a command runs before its flow starts: the
    connection and the mapped tables (or the error either gave), for each check to share."""

    def __init__(self, cfg: ChurnmlConfig) -> None:
        self.cfg = cfg
        self._con = None
        self._mapped: dict | None = None
        self._error: Exception | None = None
        self._con_error: Exception | None = None

    def connection(self):
        """The checks' connection (connect_for_checks); its error is raised to every caller."""
        from churnml.io.sources import connect_for_checks

        if self._con_error is not None:
            raise self._con_error
        if self._con is None:
            try:
                self._con = connect_for_checks(self.cfg)
            except Exception as exc:
                self._con_error = exc
                raise
        return self._con

    def mapped(self) -> dict:
        """load_sources on the connection, once; its error is raised again to each caller."""
        from churnml.io.sources import load_sources

        if self._error is not None:
            raise self._error
        if self._mapped is None:
            try:
                self._mapped = load_sources(self.connection(), self.cfg)
            except Exception as exc:
                self._error = exc
                raise
        return self._mapped

    def close(self) -> None:
        if self._con is not None:
            self._con.disconnect()
            self._con = None


_SHARED: _SourcesRead | None = None


@contextmanager
def sources_read_once(cfg: ChurnmlConfig):
    """Within it, the checks below (refuse_an_immature_evaluation, refuse_bad_data) share one
    read of the sources instead of each reading them again."""
    global _SHARED
    _SHARED = _SourcesRead(cfg)
    try:
        yield
    finally:
        _SHARED.close()
        _SHARED = None


@contextmanager
def _sources(cfg: ChurnmlConfig):
    """The shared read of `sources_read_once` for this config, else a read of its own."""
    if _SHARED is not None and _SHARED.cfg is cfg:
        yield _SHARED
        return
    own = _SourcesRead(cfg)
    try:
        yield own
    finally:
        own.close()


def refuse_an_immature_evaluation(cfg: ChurnmlConfig, scored: list, requested, where: str) -> None:
    """Raise TrackRecordError when no scored as-of (or not the requested one) has its outcomes
    in the data yet, from a cheap read of the latest date, as the evaluation flow would after
    its start-up (track_record.choose_as_of). Sources on a database are left to the flow."""
    from churnml.matrix import observed_until
    from churnml.track_record import choose_as_of

    if not _all_local(cfg):
        return
    with _sources(cfg) as read:
        try:
            mapped = read.mapped()
            end = observed_until({name: m.table for name, m in mapped.items()})
        except Exception:  # noqa: BLE001 (the data checks read them and say what is wrong)
            return
    choose_as_of(scored, cfg.labels, end, requested, where=where)


def refuse_bad_data(cfg: ChurnmlConfig, labels: bool = False) -> None:
    """Before a flow starts, the checks it would run first: raise SourceError for a mapping
    mistake, DataValidationError when the data checks find an error (as `check-data` does) and,
    with `labels`, TrainingError when the labels alone show that no configured target can
    train (refuse_untrainable_data). Sources on a database (SQL) are left to the flow: it
    reads them with retries, and reading them twice costs more than its start-up. The flow
    runs every check again."""
    from churnml.trainable import TrainingError
    from churnml.validation import DataValidationError, raise_for_problems, validate_sources

    if not _all_local(cfg):
        return
    with _sources(cfg) as read:
        read.connection()  # a warehouse another run holds is said, not skipped
        try:
            mapped = read.mapped()
            raise_for_problems(
                validate_sources(mapped, None, cfg.validation, cfg.labels.plan_order)
            )
            frame = _labels(cfg, {name: m.table for name, m in mapped.items()}) if labels else None
        except SourceReadError:
            return  # an outage: the flow retries it
        except (SourceError, DataValidationError, TrainingError):
            raise
        except Exception:  # noqa: BLE001 (anything else is the flow's to report, after its checks)
            return
    if frame is not None:
        refuse_untrainable_data(cfg, frame)


def _labels(cfg: ChurnmlConfig, tables: dict):
    """Both labels on the snapshot grid the training flow builds (as_of, churn_label,
    upsell_label), or None on the Spark engine (its data may be too large to label twice)."""
    from churnml.labels import build_labels, outcome_tables
    from churnml.matrix import observed_until, spine_for
    from churnml.snapshots import snapshot_grid

    if cfg.warehouse.engine != "duckdb":
        return None
    end = observed_until(tables)
    refuse_snapshots_after_data(cfg, end)
    last = cfg.snapshots.end or end.date()
    grid = snapshot_grid(last, cfg.snapshots.count, cfg.snapshots.frequency)
    spine = spine_for(tables, grid, cfg.labels)
    churns, expansions = outcome_tables(tables, cfg.labels)
    subscriptions = tables.get("subscriptions")
    labels = build_labels(subscriptions, spine, cfg.labels, end, churns, expansions)
    return labels.select("as_of", "churn_label", "upsell_label").to_pandas()


def refuse_snapshots_after_data(cfg: ChurnmlConfig, end) -> None:
    """Raise TrainingError when snapshots.end lies past the data's end by more than the shortest
    feature window: its snapshots would show every account inactive and none labelled."""
    from datetime import timedelta

    from churnml.trainable import TrainingError

    chosen = cfg.snapshots.end
    if chosen is None or chosen <= end.date() + timedelta(days=min(cfg.features.windows_days)):
        return
    raise TrainingError(
        f"snapshots.end {chosen} is {(chosen - end.date()).days} days after the data ends "
        f"({end.date()}): no snapshot after the data can be labelled or described; set "
        f"snapshots.end to {end.date()} or earlier, or leave it out (the data's end). Nothing "
        "was trained or written."
    )


def refuse_untrainable_data(cfg: ChurnmlConfig, labels) -> None:
    """Raise TrainingError when the labels (`_labels`) show that no configured target can
    train: every account churned, one outcome only, too few snapshots for the horizons. A
    target that cannot train while another can is the flow's to skip, with its one line."""
    from churnml.labels import unmeasured_targets
    from churnml.trainable import nothing_trains, untrainable_targets

    targets = list(cfg.training.targets)
    skipped = {t: r for t, r in unmeasured_targets(cfg.sources, cfg.labels).items() if t in targets}
    horizons = {"churn": cfg.labels.churn_horizon_days, "upsell": cfg.labels.upsell_horizon_days}
    wanted = [t for t in targets if t not in skipped]
    skipped |= untrainable_targets(labels, wanted, horizons, cfg.training.validation_snapshots)
    if len(skipped) == len(targets):
        raise nothing_trains({t: skipped[t] for t in targets})


def _all_local(cfg: ChurnmlConfig) -> bool:
    """Every source is a file, a DuckDB table or a view on them: cheap to read a second time."""
    return all(
        isinstance(m.source, FileSource | DuckDBTableSource | ViewSource)
        for m in cfg.sources.values()
    )
