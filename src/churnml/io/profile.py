"""`churnml check-data` profile: rows, date ranges, null rates and unmapped columns per table."""

from __future__ import annotations

from churnml.contract import FALLBACKS, TABLES


def profile_sources(mapped: dict) -> str:
    lines = []
    for name, m in mapped.items():
        t = m.table
        contract = TABLES[name]
        absent = getattr(m, "absent", [])
        present = [c for c in t.columns if c not in absent]
        aggs = {"rows": t.count()}
        for col in present:
            aggs[f"null__{col}"] = t[col].isnull().cast("int64").sum()
        r = t.aggregate(**aggs).to_pandas().iloc[0]
        rows = int(r["rows"])
        time_column = contract.time_column
        if time_column in absent:
            time_column = None  # not in the source: its own line says what stands in
        lines.append(f"{name}: {rows:,} rows" + _time_range(m, time_column, rows))
        nulls = [
            f"{c} {int(r['null__' + c]) / rows:.0%}"
            for c in present
            if rows and int(r["null__" + c])
        ]
        lines.append("  null rates: " + (", ".join(nulls) if nulls else "none"))
        unmapped = [c for c in absent if c not in getattr(m, "fallbacks", [])]
        if unmapped:
            lines.append("  not in the source (optional, left empty): " + ", ".join(unmapped))
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
            lines += _trials(m, rows)
    return "\n".join(lines)


def _trials(m, paid_rows: int) -> list[str]:
    """What leaving trials (labels.trials) and rows at MRR 0 (labels.zero_mrr) out did, when the
    export has any; counted on the rows as exported."""
    s = m.exported
    r = s.aggregate(
        rows=s.count(),
        trials=(s.trial_end_at.notnull() & (s.trial_end_at > s.start_at)).cast("int64").sum(),
        zero_mrr=(s.mrr == 0).cast("int64").sum(),
    ).to_pandas()
    rows = int(r["rows"].iloc[0])
    found = {rule: int(r[rule].iloc[0] or 0) for rule in m.left_out}
    said = {"trials": "began with a trial", "zero_mrr": "are at MRR 0"}
    parts = [f"{n:,} rows {said[rule]}" for rule, n in found.items() if n]
    if not parts:
        return []
    options = ", ".join(f"labels.{rule}: not_customers" for rule in m.left_out)
    ends = " (the others count from the trial's end)" if found.get("trials") else ""
    return [
        f"  not customer time ({options}): {'; '.join(parts)}; {rows - paid_rows:,} of the "
        f"{rows:,} rows exported are left out{ends}"
    ]


def _time_range(m, column: str | None, rows: int) -> str:
    """`, start_at first .. last` as the source has it (subscriptions as exported: a running
    trial's paid start is a scheduled date, not one of the data's), or says that no value is a
    date (the errors say why)."""
    import pandas as pd

    if not column or not rows:
        return ""
    t = m.exported if getattr(m, "exported", None) is not None else m.table
    r = t.aggregate(first=t[column].min(), last=t[column].max()).to_pandas().iloc[0]
    if pd.isna(r["first"]):
        return f", no {column} read as a date"
    return f", {column} {r['first']} .. {r['last']}"
