"""The outreach report: ranked list, account view, portfolio, drivers digest, extra sections."""

from __future__ import annotations

import pandas as pd

from churnml.report.figures import accounts_payload, driver_digest, family_label, portfolio
from churnml.report.render import ExtraSection, render, sections, table
from churnml.report.text import text
from churnml.vocabulary import money

HEADERS = (
    ("name", "account"),
    ("owner", "owner"),
    ("segment", "segment"),
    ("p", "risk"),
    ("u", "upsell"),
    ("health", "health"),
    ("arr", "arr"),
    ("risk_arr", "arr_at_risk"),
    ("touch", "touch"),
    ("play_name", "play"),
    ("due", "due"),
    ("change", "change"),
)


def _day(frame: pd.DataFrame | None) -> str | None:
    if frame is None or not len(frame):
        return None
    return f"{pd.Timestamp(frame['as_of'].iloc[0]):%Y-%m-%d}"


def _portfolios(scored: pd.DataFrame, words: dict) -> list[tuple[str, dict]]:
    t, names = words["outreach"], words["portfolio_columns"]
    by = (
        (t["by_segment"], "segment", "portfolio-segment"),
        (t["by_tier"], "churn_tier", "portfolio-tier"),
        (t["by_touch"], "touch_model", "portfolio-touch"),
    )
    return [
        (title, table(_money_columns(portfolio(scored, column)).rename(columns=names), ident))
        for title, column, ident in by
    ]


def _money_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Amounts as whole units (26, not 26.040, which reads as twenty-six thousand beside
    29,335)."""
    money_columns = ("arr", "arr_at_risk", "expected_expansion_arr")
    return frame.assign(**{c: frame[c].map(money) for c in money_columns if c in frame.columns})


def _digest(scored, previous, drivers, previous_drivers, lang: str, t: dict) -> dict:
    digest = driver_digest(scored, previous, drivers, previous_drivers)
    digest["family"] = digest["family"].map(lambda f: family_label(f, lang))
    names = {
        "segment": t["segment"],
        "family": t["family"],
        "top_share": t["top_share"],
        "mean_push": t["mean_push"],
        "top_share_previous": f"{t['top_share']} ({t['top_share_prev']})",
        "mean_push_previous": f"{t['mean_push']} ({t['mean_push_prev']})",
    }
    return table(digest.rename(columns=names), "digest")


def render_report(
    scored: pd.DataFrame,
    lang: str = "en",
    previous: pd.DataFrame | None = None,
    extra_sections: list[ExtraSection] | None = None,
    max_accounts: int = 5000,
    drivers: pd.DataFrame | None = None,
    previous_drivers: pd.DataFrame | None = None,
) -> str:
    """The whole report as one HTML string; `previous` is the last run's scored rows. Drivers
    are the runs' long frames (``churnml.explain``); without them the JSON columns are read."""
    words = text(lang)
    t = words["outreach"]
    n = len(scored)
    ranked = scored.sort_values(["arr_at_risk", "p_churn"], ascending=False, kind="stable")
    extra = extra_sections or []
    return render(
        "report.html",
        lang=lang,
        t=t,
        as_of=_day(scored) or "-",
        previous_as_of=_day(previous),
        accounts=f"{n:,}",
        high=f"{int((scored['churn_tier'] == 'high').sum()) if n else 0:,}",
        arr_at_risk=money(scored["arr_at_risk"].sum() if n else 0),
        expansion=money(scored["expected_expansion_arr"].sum() if n else 0),
        truncated=n > max_accounts,
        max_accounts=max_accounts,
        headers=[(key, t[word]) for key, word in HEADERS],
        portfolios=_portfolios(scored, words) if n else [],
        digest=_digest(scored, previous, drivers, previous_drivers, lang, t) if n else None,
        warnings=sections([s for s in extra if s.top]),
        extras=sections([s for s in extra if not s.top]),
        payload={"text": t, "accounts": accounts_payload(ranked, max_accounts, drivers)},
    )


def render_page(title: str, summary: str, extra: list[ExtraSection], lang: str = "en") -> str:
    """A small self-contained page of sections (the track record of `churnml evaluate`)."""
    return render("page.html", lang=lang, title=title, summary=summary, extra=sections(extra))
