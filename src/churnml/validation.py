"""Data checks on the mapped sources, before anything is computed.

Checks run as aggregate queries on the (possibly huge) mapped tables; only a failing check
fetches example rows. Every problem names its table, column, check, how many rows fail and a
few example rows, so the owner of the data can find and fix them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnml.config import ValidationConfig
from churnml.contract import OFFSET_PATTERN, TABLES, cast_to_contract

ABSURD_MRR = 10_000_000.0
EXAMPLES = 3


@dataclass
class DataProblem:
    table: str
    column: str
    check: str
    failing_rows: int
    examples: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        ex = "; ".join(str(e) for e in self.examples)
        return f"{self.table}.{self.column}: {self.check} ({self.failing_rows} rows) e.g. {ex}"


class DataValidationError(ValueError):
    """Sources failed their checks; nothing was computed or written."""

    def __init__(self, problems: list[DataProblem]):
        self.problems = problems
        lines = [f"{len(problems)} data problem(s) found; nothing was computed or written:"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


@dataclass
class _Check:
    column: str
    name: str
    failing: ir.BooleanValue  # row-level predicate, True where the row fails


def _examples(table: ir.Table, predicate: ir.BooleanValue, columns: list[str]) -> list[dict]:
    rows = table.filter(predicate).select(*columns).limit(EXAMPLES).to_pandas()
    return [
        {k: (None if pd.isna(v) else str(v)) for k, v in r.items()} for r in rows.to_dict("records")
    ]


def _checks_for(
    name: str, t: ir.Table, now: datetime, absurd_mrr: float = ABSURD_MRR
) -> list[_Check]:
    """Predicates on a table holding the raw column ``c`` and its contract-typed twin ``__t_c``."""
    contract = TABLES[name]
    checks: list[_Check] = []

    def typed(c: str) -> ir.Column:
        return t[f"__t_{c}"]

    for col in contract.columns:
        if col.name not in t.columns:
            continue
        r, v = t[col.name], typed(col.name)
        if col.required and col.name != "account_id":
            checks.append(_Check(col.name, "required value is missing", r.isnull()))
        if col.dtype in ("timestamp", "float64", "int64", "boolean") and r.type().is_string():
            what = "unparseable date" if col.dtype == "timestamp" else f"not a valid {col.dtype}"
            checks.append(_Check(col.name, what, r.notnull() & (r.strip() != "") & v.isnull()))
        elif col.dtype != "string" and not r.type().is_null():
            # a typed source (Parquet, SQL, DuckDB) whose column cannot hold the contract type
            what = f"wrong type: {r.type()} values cannot be read as {col.dtype}"
            checks.append(_Check(col.name, what, r.notnull() & v.isnull()))
        if col.dtype == "float64":
            checks.append(
                _Check(col.name, "NaN or infinite value", v.notnull() & (v.isnan() | v.isinf()))
            )
        if col.dtype == "timestamp" and col.name != "end_at":
            future = ibis.timestamp(now + timedelta(days=1))
            checks.append(_Check(col.name, "timestamp in the future", v.notnull() & (v > future)))
    if "account_id" in t.columns:
        checks.append(
            _Check(
                "account_id",
                "account_id is missing (or its key was not found in the lookup)",
                typed("account_id").isnull(),
            )
        )
    if name == "subscriptions":
        checks.append(_Check("mrr", "negative MRR", typed("mrr") < 0))
        checks.append(_Check("mrr", f"absurd MRR (> {absurd_mrr:,.0f})", typed("mrr") > absurd_mrr))
        checks.append(
            _Check(
                "end_at",
                "subscription ends before it starts",
                typed("end_at").notnull() & (typed("end_at") < typed("start_at")),
            )
        )
        checks.append(_Check("seats", "negative seats", typed("seats") < 0))
    if name == "support_tickets":
        checks.append(
            _Check(
                "closed_at",
                "ticket closed before it was opened",
                typed("closed_at").notnull() & (typed("closed_at") < typed("opened_at")),
            )
        )
        checks.append(
            _Check(
                "first_response_at",
                "first response before the ticket was opened",
                typed("first_response_at").notnull()
                & (typed("first_response_at") < typed("opened_at")),
            )
        )
        sat = typed("satisfaction")
        checks.append(
            _Check("satisfaction", "satisfaction outside 1-5", sat.notnull() & ~sat.between(1, 5))
        )
    if name == "nps_responses":
        checks.append(
            _Check(
                "score",
                "NPS score outside 0-10",
                typed("score").notnull() & ~typed("score").between(0, 10),
            )
        )
    if name == "usage_events":
        checks.append(_Check("quantity", "negative quantity", typed("quantity") < 0))
    return checks


def _timezone_kinds(t: ir.Table, name: str) -> dict[str, tuple[ir.BooleanValue, ir.BooleanValue]]:
    """Per text timestamp column: (value carries a UTC offset, value is naive) predicates."""
    kinds = {}
    for col in TABLES[name].columns:
        if col.dtype != "timestamp" or col.name not in t.columns:
            continue
        r = t[col.name]
        if not r.type().is_string():
            continue
        filled = r.notnull() & (r.strip() != "") & t[f"__t_{col.name}"].notnull()
        offset = r.strip().re_search(OFFSET_PATTERN)
        kinds[col.name] = (filled & offset, filled & ~offset)
    return kinds


def check_table(
    name: str, raw: ir.Table, now: datetime, settings: ValidationConfig | None = None
) -> list[DataProblem]:
    """Row-level checks of one mapped table, plus emptiness, mixed time zones and duplicate keys."""
    settings = settings or ValidationConfig()
    contract = TABLES[name]
    both = raw.mutate(
        **{
            f"__t_{c.name}": cast_to_contract(raw[c.name], c.dtype)
            for c in contract.columns
            if c.name in raw.columns
        }
    )
    checks = _checks_for(name, both, now, settings.absurd_mrr)
    aggregates = {
        f"c{i}": ck.failing.fill_null(False).cast("int64").sum() for i, ck in enumerate(checks)
    }
    zones = _timezone_kinds(both, name) if settings.mixed_timezones == "refuse" else {}
    for col, (offset, naive) in zones.items():
        aggregates[f"tz_offset_{col}"] = offset.fill_null(False).cast("int64").sum()
        aggregates[f"tz_naive_{col}"] = naive.fill_null(False).cast("int64").sum()
    result = both.aggregate(rows=both.count(), **aggregates).to_pandas().iloc[0]
    if int(result["rows"]) == 0:
        # an optional table may be empty (no tickets yet): its features are zeros
        return [] if contract.optional else [DataProblem(name, "*", "table is empty", 0)]
    problems: list[DataProblem] = []
    key_cols = [c for c in (contract.key or ("account_id",)) if c in raw.columns]
    for col, (offset, naive) in zones.items():
        n_offset, n_naive = int(result[f"tz_offset_{col}"]), int(result[f"tz_naive_{col}"])
        if n_offset and n_naive:
            cols = list(dict.fromkeys([*key_cols, col]))
            problems.append(
                DataProblem(
                    name,
                    col,
                    f"mixed time zones: {n_naive} values without a UTC offset beside {n_offset} "
                    "with one (set validation.mixed_timezones: utc to read naive values as UTC)",
                    n_naive,
                    _examples(both, naive, cols)[:2] + _examples(both, offset, cols)[:1],
                )
            )
    for i, ck in enumerate(checks):
        n = int(result[f"c{i}"] or 0)
        if n:
            cols = [c for c in (contract.key or ("account_id",)) if c in raw.columns]
            cols = list(dict.fromkeys([*cols, ck.column]))
            problems.append(
                DataProblem(name, ck.column, ck.name, n, _examples(both, ck.failing, cols))
            )
    for key in contract.key:
        dup = raw.group_by(key).aggregate(n=raw.count()).filter(lambda g: g.n > 1)
        n_dup = int(dup.count().to_pyarrow().as_py())
        if n_dup:
            ex = dup.order_by(ibis.desc("n")).limit(EXAMPLES).to_pandas()
            problems.append(
                DataProblem(
                    name,
                    key,
                    "duplicate key",
                    n_dup,
                    [{key: str(r[key]), "copies": int(r["n"])} for _, r in ex.iterrows()],
                )
            )
    return problems


def check_orphans(name: str, typed: ir.Table, accounts: ir.Table) -> list[DataProblem]:
    """Rows whose account_id is not a known account."""
    known = accounts.select(known_id=accounts.account_id).distinct()
    j = typed.filter(typed.account_id.notnull()).left_join(
        known, typed.account_id == known.known_id
    )
    orphan = j.known_id.isnull()
    n = int(j.filter(orphan).count().to_pyarrow().as_py())
    if not n:
        return []
    ex = j.filter(orphan).select("account_id").distinct().limit(EXAMPLES).to_pandas()
    return [
        DataProblem(
            name, "account_id", "rows for unknown accounts", n, ex.astype(str).to_dict("records")
        )
    ]


def validate_sources(
    mapped: dict, now: datetime | None = None, settings: ValidationConfig | None = None
) -> list[DataProblem]:
    """Every check on every mapped table; an empty list means the data may be used."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    problems: list[DataProblem] = []
    for name, m in mapped.items():
        problems += check_table(name, m.raw, now, settings)
    if "accounts" in mapped:
        for name, m in mapped.items():
            if name != "accounts":
                problems += check_orphans(name, m.table, mapped["accounts"].table)
    return problems


def raise_for_problems(problems: list[DataProblem]) -> None:
    if problems:
        raise DataValidationError(problems)


class UnknownCategoriesError(DataValidationError):
    """The scoring data holds category values the champion never saw; nothing was written."""


def unknown_category_problems(
    unseen: dict[str, list[str]], features: pd.DataFrame
) -> list[DataProblem]:
    """One problem per feature column with values the model never saw, with example accounts."""
    problems = []
    for column, values in unseen.items():
        rows = features[features[column].astype("string").isin(values)]
        examples = [
            {"account_id": str(r["account_id"]), column: str(r[column])}
            for _, r in rows.head(EXAMPLES).iterrows()
        ]
        shown = ", ".join(repr(v) for v in values[:10])
        problems.append(
            DataProblem(
                "features",
                column,
                f"category values the model never saw: {shown}",
                len(rows),
                examples,
            )
        )
    return problems


def screen_unknown_categories(
    unseen: dict[str, list[str]], features: pd.DataFrame, policy: str = "stop"
) -> list[DataProblem]:
    """Stop on values the model never saw, or (policy ``score_as_missing``) return them to report.

    A new plan or region silently scored as missing can move many accounts' scores; the default
    makes someone decide, the option lets scoring go on while saying what was treated as missing.
    """
    problems = unknown_category_problems(unseen, features)
    if problems and policy == "stop":
        raise UnknownCategoriesError(problems)
    return problems
