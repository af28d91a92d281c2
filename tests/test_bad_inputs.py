"""A new user's mistakes in the data, each answered once and in one line: an empty accounts
table, a scoring as-of after the data, and the order check-data reports in."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnml.cli import app
from test_cli import assert_one_line_refusal, no_flows, write_csv_config  # noqa: F401


def test_an_empty_accounts_table_is_one_problem_not_a_cascade(tmp_path, tiny_frames):
    from test_validation import problems_of

    tiny_frames["accounts"] = tiny_frames["accounts"].iloc[:0]
    (problem,) = problems_of(tmp_path, tiny_frames)
    assert (problem.table, problem.column, problem.severity) == ("accounts", "*", "error")
    assert problem.check.startswith("table is empty: no account to match the other tables' rows")
    assert "sources.accounts" in problem.check


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("command", ["check-data", "train", "score", "evaluate"])
@pytest.mark.parametrize(("table", "suffix"), [("accounts", "csv"), ("subscriptions", "parquet")])
def test_a_required_table_with_a_header_only_is_refused_before_anything(
    tmp_path, tiny_frames, command, table, suffix
):
    config = Path(write_csv_config(tmp_path, tiny_frames))
    empty = tmp_path / f"{table}.{suffix}"
    if suffix == "parquet":
        tiny_frames[table].iloc[:0].to_parquet(empty, index=False)
        (tmp_path / f"{table}.csv").unlink()
        raw = yaml.safe_load(config.read_text())
        raw["sources"][table]["source"]["path"] = empty.name
        config.write_text(yaml.safe_dump(raw))
    else:
        tiny_frames[table].iloc[:0].to_csv(empty, index=False)
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, [command, "-c", str(config)]), tmp_path, before
    )
    assert line.startswith(f"source error: table {table}: {empty} has a header but no rows, ")
    assert f"fix sources.{table}.source.path" in line
    assert "unknown accounts (" not in line


def test_the_profile_names_optional_columns_the_source_lacks_instead_of_100_percent_null(
    tmp_path, tiny_frames
):
    result = CliRunner().invoke(app, ["check-data", "-c", write_csv_config(tmp_path, tiny_frames)])
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "accounts: 3 rows, created_at 2024-01-01 00:00:00 .. 2024-09-01 00:00:00",
        "  null rates: csm_owner 33%",
        "  not in the source (optional, left empty): status, churned_at, mrr",
    ]
    assert "  not in the source (optional, left empty): trial_end_at" in lines
    assert "100%" not in result.stdout


def test_an_empty_optional_table_is_fine(tmp_path, tiny_frames):
    tiny_frames["support_tickets"] = tiny_frames["support_tickets"].iloc[:0]
    result = CliRunner().invoke(app, ["check-data", "-c", write_csv_config(tmp_path, tiny_frames)])
    assert result.exit_code == 0, result.output


def test_check_data_reports_in_order_on_one_stream(tmp_path, tiny_frames):
    """Profile, warnings, then problems: on one stream, so no capture can splice a problem
    count onto the profile's last line."""
    tiny_frames["subscriptions"].loc[0, "mrr"] = -5.0
    tiny_frames["support_tickets"].loc[0, "priority"] = "P1"
    result = CliRunner().invoke(app, ["check-data", "-c", write_csv_config(tmp_path, tiny_frames)])
    assert result.exit_code == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("accounts: 3 rows")  # the profile comes first
    assert lines[-2].startswith(
        "1 data warning (runs go on): support_tickets.priority: priority not one of"
    )
    assert lines[-1].startswith("1 data problem: subscriptions.mrr: negative MRR (1 rows)")
    tiny_frames["support_tickets"].loc[0, "closed_at"] = "2025-01-01"  # two problems: a header
    result = CliRunner().invoke(app, ["check-data", "-c", write_csv_config(tmp_path, tiny_frames)])
    lines = result.stdout.splitlines()
    assert lines[-3] == "2 data problems:" and lines[-2].startswith("  - subscriptions.mrr: ")
    assert lines[-1].startswith("  - support_tickets.closed_at: ticket closed before it was")


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize(
    ("as_of", "refused"), [("2025-03-17", False), ("2025-03-18", True), ("2024-01-01", True)]
)
def test_score_refuses_an_as_of_outside_the_data_before_anything_starts(
    tmp_path, tiny_frames, as_of, refused, monkeypatch
):
    """The data ends 2025-03-10 (acc_b's upgrade): a week later is the last as-of that scores.
    No model is trained here: the as-of is answered first, in one line, before Prefect is
    started (a start would fail the test; CPU time was the check, and a loaded machine
    stretched it past its bound)."""
    import churnml.cli as cli

    def started():
        raise AssertionError("Prefect was started before the as-of was answered")

    monkeypatch.setattr(cli, "_quiet_prefect", started)
    config = write_csv_config(tmp_path, tiny_frames)
    before = {p.name for p in tmp_path.rglob("*")}
    result = CliRunner().invoke(app, ["score", "--as-of", as_of, "-c", config])
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    if not refused:
        assert line.startswith("no champion: no model is registered yet")
        return
    expected = {
        "2025-03-18": "as-of error: the scoring as-of 2025-03-18 is 8 days after the data "
        "ends (2025-03-10): every account would look inactive over the last 7 days. Score an "
        "as-of up to 2025-03-17",
        "2024-01-01": "as-of error: no active account at the scoring as-of 2024-01-01: "
        "the first subscription starts 2024-01-01; score an as-of after it. Nothing was scored "
        "or written.",
    }
    assert line.startswith(expected[as_of]), line
    assert {p.name for p in tmp_path.rglob("*")} == before


def _point(config: Path, table: str, path: str) -> None:
    raw = yaml.safe_load(config.read_text())
    raw["sources"][table]["source"]["path"] = path
    config.write_text(yaml.safe_dump(raw))


def _zip(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")


WRONG_KINDS = {
    "accounts.xlsx": (_zip, "is an Excel workbook (or another zip archive), not a CSV file; "),
    "accounts.xls": (
        lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)),
        "is an Excel 97-2003 workbook, not a CSV file; save it as CSV UTF-8 or Parquet",
    ),
    "accounts.csv.parquet-inside": (
        lambda p: p.write_bytes(b"PAR1" + bytes(100)),
        "is a Parquet file, not a CSV file; set sources.accounts.source.format: parquet",
    ),
    "accounts.zipped": (
        lambda p: p.write_bytes(b"\x1f\x8b\x08\x00" + bytes(100)),
        "is gzip-compressed, not a CSV file; name it .csv.gz",
    ),
    "accounts.parquet": (
        lambda p: p.write_text("account_id,name\nacc_a,Alpha\n"),
        "is text (a CSV file?), not Parquet; name it .csv or set sources.accounts.source.format",
    ),
}


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("name", list(WRONG_KINDS))
def test_a_file_of_another_kind_is_named_not_read_as_noise(tmp_path, tiny_frames, name):
    config = Path(write_csv_config(tmp_path, tiny_frames))
    write, expected = WRONG_KINDS[name]
    write(tmp_path / name)
    _point(config, "accounts", name)
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, ["train", "-c", str(config)]), tmp_path, before
    )
    assert line.startswith(f"source error: table accounts: {tmp_path / name} {expected}"), line
    assert "not UTF-8" not in line


def test_gzip_csv_and_a_byte_order_mark_are_read(tmp_path, tiny_frames):
    import gzip

    config = Path(write_csv_config(tmp_path, tiny_frames))
    events = tmp_path / "usage_events.csv"
    (tmp_path / "usage_events.csv.gz").write_bytes(gzip.compress(events.read_bytes()))
    events.unlink()
    _point(config, "usage_events", "usage_events.csv.gz")
    accounts = tmp_path / "accounts.csv"
    accounts.write_bytes(b"\xef\xbb\xbf" + accounts.read_bytes())  # as Excel saves CSV UTF-8
    result = CliRunner().invoke(app, ["check-data", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "usage_events: 8 rows" in result.stdout and "all checks passed" in result.stdout
    # a gzip file cut off is still found out
    whole = gzip.compress(b"account_id,occurred_at,event_type\nacc_a,2025-01-01,login\n")
    (tmp_path / "usage_events.csv.gz").write_bytes(whole[:-12])
    result = CliRunner().invoke(app, ["check-data", "-c", str(config)])
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("command", ["check-data", "train", "score", "evaluate"])
def test_a_warehouse_that_cannot_be_created_is_refused_in_one_line(
    tmp_path, tiny_frames, command, monkeypatch
):
    config = Path(write_csv_config(tmp_path, tiny_frames))
    raw = yaml.safe_load(config.read_text())
    raw["warehouse"]["path"] = "accounts.csv/wh.duckdb"
    config.write_text(yaml.safe_dump(raw))
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, [command, "-c", str(config)]), tmp_path, before
    )
    assert line == (
        f"source error: warehouse.path: {tmp_path / 'accounts.csv' / 'wh.duckdb'} cannot be "
        f"created, {tmp_path / 'accounts.csv'} is a file; point it into a folder you can write to"
    )
    raw["warehouse"]["path"] = "out/wh.duckdb"
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr("churnml.io.preflight._read_only_mount", lambda folder: True)
    line = assert_one_line_refusal(
        CliRunner().invoke(app, [command, "-c", str(config)]), tmp_path, before
    )
    assert line.endswith(
        f"cannot be created, folder {tmp_path} is not writable; point it into "
        "a folder you can write to"
    )


@pytest.mark.parametrize(
    ("column", "value", "hint"),
    [
        ("start_at", "31/01/2025", "(day-first or month-first, e.g. 31/01/2025 or 01/31/2025"),
        ("start_at", "01.31.2025", "export dates as YYYY-MM-DD"),
        ("start_at", "1735689600", "(Unix time? derive it: start_at: {from: <your column>, unit:"),
        ("start_at", "N/A", "(a placeholder for a missing value? leave the cell empty"),
        ("mrr", "null", "(a placeholder for a missing value? leave the cell empty"),
        ("start_at", "soon", None),
    ],
)
def test_text_that_does_not_parse_says_why_when_it_shows(
    tmp_path, tiny_frames, column, value, hint
):
    from test_validation import problems_of

    subs = tiny_frames["subscriptions"].astype({column: "str"})
    subs.loc[1, column] = value
    tiny_frames["subscriptions"] = subs
    (problem,) = [p for p in problems_of(tmp_path, tiny_frames) if p.column == column]
    assert problem.failing_rows == 1 and problem.examples[0][column] == value
    what = "unparseable date" if column == "start_at" else "not a valid float64"
    if hint is None:
        plain = "dates as YYYY-MM-DD" if column == "start_at" else "plain numbers"
        assert problem.check.startswith(f"{what} (export {plain}")
    else:
        assert problem.check.startswith(f"{what} (") and hint in problem.check


def test_one_data_problem_in_a_flow_is_one_line(monkeypatch):
    import flows.scoring

    from churnml.validation import DataProblem, UnknownCategoriesError

    problem = DataProblem("features", "contract_plan", "category values the model never saw", 1)

    def failing(**kwargs):
        raise UnknownCategoriesError([problem])

    monkeypatch.setattr(flows.scoring, "scoring_flow", failing)
    monkeypatch.setattr("churnml.cli._require_a_champion", lambda cfg: None)  # no store here
    monkeypatch.setattr("churnml.io.preflight.refuse_bad_data", lambda cfg, labels=False: None)
    result = CliRunner().invoke(app, ["score"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "data problem: features.contract_plan: category values the model never saw "
        "(1 rows); nothing was computed or written"
    )


def test_a_category_spelt_differently_says_so():
    import pandas as pd

    from churnml.validation import UnknownCategoriesError, screen_unknown_categories

    features = pd.DataFrame(
        {"account_id": ["a", "b", "c"], "contract_plan": ["Business", "growth", "Platinum"]}
    )
    known = {"contract_plan": ["starter", "growth", "business"]}
    with pytest.raises(UnknownCategoriesError) as caught:
        screen_unknown_categories(
            {"contract_plan": ["Business", "Platinum"]}, features, "stop", known
        )
    assert str(caught.value).startswith(
        "features.contract_plan: category values the model never saw: 'Business', 'Platinum' "
        "('Business' is 'business' in another letter case or spacing: export them as the model "
        "was trained on them, or translate them with a derive map) (2 rows)"
    )
    (problem,) = screen_unknown_categories({"contract_plan": ["Platinum"]}, features, "x", known)
    assert problem.check == "category values the model never saw: 'Platinum'"


@pytest.mark.parametrize(
    ("option", "value"), [("--accounts", "0"), ("--months", "-1"), ("--events-per-user-day", "-2")]
)
def test_demo_data_refuses_impossible_sizes_in_one_line(tmp_path, monkeypatch, option, value):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo-data", option, value])
    line = assert_one_line_refusal(result, tmp_path, set())
    assert line.startswith(f"{option} must be at least ") and f"got {value}" in line


@pytest.mark.usefixtures("no_flows")
def test_evaluate_before_any_scoring_run_stops_before_the_flow(tmp_path, tiny_frames):
    import duckdb

    config = write_csv_config(tmp_path, tiny_frames)
    warehouse = tmp_path / "wh.duckdb"

    def refusal(*args: str) -> str:
        before = {p.name for p in tmp_path.rglob("*")}
        result = CliRunner().invoke(app, ["evaluate", *args, "-c", config])
        assert result.exit_code == 1, result.output
        assert {p.name for p in tmp_path.rglob("*")} == before
        (line,) = result.stderr.strip().splitlines()
        return line

    assert refusal() == (
        f"evaluation error: no scored as-of yet (warehouse {warehouse} does not exist): run "
        "`churnml score` first"
    )
    where = f"duckdb:{warehouse}#scored_accounts_history"
    duckdb.connect(str(warehouse)).close()
    assert refusal() == f"evaluation error: no scored as-of in {where}: run `churnml score` first"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE scored_accounts_history AS SELECT DATE '2025-01-01' AS as_of")
    assert refusal("--as-of", "2025-02-01") == (
        f"evaluation error: as-of 2025-02-01 was never scored in {where} (latest scored: "
        "2025-01-01)"
    )


@pytest.mark.usefixtures("no_flows")
def test_a_missing_column_names_the_one_meant(tmp_path, tiny_frames):
    def refusal(frames, columns=None) -> str:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        config = Path(write_csv_config(folder, frames))
        if columns:
            raw = yaml.safe_load(config.read_text())
            raw["sources"]["accounts"]["columns"] = columns
            config.write_text(yaml.safe_dump(raw))
        before = {p.name for p in folder.rglob("*")}
        return assert_one_line_refusal(
            CliRunner().invoke(app, ["train", "-c", str(config)]), folder, before
        )

    shouted = dict(tiny_frames, accounts=tiny_frames["accounts"].rename(columns=str.upper))
    assert refusal(shouted).endswith("e.g. account_id: ACCOUNT_ID)")
    assert refusal(tiny_frames, {"name": "nmae"}).endswith(
        "; did you mean 'name'? (names are case-sensitive)"
    )
    assert "did you mean" not in refusal(tiny_frames, {"name": "company_name"})
    keyless = dict(
        tiny_frames, subscriptions=tiny_frames["subscriptions"].drop(columns="subscription_id")
    )
    assert refusal(keyless).endswith(
        "e.g. subscription_id: your_column, or compose it: derive: {subscription_id: {concat: "
        "[<columns that tell rows apart>]}})"
    )


@pytest.mark.parametrize(("written", "hint"), [("1.0", True), ("0001", True), ("9", False)])
def test_keys_written_another_way_are_named(tmp_path, tiny_frames, written, hint):
    from test_validation import problems_of

    numbers = {"acc_a": "1", "acc_b": "2", "acc_c": "3"}
    for frame in tiny_frames.values():
        if "account_id" in frame.columns:
            frame["account_id"] = frame["account_id"].map(numbers)
    tiny_frames["support_tickets"].loc[0, "account_id"] = written
    (problem,) = [p for p in problems_of(tmp_path, tiny_frames) if p.severity == "error"]
    assert (problem.table, problem.failing_rows) == ("support_tickets", 1)
    assert problem.examples == [{"account_id": written}]
    said = f" (the same keys written another way: {written!r} here is '1' in accounts; "
    assert problem.check == "rows for unknown accounts" + (
        said + "export the key alike in every table, as text or whole numbers)"
        if hint
        else " (not in sources.accounts: export accounts and this table at the same time, or "
        "leave these rows out of the export)"
    )


@pytest.mark.usefixtures("no_flows")
def test_a_source_path_that_is_a_folder_is_named(tmp_path, tiny_frames):
    config = Path(write_csv_config(tmp_path, tiny_frames))
    (tmp_path / "exports").mkdir()
    _point(config, "usage_events", "exports")
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, ["check-data", "-c", str(config)]), tmp_path, before
    )
    assert line == (
        f"source error: table usage_events: {tmp_path / 'exports'} is a folder; point "
        "sources.usage_events.source.path at a file, or at the files in it with a glob such as "
        f"{tmp_path / 'exports' / '*.csv'}"
    )


@pytest.mark.usefixtures("no_flows")
def test_a_quote_never_closed_is_named_not_called_a_cut_off_export(tmp_path, tiny_frames):
    config = Path(write_csv_config(tmp_path, tiny_frames))
    accounts = tmp_path / "accounts.csv"
    lines = accounts.read_text().splitlines()
    lines[2] = lines[2].replace("Beta", '"Beta', 1)
    accounts.write_text("\n".join(lines) + "\n")
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, ["train", "-c", str(config)]), tmp_path, before
    )
    assert line.startswith(
        f"source error: table accounts: {accounts} has a quote that is never closed, in the row "
        "starting 'acc_b,Beta <b>Ltd</b>,2024-06-01"
    )
    assert "cut off" not in line


def test_a_champion_needing_a_table_no_longer_mapped_names_it():
    import pandas as pd

    from churnml.validation import MissingFeaturesError, refuse_missing_features

    features = pd.DataFrame({"account_id": ["a"], "usage_events_30d": [3.0]})
    refuse_missing_features({"churn": ["usage_events_30d"]}, features)
    wanted = ["usage_events_30d", "nps_last_score", "attr_region", "odd"]
    with pytest.raises(MissingFeaturesError) as caught:
        refuse_missing_features({"churn": ["usage_events_30d"], "upsell": wanted}, features)
    assert str(caught.value) == (
        "the upsell champion was trained on features the sources no longer give: "
        "nps_last_score, attr_region, odd (from sources.accounts, sources.nps_responses). Map "
        "the sources as they were at training, or retrain (`churnml train`). Nothing was scored "
        "or written."
    )


def test_a_csv_header_that_starts_like_another_kind_is_still_csv(tmp_path):
    from churnml.io.preflight import check_csv_file

    for text in (
        "PAR1_code,name\n1,a\n",
        "id,name,DUCKS\n1,a,2\n",
        "PK\tname\n1\ta\n",
        "[id],[name]\n1,a\n",  # bracketed names, as some database exports write them: not JSON
    ):
        path = tmp_path / "t.csv"
        path.write_text(text)
        assert check_csv_file(path, "accounts") == text.split("\n")[0].replace("\t", ",").split(",")


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["demo-data", "--acounts", "5"],
            "churnml demo-data: no such option --acounts (did you mean --accounts?); see "
            "churnml demo-data --help",
        ),
        (
            ["demo-data", "--accounts", "abc"],
            "churnml demo-data: invalid value for '--accounts': ",
        ),
        (["trian"], "churnml: no such command 'trian' (did you mean 'train'?); see churnml --help"),
        (
            ["report"],
            "churnml: no such command 'report' (`churnml score` writes the report, `churnml "
            "evaluate` the track-record page); see churnml --help",
        ),
        (["predict"], "churnml: no such command 'predict' (did you mean 'score'?); see churnml"),
        (["explain"], "churnml explain: missing argument 'account'; see churnml explain --help"),
        (["score", "--as-of"], "churnml score: option '--as-of' requires an argument; see "),
        (["models", "extra"], "churnml models: got unexpected extra argument(s) (extra); see "),
        (["--bogus"], "churnml: no such option --bogus; see churnml --help"),
    ],
)
def test_a_command_line_mistake_is_one_line_not_a_usage_box(tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    line = assert_one_line_refusal(CliRunner().invoke(app, args), tmp_path, set())
    assert line.startswith(expected), line


def test_help_is_still_the_help():
    assert "Usage: churnml demo-data [OPTIONS]" in " ".join(
        CliRunner().invoke(app, ["demo-data", "--help"], prog_name="churnml").stdout.split()
    )
    bare = CliRunner().invoke(app, [], prog_name="churnml")
    assert "Commands" in bare.output and "check-data" in bare.output


def _every_account_churned(frames) -> None:
    subs = frames["subscriptions"]
    subs["end_at"] = subs["start_at"] + pd.Timedelta(days=45)  # each leaves within a horizon
    frames["subscriptions"] = subs[subs.subscription_id.isin(["s1", "s2", "s4"])]


def _a_single_account(frames) -> None:
    for name, frame in frames.items():
        frames[name] = frame[frame["account_id"] == "acc_a"]


UNTRAINABLE = {
    "no churn and no upsell": (
        None,
        {},
        "churn: churn_label: all 17 labelled account-snapshots have the same outcome (0); cannot "
        "train; upsell: upsell_label: all 20 labelled account-snapshots have the same outcome (0)",
    ),
    "every account churned": (
        _every_account_churned,
        {},
        "churn: churn_label: all 4 labelled account-snapshots have the same outcome (1); cannot "
        "train; upsell: ",
    ),
    "a single account": (_a_single_account, {}, "churn: churn_label: all 8 labelled "),
    "too few snapshots for the horizons": (
        None,
        {"snapshots": {"count": 3}},
        "churn: churn_label: no labelled account-snapshot (every horizon is still open); upsell: "
        "upsell_label: no labelled account-snapshot",
    ),
    "upsell only, and no churn": (
        None,
        {"training": {"targets": ["upsell"]}},
        "upsell: upsell_label: all 20 labelled account-snapshots have the same outcome (0)",
    ),
}


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("case", list(UNTRAINABLE))
def test_data_no_target_can_learn_from_is_refused_before_the_flow(tmp_path, tiny_frames, case):
    import time

    edit_frames, edit_config, expected = UNTRAINABLE[case]
    if edit_frames:
        edit_frames(tiny_frames)
    config = Path(write_csv_config(tmp_path, tiny_frames))
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, **edit_config}))
    before = {p.name for p in tmp_path.rglob("*")}
    started = time.process_time()
    result = CliRunner().invoke(app, ["train", "-c", str(config)])
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("training error: no target could be trained; nothing was registered: ")
    assert expected in line, line
    assert {p.name for p in tmp_path.rglob("*")} == before, "something was written"
    assert time.process_time() - started < 5


@pytest.mark.usefixtures("no_flows")
def test_one_target_that_cannot_train_is_left_to_the_flow_to_skip(tmp_path):
    """Churn trains on this layout, upsell cannot: the flow starts (and skips upsell in one
    line); with too few snapshots neither can, and that is answered before it."""
    from foreign_layouts import write_layout

    config = write_layout("churn_only", tmp_path)
    result = CliRunner().invoke(app, ["train", "-c", str(config)])
    assert "a flow started" in str(result.exception)
    raw = yaml.safe_load(config.read_text())
    raw["snapshots"]["count"] = 6
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["train", "-c", str(config)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        "training error: no target could be trained; nothing was registered: churn: churn_label: "
        "2 labelled snapshots; need at least 4 (two to learn from, then the test). Use more "
        "history or more frequent snapshots.; upsell: upsell_label: all 622 labelled "
        "account-snapshots have the same outcome (0); cannot train"
    )


def test_untrainable_targets_mirror_the_checks_training_starts_with():
    from churnml.trainable import untrainable_targets

    as_of = pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01"] * 2)
    labels = pd.DataFrame(
        {
            "as_of": as_of,
            "churn_label": [0, 1, 0, 1, 1, 0, 1, 0],
            "upsell_label": [0] * 8,
        }
    )
    horizons = {"churn": 28, "upsell": 28}
    assert untrainable_targets(labels, ["churn"], horizons, 2) == {}
    skipped = untrainable_targets(labels, ["churn", "upsell"], {**horizons, "churn": 90}, 2)
    assert skipped == {
        "churn": "churn_label: only 0 labelled snapshots lie a horizon (90 days) before the test "
        "period starting 2025-03-01; need 2",
        "upsell": "upsell_label: all 8 labelled account-snapshots have the same outcome (0); "
        "cannot train",
    }
    one_sided = labels.assign(churn_label=[0, 0, 1, 1, 0, 0, 1, 0])  # fit snapshots: no churn
    assert untrainable_targets(one_sided, ["churn"], horizons, 2) == {
        "churn": "churn_label: the fit period has only one outcome; cannot train"
    }


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens there


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("command", ["models", "train", "score", "evaluate", "serve"])
def test_an_unreachable_tracking_server_is_said_in_seconds(
    tmp_path, tiny_frames, command, monkeypatch
):
    import time

    import duckdb

    monkeypatch.setattr("churnml.io.preflight.refuse_bad_data", lambda cfg, labels=False: None)
    monkeypatch.setattr("churnml.cli._require_a_scoring_run", lambda cfg, as_of: None)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"http://127.0.0.1:{_closed_port()}"
    config = Path(write_csv_config(tmp_path, tiny_frames))
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, "mlflow": {"tracking_uri": uri}}))
    duckdb.connect(str(tmp_path / "wh.duckdb")).close()
    before = {p.name for p in tmp_path.rglob("*")}
    started = time.monotonic()
    result = CliRunner().invoke(app, [command, "-c", str(config)])
    assert time.monotonic() - started < 10
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"tracking error: MLflow store {uri} is unreachable (127.0.0.1:"), line
    assert line.endswith(
        "connection refused); start the tracking server, or fix mlflow.tracking_uri. Nothing "
        "was run or written."
    )
    assert {p.name for p in tmp_path.rglob("*")} == before


@pytest.mark.parametrize(
    "form", ["user and password", "unencoded @", "not a port", "http with user"]
)
def test_the_quick_store_check_never_shows_a_password(tmp_path, monkeypatch, form):
    from churnml.config import default_config
    from churnml.io.mlflow_store import store_uri_mistake, unreachable_store
    from test_secrets import FORMS, leaked

    monkeypatch.setenv("MLFLOW_TRACKING_URI", FORMS[form][0])
    cfg = default_config(tmp_path)
    why = store_uri_mistake(cfg) if form == "not a port" else unreachable_store(cfg)
    expected = (
        "no number from 1 to 65535 ('notaport')"
        if form == "not a port"
        else ("127.0.0.1:1: connection refused")
    )
    assert expected in why and "fix MLFLOW_TRACKING_URI" in why
    assert not leaked(why), why


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("command", ["models", "train", "score", "evaluate", "serve"])
@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://localhost:notaport", "has a port that is no number from 1 to 65535 ('notaport'"),
        ("http://localhost:70000", "has a port that is no number from 1 to 65535 ('70000'"),
        ("nosuch://host", "has a scheme MLflow cannot use (nosuch://); fix mlflow.tracking_uri: "),
    ],
)
def test_a_tracking_uri_that_is_wrong_in_itself_is_a_config_mistake(
    tmp_path, tiny_frames, command, uri, expected
):
    """Exit 2 like every other setting to fix, said before the sources are read."""
    config = Path(write_csv_config(tmp_path, tiny_frames))
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, "mlflow": {"tracking_uri": uri}}))
    (tmp_path / "accounts.csv").unlink()  # a source mistake too: the store's is said first
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, [command, "-c", str(config)]), tmp_path, before
    )
    assert line.startswith(f"tracking error: MLflow store {uri} {expected}"), line
    assert line.endswith("Nothing was run or written."), line


READ_ONLY_OUTPUTS = {
    "MLflow store": (
        "train",
        {"mlflow": {"tracking_uri": "sqlite:///locked/mlflow.db"}},
        "mlflow.tracking_uri: {locked}/mlflow.db cannot be created, folder {locked} is not "
        "writable",
    ),
    "MLflow artifacts": (
        "evaluate",
        {"mlflow": {"artifact_root": "locked/artifacts"}},
        "mlflow.artifact_root: {locked}/artifacts cannot be created, folder {locked} is not",
    ),
    "report folder": (
        "score",
        {"output": {"report_dir": "locked/reports"}},
        "output.report_dir: {locked}/reports cannot be created, folder {locked} is not writable",
    ),
    "CSV sink folder": (
        "serve",
        {"output": {"sinks": [{"kind": "csv", "path": "locked"}]}},
        "output.sinks[0].path: {locked} cannot be written, folder {locked} is read-only; make "
        "it writable, or point it into a folder you can write to",
    ),
    "existing warehouse": (
        "demo-data",
        {"warehouse": {"path": "locked/wh.duckdb"}},
        "warehouse.path: {locked}/wh.duckdb cannot be written, file {locked}/wh.duckdb is "
        "read-only",
    ),
}


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("case", list(READ_ONLY_OUTPUTS))
def test_a_place_the_command_writes_to_that_is_read_only_is_said_first(
    tmp_path, tiny_frames, monkeypatch, case
):
    """Root writes through a folder's permissions: a read-only mount stands for both here."""
    import duckdb

    command, changes, expected = READ_ONLY_OUTPUTS[case]
    locked = tmp_path / "locked"
    locked.mkdir()
    duckdb.connect(str(locked / "wh.duckdb")).close()
    config = Path(write_csv_config(tmp_path, tiny_frames))
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, **changes}))
    monkeypatch.setattr(
        "churnml.io.preflight._read_only_mount", lambda p: locked in (Path(p), *Path(p).parents)
    )
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, [command, "-c", str(config)]), tmp_path, before
    )
    assert line.startswith("output error: " + expected.format(locked=locked)), line
    if case == "existing warehouse":  # reading it is fine
        result = CliRunner().invoke(app, ["check-data", "-c", str(config)])
        assert result.exit_code == 0, result.output


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes through chmod 555"
)
@pytest.mark.usefixtures("no_flows")
def test_a_folder_without_write_permission_is_said_first(tmp_path, tiny_frames):
    config = Path(write_csv_config(tmp_path, tiny_frames))
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, "output": {"report_dir": "locked/reports"}}))
    (tmp_path / "locked").mkdir(mode=0o555)
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, ["score", "-c", str(config)]), tmp_path, before
    )
    assert line.startswith("output error: output.report_dir: "), line


# A corpus of mistakes on the tiny CSV layout and on a foreign export (churn_only), each run
# through the command a user would run: (command, edit of the folder, expected exit code, words
# the one line must hold). An edit gets (folder, frames, raw config) and changes them in place;
# it may return the command-line arguments instead of the default `<command> -c churnml.yaml`.
def _frame_edit(table: str, edit):
    def apply(folder: Path, frames: dict, raw: dict) -> None:
        edit(frames[table])
        frames[table].to_csv(folder / f"{table}.csv", index=False)

    return apply


def _text(table: str, column: str, row: int, value: str):
    def edit(frame) -> None:
        frame[column] = frame[column].astype("object")
        frame.loc[row, column] = value

    return _frame_edit(table, edit)


def _source(table: str, **changes):
    return lambda folder, frames, raw: raw["sources"][table]["source"].update(changes)


def _file_bytes(table: str, change):
    def apply(folder: Path, frames: dict, raw: dict) -> None:
        path = folder / f"{table}.csv"
        path.write_bytes(change(path.read_bytes()))

    return apply


def _both(*edits):
    def apply(folder: Path, frames: dict, raw: dict) -> None:
        for edit in edits:
            edit(folder, frames, raw)

    return apply


def _utf16(data: bytes) -> bytes:
    return data.decode("utf-8").encode("utf-16")


def _trailing_empty_columns(data: bytes) -> bytes:
    return b"\n".join(line + b",," for line in data.rstrip(b"\n").split(b"\n")) + b"\n"


def _config_text(change):
    def apply(folder: Path, frames: dict, raw: dict) -> None:
        (folder / "churnml.yaml").write_text(change(yaml.safe_dump(raw)))
        raw.clear()  # written as is

    return apply


def _every_row(data: bytes, change) -> bytes:
    header, *rows = data.rstrip(b"\n").split(b"\n")
    return b"\n".join([header, *(change(row) for row in rows)]) + b"\n"


def _link_to_itself(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.name)


CORPUS = {
    "YAML indented with a tab": (
        "check-data",
        _config_text(lambda text: text.replace("  accounts:", "\taccounts:")),
        2,
        ["not valid YAML at line 2, column 1", "'\\t'"],
    ),
    "key typo one level down": (
        "train",
        lambda folder, frames, raw: raw["sources"]["accounts"].update(colums={"name": "name"}),
        2,
        ["sources.accounts.colums: Extra inputs are not permitted (did you mean 'columns'?)"],
    ),
    "a list written as text": (
        "score",
        lambda folder, frames, raw: raw.update(features={"windows_days": "7,30"}),
        2,
        ["features.windows_days: Input should be a valid list"],
    ),
    "a data file given as the config": (
        "train",
        lambda folder, frames, raw: ["train", "-c", str(folder / "accounts.csv")],
        2,
        ["accounts.csv must hold a mapping at the top level"],
    ),
    "duplicate account ids": (
        "train",
        _text("accounts", "account_id", 2, "acc_a"),
        1,
        ["3 data problem(s) found"],  # and acc_c's rows, now unknown
    ),
    "subscription ending before it starts": (
        "train",
        _text("subscriptions", "end_at", 0, "2023-06-01"),
        1,
        ["subscriptions.end_at: subscription ends before it starts (1 rows)", "'s1'"],
    ),
    "MRR with a decimal comma": (
        "score",
        _text("subscriptions", "mrr", 1, "1.000,50"),
        1,
        ["subscriptions.mrr: not a valid float64 (a thousands separator or a decimal comma"],
    ),
    "an event dated years ahead": (
        "train",
        _text("usage_events", "occurred_at", 0, "2031-05-01"),
        1,
        ["usage_events.occurred_at: timestamp in the future (1 rows)", "2031-05-01"],
    ),
    "events of an account not in accounts": (
        "score",
        _text("usage_events", "account_id", 0, "acc_zz"),
        1,
        ["usage_events.account_id: rows for unknown accounts (not in sources.accounts: export"],
    ),
    "semicolons and decimal commas": (
        "check-data",
        lambda folder, frames, raw: frames["subscriptions"].to_csv(
            folder / "subscriptions.csv", index=False, sep=";", decimal=","
        ),
        1,
        ["1 data problem: subscriptions.mrr: not a valid float64 (a thousands separator or a"],
    ),
    "a UTF-16 export": (
        "train",
        _file_bytes("accounts", _utf16),
        2,
        ["accounts.csv is UTF-16 text", "set sources.accounts.source.encoding: utf-16"],
    ),
    "UTF-16 declared as Latin-1": (
        "check-data",
        _both(
            _file_bytes("support_tickets", _utf16), _source("support_tickets", encoding="latin-1")
        ),
        2,
        ["table support_tickets: ", "is UTF-16 text", "not UTF-8; export it as CSV UTF-8"],
    ),
    "empty columns a spreadsheet exported": (
        "score",
        _file_bytes("accounts", _trailing_empty_columns),
        2,
        ["has 2 column(s) without a name in its header (column 10, 11 of 11;", "delete those"],
    ),
    "a key column empty on every row": (
        "train",
        _text("usage_events", "account_id", slice(None), None),
        1,
        ["usage_events.account_id: account_id is empty on every row: map account_id to the"],
    ),
    "an accounts key empty on every row": (
        "check-data",
        _text("accounts", "account_id", slice(None), None),
        1,
        ["1 data problem: accounts.account_id: account_id is empty on every row"],
    ),
    "time zones mixed in one column": (
        "train",
        _text("usage_events", "occurred_at", 0, "2024-12-20T09:00:00+09:00"),
        1,
        ["usage_events.occurred_at: mixed time zones", "validation.mixed_timezones: utc"],
    ),
    "a ticket id used twice": (
        "score",
        _text("support_tickets", "ticket_id", 1, "t1"),
        1,
        ["support_tickets.ticket_id: duplicate key (1 rows)", "'copies': 2"],
    ),
    "two dates mapped to one column": (
        "check-data",
        lambda folder, frames, raw: raw["sources"]["subscriptions"].update(
            columns={"start_at": "start_at", "end_at": "start_at"}
        ),
        2,
        ["start_at and end_at are both read from source column 'start_at'", "fix sources."],
    ),
    "a spreadsheet day number as a date": (
        "train",
        _text("subscriptions", "start_at", 0, "45292"),
        1,
        ["subscriptions.start_at: unparseable date (a spreadsheet's day number"],
    ),
    "a header name with a space": (
        "train",
        _file_bytes("accounts", lambda data: data.replace(b"account_id,", b" account_id,", 1)),
        2,
        ["table accounts, column account_id: required column not found", ": ' account_id')"],
    ),
    "a database sink without its URL": (
        "score",
        lambda folder, frames, raw: raw.update(output={"sinks": [{"kind": "postgres"}]}),
        2,
        ["output.sinks[0]: environment variable CHURNML_POSTGRES_URL holding the database URL"],
    ),
    "a SQL source without its URL": (
        "serve",
        lambda folder, frames, raw: raw["sources"].update(
            nps_responses={"source": {"kind": "sql", "query": "SELECT 1", "url_env": "NO_URL"}}
        ),
        2,
        ["table nps_responses: sources.nps_responses.source: environment variable NO_URL"],
    ),
    "a section written twice": (
        "train",
        _config_text(lambda text: text + "labels: {churn_horizon_days: 60}\nlabels: {}\n"),
        2,
        ["key 'labels' is written twice in one section (lines ", "merge them into one"],
    ),
    "a JSON export named .csv": (
        "check-data",
        _both(
            lambda folder, frames, raw: (folder / "accounts-export.csv").write_text(
                frames["accounts"].to_json(orient="records", date_format="iso")
            ),
            _source("accounts", path="accounts-export.csv"),
        ),
        2,
        ["accounts-export.csv is JSON, not a CSV file; name it .jsonl"],
    ),
    "an empty config file": (
        "train",
        _config_text(lambda text: "# settings to come\n"),
        2,
        ["churnml.yaml is empty (no setting in it); start from a copy of src/churnml/defaults/"],
    ),
    "keys in another letter case": (
        "check-data",
        _frame_edit("usage_events", lambda f: f.update({"account_id": f.account_id.str.upper()})),
        1,
        ["rows for unknown accounts (the same keys in another letter case: 'ACC_", "match exactly"],
    ),
    "every row a field longer than the header": (
        "train",
        _file_bytes("subscriptions", lambda data: _every_row(data, lambda row: row + b",x")),
        2,
        [
            "subscriptions.csv have 9 field(s) where the header has 8 (first row: 's1,acc_a,",
            "a column has no name in the header, or each row ends with an extra delimiter",
        ],
    ),
    "a header naming a column the rows lack": (
        "score",
        _file_bytes("accounts", lambda data: data.replace(b"\n", b",notes\n", 1)),
        2,
        ["accounts.csv have 9 field(s) where the header has 10", "the header names columns the"],
    ),
    "a source file that is a symbolic link to itself": (
        "check-data",
        lambda folder, frames, raw: _link_to_itself(folder / "usage_events.csv"),
        2,
        ["usage_events.csv is a symbolic link that leads to no file (a link loop, or its target"],
    ),
    "a Parquet file of 0 bytes": (
        "train",
        _both(
            lambda folder, frames, raw: (folder / "tickets.parquet").write_bytes(b""),
            _source("support_tickets", path="tickets.parquet"),
        ),
        2,
        ["tickets.parquet is an empty file (0 bytes), not Parquet: the export or copy did not"],
    ),
    "a list column in Parquet": (
        "check-data",
        _both(
            lambda folder, frames, raw: (
                frames["subscriptions"]
                .assign(plan=[["growth", "business"]] * 5)
                .to_parquet(folder / "subscriptions.parquet", index=False)
            ),
            _source("subscriptions", path="subscriptions.parquet"),
        ),
        1,
        [
            "subscriptions.plan: wrong type: array<string> values (a list or a record) cannot be re",
            "\"['growth', 'business']\"",
        ],
    ),
    "snapshots ending years after the data": (
        "train",
        lambda folder, frames, raw: raw.update(snapshots={"end": "2031-01-01"}),
        1,
        [
            "training error: snapshots.end 2031-01-01 is 2123 days after the data ends (2025-03-10)",
            "set snapshots.end to 2025-03-10 or earlier, or leave it out",
        ],
    ),
    "a report folder that is a file": (
        "score",
        lambda folder, frames, raw: raw.update(output={"report_dir": "accounts.csv"}),
        2,
        [
            "output error: output.report_dir: ",
            "accounts.csv is a file, not a folder; point output.",
        ],
    ),
    "a CSV sink folder that is a file": (
        "serve",
        lambda folder, frames, raw: raw.update(
            output={"sinks": [{"kind": "csv", "path": "churnml.yaml"}]}
        ),
        2,
        ["output error: output.sinks[0].path: ", "churnml.yaml is a file, not a folder; point"],
    ),
    "a source path naming an unset environment variable": (
        "train",
        _source("accounts", path="$CHURNML_NO_SUCH_FOLDER/accounts.csv"),
        2,
        [
            "sources.accounts.source.path names environment variable CHURNML_NO_SUCH_FOLDER, "
            "which is not set; set it (export CHURNML_NO_SUCH_FOLDER=...) or write the path out"
        ],
    ),
    "a warehouse path naming an unset environment variable": (
        "train",
        lambda folder, frames, raw: raw["warehouse"].update(path="${CHURNML_NO_WH}/wh.duckdb"),
        2,
        ["config file ", "churnml.yaml: warehouse.path names environment variable CHURNML_NO_WH"],
    ),
    "MRR with a currency sign": (
        "train",
        _text("subscriptions", "mrr", 1, "$1,200.00"),
        1,
        [
            "subscriptions.mrr: not a valid float64 (money written with a currency sign or code",
            "'$1,200.00'",
        ],
    ),
    "an event in the year 9999": (
        "score",
        _text("usage_events", "occurred_at", 0, "9999-12-31 00:00:00"),
        1,
        ["usage_events.occurred_at: timestamp in the future (1 rows)", "9999-12-31"],
    ),
    "a file holding only a byte-order mark": (
        "check-data",
        _file_bytes("accounts", lambda data: b"\xef\xbb\xbf"),
        2,
        ["table accounts: file ", "accounts.csv is empty (no header line)"],
    ),
    "no timestamp of a column parses": (
        "check-data",
        _text("usage_events", "occurred_at", slice(None), "yesterday"),
        1,
        ["usage_events.occurred_at: unparseable date (export dates as YYYY-MM-DD", "(8 rows)"],
    ),
    "a subscription id used twice": (
        "train",
        _text("subscriptions", "subscription_id", 2, "s1"),
        1,
        ["subscriptions.subscription_id: duplicate key (1 rows)", "'copies': 2"],
    ),
    "a NUL byte inside a field": (
        "train",
        _file_bytes("accounts", lambda data: data.replace(b"Alpha", b"Al\x00pha", 1)),
        2,
        [
            "source error: table accounts, column name: file ",
            "accounts.csv holds 1 NUL byte(s) (0x00), which are no text",
            "e.g. line 2: 'acc_a,Al\\x00pha & Co,2024-01-01,",
            "Export the file again, or remove them",
        ],
    ),
    "NUL bytes in a Latin-1 file": (
        "check-data",
        _both(
            _file_bytes("support_tickets", lambda data: data.replace(b"defect", b"\x00\x00")),
            _source("support_tickets", encoding="latin-1"),
        ),
        2,
        ["table support_tickets, column category: ", "holds 2 NUL byte(s) (0x00)", "line 2: "],
    ),
    "a single snapshot": (
        "train",
        lambda folder, frames, raw: raw.update(snapshots={"count": 1}),
        2,
        [
            "snapshots.count: 1 snapshot(s) cannot train a model: training learns from labelled "
            "snapshots and backtests on later ones, a churn horizon apart, so it needs at least two",
            "set snapshots.count to 12 (the default, monthly) or more",
        ],
    ),
    "a record-typed account key": (
        "train",
        _both(
            lambda folder, frames, raw: (
                frames["accounts"]
                .assign(account_id=[{"id": a, "crm": "x"} for a in frames["accounts"].account_id])
                .to_parquet(folder / "accounts.parquet", index=False)
            ),
            _source("accounts", path="accounts.parquet"),
        ),
        1,
        [
            "data problem: accounts.account_id: wrong type: struct<id: string, crm: string> values",
            "(the other tables' account checks are skipped until it is fixed)",
        ],
    ),
    "two exports joined with their headers": (
        "score",
        _file_bytes(
            "usage_events", lambda data: data + data.replace(b"\n", b"\r\n").replace(b"acc_", b"x")
        ),
        2,
        [
            "source error: table usage_events: file ",
            "usage_events.csv repeats its header line at line 10: exports joined with their "
            "headers?",
            "(sources.usage_events.source.path: e.g. usage_events-*.csv)",
        ],
    ),
    "Unix time in milliseconds": (
        "train",
        _text("usage_events", "occurred_at", slice(None), "1734685200000"),
        1,
        [
            "usage_events.occurred_at: unparseable date (Unix time? derive it: occurred_at: {from: "
            "<your column>, unit: epoch_milliseconds})"
        ],
    ),
    "one file given for two tables": (
        "train",
        _source("subscriptions", path="accounts.csv"),
        2,
        [
            "table subscriptions, column subscription_id: required column not found",
            "; note: accounts.csv is also the file of sources.accounts: is "
            "sources.subscriptions.source.path a copy of that line?",
        ],
    ),
    "a seat count with a fraction": (
        "score",
        _text("subscriptions", "seats", 0, "10.5"),
        1,
        [
            "subscriptions.seats: not a whole number (it would be rounded): export whole numbers",
            "'seats': '10.5'",
        ],
    ),
    "an NPS score with a fraction in Parquet": (
        "check-data",
        _both(
            lambda folder, frames, raw: (
                frames["nps_responses"]
                .assign(score=[8.0, 4.5, 9.0])
                .to_parquet(folder / "nps.parquet", index=False)
            ),
            _source("nps_responses", path="nps.parquet"),
        ),
        1,
        ["1 data problem: nps_responses.score: not a whole number (it would be rounded)"],
    ),
    "an as-of on a day the month lacks": (
        "score",
        lambda folder, frames, raw: ["score", "--as-of", "2025-02-30", "-c", "churnml.yaml"],
        2,
        ["--as-of must be a date YYYY-MM-DD, got '2025-02-30' (day is out of range for month)"],
    ),
    "a section written as a value": (
        "train",
        lambda folder, frames, raw: raw.update(labels=90),
        2,
        ["labels: should be a section of `key: value` lines, not a list or a single value"],
    ),
    "month-first dates under a day-first date_format": (
        "check-data",
        _both(
            _text("subscriptions", "start_at", 4, "02/20/2025"),
            _source("subscriptions", date_format="%d/%m/%Y"),
        ),
        1,
        [
            "subscriptions.start_at: unparseable date in the declared sources.subscriptions."
            "source.date_format '%d/%m/%Y' (day and month the other way round? then the dates "
            "that fit both orders were read wrong too: declare date_format: '%m/%d/%Y'",
        ],
    ),
    "MRR exported in cents": (
        "train",
        _text("subscriptions", "mrr", 1, "1250000000"),
        1,
        [
            "subscriptions.mrr: absurd MRR (> 10,000,000; money in cents? derive it: mrr: {from: "
            "<your column>, scale: 0.01}; truly this large? raise validation.absurd_mrr)",
        ],
    ),
    "explain with a date written another way": (
        "explain",
        lambda folder, frames, raw: ["explain", "acc_a", "--as-of", "03/01/2025"],
        2,
        ["--as-of must be a date YYYY-MM-DD, got '03/01/2025'"],
    ),
}


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("case", list(CORPUS))
def test_each_mistake_of_the_corpus_is_one_line_and_writes_nothing(
    tmp_path, tiny_frames, monkeypatch, case
):
    command, edit, code, words = CORPUS[case]
    monkeypatch.delenv("CHURNML_POSTGRES_URL", raising=False)
    monkeypatch.delenv("NO_URL", raising=False)
    config = Path(write_csv_config(tmp_path, tiny_frames))
    raw = yaml.safe_load(config.read_text())
    args = edit(tmp_path, tiny_frames, raw)
    if raw:
        config.write_text(yaml.safe_dump(raw))
    args = [*(args or [command, "-c", str(config)])]
    if args[0] == "explain":
        args += ["-c", str(config)]
    before = {p.name for p in tmp_path.rglob("*")}
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert {p.name for p in tmp_path.rglob("*")} == before, "something was written"
    if command == "check-data" and code == 1:  # the profile, then the report on stdout
        line = result.stdout.strip().splitlines()[-1]
    else:
        lines = result.stderr.strip().splitlines()
        multi = words[0].startswith("3 data problem(s)")
        assert len(lines) == (4 if multi else 1), result.stderr
        line = lines[0]
    for word in words:
        assert word in line, line


FOREIGN = {
    "the period end mapped to the start column": (
        lambda folder, raw: raw["sources"]["subscriptions"]["columns"].update(end_at="from_date"),
        2,
        "source error: table subscriptions: start_at and end_at are both read from source "
        "column 'from_date'; each needs its own column: fix sources.subscriptions.columns",
    ),
    "a negative licence amount": (
        lambda folder, raw: _edit_csv(folder / "licences.csv", "amount", 3, -50),
        1,
        "data problem: subscriptions.mrr: negative MRR (1 rows) e.g. {'subscription_id': ",
    ),
    "a closing date years ahead": (
        lambda folder, raw: _edit_csv(folder / "companies.csv", "closed_on", 0, "2031-01-01"),
        1,
        "data problem: accounts.churned_at: timestamp in the future (1 rows)",
    ),
}


def _edit_csv(path: Path, column: str, row: int, value) -> None:
    frame = pd.read_csv(path, dtype=str)
    frame.loc[row, column] = str(value)
    frame.to_csv(path, index=False)


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("case", list(FOREIGN))
def test_a_mistake_in_a_foreign_export_is_one_line_before_training(tmp_path, case):
    """The same answers on an export with its own names (tests/foreign_layouts.py)."""
    from foreign_layouts import write_layout

    edit, code, expected = FOREIGN[case]
    config = write_layout("churn_only", tmp_path)
    raw = yaml.safe_load(config.read_text())
    edit(tmp_path, raw)
    config.write_text(yaml.safe_dump(raw))
    before = {p.name for p in tmp_path.rglob("*")}
    result = CliRunner().invoke(app, ["train", "-c", str(config)])
    assert result.exit_code == code, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(expected), line
    assert {p.name for p in tmp_path.rglob("*")} == before, "something was written"


def test_text_fields_may_share_a_source_column(tmp_path, tiny_frames):
    """Plan and segment from one tier column is a choice, not a slip: only dates and numbers
    read twice are refused."""
    config = Path(write_csv_config(tmp_path, tiny_frames))
    raw = yaml.safe_load(config.read_text())
    raw["sources"]["accounts"]["columns"] = {"plan": "segment", "segment": "segment"}
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["check-data", "-c", str(config)])
    assert result.exit_code == 0, result.output


def test_no_failure_line_starts_with_a_class_name():
    """Every failure the CLI shows in one line opens with words, never a Python class name."""
    import re

    from flows.deployments import ScheduleError

    from churnml.flow_logs import failure_line, known_failures
    from churnml.io.registry import NoChampion
    from churnml.validation import AsOfAfterDataError, DataProblem, DataValidationError

    problem = DataProblem("subscriptions", "mrr", "negative MRR", 1)
    failures = [
        cls("what went wrong") for cls in known_failures() if cls is not DataValidationError
    ]
    failures += [NoChampion("none"), AsOfAfterDataError("late"), ScheduleError("no server")]
    failures += [DataValidationError([problem]), DataValidationError([problem, problem])]
    for exc in failures:
        line = failure_line(exc)
        assert not re.match(r"[A-Z][a-z]+[A-Z]\w*:", line), line
        assert type(exc).__name__ not in line.split("\n")[0], line
    assert failure_line(NoChampion("none")) == "no champion: none"
    assert failure_line(DataValidationError([problem, problem])).startswith("2 data problem(s)")
    source = (Path(__file__).parents[1] / "src" / "churnml" / "cli.py").read_text()
    assert "__name__}:" not in source


def test_the_training_summary_is_printed_once(tmp_path, tiny_frames, monkeypatch):
    """The flow logs its summary (Prefect's UI, a served run) and `churnml train` prints it on
    stdout: the terminal shows it once."""
    import io
    import logging

    import flows.training
    from prefect.logging.handlers import PrefectConsoleHandler

    from churnml.flow_logs import PRINTED_BY_THE_CLI

    summary = "# churnml training run\n\n## churn (model version 1)"

    def training_flow(**kwargs):
        logging.getLogger("prefect.flow_runs").info(summary, extra=PRINTED_BY_THE_CLI)
        logging.getLogger("prefect.flow_runs").info("Finished in state Completed()")
        return {"markdown": summary}

    console = PrefectConsoleHandler(stream=io.StringIO())
    logging.getLogger().addHandler(console)
    monkeypatch.setattr(flows.training, "training_flow", training_flow)
    monkeypatch.setattr("churnml.io.preflight.refuse_bad_data", lambda cfg, labels=False: None)
    try:
        result = CliRunner().invoke(app, ["train", "-c", write_csv_config(tmp_path, tiny_frames)])
    finally:
        logging.getLogger().removeHandler(console)
    assert result.exit_code == 0, result.output
    shown = console.stream.getvalue() + result.output
    assert shown.count("# churnml training run") == 1, shown
    assert "Finished in state Completed()" in console.stream.getvalue()  # other logs stay
    assert result.stdout.strip() == summary
    source = (Path(__file__).parents[1] / "flows" / "training.py").read_text()
    assert 'info(summary["markdown"], extra=PRINTED_BY_THE_CLI)' in source


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize(
    ("command", "home"),
    [("train", "file/prefect"), ("score", "file"), ("evaluate", "locked"), ("serve", "unset")],
)
def test_a_prefect_home_that_cannot_be_written_is_said_first(
    tmp_path, tiny_frames, monkeypatch, command, home
):
    """Prefect only warns about a home folder it cannot create, then its temporary server fails
    a minute later with a traceback."""
    config = write_csv_config(tmp_path, tiny_frames)
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "locked").mkdir()
    monkeypatch.setattr(
        "churnml.io.preflight._read_only_mount", lambda p: Path(p) == tmp_path / "locked"
    )
    if home == "unset":
        monkeypatch.delenv("PREFECT_HOME", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "file"))
    else:
        monkeypatch.setenv("PREFECT_HOME", str(tmp_path / home))
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, [command, "-c", config]), tmp_path, before
    )
    fix = "; set PREFECT_HOME to a folder you can write to (e.g. export PREFECT_HOME=/tmp/prefect)"
    expected = {
        "file/prefect": f"PREFECT_HOME: {tmp_path}/file/prefect cannot be created, {tmp_path}/file "
        "is a file",
        "file": f"PREFECT_HOME: {tmp_path}/file is a file, not a folder",
        "locked": f"PREFECT_HOME: {tmp_path}/locked cannot be written, folder {tmp_path}/locked "
        "is read-only; make it writable, or set PREFECT_HOME",
        "unset": f"Prefect's home folder (PREFECT_HOME unset): {tmp_path}/file/.prefect cannot "
        f"be created, {tmp_path}/file is a file",
    }[home]
    assert line.startswith("output error: " + expected), line
    assert line.endswith(fix.split("; ")[-1]), line


@pytest.fixture
def silent_server():
    """A port that accepts connections and never answers a byte."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


@pytest.mark.usefixtures("no_flows")
def test_a_tracking_server_that_accepts_but_never_answers_is_said_in_seconds(
    tmp_path, tiny_frames, monkeypatch, silent_server
):
    import time

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"http://127.0.0.1:{silent_server}"
    config = Path(write_csv_config(tmp_path, tiny_frames))
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, "mlflow": {"tracking_uri": uri}}))
    before = {p.name for p in tmp_path.rglob("*")}
    started = time.monotonic()
    result = CliRunner().invoke(app, ["models", "-c", str(config)])
    assert time.monotonic() - started < 10
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        f"tracking error: MLflow store {uri} is unreachable (127.0.0.1:{silent_server}: accepts "
        "connections but sends no HTTP answer within 5 s); start the tracking server, or fix "
        "mlflow.tracking_uri. Nothing was run or written."
    )
    assert {p.name for p in tmp_path.rglob("*")} == before


def test_any_http_answer_counts_as_a_reachable_store(tmp_path, monkeypatch):
    """An error status (no /health here, a login wall) is an answer: MLflow says the rest."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from churnml.config import default_config
    from churnml.io.mlflow_store import unreachable_store

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server calls)
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{server.server_port}/mlflow")
        assert unreachable_store(default_config(tmp_path)) is None
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("uri", "refused"),
    [
        ("foo://bar", True),
        ("mlflow://localhost:5000", True),
        ("sqlite:///mlruns/mlflow.db", False),
        ("file:///tmp/mlruns", False),
        ("/tmp/mlruns", False),
        ("C:\\mlruns", False),
        ("postgresql+psycopg2://u@127.0.0.1:1/db", False),  # refused for the closed port only
    ],
)
def test_a_store_scheme_mlflow_cannot_use_is_named(tmp_path, monkeypatch, uri, refused):
    from churnml.config import default_config
    from churnml.io.mlflow_store import store_uri_mistake, unreachable_store

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    cfg = default_config(tmp_path)
    why = store_uri_mistake(cfg) or unreachable_store(cfg)
    scheme = uri.split("://")[0]
    if refused:
        assert why == (
            f"MLflow store {uri} has a scheme MLflow cannot use ({scheme}://); fix "
            "MLFLOW_TRACKING_URI: sqlite:///path/to/mlflow.db, http://host:port of a tracking "
            "server, or a database URL (postgresql://, mysql://). Nothing was run or written."
        )
    else:
        assert why is None or "is unreachable (127.0.0.1:1: connection refused)" in why


@pytest.mark.parametrize(
    ("uri", "missing"),
    [
        ("http://", "names no host (expected http://host:port of a tracking server)"),
        ("https:///mlflow", "names no host (expected http://host:port of a tracking server)"),
        ("sqlite://", "names no database file (an in-memory store forgets every model when"),
        ("sqlite:///", "names no database file (an in-memory store forgets every model when"),
        ("sqlite:///{folder}", "is a folder, not a database file (expected sqlite:///{folder}/"),
        ("sqlite:///{folder}/notes.db", "is not an SQLite database (another kind of file"),
    ],
)
def test_a_store_uri_naming_no_server_or_file_is_refused(tmp_path, monkeypatch, uri, missing):
    """`http://` used to wait for MLflow's timeouts, a folder for its retries (minutes)."""
    from churnml.config import default_config
    from churnml.io.mlflow_store import store_uri_mistake, unreachable_store

    uri, missing = uri.format(folder=tmp_path), missing.format(folder=tmp_path)
    (tmp_path / "notes.db").write_text("not a database")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    why = store_uri_mistake(default_config(tmp_path))
    assert unreachable_store(default_config(tmp_path)) is None  # said once, as a mistake
    assert why.startswith(f"MLflow store {uri} {missing}"), why
    assert why.endswith("; fix MLFLOW_TRACKING_URI. Nothing was run or written.")


@pytest.mark.usefixtures("no_flows")
def test_evaluate_with_no_mature_scoring_run_stops_before_the_flow(tmp_path, tiny_frames):
    """The data ends 2025-03-10; outcomes need 120 days after an as-of."""
    import duckdb

    config = write_csv_config(tmp_path, tiny_frames)
    warehouse = tmp_path / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "CREATE TABLE scored_accounts_history AS SELECT * FROM (VALUES (DATE '2024-10-01'), "
            "(DATE '2025-01-01')) AS t(as_of)"
        )
    before = {p.name for p in tmp_path.rglob("*")}

    def evaluate(*args: str):
        return CliRunner().invoke(app, ["evaluate", *args, "-c", config])

    result = evaluate("--as-of", "2025-01-01")
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "evaluation error: as-of 2025-01-01 is not mature: its outcomes are known once the data "
        "reaches 2025-05-01; outcomes need 120 days of data after the as-of"
    ), line
    assert {p.name for p in tmp_path.rglob("*")} == before
    # the mature as-of (and, by default, the latest mature one) goes on to the flow
    for args in (("--as-of", "2024-10-01"), ()):
        result = evaluate(*args)
        assert "a flow started" in str(result.exception), result.output
    with duckdb.connect(str(warehouse)) as con:
        con.execute("DELETE FROM scored_accounts_history WHERE as_of < DATE '2025-01-01'")
    result = evaluate()
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "evaluation error: no scored as-of is mature yet (scored: 2025-01-01); outcomes need 120"
    ), line
    assert line.endswith("`churnml score --as-of 2024-11-10`, to evaluate it now")


def test_demo_data_refuses_a_warehouse_another_process_holds(tmp_path, tiny_frames):
    """Replacing the file under a running score would lose what that run writes."""
    import subprocess
    import sys

    import duckdb

    config = write_csv_config(tmp_path, tiny_frames)
    warehouse = tmp_path / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE scored_accounts_history AS SELECT 1 AS kept")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('holding', flush=True); time.sleep(60)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = CliRunner().invoke(app, ["demo-data", "--accounts", "5", "-c", config])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"output error: warehouse.path: {warehouse} is in use by another "), line
    assert f"(PID {holder.pid})); nothing was written. Wait for that run to finish" in line
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT kept FROM scored_accounts_history").fetchall() == [(1,)]


@pytest.mark.usefixtures("no_flows")
def test_evaluate_reads_the_sources_once_before_the_flow(tmp_path, tiny_frames, monkeypatch):
    """The maturity check and the data checks share one read of the sources."""
    import duckdb

    import churnml.io.sources

    reads = []
    load_sources = churnml.io.sources.load_sources

    def counted(con, cfg):
        reads.append(cfg)
        return load_sources(con, cfg)

    monkeypatch.setattr(churnml.io.sources, "load_sources", counted)
    config = write_csv_config(tmp_path, tiny_frames)
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("CREATE TABLE scored_accounts_history AS SELECT DATE '2024-10-01' AS as_of")
    result = CliRunner().invoke(app, ["evaluate", "-c", config])
    assert "a flow started" in str(result.exception), result.output
    assert len(reads) == 1
    # a data problem is still said, after the same one read
    reads.clear()
    tiny_frames["subscriptions"].loc[0, "mrr"] = -5.0
    config = write_csv_config(tmp_path, tiny_frames)
    result = CliRunner().invoke(app, ["evaluate", "-c", config])
    assert result.exit_code == 1 and len(reads) == 1, result.output
    assert result.stderr.startswith("data problem: subscriptions.mrr: negative MRR"), result.stderr


def test_demo_data_replaces_a_demo_warehouse_but_not_another_one_without_force(
    tmp_path, tiny_frames
):
    import duckdb

    config = write_csv_config(tmp_path, tiny_frames)
    warehouse = tmp_path / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE scored_accounts_history AS SELECT 1 AS kept")
    before = {p.name for p in tmp_path.rglob("*")}
    demo = ["demo-data", "--accounts", "5", "--months", "2", "-c", config]
    line = assert_one_line_refusal(CliRunner().invoke(app, demo), tmp_path, before)
    assert line == (
        f"output error: warehouse.path: {warehouse} is not a demo warehouse (it holds "
        "scored_accounts_history); `churnml demo-data` would replace the whole file. Point "
        "warehouse.path at another file, or pass --force to replace it; nothing was written"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT kept FROM scored_accounts_history").fetchall() == [(1,)]
    result = CliRunner().invoke(app, [*demo, "--force"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        f"replaced {warehouse}, with its tables scored_accounts_history (--force)"
    )
    result = CliRunner().invoke(app, demo)  # a demo warehouse is replaced as `make demo` does
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize(
    ("url", "code", "expected"),
    [
        ("http://127.0.0.1:{port}/api", 1, "is unreachable (127.0.0.1:{port}: connection refused)"),
        ("http://127.0.0.1:notaport/api", 2, "has a port that is no number from 1 to 65535"),
        ("127.0.0.1:4200", 2, "is no http://host:port/api address"),
    ],
)
def test_serve_says_in_one_line_that_its_prefect_server_cannot_be_reached(
    tmp_path, tiny_frames, monkeypatch, url, code, expected
):
    """Prefect answered with pages of traceback after its retries."""
    port = _closed_port()
    url, expected = url.format(port=port), expected.format(port=port)
    monkeypatch.setenv("PREFECT_API_URL", url)
    config = write_csv_config(tmp_path, tiny_frames)
    before = {p.name for p in tmp_path.rglob("*")}
    result = CliRunner().invoke(app, ["serve", "-c", config])
    assert result.exit_code == code, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"schedule error: Prefect server {url} {expected}"), line
    assert line.endswith(
        "fix PREFECT_API_URL (e.g. http://127.0.0.1:4200/api). Nothing was registered or run."
    )
    assert {p.name for p in tmp_path.rglob("*")} == before


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("not a url", "Could not parse SQLAlchemy URL from given URL string"),
        ("postgresql://etl@127.0.0.1:notaport/db", "its port is no number"),
    ],
)
def test_a_source_url_that_is_no_url_says_how_one_looks(
    tmp_path, tiny_frames, monkeypatch, url, why
):
    monkeypatch.setenv("CHURNML_BAD_URL", url)
    config = Path(write_csv_config(tmp_path, tiny_frames))
    raw = yaml.safe_load(config.read_text())
    raw["sources"]["nps_responses"] = {
        "source": {"kind": "sql", "query": "SELECT 1", "url_env": "CHURNML_BAD_URL"}
    }
    config.write_text(yaml.safe_dump(raw))
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, ["check-data", "-c", str(config)]), tmp_path, before
    )
    assert line == (
        "mapping error: table nps_responses: the database URL in $CHURNML_BAD_URL is not usable "
        f"({why}); set it to a SQLAlchemy URL such as postgresql://user:password@host:5432/db"
    )
