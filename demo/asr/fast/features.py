"""Whisper's log-mel features for the fast path, computed only where the audio is.

A frame that sees only zero padding has a known value, so the result is bit-identical to
transformers' feature extractor while skipping most of a short clip's padded window.
"""

from __future__ import annotations

import numpy as np
import torch

N_FFT = 400
HOP = 160
WINDOW_FRAMES = 3000  # log-mel frames in one 30 s window
WINDOW_SAMPLES = WINDOW_FRAMES * HOP
LOG_ZERO = -10.0  # log10 of the clamped power of a frame that sees only zeros


def log_mel(audio: np.ndarray, mel_filters: np.ndarray, pad_to_window: bool) -> torch.Tensor:
    """Whisper's log-mel spectrogram ``[1, n_mels, frames]``, as transformers computes it.

    ``pad_to_window`` pads short audio to one 30 s window (``padding="max_length"``); else the
    frames cover the audio only (long-form, ``padding="longest"``). Frames whose STFT window
    lies wholly in the zero padding are filled with their known value instead of computed.
    """
    audio = np.asarray(audio, dtype=np.float32)
    total = max(WINDOW_SAMPLES, len(audio)) if pad_to_window else len(audio)
    frames = total // HOP  # the STFT gives total // HOP + 1 frames; Whisper drops the last
    # Frame f is centred on sample f * HOP and spans N_FFT samples; past `needed` all are zero.
    needed = min(frames, (len(audio) + N_FFT // 2) // HOP + 1)
    span = min(total, (needed - 1) * HOP + N_FFT // 2 + 1)
    wave = torch.zeros(span)
    wave[: min(span, len(audio))] = torch.from_numpy(audio[:span])
    stft = torch.stft(wave, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    power = stft[..., :needed].abs() ** 2
    filters = torch.from_numpy(mel_filters).to(torch.float32)
    log_spec = torch.full((filters.shape[1], frames), LOG_ZERO)
    log_spec[:, :needed] = (filters.T @ power).clamp(min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).unsqueeze(0)


def mel_filters_of(processor) -> np.ndarray:
    """The mel filter bank ``[n_freqs, n_mels]`` of a Whisper processor."""
    return np.asarray(processor.feature_extractor.mel_filters, dtype=np.float32)
