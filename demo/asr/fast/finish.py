"""Finishing a window Whisper left early: decode on while its audio still holds speech.

Decoding with timestamps, Whisper may close a segment and end the window seconds before the
speech in it ends (it does near a full window's end, and on some chunks of long audio): the
words after its last timestamp are lost. openai/whisper seeks to that timestamp and decodes
a new window from there, which costs another encoder pass. Here the same window is decoded
on instead: its tokens so far become the prompt, and end-of-text is not allowed before a
timestamp near where the speech stops (frame energy, ``demo.asr.fast.chunked``). Only where
speech remains: over silence the window ends where Whisper ended it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from demo.asr.energy import FRAME, frame_db, silent_frames
from demo.asr.fast.decoding import decode_scored, timestamp_rules
from demo.asr.fast.model import FastWhisper
from demo.asr.segments import MIN_SPEECH_S, TIME_PRECISION, close_gaps
from demo.audio import SAMPLE_RATE

MIN_REST_S = 1.5  # less speech than this after the last timestamp: finished (its timestamps are
# coarse: an end-of-phrase timestamp 0.5-1 s early is common, a lost phrase runs seconds)
MAX_NO_SPEECH = 0.2  # real speech windows stay under 0.1 (bench.no_speech), noise over 0.5


def speech_frames(audio: np.ndarray) -> np.ndarray | None:
    """Which 20 ms frames of the clip hold speech (louder than its quiet parts, for at least
    ``MIN_SPEECH_S``); None for a clip with no quiet part (music, noise), where energy can't
    tell."""

    if len(audio) < FRAME:
        return None

    speech = ~silent_frames(frame_db(audio))
    if speech.all():
        return None
    # a click or the tail of a breath is not speech still to be written
    return ~close_gaps(~speech, int(MIN_SPEECH_S * SAMPLE_RATE / FRAME))


def speech_end(speech: np.ndarray | None, start: int, end: int) -> float | None:
    """Seconds from ``start`` (a sample) to the end of the last speech frame before ``end``,
    by ``speech`` (``speech_frames``); None without speech or without ``speech``."""
    if speech is None:
        return None
    frames = np.flatnonzero(speech[start // FRAME : end // FRAME])
    return None if not len(frames) else (frames[-1] + 1) * FRAME / SAMPLE_RATE


def finish(
    fast: FastWhisper,
    encoded: torch.Tensor,
    prompt: list[int],
    tokens: list[int],
    spoken_until: float | None,
    num_beams: int,
    no_speech_prob: float = 0.0,
) -> list[int]:
    """``tokens`` (end-of-text removed) of one window ``encoded`` ``[1, 1500, d]``, decoded
    on when speech goes on ``MIN_REST_S`` past their last timestamp (``spoken_until``:
    seconds into the window) and Whisper is sure the window holds speech (its no-speech
    probability under ``MAX_NO_SPEECH``: over noise, writing on would invent words)."""
    begin = int(fast.generation_config.no_timestamps_token_id) + 1
    stamps = [t for t in tokens if t >= begin]
    if spoken_until is None or not stamps or no_speech_prob >= MAX_NO_SPEECH:
        return tokens
    limit = spoken_until - MIN_REST_S
    if (stamps[-1] - begin) * TIME_PRECISION >= limit:
        return tokens
    if len(prompt) + len(tokens) + 2 >= fast.max_length:
        return tokens
    rules = replace(
        timestamp_rules(fast, len(prompt), True), eos_before=begin + int(limit / TIME_PRECISION)
    )
    more = decode_scored(fast, encoded, prompt + tokens, rules, num_beams)[0].tokens
    eos = int(fast.generation_config.eos_token_id)
    return tokens + (more[:-1] if more and more[-1] == eos else more)
