"""No SQL injection through config, credentials only from the environment or a Secret block."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
import yaml

from churnml.config import ConfigError, load_config
from churnml.io.sources import SourceError, connect_warehouse, load_sources, read_sql_frame

PAYLOAD = 'x"; DROP TABLE accounts; --'
SECRET = "hunter2-Pw-91bc"


def config_file(tmp_path, raw: dict):
    path = tmp_path / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def base_sources() -> dict:
    names = ("accounts", "subscriptions", "usage_events", "support_tickets")
    return {n: {"source": {"kind": "duckdb", "table": n}} for n in names}


@pytest.mark.parametrize(
    "where",
    [
        ("sources", "accounts", "source", "table"),
        ("output", "sinks", 0, "table"),
        ("features", "account_attributes_categorical", 0),
    ],
    ids=["source table", "sink table", "attribute column"],
)
def test_injection_in_identifiers_is_refused_at_config_load(tmp_path, where):
    raw = {
        "sources": base_sources(),
        "output": {"sinks": [{"kind": "duckdb"}]},
        "features": {"account_attributes_categorical": ["segment"]},
    }
    node = raw
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = PAYLOAD
    with pytest.raises(ConfigError, match="not a plain SQL identifier"):
        load_config(config_file(tmp_path, raw))


def test_injection_in_a_column_mapping_is_only_ever_a_quoted_name(tmp_path, tiny_frames):
    """A source column may be named anything; the name is quoted, never executed."""
    accounts = tiny_frames["accounts"].rename(columns={"name": PAYLOAD})
    tiny_frames["accounts"] = accounts
    srcs = {}
    for name, frame in tiny_frames.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        srcs[name] = {"source": {"kind": "file", "path": f"{name}.csv"}}
    srcs["accounts"]["columns"] = {"name": PAYLOAD}
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE TABLE accounts AS SELECT 1 AS canary")
    con.close()
    cfg = load_config(config_file(tmp_path, {"sources": srcs, "warehouse": {"path": "wh.duckdb"}}))
    warehouse = connect_warehouse(cfg)
    mapped = load_sources(warehouse, cfg)
    assert mapped["accounts"].table.to_pandas().name.tolist() == accounts[PAYLOAD].tolist()
    assert warehouse.con.execute("SELECT canary FROM accounts").fetchall() == [(1,)]

    # a mapping to a payload column that does not exist is a clear mapping error, nothing else
    srcs["accounts"]["columns"] = {"name": PAYLOAD + "2"}
    cfg = load_config(config_file(tmp_path, {"sources": srcs, "warehouse": {"path": "wh.duckdb"}}))
    with pytest.raises(SourceError, match="accounts, column name: mapped to source column"):
        load_sources(warehouse, cfg)
    assert warehouse.con.execute("SELECT canary FROM accounts").fetchall() == [(1,)]
    warehouse.disconnect()


def test_a_database_path_with_a_quote_is_attached_safely(tmp_path):
    folder = tmp_path / "o'brien"
    folder.mkdir()
    con = duckdb.connect(str(folder / "crm.duckdb"))
    con.execute(
        "CREATE TABLE accounts AS SELECT 'acc_a' AS account_id, 'Alpha' AS name, "
        "TIMESTAMP '2024-01-01' AS created_at"
    )
    con.close()
    srcs = base_sources()
    srcs["accounts"]["source"]["database"] = str(folder / "crm.duckdb")
    cfg = load_config(config_file(tmp_path, {"sources": srcs, "warehouse": {"path": "wh.duckdb"}}))
    from churnml.io.sources import map_table

    warehouse = connect_warehouse(cfg)
    table = map_table("accounts", cfg.sources["accounts"], warehouse, cfg, {})
    assert table.table.to_pandas().name.tolist() == ["Alpha"]
    warehouse.disconnect()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://churnml:{SECRET}@127.0.0.1:1/postgres",  # nothing listens there
        f"postgresql+psycopg://churnml:{SECRET}@127.0.0.1:notaport/postgres",  # malformed
        f"nosuchdialect://churnml:{SECRET}@host/db",
    ],
    ids=["unreachable", "malformed", "unknown dialect"],
)
def test_source_errors_never_show_the_password(monkeypatch, url):
    monkeypatch.setenv("CHURNML_TEST_URL", url)
    with pytest.raises(SourceError) as err:
        read_sql_frame("CHURNML_TEST_URL", "SELECT 1", "accounts")
    text = str(err.value) + repr(err.value.__cause__) + repr(err.value.__context__)
    assert "table accounts" in text and "$CHURNML_TEST_URL" in text
    assert SECRET not in text


def test_sink_errors_never_show_the_password(monkeypatch):
    from churnml.config import SinkConfig
    from churnml.io.sinks import SinkError, write_postgres

    monkeypatch.setenv("CHURNML_TEST_URL", f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/db")
    scored = pd.DataFrame({"account_id": ["acc_a"], "as_of": pd.Timestamp("2025-01-01")})
    with pytest.raises(SinkError) as err:
        write_postgres(scored, SinkConfig(kind="postgres", url_env="CHURNML_TEST_URL"))
    assert "nothing written" in str(err.value) and SECRET not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_a_sql_source_url_can_come_from_a_prefect_secret_block(
    prefect_backend, tmp_path, monkeypatch
):
    from prefect.blocks.system import Secret

    db = tmp_path / "crm.sqlite"
    import sqlite3

    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE accounts (account_id TEXT)")
        c.execute("INSERT INTO accounts VALUES ('acc_a'), ('acc_b')")
    monkeypatch.delenv("CHURNML_SOURCE_URL", raising=False)
    Secret(value=f"sqlite:///{db}").save("crm-url", overwrite=True)
    frame = read_sql_frame(None, "SELECT * FROM accounts", "accounts", url_secret="crm-url")
    assert frame.account_id.tolist() == ["acc_a", "acc_b"]
    with pytest.raises(SourceError, match="Secret block 'no-such-block'"):
        read_sql_frame(None, "SELECT 1", "accounts", url_secret="no-such-block")
    # a block holding a URL with a password, in every form, to a database that is down
    from test_secrets import DATABASE_FORMS, leaked

    for k, (form, (url, _)) in enumerate(DATABASE_FORMS.items()):
        Secret(value=url).save(f"down-url-{k}", overwrite=True)
        with pytest.raises(SourceError) as err:
            read_sql_frame(None, "SELECT 1", "accounts", url_secret=f"down-url-{k}")
        assert not leaked(str(err.value)), (form, str(err.value))
        assert f"secret down-url-{k}" in str(err.value)


def test_config_accepts_url_secret_for_sql_sources_and_postgres_sinks(tmp_path):
    srcs = base_sources()
    srcs["accounts"] = {
        "source": {"kind": "sql", "query": "SELECT * FROM accounts", "url_secret": "crm-url"}
    }
    raw = {
        "sources": srcs,
        "output": {"sinks": [{"kind": "postgres", "url_secret": "dwh-url"}]},
    }
    cfg = load_config(config_file(tmp_path, raw))
    assert cfg.sources["accounts"].source.url_secret == "crm-url"
    assert cfg.output.sinks[0].url_secret == "dwh-url"


def test_redact_masks_the_url_and_its_password():
    from churnml.io.sources import redact

    url = f"postgresql+psycopg://churnml:{SECRET}@db.internal:5432/crm"
    echoed = f"could not connect with {url}; password {SECRET} rejected"
    masked = redact(echoed, url)
    assert SECRET not in masked and "<database URL>" in masked and "***" in masked
    assert redact("no secret here", url) == "no secret here"
