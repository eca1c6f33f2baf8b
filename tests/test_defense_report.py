"""The defense report (dashboard.report): one offline HTML file with every chart of the
Training runs and Reported vs measured views, each with the command behind it, the findings,
the thesis's tables and benchmarks.md; written from the CLI and from the app's button, opened
in a real browser with the network cut (every chart drawn, no request leaves the file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboard import handlers
from dashboard.report import build_report, main, report_sections
from dashboard.training_view import load_run_set
from results.charts.catalog import FIGURE_COMMANDS

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture()
def report_file(dashboard_root, tmp_path) -> Path:
    out = tmp_path / "defense.html"
    assert main(["--out", str(out), "--checkpoints", str(dashboard_root)]) == 0
    return out


def test_every_chart_with_its_command_the_findings_and_the_tables(dashboard_root):
    run_set = load_run_set(dashboard_root)
    keys = [k for figures in report_sections(run_set).values() for k in figures]
    assert set(keys) <= set(FIGURE_COMMANDS)  # no chart without the command behind it
    page = build_report(run_set)
    for key in keys:
        assert f'id="chart-{key}"' in page
    assert page.count('class="command"') == len(keys)
    assert "Findings" in page and "Git commit" in page and "The thesis's tables" in page
    assert "<table>" in page and "Benchmarks (assets/benchmarks.md)" in page
    # Nothing is fetched: no external script, stylesheet or image tags.
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=\"(https?:)?//", page)
    assert page.count("<script") == 1 + len(keys)  # plotly.js once, then one per chart


def test_cli_refuses_a_name_that_is_not_html_in_one_sentence(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path / "defense.pdf")])
    assert stop.value.code == 2
    assert "ending in .html" in capsys.readouterr().err


def test_the_apps_button_writes_the_same_file(dashboard_root, monkeypatch):
    monkeypatch.setenv("DEMO_CHECKPOINTS", str(dashboard_root))
    out = handlers.defense_report({})
    path = Path(out["files"].value[0])
    assert path.name == "defense.html" and path.stat().st_size > 1_000_000  # plotly.js inside
    assert "offline" in out["note"]


@pytest.mark.browser
def test_opens_offline_in_chromium_with_every_chart_drawn(report_file, dashboard_root, artifacts):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    run_set = load_run_set(dashboard_root)
    charts = sum(len(figures) for figures in report_sections(run_set).values())
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--host-resolver-rules=MAP * ~NOTFOUND"],  # no name resolves: offline
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report_file.as_uri(), wait_until="load")
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}",
                timeout=60_000,
            )
            drawn = page.evaluate(
                "[...document.querySelectorAll('.js-plotly-plot')]"
                ".filter(d => d.querySelector('.main-svg')).length"
            )
            page.screenshot(path=str(artifacts / "defense-report.png"))
        finally:
            browser.close()
    assert drawn == charts
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
