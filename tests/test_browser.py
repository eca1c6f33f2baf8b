"""A real browser on the running app: upload jfk.flac in Try it, get the transcript; then the
Training runs view draws a plotly chart from a fixture run folder. Screenshots (1280x720) go
to test-artifacts/ for a person to look at.

    pytest -m browser tests/test_browser.py
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from demo.dashboard import CHECKPOINTS_ENV
from test_app import make_fixture_runs

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 720}
START_TIMEOUT_S = 120
TRANSCRIBE_TIMEOUT_MS = 150_000
CHART_TIMEOUT_MS = 30_000
PHRASE = "ask not what your country"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Start ``python app.py --port <free>`` on loopback; yield its URL; always stop it."""
    port = free_port()
    full_env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **env,
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole below
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_until_up(url, process, log_path)
            yield url
        finally:
            _stop(process)


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"app not up after {START_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture()
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_try_it_then_training_runs_chart_in_a_real_browser(browser, tmp_path, jfk_path):
    from playwright.sync_api import expect

    runs = make_fixture_runs(tmp_path / "checkpoints")
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app({CHECKPOINTS_ENV: str(runs)}, ARTIFACTS / "browser-app.log") as url:
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(CHART_TIMEOUT_MS)
        page.goto(url, wait_until="domcontentloaded")

        page.locator("#try-audio input[type=file]").set_input_files(str(jfk_path))
        expect(page.locator("#try-audio audio, #try-audio .waveform-container")).not_to_have_count(
            0
        )
        page.screenshot(path=str(ARTIFACTS / "try-it-start.png"))
        page.locator("#run").click()
        transcript = page.locator("#transcript textarea")
        expect(transcript).to_have_value(
            re.compile(PHRASE, re.IGNORECASE), timeout=TRANSCRIBE_TIMEOUT_MS
        )
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "try-it.png"))

        page.get_by_role("tab", name="Training runs").click()
        chart = page.locator("#wer-by-size .js-plotly-plot .main-svg").first
        expect(chart).to_be_visible()
        lines = page.locator("#wer-by-size .scatterlayer .trace")
        expect(lines).to_have_count(2)  # tiny and base, from the fixture runs
        expect(page.locator("#runs-summary")).to_contain_text("asr-tiny-killed")
        page.screenshot(path=str(ARTIFACTS / "training-runs.png"))

        page.get_by_role("tab", name="Reported vs measured").click()
        expect(page.locator("#reported-wer .js-plotly-plot .main-svg").first).to_be_visible()
        page.get_by_label("dark").check()
        expect(page.locator("body")).to_have_class(re.compile(r"\bdark\b"))
        page.wait_for_timeout(1500)  # let the redrawn charts settle for the screenshot
        page.screenshot(path=str(ARTIFACTS / "reported-dark.png"))
