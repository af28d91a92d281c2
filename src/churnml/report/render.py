"""Jinja2 rendering: one environment, autoescaped, with the JSON payload through ``tojson``.

Everything that comes from data is escaped: tables and titles by autoescaping; the outreach
list travels as JSON inside a ``<script type="application/json">`` block, where ``tojson``
escapes ``<``, ``>``, ``&`` and ``'`` and our dumps function the JavaScript line separators,
and the page's script only ever writes it with ``textContent``. Account names and ticket
categories are customer input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import jinja2
import markupsafe
import numpy as np
import pandas as pd

from churnml.vocabulary import money


@dataclass(frozen=True)
class ExtraSection:
    """A table another stage wants CSMs to see (drift, track record, ...), rendered escaped."""

    title: str
    table: pd.DataFrame
    note: str = ""
    top: bool = False  # shown right under the summary line (a warning), not after the digest
    html: str = ""  # markup from one of the package's own (autoescaped) templates, shown as is


def _dumps(payload, **kwargs) -> str:
    """JSON that cannot break a JS string either (``tojson`` handles the HTML characters)."""
    text = json.dumps(payload, **kwargs)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("churnml.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a missing word fails the render, never shows blank
        keep_trailing_newline=True,
    )
    env.policies["json.dumps_function"] = _dumps
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "default": str}
    return env


def _cell(v) -> str:
    if isinstance(v, float | np.floating):
        return "" if np.isnan(v) else (f"{v:,.3f}" if abs(v) < 100 else money(v))
    return "" if v is None or v is pd.NA else str(v)


def table(frame: pd.DataFrame, ident: str = "") -> dict:
    """A frame as the strings a template shows: headers and formatted cells."""
    return {
        "id": ident,
        "head": [str(c) for c in frame.columns],
        "rows": [[_cell(v) for v in row] for row in frame.itertuples(index=False)],
    }


def sections(extra: list[ExtraSection]) -> list[dict]:
    return [
        {
            "title": s.title,
            "note": s.note,
            "table": table(s.table) if len(s.table.columns) else None,
            "html": markupsafe.Markup(s.html),
        }
        for s in extra
    ]


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
