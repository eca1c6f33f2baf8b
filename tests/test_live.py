"""The live microphone without a browser: jfk.flac fed in 1 s chunks to ``demo.live`` and to the
app's handlers (``dashboard.live``), with the real tiny.en (the browser test streams it
through Chromium's fake microphone)."""

import numpy as np
import pytest

from demo.asr import TranscribeOptions
from demo.audio import SAMPLE_RATE, load_audio, write_wav
from demo.errors import DemoError
from demo.live import (
    MAX_LOAD,
    PARTIAL_EVERY_SECONDS,
    WINDOW_SECONDS,
    LiveSession,
    quiet_point,
)
from demo.metrics import wer
from demo.pipeline import PipelineOptions, default_cache

ENGLISH = TranscribeOptions(language="en")


@pytest.fixture(scope="module")
def whisper():
    return default_cache().get(PipelineOptions().asr_spec())[0]  # tiny.en fast-int8


def _chunks(audio: np.ndarray, seconds: float = 1.0):
    step = int(seconds * SAMPLE_RATE)
    return [audio[i : i + step] for i in range(0, len(audio), step)]


def test_partials_grow_while_speaking_and_end_as_the_sentence(whisper, jfk_path, jfk_text):
    audio = load_audio(jfk_path)  # 11 s
    session, seen = LiveSession(), []
    for chunk in _chunks(audio):
        if session.add(chunk):
            seen.append(session.update_partial(whisper, ENGLISH))
    # a partial every 2 s of audio, or less often when one costs over half of that
    assert 2 <= len(seen) <= int(len(audio) / SAMPLE_RATE // PARTIAL_EVERY_SECONDS)
    assert session.interval == max(PARTIAL_EVERY_SECONDS, session.last_cost / MAX_LOAD)
    assert len(seen[0].split()) < len(seen[-1].split())  # the transcript grew as audio came
    session.update_partial(whisper, ENGLISH)  # what Stop would see
    assert wer(jfk_text, session.text) <= 0.15
    assert session.seconds == pytest.approx(len(audio) / SAMPLE_RATE)


def test_a_long_recording_commits_windows_and_keeps_every_sentence(whisper, jfk_path):
    pause = np.zeros(SAMPLE_RATE, dtype=np.float32)
    speech = load_audio(jfk_path)
    audio = np.concatenate([speech, pause, speech, pause])  # 24 s: past one window
    session = LiveSession()
    for chunk in _chunks(audio):
        if session.add(chunk):
            session.update_partial(whisper, ENGLISH)
    session.update_partial(whisper, ENGLISH)
    assert session.committed_at > 0 and session.committed  # the first window's text is kept
    # cut at the quietest moment of the window's last 4 s (a pause of the second sentence)
    assert (
        (WINDOW_SECONDS - 4) * SAMPLE_RATE <= session.committed_at <= WINDOW_SECONDS * SAMPLE_RATE
    )
    assert session.text.lower().count("country") >= 3  # both sentences (4 times in all)


def test_the_recording_is_bounded_and_silence_makes_no_words(whisper):
    session = LiveSession(max_seconds=3)
    assert not session.add(np.full(SAMPLE_RATE, 0.0, dtype=np.float32))
    assert session.add(np.zeros(4 * SAMPLE_RATE, dtype=np.float32))  # over the bound: due now
    assert session.full and session.samples == 3 * SAMPLE_RATE
    assert session.update_partial(whisper, ENGLISH) == ""  # Whisper would invent "Thank you."
    assert not session.add(np.ones(SAMPLE_RATE, dtype=np.float32))  # dropped
    with pytest.raises(ValueError, match="positive"):
        LiveSession(max_seconds=float("nan"))


def test_quiet_point_is_the_pause():
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, 5 * SAMPLE_RATE).astype(np.float32)
    audio[int(3.2 * SAMPLE_RATE) : int(3.5 * SAMPLE_RATE)] = 0.0
    cut = quiet_point(audio, SAMPLE_RATE, 5 * SAMPLE_RATE)
    assert 3.2 * SAMPLE_RATE <= cut <= 3.5 * SAMPLE_RATE


def test_handlers_stream_chunk_files_then_stop_runs_the_pipeline(tmp_path, jfk_path, jfk_text):
    from dashboard import live

    started = live.live_start({})
    assert started["transcript"] == "" and "Listening" in started["info"]
    values = {"live": started["live"], "asr": "tiny.en", "quant": "auto"}
    for number, chunk in enumerate(_chunks(load_audio(jfk_path))):
        path = write_wav(tmp_path / f"chunk{number}.wav", chunk, SAMPLE_RATE)  # as the browser
        out = live.live_chunk({**values, "live_audio": str(path)})
        values["live"] = out["live"]
    assert "country" in out["transcript"].lower()
    assert "summary" not in out  # no summary while speaking
    final = live.live_stop(values)
    assert final["live"] is None  # the next recording starts afresh
    assert wer(jfk_text, final["transcript"]) <= 0.15 and final["summary"]
    assert final["latency"] and final["memory"]  # the Try it tables, as for an upload
    with pytest.raises(DemoError, match="Nothing was recorded"):
        live.live_stop({"live": None})
