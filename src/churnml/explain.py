"""Per-account drivers from TreeSHAP values, grouped by feature family, in plain words.

LightGBM's pred_contrib gives exact TreeSHAP values in log-odds. Contributions of a family's
features are summed so a driver reads as "product usage" rather than six columns; the sentence
comes from the family's strongest feature (in the driver's direction) and the account's value.
Selection is vectorised over accounts: only the sentences are formatted one by one.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pandas as pd

from churnml.catalogue import FAMILY_LABELS, feature_entry, sentence

N_RISK = 3
N_PROTECTIVE = 2


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


def drivers_for_frame(
    frame: pd.DataFrame, contrib: np.ndarray, features: list[str], lang: str = "en"
) -> tuple[list[str], list[str]]:
    """JSON and one-line text of the drivers for every row of a feature frame."""
    families, fam_idx, impact, feat_idx = select_drivers(contrib, features)
    values = frame[features].reset_index(drop=True)
    columns = [values[c].to_numpy() for c in features]
    as_json, as_text = [], []
    for i in range(len(values)):
        entries: dict[str, list[dict]] = {"risk": [], "protective": []}
        for s in range(fam_idx.shape[1]):
            if fam_idx[i, s] < 0:
                continue
            fam = families[fam_idx[i, s]]
            name = features[feat_idx[i, s]]
            value = _plain(columns[feat_idx[i, s]][i])
            label_en, label_ja = FAMILY_LABELS.get(fam, (fam, fam))
            entries["risk" if s < N_RISK else "protective"].append(
                {
                    "family": fam,
                    "label": label_ja if lang == "ja" else label_en,
                    "impact": round(float(impact[i, s]), 4),
                    "feature": name,
                    "value": value,
                    "sentence": sentence(name, value, lang),
                }
            )
        as_json.append(json.dumps(entries, ensure_ascii=False))
        risk = "; ".join(x["sentence"] for x in entries["risk"])
        protect = "; ".join(x["sentence"] for x in entries["protective"])
        if lang == "ja":
            as_text.append(f"リスク要因: {risk or 'なし'} / 好材料: {protect or 'なし'}")
        else:
            as_text.append(f"Risk: {risk or 'none'}. Protective: {protect or 'none'}.")
    return as_json, as_text


def account_drivers(
    values: pd.Series, contrib_row: np.ndarray, features: list[str], lang: str = "en"
) -> dict[str, list[dict]]:
    """Drivers of a single account (the same selection as for a whole frame)."""
    frame = pd.DataFrame([values.reindex(features).to_dict()])
    as_json, _ = drivers_for_frame(
        frame, np.asarray(contrib_row, dtype=float)[None, :], features, lang
    )
    return json.loads(as_json[0])
