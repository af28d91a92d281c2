"""Source reads that fail on I/O are retried as configured, then fail clearly; config, mapping
and data mistakes fail at once."""

from __future__ import annotations

import pytest
from prefect import flow

from churnml.io import sources


def csv_config(tmp_path, tiny_frames, retries: int):
    import yaml

    from churnml.config import load_config

    srcs = {}
    for name, frame in tiny_frames.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        srcs[name] = {"source": {"kind": "file", "path": f"{name}.csv"}}
    raw = {
        "sources": srcs,
        "warehouse": {"path": "wh.duckdb"},
        "retries": {"source_reads": retries, "delay_seconds": 0},
    }
    (tmp_path / "churnml.yaml").write_text(yaml.safe_dump(raw))
    return load_config(tmp_path / "churnml.yaml")


def flaky_reads(monkeypatch, failures: int) -> list[int]:
    """Source reads fail `failures` times (as a remote database would), then work."""
    calls: list[int] = []
    real = sources.load_sources

    def load(con, cfg):
        calls.append(1)
        if len(calls) <= failures:
            raise sources.SourceReadError("table accounts: connection reset by peer")
        return real(con, cfg)

    monkeypatch.setattr(sources, "load_sources", load)
    return calls


@flow
def reading(cfg):
    from flows.tasks import extract_with_retries

    con, mapped = extract_with_retries(cfg)
    con.disconnect()
    return sorted(mapped)


def test_a_source_that_fails_twice_is_read_on_the_third_attempt(
    prefect_backend, tmp_path, tiny_frames, monkeypatch
):
    calls = flaky_reads(monkeypatch, failures=2)
    assert "accounts" in reading(csv_config(tmp_path, tiny_frames, retries=2))
    assert len(calls) == 3


def test_a_source_that_keeps_failing_fails_clearly_after_the_configured_attempts(
    prefect_backend, tmp_path, tiny_frames, monkeypatch
):
    calls = flaky_reads(monkeypatch, failures=100)
    with pytest.raises(
        sources.SourceError,
        match=r"failed after 2 attempt\(s\).*table accounts: connection reset by peer",
    ):
        reading(csv_config(tmp_path, tiny_frames, retries=1))
    assert len(calls) == 2


def test_a_mapping_error_fails_at_once_without_retries(
    prefect_backend, tmp_path, tiny_frames, monkeypatch
):
    calls: list[int] = []
    real = sources.map_table

    def counting(name, *args, **kwargs):
        calls.append(1)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(sources, "map_table", counting)
    tiny_frames["accounts"] = tiny_frames["accounts"].rename(columns={"account_id": "acct"})
    cfg = csv_config(tmp_path, tiny_frames, retries=2)
    cfg = cfg.model_copy(update={"retries": cfg.retries.model_copy(update={"delay_seconds": 30})})
    with pytest.raises(
        sources.SourceError, match="accounts, column account_id: required column"
    ) as err:
        reading(cfg)
    assert "attempt" not in str(err.value)
    assert len(calls) == 1  # accounts is mapped first: one attempt, no 30 s pause


def test_only_io_failures_count_as_worth_retrying():
    import duckdb
    from flows.tasks import is_io_failure

    assert is_io_failure(sources.SourceReadError("database unreachable"))
    assert is_io_failure(OSError("disk read error")) and is_io_failure(duckdb.IOException("x"))
    assert not is_io_failure(sources.SourceError("table accounts, column name: not found"))
    assert not is_io_failure(ValueError("bad config"))
