"""Quality benchmark: churnml's training recipe beside a logistic baseline and a plain LightGBM.

    python benchmarks/quality.py [--demo 1500:7 3000:7 3000:11] [--months 24]
                                 [--layouts telemetry_export ... | --layouts]
                                 [--config NAME=path/to/churnml.yaml ...] [--threads 1]

Every dataset is an entry: a demo warehouse (accounts:seed, built and cached under bench-data/),
a foreign layout of tests/foreign_layouts.py (every one by default: generated under
bench-data/quality-layouts/ and read through its own config, as `churnml train` would), or any
config file whose sources and mapping point at its own data. For each dataset and target the same
feature matrix and the same out-of-time test snapshots serve three models:

- churnml: `train_target` (trees chosen over time-ordered folds, cross-fitted calibration), the
  judged model, which never saw the test snapshots;
- logistic: the regularised logistic baseline churnml reports beside every run;
- plain LightGBM: library defaults (100 trees, 31 leaves), fitted on the judged model's rows.

Prints one markdown table (ROC AUC, PR AUC, top-decile lift, Brier) and, per target, churnml's
calibration on the test snapshots (mean predicted vs observed rate per quantile bin).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

TARGETS = ("churn", "upsell")
METRICS = ("roc_auc", "pr_auc", "top_decile_lift", "brier")


@dataclass
class Dataset:
    """One benchmark entry: a name and the config that reads its data."""

    name: str
    config_path: Path | None = None  # a foreign layout: its own config and data dir
    accounts: int = 0  # a demo warehouse, when config_path is None
    seed: int = 0
    months: int = 24
    layout: str | None = None  # a generator of tests/foreign_layouts.py

    def config(self, cache: Path, threads: int):
        cfg = self._config(cache)
        training = cfg.training.model_copy(update={"num_threads": threads})
        return cfg.model_copy(update={"training": training})

    def _config(self, cache: Path):
        from churnml.config import default_config, load_config

        if self.layout is not None:
            self.config_path = layout_config(self.layout, cache)
        if self.config_path is not None:
            return load_config(self.config_path)
        from churnml.io.warehouse_writer import write_demo_warehouse

        warehouse = cache / f"quality-demo-{self.accounts}-{self.months}-{self.seed}.duckdb"
        if not warehouse.exists():
            print(f"building {warehouse.name} ...", flush=True)
            write_demo_warehouse(warehouse, self.accounts, self.months, self.seed)
        cfg = default_config(cache)
        return cfg.model_copy(
            update={"warehouse": cfg.warehouse.model_copy(update={"path": str(warehouse)})}
        )


def layout_config(name: str, cache: Path) -> Path:
    """Generate a foreign layout once (its files, its config) and return its churnml.yaml."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import foreign_layouts

    folder = cache / "quality-layouts" / name
    config = folder / "churnml.yaml"
    if not config.exists():
        print(f"generating layout {name} ...", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        foreign_layouts.write_layout(name, folder)
    return config


def feature_frame(cfg):
    """The training flow's matrix step, outside Prefect."""
    from churnml.features import derive_spec
    from churnml.io.frames import to_pandas
    from churnml.io.sources import connect_warehouse, load_sources, materialize
    from churnml.matrix import feature_matrix, observed_until
    from churnml.snapshots import snapshot_grid

    con = connect_warehouse(cfg)  # a layout's warehouse is created on first use
    tables = materialize(con, load_sources(con, cfg))
    end = observed_until(tables)
    last = cfg.snapshots.end or end.date()
    grid = snapshot_grid(last, cfg.snapshots.count, cfg.snapshots.frequency)
    spec = derive_spec(tables, cfg)
    frame = to_pandas(feature_matrix(tables, grid, spec, cfg.labels, end))
    con.disconnect()
    return frame, spec.to_dict()


def plain_lightgbm(result, frame, capacity_k: int, threads: int) -> dict[str, float]:
    """LightGBM with library defaults on every feature of the matrix (no selection), fitted on
    the judged model's rows and scored on the same test."""
    import lightgbm as lgb

    from churnml.metrics import classification_metrics
    from churnml.model import ModelBundle
    from churnml.train import model_features

    label = f"{result.bundle.target}_label"
    features, categorical = model_features(frame)
    fit, test = result.split.fit, result.split.test
    labelled = frame[frame[label].notna()]
    levels = {c: sorted(labelled[c].dropna().astype(str).unique().tolist()) for c in categorical}
    shell = ModelBundle(result.bundle.target, None, None, features, levels, result.bundle.spec)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": threads},
        lgb.Dataset(shell.design_matrix(fit), fit[label].astype(int)),
    )
    y = test[label].astype(int).to_numpy()
    return classification_metrics(y, booster.predict(shell.design_matrix(test)), capacity_k)


def evaluate(dataset: Dataset, cache: Path, threads: int) -> tuple[list[dict], list[str]]:
    from churnml.metrics import calibration_table
    from churnml.train import TrainingError, train_target

    cfg = dataset.config(cache, threads)
    start = time.perf_counter()
    frame, spec = feature_frame(cfg)
    print(f"{dataset.name}: matrix {len(frame):,} rows in {time.perf_counter() - start:.0f} s")
    rows, notes = [], []
    for target in TARGETS:
        start = time.perf_counter()
        try:
            result = train_target(frame, target, spec, cfg)
        except TrainingError as exc:
            notes.append(f"{dataset.name} {target}: skipped ({exc})")
            continue
        k = cfg.outreach.capacity_top_k
        models = {
            "churnml": result.metrics,
            "logistic": result.baseline_metrics,
            "plain LightGBM": plain_lightgbm(result, frame, k, threads),
        }
        for model, m in models.items():
            rows.append({"dataset": dataset.name, "target": target, "model": model, **m})
            print(markdown(rows[-1:]).splitlines()[2], flush=True)  # survives an interrupted run
        preds = result.test_predictions
        cal = calibration_table(preds.label, preds.probability, bins=5)
        notes.append(
            f"{dataset.name} {target}: {result.metrics['positive_rate']:.3f} positive rate on "
            f"{int(result.metrics['n'])} test rows; trees judged {result.metrics['judged_trees']:.0f}, "
            f"registered {result.metrics['registered_trees']:.0f}; shuffled-label AUC "
            f"{result.shuffled_auc:.3f}; calibration (predicted -> observed): "
            + ", ".join(
                f"{p:.3f}->{o:.3f}" for p, o in zip(cal.predicted, cal.observed, strict=True)
            )
            + f" [{time.perf_counter() - start:.0f} s]"
        )
        print(notes[-1], flush=True)
    return rows, notes


def markdown(rows: list[dict]) -> str:
    import pandas as pd

    table = pd.DataFrame(rows)
    lines = [
        "| dataset | target | model | ROC AUC | PR AUC | top-decile lift | Brier |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.dataset} | {r.target} | {r.model} | {r.roc_auc:.3f} | {r.pr_auc:.3f} | "
            f"{r.top_decile_lift:.2f} | {r.brier:.4f} |"
        )
    mean = table.groupby(["target", "model"], sort=False)[list(METRICS)].mean()
    for (target, model), m in mean.iterrows():
        lines.append(
            f"| mean | {target} | {model} | {m.roc_auc:.3f} | {m.pr_auc:.3f} | "
            f"{m.top_decile_lift:.2f} | {m.brier:.4f} |"
        )
    return "\n".join(lines)


def verdict(rows: list[dict]) -> list[str]:
    """The issue's bar: churnml at or above the logistic baseline on every dataset and target
    (ROC AUC), and above the plain LightGBM on average."""
    import pandas as pd

    auc = pd.DataFrame(rows).pivot_table("roc_auc", ["dataset", "target"], "model", sort=False)
    below = auc[auc["churnml"] < auc["logistic"]]
    lines = [
        f"churnml >= logistic on {len(auc) - len(below)} of {len(auc)} dataset-targets"
        + "".join(
            f"; below on {d} {t} ({r.churnml:.3f} < {r.logistic:.3f})"
            for (d, t), r in below.iterrows()
        )
    ]
    for target, part in auc.groupby(level="target", sort=False):
        lines.append(
            f"{target} mean ROC AUC: churnml {part['churnml'].mean():.3f}, logistic "
            f"{part['logistic'].mean():.3f}, plain LightGBM {part['plain LightGBM'].mean():.3f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--demo", nargs="*", default=["1500:7", "3000:7", "3000:11"])
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument(
        "--layouts",
        nargs="*",
        default=None,
        help="foreign layouts of tests/foreign_layouts.py (default: every one; none: --layouts)",
    )
    parser.add_argument("--config", nargs="*", default=[], help="NAME=path/to/churnml.yaml")
    parser.add_argument(
        "--threads", type=int, default=1, help="LightGBM threads (1 on a machine shared with jobs)"
    )
    args = parser.parse_args()
    datasets = [
        Dataset(f"demo {a} accounts, seed {s}", accounts=int(a), seed=int(s), months=args.months)
        for a, s in (entry.split(":") for entry in args.demo)
    ]
    if args.layouts is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from foreign_layouts import LAYOUTS

        args.layouts = list(LAYOUTS)
    datasets += [Dataset(f"layout {name}", layout=name) for name in args.layouts]
    datasets += [
        Dataset(name, config_path=Path(path))
        for name, path in (entry.split("=", 1) for entry in args.config)
    ]
    cache = Path("bench-data").resolve()
    cache.mkdir(exist_ok=True)
    rows, notes = [], []
    for dataset in datasets:
        r, n = evaluate(dataset, cache, args.threads)
        rows += r
        notes += n
    print()
    print(markdown(rows))
    print()
    print("\n".join(verdict(rows)))
    print()
    print("\n".join(f"- {n}" for n in notes))


if __name__ == "__main__":
    main()
