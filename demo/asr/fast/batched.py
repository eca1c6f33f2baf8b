"""Batched greedy decoding of 30 s windows with a static KV cache, replayable as a CUDA graph.

Throughput on a GPU comes from decoding many windows at once (clips, or the fixed 30 s cuts of
one long file) and from not paying the launch cost of every small kernel at every token: the
decoder step here has the same shapes at every position (the whole cache is attended, a mask
hides what isn't written yet), so on CUDA it is captured once as a graph and replayed.
The same code runs on a CPU, where it decodes exactly as transformers' ``generate`` does in
fp32 (that is how it is tested without a GPU).
"""

from __future__ import annotations

import numpy as np
import torch

from demo.asr.fast.features import HOP, N_FFT, WINDOW_SAMPLES
from demo.asr.fast.model import FastWhisper, KVCache
from demo.asr.fast.rules import token_mask

SYNC_EVERY = 8  # check "every sequence has ended" once per this many tokens (a GPU sync)


def log_mel_batch(
    audios: list[np.ndarray], mel_filters: np.ndarray, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Log-mel ``[batch, n_mels, 3000]`` of clips of at most 30 s, each padded to 30 s.

    The same arithmetic as transformers' Whisper feature extractor (torch path), per clip
    normalised by its own maximum, computed on ``device``.
    """
    if any(len(a) > WINDOW_SAMPLES for a in audios):
        raise ValueError("log_mel_batch takes clips of at most 30 s; cut long audio first.")
    waves = torch.zeros(len(audios), WINDOW_SAMPLES)
    for i, audio in enumerate(audios):
        waves[i, : len(audio)] = torch.from_numpy(np.asarray(audio, dtype=np.float32))
    waves = waves.to(device)
    window = torch.hann_window(N_FFT, device=device)
    stft = torch.stft(waves, N_FFT, HOP, window=window, return_complex=True)
    power = stft[..., :-1].abs() ** 2
    filters = torch.from_numpy(mel_filters).to(device, torch.float32)
    log_spec = (filters.T @ power).clamp(min=1e-10).log10()
    peak = log_spec.amax(dim=(1, 2), keepdim=True)
    log_spec = torch.maximum(log_spec, peak - 8.0)
    return (log_spec + 4.0) / 4.0


def cut_windows(audio: np.ndarray) -> list[np.ndarray]:
    """Fixed 30 s cuts of a long clip (chunked long-form: no timestamps, no seek)."""
    return [audio[i : i + WINDOW_SAMPLES] for i in range(0, max(1, len(audio)), WINDOW_SAMPLES)]


class StaticDecoder:
    """A fixed-batch decoder: static cache, static inputs, optionally one CUDA graph."""

    def __init__(self, fast: FastWhisper, batch: int, graph: bool = False) -> None:
        device = fast.dec_pos.device
        if graph and device.type != "cuda":
            raise ValueError("CUDA graphs need the model on a CUDA device.")
        self.fast, self.batch, self.use_graph = fast, batch, graph
        self.cache: KVCache = fast.new_cache(batch)
        heads = fast.config.decoder_attention_heads
        head_dim = fast.config.d_model // heads
        shape = (batch, heads, fast.config.max_source_positions, head_dim)
        like = {"dtype": fast.decoder_dtype, "device": device}
        self.cache.cross_k = [torch.zeros(shape, **like) for _ in fast.dec_layers]
        self.cache.cross_v = [torch.zeros(shape, **like) for _ in fast.dec_layers]
        self.tokens = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.position = torch.zeros(1, dtype=torch.long, device=device)
        self.mask = torch.zeros(1, 1, 1, fast.max_length, dtype=torch.bool, device=device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.out: torch.Tensor | None = None

    def _step(self) -> torch.Tensor:
        self.mask.index_fill_(3, self.position, True)
        return self.fast.step(self.tokens, self.position, self.mask, self.cache)

    def start(self, encoded: torch.Tensor) -> None:
        """Load one batch of encoder outputs ``[batch, 1500, d]`` and clear the mask."""
        if encoded.shape[0] != self.batch:
            raise ValueError(f"this decoder takes batches of {self.batch}, not {encoded.shape[0]}")
        for i, layer in enumerate(self.fast.dec_layers):
            k, v = layer.cross_keys_values(encoded)
            self.cache.cross_k[i].copy_(k)
            self.cache.cross_v[i].copy_(v)
        self.mask.fill_(False)

    def __call__(self, tokens: torch.Tensor, position: int) -> torch.Tensor:
        """Logits ``[batch, vocab]`` after ``tokens`` ``[batch]`` at ``position``."""
        self.tokens.copy_(tokens.view(-1, 1))
        self.position.fill_(position)
        if not self.use_graph:
            return self._step()
        if self.graph is None:
            self._capture()
        self.graph.replay()
        return self.out

    def _capture(self) -> None:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):  # warm up kernels and allocator outside the graph
                self._step()
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = self._step()
        # The warm-up wrote this position: mark it unwritten again.
        self.mask.index_fill_(3, self.position, False)


def greedy_batch(
    fast: FastWhisper,
    features: torch.Tensor,
    prompt: list[int],
    *,
    max_new_tokens: int | None = None,
    min_new_tokens: int = 0,
    decoder: StaticDecoder | None = None,
) -> torch.Tensor:
    """Greedy tokens ``[batch, n]`` for a batch of 30 s windows (end-of-text padded).

    Same rules as transformers' short-form ``generate``: suppressed tokens, begin-suppressed
    tokens at the first step, no timestamps (put ``<|notimestamps|>`` in ``prompt``).
    ``min_new_tokens`` forbids end-of-text before that many tokens (fixed decode lengths for
    speed tests on random weights). Pass a ``StaticDecoder`` to reuse its graph across calls.
    """
    batch = features.shape[0]
    device = features.device
    decoder = decoder or StaticDecoder(fast, batch)
    config = fast.generation_config
    vocab = fast.config.vocab_size
    eos = int(config.eos_token_id)
    limit = fast.max_length - len(prompt)
    max_new_tokens = limit if max_new_tokens is None else min(max_new_tokens, limit)
    suppress = token_mask(config.suppress_tokens, vocab).to(device)
    begin = token_mask(config.begin_suppress_tokens, vocab).to(device)
    with torch.inference_mode():
        decoder.start(fast.encode(features))
        for i, token in enumerate(prompt):
            logits = decoder(torch.full((batch,), token, device=device), i)
        done = torch.zeros(batch, dtype=torch.bool, device=device)
        out = []
        for step in range(max_new_tokens):
            scores = logits + suppress
            if step == 0:
                scores = scores + begin
            if step < min_new_tokens:
                scores[:, eos] = -torch.inf
            token = torch.where(done, eos, scores.argmax(-1))
            out.append(token)
            done = done | (token == eos)
            if (step + 1) % SYNC_EVERY == 0 and bool(done.all()):
                break
            if step + 1 < max_new_tokens:
                logits = decoder(token, len(prompt) + step)
        tokens = torch.stack(out, dim=1)
    return tokens


def strip_batch(tokens: torch.Tensor, eos: int) -> list[list[int]]:
    """Each row's tokens up to (not including) its first end-of-text."""
    rows = []
    for row in tokens.tolist():
        rows.append(row[: row.index(eos)] if eos in row else row)
    return rows
