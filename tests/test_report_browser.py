"""The report in a real headless Chromium: it renders, sorts, filters, opens an account, and
customer text never runs as code."""

from __future__ import annotations

import os
import shutil
import struct
import zlib

import pytest

from churnml.report import render_report
from report_data import PAYLOAD, scored_frame

pytestmark = pytest.mark.browser


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium and Playwright are required in CI for the report test")
        pytest.skip("Chromium or Playwright is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def open_report(browser, tmp_path, html: str):
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_selector("#outreach tbody tr")
    return page, errors, dialogs


def png_colours(data: bytes) -> int:
    """Distinct colours in a PNG screenshot (8-bit RGB/RGBA, as Chromium writes them)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 4
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, _, colour = struct.unpack(">IIBB", chunk[:10])
            channels = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    # sample the filter-free byte stream coarsely: enough to tell a blank page from content
    sample = {raw[i : i + channels] for i in range(1, min(len(raw), stride * height), 97)}
    return len(sample)


def test_report_works_in_chromium(browser, tmp_path):
    scored = scored_frame(40)
    page, errors, dialogs = open_report(browser, tmp_path, render_report(scored))
    rows = page.locator("#outreach tbody tr")
    assert rows.count() == 40
    assert page.locator("#shown").inner_text().startswith("40 / 40")

    # filter by churn tier: only high-risk accounts remain
    high = int((scored.churn_tier == "high").sum())
    page.select_option("#filter-tier", "high")
    assert rows.count() == high
    tiers = page.locator("#outreach tbody tr").evaluate_all("rs => rs.map(r => r.dataset.tier)")
    assert set(tiers) == {"high"}
    page.select_option("#filter-tier", "")

    # sort by health ascending (second click flips the default descending order)
    page.click("th[data-key='health']")
    page.click("th[data-key='health']")
    health = [int(x) for x in page.locator("#outreach tbody tr td:nth-child(6)").all_inner_texts()]
    assert health == sorted(health)

    # search, then open the account view: driver bars and sentences
    page.fill("#search", "Account 05")
    assert rows.count() == 1
    rows.first.click()
    view = page.locator("#account-view")
    assert view.locator("h3").inner_text() == "Account 05"
    assert view.locator(".driver.risk .bar").count() >= 2
    assert "Active users fell from 45 to 17" in view.inner_text()
    widths = view.locator(".driver.risk .bar").evaluate_all(
        "bs => bs.map(b => b.getBoundingClientRect().width)"
    )
    assert max(widths) > 0

    # the script payload in an account name is shown as text and never runs
    page.fill("#search", "pwned")
    assert rows.count() == 1
    assert PAYLOAD in rows.first.inner_text()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == [] and errors == []

    page.fill("#search", "")
    shot = page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert len(shot) > 20_000 and png_colours(shot) > 20
    page.close()


def test_japanese_report_renders(browser, tmp_path):
    page, errors, _ = open_report(browser, tmp_path, render_report(scored_frame(10), lang="ja"))
    assert "アウトリーチリスト" in page.locator("h2").first.inner_text()
    page.locator("#outreach tbody tr").first.click()
    assert "解約リスクを高めている要因" in page.locator("#account-view").inner_text()
    assert errors == []
    page.close()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_kpi_board_charts_render(browser, tmp_path, lang):
    from churnml.report import text
    from kpi_book import kpi_section_for

    scored = scored_frame(12)
    html = render_report(scored, lang=lang, extra_sections=[kpi_section_for(lang, scored)])
    page, errors, dialogs = open_report(browser, tmp_path, html)
    words = text(lang)["kpis"]
    board = page.locator("#kpi-board")
    assert words["title"] in page.locator("h2").all_inner_texts()
    charts = board.locator("figure.kpi-chart")
    assert charts.count() >= 9
    captions = " ".join(board.locator("figcaption").all_inner_texts())
    for key in ("active_accounts", "opening_mrr", "nrr_12m", "churned_arr"):
        assert words["charts"][key] in captions
    # every chart draws: a line of several points with a size on the page
    assert board.locator("svg polyline.actual").count() >= 8
    sizes = board.locator("svg").evaluate_all(
        "ss => ss.map(s => [s.getBoundingClientRect().width, s.getBoundingClientRect().height])"
    )
    assert all(w >= 200 and h >= 50 for w, h in sizes)
    # the forecast stands beside the actual quarterly trend, with its interval
    assert board.locator("svg circle.forecast").count() == 2
    assert board.locator("svg line.forecast").count() == 2
    assert "NRR" in page.locator("#kpi-headline").inner_text()
    assert errors == [] and dialogs == []
    page.close()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_board_and_plays_sections_render_together(browser, tmp_path, lang):
    """The report as scoring writes it once `churnml evaluate` has measured the plays: the KPI
    board and the plays section side by side, with the caution, in each language."""
    from churnml.report import plays_section, text
    from kpi_book import kpi_section_for
    from test_report_languages import play_rows

    scored = scored_frame(12)
    sections = [kpi_section_for(lang, scored), plays_section(play_rows(), 5, 0.95, lang)]
    page, errors, dialogs = open_report(
        browser, tmp_path, render_report(scored, lang=lang, extra_sections=sections)
    )
    words = text(lang)
    titles = page.locator("h2").all_inner_texts()
    assert words["kpis"]["title"] in titles and words["plays"]["section"] in titles
    assert page.locator("#kpi-board figure.kpi-chart").count() >= 9
    body = page.locator("body").inner_text()
    assert "Health check" in body and "Office hours" in body
    assert ("not a controlled experiment" if lang == "en" else "対照実験ではありません") in body
    assert errors == [] and dialogs == []
    page.close()
