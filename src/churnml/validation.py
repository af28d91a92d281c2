"""Data checks on the mapped sources, before anything is computed.

Checks run as aggregate queries on the (possibly huge) mapped tables; only a failing check
fetches example rows. Every problem names its table, column, check, how many rows fail and a
few example rows, so the owner of the data can find and fix them. Errors stop every run;
warnings (data that is plausible but worth a look) are printed and logged, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnml.config import ValidationConfig
from churnml.contract import (
    OFFSET_PATTERN,
    TABLES,
    Column,
    billing_period_days,
    cast_to_contract,
)
from churnml.features import HIGH_PRIORITIES, spelling_key
from churnml.vocabulary import money

ABSURD_MRR = 10_000_000.0
EMPTY_TABLE = "table is empty"
EXAMPLES = 3


@dataclass
class DataProblem:
    table: str
    column: str
    check: str
    failing_rows: int
    examples: list[dict] = field(default_factory=list)
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        ex = "; ".join(str(e) for e in self.examples)
        head = f"{self.table}.{self.column}: {self.check} ({self.failing_rows} rows)"
        return f"{head} e.g. {ex}" if ex else head


class DataValidationError(ValueError):
    """Sources failed their checks; nothing was computed or written."""

    def __init__(self, problems: list[DataProblem]):
        self.problems = problems
        if len(problems) == 1:  # one problem, one line
            super().__init__(f"{problems[0]}; nothing was computed or written")
            return
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
    return [{k: _shown(v) for k, v in r.items()} for r in rows.to_dict("records")]


def _shown(value) -> str | None:
    """An example value as text; a list or a record (a nested column) as its items."""
    if isinstance(value, str) or not hasattr(value, "__len__"):
        return None if pd.isna(value) else str(value)
    return str(list(value) if not isinstance(value, dict) else value)


def _checks_for(name: str, t: ir.Table, now: datetime, settings: ValidationConfig) -> list[_Check]:
    """Predicates on a table holding the raw column ``c`` and its contract-typed twin ``__t_c``."""
    checks: list[_Check] = []
    for col in TABLES[name].columns:
        if col.name in t.columns:
            checks += _column_checks(t, col, now, settings.earliest_date)
    if "account_id" in t.columns:
        checks.append(
            _Check(
                "account_id",
                "account_id is missing (or its key was not found in the lookup)"
                + (_NO_ACCOUNT_HINT if name in ACTIVITY_TIMES else ""),
                t["__t_account_id"].isnull(),
            )
        )
    table_checks = _TABLE_CHECKS.get(name)
    if table_checks is not None:
        checks += table_checks(lambda c: t[f"__t_{c}"], settings)
    if name == "accounts" and "mrr" in t.columns:
        checks += _mrr_checks(lambda c: t[f"__t_{c}"], settings)
    return checks


_NUMBER_HINT = (
    " (a thousands separator or a decimal comma: export plain numbers such as 1234.5, or, for a "
    "file written with a decimal comma (1.234,50), declare it: source: {kind: file, ..., "
    "decimal: ','})"
)


_CURRENCY_HINT = (
    " (money written with a currency sign or code, e.g. $1,200.00: export plain numbers such as "
    "1200.00, in one currency)"
)


_NO_ACCOUNT_HINT = (
    " (activity of no account, such as anonymous events before a sign-up, cannot be used: leave "
    "it out of the export, or read the source through a view: source: {kind: view, query: "
    "\"SELECT * FROM read_json('<file>') WHERE <account column> IS NOT NULL\"})"
)


def _fraction_checks(r: ir.Column, v: ir.Column, col: Column) -> list[_Check]:
    """A count (seats) with a fraction, 10.5, would be rounded to a whole number without a word:
    an average or a per-period share exported in place of the count."""
    if r.type().is_string():
        fraction = r.re_search(r"^\s*[-+]?\d*\.\d*[1-9]\d*\s*$")
    elif r.type().is_floating():
        fraction = r.notnull() & ~r.isnan() & (r != r.floor())
    else:
        return []
    what = (
        "not a whole number (it would be rounded): export whole numbers such as 12, or leave "
        f"{col.name} unmapped if the column holds something else (an average?)"
    )
    return [_Check(col.name, what, v.notnull() & fraction)]


def _column_checks(t: ir.Table, col: Column, now: datetime, floor: date) -> list[_Check]:
    """What any contract column must satisfy: present if required, parseable, plausible."""
    checks = []
    r, v = t[col.name], t[f"__t_{col.name}"]
    if col.required and col.name != "account_id":
        checks.append(_Check(col.name, "required value is missing", r.isnull()))
    if col.dtype == "int64":
        checks += _fraction_checks(r, v, col)
    if col.dtype in ("timestamp", "float64", "int64", "boolean") and r.type().is_string():
        checks += _unparsed_text_checks(r, v, col)
    elif col.dtype == "string" and r.type().is_nested():
        # a list or a record (Parquet, JSON) would be read as its printed form: '[a, b]'
        what = (
            f"wrong type: {r.type()} values (a list or a record) cannot be read as text: flatten "
            "the column in the export, or pick one field through a view (source: {kind: view, "
            "query: ...})"
        )
        checks.append(_Check(col.name, what, r.notnull()))
    elif col.dtype != "string" and not r.type().is_null():
        # a typed source (Parquet, SQL, DuckDB) whose column cannot hold the contract type
        what = f"wrong type: {r.type()} values cannot be read as {col.dtype}"
        if col.dtype == "timestamp" and r.type().is_numeric():
            what += (
                f" (Unix time? derive it: {col.name}: {{from: <your column>, unit: epoch_seconds}}"
                ", or epoch_milliseconds)"
            )
        checks.append(_Check(col.name, what, r.notnull() & v.isnull()))
    if col.dtype == "float64":
        checks.append(
            _Check(col.name, "NaN or infinite value", v.notnull() & (v.isnan() | v.isinf()))
        )
    if col.dtype == "timestamp" and col.name not in ("end_at", "trial_end_at"):
        future = ibis.timestamp(now + timedelta(days=1))
        checks.append(_Check(col.name, "timestamp in the future", v.notnull() & (v > future)))
    if col.dtype == "timestamp":
        checks.append(
            _Check(
                col.name,
                f"timestamp before validation.earliest_date ({floor:%Y-%m-%d}; "
                "1970-01-01 is usually a missing date exported as zero)",
                v.notnull() & (v < ibis.timestamp(datetime(floor.year, floor.month, floor.day))),
            )
        )
    return checks


# Text some exports write for an empty cell; read as a value, it does not parse.
_MISSING_PLACEHOLDERS = ("n/a", "na", "#n/a", "null", "none", "nan", "nil", "-", "?")
_PLACEHOLDER_HINT = " (a placeholder for a missing value? leave the cell empty in the export)"
_DATE_ORDER_HINT = (
    " (day-first or month-first, e.g. 31/01/2025 or 01/31/2025, is ambiguous: export dates as "
    "YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, or declare the file's format: source: {kind: file, ..., "
    "date_format: '%d/%m/%Y'})"
)


_SERIAL_DATE_HINT = (
    " (a spreadsheet's day number, e.g. 45292 for 2024-01-01? format the column as a date, "
    "YYYY-MM-DD, before exporting)"
)
# How each type is written so that it parses, for text that shows no particular reason.
_PLAIN_VALUE_HINT = {
    "timestamp": " (export dates as YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)",
    "float64": " (export plain numbers such as 1234.5)",
    "int64": " (export whole numbers such as 12)",
    "boolean": " (export true or false)",
}


def _unparsed_text_checks(r: ir.Column, v: ir.Column, col: Column) -> list[_Check]:
    """Text that does not parse as the contract type, with the likely reason when the values
    show it: a placeholder for empty, a thousands separator, a day-first date, Unix time."""
    what = "unparseable date" if col.dtype == "timestamp" else f"not a valid {col.dtype}"
    bad = r.notnull() & (r.strip() != "") & v.isnull()
    reasons = [(r.strip().lower().isin(list(_MISSING_PLACEHOLDERS)), _PLACEHOLDER_HINT)]
    if col.dtype in ("float64", "int64"):
        reasons.append((r.re_search(r"[$€£¥₩₹]|\b(USD|EUR|GBP|JPY)\b"), _CURRENCY_HINT))
        reasons.append((r.contains(","), _NUMBER_HINT))
    if col.dtype == "timestamp":
        reasons.append((r.re_search(r"^\s*\d{1,2}[/.]\d{1,2}[/.]\d{2,4}"), _DATE_ORDER_HINT))
        for digits, unit in (("12,13", "epoch_milliseconds"), ("9,11", "epoch_seconds")):
            epoch = f" (Unix time? derive it: {col.name}: {{from: <your column>, unit: {unit}}})"
            reasons.append((r.re_search(rf"^\s*\d{{{digits}}}(\.\d*)?\s*$"), epoch))
    if col.dtype == "timestamp":
        reasons.append((r.re_search(r"^\s*\d{5}(\.\d+)?\s*$"), _SERIAL_DATE_HINT))
    checks = []
    for reason, hint in reasons:
        checks.append(_Check(col.name, what + hint, bad & reason))
        bad = bad & ~reason
    return [*checks, _Check(col.name, what + _PLAIN_VALUE_HINT.get(col.dtype, ""), bad)]


def _mrr_checks(typed: Callable[[str], ir.Column], settings: ValidationConfig) -> list[_Check]:
    """MRR on subscriptions, or the current MRR an account table may carry."""
    absurd_mrr = settings.absurd_mrr
    return [
        _Check("mrr", "negative MRR", typed("mrr") < 0),
        _Check(
            "mrr",
            f"absurd MRR (> {money(absurd_mrr)}; money in cents? derive it: mrr: {{from: <your "
            "column>, scale: 0.01}; truly this large? raise validation.absurd_mrr)",
            typed("mrr") > absurd_mrr,
        ),
    ]


def _subscription_checks(
    typed: Callable[[str], ir.Column], settings: ValidationConfig
) -> list[_Check]:
    period = typed("billing_period")
    return [
        *_mrr_checks(typed, settings),
        _Check(
            "end_at",
            "subscription ends before it starts",
            typed("end_at").notnull() & (typed("end_at") < typed("start_at")),
        ),
        _Check("seats", "negative seats", typed("seats") < 0),
        _Check(
            "billing_period",
            "unknown billing period (use monthly, quarterly, semiannual, annual, a number of "
            "months, or derive it from days with unit: days)",
            period.notnull() & (period.strip() != "") & billing_period_days(period).isnull(),
        ),
    ]


def _ticket_checks(typed: Callable[[str], ir.Column], settings: ValidationConfig) -> list[_Check]:
    sat = typed("satisfaction")
    return [
        _Check(
            "closed_at",
            "ticket closed before it was opened",
            typed("closed_at").notnull() & (typed("closed_at") < typed("opened_at")),
        ),
        _Check(
            "first_response_at",
            "first response before the ticket was opened",
            typed("first_response_at").notnull()
            & (typed("first_response_at") < typed("opened_at")),
        ),
        _Check("satisfaction", "satisfaction outside 1-5", sat.notnull() & ~sat.between(1, 5)),
    ]


def _nps_checks(typed: Callable[[str], ir.Column], settings: ValidationConfig) -> list[_Check]:
    score = typed("score")
    return [_Check("score", "NPS score outside 0-10", score.notnull() & ~score.between(0, 10))]


def _usage_checks(typed: Callable[[str], ir.Column], settings: ValidationConfig) -> list[_Check]:
    return [_Check("quantity", "negative quantity", typed("quantity") < 0)]


# Checks that only make sense for one table, beyond what every column gets.
_TABLE_CHECKS: dict[str, Callable[[Callable[[str], ir.Column], ValidationConfig], list[_Check]]] = {
    "subscriptions": _subscription_checks,
    "support_tickets": _ticket_checks,
    "nps_responses": _nps_checks,
    "usage_events": _usage_checks,
}


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
    checks = _checks_for(name, both, now, settings)
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
        return [] if contract.optional else [DataProblem(name, "*", EMPTY_TABLE, 0)]
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
    # rows of a table without a key are told apart by their account and time
    shown = contract.key or ("account_id", contract.time_column or "account_id")
    for i, ck in enumerate(checks):
        n = int(result[f"c{i}"] or 0)
        if n:
            cols = [c for c in shown if c in raw.columns]
            cols = list(dict.fromkeys([*cols, ck.column]))
            check = ck.name
            if ck.column == "account_id" and check.startswith("account_id is missing"):
                check = _key_missing(name, check, n, int(result["rows"]))
            problems.append(
                DataProblem(name, ck.column, check, n, _examples(both, ck.failing, cols))
            )
    for key in contract.key:
        keyed = raw.filter(raw[key].notnull())  # a missing key is reported as missing
        dup = keyed.group_by(key).aggregate(n=keyed.count()).filter(lambda g: g.n > 1)
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
    hint = _key_format_hint(j.filter(orphan), known) or (
        " (not in sources.accounts: export accounts and this table at the same time, or leave "
        "these rows out of the export)"
    )
    check = "rows for unknown accounts" + hint
    return [DataProblem(name, "account_id", check, n, ex.astype(str).to_dict("records"))]


def _plain_key(key: ir.StringValue) -> ir.StringValue:
    """A numeric key without the decoration one export adds and another does not."""
    return key.strip().re_replace(r"\.0+$", "").re_replace(r"^0+([0-9])", r"\1")


def _key_format_hint(orphans: ir.Table, known: ir.Table) -> str:
    """' (...)' when unknown keys match known ones once written alike (42.0 or 00042 for 42):
    the tables write one key in two formats."""
    keys = orphans.select(key=orphans.account_id.cast("string")).distinct()
    ids = known.select(known_key=known.known_id.cast("string"))
    pairs = keys.join(ids, _plain_key(keys.key) == _plain_key(ids.known_key))
    pair = _first_pair(pairs)
    if pair is None:
        return _letter_case_hint(keys, ids) or _cut_key_hint(keys, ids)
    mine, theirs = pair
    return (
        f" (the same keys written another way: {mine!r} here is {theirs!r} in accounts; export "
        "the key alike in every table, as text or whole numbers)"
    )


def _first_pair(pairs: ir.Table) -> tuple[str, str] | None:
    """The first (unknown key, known key) of a join of the two, or None when it is empty."""
    pair = pairs.limit(1).to_pandas()
    if pair.empty:
        return None
    return pair.iloc[0]["key"], pair.iloc[0]["known_key"]


def _letter_case_hint(keys: ir.Table, ids: ir.Table) -> str:
    """' (...)' when unknown keys match known ones but for letter case (ACC_A for acc_a): keys
    are matched exactly, so one export's upper-case keys match nothing."""
    pairs = keys.join(ids, _plain_key(keys.key).lower() == _plain_key(ids.known_key).lower())
    pair = _first_pair(pairs)
    if pair is None:
        return ""
    mine, theirs = pair
    return (
        f" (the same keys in another letter case: {mine!r} here is {theirs!r} in accounts; keys "
        "match exactly: export the key in one letter case in every table)"
    )


def _cut_key_hint(keys: ir.Table, ids: ir.Table) -> str:
    """' (...)' when unknown keys are the beginning of known ones: one export cut them short
    (a CRM's 15-character ids beside its 18-character ones)."""
    sample = keys.filter(keys.key.length() >= 6).limit(100)
    pairs = sample.join(
        ids, (ids.known_key.length() > sample.key.length()) & ids.known_key.startswith(sample.key)
    )
    pair = _first_pair(pairs)
    if pair is None:
        return ""
    mine, theirs = pair
    return (
        f" (keys cut short: {mine!r} here is the beginning of {theirs!r} in accounts ("
        f"{len(mine)} of {len(theirs)} characters); export the whole key in every table)"
    )


# The instant each activity row happened, for the checks against the account's history.
ACTIVITY_TIMES = {
    "usage_events": "occurred_at",
    "support_tickets": "opened_at",
    "nps_responses": "responded_at",
    "cs_activities": "occurred_at",
}
FAR_FUTURE = datetime(9999, 12, 31)


def _share(n: int, total: int) -> str:
    share = n / total if total else 0.0
    return "<1% of rows" if 0 < share < 0.01 else f"{share:.0%} of rows"


def check_activity_history(
    name: str, typed: ir.Table, accounts: ir.Table, subscriptions: ir.Table | None
) -> list[DataProblem]:
    """Warnings: activity dated before the account's first subscription or before its creation.

    Trials and onboarding produce such rows legitimately (kept and used as usual); a large share
    can also mean a wrong account key or date column, so the analyst should see it.
    """
    column = ACTIVITY_TIMES[name]
    t = typed
    refs: dict[str, tuple[str, ir.Table]] = {}
    if subscriptions is not None:
        first = subscriptions.group_by("account_id").aggregate(
            first_subscription_at=subscriptions.start_at.min()
        )
        refs["first_subscription_at"] = ("dated before the account's first subscription", first)
    if "created_at" in accounts.columns:
        created = accounts.group_by("account_id").aggregate(
            account_created_at=accounts.created_at.min()
        )
        refs["account_created_at"] = ("dated before the account was created", created)
    if not refs:
        return []
    for ref, (_, per_account) in refs.items():
        t = t.left_join(per_account, t.account_id == per_account.account_id).select(
            t, per_account[ref]
        )
    before = {ref: t[column].notnull() & (t[column] < t[ref]) for ref in refs}
    counts = (
        t.aggregate(
            rows=t.count(),
            **{ref: p.fill_null(False).cast("int64").sum() for ref, p in before.items()},
        )
        .to_pandas()
        .iloc[0]
    )
    key = [c for c in (TABLES[name].key or ()) if c in typed.columns]
    problems = []
    for ref, (what, _) in refs.items():
        n = int(counts[ref] or 0)
        if n:
            cols = list(dict.fromkeys([*key, "account_id", column, ref]))
            problems.append(
                DataProblem(
                    name,
                    column,
                    f"{what} ({_share(n, int(counts['rows']))}; kept: trials and onboarding do "
                    "this, a large share may mean a wrong account key or date column)",
                    n,
                    _examples(t, before[ref], cols),
                    "warning",
                )
            )
    return problems


def check_creation_dates(accounts: ir.Table) -> list[DataProblem]:
    """Without subscriptions, ``created_at`` is when an account becomes a customer (it enters
    the snapshots from then on): every account needs one."""
    missing = accounts.created_at.isnull()
    n = int(accounts.filter(missing).count().to_pyarrow().as_py())
    if not n:
        return []
    return [
        DataProblem(
            "accounts",
            "created_at",
            "no creation date, which is required when sources.subscriptions is not configured "
            "(it says from when the account is a customer); map sources.accounts.columns."
            "created_at, or map the subscriptions",
            n,
            _examples(accounts, missing, ["account_id", "created_at"]),
        )
    ]


def check_same_plan_overlaps(subscriptions: ir.Table, policy: str = "refuse") -> list[DataProblem]:
    """Rows of one account on the same plan overlapping in time (half-open ``[start_at, end_at)``).

    Almost always a duplicate export: their MRR would be summed, doubling ARR. Overlaps on
    different plans are parallel subscriptions (add-ons) and are summed without a word.
    """
    s = subscriptions.filter(
        subscriptions.start_at.notnull()
        & subscriptions.plan.notnull()
        & (subscriptions.end_at.isnull() | (subscriptions.end_at > subscriptions.start_at))
    )
    key = [c for c in TABLES["subscriptions"].key if c in s.columns]
    earlier = ibis.window(
        group_by=["account_id", "plan"], order_by=["start_at", *key], rows=(None, -1)
    )
    far = ibis.timestamp(FAR_FUTURE)
    s = s.mutate(running_until=s.end_at.fill_null(far).max().over(earlier))
    overlapping = s.running_until.notnull() & (s.start_at < s.running_until)
    n = int(s.filter(overlapping).count().to_pyarrow().as_py())
    if not n:
        return []
    shown = s.mutate(
        overlaps_a_row_until=ibis.ifelse(
            s.running_until == far, "ongoing", s.running_until.cast("string")
        )
    )
    cols = [*key, "account_id", "plan", "start_at", "end_at", "overlaps_a_row_until"]
    refuse = policy == "refuse"
    check = (
        "overlaps another row of the same account on the same plan (usually a duplicate export: "
        "their MRR would be summed); "
        + (
            "fix the export, or set validation.same_plan_overlap: sum if these are real parallel "
            "subscriptions"
            if refuse
            else "summed as validation.same_plan_overlap: sum says"
        )
    )
    return [
        DataProblem(
            "subscriptions",
            "start_at",
            check,
            n,
            _examples(shown, overlapping, cols),
            "error" if refuse else "warning",
        )
    ]


def _values_outside(
    table: ir.Table, table_name: str, column: str, outside: ir.BooleanValue, example_columns
) -> tuple[int, str, pd.DataFrame] | None:
    """How many rows fall outside a vocabulary, the 10 commonest such values (quoted) and
    example rows; None when every value is known."""
    rows = table.filter(outside)
    values = (
        rows.group_by(column)
        .aggregate(n=rows.count())
        .order_by([ibis.desc("n"), column])
        .limit(10)
        .to_pandas()
    )
    if values.empty:
        return None
    n = int(rows.count().to_pyarrow().as_py())
    shown = ", ".join(repr(str(v)) for v in values[column])
    key = [c for c in TABLES[table_name].key if c in table.columns]
    return n, shown, _examples(table, outside, [*key, *example_columns])


def check_plan_names(subscriptions: ir.Table, plan_order: Sequence[str]) -> list[DataProblem]:
    """Warning: plans missing from ``labels.plan_order`` get rank 0, so upgrades to or from them
    are not seen and the model reads them like no plan."""
    if not plan_order:
        return []
    s = subscriptions
    outside = s.plan.notnull() & ~s.plan.isin(list(plan_order))
    found = _values_outside(s, "subscriptions", "plan", outside, ["account_id", "plan"])
    if found is None:
        return []
    n, shown, examples = found
    message = (
        f"plan not in labels.plan_order: {shown} (ranked 0, so upgrades to or from it are not "
        "seen; add it to labels.plan_order)"
    )
    return [DataProblem("subscriptions", "plan", message, n, examples, "warning")]


def check_onboarding_events(usage: ir.Table, onboarding_events: Sequence[str]) -> list[DataProblem]:
    """Warning: a configured onboarding milestone no usage event is written as. Its feature and
    the KPI board's onboarding completion would then say that no account ever reached it (the
    default milestones are the demo's, which a copied config keeps)."""
    if not onboarding_events:
        return []
    types = usage.select(event_type=usage.event_type.cast("string")).distinct().limit(10_001)
    seen = [v for v in types.to_pyarrow().column("event_type").to_pylist() if v is not None]
    spelt = {spelling_key(v) for v in seen}
    missing = [e for e in onboarding_events if spelling_key(e) not in spelt]
    if not missing:
        return []
    shown = ", ".join(repr(v) for v in sorted(seen)[:10]) + (", ..." if len(seen) > 10 else "")
    message = (
        f"features.onboarding_events {missing} never occur as an event type (types seen: "
        f"{shown}); no account can reach them, so onboarding completion reads 0%: list your own "
        "onboarding milestones, or set features.onboarding_events: []"
    )
    rows = int(usage.count().to_pyarrow().as_py())  # none of them reaches those milestones
    return [DataProblem("usage_events", "event_type", message, rows, [], "warning")]


# Ticket priorities the features know: high and urgent count as high priority, the rest do not.
KNOWN_PRIORITIES = ("low", "medium", "normal", *HIGH_PRIORITIES)


def check_ticket_priorities(tickets: ir.Table) -> list[DataProblem]:
    """Warning: a priority outside the known words (P1..P4, critical, 1..3) never counts as high
    priority, so the high-priority features would stay 0 without anyone noticing."""
    t = tickets
    unknown = t.priority.notnull() & ~t.priority.strip().lower().isin(list(KNOWN_PRIORITIES))
    found = _values_outside(t, "support_tickets", "priority", unknown, ["priority"])
    if found is None:
        return []
    n, shown, examples = found
    message = (
        f"priority not one of {'/'.join(KNOWN_PRIORITIES)}: {shown} (only "
        f"{' and '.join(HIGH_PRIORITIES)} count as high priority, so these tickets never do; "
        "translate your values with a derive map, e.g. priority: {from: <your column>, "
        "map: {P1: urgent, P2: high, P3: normal, P4: low}})"
    )
    return [DataProblem("support_tickets", "priority", message, n, examples, "warning")]


def validate_sources(
    mapped: dict,
    now: datetime | None = None,
    settings: ValidationConfig | None = None,
    plan_order: Sequence[str] = (),
    onboarding_events: Sequence[str] = (),
) -> list[DataProblem]:
    """Every check on every mapped table: errors first, then warnings. No error means the data
    may be used."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    settings = settings or ValidationConfig()
    problems: list[DataProblem] = []
    for name, m in mapped.items():
        table_problems = check_table(name, m.raw, now, settings)
        name_derived_keys(table_problems, getattr(m, "derived", {}))
        name_the_declared_date_format(table_problems, name, getattr(m, "date_format", None))
        problems += table_problems + check_derivations(name, m)
    subscriptions = mapped["subscriptions"].table if "subscriptions" in mapped else None
    if subscriptions is not None:
        problems += check_same_plan_overlaps(subscriptions, settings.same_plan_overlap)
    problems += _vocabulary_checks(mapped, plan_order, onboarding_events)
    if "accounts" in mapped and not _explain_empty_accounts(problems):
        accounts = mapped["accounts"].table
        if subscriptions is None:
            problems += check_creation_dates(accounts)
        unreadable = _unreadable_keys(problems)
        for name, m in mapped.items():
            if name != "accounts" and name not in unreadable:
                problems += check_orphans(name, m.table, accounts)
        for name, m in mapped.items():
            if name in ACTIVITY_TIMES:
                problems += check_activity_history(name, m.table, accounts, subscriptions)
    return only_errors(problems) + only_warnings(problems)


KEY_NEVER_SET = "account_id is empty on every row"


def _key_missing(table: str, check: str, missing: int, rows: int) -> str:
    """A key column empty on every row is a mapping mistake (the wrong column, or a lookup that
    matches nothing), not missing values: say where to map it."""
    if missing < rows:
        return check
    return (
        f"{KEY_NEVER_SET}: map account_id to the column that holds the account id under "
        f"sources.{table}.columns (or fix sources.{table}.account_key)"
    )


def _vocabulary_checks(
    mapped: dict, plan_order: Sequence[str], onboarding_events: Sequence[str]
) -> list[DataProblem]:
    """Warnings on values the config names: plans, ticket priorities, onboarding milestones."""
    problems = []
    if "subscriptions" in mapped:
        problems += check_plan_names(mapped["subscriptions"].table, plan_order)
    if "support_tickets" in mapped:
        problems += check_ticket_priorities(mapped["support_tickets"].table)
    if "usage_events" in mapped:
        problems += check_onboarding_events(mapped["usage_events"].table, onboarding_events)
    return problems


def _explain_empty_accounts(problems: list[DataProblem]) -> bool:
    """An empty accounts table (or one with no account id at all) makes every other table's
    rows 'unknown accounts': one problem saying so replaces that cascade. True when the
    accounts table is empty."""
    for p in problems:
        if (p.table, p.column) == ("accounts", "account_id") and p.check.startswith(KEY_NEVER_SET):
            return True
        if (p.table, p.column) == ("accounts", "account_id") and p.check.startswith(WRONG_TYPE):
            p.check += " (the other tables' account checks are skipped until it is fixed)"
            return True
        if (p.table, p.column, p.check) == ("accounts", "*", EMPTY_TABLE):
            p.check = (
                f"{EMPTY_TABLE}: no account to match the other tables' rows to (their account "
                "checks are skipped); check sources.accounts (the file, table or query it reads)"
            )
            return True
    return False


WRONG_TYPE = "wrong type: "


def _unreadable_keys(problems: list[DataProblem]) -> set[str]:
    """Tables whose account_id has the wrong type (a record or a list): no key of theirs can
    match, and saying that of every row would repeat the one real problem."""
    return {
        p.table for p in problems if p.column == "account_id" and p.check.startswith(WRONG_TYPE)
    }


def only_errors(problems: list[DataProblem]) -> list[DataProblem]:
    return [p for p in problems if p.severity == "error"]


def only_warnings(problems: list[DataProblem]) -> list[DataProblem]:
    return [p for p in problems if p.severity == "warning"]


@dataclass
class DerivedCheck:
    """A check on a column derived by the mapping, evaluated on the source rows it came from."""

    column: str
    name: str
    failing: ir.BooleanValue  # True where the derivation failed for the row
    examples: list[str]  # source columns shown in example rows
    table: ir.Table  # the source rows, with the derived values


def check_derivations(name: str, mapped) -> list[DataProblem]:
    """Derivation failures as data problems (source values shown), and derived keys named.

    A duplicate key that the mapping composed is reported with the source columns it came from,
    so the owner knows which columns to extend.
    """
    problems = []
    for ck in getattr(mapped, "derived_checks", []):
        n = int(ck.table.filter(ck.failing).count().to_pyarrow().as_py())
        if n:
            rows = ck.table.filter(ck.failing).select(*ck.examples).distinct().limit(EXAMPLES)
            examples = [
                {k: (None if pd.isna(v) else str(v)) for k, v in r.items()}
                for r in rows.to_pandas().to_dict("records")
            ]
            problems.append(DataProblem(name, ck.column, ck.name, n, examples))
    return problems


def name_derived_keys(problems: list[DataProblem], derived: dict[str, str]) -> None:
    """Say how a duplicated key was derived (e.g. which source columns a composite key joins)."""
    for p in problems:
        if p.check == "duplicate key" and p.column in derived:
            p.check = (
                f"duplicate key, derived as {derived[p.column]}: the key is still not unique "
                "(add source columns that tell the rows apart)"
            )


def name_the_declared_date_format(
    problems: list[DataProblem], table: str, date_format: str | None
) -> None:
    """Dates that do not parse in the format the source declares: the file writes day and month
    the other way round, and every date that fits both orders was read wrong without a word."""
    if date_format is None:
        return
    other = {"%d/%m/%Y": "%m/%d/%Y", "%m/%d/%Y": "%d/%m/%Y", "%d.%m.%Y": "%m.%d.%Y"}
    for p in problems:
        if p.check.startswith("unparseable date (day-first or month-first"):
            swap = other.get(date_format)
            p.check = (
                f"unparseable date in the declared sources.{table}.source.date_format "
                f"{date_format!r} (day and month the other way round? then the dates that fit "
                "both orders were read wrong too: "
                + (f"declare date_format: {swap!r}" if swap else "fix date_format")
                + ", or export dates as YYYY-MM-DD)"
            )


def raise_for_problems(problems: list[DataProblem]) -> None:
    """Stop on errors; warnings alone let the run go on."""
    if only_errors(problems):
        raise DataValidationError(only_errors(problems))


class UnknownCategoriesError(DataValidationError):
    """The scoring data holds category values the champion never saw; nothing was written."""


def _spelt_differently(values: Sequence[str], known: Sequence[str]) -> str:
    """' ('Business' is 'business' ...)' when new values differ from known ones only in letter
    case or spacing: an export that changed its spelling, not a new category."""
    by_key = {str(k).strip().lower(): str(k) for k in known}
    pairs = [(v, by_key[v.strip().lower()]) for v in values if v.strip().lower() in by_key]
    if not pairs:
        return ""
    shown = ", ".join(f"{v!r} is {k!r}" for v, k in pairs[:5])
    return (
        f" ({shown} in another letter case or spacing: export them as the model was trained on "
        "them, or translate them with a derive map)"
    )


def unknown_category_problems(
    unseen: dict[str, list[str]],
    features: pd.DataFrame,
    known: dict[str, Sequence[str]] | None = None,
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
                f"category values the model never saw: {shown}"
                + _spelt_differently(values, (known or {}).get(column, ())),
                len(rows),
                examples,
            )
        )
    return problems


def screen_unknown_categories(
    unseen: dict[str, list[str]],
    features: pd.DataFrame,
    policy: str = "stop",
    known: dict[str, Sequence[str]] | None = None,
) -> list[DataProblem]:
    """Stop on values the model never saw, or (policy ``score_as_missing``) return them to report.

    A new plan or region silently scored as missing can move many accounts' scores; the default
    makes someone decide, the option lets scoring go on while saying what was treated as missing.
    """
    problems = unknown_category_problems(unseen, features, known)
    if problems and policy == "stop":
        raise UnknownCategoriesError(problems)
    return problems


PLAN_RANK = "contract_plan_rank"


def unknown_plans(features: pd.DataFrame, plan_order: Sequence[str]) -> dict[str, list[str]]:
    """Plans at the as-of that the champion cannot rank (outside its ``plan_order``).

    The plan enters the model as its rank, not as a category, so the category screen alone
    never sees a new plan: it would be scored as rank 0 without a word.
    """
    if not plan_order or PLAN_RANK not in features.columns or "contract_plan" not in features:
        return {}
    unranked = features[PLAN_RANK].fillna(0).eq(0) & features["contract_plan"].notna()
    new = sorted(set(features.loc[unranked, "contract_plan"].astype(str)) - set(plan_order))
    return {"contract_plan": new} if new else {}


def blank_unknown_plans(features: pd.DataFrame, plans: Sequence[str]) -> pd.DataFrame:
    """Score accounts on those plans with their plan rank missing (instead of 0, the rank below
    the lowest plan)."""
    if not plans:
        return features
    out = features.copy()
    on_new_plan = out["contract_plan"].astype("string").isin(list(plans)) & out[PLAN_RANK].fillna(
        0
    ).eq(0)
    out[PLAN_RANK] = out[PLAN_RANK].astype("float64").mask(on_new_plan)
    return out


class NoActiveAccountsError(DataValidationError):
    """No account had a live subscription at the scoring as-of; nothing was scored or written."""

    def __init__(self, message: str):
        self.problems = []
        ValueError.__init__(self, message)


class AsOfAfterDataError(NoActiveAccountsError):
    """The scoring as-of lies past the end of the data; nothing was scored or written."""


def refuse_as_of_after_data(as_of: date, end: datetime, windows_days: Sequence[int]) -> None:
    """An as-of later than the data's end by more than the shortest feature window would read
    every account as inactive (no event, no ticket) and score them all as leaving."""
    shortest = min(windows_days)
    latest = end.date() + timedelta(days=shortest)
    if as_of > latest:
        raise AsOfAfterDataError(
            f"the scoring as-of {as_of:%Y-%m-%d} is {(as_of - end.date()).days} days after the "
            f"data ends ({end:%Y-%m-%d}): every account would look inactive over the last "
            f"{shortest} days. Score an as-of up to {latest:%Y-%m-%d} (without --as-of: the day "
            "after the data ends), or refresh the sources. Nothing was scored or written."
        )


def active_span(subscriptions: ir.Table) -> tuple[datetime | None, datetime | None, bool]:
    """First subscription start, last subscription end, and whether some row is still ongoing."""
    s = subscriptions.filter(subscriptions.start_at.notnull())
    row = (
        s.aggregate(
            first=s.start_at.min(),
            last=s.end_at.max(),
            ongoing=s.end_at.isnull().cast("int64").sum(),
        )
        .to_pandas()
        .iloc[0]
    )

    def stamp(v) -> datetime | None:
        return None if pd.isna(v) else pd.Timestamp(v).to_pydatetime()

    return stamp(row["first"]), stamp(row["last"]), bool(row["ongoing"] or 0)


def refuse_empty_scoring(
    as_of: date, subscriptions: ir.Table | None, accounts: ir.Table | None = None
) -> None:
    """One line saying why no account can be scored at this as-of and which dates would work."""
    head = f"no active account at the scoring as-of {as_of:%Y-%m-%d}"
    if subscriptions is None:
        first = accounts.created_at.min().to_pyarrow().as_py() if accounts is not None else None
        if first is not None and as_of < first.date():
            why = f"the first account is created {first:%Y-%m-%d}; score an as-of after it"
        else:
            why = (
                "every account created by then has churned (the churn source says so); score an "
                "earlier as-of, or check the churn dates and accounts.created_at"
            )
        raise NoActiveAccountsError(f"{head}: {why}. Nothing was scored or written.")
    first, last, ongoing = active_span(subscriptions)
    if first is None:
        why = "the subscriptions table holds no subscription"
    elif as_of <= first.date():
        why = f"the first subscription starts {first:%Y-%m-%d}; score an as-of after it"
    elif not ongoing and last is not None:
        why = (
            f"every subscription has ended, the last on {last:%Y-%m-%d} (the last date with "
            "active accounts); score an earlier as-of, or check subscriptions.end_at"
        )
    else:
        why = "no subscription is live at that instant; check subscriptions.start_at and end_at"
    raise NoActiveAccountsError(f"{head}: {why}. Nothing was scored or written.")


class MissingFeaturesError(DataValidationError):
    """The champion was trained on features the current sources do not give (a table no longer
    mapped, a column dropped); nothing was scored or written."""

    def __init__(self, message: str):
        self.problems = []
        ValueError.__init__(self, message)


# The source table each feature family is computed from, to say which one went missing.
FAMILY_SOURCES = {
    "usage": "usage_events",
    "support": "support_tickets",
    "nps": "nps_responses",
    "contract": "subscriptions",
    "cs": "cs_activities",
    "attr": "accounts",
}


def refuse_missing_features(wanted: dict[str, Sequence[str]], features: pd.DataFrame) -> None:
    """Stop when a champion needs features the scoring frame lacks, naming the source tables
    they come from, instead of failing inside the model."""
    for target, names in wanted.items():
        missing = [f for f in names if f not in features.columns]
        if not missing:
            continue
        tables = sorted({FAMILY_SOURCES.get(f.split("_")[0], "?") for f in missing} - {"?"})
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        where = f" (from {', '.join(f'sources.{t}' for t in tables)})" if tables else ""
        raise MissingFeaturesError(
            f"the {target} champion was trained on features the sources no longer give: {shown}"
            f"{where}. Map the sources as they were at training, or retrain (`churnml train`). "
            "Nothing was scored or written."
        )
