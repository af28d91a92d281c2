"""Names as a CRM holds them: company display names and the CSM team."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.demo.base import REGIONS

_PREFIXES = (
    "Blue", "North", "Bright", "Rapid", "Summit", "Cedar", "Atlas", "Nova", "Pioneer", "Harbor",
    "Quartz", "Maple", "Silver", "Granite", "Evergreen", "Falcon", "Orbit", "Vertex", "Lumen",
    "Iron", "Clear", "Golden", "Pacific", "Prairie", "Sierra", "Coastal", "Urban", "Alpine",
    "Crescent", "Sterling", "Beacon", "Keystone", "Riverbend", "Oak", "Willow", "Horizon",
    "Polar", "Copper", "Union", "Red Rock", "Blue Ridge", "Lake Shore", "True North",
    "Open Field", "High Desert", "Twin Peaks",
)  # fmt: skip
_CORES = (
    "Analytics", "Logistics", "Foods", "Health", "Systems", "Labs", "Media", "Works", "Partners",
    "Software", "Robotics", "Energy", "Capital", "Retail", "Studios", "Dynamics", "Networks",
    "Solutions", "Brewing", "Apparel", "Freight", "Clinics", "Learning", "Insurance", "Devices",
    "Realty", "Farms", "Outfitters", "Data", "Cloud", "Bio", "Pharma", "Mobility", "Security",
    "Payments", "Marine", "Textiles", "Tools", "Travel", "Hospitality",
)  # fmt: skip
_SURNAMES = (
    "Baker", "Lowe", "Patel", "Nguyen", "Garcia", "Müller", "Rossi", "Smith", "Khan", "Silva",
    "Cohen", "Dubois", "Novak", "Jensen", "Okafor", "Kowalski", "Murphy", "Fischer", "Moreau",
    "Haddad",
)  # fmt: skip
_APOSTROPHES = (
    "O'Brien", "O'Connor", "D'Angelo", "Maggie's", "Joe's", "Dunn's", "L'Atelier", "Ke'ola",
)  # fmt: skip
_LEGAL = {
    "NA": ("Inc.", "LLC", "Corp.", "Co.", ""),
    "EMEA": ("Ltd", "GmbH", "S.A.", "B.V.", "AB", "plc", ""),
    "APAC": ("Pty Ltd", "Pte. Ltd.", "Ltd", ""),
    "LATAM": ("S.A.", "S.A. de C.V.", "Ltda.", "S.R.L."),
}
_JA_CORES = (
    "さくらテック", "ひかり物流", "山田商事", "東和システム", "みらい製作所", "青空データ",
    "日本橋ソリューションズ", "北斗エナジー", "大和ロジスティクス", "富士クラウド",
    "朝日メディカル", "港北フーズ", "光陽電機", "はるかネット",
)  # fmt: skip
_CITIES = {
    "NA": ("Austin", "Denver", "Toronto", "Chicago", "Seattle", "Boston", "Atlanta", "Phoenix"),
    "EMEA": ("Berlin", "Lyon", "Leeds", "Milan", "Madrid", "Utrecht", "Dublin", "Oslo"),
    "APAC": ("Osaka", "Sydney", "Singapore", "Seoul", "Auckland", "Fukuoka", "Taipei", "Perth"),
    "LATAM": ("Bogotá", "Lima", "Santiago", "Monterrey", "Córdoba", "Quito", "Curitiba", "Recife"),
    "JA": ("大阪", "名古屋", "福岡", "札幌", "横浜", "神戸", "仙台", "京都"),
}
_CSM_FIRST = (
    "Aiko", "Maria", "James", "Priya", "Lucas", "Sofia", "Daniel", "Emma", "Kenji", "Olivia",
    "Mateo", "Hannah", "Omar", "Chloe", "Ravi", "Grace", "Liam", "Yuki", "Noah", "Amara", "Ethan",
    "Zoe", "Diego", "Mei", "Samuel", "Ines", "Victor", "Lena", "Hiro", "Nora",
)  # fmt: skip
_CSM_LAST = (
    "Tanaka", "Lopez", "Carter", "Sharma", "Meyer", "Rossi", "Kim", "Walsh", "Sato", "Bennett",
    "Torres", "Novak", "Haddad", "Laurent", "Iyer", "Brooks", "Keane", "Suzuki", "Reyes", "Okoro",
    "Fischer", "Park", "Moreno", "Chen", "Adams", "Dubois", "Brandt", "Ito", "Costa",
)  # fmt: skip


def company_names(rng: np.random.Generator, region_idx: np.ndarray) -> list[str]:
    """Display names as a CRM holds them: legal forms by region, '&', apostrophes, Japanese."""
    n = len(region_idx)
    regions = REGIONS[region_idx]
    pattern = rng.random(n)
    japanese = (regions == "APAC") & (rng.random(n) < 0.35)
    p = rng.integers(0, len(_PREFIXES), n)
    c = rng.integers(0, len(_CORES), n)
    s1 = rng.integers(0, len(_SURNAMES), n)
    s2 = rng.integers(0, len(_SURNAMES), n)
    a = rng.integers(0, len(_APOSTROPHES), n)
    j = rng.integers(0, len(_JA_CORES), n)
    legal_pick = rng.random(n)
    names = []
    for i in range(n):
        if japanese[i]:
            core = _JA_CORES[j[i]]
            names.append(f"株式会社{core}" if pattern[i] < 0.6 else f"{core}株式会社")
            continue
        if pattern[i] < 0.09:
            name = f"{_SURNAMES[s1[i]]} & {_SURNAMES[s2[i]]} {_CORES[c[i]]}"
        elif pattern[i] < 0.13:
            name = f"{_PREFIXES[p[i]]} {_CORES[c[i]]} & Co."
        elif pattern[i] < 0.19:
            name = f"{_APOSTROPHES[a[i]]} {_CORES[c[i]]}"
        else:
            name = f"{_PREFIXES[p[i]]} {_CORES[c[i]]}"
        forms = _LEGAL[regions[i]]
        legal = "" if name.endswith("Co.") else forms[int(legal_pick[i] * len(forms))]
        names.append(f"{name} {legal}" if legal else name)
    # A real CRM has a few namesakes, not dozens: most are told apart by their home city.
    dup = pd.Series(names).duplicated(keep=False).to_numpy() & (rng.random(n) < 0.97)
    city = rng.integers(0, 8, n)
    for i in np.flatnonzero(dup):
        names[i] = f"{names[i]} ({_CITIES['JA' if japanese[i] else regions[i]][city[i]]})"
    return names


def csm_pool(n_accounts: int) -> np.ndarray:
    """About 8 CSMs per 1,000 accounts (at least 5), each with a distinct person name."""
    size = max(5, round(8 * n_accounts / 1000))
    first, last = len(_CSM_FIRST), len(_CSM_LAST)
    names = []
    for k in range(size):
        name = f"{_CSM_FIRST[k % first]} {_CSM_LAST[(k + k // first) % last]}"
        repeat = k // (first * last)
        names.append(f"{name} {repeat + 1}" if repeat else name)
    return np.array(names, dtype=object)
