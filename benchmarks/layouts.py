"""Per-layout report: every foreign layout through the real CLI, as the README describes it.

    python benchmarks/layouts.py [--accounts 2000] [--layouts NAME ...] [--threads 1]
                                 [--workdir DIR] [--json results.json]

Each layout of tests/foreign_layouts.py is generated with ``--accounts`` accounts into its own
folder (a temporary one unless ``--workdir`` is given), then run as a user would, each command
a subprocess timed on the wall clock (Prefect's temporary server start included, as a user
sees it; the flow's own time, from its log, is shown in brackets):

    churnml check-data -c churnml.yaml
    churnml train -c churnml.yaml
    churnml score -c churnml.yaml --as-of AS_OF
    churnml evaluate -c churnml.yaml --as-of AS_OF

By default one local Prefect server serves the whole run (``PREFECT_API_URL``, as with
`churnml serve`); ``--ephemeral`` lets each command start its own temporary server instead,
which is what a user without a server sees (on a busy machine that adds minutes per command).

AS_OF is the latest month start whose outcomes the data fully covers (as in the tests). A
command that fails stops its layout; its one-line message is reported (a chance-level model is
rightly refused by the gate, so the no-signal layout has no champion to score with).

Printed per layout: wall time per command, label rates per target (MLflow's
``data/label_rates.json``: positives / labelled account-snapshots over every labelled snapshot,
and the range of the per-snapshot rates), the backtest metrics of the training run (ROC AUC,
PR AUC, top-decile lift, and the logistic baseline's ROC AUC) and the track record's ROC AUC
at AS_OF. A skipped target shows its one-line reason.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import foreign_layouts as fl  # noqa: E402

TARGETS = ("churn", "upsell")
STEPS = ("check-data", "train", "score", "evaluate")


def scored_as_of(config: dict) -> str:
    """The latest month start at least a horizon (plus the reactivation gap) before the data
    end: its outcomes are fully observed, so `evaluate` can judge the scores written for it."""
    end = fl.month_starts()[-1] - pd.Timedelta(days=1)
    labels = config["labels"]
    back = max(labels["churn_horizon_days"], labels["upsell_horizon_days"])
    day = end - pd.Timedelta(days=back + labels["reactivation_gap_days"] + 15)
    return f"{day:%Y-%m}-01"


def churnml_cli() -> list[str]:
    """The installed `churnml` entry point of this interpreter's environment."""
    script = Path(sys.executable).with_name("churnml")
    return [str(script)] if script.exists() else [sys.executable, "-m", "churnml.cli"]


def run_step(args: list[str], folder: Path, env: dict, log: Path) -> tuple[float, int, str]:
    """One CLI command in the layout's folder: wall seconds, exit code, last output line."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(args, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    return seconds, proc.returncode, lines[-1] if lines else ""


def training_run(folder: Path, name: str):
    """The MLflow run `churnml train` logged for the layout (None when there is none)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"layout-{name.replace('_', '-')}")
    if experiment is None:
        return client, None
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="attributes.run_name = 'train'"
    )
    return client, (runs[0] if runs else None)


def label_rates(client, run, folder: Path) -> dict[str, dict]:
    """Per target: positives and labelled account-snapshots over all snapshots, and the range of
    the per-snapshot rates, from the training run's data/label_rates.json."""
    path = client.download_artifacts(run.info.run_id, "data/label_rates.json", str(folder))
    rows = pd.DataFrame(json.loads(Path(path).read_text(encoding="utf-8"))["snapshots"])
    out = {}
    for target in TARGETS:
        labelled = int(rows[f"{target}_labelled"].sum())
        positives = int(rows[f"{target}_positives"].sum())
        rates = rows[f"{target}_rate"].dropna()
        out[target] = {
            "labelled": labelled,
            "positives": positives,
            "rate": positives / labelled if labelled else None,
            "min": float(rates.min()) if len(rates) else None,
            "max": float(rates.max()) if len(rates) else None,
        }
    return out


def track_record_auc(folder: Path) -> dict[str, float]:
    import duckdb

    con = duckdb.connect(str(folder / "churnml.duckdb"), read_only=True)
    try:
        row = con.execute("SELECT churn_roc_auc, upsell_roc_auc FROM track_record").df()
    finally:
        con.close()
    return {t: float(row[f"{t}_roc_auc"].iloc[-1]) for t in TARGETS}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_server(env: dict, log: Path, timeout: float = 300.0):
    """One local Prefect server for the whole run, as a deployment has (PREFECT_API_URL):
    without it every command starts and stops a temporary server of its own."""
    import urllib.request

    port = free_port()
    prefect = Path(sys.executable).with_name("prefect")
    with log.open("w", encoding="utf-8") as out:
        server = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not start; see {log}")
            time.sleep(2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


WRITERS = {**fl.LAYOUTS, **fl.EXPORT_LAYOUTS}


def run_layout(name: str, root: Path, accounts: int, threads: int, env: dict) -> dict:
    """One layout through the CLI; an export layout (fl.EXPORT_LAYOUTS) keeps its own size,
    which is part of its shape (sixty accounts, twenty-five)."""
    folder = root / name
    started = time.perf_counter()
    if name in fl.EXPORT_LAYOUTS:
        import inspect

        accounts = inspect.signature(WRITERS[name]).parameters["accounts"].default
    config = WRITERS[name](folder, accounts=accounts)
    generated = time.perf_counter() - started
    config.setdefault("training", {})["num_threads"] = threads
    path = fl.write_config(folder, config)
    as_of = scored_as_of(config)
    cli = churnml_cli()
    commands = {
        "check-data": [*cli, "check-data", "-c", path.name],
        "train": [*cli, "train", "-c", path.name],
        "score": [*cli, "score", "-c", path.name, "--as-of", as_of],
        "evaluate": [*cli, "evaluate", "-c", path.name, "--as-of", as_of],
    }
    result: dict = {
        "layout": name,
        "accounts": accounts,
        "folder": str(folder),
        "as_of": as_of,
        "generate_seconds": round(generated, 1),
        "seconds": {},
        "failed": None,
    }
    for step in STEPS:
        seconds, code, last = run_step(commands[step], folder, env, folder / f"{step}.log")
        result["seconds"][step] = round(seconds, 1)
        print(f"  {name}: {step} {seconds:.0f} s (exit {code})", flush=True)
        if code != 0:
            result["failed"] = {"step": step, "exit": code, "message": last[:300]}
            break
    client, run = training_run(folder, name)
    if run is not None:
        metrics = run.data.metrics
        result["label_rates"] = label_rates(client, run, folder)
        result["metrics"] = {
            t: {
                k: metrics.get(f"{t}.{k}")
                for k in ("roc_auc", "pr_auc", "top_decile_lift", "baseline.roc_auc")
            }
            for t in TARGETS
            if f"{t}.roc_auc" in metrics
        }
        train_log = (folder / "train.log").read_text(encoding="utf-8")
        result["skipped"] = {
            t: line.split("): ", 1)[-1].strip()
            for t in TARGETS
            for line in train_log.splitlines()
            if f"{t} skipped (not trained" in line
        }
    if result["failed"] is None:
        result["track_record_auc"] = track_record_auc(folder)
    return result


def flow_seconds(log: Path) -> float | None:
    """Seconds from the flow's start to its end in a command's log: the command's wall time
    less the temporary Prefect server's start and stop (None for check-data, no flow)."""
    if not log.exists():
        return None
    begun = ended = None
    for line in log.read_text(encoding="utf-8").splitlines():
        if "| Flow run" not in line:
            continue
        stamp = pd.Timestamp(line[:12])
        if "Beginning flow run" in line and begun is None:
            begun = stamp
        if "Finished in state" in line:
            ended = stamp
    if begun is None or ended is None:
        return None
    return (ended - begun) / pd.Timedelta(seconds=1) % 86_400


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def table(results: list[dict]) -> str:
    """The per-layout markdown tables: times, then label rates and metrics per target."""
    lines = [
        "| layout | accounts | " + " | ".join(f"{s} (s)" for s in STEPS) + " | outcome |",
        "|---|---:|" + "---:|" * len(STEPS) + "---|",
    ]
    for r in results:
        times = []
        for step in STEPS:
            wall = r["seconds"].get(step)
            inside = flow_seconds(Path(r["folder"]) / f"{step}.log") if wall is not None else None
            times.append(_fmt(wall, 0) + (f" ({inside:.0f})" if inside is not None else ""))
        failed = r["failed"]
        outcome = "ok" if failed is None else f"{failed['step']} exit {failed['exit']}"
        lines.append(
            f"| {r['layout']} | {r['accounts']} | " + " | ".join(times) + f" | {outcome} |"
        )
    lines += [
        "",
        "| layout | target | label rate (positives / labelled) | per-snapshot range "
        "| ROC AUC | PR AUC | top-decile lift | logistic ROC AUC | track record ROC AUC |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for t in TARGETS:
            rates = r.get("label_rates", {}).get(t)
            if rates is None:
                continue
            rate = (
                f"{rates['rate']:.1%} ({rates['positives']} / {rates['labelled']})"
                if rates["rate"] is not None
                else "not labelled"
            )
            spread = (
                f"{rates['min']:.1%} .. {rates['max']:.1%}" if rates["min"] is not None else "-"
            )
            m = r.get("metrics", {}).get(t)
            if m is None:
                reason = r.get("skipped", {}).get(t, "not trained")
                lines.append(
                    f"| {r['layout']} | {t} | {rate} | {spread} | skipped: {reason} | | | | |"
                )
                continue
            auc = r.get("track_record_auc", {}).get(t)
            lines.append(
                f"| {r['layout']} | {t} | {rate} | {spread} | {_fmt(m['roc_auc'])} | "
                f"{_fmt(m['pr_auc'])} | {_fmt(m['top_decile_lift'], 2)} | "
                f"{_fmt(m['baseline.roc_auc'])} | {_fmt(auc)} |"
            )
    failures = [r for r in results if r["failed"] is not None]
    if failures:
        lines.append("")
        for r in failures:
            f = r["failed"]
            lines.append(f"- {r['layout']}: `{f['step']}` exit {f['exit']}: {f['message']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument(
        "--layouts",
        nargs="+",
        choices=list(WRITERS),
        default=list(fl.LAYOUTS),
        help=f"default: {' '.join(fl.LAYOUTS)}; also {' '.join(fl.EXPORT_LAYOUTS)} (own sizes)",
    )
    parser.add_argument("--threads", type=int, default=1, help="training.num_threads")
    parser.add_argument("--workdir", type=Path, help="keep the layouts here (default: temporary)")
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="no shared Prefect server: each command starts a temporary one (slower)",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument(
        "--from-json", type=Path, help="print the tables of an earlier run's JSON (logs kept)"
    )
    args = parser.parse_args()
    if args.from_json:
        print(table(json.loads(args.from_json.read_text(encoding="utf-8"))))
        return

    with tempfile.TemporaryDirectory(prefix="churnml-layouts-") as tmp:
        root = (args.workdir or Path(tmp)).resolve()
        root.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PREFECT_HOME": str(root / ".prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("MLFLOW_TRACKING_URI", None)  # each layout's config names its own store
        env.pop("PREFECT_API_URL", None)
        server = nullcontext(None) if args.ephemeral else prefect_server(env, root / "prefect.log")
        results = []
        with server as api_url:
            if api_url:
                env["PREFECT_API_URL"] = api_url
            for name in args.layouts:
                print(f"{name} ...", flush=True)
                results.append(run_layout(name, root, args.accounts, args.threads, env))
                if args.json:
                    args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
        print()
        print(table(results))


if __name__ == "__main__":
    main()
