"""Per-account drivers from TreeSHAP values, grouped by feature family, in plain words.

LightGBM's pred_contrib gives exact TreeSHAP values in log-odds. Contributions of a family's
features are summed so a driver reads as "product usage" rather than six columns; the sentence
comes from the family's strongest feature and the account's own value.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from churnml.catalogue import FAMILY_LABELS, describe, sentence


def family_contributions(contrib: np.ndarray, features: list[str]) -> pd.DataFrame:
    """Sum SHAP values per family: (n accounts, families)."""
    families = [describe(f).family for f in features]
    frame = pd.DataFrame(contrib, columns=features)
    return frame.T.groupby(families).sum().T


def account_drivers(
    values: pd.Series,
    contrib_row: np.ndarray,
    features: list[str],
    n_risk: int = 3,
    n_protective: int = 2,
    lang: str = "en",
) -> dict[str, list[dict]]:
    """Top risk drivers (push the score up) and protective factors (push it down) of one account."""
    families = np.array([describe(f).family for f in features])
    by_family: dict[str, float] = {}
    for fam in np.unique(families):
        by_family[fam] = float(contrib_row[families == fam].sum())

    def entry(fam: str, weight: float) -> dict:
        idx = np.where(families == fam)[0]
        # the family's strongest feature in the same direction as the family total
        signed = contrib_row[idx] * np.sign(weight)
        top = idx[int(np.argmax(signed))]
        name = features[top]
        label_en, label_ja = FAMILY_LABELS.get(fam, (fam, fam))
        return {
            "family": fam,
            "label": label_ja if lang == "ja" else label_en,
            "impact": round(weight, 4),
            "feature": name,
            "value": _plain(values.get(name)),
            "sentence": sentence(name, values.get(name), lang),
        }

    ordered = sorted(by_family.items(), key=lambda kv: kv[1], reverse=True)
    risk = [entry(f, w) for f, w in ordered if w > 0][:n_risk]
    protective = [entry(f, w) for f, w in reversed(ordered) if w < 0][:n_protective]
    return {"risk": risk, "protective": protective}


def _plain(value: object) -> object:
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    if value is pd.NA or value is None:
        return None
    return value if isinstance(value, (int, str, bool)) else str(value)


def drivers_for_frame(
    frame: pd.DataFrame, contrib: np.ndarray, features: list[str], lang: str = "en"
) -> tuple[list[str], list[str]]:
    """JSON and text of the drivers for every row of a feature frame."""
    as_json, as_text = [], []
    records = frame[features].reset_index(drop=True)
    for i in range(len(records)):
        d = account_drivers(records.iloc[i], contrib[i], features, lang=lang)
        as_json.append(json.dumps(d, ensure_ascii=False))
        risk = "; ".join(x["sentence"] for x in d["risk"])
        protect = "; ".join(x["sentence"] for x in d["protective"])
        if lang == "ja":
            as_text.append(f"リスク要因: {risk or 'なし'} / 好材料: {protect or 'なし'}")
        else:
            as_text.append(f"Risk: {risk or 'none'}. Protective: {protect or 'none'}.")
    return as_json, as_text
