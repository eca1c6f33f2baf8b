"""The Try it tab's live microphone, without gradio: widget values by name in, outputs by name out.

While the person speaks, each streamed chunk (a short WAV from the browser) goes into the
recording's ``demo.live.LiveSession`` and a partial transcript comes back every few seconds
(the chosen Whisper; tiny.en fast-int8 by default). When they stop, the whole recording goes
through the Try it handler itself (``handlers.transcribe_and_summarize``) as a WAV file, so
the final transcript, summary and tables are exactly what an upload of it would give.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dashboard import handlers as h
from demo.audio import write_wav
from demo.errors import DemoError
from demo.live import MAX_LIVE_SECONDS, LiveSession, chunk_samples
from demo.pipeline import default_cache
from demo.settings import settings

CHUNK_KEY, SESSION_KEY = "live_audio", "live"  # the streaming widget and the session state
LIVE_KEYS = (CHUNK_KEY, SESSION_KEY)
CLEARED = ("transcript", "summary", "grounded")


def max_live_seconds() -> float:
    """The longest live recording: 5 minutes, or less where DEMO_MAX_SECONDS is lower (the
    final pipeline must accept it)."""
    return min(MAX_LIVE_SECONDS, settings().max_seconds)


def _status(session: LiveSession) -> str:
    limit = max_live_seconds()
    if session.full:
        return (
            f"Reached the {limit / 60:.0f}-minute limit of a live recording; later speech is "
            "not kept. Press Stop for the transcript and summary."
        )
    return (
        f"Listening: {session.seconds:.0f} s of at most {limit / 60:.0f} min. The partial "
        f"transcript refreshes every {session.interval:.0f} s; press Stop for the summary."
    )


def live_start(values: Mapping[str, Any]) -> dict[str, Any]:
    """A new recording: a fresh session, the previous outputs cleared."""
    session = LiveSession(max_seconds=max_live_seconds())
    return {SESSION_KEY: session, **dict.fromkeys(CLEARED, ""), "info": _status(session)}


def live_chunk(values: Mapping[str, Any]) -> dict[str, Any]:
    """One streamed chunk in; the partial transcript (refreshed when one is due) out."""
    session = values.get(SESSION_KEY) or LiveSession(max_seconds=max_live_seconds())
    chunk = values.get(CHUNK_KEY)
    if chunk and session.add(chunk_samples(chunk)):
        options = h.options_from(_config(values))
        model, _ = default_cache().get(options.asr_spec())
        session.update_partial(model, options.transcribe_options())
    return {SESSION_KEY: session, "transcript": session.text, "info": _status(session)}


def live_stop(values: Mapping[str, Any]) -> dict[str, Any]:
    """The recording is over: the whole of it through the Try it pipeline."""
    session = values.get(SESSION_KEY)
    if session is None or not session.samples:
        raise DemoError("Nothing was recorded; allow the microphone, press Record and speak.")
    with tempfile.TemporaryDirectory(prefix="stt-demo-live-") as folder:
        path = write_wav(Path(folder) / "live.wav", session.audio())
        out = h.transcribe_and_summarize({**_config(values), "audio": str(path)})
    return {**out, SESSION_KEY: None}


def _config(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in LIVE_KEYS}
