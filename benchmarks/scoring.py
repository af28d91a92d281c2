"""Scoring benchmark: score, explain and write ~100k active accounts.

    python benchmarks/scoring.py [--accounts 150000] [--train-accounts 3000]

Trains churn and upsell champions with the real training flow on a small demo warehouse, builds
a large demo warehouse (cached under bench-data/), then times each scoring step on its active
accounts and compares churnml's table-based TreeSHAP with shap.TreeExplainer on the same model,
side by side in this process (checking that the values agree).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

from warehouses import cached_warehouse

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def timed(label: str, results: dict, fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    results[label] = time.perf_counter() - start
    print(f"  {label:<38} {results[label]:8.2f} s", flush=True)
    return out


def write_config(root: Path, warehouse: Path) -> Path:
    from importlib.resources import files

    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text("utf-8"))
    raw["warehouse"] = {"path": str(warehouse)}
    raw["mlflow"] = {
        "tracking_uri": f"sqlite:///{root}/mlflow.db",
        "artifact_root": str(root / "artifacts"),
    }
    path = root / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--accounts", type=int, default=150_000, help="accounts in the scored warehouse"
    )
    parser.add_argument("--train-accounts", type=int, default=3000)
    parser.add_argument("--months", type=int, default=13)
    args = parser.parse_args()

    from churnml.config import load_config
    from churnml.io import registry

    big = cached_warehouse(
        f"scoring-{args.accounts}-{args.months}.duckdb",
        args.accounts,
        args.months,
        21,
        events_per_user_day=0.02,
    )
    root = train_champions(args.train_accounts)
    cfg = load_config(write_config(root, big))
    churn, churn_v = registry.load_champion(cfg, "churn")
    upsell, upsell_v = registry.load_champion(cfg, "upsell")
    r: dict[str, float] = {}
    print(f"scoring {big}:", flush=True)
    features, as_of = time_scoring(cfg, churn, upsell, {"churn": churn_v, "upsell": upsell_v}, r)
    total = r["score + explain + outreach (both models)"] + r["write-back (DuckDB transaction)"]
    fast, shap_vals, lgb_contrib = explainers_side_by_side(churn, features, r)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    print()
    print(f"accounts scored              : {len(features):,} (as of {as_of})")
    print(
        f"churn model                  : {churn.booster.num_trees()} trees, {len(churn.features)} features"
    )
    print(f"score+explain+write          : {total:.1f} s (target <= 60 s)")
    print(
        f"TreeSHAP speed-up vs shap    : {r['shap.TreeExplainer.shap_values'] / r['churnml TreeSHAP (tables, 2 threads)']:.2f}x (target >= 2x)"
    )
    print(
        f"TreeSHAP speed-up vs pred_contrib: {r['LightGBM pred_contrib'] / r['churnml TreeSHAP (tables, 2 threads)']:.2f}x"
    )
    print(f"max |churnml - shap|         : {np.abs(fast - shap_vals).max():.2e}")
    print(f"max |churnml - pred_contrib| : {np.abs(fast - lgb_contrib[:, :-1]).max():.2e}")
    print(f"peak RSS                     : {peak_gb:.2f} GB")


def train_champions(train_accounts: int) -> Path:
    """Champions of both targets trained by the real training flow on a small demo; its root."""
    from flows.training import training_flow

    from churnml.io.warehouse_writer import write_demo_warehouse

    root = Path(tempfile.mkdtemp(prefix="churnml-bench-"))
    small = root / "train.duckdb"
    write_demo_warehouse(small, train_accounts, 24, 7)
    print("training champions on the small demo ...", flush=True)
    training_flow(config_path=str(write_config(root, small)))
    return root


def time_scoring(cfg, churn, upsell, versions: dict[str, str], r: dict):
    """Features, scoring (with drivers and plays) and write-back of every active account."""
    from churnml.features import FeatureSpec
    from churnml.io import sinks
    from churnml.io.frames import to_pandas
    from churnml.io.sources import connect_warehouse, load_sources, materialize
    from churnml.matrix import feature_matrix, observed_until
    from churnml.scoring import score_accounts

    con = connect_warehouse(cfg)
    tables = materialize(con, load_sources(con, cfg))
    as_of = observed_until(tables).date()
    features = timed(
        "features (one as-of)",
        r,
        lambda: to_pandas(feature_matrix(tables, [as_of], FeatureSpec.from_dict(churn.spec))),
    )
    accounts = tables["accounts"].to_pandas()
    scored = timed(
        "score + explain + outreach (both models)",
        r,
        lambda: score_accounts(
            features,
            accounts,
            churn,
            upsell,
            versions,
            cfg.outreach,
            datetime.now(UTC).replace(tzinfo=None),
        ).written(),
    )
    timed("write-back (DuckDB transaction)", r, sinks.write_duckdb, con, scored, "scored_accounts")
    return features, as_of


def explainers_side_by_side(churn, features, r: dict):
    """churnml's TreeSHAP, LightGBM's pred_contrib and shap.TreeExplainer on the churn model."""
    import shap

    from churnml.treeshap import FastTreeShap

    print("side by side on the churn model:", flush=True)
    X = churn.design_matrix(features)
    fast = timed(
        "churnml TreeSHAP (tables, 2 threads)",
        r,
        lambda: FastTreeShap(churn.booster).shap_values(X),
    )
    lgb_contrib = timed("LightGBM pred_contrib", r, churn.booster.predict, X, pred_contrib=True)
    explainer = shap.TreeExplainer(churn.booster)
    shap_vals = timed("shap.TreeExplainer.shap_values", r, explainer.shap_values, X)
    return fast, np.asarray(shap_vals), lgb_contrib


if __name__ == "__main__":
    main()
