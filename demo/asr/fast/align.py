"""Word times for the fast model: one more decoder pass over a window's text, reading the
cross-attention of the alignment heads (``demo.asr.words`` does the rest)."""

from __future__ import annotations

import numpy as np
import torch

from demo.asr.fast.decoding import prompt_tokens
from demo.asr.fast.model import FastWhisper
from demo.asr.segments import Segment, TokenSegment
from demo.asr.words import FRAMES_PER_SECOND, align, split_words, words_to_segments


def alignment_heads(fast: FastWhisper) -> list[tuple[int, int]]:
    """(layer, head) pairs the model's generation config names; every head of the upper half
    of the decoder when it names none (openai/whisper's default)."""
    heads = getattr(fast.generation_config, "alignment_heads", None)
    if heads:
        return [(int(layer), int(head)) for layer, head in heads]
    layers, count = len(fast.dec_layers), fast.config.decoder_attention_heads
    return [(layer, head) for layer in range(layers // 2, layers) for head in range(count)]


def align_window(
    fast: FastWhisper,
    encoded: torch.Tensor,
    language: str | None,
    task: str,
    segments: list[TokenSegment],
    window: tuple[float, float],
    decode,
) -> list[Segment]:
    """Segments of one window with their words; ``encoded`` is its encoder output
    ``[1, 1500, d]``, ``window`` its (start, end) in the clip (seconds), ``decode`` the
    tokenizer's token-list-to-text."""
    offset, end = window
    word_tokens = [w for segment in segments for w in split_words(segment.tokens, decode)]
    text = [t for word in word_tokens for t in word]
    prompt = prompt_tokens(fast, language, task, timestamps=False)
    eos = int(fast.generation_config.eos_token_id)
    if not text or len(prompt) + len(text) + 1 > fast.max_length:
        return words_to_segments(segments, [], offset, end, decode)
    heads = alignment_heads(fast)
    layers = sorted({layer for layer, _ in heads})
    cache = fast.new_cache(1)
    fast.cross(encoded, cache)
    for layer in layers:
        fast.dec_layers[layer].capture = []
    try:
        with torch.inference_mode():
            fast.decode(torch.tensor([prompt + text + [eos]]), 0, cache)
        weights = np.stack(
            [fast.dec_layers[layer].capture[0][0, head].cpu().numpy() for layer, head in heads]
        )
    finally:
        for layer in layers:
            fast.dec_layers[layer].capture = None
    # Row p is the query of token p, which predicts token p + 1: from the last prompt token
    # (predicting the first word) to the last text token (predicting end-of-text).
    weights = weights[:, len(prompt) - 1 : -1]
    frames = max(1, int(round((end - offset) * FRAMES_PER_SECOND)))
    return words_to_segments(segments, align(weights, word_tokens, frames), offset, end, decode)
