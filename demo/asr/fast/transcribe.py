"""Transcribe audio with the fast model: one window, or long-form over 30 s.

Two long-form algorithms, chosen per request (``LONG_FORMS``):

- ``sequential`` follows transformers' algorithm: timestamp tokens decide where the next window
  starts, and a window's unfinished last segment is decoded again in the next one. Exact: at
  fp32 it decodes what ``generate`` decodes. Windows wait for each other.
- ``chunked`` (``demo.asr.fast.chunked``) cuts the audio at pauses into chunks of at most 30 s
  and encodes and decodes them in batches (timestamps only give the segments' times, not the
  seek). Several times faster on long audio and as accurate where the audio has pauses
  (speech does; bench.accuracy checks it).

Every path decodes with timestamp tokens and returns segments with times in the clip, and each
window's scores for the no-speech gate (``demo.asr.segments``). One window that closes its
segments while its audio still holds speech is decoded on (``demo.asr.fast.finish``).

The rule (``long_form=None``): the model's own ``long_form``, which is ``chunked`` for the
quantized builds (the app's fast mode) and ``sequential`` for the exact fp32 build, whose
purpose is to decode as transformers does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from demo.asr.fast.chunked import transcribe_chunked
from demo.asr.fast.decoding import decode_scored, detect_language, prompt_tokens
from demo.asr.fast.features import HOP, WINDOW_FRAMES, WINDOW_SAMPLES, log_mel
from demo.asr.fast.finish import speech_end, speech_frames
from demo.asr.fast.model import FastWhisper
from demo.asr.fast.result import FastResult, window_scores
from demo.asr.fast.rules import timestamp_rules
from demo.asr.segments import (
    first_timestamp,
    window_segments,
)
from demo.audio import SAMPLE_RATE
from demo.cancel import check

INPUT_STRIDE = 2  # mel frames per encoder position (conv2 has stride 2)
FRAME_SECONDS = HOP / SAMPLE_RATE  # one log-mel frame: 10 ms
LONG_FORMS = ("sequential", "chunked")


def transcribe_fast(
    fast: FastWhisper,
    mel_filters: np.ndarray,
    audio: np.ndarray,
    *,
    language: str | None = None,
    task: str = "transcribe",
    num_beams: int = 1,
    long_form: str | None = None,
    gate: bool = True,
    words=None,
    timestamps: bool = True,
) -> FastResult:
    """Decode 16 kHz mono audio with timestamps; over 30 s, ``long_form`` decoding
    (``LONG_FORMS``; None: the model's ``long_form``, see the module docstring). With
    ``gate``, windows the no-speech gate calls silent are dropped (``demo.asr.segments``).
    ``words``: the tokenizer's decode, to align word times (``demo.asr.fast.align``).
    ``timestamps=False`` decodes text only (one segment a window; the bench's baseline)."""
    long_form = long_form or fast.long_form
    if long_form not in LONG_FORMS:
        raise ValueError(f"long_form must be one of {LONG_FORMS}, got {long_form!r}.")
    multilingual = bool(getattr(fast.generation_config, "is_multilingual", False))
    detected = False
    with torch.inference_mode():
        if len(audio) > WINDOW_SAMPLES and long_form == "chunked":
            return transcribe_chunked(
                fast, mel_filters, audio, language=language, task=task, num_beams=num_beams,
                gate=gate, words=words, timestamps=timestamps,
            )  # fmt: skip
        features = log_mel(audio, mel_filters, pad_to_window=len(audio) <= WINDOW_SAMPLES)
        if len(audio) <= WINDOW_SAMPLES:
            encoded = fast.encode(features)
            if multilingual and language is None:
                language, detected = detect_language(fast, encoded), True
            prompt = prompt_tokens(fast, language, task, timestamps=timestamps)
            # speech after Whisper's last timestamp: decoded on (demo.asr.fast.finish)
            until = speech_end(speech_frames(audio), 0, len(audio)) if timestamps else None
            rules = timestamp_rules(fast, len(prompt), timestamps, [until])
            decoded = decode_scored(fast, encoded, prompt, rules, num_beams)[0]
            scores = window_scores(fast, decoded)
            if gate and scores.silent():
                return FastResult([], language, detected, 1, scores=[scores], silent=1)
            tokens = _strip_eos(decoded.tokens, fast)
            end = len(audio) / SAMPLE_RATE
            result = FastResult(tokens, language, detected, 1, scores=[scores])
            segments = window_segments(tokens, first_timestamp(fast.generation_config), 0.0, end)
            result.add(fast, encoded, task, segments, (0.0, end), words)
            return result
        return _long_form(fast, features, language, task, num_beams, gate, words)


def _strip_eos(tokens: list[int], fast: FastWhisper) -> list[int]:
    eos = int(fast.generation_config.eos_token_id)
    return tokens[:-1] if tokens and tokens[-1] == eos else tokens


def _window(features: torch.Tensor, seek: int) -> torch.Tensor:
    window = features[:, :, seek : seek + WINDOW_FRAMES]
    if window.shape[-1] < WINDOW_FRAMES:  # zeros in feature space, as transformers pads
        window = F.pad(window, (0, WINDOW_FRAMES - window.shape[-1]))
    return window


def _long_form(fast, features, language, task, num_beams, gate=True, words=None) -> FastResult:
    multilingual = bool(getattr(fast.generation_config, "is_multilingual", False))
    begin = first_timestamp(fast.generation_config)
    total = features.shape[-1]
    seek, windows, detected = 0, 0, False
    result = FastResult([], language, detected, 0, "sequential")
    with tqdm(total=total, unit="frames", desc="transcribing", leave=False) as bar:
        while seek < total:
            seek_frames = min(WINDOW_FRAMES, total - seek)
            encoded = fast.encode(_window(features, seek))
            if multilingual and language is None:
                language, detected = detect_language(fast, encoded), True
            prompt = prompt_tokens(fast, language, task, timestamps=True)
            rules = timestamp_rules(fast, len(prompt), True)
            decoded = decode_scored(fast, encoded, prompt, rules, num_beams)[0]
            result.scores.append(window_scores(fast, decoded))
            if gate and result.scores[-1].silent():  # openai/whisper skips the whole window
                kept, advance = [], seek_frames
                result.silent += 1
            else:
                kept, advance = _segments(_strip_eos(decoded.tokens, fast), begin, seek_frames)
            advance = advance if advance > 0 else seek_frames  # never decode one window twice
            result.tokens += kept
            result.language = language
            window = (seek * FRAME_SECONDS, (seek + seek_frames) * FRAME_SECONDS)
            segments = window_segments(kept, begin, *window, windows)
            result.add(fast, encoded, task, segments, window, words)
            bar.update(min(advance, total - seek))
            check()
            seek += advance
            windows += 1
    result.detected, result.windows = detected, windows
    return result


def _segments(tokens: list[int], timestamp_begin: int, seek_frames: int) -> tuple[list[int], int]:
    """Tokens to keep from one window and how many frames to advance (transformers' rules)."""
    is_ts = [t >= timestamp_begin for t in tokens]
    single_ending = is_ts[-2:] == [False, True]
    pairs = [i + 1 for i in range(len(is_ts) - 1) if is_ts[i] and is_ts[i + 1]]
    if pairs:
        if single_ending:
            return tokens, seek_frames
        # Drop the unfinished segment after the last pair; resume at its timestamp.
        last = pairs[-1] + 1
        position = tokens[last - 2] - timestamp_begin
        return tokens[:last], position * INPUT_STRIDE
    return tokens, seek_frames
