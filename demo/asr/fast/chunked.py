"""Chunked long-form: cut long audio at silences, encode and decode the chunks as batches.

The sequential long-form algorithm (``transcribe._long_form``) must finish a window before it
knows where the next one starts (its last timestamp), so windows are decoded one after the
other. Cut where nobody speaks instead, and every chunk is known up front: they are encoded
together and decoded together, the int8 decoder doing one step for the whole batch at about
the cost of one sequence (its weights are read once per step either way). This is what
faster-whisper's ``BatchedInferencePipeline`` does with the Silero VAD; here the voice activity
is plain frame energy (numpy), which is enough to find the pauses between sentences.
"""

from __future__ import annotations

import numpy as np

from demo.asr.energy import FRAME, frame_db, silent_frames
from demo.asr.fast.batched import log_mel_batch
from demo.asr.fast.decoding import decode_scored, detect_language, prompt_tokens
from demo.asr.fast.features import WINDOW_SAMPLES
from demo.asr.fast.finish import speech_end, speech_frames
from demo.asr.fast.model import FastWhisper
from demo.asr.fast.result import FastResult, timestamp_begin, window_scores
from demo.asr.fast.rules import timestamp_rules
from demo.asr.segments import window_segments
from demo.audio import SAMPLE_RATE
from demo.cancel import check

MIN_SILENCE_S = 0.2  # a pause at least this long is a cut point
MIN_CHUNK_S = 5.0  # never cut a chunk shorter than this when a later pause exists
BATCH = 8  # chunks encoded and decoded together


def speech_chunks(audio: np.ndarray, max_samples: int = WINDOW_SAMPLES) -> list[tuple[int, int]]:
    """``(start, end)`` sample spans of at most ``max_samples`` covering the audio, cut in the
    middle of the latest pause that fits; chunks that are silence throughout are left out."""
    if len(audio) <= max_samples:
        return [(0, len(audio))]
    db = frame_db(audio)
    silent = silent_frames(db)
    pauses = _pauses(silent, int(MIN_SILENCE_S * SAMPLE_RATE / FRAME))
    chunks, start = [], 0
    while len(audio) - start > max_samples:
        limit = start + max_samples
        lowest = start + int(MIN_CHUNK_S * SAMPLE_RATE)
        cuts = [c for c in pauses if lowest <= c <= limit]
        if cuts:
            cut = cuts[-1]
        else:  # no pause: cut at the quietest frame of the chunk's last third
            first = (start + 2 * max_samples // 3) // FRAME
            last = max(first + 1, limit // FRAME)
            cut = (first + int(np.argmin(db[first:last]))) * FRAME
        chunks.append((start, cut))
        start = cut
    chunks.append((start, len(audio)))
    return [
        (a, b) for a, b in chunks if not silent[a // FRAME : max(a // FRAME + 1, b // FRAME)].all()
    ]


def _pauses(silent: np.ndarray, min_frames: int) -> list[int]:
    """Sample positions of the middles of runs of at least ``min_frames`` silent frames."""
    edges = np.diff(np.concatenate([[0], silent.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [
        int((a + b) // 2 * FRAME) for a, b in zip(starts, ends, strict=True) if b - a >= min_frames
    ]


def transcribe_chunked(
    fast: FastWhisper,
    mel_filters: np.ndarray,
    audio: np.ndarray,
    *,
    language: str | None,
    task: str,
    num_beams: int,
    batch: int = BATCH,
    gate: bool = True,
    words=None,
    timestamps: bool = True,
):
    """Long audio, chunked: a ``FastResult`` (tokens, language, whether it was detected, chunk
    count, segments with times in the clip, each chunk's scores for the no-speech gate)."""
    from tqdm.auto import tqdm

    spans = speech_chunks(audio)
    speech = speech_frames(audio) if timestamps else None
    multilingual = bool(getattr(fast.generation_config, "is_multilingual", False))
    detected = False
    result = FastResult([], language, False, len(spans), "chunked")
    eos = int(fast.generation_config.eos_token_id)
    with tqdm(total=len(spans), unit="chunk", desc="transcribing", leave=False) as bar:
        for first in range(0, len(spans), batch):
            group = [audio[a:b] for a, b in spans[first : first + batch]]
            encoded = fast.encode(log_mel_batch(group, mel_filters))
            if multilingual and language is None:
                language, detected = detect_language(fast, encoded[:1]), True
            prompt = prompt_tokens(fast, language, task, timestamps=timestamps)
            until = [speech_end(speech, *span) for span in spans[first : first + batch]]
            rules = timestamp_rules(fast, len(prompt), timestamps, until)
            decoded = decode_scored(fast, encoded, prompt, rules, num_beams)
            result.language = language
            for row, one in enumerate(decoded):
                index = first + row
                result.scores.append(window_scores(fast, one))
                if gate and result.scores[-1].silent():
                    result.silent += 1
                    continue
                tokens = one.tokens[:-1] if one.tokens and one.tokens[-1] == eos else one.tokens
                result.tokens += tokens
                a, b = (x / SAMPLE_RATE for x in spans[index])
                segments = window_segments(tokens, timestamp_begin(fast), a, b, index)
                result.add(fast, encoded[row : row + 1], task, segments, (a, b), words)
            bar.update(len(group))
            check()
    result.language, result.detected = language, detected
    return result
