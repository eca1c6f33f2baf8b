"""A real browser on the running app: upload jfk.flac in Try it, get the transcript; then the
Training runs view draws a plotly chart from a fixture run folder; and the live microphone,
fed jfk.flac by Chromium's fake capture device, streams a partial transcript. Screenshots
(1280x720) go to test-artifacts/ for a person to look at.

    pytest -m browser tests/test_browser.py
"""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

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
TRANSCRIBE_TIMEOUT_MS = 150_000
CHART_TIMEOUT_MS = 30_000
PHRASE = "ask not what your country"
# Partial transcripts come every 2 s of audio, after the app's models are loaded.
PARTIAL_TIMEOUT_MS = 90_000
RECORDER_SETUP_MS = 4000
FAKE_MIC_SILENCE_S = 3.0  # after the sentence, before Chromium loops the file


def _chromium(args: list[str]):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def browser():
    yield from _chromium(CHROMIUM_ARGS)


@pytest.fixture()
def mic_browser(tmp_path, jfk_path):
    """Chromium whose microphone plays jfk.flac (as a WAV, then a pause, on a loop)."""
    import numpy as np

    from demo.audio import SAMPLE_RATE, load_audio, write_wav

    pause = np.zeros(int(FAKE_MIC_SILENCE_S * SAMPLE_RATE), dtype=np.float32)
    wav = write_wav(tmp_path / "fake-mic.wav", np.concatenate([load_audio(jfk_path), pause]))
    yield from _chromium(
        [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         f"--use-file-for-fake-audio-capture={wav}"]
    )  # fmt: skip


def _page_with_jfk(browser, url: str, jfk_path):
    """The app in a new page with jfk.flac uploaded in Try it (its player shown)."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(CHART_TIMEOUT_MS)
    page.goto(url, wait_until="domcontentloaded")
    page.locator("#try-audio input[type=file]").set_input_files(str(jfk_path))
    expect(page.locator("#try-audio audio, #try-audio .waveform-container")).not_to_have_count(0)
    return page


def test_try_it_then_training_runs_chart_in_a_real_browser(
    browser, dashboard_root, jfk_path, running_app, artifacts
):
    from playwright.sync_api import expect

    env = {"DEMO_CHECKPOINTS": str(dashboard_root)}
    with running_app(env, artifacts / "browser-app.log") as url:
        page = _page_with_jfk(browser, url, jfk_path)
        page.screenshot(path=str(artifacts / "try-it-start.png"))
        page.locator("#run").click()
        transcript = page.locator("#transcript textarea")
        expect(transcript).to_have_value(
            re.compile(PHRASE, re.IGNORECASE), timeout=TRANSCRIBE_TIMEOUT_MS
        )
        grounded = page.locator("#grounded-summary .summary-sentence")
        expect(grounded.first).to_be_visible()
        link = page.locator("#grounded-summary a.src-link").first
        target = link.get_attribute("href")
        link.click()  # the source sentence is the page's :target, highlighted
        expect(page.locator(f"#grounded-summary {target}")).to_be_visible()
        assert page.evaluate("window.location.hash") == target
        page.screenshot(path=str(artifacts / "try-it-grounded.png"))
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(artifacts / "try-it.png"))

        page.get_by_role("tab", name="Training runs").click()
        chart = page.locator("#wer-per-epoch-by-size .js-plotly-plot .main-svg").first
        expect(chart).to_be_visible(timeout=CHART_TIMEOUT_MS)
        lines = page.locator("#wer-per-epoch-by-size .scatterlayer .trace")
        expect(lines).to_have_count(
            2, timeout=CHART_TIMEOUT_MS
        )  # tiny and base, from the fixture runs
        expect(page.locator("#runs-summary")).to_contain_text("asr-tiny-killed")
        page.screenshot(path=str(artifacts / "training-runs.png"))

        page.get_by_role("tab", name="Reported vs measured").click()
        wer = page.locator("#wer-relative-to-full .js-plotly-plot .main-svg").first
        expect(wer).to_be_visible(timeout=CHART_TIMEOUT_MS)
        page.get_by_label("dark").check()
        expect(page.locator("body")).to_have_class(
            re.compile(r"\bdark\b"), timeout=CHART_TIMEOUT_MS
        )
        page.wait_for_timeout(1500)  # let the redrawn charts settle for the screenshot
        page.screenshot(path=str(artifacts / "reported-dark.png"))


def test_live_microphone_streams_a_partial_transcript_then_the_summary(
    mic_browser, dashboard_root, running_app, artifacts
):
    from playwright.sync_api import expect

    # The fake microphone's resampled audio gives tiny.en "ask not", "asked not" or "asks not",
    # with any punctuation between the words.
    phrase = re.compile(r"\bask\w*\W+not\W+what\W+your\W+country\W+can\W+do\W+for\W+you", re.I)
    env = {"DEMO_CHECKPOINTS": str(dashboard_root)}
    with running_app(env, artifacts / "browser-live-app.log") as url:
        page = mic_browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(CHART_TIMEOUT_MS)
        page.goto(url)
        # gradio loads the streaming recorder's WAV encoder after the page; a Record click
        # before that sends nothing (most runs here without this wait, none with it).
        page.wait_for_timeout(RECORDER_SETUP_MS)
        live = page.locator("#live-audio")
        live.get_by_role("button", name="Record").click()
        expect(live.get_by_role("button", name="Stop")).to_be_visible()
        transcript = page.locator("#transcript textarea")
        # The partial transcript, while the "microphone" still plays: no summary yet.
        expect(transcript).to_have_value(phrase, timeout=PARTIAL_TIMEOUT_MS)
        expect(page.locator("#summary textarea")).to_have_value("")
        page.screenshot(path=str(artifacts / "live-partial.png"))
        live.get_by_role("button", name="Stop").click()
        summary = page.locator("#summary textarea")
        expect(summary).not_to_have_value("", timeout=TRANSCRIBE_TIMEOUT_MS)
        expect(transcript).to_have_value(phrase)
        expect(page.locator("#grounded-summary .summary-sentence").first).to_be_visible()
        page.screenshot(path=str(artifacts / "live-final.png"))


def test_transcript_times_seek_the_player_and_files_download(
    browser, dashboard_root, jfk_path, running_app, artifacts
):
    """Try it shows the segments with times; a click on a time moves the clip's player there;
    the four transcript files are offered for download."""
    from playwright.sync_api import expect

    env = {"DEMO_CHECKPOINTS": str(dashboard_root)}
    with running_app(env, artifacts / "browser-transcript-app.log") as url:
        page = _page_with_jfk(browser, url, jfk_path)
        page.locator("#run").click()
        times = page.locator("#transcript-times a.seek")
        expect(times.first).to_be_visible(timeout=TRANSCRIBE_TIMEOUT_MS)
        assert times.count() >= 2
        target = float(times.nth(1).get_attribute("data-t"))
        assert 5.0 < target < 10.0  # "ask what you can do..." starts about 8 s in
        times.nth(1).click()
        position = page.evaluate(
            """() => {
              const box = document.getElementById("try-audio");
              let media = box.querySelector("audio, video");
              for (const el of box.querySelectorAll("*")) {
                if (!media && el.shadowRoot) media = el.shadowRoot.querySelector("audio, video");
              }
              return media ? media.currentTime : -1;
            }"""
        )
        assert abs(position - target) < 1.0, position
        for name in ("transcript.txt", "transcript.srt", "transcript.vtt", "transcript.json"):
            expect(page.locator(f"#transcript-files a[href$='/{name}']")).to_have_count(1)
        page.screenshot(path=str(artifacts / "try-it-transcript-times.png"))
