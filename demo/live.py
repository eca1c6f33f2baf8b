"""Live transcription: microphone chunks in, a partial transcript out while the person speaks.

    session = LiveSession()
    for chunk in chunks:                      # 16 kHz mono float32, any length
        if session.add(chunk):                # True when a new partial transcript is due
            session.update_partial(model, TranscribeOptions(language="en"))
        print(session.text)
    result = run_pipeline(session.audio(), options)   # the normal pipeline when they stop

Whisper re-reads the audio heard since the last committed point: it pads every input to a 30 s
window, so a short buffer costs about what a full one does (~0.4 s for tiny.en fast-int8 at one
thread). Once that audio passes ``WINDOW_SECONDS`` its text is committed at the quietest
moment near the end and never read again, so each partial costs the same however long the
recording. Partials come every ``PARTIAL_EVERY_SECONDS`` of audio, or less often when one takes
longer than ``MAX_LOAD`` of that time, so a slow model never falls behind the microphone.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from demo.asr import TranscribeOptions, transcribe
from demo.audio import SAMPLE_RATE, SILENCE_DBFS, load_audio

MAX_LIVE_SECONDS = 300.0  # a live recording stops growing after 5 minutes
PARTIAL_EVERY_SECONDS = 2.0  # audio between two partial transcripts, at least
MAX_LOAD = 0.5  # a partial may cost at most this share of the audio time it follows
WINDOW_SECONDS = 20.0  # audio past this (since the last commit) is committed
CUT_SEARCH_SECONDS = 4.0  # the commit point is the quietest 0.1 s in the window's last 4 s
MIN_PARTIAL_SECONDS = 0.3  # less new audio than this is not worth a Whisper call
CHUNK_MAX_SECONDS = 30.0  # one streamed chunk (the browser sends ~1 s)
CHUNK_MAX_BYTES = 16 * 1024 * 1024
_FRAME = SAMPLE_RATE // 10


def chunk_samples(source: str | os.PathLike | bytes) -> np.ndarray:
    """One streamed chunk (a short WAV from the browser) as 16 kHz mono float32; silence is
    kept (a pause is part of the recording), anything over the chunk bounds is refused."""
    return load_audio(
        source, max_seconds=CHUNK_MAX_SECONDS, max_bytes=CHUNK_MAX_BYTES, reject_silence=False
    )


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _is_silent(audio: np.ndarray) -> bool:
    # The same -60 dBFS peak as a muted microphone (demo.audio): Whisper invents words in silence.
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return peak == 0.0 or 20 * np.log10(peak) < SILENCE_DBFS


def quiet_point(audio: np.ndarray, start: int, end: int) -> int:
    """The sample index between ``start`` and ``end`` at the middle of the quietest 0.1 s
    frame (a pause between words, where a cut splits no word)."""
    frames = (end - start) // _FRAME
    if frames < 2:
        return end
    block = audio[start : start + frames * _FRAME].reshape(frames, _FRAME)
    quietest = int(np.argmin(np.sqrt(np.mean(block.astype(np.float64) ** 2, axis=1))))
    return start + quietest * _FRAME + _FRAME // 2


@dataclass
class LiveSession:
    """The audio heard so far and its partial transcript (one per recording)."""

    max_seconds: float = MAX_LIVE_SECONDS  # the recording stops growing here
    chunks: list[np.ndarray] = field(default_factory=list)
    samples: int = 0  # heard so far (kept)
    committed: str = ""  # text of the audio before committed_at, never re-read
    committed_at: int = 0  # sample index
    pending: str = ""  # text of the audio since committed_at, as of the last partial
    partial_at: int = 0  # samples heard at the last partial
    interval: float = PARTIAL_EVERY_SECONDS  # audio seconds until the next partial
    full: bool = False  # max_seconds reached: later audio is dropped
    partials: int = 0  # Whisper calls made for partials
    last_cost: float = 0.0  # seconds the last partial took

    def __post_init__(self) -> None:
        if not (np.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise ValueError("max_seconds must be a positive number of seconds.")

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def text(self) -> str:
        """The transcript so far: the committed text, then the latest partial."""
        return _join(self.committed, self.pending)

    def add(self, chunk: np.ndarray) -> bool:
        """Append 16 kHz mono samples (dropped past ``max_seconds``: ``full`` is set); whether
        a partial transcript is due."""
        room = int(self.max_seconds * SAMPLE_RATE) - self.samples
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if chunk.size > room:
            self.full, chunk = True, chunk[: max(room, 0)]
        if chunk.size:
            self.chunks.append(chunk)
            self.samples += chunk.size
        return self.partial_due()

    def partial_due(self) -> bool:
        new = (self.samples - self.partial_at) / SAMPLE_RATE
        return new >= self.interval or (self.full and self.samples > self.partial_at)

    def audio(self) -> np.ndarray:
        """Every sample heard, as one array."""
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        return self.chunks[0] if self.chunks else np.zeros(0, dtype=np.float32)

    def update_partial(self, model, options: TranscribeOptions) -> str:
        """Transcribe the audio since the last commit (committing a window first when it has
        grown past ``WINDOW_SECONDS``); the transcript so far."""
        started = time.perf_counter()
        audio = self.audio()
        window = int(WINDOW_SECONDS * SAMPLE_RATE)
        if self.samples - self.committed_at > window:
            end = self.committed_at + window
            cut = quiet_point(audio, end - int(CUT_SEARCH_SECONDS * SAMPLE_RATE), end)
            self.committed = _join(self.committed, self._transcribe(model, audio, cut, options))
            self.committed_at = cut
        self.pending = self._transcribe(model, audio, self.samples, options)
        self.partial_at = self.samples
        self.partials += 1
        self.last_cost = time.perf_counter() - started
        self.interval = max(PARTIAL_EVERY_SECONDS, self.last_cost / MAX_LOAD)
        return self.text

    def _transcribe(self, model, audio: np.ndarray, end: int, options) -> str:
        part = audio[self.committed_at : end]
        if part.size < MIN_PARTIAL_SECONDS * SAMPLE_RATE or _is_silent(part):
            return ""
        return transcribe(model, part, options).text
