"""`churnml check-data` profile: rows, date ranges, null rates and unmapped columns per table."""

from __future__ import annotations

from churnml.contract import FALLBACKS, TABLES


def profile_sources(mapped: dict) -> str:
    lines = []
    for name, m in mapped.items():
        t = m.table
        contract = TABLES[name]
        aggs = {"rows": t.count()}
        for col in t.columns:
            aggs[f"null__{col}"] = t[col].isnull().cast("int64").sum()
        if contract.time_column:
            aggs["first"] = t[contract.time_column].min()
            aggs["last"] = t[contract.time_column].max()
        r = t.aggregate(**aggs).to_pandas().iloc[0]
        rows = int(r["rows"])
        time_column = contract.time_column
        if time_column in getattr(m, "fallbacks", []):
            time_column = None  # not in the source: its own line says what stands in
        lines.append(f"{name}: {rows:,} rows" + _time_range(time_column, r, rows))
        nulls = [
            f"{c} {int(r['null__' + c]) / rows:.0%}"
            for c in t.columns
            if rows and int(r["null__" + c])
        ]
        lines.append("  null rates: " + (", ".join(nulls) if nulls else "none"))
        derived = getattr(m, "derived", {})
        if derived:
            lines.append(
                "  derived columns: " + ", ".join(f"{c} ({how})" for c, how in derived.items())
            )
        for col in getattr(m, "fallbacks", []):
            lines.append(f"  {col}: not in the source; {FALLBACKS[name][col]}")
        if m.unmapped_columns:
            lines.append("  unmapped source columns (ignored): " + ", ".join(m.unmapped_columns))
        if getattr(m, "exported", None) is not None:
            lines += _trials(m.exported, rows)
    return "\n".join(lines)


def _trials(exported, paid_rows: int) -> list[str]:
    """What cutting trials off did (labels.trials: not_customers), when any row had a trial."""
    s = exported
    r = s.aggregate(
        rows=s.count(),
        trials=(s.trial_end_at.notnull() & (s.trial_end_at > s.start_at)).cast("int64").sum(),
    ).to_pandas()
    trials = int(r["trials"].iloc[0] or 0)
    if not trials:
        return []
    unconverted = int(r["rows"].iloc[0]) - paid_rows
    return [
        f"  trials (labels.trials: not_customers): {trials:,} rows began with a trial and count "
        f"from its end; {unconverted:,} ended before paying and are left out "
        f"({int(r['rows'].iloc[0]):,} rows exported)"
    ]


def _time_range(column: str | None, r, rows: int) -> str:
    """`, start_at first .. last`, or says that no value is a date (the errors say why)."""
    import pandas as pd

    if not column or not rows:
        return ""
    if pd.isna(r["first"]):
        return f", no {column} read as a date"
    return f", {column} {r['first']} .. {r['last']}"
