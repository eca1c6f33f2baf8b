"""Transcribe audio with the fast model: one window, or sequential long-form over 30 s.

Long-form follows transformers' algorithm: timestamp tokens decide where the next window
starts, and a window's unfinished last segment is decoded again in the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from demo.asr.fast.decoding import _prompt, _rules, _run, detect_language
from demo.asr.fast.features import WINDOW_FRAMES, WINDOW_SAMPLES, log_mel
from demo.asr.fast.model import FastWhisper
from demo.cancel import check

INPUT_STRIDE = 2  # mel frames per encoder position (conv2 has stride 2)
TIME_PRECISION = 0.02  # seconds per timestamp token


@dataclass
class FastResult:
    tokens: list[int]  # text and timestamp tokens, prompts and end-of-text removed
    language: str | None  # ISO code used (detected or given); None for English-only models
    detected: bool
    windows: int  # 30 s windows decoded


def transcribe_fast(
    fast: FastWhisper,
    mel_filters: np.ndarray,
    audio: np.ndarray,
    *,
    language: str | None = None,
    task: str = "transcribe",
    num_beams: int = 1,
) -> FastResult:
    """Decode 16 kHz mono audio; over 30 s, sequential long-form decoding with timestamps."""
    multilingual = bool(getattr(fast.generation_config, "is_multilingual", False))
    long_form = len(audio) > WINDOW_SAMPLES
    features = log_mel(audio, mel_filters, pad_to_window=not long_form)
    detected = False
    with torch.inference_mode():
        if not long_form:
            encoded = fast.encode(features)
            if multilingual and language is None:
                language, detected = detect_language(fast, encoded), True
            prompt = _prompt(fast, language, task, timestamps=False)
            tokens = _run(fast, encoded, prompt, _rules(fast, len(prompt), False), num_beams)
            return FastResult(_strip_eos(tokens, fast), language, detected, 1)
        return _long_form(fast, features, language, task, num_beams)


def _strip_eos(tokens: list[int], fast: FastWhisper) -> list[int]:
    eos = int(fast.generation_config.eos_token_id)
    return tokens[:-1] if tokens and tokens[-1] == eos else tokens


def _window(features: torch.Tensor, seek: int) -> torch.Tensor:
    window = features[:, :, seek : seek + WINDOW_FRAMES]
    if window.shape[-1] < WINDOW_FRAMES:  # zeros in feature space, as transformers pads
        window = F.pad(window, (0, WINDOW_FRAMES - window.shape[-1]))
    return window


def _long_form(fast, features, language, task, num_beams) -> FastResult:
    multilingual = bool(getattr(fast.generation_config, "is_multilingual", False))
    timestamp_begin = int(fast.generation_config.no_timestamps_token_id) + 1
    total = features.shape[-1]
    seek, windows, detected = 0, 0, False
    out: list[int] = []
    with tqdm(total=total, unit="frames", desc="transcribing", leave=False) as bar:
        while seek < total:
            seek_frames = min(WINDOW_FRAMES, total - seek)
            encoded = fast.encode(_window(features, seek))
            if multilingual and language is None:
                language, detected = detect_language(fast, encoded), True
            prompt = _prompt(fast, language, task, timestamps=True)
            tokens = _strip_eos(
                _run(fast, encoded, prompt, _rules(fast, len(prompt), True), num_beams), fast
            )
            kept, advance = _segments(tokens, timestamp_begin, seek_frames)
            advance = advance if advance > 0 else seek_frames  # never decode one window twice
            out += kept
            bar.update(min(advance, total - seek))
            check()
            seek += advance
            windows += 1
    return FastResult(out, language, detected, windows)


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
