"""The Try it tab's live microphone: widgets and events (split from app.py, which calls these two
functions; the handlers are ``dashboard.live``, the core ``demo.live``).

The browser streams a WAV chunk every ``STREAM_EVERY_S``; the transcript box shows the partial
transcript while the person speaks; Stop runs the normal pipeline on the whole recording.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from dashboard import live
from demo.settings import Settings

STREAM_EVERY_S = 1.0  # seconds of audio per chunk the browser sends
LIVE_QUEUE = "live"  # partial transcripts: their own concurrency limit, beside the pipeline's
# A stream holds its slot for the whole recording (until Stop or the time limit), not per
# chunk: this many people can record at once, the next one waits for a slot.
LIVE_RECORDINGS = 4
# A session's audio (up to 19 MB for 5 min) is dropped this long after its last chunk, when the
# tab was closed without Stop (gradio would keep it an hour).
SESSION_TTL_S = 600


def live_widgets() -> dict[str, Any]:
    """The streaming microphone and its session state, in an accordion under the Run button."""
    limit = live.max_live_seconds() / 60
    with gr.Accordion(f"Live microphone: transcript while you speak (up to {limit:.0f} min)"):
        audio = gr.Audio(
            sources=["microphone"], type="filepath", streaming=True, label="Live microphone",
            elem_id="live-audio",
        )  # fmt: skip
    return {live.CHUNK_KEY: audio, live.SESSION_KEY: gr.State(None, time_to_live=SESSION_TTL_S)}


def wire_live(
    widgets: dict[str, Any], w: dict[str, Any], o: dict[str, Any], s: Settings,
    wire: Callable, pipeline_queue: str,
) -> None:  # fmt: skip
    """Record starts a session, each chunk refreshes the partial transcript, Stop runs the
    Try it pipeline on the recording (in the pipeline's queue). API clients upload a file to
    /transcribe instead: these events are private."""
    audio, state = widgets[live.CHUNK_KEY], widgets[live.SESSION_KEY]
    inputs = {**widgets, **w}
    outputs = {live.SESSION_KEY: state, **o}
    private = {"api_visibility": "private"}
    wire(audio.start_recording, live.live_start, {}, outputs, queue=False, **private)
    wire(
        audio.stream, live.live_chunk, inputs, outputs, stream_every=STREAM_EVERY_S,
        time_limit=int(live.max_live_seconds()) + 10, show_progress="hidden",
        concurrency_id=LIVE_QUEUE, concurrency_limit=LIVE_RECORDINGS, **private,
    )  # fmt: skip
    wire(
        audio.stop_recording, live.live_stop, inputs, outputs,
        concurrency_id=pipeline_queue, concurrency_limit=s.concurrency, **private,
    )  # fmt: skip
