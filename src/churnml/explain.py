"""Per-account drivers from TreeSHAP values, grouped by feature family, in plain words.

TreeSHAP values are in log-odds. Contributions of a family's features are summed so a driver
reads as "product usage" rather than six columns; the sentence comes from the family's strongest
feature (in the driver's direction) and the account's value. Selection is vectorised over
accounts: only the sentences are formatted one by one.

Drivers travel through the pipeline as one long frame (``DRIVER_COLUMNS``: one row per account,
model and driver) and become JSON only where a table is written or the report payload is built
(``driver_json``); a stored run is read back once (``drivers_from_json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd

from churnml.catalogue import FAMILY_LABELS, feature_entry, sentence

N_RISK = 3
N_PROTECTIVE = 2
DIRECTIONS = ("risk", "protective")
DRIVER_COLUMNS = [
    "account_id",
    "model",  # the target the drivers explain: "churn" or "upsell"
    "direction",  # "risk" pushes the score up, "protective" holds it down
    "rank",  # 0 = strongest in its direction
    "family",
    "label",
    "feature",  # the family's strongest feature in the driver's direction
    "value",  # the account's value of that feature (plain Python: int, float, str or None)
    "impact",  # summed log-odds of the family, rounded to 4 places as written
    "sentence",
]
# key order of one driver in the written JSON
_ENTRY_KEYS = ("family", "label", "impact", "feature", "value", "sentence")


@lru_cache(maxsize=4096)
def _family(name: str) -> str:
    return feature_entry(name).family


def _plain(value: object) -> object:
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else round(float(value), 4)
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return value if isinstance(value, (int, str, bool)) else str(value)


def family_label(family: str, lang: str) -> str:
    en, ja = FAMILY_LABELS.get(family, (family, family))
    return ja if lang == "ja" else en


def empty_drivers() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in DRIVER_COLUMNS}).astype(
        {"rank": "int64", "impact": "float64"}
    )


def select_drivers(
    contrib: np.ndarray, features: list[str], n_risk: int = N_RISK, n_protective: int = N_PROTECTIVE
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """For every account: the top families pushing up and down, their weight and strongest feature.

    Returns (families, family index (n, n_risk + n_protective), impact (same), feature index (same));
    slots without a driver in that direction hold -1.
    """
    families = sorted({_family(f) for f in features})
    member = np.array(
        [[_family(f) == fam for fam in families] for f in features], dtype=float
    )  # (p, k)
    weight = contrib @ member  # (n, k)
    n, k = weight.shape
    # strongest feature of each family in each direction
    up_feature = np.empty((n, k), dtype=np.int64)
    down_feature = np.empty((n, k), dtype=np.int64)
    for j in range(k):
        cols = np.where(member[:, j] > 0)[0]
        up_feature[:, j] = cols[np.argmax(contrib[:, cols], axis=1)]
        down_feature[:, j] = cols[np.argmin(contrib[:, cols], axis=1)]
    order = np.argsort(-weight, axis=1, kind="stable")
    slots = n_risk + n_protective
    fam_idx = np.full((n, slots), -1, dtype=np.int64)
    impact = np.zeros((n, slots))
    feat_idx = np.full((n, slots), -1, dtype=np.int64)
    rows = np.arange(n)
    for s in range(min(n_risk, k)):
        j = order[:, s]
        ok = weight[rows, j] > 0
        fam_idx[ok, s], impact[ok, s], feat_idx[ok, s] = (
            j[ok],
            weight[rows, j][ok],
            up_feature[rows, j][ok],
        )
    for s in range(min(n_protective, k)):
        j = order[:, k - 1 - s]
        ok = weight[rows, j] < 0
        t = n_risk + s
        fam_idx[ok, t], impact[ok, t], feat_idx[ok, t] = (
            j[ok],
            weight[rows, j][ok],
            down_feature[rows, j][ok],
        )
    return families, fam_idx, impact, feat_idx


def driver_frame(
    frame: pd.DataFrame, contrib: np.ndarray, features: list[str], model: str, lang: str = "en"
) -> pd.DataFrame:
    """The drivers of every row of a feature frame (with ``account_id``) as a long frame."""
    families, fam_idx, impact, feat_idx = select_drivers(contrib, features)
    rows, slots = np.nonzero(fam_idx >= 0)  # account by account, risk before protective
    if not len(rows):
        return empty_drivers()
    feature_at = feat_idx[rows, slots]
    values = np.empty(len(rows), dtype=object)
    for j in np.unique(feature_at):  # gather each feature column once, keeping its own dtype
        hit = feature_at == j
        column = frame[features[j]].to_numpy()
        values[hit] = [_plain(v) for v in column[rows[hit]]]
    family = np.asarray(families, dtype=object)[fam_idx[rows, slots]]
    names = np.asarray(features, dtype=object)[feature_at]
    risk = slots < N_RISK
    return pd.DataFrame(
        {
            "account_id": frame["account_id"].astype("str").to_numpy()[rows],
            "model": model,
            "direction": np.where(risk, "risk", "protective"),
            "rank": np.where(risk, slots, slots - N_RISK).astype("int64"),
            "family": family,
            "label": [family_label(f, lang) for f in family],
            "feature": names,
            "value": pd.Series(values, dtype="object"),
            "impact": [round(float(x), 4) for x in impact[rows, slots]],
            "sentence": [sentence(f, v, lang) for f, v in zip(names, values, strict=True)],
        },
        columns=DRIVER_COLUMNS,
    )


def _of_model(drivers: pd.DataFrame, model: str) -> pd.DataFrame:
    return drivers[drivers["model"] == model]


def driver_dicts(drivers: pd.DataFrame, account_ids: Iterable, model: str) -> list[dict]:
    """Per account, in order: {"risk": [...], "protective": [...]} as written and shown."""
    ids = [str(a) for a in account_ids]
    out = {a: {"risk": [], "protective": []} for a in ids}
    picked = _of_model(drivers, model).sort_values("rank", kind="stable")
    columns = [picked[k].tolist() for k in ("account_id", "direction", *_ENTRY_KEYS)]
    for account_id, direction, *entry in zip(*columns, strict=True):
        entries = out.get(account_id)
        if entries is not None:
            entries[direction].append(dict(zip(_ENTRY_KEYS, entry, strict=True)))
    return [out[a] for a in ids]


def driver_json(drivers: pd.DataFrame, account_ids: Iterable, model: str) -> list[str]:
    """The ``drivers_json`` / ``upsell_drivers_json`` column: the only place drivers become JSON
    on the way to a table."""
    return [json.dumps(d, ensure_ascii=False) for d in driver_dicts(drivers, account_ids, model)]


def driver_text(
    drivers: pd.DataFrame, account_ids: Iterable, model: str, lang: str = "en"
) -> list[str]:
    """One readable line per account: its risk sentences, then its protective ones."""
    ids = [str(a) for a in account_ids]
    said: dict[str, dict[str, list[str]]] = {a: {"risk": [], "protective": []} for a in ids}
    picked = _of_model(drivers, model).sort_values("rank", kind="stable")
    columns = [picked[k].tolist() for k in ("account_id", "direction", "sentence")]
    for account_id, direction, text in zip(*columns, strict=True):
        if account_id in said:
            said[account_id][direction].append(text)
    none = "なし" if lang == "ja" else "none"
    lines = []
    for a in ids:
        risk = "; ".join(said[a]["risk"]) or none
        protect = "; ".join(said[a]["protective"]) or none
        if lang == "ja":
            lines.append(f"リスク要因: {risk} / 好材料: {protect}")
        else:
            lines.append(f"Risk: {risk}. Protective: {protect}.")
    return lines


def top_family(drivers: pd.DataFrame, account_ids: pd.Series, model: str = "churn") -> pd.Series:
    """Family of each account's strongest risk driver ("" when nothing pushes the score up)."""
    d = _of_model(drivers, model)
    top = d[(d["direction"] == "risk") & (d["rank"] == 0)].drop_duplicates("account_id")
    family = account_ids.astype("str").map(top.set_index("account_id")["family"])
    return family.fillna("").astype("str").reset_index(drop=True)


def drivers_from_json(account_ids: Iterable, stored: Iterable, model: str) -> pd.DataFrame:
    """The long frame of a stored driver column (a previous run read back from a table); a
    NULL or empty cell means no drivers, missing keys are left empty."""
    records, values = [], []
    for account_id, cell in zip(account_ids, stored, strict=True):
        if not isinstance(cell, str) or not cell:
            continue
        parsed = json.loads(cell)
        for direction in DIRECTIONS:
            for rank, d in enumerate(parsed.get(direction, [])):
                family = d["family"]
                records.append(
                    (str(account_id), model, direction, rank, family, d.get("label", family))
                    + (d.get("feature"), None, float(d["impact"]), d.get("sentence", ""))
                )
                values.append(d.get("value"))
    if not records:
        return empty_drivers()
    out = pd.DataFrame.from_records(records, columns=DRIVER_COLUMNS)
    out["value"] = pd.Series(values, dtype="object")  # as stored: ints stay ints, None stays None
    return out


STORED_COLUMNS = {"churn": "drivers_json", "upsell": "upsell_drivers_json"}


def stored_drivers(scored: pd.DataFrame | None) -> pd.DataFrame:
    """The drivers of a scored table as stored (JSON columns), parsed once into the long frame."""
    if scored is None or not len(scored):
        return empty_drivers()
    scored = scored.drop_duplicates("account_id", keep="last")
    parts = [
        drivers_from_json(scored["account_id"], scored[column], model)
        for model, column in STORED_COLUMNS.items()
        if column in scored.columns
    ]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else empty_drivers()


def with_driver_json(scored: pd.DataFrame, drivers: pd.DataFrame) -> pd.DataFrame:
    """The scored table as written: both driver columns serialised from the long frame."""
    out = scored.copy()
    for model, column in STORED_COLUMNS.items():
        out[column] = driver_json(drivers, out["account_id"], model)
    return out


def account_drivers(
    values: pd.Series, contrib_row: np.ndarray, features: list[str], lang: str = "en"
) -> dict[str, list[dict]]:
    """Drivers of a single account (the same selection as for a whole frame)."""
    frame = pd.DataFrame([{**values.reindex(features).to_dict(), "account_id": "account"}])
    contrib = np.asarray(contrib_row, dtype=float)[None, :]
    long = driver_frame(frame, contrib, features, "one", lang)
    return driver_dicts(long, ["account"], "one")[0]
